import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IsnadError } from "../../src/errors.js";
import { walkDir, type DirSourceOptions, type SourceEntry } from "../../src/sources/dir.js";
import { comparePaths } from "../../src/sources/order.js";

const tmpRoots: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-walk-"));
  tmpRoots.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpRoots) {
    // chmod back anything a test locked, and use rm(1): it copes with paths longer than PATH_MAX.
    execFileSync("chmod", ["-R", "u+rwx", d]);
    execFileSync("rm", ["-rf", d]);
  }
});

/** Creates files (content = their path) and folders (trailing "/") under root. */
function makeTree(root: string, items: string[]): void {
  for (const item of items) {
    const abs = path.join(root, item);
    if (item.endsWith("/")) fs.mkdirSync(abs, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, item);
    }
  }
}

const walk = (root: string, opts?: DirSourceOptions): SourceEntry[] => [...walkDir(root, opts)];
const rels = (entries: SourceEntry[]) => entries.map((e) => e.rel);
/** "rel" for dirs as "rel/" so listings read like trees. */
const listing = (entries: SourceEntry[]) => entries.map((e) => (e.type === "dir" && e.rel !== "" ? `${e.rel}/` : e.rel));

/** Every path under root (lstat, no follow), found with a plain recursive readdir. */
function allPaths(root: string): string[] {
  const out: string[] = [""];
  const visit = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = rel === "" ? name : `${rel}/${name}`;
      out.push(r);
      if (fs.lstatSync(path.join(root, r)).isDirectory()) visit(r);
    }
  };
  visit("");
  return out;
}

describe("walkDir: order and entry types", () => {
  let root: string;
  beforeAll(() => {
    root = tmpDir();
    makeTree(root, [
      "a/b/c.txt", "a/b.d/e", "a.txt", "a-b", "a b", "A", "-dash", "#hash", "é.txt", "日本語/f",
      "🎉", "\uff5a", "nl\nname/inside", "x".repeat(255), "empty/", "deep/1/2/3/4/5/6/7/8/9/10/leaf",
      "deep/empty/", ".hidden/.file", "trailing space ", "tab\tname",
    ]);
    fs.symlinkSync("a", path.join(root, "link-to-a"));
    fs.symlinkSync("does/not/exist", path.join(root, "dangling"));
    fs.symlinkSync("/etc", path.join(root, "a", "abs-link"));
    execFileSync("mkfifo", [path.join(root, "a", "fifo")]);
  });

  it("statFiles: false yields the same entries, files without an lstat, everything else as before", () => {
    const full = walk(root);
    const lazy = [...walkDir(root, { statFiles: false })];
    expect(lazy.map((e) => [e.type, e.rel])).toEqual(full.map((e) => [e.type, e.rel]));
    for (const e of lazy) {
      if (e.type === "file") expect(e.stat, e.rel).toBeUndefined();
      else if (e.type === "dir" || e.type === "symlink") expect(e.stat, e.rel).toBeDefined();
    }
    expect(lazy.filter((e) => e.type === "file").length).toBeGreaterThan(10);
  });

  it("yields the root first, then every entry in comparePaths order", () => {
    const entries = walk(root);
    expect(entries[0]).toMatchObject({ type: "dir", rel: "", abs: root });
    const r = rels(entries);
    expect(r).toEqual([...r].sort(comparePaths));
    expect(new Set(r).size).toBe(r.length);
    expect([...r].sort()).toEqual(allPaths(root).sort());
    // The walk goes into "a" before "a.txt" even though "a.txt" < "a/b" as plain strings.
    expect(r.indexOf("a/b/c.txt")).toBeLessThan(r.indexOf("a.txt"));
  });

  it("reports types, stats and absolute paths", () => {
    const byRel = new Map(walk(root).map((e) => [e.rel, e]));
    const file = byRel.get("a/b/c.txt");
    expect(file).toMatchObject({ type: "file", abs: path.join(root, "a/b/c.txt") });
    if (file?.type !== "file") throw new Error("not a file");
    expect(file.stat.size).toBe(BigInt("a/b/c.txt".length));
    expect(typeof file.stat.mtimeNs).toBe("bigint");
    expect(byRel.get("empty")).toMatchObject({ type: "dir" });
    expect(byRel.get("deep/empty")).toMatchObject({ type: "dir" });
    expect(byRel.get("nl\nname/inside")).toMatchObject({ type: "file" });
    expect(byRel.get("x".repeat(255))).toMatchObject({ type: "file" });
    expect(byRel.get("trailing space ")).toMatchObject({ type: "file" });
    expect(byRel.get(".hidden/.file")).toMatchObject({ type: "file" });
  });

  it("never follows symlinks, dangling ones included", () => {
    const entries = walk(root);
    const byRel = new Map(entries.map((e) => [e.rel, e]));
    expect(byRel.get("link-to-a")).toMatchObject({ type: "symlink", target: "a" });
    expect(byRel.get("dangling")).toMatchObject({ type: "symlink", target: "does/not/exist" });
    expect(byRel.get("a/abs-link")).toMatchObject({ type: "symlink", target: "/etc" });
    expect(rels(entries).some((r) => r.startsWith("link-to-a/") || r.startsWith("a/abs-link/"))).toBe(false);
    const link = byRel.get("dangling");
    if (link?.type !== "symlink") throw new Error("not a symlink");
    expect(link.stat.isSymbolicLink()).toBe(true);
  });

  it("skips special files with a reason", () => {
    const fifo = walk(root).find((e) => e.rel === "a/fifo");
    expect(fifo).toEqual({ type: "skipped", rel: "a/fifo", abs: path.join(root, "a/fifo"), reason: "special file (fifo)" });
  });

  it("skips a socket with a reason", async () => {
    const dir = tmpDir();
    const net = await import("node:net");
    const server = net.createServer();
    const sock = path.join(dir, "s.sock");
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      expect(walk(dir).find((e) => e.rel === "s.sock")).toMatchObject({ type: "skipped", reason: "special file (socket)" });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("accepts a relative root and a root that is a symlink to a folder", () => {
    const rel = path.relative(process.cwd(), root);
    expect(rels(walk(rel))).toEqual(rels(walk(root)));
    const other = tmpDir();
    fs.symlinkSync(root, path.join(other, "via-link"));
    const entries = walk(path.join(other, "via-link"));
    expect(entries[0]?.type).toBe("dir");
    expect(rels(entries)).toEqual(rels(walk(root)));
  });
});

describe("walkDir: root problems are thrown", () => {
  it("a missing root is a config error", () => {
    const missing = path.join(tmpDir(), "nope");
    let err: unknown;
    try {
      walkDir(missing);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IsnadError);
    expect(err).toMatchObject({ kind: "config", message: `source "${missing}" does not exist` });
    expect((err as IsnadError).hint).toBeTruthy();
  });

  it("a root that is a file is a config error", () => {
    const file = path.join(tmpDir(), "f");
    fs.writeFileSync(file, "x");
    expect(() => walkDir(file)).toThrow(expect.objectContaining({ kind: "config", message: `source "${file}" is not a folder` }));
  });
});

describe("walkDir: exclude (gitignore rules)", () => {
  let root: string;
  beforeAll(() => {
    root = tmpDir();
    makeTree(root, [
      "cache/x", "a/cache/y", "b/cache", "cache2", "x.tmp", "a/y.tmp", "a/keep.txt", "top-only/z", "a/top-only/z",
      "logs/a.log", "logs/keep.log", "CACHE/u", "build/out/o", "src/build.c",
    ]);
  });

  it("prunes excluded folders, matches names at any depth, honours '/' anchors, trailing '/' and '!'", () => {
    const entries = walk(root, { exclude: ["cache/", "*.tmp", "/top-only", "*.log", "!keep.log", "build/out"] });
    expect(listing(entries)).toEqual([
      "", "CACHE/", "CACHE/u", "a/", "a/keep.txt", "a/top-only/", "a/top-only/z", "b/", "b/cache", "build/",
      "cache2", "logs/", "logs/keep.log", "src/", "src/build.c",
    ]);
  });

  it("a plain name excludes files and folders of that name anywhere", () => {
    expect(listing(walk(root, { exclude: ["cache"] })).filter((r) => r.includes("cache"))).toEqual(["cache2"]);
  });
});

describe("walkDir: include globs", () => {
  let root: string;
  beforeAll(() => {
    root = tmpDir();
    makeTree(root, [
      "index.html", "about/index.html", "about/photo.jpg", "assets/css/site.css", "assets/empty/", "blog/2024/post.html",
      ".well-known/x.html", "docs/a.txt", "docs/sub/", "tmp/drafts/d.html",
    ]);
    fs.symlinkSync("index.html", path.join(root, "link.html"));
    fs.symlinkSync("index.html", path.join(root, "link.txt"));
  });

  it("keeps only matching non-folders; a folder appears only above something kept", () => {
    const entries = walk(root, { include: ["**/*.html"] });
    expect(listing(entries)).toEqual([
      "", ".well-known/", ".well-known/x.html", "about/", "about/index.html", "blog/", "blog/2024/", "blog/2024/post.html",
      "index.html", "link.html", "tmp/", "tmp/drafts/", "tmp/drafts/d.html",
    ]);
    expect(rels(entries)).toEqual(rels(entries).sort(comparePaths));
  });

  it("a folder that matches an include glob is kept with its subtree, empty folders too", () => {
    expect(listing(walk(root, { include: ["docs/**"] }))).toEqual(["", "docs/", "docs/a.txt", "docs/sub/"]);
  });

  it("exclude wins over include", () => {
    expect(listing(walk(root, { include: ["**/*.html"], exclude: ["tmp/", "about"] }))).toEqual([
      "", ".well-known/", ".well-known/x.html", "blog/", "blog/2024/", "blog/2024/post.html", "index.html", "link.html",
    ]);
  });

  it("an empty include list means no include filter", () => {
    expect(rels(walk(root, { include: [] }))).toEqual(rels(walk(root)));
  });
});

describe("walkDir: .isnadignore", () => {
  let root: string;
  beforeAll(() => {
    root = tmpDir();
    makeTree(root, [
      "a.bak", "important.bak", "keep.txt", "anchored.txt", "build/o", "x.o",
      "sub/a.bak", "sub/important.bak", "sub/anchored.txt", "sub/deeper/anchored.txt", "sub/local/l", "sub/build/o",
      "sub/deeper/local", "sub/deeper/x.bak",
      "we[ir]d #dir/x.o", "we[ir]d #dir/y.c", "weird #dir/x.o",
      "other/local/l",
    ]);
    fs.writeFileSync(path.join(root, ".isnadignore"), "# comment\n\n*.bak\nbuild/\n");
    fs.writeFileSync(path.join(root, "sub", ".isnadignore"), "local/\r\n!important.bak\n/anchored.txt\n!build/\n");
    fs.writeFileSync(path.join(root, "we[ir]d #dir", ".isnadignore"), "*.o\n");
  });

  it("applies nested ignore files to their subtree, deeper files first, and keeps the ignore files", () => {
    expect(listing(walk(root))).toEqual([
      "", ".isnadignore", "anchored.txt", "keep.txt", "other/", "other/local/", "other/local/l",
      "sub/", "sub/.isnadignore", "sub/build/", "sub/build/o", "sub/deeper/", "sub/deeper/anchored.txt", "sub/deeper/local",
      "sub/important.bak",
      "we[ir]d #dir/", "we[ir]d #dir/.isnadignore", "we[ir]d #dir/y.c",
      "weird #dir/", "weird #dir/x.o",
      "x.o",
    ]);
  });

  it("combines with exclude, which acts as a root ignore file read first", () => {
    // "!keep.txt"-style re-includes in the root file beat exclude patterns.
    expect(listing(walk(root, { exclude: ["*.txt", "other"] })).filter((r) => r.endsWith(".txt") || r.startsWith("other"))).toEqual([]);
    fs.writeFileSync(path.join(root, "sub", "deeper", ".isnadignore"), "!*.txt\n");
    try {
      expect(listing(walk(root, { exclude: ["*.txt"] })).filter((r) => r.endsWith(".txt"))).toEqual(["sub/deeper/anchored.txt"]);
    } finally {
      fs.rmSync(path.join(root, "sub", "deeper", ".isnadignore"));
    }
  });

  it("a custom ignore file name, or none", () => {
    expect(rels(walk(root, { ignoreFileName: "" }))).toContain("a.bak");
    expect(rels(walk(root, { ignoreFileName: ".other" }))).toContain("sub/local/l");
  });

  it("a symlink named .isnadignore is not followed", () => {
    const dir = tmpDir();
    makeTree(dir, ["rules", "x.bak"]);
    fs.writeFileSync(path.join(dir, "rules"), "*.bak\n");
    fs.symlinkSync("rules", path.join(dir, ".isnadignore"));
    expect(rels(walk(dir))).toEqual(["", ".isnadignore", "rules", "x.bak"]);
  });
});

/**
 * Runs `fn` unable to read what mode 000 locks. Not root: chmod is enough. Root (CI): chmod 000
 * does not stop root, so drop the effective uid to "nobody" for the duration (vitest's forks pool
 * runs tests in processes, where process.seteuid exists), after opening `root` and its parents
 * up to the temp folder to others. Returns ran: false when neither is possible.
 */
function withoutPrivileges<T>(root: string, fn: () => T): { ran: true; value: T } | { ran: false; why: string } {
  if (process.geteuid?.() !== 0) return { ran: true, value: fn() };
  if (typeof process.seteuid !== "function") return { ran: false, why: "running as root in a worker thread (no process.seteuid)" };
  for (let d = path.dirname(root); d.startsWith(os.tmpdir()) && d !== path.dirname(d); d = path.dirname(d)) {
    fs.chmodSync(d, fs.statSync(d).mode | 0o055);
  }
  try {
    process.seteuid(65534);
  } catch (e) {
    return { ran: false, why: `running as root and seteuid(65534) failed: ${String(e)}` };
  }
  try {
    return { ran: true, value: fn() };
  } finally {
    process.seteuid(0);
  }
}

/**
 * 30 nested folders with 200-character names under root: about 6000 bytes, past Linux's 4096-byte
 * PATH_MAX. A child process makes them with relative chdir/mkdir, which has no such limit (dash's
 * `cd` builds the full path and fails).
 */
function makeDeepTree(root: string, letter: string, withLeaf: boolean): void {
  const script = `
    const fs = require("node:fs");
    process.chdir(process.argv[1]);
    for (let i = 0; i < 30; i++) { fs.mkdirSync("${letter}".repeat(200)); process.chdir("${letter}".repeat(200)); }
    if (${withLeaf}) fs.writeFileSync("leaf", "x");`;
  execFileSync(process.execPath, ["-e", script, root]);
}

describe("walkDir: errors below the root are yielded, never thrown", () => {
  it("an unreadable folder and an unreadable ignore file (EACCES)", () => {
    const root = tmpDir();
    makeTree(root, ["a/1", "locked/secret", "locked2/ignored/", "z", "rules/.isnadignore", "rules/x.bak"]);
    fs.writeFileSync(path.join(root, "rules", ".isnadignore"), "*.bak\n");
    // "nobody" must be able to read the tree (if we are root); only the locked parts are locked.
    execFileSync("chmod", ["-R", "a+rX", root]);
    fs.chmodSync(path.join(root, "locked"), 0o000);
    fs.chmodSync(path.join(root, "locked2"), 0o311); // listable no, passable yes
    fs.chmodSync(path.join(root, "rules", ".isnadignore"), 0o000);

    const result = withoutPrivileges(root, () => walk(root));
    if (!result.ran) {
      console.warn(`SKIPPED the EACCES case: ${result.why}; cannot make a folder unreadable. ENAMETOOLONG is tested instead.`);
      return;
    }
    const entries = result.value;
    expect(listing(entries)).toEqual(["", "a/", "a/1", "locked", "locked2", "rules/", "rules/.isnadignore", "rules/x.bak", "z"]);
    expect(entries.find((e) => e.rel === "locked")).toEqual({
      type: "unreadable",
      rel: "locked",
      abs: path.join(root, "locked"),
      error: "EACCES: permission denied",
    });
    expect(entries.find((e) => e.rel === "rules/.isnadignore")).toMatchObject({
      type: "unreadable",
      error: "EACCES: permission denied (its ignore rules were not applied)",
    });
  });

  it("a root that cannot be listed is thrown as a source error when walkDir is called", () => {
    const root = tmpDir();
    fs.chmodSync(root, 0o311);
    const result = withoutPrivileges(root, () => {
      try {
        walkDir(root);
        return undefined;
      } catch (e) {
        return e;
      }
    });
    fs.chmodSync(root, 0o755);
    if (!result.ran) {
      console.warn(`SKIPPED the unlistable root case: ${result.why}`);
      return;
    }
    expect(result.value).toMatchObject({ kind: "source", message: `source "${root}" cannot be listed: EACCES: permission denied` });
  });

  it("a folder whose path is longer than PATH_MAX (ENAMETOOLONG), even as root", () => {
    const root = tmpDir();
    // 30 levels of 200-character names: about 6000 bytes, past Linux's 4096-byte PATH_MAX.
    makeDeepTree(root, "d", true);
    makeTree(root, ["zz-after"]);
    const entries = walk(root);
    const bad = entries.filter((e) => e.type === "unreadable");
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ type: "unreadable", error: "ENAMETOOLONG: name too long" });
    expect(bad[0]!.rel.split("/").length).toBeGreaterThan(15);
    // The walk went on after the error, in order.
    expect(entries[entries.length - 1]?.rel).toBe("zz-after");
    expect(rels(entries)).toEqual(rels(entries).sort(comparePaths));
  });

  it("an unreadable entry is reported even under an include filter, with its folders", () => {
    const root = tmpDir();
    makeDeepTree(root, "e", false);
    const entries = walk(root, { include: ["*.html"] });
    expect(entries.map((e) => e.type)).toEqual(["dir", ...Array<string>(entries.length - 2).fill("dir"), "unreadable"]);
    expect(rels(entries)).toEqual(rels(entries).sort(comparePaths));
  });
});

describe("sourcePathFilter (what watch counts as a change)", () => {
  it("follows the config's exclude (gitignore) and include (files only), like the walk", async () => {
    const { sourcePathFilter } = await import("../../src/sources/dir.js");
    const keep = sourcePathFilter({ exclude: ["*.tmp", "cache/", "/build"], include: ["**/*.txt", "**/*.tmp"] });
    expect(keep("", true)).toBe(true);
    expect(keep("notes.txt", false)).toBe(true);
    expect(keep("a/b/notes.txt", false)).toBe(true);
    expect(keep("a/b", true)).toBe(true); // folders are walked whatever include says
    expect(keep("photo.jpg", false)).toBe(false); // not included
    expect(keep("x.tmp", false)).toBe(false); // excluded beats included
    expect(keep("a/cache", true)).toBe(false);
    expect(keep("a/cache/notes.txt", false)).toBe(false); // under an excluded folder
    expect(keep("build/notes.txt", false)).toBe(false); // anchored
    expect(keep("src/build/notes.txt", false)).toBe(true);
    const all = sourcePathFilter({});
    expect(all("anything/at/all.bin", false)).toBe(true);
  });

  it("agrees with walkDir on a real tree (without .isnadignore files)", async () => {
    const { sourcePathFilter } = await import("../../src/sources/dir.js");
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-filter-"));
    try {
      const files = ["notes.txt", "x.tmp", "photo.jpg", "a/cache/n.txt", "a/b/n.txt", "build/n.txt", "src/build/n.txt", "a/b/c.TXT"];
      for (const f of files) {
        fs.mkdirSync(path.join(root, path.dirname(f)), { recursive: true });
        fs.writeFileSync(path.join(root, f), f);
      }
      const opts = { exclude: ["*.tmp", "cache/", "/build"], include: ["**/*.txt"] };
      const walked = new Set([...walkDir(root, opts)].filter((e) => e.type === "file").map((e) => e.rel));
      const keep = sourcePathFilter(opts);
      for (const f of files) expect(keep(f, false), f).toBe(walked.has(f));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
