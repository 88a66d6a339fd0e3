/**
 * The local snapshot cache: a hint that lets a snapshot skip reading unchanged files and skip
 * storing content the repository already holds. It lives in the user's cache folder, one folder
 * per repository (`<userCacheDir>/<repo-id>/`, mode 0700, files 0600), because it is plaintext
 * and names files. It is never needed for correctness:
 *
 * - a content entry is used only if its pack is listed by a currently valid seal of this
 *   repository (the caller passes that set), so a pruned pack, a cache of another repository or
 *   a corrupt file cannot make a snapshot point at something missing;
 * - anything unreadable or malformed is ignored with a warning; a folder that cannot be made or
 *   written turns the cache off with a warning (every file is then read and hashed);
 * - the new cache replaces the old one (temp + rename) only after the seal is written.
 *
 * Two files, JSON Lines, each starting with a header line naming its format and the repository:
 *
 * - `files.v2.jsonl`: `[path, size, mtime ns, ctime ns, inode, sha256, pack id]` per regular
 *   file, plus the member name when it is not the path, in walk order (sources/order.ts). A
 *   snapshot walks in the same order, so it merge-joins this file with the walk while streaming:
 *   O(1) memory whatever the tree's size. An unchanged file needs nothing else.
 * - `content.v1.jsonl`: `[sha256, pack id, member, size]` per stored content. Looked up at random,
 *   so it is held in memory (see ContentIndex for the cost per entry). It is loaded only when a
 *   file has to be read (is its content stored already?), and rewritten only if it changed: a run
 *   that finds nothing changed neither reads nor writes it.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { StringDecoder } from "node:string_decoder";
import { errnoCode, messageOf } from "../errors.js";
import { userCacheDir } from "../keys/paths.js";
import { processAlive } from "../repo/lock.js";
import { comparePaths } from "../sources/order.js";
import { ContentIndex } from "./content-index.js";

export { ContentIndex, type ContentLocation } from "./content-index.js";

export const FILES_FORMAT = "isnad-cache-files/2";
export const CONTENT_FORMAT = "isnad-cache-content/1";
export const FILES_NAME = "files.v2.jsonl";
/** Files of earlier formats, removed when a new cache is committed. */
const OLD_FILES_NAMES = ["files.v1.jsonl"];
export const CONTENT_NAME = "content.v1.jsonl";

const HEX64 = /^[0-9a-f]{64}$/;
/** The files part is written through one reused buffer of this size. */
const OUT_BYTES = 256 * 1024;
const INT = /^\d+$/;

/** What the cache remembers of a regular file: enough to tell "unchanged" without reading it. */
export interface CachedFile {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  sha256: string;
}

/** A cached file and where its content is stored. */
export interface CachedRecord extends CachedFile {
  pack: string;
  member: string;
  /** The record's line as read from the cache file (no newline): an unchanged file's new record is this line again. */
  line: string;
}

/** Reads a file line by line, synchronously, with a fixed buffer. */
class LineReader {
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private readonly decoder = new StringDecoder("utf8");
  private lines: string[] = [];
  private carry = "";
  private eof = false;
  lineNo = 0;

  constructor(private readonly fd: number) {}

  next(): string | undefined {
    while (this.lines.length === 0) {
      if (this.eof) return undefined;
      const n = fs.readSync(this.fd, this.buf, 0, this.buf.length, null);
      let text: string;
      if (n === 0) {
        this.eof = true;
        text = this.carry + this.decoder.end();
        this.carry = "";
        if (text !== "") this.lines.push(text); // a last line without "\n": kept, the parser judges it
        continue;
      }
      text = this.carry + this.decoder.write(this.buf.subarray(0, n));
      const parts = text.split("\n");
      this.carry = parts.pop()!;
      this.lines = parts;
    }
    this.lineNo++;
    return this.lines.shift();
  }
}

function parseHeader(line: string | undefined, format: string, repoId: string): string | undefined {
  if (line === undefined) return "it is empty";
  let h: unknown;
  try {
    h = JSON.parse(line);
  } catch {
    return "its first line is not JSON";
  }
  const o = h as { format?: unknown; repository?: unknown };
  if (o.format !== format) return `its format is not ${format}`;
  if (o.repository !== repoId) return "it belongs to another repository";
  return undefined;
}

export type CacheState = "used" | "empty" | "off";

export interface CacheOptions {
  repoId: string;
  /** Every pack listed by a currently valid seal: no other pack is ever taken from the cache. */
  validPacks: { has(id: string): boolean };
  /** Ignore the path part: every file is read and hashed (content dedup still applies). */
  rehash?: boolean;
  env?: NodeJS.ProcessEnv;
  warn: (where: string, message: string) => void;
}

/**
 * One snapshot's view of the cache: the old path part being merge-joined, the content index, and
 * the new path part being written. `state` says whether an old cache was used ("used"), there was
 * none or it was ignored ("empty"), or the cache is off for this run ("off").
 */
export class SnapshotCache<P extends object> {
  private contentIndex: ContentIndex<P> | undefined;
  state: CacheState = "empty";
  private reader: LineReader | undefined;
  private readerFd: number | undefined;
  private pendingOld: { path: string; file: CachedRecord } | undefined;
  private lastOld: string | undefined;
  private out: { fd: number; tmp: string; buf: Buffer; used: number } | undefined;
  private lastNew: string | undefined;

  private constructor(
    readonly dir: string | undefined,
    private readonly opts: CacheOptions,
  ) {}

  /** Opens the cache of a repository; never throws (problems turn it off, with a warning). */
  static open<P extends object>(opts: CacheOptions): SnapshotCache<P> {
    let dir: string;
    try {
      dir = path.join(userCacheDir(opts.env), opts.repoId);
      if (!/^[0-9a-zA-Z_-]+$/.test(opts.repoId)) throw new Error(`repository id ${JSON.stringify(opts.repoId)} cannot name a folder`);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = fs.statSync(dir);
      if (!st.isDirectory()) throw new Error("not a folder");
      if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700); // it names files: private to this user
    } catch (e) {
      const where = safeCacheDir(opts);
      opts.warn(where, `cannot use the cache folder ${where}: ${messageOf(e)}; running without the cache (every file is read and hashed)`);
      const off = new SnapshotCache<P>(undefined, opts);
      off.state = "off";
      return off;
    }
    const c = new SnapshotCache<P>(dir, opts);
    removeDeadTemps(dir);
    try {
      const tmp = path.join(dir, `files-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
      const fd = fs.openSync(tmp, "wx", 0o600);
      c.out = { fd, tmp, buf: Buffer.allocUnsafe(OUT_BYTES), used: 0 };
      c.append(JSON.stringify({ format: FILES_FORMAT, repository: opts.repoId }) + "\n");
    } catch (e) {
      opts.warn(dir, `cannot write to the cache folder ${dir}: ${messageOf(e)}; running without the cache (every file is read and hashed)`);
      c.closeOut(false);
      c.state = "off";
      return c;
    }
    if (!opts.rehash) c.openFiles();
    return c;
  }

  /** Content already stored, by hash: read from the cache on first use. */
  get content(): ContentIndex<P> {
    if (!this.contentIndex) {
      this.contentIndex = new ContentIndex<P>();
      if (this.dir && this.state !== "off") this.loadContent();
      this.contentIndex.changed = false;
    }
    return this.contentIndex;
  }

  private loadContent(): void {
    const file = path.join(this.dir!, CONTENT_NAME);
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") this.opts.warn(file, `ignoring the cache file ${file}: ${messageOf(e)}`);
      return;
    }
    const index = this.contentIndex!;
    let dropped = false;
    const r = new LineReader(fd);
    try {
      const why = parseHeader(r.next(), CONTENT_FORMAT, this.opts.repoId);
      if (why) throw new Error(why);
      for (let line = r.next(); line !== undefined; line = r.next()) {
        const v = JSON.parse(line) as unknown;
        if (
          !Array.isArray(v) || v.length !== 4 || typeof v[0] !== "string" || !HEX64.test(v[0]) || typeof v[1] !== "string" ||
          !HEX64.test(v[1]) || typeof v[2] !== "string" || v[2] === "" || !Number.isSafeInteger(v[3]) || (v[3] as number) < 0
        ) {
          throw new Error(`line ${r.lineNo} is malformed`);
        }
        // A pack no valid seal lists (pruned, never sealed, another repository's) is never trusted.
        if (this.opts.validPacks.has(v[1])) index.add(v[0], v[1], v[2], v[3] as number);
        else dropped = true;
      }
      this.state = "used";
    } catch (e) {
      this.opts.warn(file, `ignoring the corrupt cache file ${file}: ${messageOf(e)}; content already stored may be stored again`);
      // Entries read before the bad line came from a file that cannot be trusted either.
      this.contentIndex = new ContentIndex<P>();
      dropped = true;
    } finally {
      fs.closeSync(fd);
    }
    this.contentDropped = dropped;
  }

  /** Entries of the content file were left out when loading: it must be written again. */
  private contentDropped = false;

  private openFiles(): void {
    const file = path.join(this.dir!, FILES_NAME);
    try {
      this.readerFd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") this.opts.warn(file, `ignoring the cache file ${file}: ${messageOf(e)}`);
      return;
    }
    this.reader = new LineReader(this.readerFd);
    const why = parseHeader(this.reader.next(), FILES_FORMAT, this.opts.repoId);
    if (why) this.dropFiles(`ignoring the cache file ${file}: ${why}`);
    else this.state = "used";
  }

  private dropFiles(message?: string): void {
    if (message) this.opts.warn(path.join(this.dir!, FILES_NAME), `${message}; unchanged files will be read again`);
    if (this.readerFd !== undefined) fs.closeSync(this.readerFd);
    this.readerFd = undefined;
    this.reader = undefined;
    this.pendingOld = undefined;
  }

  /**
   * The cached record of `p`, if any. Calls must come in walk order (each path after the one
   * before); the old file is read forward only, so memory stays O(1).
   */
  lookup(p: string): CachedRecord | undefined {
    while (this.reader || this.pendingOld) {
      if (!this.pendingOld) {
        const line = this.reader!.next();
        if (line === undefined) {
          this.dropFiles();
          return undefined;
        }
        const rec = parseFileLine(line);
        if (!rec || (this.lastOld !== undefined && comparePaths(this.lastOld, rec.path) >= 0)) {
          this.dropFiles(`ignoring the rest of the corrupt cache file ${path.join(this.dir!, FILES_NAME)} (line ${this.reader!.lineNo})`);
          return undefined;
        }
        this.lastOld = rec.path;
        this.pendingOld = rec;
      }
      const order = comparePaths(this.pendingOld.path, p);
      if (order > 0) return undefined; // the cache has nothing for p; keep this record for later paths
      const rec = this.pendingOld;
      this.pendingOld = undefined;
      if (order === 0) return rec.file;
    }
    return undefined;
  }

  /** Records a regular file for the next run. Calls must come in walk order; others are dropped. */
  record(p: string, f: CachedFile | CachedRecord, pack: string, member: string): void {
    // A file the cache knew, recorded again as it was: its line is copied, not encoded anew
    // (most of a re-run's records; ~1.5 µs a file).
    if ("line" in f && f.pack === pack && f.member === member) {
      this.recordLine(p, f.line + "\n");
      return;
    }
    const { record, recordTail } = recordParts(p, f, member);
    this.recordLine(p, record + "," + JSON.stringify(pack) + recordTail);
  }

  /** record() of a file whose record was held (recordParts) while its pack was being written. */
  recordLine(p: string, line: string): void {
    if (!this.out) return;
    if (this.lastNew !== undefined && comparePaths(this.lastNew, p) >= 0) return;
    this.lastNew = p;
    this.append(line);
  }

  private append(line: string): void {
    const out = this.out!;
    // A UTF-16 code unit is at most 3 bytes of UTF-8; a line longer than the buffer goes on its own.
    if (out.used + line.length * 3 > out.buf.length) {
      this.flushOut();
      if (!this.out) return;
      if (line.length * 3 > out.buf.length) {
        this.writeOut(Buffer.from(line, "utf8"));
        return;
      }
    }
    out.used += out.buf.write(line, out.used, "utf8");
  }

  private flushOut(): void {
    const out = this.out;
    if (!out || out.used === 0) return;
    const data = out.buf.subarray(0, out.used);
    out.used = 0;
    this.writeOut(data);
  }

  private writeOut(data: Buffer): void {
    const out = this.out;
    if (!out) return;
    try {
      for (let off = 0; off < data.length; ) off += fs.writeSync(out.fd, data, off);
    } catch (e) {
      this.opts.warn(this.dir!, `cannot write the cache in ${this.dir}: ${messageOf(e)}; the next snapshot will read every file again`);
      this.closeOut(false);
    }
  }

  private closeOut(keep: boolean): string | undefined {
    const out = this.out;
    if (!out) return undefined;
    this.out = undefined;
    try {
      fs.closeSync(out.fd);
    } catch {
      keep = false;
    }
    if (!keep) fs.rmSync(out.tmp, { force: true });
    return keep ? out.tmp : undefined;
  }

  /** After the seal is written: replaces the old cache with this run's, atomically file by file. */
  commit(): void {
    if (this.readerFd !== undefined) this.dropFiles();
    if (!this.out || !this.dir) return;
    this.flushOut();
    if (this.out) fs.fsyncSync(this.out.fd);
    const filesTmp = this.closeOut(true);
    if (!filesTmp) return;
    const index = this.contentIndex;
    if (!index || (!index.changed && !this.contentDropped)) {
      // The content file is as it was (or was not needed this run): only the files part is new.
      try {
        fs.renameSync(filesTmp, path.join(this.dir, FILES_NAME));
        this.removeOldFormats();
      } catch (e) {
        fs.rmSync(filesTmp, { force: true });
        this.opts.warn(this.dir, `cannot write the cache in ${this.dir}: ${messageOf(e)}; the next snapshot will read every file again`);
      }
      return;
    }
    const contentTmp = path.join(this.dir, `content-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
    try {
      const fd = fs.openSync(contentTmp, "wx", 0o600);
      try {
        let chunk: string[] = [JSON.stringify({ format: CONTENT_FORMAT, repository: this.opts.repoId }) + "\n"];
        let bytes = 0;
        const write = () => {
          const data = Buffer.from(chunk.join(""), "utf8");
          for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off);
          chunk = [];
          bytes = 0;
        };
        for (const line of index.lines()) {
          chunk.push(line);
          bytes += line.length;
          if (bytes >= 256 * 1024) write();
        }
        write();
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(contentTmp, path.join(this.dir, CONTENT_NAME));
      fs.renameSync(filesTmp, path.join(this.dir, FILES_NAME));
      this.removeOldFormats();
    } catch (e) {
      fs.rmSync(contentTmp, { force: true });
      fs.rmSync(filesTmp, { force: true });
      this.opts.warn(this.dir, `cannot write the cache in ${this.dir}: ${messageOf(e)}; the next snapshot will read every file again`);
    }
  }

  private removeOldFormats(): void {
    for (const name of OLD_FILES_NAMES) fs.rmSync(path.join(this.dir!, name), { force: true });
  }

  /** Drops what this run wrote (the snapshot failed): the old cache stays as it was. */
  discard(): void {
    if (this.readerFd !== undefined) this.dropFiles();
    this.closeOut(false);
  }
}

/**
 * A file's record as the two parts around its pack id: `record + "," + JSON(pack id) + recordTail`
 * is its line, so a record can wait as text while its pack is being written.
 */
export function recordParts(p: string, f: CachedFile, member: string): { record: string; recordTail: string } {
  return {
    record: JSON.stringify([p, f.size.toString(), f.mtimeNs.toString(), f.ctimeNs.toString(), f.ino.toString(), f.sha256]).slice(0, -1),
    recordTail: (member !== p ? "," + JSON.stringify(member) : "") + "]\n",
  };
}

function parseFileLine(line: string): { path: string; file: CachedRecord } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || (v.length !== 7 && v.length !== 8) || typeof v[0] !== "string" || v[0] === "") return undefined;
  for (let i = 1; i < 5; i++) if (typeof v[i] !== "string" || !INT.test(v[i] as string)) return undefined;
  if (typeof v[5] !== "string" || !HEX64.test(v[5]) || typeof v[6] !== "string" || !HEX64.test(v[6])) return undefined;
  const member = v.length === 8 ? v[7] : v[0];
  if (typeof member !== "string" || member === "") return undefined;
  return {
    path: v[0],
    file: {
      size: BigInt(v[1] as string),
      mtimeNs: BigInt(v[2] as string),
      ctimeNs: BigInt(v[3] as string),
      ino: BigInt(v[4] as string),
      sha256: v[5],
      pack: v[6],
      member,
      line,
    },
  };
}

function safeCacheDir(opts: CacheOptions): string {
  try {
    return path.join(userCacheDir(opts.env), opts.repoId);
  } catch {
    return "(no cache folder: set XDG_CACHE_HOME or HOME)";
  }
}

/** Temp files of runs that no longer exist (killed mid-write) would pile up: remove them. */
function removeDeadTemps(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^(?:files|content)-(\d+)-[0-9a-f]+\.tmp$/.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    fs.rmSync(path.join(dir, name), { force: true });
  }
}
