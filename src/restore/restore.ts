/**
 * restore: puts back all or part of a snapshot under a target folder, verifying as it writes.
 * Plan first (which entries, refused paths), then apply:
 *   folders (created private, modes set at the end, deepest first)
 *   -> files, pack by pack: each member is checked against the manifest (name, type, size) and
 *      its SHA-256 before it gets its name (see FileWrite)
 *   -> symlinks last, so no file is ever written through a link this restore created.
 * Nothing is written outside the target: every parent is lstat-checked, never followed.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import path from "node:path";
import type { AgeIdentities } from "../crypto/age.js";
import { configError, errnoCode, IsnadError, messageOf, usageError } from "../errors.js";
import { manifestKey, packKey } from "../format/layout.js";
import { memberOf, type DirManifestEntry, type SymlinkManifestEntry } from "../format/manifest.js";
import { readManifest, readPackMembers } from "../pack/reader.js";
import type { ReadableSeal, Repository } from "../repo/repository.js";
import type { Finding } from "../verify/findings.js";
import { throttle } from "../throttle.js";
import { applyMetadata, ensureDir, isRoot, nsToSeconds } from "./file-write.js";
import { PackRestore, type PackPlan, type PackSink, type RestorePlace } from "./pack-restore.js";
import { parentsOf, pathSelector } from "./select.js";
import { SelectedFiles } from "./selected-files.js";

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
  const place: RestorePlace = { target, checked, links: new Set(links.keys()) };
  const sink: PackSink = {
    refuse,
    restored: (p, bytes) => {
      report.files++;
      report.bytes += bytes;
      emit({ type: "file", path: p, bytes });
      progress();
    },
  };
  const packOrder = [...selectedFiles.packs()];
  for (const [i, id] of packOrder.entries()) {
    const ref = packs.get(id);
    const key = packKey(id);
    if (!ref) {
      for (const e of selectedFiles.filesIn(id)) refuse("manifest-mismatch", `${e.path}: its pack ${id.slice(0, 16)}… is not listed in the seal`, e.path, key);
      continue;
    }
    const plan: PackPlan = {
      key,
      members: selectedFiles.members(id),
      filesOf: (m) => selectedFiles.filesOf(id, m),
      ...(partial ? { known: known.get(id) ?? new Set<string>() } : {}),
    };
    const pack = new PackRestore(place, plan, sink);
    const nextRef = packs.get(packOrder[i + 1] ?? "");
    try {
      await readPackMembers(repo.storage, key, ref, opts.identities, pack.visitor, nextRef && { key: packKey(nextRef.id), ref: nextRef });
    } catch (err) {
      pack.abort();
      if (err instanceof IsnadError && err.kind === "config") throw err;
      refuse((err as { notFound?: boolean }).notFound ? "object-missing" : "pack-invalid", `${key}: ${messageOf(err)}`, undefined, key);
    }
    pack.reportMissing();
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
    applyMetadata(fd, d);
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
