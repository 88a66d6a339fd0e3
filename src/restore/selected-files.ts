/**
 * The files a restore will write, from the moment the manifest is read until their packs are:
 * the whole plan for a large snapshot, so it is kept in columns (typed arrays, the SHA-256 as 32
 * bytes) with one Map entry per member, not as an object per file. An object with its hex hash,
 * time string, array and map entry cost ~400 bytes a file, 50 MiB of a 4 GiB, 108 000-file
 * restore; this costs ~120 bytes plus the path.
 */
import { withRoom } from "../columns.js";
import type { FileManifestEntry } from "../format/manifest.js";

/** What writing one file needs (restore.ts FileWrite). */
export type FileRecord = Pick<FileManifestEntry, "path" | "size" | "sha256" | "mode" | "mtime" | "uid" | "gid">;

const NONE = -1;

export class SelectedFiles {
  /** Pack id -> member name -> first record stored as that member (others follow through `next`). */
  private readonly byPack = new Map<string, Map<string, number>>();
  private count = 0;
  private paths: string[] = [];
  private next = new Int32Array(1024);
  private last = new Int32Array(1024); // per first record: the chain's last, so adding is O(1)
  private sizes = new Float64Array(1024);
  private modes = new Uint32Array(1024);
  private uids = new Uint32Array(1024);
  private gids = new Uint32Array(1024);
  private mtimes = new BigInt64Array(1024);
  private sha = Buffer.alloc(1024 * 32);
  totalBytes = 0;

  get size(): number {
    return this.count;
  }

  add(pack: string, member: string, e: FileRecord): void {
    if (this.count === this.next.length) this.grow();
    const i = this.count++;
    this.paths.push(e.path);
    this.sizes[i] = e.size;
    this.modes[i] = e.mode;
    this.uids[i] = e.uid;
    this.gids[i] = e.gid;
    this.mtimes[i] = BigInt(e.mtime);
    this.sha.write(e.sha256, i * 32, 32, "hex");
    this.next[i] = NONE;
    this.last[i] = i;
    this.totalBytes += e.size;
    let members = this.byPack.get(pack);
    if (!members) this.byPack.set(pack, (members = new Map()));
    const first = members.get(member);
    if (first === undefined) {
      members.set(member, i);
      return;
    }
    this.next[this.last[first]!] = i;
    this.last[first] = i;
  }

  /** Pack ids, in the order their first file was added. */
  packs(): IterableIterator<string> {
    return this.byPack.keys();
  }

  /** The member names of a pack that selected files are stored as. */
  members(pack: string): ReadonlyMap<string, number> {
    return this.byPack.get(pack) ?? EMPTY;
  }

  /** Every file stored in `pack` as `member` (several paths may share one content), or []. */
  filesOf(pack: string, member: string): FileRecord[] {
    const out: FileRecord[] = [];
    for (let i = this.byPack.get(pack)?.get(member) ?? NONE; i !== NONE; i = this.next[i]!) out.push(this.record(i));
    return out;
  }

  /** Every file stored in `pack`. */
  *filesIn(pack: string): Generator<FileRecord> {
    for (const first of this.members(pack).values()) for (let i = first; i !== NONE; i = this.next[i]!) yield this.record(i);
  }

  private record(i: number): FileRecord {
    return {
      path: this.paths[i]!,
      size: this.sizes[i]!,
      sha256: this.sha.toString("hex", i * 32, i * 32 + 32),
      mode: this.modes[i]!,
      mtime: this.mtimes[i]!.toString(),
      uid: this.uids[i]!,
      gid: this.gids[i]!,
    };
  }

  private grow(): void {
    const n = this.next.length * 2;
    this.next = withRoom(this.next, n);
    this.last = withRoom(this.last, n);
    this.sizes = withRoom(this.sizes, n);
    this.modes = withRoom(this.modes, n);
    this.uids = withRoom(this.uids, n);
    this.gids = withRoom(this.gids, n);
    this.mtimes = withRoom(this.mtimes, n);
    this.sha = withRoom(this.sha, n * 32);
  }
}

const EMPTY: ReadonlyMap<string, number> = new Map();
