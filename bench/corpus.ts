/**
 * Deterministic corpora for the benchmark.
 *  - docs:  real files copied from /usr/share and /usr/lib (a seeded sample of the sorted list of
 *           regular files, symlinks skipped) plus three 100 MiB pseudo-random files; ~1 GiB.
 *  - small: 50,000 files of 1-8 KiB from a seeded generator (half text-like, half random bytes).
 *  - docs4: docs at 4 GiB (a larger sample of the same files, topped up with more 100 MiB random
 *           files if /usr holds too little), for the target "the same peak memory on 4 GiB as on 1".
 * And the 1 % mutation used by the "re-run after changing 1 % of files" step, which can be undone
 * so that every tool starts from the same bytes.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { Xorshift32 } from "./prng.js";

export type CorpusName = "docs" | "small" | "docs4";

export interface CorpusFile {
  rel: string; // relative to the corpus root
  size: number;
}

export interface Corpus {
  name: CorpusName;
  /** Folder holding the corpus root (the tools run here and name the root relatively). */
  parent: string;
  /** Name of the corpus root folder inside parent. */
  root: string;
  files: CorpusFile[];
  bytes: number;
  /** SHA-256 of the sorted "path\tsize" list: the same on two runs means the same selection. */
  listSha256: string;
  buildSeconds: number;
  description: string;
}

export interface CorpusSpec {
  quick: boolean;
}

const MiB = 1 << 20;
export const DOCS_RANDOM_FILES = 3;
export const DOCS_RANDOM_SIZE = 100 * MiB;
export const DOCS_TARGET_BYTES = 1024 * MiB;
export const DOCS4_TARGET_BYTES = 4096 * MiB;
export const DOCS_MAX_FILE = 16 * MiB;
export const SMALL_FILES = 50_000;
export const QUICK_FILES = 200;
export const QUICK_BIG = 5 * MiB;

function writeRandomFile(file: string, size: number, rng: Xorshift32): void {
  const chunk = new Uint8Array(new ArrayBuffer(Math.min(size, 4 * MiB)));
  const fd = fs.openSync(file, "w");
  try {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      const view = chunk.subarray(0, n);
      rng.fill(view);
      fs.writeSync(fd, view);
      left -= n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Regular files under root, sorted by path; symlinks, sockets, devices and unreadable entries skipped. */
function listRegularFiles(root: string, out: Array<{ abs: string; size: number }>): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return; // unreadable folder
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const abs = path.join(root, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) listRegularFiles(abs, out);
    else if (e.isFile()) {
      try {
        fs.accessSync(abs, fs.constants.R_OK);
        out.push({ abs, size: fs.lstatSync(abs).size });
      } catch {
        /* unreadable: skip */
      }
    }
  }
}

function finish(name: CorpusName, parent: string, rootName: string, t0: number, description: string): Corpus {
  const files: CorpusFile[] = [];
  const walk = (dir: string, rel: string) => {
    const ents = fs.readdirSync(dir, { withFileTypes: true });
    ents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of ents) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.isFile()) files.push({ rel: r, size: fs.statSync(path.join(dir, e.name)).size });
    }
  };
  walk(path.join(parent, rootName), "");
  const h = createHash("sha256");
  for (const f of files) h.update(`${f.rel}\t${f.size}\n`);
  return {
    name,
    parent,
    root: rootName,
    files,
    bytes: files.reduce((s, f) => s + f.size, 0),
    listSha256: h.digest("hex"),
    buildSeconds: (performance.now() - t0) / 1000,
    description,
  };
}

const WORDS = (() => {
  const rng = new Xorshift32("isnad-bench-vocabulary");
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  const words: string[] = [];
  for (let i = 0; i < 2048; i++) {
    const len = 2 + rng.int(9);
    let w = "";
    for (let j = 0; j < len; j++) w += letters[Math.min(rng.int(26), rng.int(26))]; // skewed to common letters
    words.push(w);
  }
  return words;
})();

function textBytes(size: number, rng: Xorshift32): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const w = WORDS[rng.int(WORDS.length)]!;
    const sep = rng.int(12) === 0 ? "\n" : " ";
    parts.push(w, sep);
    n += w.length + 1;
  }
  return Buffer.from(parts.join("").slice(0, size), "latin1");
}

/** small: 50,000 files of 1-8 KiB in 50 × 10 folders (quick: 200 files + one 5 MiB file). */
export function buildSmall(parent: string, spec: CorpusSpec): Corpus {
  const t0 = performance.now();
  const rootName = "small";
  const root = path.join(parent, rootName);
  fs.rmSync(root, { recursive: true, force: true });
  const rng = new Xorshift32("isnad-bench-small");
  const count = spec.quick ? QUICK_FILES : SMALL_FILES;
  const perDir = 100;
  const buf = new Uint8Array(new ArrayBuffer(8192));
  for (let i = 0; i < count; i++) {
    const d = Math.floor(i / (perDir * 10));
    const s = Math.floor(i / perDir) % 10;
    const dir = path.join(root, `d${String(d).padStart(3, "0")}`, `s${s}`);
    if (i % perDir === 0) fs.mkdirSync(dir, { recursive: true });
    const size = 1024 + rng.int(7 * 1024 + 1);
    const text = rng.int(2) === 0;
    const name = `${WORDS[rng.int(WORDS.length)]}-${String(i).padStart(5, "0")}.${text ? "txt" : "bin"}`;
    let data: Uint8Array;
    if (text) data = textBytes(size, rng);
    else {
      data = buf.subarray(0, size);
      rng.fill(data);
    }
    fs.writeFileSync(path.join(dir, name), data);
  }
  if (spec.quick) writeRandomFile(path.join(root, "big.bin"), QUICK_BIG, rng);
  const desc = spec.quick
    ? `${QUICK_FILES} files of 1-8 KiB + one 5 MiB random file (seeded xorshift32)`
    : `${SMALL_FILES} files of 1-8 KiB, half text-like, half random bytes (seeded xorshift32)`;
  return finish("small", parent, rootName, t0, desc);
}

/**
 * docs (docs4): a seeded sample of the real regular files of /usr/share and /usr/lib plus 3 × 100
 * MiB random files, 1 GiB (4 GiB) in all; random files make up what the real ones cannot.
 */
export function buildDocs(parent: string, spec: CorpusSpec, sources = ["/usr/share", "/usr/lib"], name: "docs" | "docs4" = "docs"): Corpus {
  const t0 = performance.now();
  const rootName = name;
  const target = name === "docs4" ? DOCS4_TARGET_BYTES : DOCS_TARGET_BYTES;
  const root = path.join(parent, rootName);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  const all: Array<{ abs: string; size: number }> = [];
  for (const s of sources) listRegularFiles(s, all);
  const eligible = all.filter((f) => f.size <= DOCS_MAX_FILE && !f.abs.startsWith(parent));
  const rng = new Xorshift32("isnad-bench-docs");
  rng.shuffle(eligible);
  let randomFiles = spec.quick ? 1 : DOCS_RANDOM_FILES;
  const randomSize = spec.quick ? QUICK_BIG : DOCS_RANDOM_SIZE;
  const realTarget = spec.quick ? Infinity : target - randomFiles * randomSize;
  const maxCount = spec.quick ? QUICK_FILES : Infinity;
  const picked: Array<{ abs: string; size: number }> = [];
  let bytes = 0;
  for (const f of eligible) {
    if (bytes >= realTarget || picked.length >= maxCount) break;
    picked.push(f);
    bytes += f.size;
  }
  if (!spec.quick && bytes < realTarget) randomFiles += Math.ceil((realTarget - bytes) / randomSize);
  picked.sort((a, b) => (a.abs < b.abs ? -1 : a.abs > b.abs ? 1 : 0));
  const made = new Set<string>();
  for (const f of picked) {
    const dest = path.join(root, f.abs.replace(/^\/+/, ""));
    const dir = path.dirname(dest);
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    try {
      fs.copyFileSync(f.abs, dest);
    } catch {
      /* vanished or unreadable since listing: skip */
    }
  }
  fs.mkdirSync(path.join(root, "random"), { recursive: true });
  const rrng = new Xorshift32("isnad-bench-docs-random");
  for (let i = 0; i < randomFiles; i++) writeRandomFile(path.join(root, "random", `random-${i}.bin`), randomSize, rrng);
  const desc = `${picked.length} real files (seeded sample of ${eligible.length} regular files ≤ 16 MiB under ${sources.join(", ")}) + ${randomFiles} × ${randomSize / MiB} MiB random files`;
  return finish(name, parent, rootName, t0, desc);
}

/** Changes 1 % of the files (at least one) in place: 64 bytes inverted at a seeded offset; undoable. */
export class Mutation {
  private readonly picks: Array<{ file: string; offset: number; original: Buffer }>;
  private applied = false;

  constructor(corpus: Corpus) {
    const rng = new Xorshift32(`isnad-bench-mutation-${corpus.name}`);
    const candidates = corpus.files.filter((f) => f.size > 0);
    const n = Math.max(1, Math.round(candidates.length / 100));
    rng.shuffle(candidates);
    this.picks = candidates.slice(0, n).map((f) => {
      const len = Math.min(64, f.size);
      const offset = f.size > len ? rng.int(f.size - len + 1) : 0;
      const file = path.join(corpus.parent, corpus.root, f.rel);
      const original = Buffer.alloc(len);
      const fd = fs.openSync(file, "r");
      try {
        fs.readSync(fd, original, 0, len, offset);
      } finally {
        fs.closeSync(fd);
      }
      return { file, offset, original };
    });
  }

  get count(): number {
    return this.picks.length;
  }

  apply(): void {
    if (this.applied) return;
    for (const p of this.picks) this.write(p.file, p.offset, Buffer.from(p.original.map((b) => ~b & 0xff)));
    this.applied = true;
  }

  revert(): void {
    if (!this.applied) return;
    for (const p of this.picks) this.write(p.file, p.offset, p.original);
    this.applied = false;
  }

  private write(file: string, offset: number, data: Buffer): void {
    const fd = fs.openSync(file, "r+");
    try {
      fs.writeSync(fd, data, 0, data.length, offset);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Count and total size of the regular files under dir (to check that a restore brought everything back). */
export function treeTotals(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += fs.statSync(p).size;
      }
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return { files, bytes };
}

/** Apparent size of every regular file under dir. */
export function dirBytes(dir: string): number {
  return treeTotals(dir).bytes;
}
