/**
 * diff: compares a live folder with one source of a snapshot — "what did the attacker touch?".
 * Both sides come in walk order (sources/order.ts), so they are merged in one pass. Every live
 * file is hashed: a forged size or mtime cannot hide a change. Findings are Change values.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import type { AgeIdentities } from "../crypto/age.js";
import { configError, usageError } from "../errors.js";
import { manifestKey } from "../format/layout.js";
import type { ManifestEntry, ManifestSource } from "../format/manifest.js";
import { readManifest } from "../pack/reader.js";
import type { ReadableSeal, Repository } from "../repo/repository.js";
import { walkDir, type SourceEntry } from "../sources/dir.js";
import { comparePaths } from "../sources/order.js";

export type ChangeKind = "added" | "removed" | "modified" | "type" | "mode" | "owner" | "symlink" | "mtime" | "unverifiable";

export interface Change {
  kind: ChangeKind;
  /** Path relative to the compared folder ("" is the folder itself). */
  path: string;
  detail: string;
}

export interface DiffReport {
  snapshot: string;
  source: string;
  livePath: string;
  compared: number;
  changes: Change[];
}

export interface DiffOptions {
  repo: Repository;
  seal: ReadableSeal;
  identities: AgeIdentities;
  livePath: string;
  /** Which source of the snapshot to compare with; inferred when unambiguous. */
  source?: string;
  onChange?: (c: Change) => void;
}

export async function diffSnapshot(opts: DiffOptions): Promise<DiffReport> {
  const live = path.resolve(opts.livePath);
  let st: fs.Stats;
  try {
    st = fs.statSync(live);
  } catch {
    throw configError(`${live} does not exist`, { hint: "give the live folder to compare with the snapshot" });
  }
  if (!st.isDirectory()) throw configError(`${live} is not a folder`);
  const realLive = fs.realpathSync(live);

  // The manifest side: entries of the chosen source, relative to its root, in walk order.
  let source: ManifestSource | undefined;
  const stored: Array<{ rel: string; e: ManifestEntry }> = [];
  await readManifest(opts.repo.storage, manifestKey(opts.seal.body.manifest.id), opts.seal.body.manifest, opts.identities, (e, header) => {
    source ??= pickSource(header.sources, opts.source, realLive);
    if (e.path === source.label) stored.push({ rel: "", e });
    else if (e.path.startsWith(`${source.label}/`)) stored.push({ rel: e.path.slice(source.label.length + 1), e });
  });
  if (!source) throw usageError(`snapshot ${opts.seal.body.snapshot} is empty`);

  const report: DiffReport = { snapshot: opts.seal.body.snapshot, source: source.label, livePath: realLive, compared: 0, changes: [] };
  const add = (kind: ChangeKind, p: string, detail: string) => {
    const c = { kind, path: p, detail };
    report.changes.push(c);
    opts.onChange?.(c);
  };

  const walker = walkDir(realLive, { include: source.include, exclude: source.exclude });
  let l = walker.next();
  let i = 0;
  while (!l.done || i < stored.length) {
    const s = stored[i];
    const order = l.done ? 1 : s === undefined ? -1 : comparePaths(l.value.rel, s.rel);
    if (order < 0 && !l.done) {
      add("added", l.value.rel, `new ${describeLive(l.value)}`);
      l = walker.next();
    } else if (order > 0 && s) {
      add("removed", s.rel, `${describeStored(s.e)} is gone`);
      i++;
    } else if (!l.done && s) {
      report.compared++;
      compareEntry(l.value, s.e, s.rel, add);
      l = walker.next();
      i++;
    }
  }
  return report;
}

function pickSource(sources: ManifestSource[], wanted: string | undefined, realLive: string): ManifestSource {
  const labels = sources.map((s) => s.label).join(", ");
  if (wanted) {
    const s = sources.find((x) => x.label === wanted);
    if (!s) throw usageError(`the snapshot has no source "${wanted}" (it has: ${labels})`);
    return s;
  }
  const dirs = sources.filter((s) => s.type === "dir");
  const byPath = dirs.find((s) => s.path && safeRealpath(s.path) === realLive);
  if (byPath) return byPath;
  if (dirs.length === 1) return dirs[0]!;
  throw usageError(`cannot tell which source of the snapshot ${realLive} is (it has: ${labels})`, "name it with --source LABEL");
}

function safeRealpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

const kindOfStored = (e: ManifestEntry) => (e.type === "missing" || e.type === "skipped" ? "unstored" : e.type);
const describeStored = (e: ManifestEntry) => (e.type === "dir" ? "folder" : e.type === "missing" || e.type === "skipped" ? "entry" : e.type);
const describeLive = (e: SourceEntry) => (e.type === "dir" ? "folder" : e.type === "skipped" ? "special file" : e.type === "unreadable" ? "unreadable entry" : e.type);
const octal = (m: number) => `0${(m & 0o7777).toString(8)}`;

function compareEntry(l: SourceEntry, e: ManifestEntry, rel: string, add: (k: ChangeKind, p: string, d: string) => void): void {
  if (e.type === "skipped" && l.type === "skipped") return; // a special file then and now: nothing stored to compare
  if (e.type === "missing" || e.type === "skipped") {
    add("unverifiable", rel, `the snapshot holds no copy (${e.type === "missing" ? `unreadable at backup time: ${e.error}` : e.reason})`);
    return;
  }
  if (l.type === "unreadable") {
    add("unverifiable", rel, `cannot be read now: ${l.error}`);
    return;
  }
  if (l.type === "skipped") {
    add("type", rel, `${describeStored(e)} became a special file`);
    return;
  }
  if (l.type !== kindOfStored(e)) {
    add("type", rel, `${describeStored(e)} became a ${describeLive(l)}`);
    return;
  }
  const stat = l.stat;
  if (e.type === "symlink" && l.type === "symlink") {
    if (l.target !== e.target) add("symlink", rel, `points to ${JSON.stringify(l.target)}, was ${JSON.stringify(e.target)}`);
  }
  if (e.type === "file" && l.type === "file") {
    const size = Number(stat.size);
    if (size !== e.size) add("modified", rel, `size ${size}, was ${e.size}`);
    else {
      const sha = hashFile(l.abs);
      if (sha === undefined) add("unverifiable", rel, "cannot be read now");
      else if (sha !== e.sha256) add("modified", rel, "content changed (same size)");
      else if (mtimeDiffers(stat.mtimeNs, BigInt(e.mtime))) add("mtime", rel, "same content, modification time changed");
    }
  }
  if (e.type !== "symlink" && Number(stat.mode & 0o7777n) !== e.mode) add("mode", rel, `mode ${octal(Number(stat.mode))}, was ${octal(e.mode)}`);
  if (Number(stat.uid) !== e.uid || Number(stat.gid) !== e.gid) add("owner", rel, `owner ${stat.uid}:${stat.gid}, was ${e.uid}:${e.gid}`);
}

/** Copy tools keep mtimes to the millisecond or microsecond (utimes takes a double), so only a
 * difference of a millisecond or more counts. */
const mtimeDiffers = (a: bigint, b: bigint) => (a > b ? a - b : b - a) >= 1_000_000n;

const HASH_BUF = Buffer.allocUnsafe(1 << 20);
function hashFile(abs: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const h = createHash("sha256");
    for (;;) {
      const n = fs.readSync(fd, HASH_BUF, 0, HASH_BUF.length, null);
      if (n === 0) break;
      h.update(HASH_BUF.subarray(0, n));
    }
    return h.digest("hex");
  } finally {
    fs.closeSync(fd);
  }
}
