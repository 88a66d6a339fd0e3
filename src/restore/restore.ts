/**
 * restore: puts back all or part of a snapshot under a target folder, verifying as it writes.
 * Plan first (which entries, refused paths), then apply:
 *   folders (created private, modes set at the end, deepest first)
 *   -> files, pack by pack: each member is checked against the manifest (name, type, size),
 *      written to a temporary name, its SHA-256 compared, then renamed into place
 *   -> symlinks last, so no file is ever written through a link this restore created.
 * Nothing is written outside the target: every parent is lstat-checked, never followed.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import path from "node:path";
import type { AgeIdentities } from "../crypto/age.js";
import { configError, errnoCode, IsnadError, messageOf, usageError } from "../errors.js";
import { manifestKey, packKey } from "../format/layout.js";
import {
  memberOf,
  unsafePathReason,
  type DirManifestEntry,
  type SymlinkManifestEntry,
} from "../format/manifest.js";
import { PACK_CHECKSUMS_MEMBER } from "../format/sha256sum.js";
import { readManifest, readPackMembers, type NextObject } from "../pack/reader.js";
import type { ReadableSeal, Repository } from "../repo/repository.js";
import type { Finding } from "../verify/findings.js";
import { throttle } from "../throttle.js";
import { parentsOf, pathSelector } from "./select.js";
import { SelectedFiles, type FileRecord } from "./selected-files.js";

export type RestoreEvent =
  | { type: "file"; path: string; bytes: number }
  | { type: "finding"; finding: Finding }
  /** At most every PROGRESS_INTERVAL_MS (src/throttle.ts), and once at the end. */
  | { type: "progress"; files: number; bytes: number; totalFiles: number; totalBytes: number };

export interface RestoreOptions {
  repo: Repository;
  seal: ReadableSeal;
  identities: AgeIdentities;
  target: string;
  include?: string[];
  overwrite?: boolean;
  onEvent?: (e: RestoreEvent) => void;
}

export interface RestoreReport {
  snapshot: string;
  target: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** Entries the snapshot recorded as unreadable or skipped at backup time: nothing to restore. */
  notStored: Array<{ path: string; why: string }>;
  findings: Finding[];
}

const isRoot = process.getuid?.() === 0;


export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreReport> {
  const { repo, seal } = opts;
  const snapshot = seal.body.snapshot;
  const wanted = await checkTarget(opts.target, opts.overwrite ?? false);
  const emit = opts.onEvent ?? (() => undefined);
  const report: RestoreReport = { snapshot, target: wanted, files: 0, dirs: 0, symlinks: 0, bytes: 0, notStored: [], findings: [] };
  const refuse = (code: Finding["code"], message: string, p?: string, object?: string) => {
    const f: Finding = { severity: "error", code, message, snapshot, ...(p !== undefined ? { path: p } : {}), ...(object ? { object } : {}) };
    report.findings.push(f);
    emit({ type: "finding", finding: f });
  };

  // Plan: read the whole manifest (it is verified end to end before anything is written).
  const selected = pathSelector(opts.include);
  const dirs: DirManifestEntry[] = [];
  const symlinks: SymlinkManifestEntry[] = [];
  /** Selected files by pack, then by member name (several entries may share one member). */
  const selectedFiles = new SelectedFiles();
  /**
   * Every member name the manifest gives each pack, selected or not: anything else is unexpected.
   * Only kept when --include selects part of the snapshot; otherwise it equals byPack's keys.
   */
  const partial = (opts.include?.length ?? 0) > 0;
  const known = new Map<string, Set<string>>();
  const wantedDirs = new Set<string>();
  await readManifest(repo.storage, manifestKey(seal.body.manifest.id), seal.body.manifest, opts.identities, (e, header) => {
    if (header.snapshot !== snapshot) throw new IsnadError("integrity", `manifest belongs to snapshot ${header.snapshot}, not ${snapshot}`);
    if (e.type === "file" && partial) {
      let k = known.get(e.pack);
      if (!k) known.set(e.pack, (k = new Set()));
      k.add(memberOf(e));
    }
    if (!selected(e.path)) {
      if (e.type === "dir") dirs.push(e); // may still be needed as a parent of something selected
      return;
    }
    for (const p of parentsOf(e.path)) wantedDirs.add(p);
    switch (e.type) {
      case "dir":
        dirs.push(e);
        wantedDirs.add(e.path);
        break;
      case "symlink":
        symlinks.push(e);
        break;
      case "file":
        selectedFiles.add(e.pack, memberOf(e), e);
        break;
      case "missing":
        report.notStored.push({ path: e.path, why: `unreadable at backup time: ${e.error}` });
        break;
      case "skipped":
        report.notStored.push({ path: e.path, why: `not stored: ${e.reason}` });
        break;
    }
  });
  const totalFiles = selectedFiles.size;
  const totalBytes = selectedFiles.totalBytes;
  const progressDue = throttle();
  const progress = (last = false) => {
    if (last || progressDue()) emit({ type: "progress", files: report.files, bytes: report.bytes, totalFiles, totalBytes });
  };
  progress();
  // Only now that the manifest is read and verified does the target come into being.
  const target = await createTarget(wanted);
  report.target = target;
  const packs = new Map(seal.body.packs.map((p) => [p.id, p]));

  const links = new Map(symlinks.map((s) => [s.path, s.target]));
  const underLink = (p: string) => parentsOf(p).some((d) => links.has(d));
  /** Folders of the snapshot this restore made or found to be real folders inside the target. */
  const okDirs = new Set<string>();
  /** Every folder (relative path) checked or made so far: never checked twice. */
  const checked = new Set<string>();

  // Folders, outermost first (manifest order); private until their modes are applied at the end.
  const keptDirs = dirs.filter((d) => wantedDirs.has(d.path));
  for (const d of keptDirs) {
    if (underLink(d.path)) {
      refuse("entry-refused", `${d.path}: refused, it lies under a symlink of the same snapshot`, d.path);
      continue;
    }
    try {
      ensureDir(target, d.path, checked);
      okDirs.add(d.path);
      report.dirs++;
    } catch (e) {
      refuse("restore-failed", `${d.path}: ${messageOf(e)}`, d.path);
    }
  }

  // Files, pack by pack, each read ahead while the one before it is written.
  const packOrder = [...selectedFiles.packs()];
  const ahead = (i: number): NextObject | undefined => {
    const id = packOrder[i];
    const ref = id === undefined ? undefined : packs.get(id);
    return ref && { key: packKey(ref.id), ref };
  };
  for (const [i, packId] of packOrder.entries()) {
    const members = selectedFiles.members(packId);
    const ref = packs.get(packId);
    const key = packKey(packId);
    if (!ref) {
      for (const e of selectedFiles.filesIn(packId)) refuse("manifest-mismatch", `${e.path}: its pack ${packId.slice(0, 16)}… is not listed in the seal`, e.path, key);
      continue;
    }
    const done = new Set<string>();
    const expected: ReadonlySet<string> | ReadonlyMap<string, unknown> = partial ? (known.get(packId) ?? new Set<string>()) : members;
    /** The file being written, if the pack turns out bad in its middle: removed, never left half-written. */
    let writing: FileWrite | undefined;
    try {
      await readPackMembers(repo.storage, key, ref, opts.identities, (h) => {
        const name = h.name;
        if (name === PACK_CHECKSUMS_MEMBER && h.type === "file") return undefined;
        const why = unsafePathReason(name);
        if (why) return void refuse("entry-refused", `${key}: refused entry ${JSON.stringify(name)}: ${why}`, name, key);
        if (h.type !== "file") return void refuse("entry-refused", `${key}: refused entry ${JSON.stringify(name)}: a ${h.type}, packs hold only regular files`, name, key);
        // With dedup a snapshot points into packs other snapshots wrote, which hold their members
        // too (files since deleted or changed): a regular file this manifest does not name is
        // another snapshot's content, skipped unread. Nothing is ever written but what it names.
        if (!expected.has(name)) return undefined;
        if (done.has(name)) return void refuse("entry-refused", `${key}: refused entry ${JSON.stringify(name)}: duplicate`, name, key);
        if (!members.has(name)) return undefined; // in the manifest but not selected: skipped unread
        const list = selectedFiles.filesOf(packId, name);
        done.add(name);
        const e = list[0]!;
        if (h.size !== e.size) {
          for (const x of list) refuse("entry-refused", `${key}: refused entry ${JSON.stringify(name)}: ${h.size} bytes, the manifest says ${e.size}`, x.path, key);
          return undefined;
        }
        const eligible = list.filter((x) => {
          if (!underLink(x.path)) return true;
          refuse("entry-refused", `${x.path}: refused, it lies under a symlink of the same snapshot`, x.path);
          return false;
        });
        const restored = (x: FileRecord) => {
          report.files++;
          report.bytes += x.size;
          emit({ type: "file", path: x.path, bytes: x.size });
          progress();
        };
        const first = eligible[0];
        if (!first) return undefined;
        let out: FileWrite;
        try {
          out = writing = new FileWrite(target, checked, first);
        } catch (err) {
          for (const x of eligible) refuse("restore-failed", `${x.path}: ${messageOf(err)}; not restored`, x.path, key);
          return undefined;
        }
        return {
          data: (chunk) => out.write(chunk),
          end: () => {
            writing = undefined;
            let written: { dest: string } | string;
            try {
              written = out.finish();
            } catch (err) {
              written = messageOf(err); // e.g. the rename into place failed: this file only, not the pack
              out.failedOnDisk = true;
            }
            if (typeof written === "string") {
              refuse(out.failedOnDisk ? "restore-failed" : "member-hash", `${first.path}: ${written}; not restored`, first.path, key);
              for (const x of eligible.slice(1)) refuse("restore-failed", `${x.path}: the content it shares with ${first.path} was not restored`, x.path, key);
              return;
            }
            restored(first);
            // Other paths with the same content: copied from the first, checked again as they are written.
            for (const x of eligible.slice(1)) {
              const copied = copyFileEntry(target, checked, x, written.dest);
              if (typeof copied === "string") refuse("restore-failed", `${x.path}: ${copied}; not restored`, x.path, key);
              else restored(x);
            }
          },
        };
      }, ahead(i + 1));
    } catch (err) {
      writing?.abort();
      if (err instanceof IsnadError && err.kind === "config") throw err;
      refuse((err as { notFound?: boolean }).notFound ? "object-missing" : "pack-invalid", `${key}: ${messageOf(err)}`, undefined, key);
    }
    for (const member of members.keys()) {
      if (!done.has(member)) for (const e of selectedFiles.filesOf(packId, member)) refuse("member-missing", `${e.path}: not found in ${key}; not restored`, e.path, key);
    }
  }
  progress(true);

  // Symlinks last.
  for (const s of symlinks) {
    if (linkEscapes(s.path, links)) {
      refuse("entry-refused", `${s.path}: refused symlink to ${JSON.stringify(s.target)}: it points outside the restore target`, s.path);
      continue;
    }
    if (underLink(s.path)) {
      refuse("entry-refused", `${s.path}: refused, it lies under a symlink of the same snapshot`, s.path);
      continue;
    }
    try {
      await writeSymlink(target, checked, s);
      report.symlinks++;
    } catch (e) {
      refuse("restore-failed", `${s.path}: ${messageOf(e)}`, s.path);
    }
  }

  // Folder modes and times, deepest first, so setting a child does not disturb its parent's mtime.
  /** Folders found to be real folders in this last pass: each lstat-checked once, not once per child. */
  const realDirs = new Set<string>();
  for (const d of [...keptDirs].reverse()) {
    if (!okDirs.has(d.path)) continue; // refused or failed: already reported
    try {
      applyDirMetadata(target, d, realDirs);
    } catch (e) {
      refuse("restore-failed", `${d.path}: cannot set mode and time: ${messageOf(e)}`, d.path);
    }
  }
  return report;
}

/** Refuses a target that is a file, or not empty without --overwrite; creates nothing. */
async function checkTarget(target: string, overwrite: boolean): Promise<string> {
  const abs = path.resolve(target);
  let st: fs.Stats | undefined;
  try {
    st = await fsp.stat(abs);
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw configError(`restore target ${abs}: ${messageOf(e)}`);
  }
  if (st && !st.isDirectory()) throw configError(`restore target ${abs} is a file, not a folder`, { hint: "give --target a new or empty folder" });
  if (st && !overwrite && (await fsp.readdir(abs)).length > 0) {
    throw usageError(`restore target ${abs} is not empty`, "restore into a new folder, or pass --overwrite to replace what is there");
  }
  return abs;
}

async function createTarget(abs: string): Promise<string> {
  await fsp.mkdir(abs, { recursive: true, mode: 0o700 });
  return fsp.realpath(abs);
}

/**
 * Makes target/rel a folder, creating missing parents, refusing to pass through anything that is
 * not a real folder. `known` holds folders this restore already checked or made, so a folder of
 * many files is checked once. Synchronous: restores of many small files are bound by syscalls,
 * and the thread-pool round trip of the promise API doubled their cost.
 */
function ensureDir(target: string, rel: string, known: Set<string>): string {
  if (known.has(rel)) return path.join(target, ...rel.split("/"));
  let cur = target;
  let sofar = "";
  for (const seg of rel.split("/")) {
    cur = path.join(cur, seg);
    sofar = sofar ? `${sofar}/${seg}` : seg;
    if (known.has(sofar)) continue;
    // mkdir first (it never follows a symlink in the last component): an existing name is then
    // lstat-checked, a new folder needs no second call.
    let made = true;
    try {
      fs.mkdirSync(cur, { mode: 0o700 });
    } catch (e) {
      if (errnoCode(e) !== "EEXIST") throw e;
      made = false;
    }
    if (!made) {
      const st = fs.lstatSync(cur);
      if (!st.isDirectory()) {
        throw new Error(`${path.relative(target, cur)} exists and is not a folder (${st.isSymbolicLink() ? "a symlink" : "a file"}); refusing to write through it`);
      }
    }
    known.add(sofar);
  }
  return cur;
}

/**
 * One restored file: written to a temporary name next to its destination while its bytes arrive
 * and are hashed, then given its mode, owner and time and renamed into place only if size and
 * SHA-256 match the manifest. Synchronous: restores of many small files are bound by syscalls.
 * No fsync per file: it made restores of many small files 5x slower than tar -x; a restore that is
 * cut short is simply run again, and every file it finished was hash-checked.
 */
/** Temp names: one random prefix per run and a counter (a random draw per file cost 17 µs). */
const TEMP_PREFIX = randomBytes(6).toString("hex");
let tempCounter = 0;

class FileWrite {
  private readonly fd: number;
  private readonly tmp: string;
  private readonly dest: string;
  private readonly hash = createHash("sha256");
  private size = 0;
  /** Why this file will not be restored, once known. */
  private failure: string | undefined;
  /** The failure is the local disk's (no space, permissions), not the content's. */
  failedOnDisk = false;

  constructor(target: string, known: Set<string>, private readonly e: FileRecord) {
    const segs = e.path.split("/");
    const name = segs.pop()!;
    const dir = segs.length ? ensureDir(target, segs.join("/"), known) : target;
    this.dest = path.join(dir, name);
    this.tmp = path.join(dir, `.isnad-restore-${TEMP_PREFIX}-${++tempCounter}`);
    this.fd = fs.openSync(this.tmp, "wx", 0o600);
  }

  write(chunk: Buffer): void {
    if (this.failure) return;
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.size > this.e.size) {
      this.failure = `more than the ${this.e.size} bytes the manifest records`;
      return;
    }
    try {
      for (let off = 0; off < chunk.length; ) off += fs.writeSync(this.fd, chunk, off);
    } catch (err) {
      this.failure = messageOf(err);
      this.failedOnDisk = true;
    }
  }

  /** Closes and removes the unfinished file (its pack failed part way). */
  abort(): void {
    fs.closeSync(this.fd);
    fs.rmSync(this.tmp, { force: true });
  }

  /** Closes the file; puts it in place and returns its path, or removes it and says why not. */
  finish(): { dest: string } | string {
    const e = this.e;
    let ok = false;
    try {
      if (this.failure) return this.failure;
      if (this.size !== e.size) return `${this.size} bytes instead of ${e.size}`;
      if (this.hash.digest("hex") !== e.sha256) return "content does not match its SHA-256 in the manifest";
      if (isRoot) {
        try {
          fs.fchownSync(this.fd, e.uid, e.gid);
        } catch {
          /* an owner this system lacks: keep root's */
        }
      }
      fs.fchmodSync(this.fd, e.mode & 0o7777);
      fs.futimesSync(this.fd, nsToSeconds(e.mtime), nsToSeconds(e.mtime));
      ok = true;
    } catch (err) {
      this.failedOnDisk = true;
      return messageOf(err);
    } finally {
      fs.closeSync(this.fd);
      if (!ok) fs.rmSync(this.tmp, { force: true });
    }
    try {
      // Replaces a file or symlink without following it; refuses a folder (EISDIR), so no lstat
      // of the destination first (one syscall less per file).
      fs.renameSync(this.tmp, this.dest);
    } catch (err) {
      fs.rmSync(this.tmp, { force: true });
      this.failedOnDisk = true;
      return errnoCode(err) === "EISDIR" ? "a folder is in the way" : messageOf(err);
    }
    return { dest: this.dest };
  }
}

const COPY_BUFFER = Buffer.allocUnsafe(1 << 20);

/** A second path with the same content: copied from the first, already verified, and checked again. */
function copyFileEntry(target: string, known: Set<string>, e: FileRecord, from: string): { dest: string } | string {
  let src: number | undefined;
  try {
    src = fs.openSync(from, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const out = new FileWrite(target, known, e);
    for (;;) {
      const n = fs.readSync(src, COPY_BUFFER, 0, COPY_BUFFER.length, null);
      if (n === 0) break;
      out.write(COPY_BUFFER.subarray(0, n));
    }
    return out.finish();
  } catch (err) {
    return messageOf(err);
  } finally {
    if (src !== undefined) fs.closeSync(src);
  }
}

/**
 * Whether a snapshot symlink, resolved inside the restored tree (following the snapshot's other
 * symlinks, as the kernel would), leads outside the target. Absolute targets always do.
 */
export function linkEscapes(linkPath: string, links: ReadonlyMap<string, string>): boolean {
  const resolve = (fromDir: string[], targetPath: string, depth: number): string[] | undefined => {
    if (depth > 40 || targetPath.startsWith("/")) return undefined; // loop, or absolute
    const stack = [...fromDir];
    for (const seg of targetPath.split("/")) {
      if (seg === "" || seg === ".") continue;
      if (seg === "..") {
        if (stack.length === 0) return undefined;
        stack.pop();
        continue;
      }
      stack.push(seg);
      const inner = links.get(stack.join("/"));
      if (inner !== undefined) {
        stack.pop();
        const r = resolve(stack, inner, depth + 1);
        if (!r) return undefined;
        stack.splice(0, stack.length, ...r);
      }
    }
    return stack;
  };
  const target = links.get(linkPath);
  if (target === undefined) return false;
  return resolve(linkPath.split("/").slice(0, -1), target, 0) === undefined;
}

/**
 * Sets a folder's mode, times (and owner, as root) through a handle opened without following
 * links, after checking every component below the target is a real folder: never outside it.
 * `real` remembers the components already checked in this pass: in a tree of 10 000 folders the
 * check is one lstat per folder instead of one per folder and level. Synchronous: as promises, the
 * thread-pool round trips of about 100 000 small calls cost more than the calls (a third of the
 * CPU time of restoring the docs corpus).
 */
function applyDirMetadata(target: string, d: DirManifestEntry, real: Set<string>): void {
  let cur = target;
  let sofar = "";
  for (const seg of d.path.split("/")) {
    cur = path.join(cur, seg);
    sofar = sofar ? `${sofar}/${seg}` : seg;
    if (real.has(sofar)) continue;
    if (!fs.lstatSync(cur).isDirectory()) throw new Error(`${path.relative(target, cur)} is no longer a folder`);
    real.add(sofar);
  }
  const fd = fs.openSync(cur, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    if (isRoot) {
      try {
        fs.fchownSync(fd, d.uid, d.gid);
      } catch {
        /* an owner this system lacks: keep root's */
      }
    }
    fs.fchmodSync(fd, d.mode & 0o7777);
    fs.futimesSync(fd, nsToSeconds(d.mtime), nsToSeconds(d.mtime));
  } finally {
    fs.closeSync(fd);
  }
}

async function writeSymlink(target: string, known: Set<string>, s: SymlinkManifestEntry): Promise<void> {
  const segs = s.path.split("/");
  const name = segs.pop()!;
  const dir = segs.length ? ensureDir(target, segs.join("/"), known) : target;
  const dest = path.join(dir, name);
  const existing = await fsp.lstat(dest).catch(() => undefined);
  if (existing?.isDirectory()) throw new Error("a folder is in the way");
  if (existing) await fsp.rm(dest);
  await fsp.symlink(s.target, dest);
  if (isRoot) await fsp.lchown(dest, s.uid, s.gid).catch(() => undefined);
  await fsp.lutimes(dest, nsToSeconds(s.mtime), nsToSeconds(s.mtime));
}

/** Nanosecond strings to the seconds utimes takes (it keeps about a microsecond). */
export function nsToSeconds(ns: string): number {
  const n = BigInt(ns);
  return Number(n / 1_000_000_000n) + Number(n % 1_000_000_000n) / 1e9;
}
