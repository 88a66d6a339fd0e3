/** Building test trees and comparing two trees entry by entry (type, mode, mtime, content, link target). */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";

export interface TreeEntry {
  type: "file" | "dir" | "symlink";
  mode: number;
  mtimeMs: number;
  size: number;
  sha256?: string;
  target?: string;
}

/** Every entry below root (root itself excluded), keyed by "/"-separated relative path. */
export function describeTree(root: string): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(abs);
      if (st.isSymbolicLink()) out.set(r, { type: "symlink", mode: 0, mtimeMs: Math.floor(st.mtimeMs), size: 0, target: fs.readlinkSync(abs) });
      else if (st.isDirectory()) {
        out.set(r, { type: "dir", mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs), size: 0 });
        walk(abs, r);
      } else if (st.isFile()) out.set(r, { type: "file", mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs), size: st.size, sha256: hashFile(abs) });
    }
  };
  walk(root, "");
  return out;
}

export function hashFile(abs: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(abs, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** Writes `size` bytes of deterministic pseudo-random data with a reused 1 MiB buffer. */
export function writeBigFile(file: string, size: number, seed = 1): void {
  const buf = Buffer.allocUnsafe(1 << 20);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < buf.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeUInt32LE(x >>> 0, i);
  }
  const fd = fs.openSync(file, "w");
  try {
    let left = size;
    let round = 0;
    while (left > 0) {
      buf.writeUInt32LE(round++, 0); // no two MiB alike
      const n = Math.min(left, buf.length);
      fs.writeSync(fd, buf, 0, n);
      left -= n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A tree with what a real archive holds: nested and empty folders, empty files, unicode and odd
 * names, symlinks (relative, dangling, to a folder), unusual modes, and set mtimes.
 */
export function makeOddTree(root: string): void {
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, data, { mode });
    fs.chmodSync(abs, mode);
  };
  fs.mkdirSync(root, { recursive: true });
  w("index.html", "<h1>reports</h1>\n");
  w("reports/2026/q1/briefing.html", "<p>q1</p>\n".repeat(100));
  w("reports/تقرير موجز.html", "تقرير\n");
  w("reports/Ünïcödé — dash.txt", "u\n");
  w("odd/ space and 'quotes' \"double\".txt", "q\n");
  w("odd/-leading-dash", "d\n");
  w("odd/#hash", "h\n");
  w("odd/back\\slash", "b\n");
  w("odd/new\nline", "n\n");
  w("odd/" + "long-".repeat(40) + "name.txt", "long\n");
  w("empty-file", "");
  w("scripts/run.sh", "#!/bin/sh\necho hi\n", 0o755);
  w("private/secret.txt", "s\n", 0o600);
  fs.mkdirSync(path.join(root, "empty-dir/nested-empty"), { recursive: true });
  fs.chmodSync(path.join(root, "private"), 0o700);
  fs.symlinkSync("index.html", path.join(root, "link-to-index"));
  fs.symlinkSync("../index.html", path.join(root, "reports/up-link"));
  fs.symlinkSync("does-not-exist", path.join(root, "dangling"));
  fs.symlinkSync("reports", path.join(root, "link-to-dir"));
  const t = new Date("2024-02-29T12:34:56.789Z");
  for (const rel of ["index.html", "reports/2026/q1/briefing.html", "empty-file"]) fs.utimesSync(path.join(root, rel), t, t);
}
