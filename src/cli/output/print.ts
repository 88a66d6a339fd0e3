/** Writing results to stdout: text for people, one JSON document with --json. */

export interface Out {
  json: boolean;
  quiet: boolean;
  /** A line of human output (suppressed by --quiet and --json). */
  line(s?: string): void;
  /** The one JSON result document (only with --json). */
  result(v: unknown): void;
}

export function createOut(json: boolean, quiet: boolean): Out {
  return {
    json,
    quiet,
    line(s = "") {
      if (!json && !quiet) process.stdout.write(s + "\n");
    },
    result(v) {
      if (json) process.stdout.write(JSON.stringify(v, null, 2) + "\n");
    },
  };
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
