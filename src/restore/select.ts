/**
 * Which manifest paths a restore (or diff) selects: --include globs (picomatch, dot files
 * included) match a path itself or any folder above it, so "website/reports" selects the folder
 * and everything in it. No pattern selects everything.
 */
import picomatch from "picomatch";

export function pathSelector(patterns: readonly string[] | undefined): (p: string) => boolean {
  if (!patterns || patterns.length === 0) return () => true;
  const match = picomatch(patterns as string[], { dot: true });
  return (p: string) => {
    if (match(p)) return true;
    for (let i = p.lastIndexOf("/"); i > 0; i = p.lastIndexOf("/", i - 1)) {
      if (match(p.slice(0, i))) return true;
    }
    return false;
  };
}

/** Every folder above p, outermost first: "a/b/c" -> ["a", "a/b"]. */
export function parentsOf(p: string): string[] {
  const out: string[] = [];
  for (let i = p.indexOf("/"); i > 0; i = p.indexOf("/", i + 1)) out.push(p.slice(0, i));
  return out;
}
