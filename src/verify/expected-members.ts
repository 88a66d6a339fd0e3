/**
 * What verify expects each pack member to hold, from the manifests, until the pack is read: one
 * entry per (pack, member), for every file of every snapshot checked. Kept in columns (the
 * SHA-256 as 32 bytes, the size in a Float64Array, the snapshot as an index), with one Map entry
 * per member and the path only where it differs from the member name: an object per member with
 * its hex hash cost ~350 bytes, 35 MiB for a 100 000-file repository; this costs ~100 plus the name.
 */
import { withRoom } from "../columns.js";

export interface Expected {
  sha256: string;
  size: number;
  /** The path of the first snapshot that named this member (usually the member name itself). */
  path: string;
  snapshot: string;
}

export class ExpectedMembers {
  private readonly byPack = new Map<string, Map<string, number>>();
  private readonly snapshots: string[] = [];
  private readonly snapshotIndex = new Map<string, number>();
  /** Paths that differ from their member name (a file stored under another file's name). */
  private readonly otherPaths = new Map<number, string>();
  private count = 0;
  private sizes = new Float64Array(1024);
  private snaps = new Uint32Array(1024);
  private sha = Buffer.alloc(1024 * 32);

  /** The entry pack `pack` is expected to hold as `member`, if any. */
  get(pack: string, member: string): Expected | undefined {
    const i = this.byPack.get(pack)?.get(member);
    return i === undefined ? undefined : this.at(i, member);
  }

  set(pack: string, member: string, e: Expected): void {
    if (this.count === this.sizes.length) this.grow();
    const i = this.count++;
    this.sizes[i] = e.size;
    this.sha.write(e.sha256, i * 32, 32, "hex");
    let s = this.snapshotIndex.get(e.snapshot);
    if (s === undefined) {
      s = this.snapshots.push(e.snapshot) - 1;
      this.snapshotIndex.set(e.snapshot, s);
    }
    this.snaps[i] = s;
    if (e.path !== member) this.otherPaths.set(i, e.path);
    let members = this.byPack.get(pack);
    if (!members) this.byPack.set(pack, (members = new Map()));
    members.set(member, i);
  }

  /** The members a pack is expected to hold. */
  membersOf(pack: string): IterableIterator<string> {
    return (this.byPack.get(pack) ?? NONE).keys();
  }

  /** Looks up members of one pack (the pack being read). */
  inPack(pack: string): (member: string) => Expected | undefined {
    const members = this.byPack.get(pack);
    return (member) => {
      const i = members?.get(member);
      return i === undefined ? undefined : this.at(i, member);
    };
  }

  private at(i: number, member: string): Expected {
    return {
      sha256: this.sha.toString("hex", i * 32, i * 32 + 32),
      size: this.sizes[i]!,
      path: this.otherPaths.get(i) ?? member,
      snapshot: this.snapshots[this.snaps[i]!]!,
    };
  }

  private grow(): void {
    const n = this.sizes.length * 2;
    this.sizes = withRoom(this.sizes, n);
    this.snaps = withRoom(this.snaps, n);
    this.sha = withRoom(this.sha, n * 32);
  }
}

const NONE = new Map<string, number>();
