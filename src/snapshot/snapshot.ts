/**
 * The backup pipeline: sources -> pack writer (tar -> age) -> storage -> manifest -> seal.
 * The seal is written last: until it exists, nothing this run wrote is part of any snapshot, so a
 * crash at any point leaves a repository that verifies (with, at worst, unreferenced objects).
 * Reports through onEvent; never prints.
 */
import { createHash, hash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { SnapshotCache, recordParts, type CachedFile, type CachedRecord, type CacheState, type ContentLocation } from "../cache/index.js";
import { configError, errnoCode, internalError, messageOf } from "../errors.js";
import { manifestKey, packKey, sealKey } from "../format/layout.js";
import {
  encodeEndLine,
  encodeEntryLine,
  encodeFileEntryAround,
  encodeHeaderLine,
  type FileManifestEntry,
  type ManifestEntry,
  type ManifestSource,
} from "../format/manifest.js";
import { encodeSeal, sealSignedBytes, sha256Hex, type ObjectRef, type SealBody } from "../format/seal.js";
import type { Signer } from "../keys/signer.js";
import { finishObject, TextOutput, ThreadedObjects, type ObjectFactory } from "../pack/objects.js";
import type { StagedObject } from "../pack/object-writer.js";
import { worthCompressing } from "../pack/compression.js";
import { PackWriter, READ_BUFFER_BYTES, type FileIdentity } from "../pack/writer.js";
import { processAlive } from "../repo/lock.js";
import { chainTip, readRemovals } from "../repo/removals.js";
import { readSeals, type Repository } from "../repo/repository.js";
import type { SourceConfig } from "../config/index.js";
import { describeFsError, walkDir } from "../sources/dir.js";
import { HeldLines } from "./held-lines.js";
import { heapCheckpoint } from "../heap-checkpoint.js";
import { runCommandSource } from "../sources/command.js";
import { compareNames } from "../sources/order.js";
import { throttle } from "../throttle.js";
import { VERSION } from "../version.js";

/** A pack is closed at this much plaintext: big enough that the per-pack header cost (up to ~40 ms
 * with a post-quantum recipient) is noise, small enough that restoring one file reads little. */
export const PACK_TARGET_BYTES = 128 << 20;
/**
 * Manifest entries wait in memory until their pack has an id; this bounds how many. At a fifth of
 * it, the pack the oldest entry waits for is ended early (and completed while the next fills);
 * at the bound, the run waits for every open pack.
 */
export const MAX_PENDING_ENTRIES = 50_000;

export type SnapshotEvent =
  | { type: "source"; label: string; kind: string }
  | { type: "warning"; path: string; message: string }
  | { type: "unreadable"; path: string; error: string }
  | { type: "pack"; id: string; size: number; files: number }
  /** At most every PROGRESS_INTERVAL_MS (src/throttle.ts): files and bytes read so far. */
  | { type: "progress"; files: number; bytes: number };

export interface SnapshotStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  new_bytes: number;
  missing: number;
  skipped: number;
  changed: number;
}

export interface SnapshotResult {
  snapshot: string;
  seq: number;
  time: string;
  /** SHA-256 of this seal's bytes: the chain head to record in logs. */
  chainHead: string;
  parent: string | null;
  manifest: ObjectRef;
  packs: ObjectRef[];
  stats: SnapshotStats;
  missing: Array<{ path: string; error: string }>;
  changed: string[];
  /** How the files were found: not read (cache says unchanged), read but already stored, stored now. */
  incremental: IncrementalStats;
  durationMs: number;
}

export interface IncrementalStats {
  /** Files the cache showed unchanged (size, mtime, ctime, inode): not read, content already stored. */
  unchanged: number;
  /** Files read and hashed whose content was already stored (renamed, touched, copied): not stored again. */
  reused: number;
  /** Files whose content went into a new pack. */
  stored: number;
  /** Packs this snapshot wrote; the rest of `packs` were written by earlier snapshots. */
  newPacks: number;
  /** "used": a cache was read; "empty": none yet (or it was ignored); "off": no usable cache folder. */
  cache: CacheState;
}

export interface SnapshotOptions {
  repo: Repository;
  signer: Signer;
  sources: SourceConfig[];
  host?: string;
  now?: () => Date;
  onEvent?: (e: SnapshotEvent) => void;
  /** Called just before the seal is written; throwing stops the commit (e.g. a lost lock). */
  beforeSeal?: () => Promise<void>;
  /** Overrides of PACK_TARGET_BYTES and MAX_PENDING_ENTRIES (tests reach the limits with small trees). */
  limits?: { packTargetBytes?: number; maxPendingEntries?: number };
  /** Read and hash every file, ignoring what the cache says about paths (content dedup still applies). */
  rehash?: boolean;
  /** Environment for finding the cache folder (XDG_CACHE_HOME, HOME); default process.env. */
  env?: NodeJS.ProcessEnv;
}

export async function createSnapshot(opts: SnapshotOptions): Promise<SnapshotResult> {
  const started = Date.now();
  const { repo, signer } = opts;
  const emit = opts.onEvent ?? (() => undefined);
  if (signer.fingerprint !== repo.config.signer.fingerprint) {
    throw configError(
      `the signing key (fingerprint ${signer.fingerprint.slice(0, 16)}…) does not belong to ${repo.storage.location}, which expects ${repo.config.signer.fingerprint.slice(0, 16)}…`,
      { hint: "point --signing-key (or signing_key in the config) at the key isnad init wrote for this repository" },
    );
  }
  const sources = [...opts.sources].sort((a, b) => compareNames(a.label, b.label));
  for (const s of sources) {
    if (s.type === "dir") checkSourceFolder(s.label, s.path);
  }

  // A seal that does not verify is not part of the chain: the new snapshot extends the newest
  // valid one, and verify keeps reporting the bad file. Backups go on meanwhile.
  const seals = await readSeals(repo, (key, why) =>
    emit({ type: "warning", path: key, message: `ignoring ${key}: ${why}; run isnad verify` }),
  );
  // Seals removed by policy still count: a removed newest seal is still the chain's tip.
  const head = chainTip(seals, await readRemovals(repo));
  // Every pack a valid seal lists, with its ref as the first seal listing it recorded it: the only
  // packs a new snapshot may point into.
  const validPacks = new Map<string, ObjectRef>();
  for (const s of seals) for (const p of s.body.packs) if (!validPacks.has(p.id)) validPacks.set(p.id, p);

  const now = (opts.now ?? (() => new Date()))();
  const snapshotId = randomBytes(8).toString("hex");
  const host = opts.host ?? os.hostname();
  const staging = await repo.storage.stagingDir();
  removeDeadRunsStaging(staging);
  let spoolDir: string | undefined;
  const cache = SnapshotCache.open<PackWriter>({
    repoId: repo.config.id,
    validPacks,
    rehash: opts.rehash,
    env: opts.env,
    warn: (where, message) => emit({ type: "warning", path: where, message }),
  });
  let committed = false;
  const objects = new ThreadedObjects(staging, repo.config.recipients);
  const run = new SnapshotRun(repo, objects, emit, cache, validPacks, {
    packTargetBytes: opts.limits?.packTargetBytes ?? PACK_TARGET_BYTES,
    maxPendingEntries: opts.limits?.maxPendingEntries ?? MAX_PENDING_ENTRIES,
  });
  // A source that holds the repository or this cache must not back them up into themselves.
  run.skipDirs = [
    ...folderIdentity(repo.storage.localRoot, "the isnad repository itself"),
    ...folderIdentity(cache.dir, "isnad's own cache"),
  ];
  try {
    const manifest = await objects.create("manifest", { compress: false });
    const text = new TextOutput(manifest);
    run.manifest = text;
    text.write(
        encodeHeaderLine({
          format: "isnad-manifest/1",
          repository: repo.config.id,
          snapshot: snapshotId,
          time: now.toISOString(),
          host,
          signer: signer.fingerprint,
          sources: sources.map(describeSource),
        }),
    );
    for (const source of sources) {
      emit({ type: "source", label: source.label, kind: source.type });
      if (source.type === "dir") await run.addDirSource(source.label, source.path, source.include, source.exclude);
      else {
        spoolDir ??= await makeSpoolDir();
        const spool = path.join(spoolDir, `${source.label}.out`);
        await runCommandSource({ label: source.label, command: source.command, cwd: source.cwd, spoolPath: spool });
        await run.addCommandOutput(`${source.label}/${source.filename}`, spool);
        await rm(spool, { force: true });
      }
    }
    await run.closeAll();
    text.write(encodeEndLine(run.entryCount));
    text.flush();
    const staged = finishObject(manifest);
    await repo.storage.putFile(manifestKey(staged.id), staged.file);

    const body: SealBody = {
      format: "isnad-seal/1",
      repository: repo.config.id,
      snapshot: snapshotId,
      seq: (head?.seq ?? 0) + 1,
      parent: head?.hash ?? null,
      time: now.toISOString(),
      host,
      sources: sources.map((s) => s.label),
      manifest: { id: staged.id, size: staged.size },
      packs: run.packs,
      stats: run.stats,
      signer: signer.fingerprint,
      isnad: VERSION,
    };
    await opts.beforeSeal?.();
    const sealBytes = encodeSeal(body, signer.sign(sealSignedBytes(body)));
    if ((await repo.storage.putBytes(sealKey(snapshotId), sealBytes)) === "exists") {
      throw internalError(`snapshot id ${snapshotId} already exists`);
    }
    committed = true;
    cache.commit();
    return {
      snapshot: snapshotId,
      seq: body.seq,
      time: body.time,
      chainHead: sha256Hex(sealBytes),
      parent: body.parent,
      manifest: body.manifest,
      packs: body.packs,
      stats: run.stats,
      missing: run.missing,
      changed: run.changed,
      incremental: { ...run.incremental, newPacks: run.newPacks, cache: cache.state },
      durationMs: Date.now() - started,
    };
  } finally {
    if (!committed) cache.discard();
    run.abort();
    await objects.close();
    if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  }
}

/**
 * Staging files are named <kind>-<pid>-<random>.tmp. Those of a run that no longer exists (killed,
 * crashed) are never part of any snapshot: remove them so they do not pile up.
 */
function removeDeadRunsStaging(staging: string): void {
  for (const name of fs.readdirSync(staging)) {
    const pid = Number(/^[a-z]+-(\d+)-[0-9a-f]+(\.tmp)?$/.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(path.join(staging, name), { force: true });
  }
}


/** A private folder for command output, which must be complete (and its size known) before it goes into a pack. */
async function makeSpoolDir(): Promise<string> {
  try {
    return await mkdtemp(path.join(os.tmpdir(), "isnad-spool-"));
  } catch (e) {
    throw configError(`cannot create a temporary folder in ${os.tmpdir()} for command output: ${messageOf(e)}`, {
      hint: "set TMPDIR to a writable folder with room for the largest command output",
    });
  }
}

function folderIdentity(dir: string | undefined, reason: string): Array<{ dev: bigint; ino: bigint; reason: string }> {
  const st = dir ? fs.statSync(dir, { bigint: true, throwIfNoEntry: false }) : undefined;
  return st?.isDirectory() ? [{ dev: st.dev, ino: st.ino, reason }] : [];
}

function checkSourceFolder(label: string, dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    throw configError(`source "${label}": folder ${dir} ${errnoCode(e) === "ENOENT" ? "does not exist" : `cannot be read (${messageOf(e)})`}`, {
      hint: "fix the path in the config, or create the folder",
    });
  }
  if (!st.isDirectory()) throw configError(`source "${label}": ${dir} is not a folder`);
}

function describeSource(s: SourceConfig): ManifestSource {
  if (s.type === "dir") return { label: s.label, type: "dir", path: s.path, include: s.include, exclude: s.exclude };
  return { label: s.label, type: "command", command: s.command, filename: s.filename };
}

const ns = (v: bigint): string => v.toString();
/**
 * A file whose ctime is this close to now may still be written to within the same tick of the
 * file system's clock, which would leave size, mtime and ctime as they are while the content
 * changes ("racily clean", as git calls it): such a file is not put in the path cache, so the next
 * run reads it again. File systems with whole-second times get a whole second of margin.
 */
function racy(ctimeNs: bigint): boolean {
  const now = BigInt(Date.now()) * 1_000_000n;
  const margin = ctimeNs % 1_000_000_000n === 0n ? 2_000_000_000n : 50_000_000n;
  return ctimeNs > now - margin;
}
// crypto.hash: one call, no Hash object (~0.4 µs less a small file than createHash().update().digest()).
const sha256Of = (b: Uint8Array): string => hash("sha256", b, "hex");
/** Same size, mtime, ctime and inode: the test for "unchanged since it was last read". */
const sameFile = (a: FileIdentity | CachedFile, b: FileIdentity | CachedFile): boolean =>
  a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
const modeOf = (m: bigint): number => Number(m & 0o7777n);

/**
 * What a step of the per-file path returns: undefined when it finished synchronously (nearly
 * always), a promise when it had to wait (opening a pack, storing one, checking an earlier pack on
 * storage). No promise and no microtask per file: async functions and awaits on that path made
 * about 1.7 KB of garbage a file (measured with the sampling heap profiler on the small corpus).
 */
type Step = Promise<void> | undefined;
/** Runs `next` after `step`, at once when `step` finished synchronously. */
const then = (step: Step, next: () => Step): Step => (step ? step.then(next) : next());

/** A file opened for reading, and what its fstat said. */
interface OpenFile {
  p: string;
  fd: number;
  st: fs.BigIntStats;
  identity: FileIdentity;
  /** May the path cache remember it (not a command's output, not changed within the clock's tick)? */
  cacheable: boolean;
  commandOutput: boolean | undefined;
}

/** State of one run: the open pack, the entries waiting for its id, and the tallies. */
class SnapshotRun {
  manifest: TextOutput | undefined;
  /** Two packs fill side by side: one zstd-compressed, one for content that does not compress. */
  private readonly open: { plain?: PackWriter; zstd?: PackWriter } = {};
  /** Lines not yet in the manifest, in walk order, from the first that waits for a pack's id. */
  private readonly held = new HeldLines<PackWriter>();
  /** Ids of this run's packs once stored (weak: a stored pack is let go once no line waits on it). */
  private readonly packIds = new WeakMap<PackWriter, string>();
  /** Packs ended and not yet stored, oldest first (the writer thread may still be completing them). */
  private closing: PackWriter[] = [];
  private readonly headBuf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly progressDue = throttle();
  private hashBuf: Buffer | undefined;
  /** Every pack the manifest refers to (this run's and earlier ones), each once: the seal's list. */
  packs: ObjectRef[] = [];
  /** Folders no dir source enters: the repository and the cache, when they are inside one. */
  skipDirs: Array<{ dev: bigint; ino: bigint; reason: string }> = [];
  private readonly listed = new Set<string>();
  /** Earlier packs checked on storage this run: true if present with their sealed size. */
  private readonly packState = new Map<string, boolean>();
  newPacks = 0;
  incremental = { unchanged: 0, reused: 0, stored: 0 };
  entryCount = 0;
  stats: SnapshotStats = { files: 0, dirs: 0, symlinks: 0, bytes: 0, new_bytes: 0, missing: 0, skipped: 0, changed: 0 };
  missing: Array<{ path: string; error: string }> = [];
  changed: string[] = [];

  constructor(
    private readonly repo: Repository,
    private readonly objects: ObjectFactory,
    private readonly emit: (e: SnapshotEvent) => void,
    private readonly cache: SnapshotCache<PackWriter>,
    private readonly validPacks: ReadonlyMap<string, ObjectRef>,
    private readonly limits: { packTargetBytes: number; maxPendingEntries: number },
  ) {}

  async addDirSource(label: string, root: string, include?: string[], exclude?: string[]): Promise<void> {
    for (const e of walkDir(root, { include, exclude, skipDirs: this.skipDirs, statFiles: false })) {
      const p = e.rel === "" ? label : `${label}/${e.rel}`;
      let step: Step;
      switch (e.type) {
        case "dir":
          this.stats.dirs++;
          step = this.push({ type: "dir", path: p, mode: modeOf(e.stat.mode), mtime: ns(e.stat.mtimeNs), uid: Number(e.stat.uid), gid: Number(e.stat.gid) });
          break;
        case "symlink":
          this.stats.symlinks++;
          step = this.push({ type: "symlink", path: p, target: e.target, mtime: ns(e.stat.mtimeNs), uid: Number(e.stat.uid), gid: Number(e.stat.gid) });
          break;
        case "file":
          step = this.addWalkedFile(p, e.abs, e.stat);
          break;
        case "skipped":
          this.stats.skipped++;
          this.emit({ type: "warning", path: p, message: `skipped: ${e.reason}` });
          step = this.push({ type: "skipped", path: p, reason: e.reason });
          break;
        case "unreadable":
          step = this.recordMissing(p, e.error);
          break;
      }
      if (step) await step;
    }
  }

  private recordMissing(p: string, error: string): Step {
    this.stats.missing++;
    this.missing.push({ path: p, error });
    this.emit({ type: "unreadable", path: p, error });
    return this.push({ type: "missing", path: p, error });
  }

  /**
   * A regular file the walk found (without an lstat: the walk leaves that to us). A file the cache
   * knows is lstat'ed and compared with its record; any other is opened and fstat'ed straight away.
   */
  private addWalkedFile(p: string, abs: string, walked: fs.BigIntStats | undefined): Step {
    const cached = this.cache.lookup(p);
    if (!cached) return this.readFile(p, abs, { stat: walked });
    let st = walked;
    if (!st) {
      try {
        st = fs.lstatSync(abs, { bigint: true });
      } catch (e) {
        return this.recordMissing(p, describeFsError(e));
      }
    }
    const stat = st;
    const done = this.addUnchanged(p, stat, cached);
    if (done === true) return undefined;
    if (done === false) return this.readFile(p, abs, { stat });
    return done.then((yes) => (yes ? undefined : this.readFile(p, abs, { stat })));
  }

  /** Adds the output of a command source (spooled to `abs`): always read, never taken from the cache. */
  async addCommandOutput(p: string, abs: string): Promise<void> {
    await this.readFile(p, abs, { commandOutput: true });
  }

  /** Opens a file and adds it; the fd stays open until whatever the file needs is done. */
  private readFile(p: string, abs: string, how: { stat?: fs.BigIntStats; commandOutput?: boolean }): Step {
    let fd: number;
    try {
      // O_NOFOLLOW: the walk saw a regular file; if it became a symlink since, do not follow it.
      // O_NONBLOCK: if it became a fifo, do not hang waiting for a writer.
      fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch (e) {
      return this.recordMissing(p, describeFsError(e));
    }
    let step: Step;
    try {
      step = this.readOpen(p, fd, how);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    if (!step) {
      fs.closeSync(fd);
      return undefined;
    }
    return step.finally(() => fs.closeSync(fd));
  }

  private readOpen(p: string, fd: number, how: { stat?: fs.BigIntStats; commandOutput?: boolean }): Step {
    const st = fs.fstatSync(fd, { bigint: true });
    if (!st.isFile()) {
      this.stats.skipped++;
      this.emit({ type: "warning", path: p, message: "skipped: no longer a regular file" });
      return this.push({ type: "skipped", path: p, reason: "changed type while being read" });
    }
    const walked = how.stat ?? st;
    if (walked.ino !== st.ino) {
      this.emit({ type: "warning", path: p, message: "replaced by another file during the walk; storing the new one" });
    }
    const identity: FileIdentity = { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino };
    const file: OpenFile = { p, fd, st, identity, cacheable: !how.commandOutput && !racy(st.ctimeNs), commandOutput: how.commandOutput };
    const size = Number(st.size);
    // One byte more than the size: a file that fits is then known to end there (or to have grown) without another read.
    const want = Math.min(READ_BUFFER_BYTES, size + 1);
    const head = this.headBuf.subarray(0, fs.readSync(fd, this.headBuf, 0, want, null));
    const headAtEnd = head.length < want;
    // Content already stored (a rename, a touched or copied file) is referenced, not stored again.
    // Hashing first costs a second read of big files, so it is done only when some stored content
    // has this exact size; a file that fits in the first read is hashed from memory.
    const sha =
      head.length === size ? sha256Of(head) : head.length < size && this.cache.content.hasSize(size) ? this.hashRest(fd, head, size) : undefined;
    const loc = sha === undefined ? undefined : this.cache.content.get(sha);
    const store = (): Step => this.store(file, head, headAtEnd, sha, loc, worthCompressing(p, head));
    if (sha === undefined || !loc || loc.size !== size) return store();
    // The same content is stored: reference it, if its pack is usable and the file did not change while hashed.
    const reuse = (): Step => {
      if (!sameFile(fs.fstatSync(fd, { bigint: true }), identity)) return store();
      this.incremental.reused++;
      return this.reference(p, st, sha, loc, how.commandOutput, file.cacheable ? { ...identity, sha256: sha } : undefined);
    };
    const ok = this.usable(loc);
    if (ok === true) return reuse();
    if (ok === false) return store();
    return ok.then((yes) => (yes ? reuse() : store()));
  }

  /** Stores an open file's content in the compressed or the plain pack (opened first if need be). */
  private store(f: OpenFile, head: Buffer, headAtEnd: boolean, sha: string | undefined, loc: ContentLocation<PackWriter> | undefined, compressed: boolean): Step {
    const pack = compressed ? this.open.zstd : this.open.plain;
    // (head, a view of the reused head buffer, stays valid while the pack opens: no other file is read meanwhile.)
    if (!pack) return this.openPack(compressed).then((opened) => this.storeIn(opened, f, head, headAtEnd, sha, loc));
    return this.storeIn(pack, f, head, headAtEnd, sha, loc);
  }

  private storeIn(pack: PackWriter, f: OpenFile, head: Buffer, headAtEnd: boolean, sha: string | undefined, loc: ContentLocation<PackWriter> | undefined): Step {
    const { p, st, identity } = f;
    const size = Number(st.size);
    const added = pack.addFile(p, f.fd, identity, modeOf(st.mode), head, head.length === size ? sha : undefined, headAtEnd);
    this.stats.files++;
    this.stats.bytes += added.size;
    this.stats.new_bytes += added.size;
    this.incremental.stored++;
    // Replaces a location in a pack found missing (usable() said no); otherwise the first stays.
    this.cache.content.add(added.sha256, pack, p, added.size, loc !== undefined && loc.pack !== "" && this.packState.get(loc.pack) === false);
    if (added.changed) {
      this.stats.changed++;
      this.changed.push(p);
      this.emit({ type: "warning", path: p, message: "changed while being read; stored as read, flagged in the manifest" });
    }
    const entry = this.fileEntry(p, st, added.size, added.sha256, f.commandOutput);
    if (added.changed) entry.changed = true;
    const pushed = this.pushFile(entry, pack, !added.changed && f.cacheable ? { ...identity, sha256: added.sha256 } : undefined);
    this.progress();
    return then(pushed, () => (pack.tarBytes >= this.limits.packTargetBytes ? this.closePack(pack) : this.storeFinished(false)));
  }

  /**
   * A file the cache says is unchanged since the last snapshot (same size, mtime, ctime and inode:
   * ctime cannot be set back by a user) and whose content a valid pack still holds: referenced
   * without being opened. Says false when the file has to be read.
   */
  private addUnchanged(p: string, st: fs.BigIntStats, c: CachedRecord): boolean | Promise<boolean> {
    // A pack no valid seal lists (pruned since) or that storage lost: read and store the file again.
    if (!sameFile(st, c) || !this.validPacks.has(c.pack)) return false;
    const loc: ContentLocation<PackWriter> = { pack: c.pack, open: undefined, member: c.member, size: Number(c.size) };
    const take = (): boolean | Promise<boolean> => {
      this.incremental.unchanged++;
      const step = this.reference(p, st, c.sha256, loc, false, c);
      return step ? step.then(() => true) : true;
    };
    const ok = this.usable(loc);
    if (ok === true) return take();
    if (ok === false) return false;
    return ok.then((yes) => (yes ? take() : false));
  }

  /**
   * Adds an entry whose content is already stored at loc (an earlier pack, or one of this run).
   * `rec`: what the cache should remember of the file, once the entry has its pack.
   */
  private reference(
    p: string,
    st: fs.BigIntStats,
    sha256: string,
    loc: ContentLocation<PackWriter>,
    commandOutput: boolean | undefined,
    rec: CachedFile | undefined,
  ): Step {
    const entry = this.fileEntry(p, st, loc.size, sha256, commandOutput);
    if (loc.member !== p) entry.member = loc.member;
    this.stats.files++;
    this.stats.bytes += loc.size;
    if (!loc.open) this.listPack(loc.pack);
    const step = this.pushFile(entry, loc.open ?? loc.pack, rec); // a pack still being written: its id comes when stored
    this.progress();
    return step;
  }

  private fileEntry(p: string, st: fs.BigIntStats, size: number, sha256: string, commandOutput?: boolean): FileManifestEntry {
    const entry: FileManifestEntry = {
      type: "file",
      path: p,
      mode: modeOf(st.mode),
      mtime: ns(st.mtimeNs),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size,
      sha256,
      pack: "", // set by pushFile
    };
    if (commandOutput) {
      // Not the spool file's metadata: the output of a command is a plain 0600 file made now.
      entry.mode = 0o600;
      entry.uid = process.getuid?.() ?? 0;
      entry.gid = process.getgid?.() ?? 0;
    }
    return entry;
  }

  /**
   * Whether content at loc may be referenced: a pack of this run, or an earlier pack that a valid
   * seal lists (the cache holds no other) and that storage still has with its sealed size. One
   * stat per pack and run: a pack deleted behind the seals' back (a prune cut short) makes the
   * content be stored again rather than referenced while missing.
   */
  private usable(loc: ContentLocation<PackWriter>): boolean | Promise<boolean> {
    if (loc.open || this.listed.has(loc.pack)) return true;
    return this.packState.get(loc.pack) ?? this.checkPack(loc.pack);
  }

  private async checkPack(id: string): Promise<boolean> {
    const ref = this.validPacks.get(id);
    const info = ref && (await this.repo.storage.stat(packKey(id)));
    const ok = info !== undefined && ref !== undefined && info.size === ref.size;
    this.packState.set(id, ok);
    if (!ok) this.emit({ type: "warning", path: packKey(id), message: `${packKey(id)} is listed by a seal but ${info ? "has the wrong size" : "missing"}; its files are stored again (run isnad verify)` });
    return ok;
  }

  /** An earlier snapshot's pack this manifest refers to: listed in the seal once, as first sealed. */
  private listPack(id: string): void {
    if (this.listed.has(id)) return;
    const ref = this.validPacks.get(id);
    if (!ref) throw internalError(`pack ${id} is not listed by any valid seal`);
    this.listed.add(id);
    this.packs.push(ref);
  }

  private progress(): void {
    if (this.progressDue()) this.emit({ type: "progress", files: this.stats.files, bytes: this.stats.bytes });
  }

  /** SHA-256 of the whole file: head (already read) then the rest, read at explicit offsets so the
   * fd's position stays after head for the pack writer. Undefined if the file is shorter than size. */
  private hashRest(fd: number, head: Buffer, size: number): string | undefined {
    const buf = (this.hashBuf ??= Buffer.allocUnsafe(READ_BUFFER_BYTES));
    const h = createHash("sha256").update(head);
    let pos = head.length;
    while (pos < size) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n === 0) return undefined;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    return h.digest("hex");
  }

  private async openPack(compressed: boolean): Promise<PackWriter> {
    const kind = compressed ? "zstd" : "plain";
    let pack = this.open[kind];
    if (!pack) {
      pack = new PackWriter(await this.objects.create("pack", { compress: compressed }), compressed);
      this.open[kind] = pack;
    }
    return pack;
  }

  /** A non-file entry: written at once unless lines before it are held. */
  private push(e: ManifestEntry): Step {
    if (this.held.length === 0) {
      this.writeLine(encodeEntryLine(e));
      return undefined;
    }
    this.held.add(encodeEntryLine(e));
    return this.heldLimit();
  }

  /**
   * A file entry, in `pack` (an earlier pack's id, or a pack of this run, whose id may not be known
   * yet); `rec`: what the cache should remember of the file. Nothing held before it and its pack
   * known: written at once, as every entry of an unchanged tree is (held back, entries would
   * outlive the young generation and cost GC time).
   */
  private pushFile(e: FileManifestEntry, pack: PackWriter | string, rec: CachedFile | undefined): Step {
    const id = typeof pack === "string" ? pack : this.packIds.get(pack);
    if (this.held.length === 0 && id !== undefined) {
      e.pack = id;
      this.writeLine(encodeEntryLine(e));
      if (rec) this.cache.record(e.path, rec, id, e.member ?? e.path);
      return undefined;
    }
    const { head, tail } = encodeFileEntryAround(e);
    this.held.add(head, { pack, tail, cache: rec && { path: e.path, ...recordParts(e.path, rec, e.member ?? e.path) } });
    return this.heldLimit();
  }

  /** Many lines held: the pack the oldest waits for is ended; too many: every pack is stored now. */
  private heldLimit(): Step {
    const n = this.held.length;
    if (n < this.limits.maxPendingEntries / 5) return undefined;
    const oldest = this.held.firstPack();
    const closed = oldest && (this.open.plain === oldest || this.open.zstd === oldest) ? this.closePack(oldest) : undefined;
    return then(closed, () => (n >= this.limits.maxPendingEntries ? this.closeAll() : undefined));
  }

  /**
   * Ends a full pack. The writer thread completes it (compression, encryption, fsync) while this
   * thread goes on reading files into the next one; storeFinished() takes it from there.
   */
  closePack(pack: PackWriter): Step {
    if (this.open.plain !== pack && this.open.zstd !== pack) return undefined; // closed already (by closeAll)
    if (this.open.plain === pack) delete this.open.plain;
    if (this.open.zstd === pack) delete this.open.zstd;
    pack.end();
    this.closing.push(pack);
    heapCheckpoint();
    return this.storeFinished(false);
  }

  /**
   * Stores packs the writer thread has completed, in the order they were ended, gives their
   * entries their pack id and writes out what no longer waits. With `wait`, stores them all.
   */
  private storeFinished(wait: boolean): Step {
    const pack = this.closing[0];
    // Most calls find nothing ready: no promise then (this runs after every file while a pack completes).
    const staged = pack?.result(wait);
    if (!pack || !staged) return undefined;
    return this.storeStaged(pack, staged).then(() => this.storeFinished(wait));
  }

  /** Puts the oldest closing pack, completed by the writer thread, into storage and gives its entries their id. */
  private async storeStaged(pack: PackWriter, staged: StagedObject): Promise<void> {
    this.closing.shift();
    await this.repo.storage.putFile(packKey(staged.id), staged.file);
    this.cache.content.packClosed(pack, staged.id);
    this.newPacks++;
    if (!this.listed.has(staged.id)) {
      // (A pack byte-identical to an earlier one cannot happen: age draws a fresh file key per object.)
      this.listed.add(staged.id);
      this.packs.push({ id: staged.id, size: staged.size, ...(pack.compressed ? { compression: "zstd" as const } : {}) });
    }
    this.emit({ type: "pack", id: staged.id, size: staged.size, files: pack.files });
    this.packIds.set(pack, staged.id);
    this.flush();
  }

  /** Stores every open pack and writes every pending entry. */
  async closeAll(): Promise<void> {
    for (const pack of [this.open.plain, this.open.zstd]) if (pack) await this.closePack(pack);
    await this.storeFinished(true);
    this.flush();
    if (this.held.length) throw internalError(`${this.held.length} manifest entries left without a pack`);
  }

  /** Writes held lines to the manifest, in order, up to the first one still waiting for its pack. */
  private flush(): void {
    this.held.flush(
      (pack) => this.packIds.get(pack),
      (line) => this.writeLine(line),
      (p, record) => this.cache.recordLine(p, record),
    );
  }

  private writeLine(line: string): void {
    const m = this.manifest;
    if (!m) throw internalError("manifest not open");
    m.write(line);
    this.entryCount++;
  }

  /** Drops staging files of anything not yet stored (after an error, or as a no-op on success). */
  abort(): void {
    this.open.plain?.abort();
    this.open.zstd?.abort();
    for (const pack of this.closing) pack.abort();
    this.manifest?.out.abort();
  }
}
