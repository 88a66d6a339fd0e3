/**
 * sha256 -> (pack, member, size): the content a repository already stores, as the snapshot cache
 * knows it, looked up at random for every file that is read. It holds an entry per distinct
 * content, so it is kept in columns: the 32 bytes of each hash in one buffer, found through an
 * open-addressing table of slot numbers (a hash's first four bytes are already uniform), the
 * pack as an interned index, the size in a Float64Array; only the member name is a string (the
 * path the snapshot has anyway). About 60 bytes an entry plus the name, where a Map with a key
 * string and arrays of objects cost ~240 (24 MiB of a 100 000-file first snapshot).
 */

/** Where a content is stored: a pack (by id, or a pack of this run still open) and its member name. */
export interface ContentLocation<P> {
  /** The pack's id; "" while the pack is still being written (then `open` is set). */
  pack: string;
  open: P | undefined;
  member: string;
  size: number;
}

import { withRoom } from "../columns.js";

const HASH_BYTES = 32;

export class ContentIndex<P extends object> {
  private count = 0;
  private shas = Buffer.alloc(1024 * HASH_BYTES);
  private packOf = new Uint32Array(1024);
  private sizeOf = new Float64Array(1024);
  private readonly memberOf: string[] = [];
  /** Slot + 1 per table entry, 0 when empty; at most half full. A power of two long. */
  private table = new Int32Array(2048);
  /** The hash being looked up, as bytes (hex in, bytes here: no allocation per lookup). */
  private readonly key = Buffer.alloc(HASH_BYTES);
  /** Where find() stopped: the free table position for the hash it did not find. */
  private probe = 0;
  /** Pack ids by index; "" for a pack of this run not yet closed. */
  private readonly packIds: string[] = [];
  private readonly packIndex = new Map<string | P, number>();
  private readonly openPacks = new Map<number, P>();
  /** Sizes of every known content: a file whose size is none of them cannot be a duplicate. */
  private readonly sizes = new Set<number>();
  /** Whether anything was added since it was loaded (else its file need not be written again). */
  changed = false;

  get size(): number {
    return this.count;
  }

  hasSize(n: number): boolean {
    return this.sizes.has(n);
  }

  get(sha256: string): ContentLocation<P> | undefined {
    const slot = this.find(sha256);
    if (slot < 0) return undefined;
    const p = this.packOf[slot]!;
    return { pack: this.packIds[p]!, open: this.openPacks.get(p), member: this.memberOf[slot]!, size: this.sizeOf[slot]! };
  }

  /** Adds content stored in pack `pack` (an id, or the handle of a pack still open). Keeps the
   * first location unless `replace` (the first one's pack turned out to be missing). */
  add(sha256: string, pack: string | P, member: string, size: number, replace = false): void {
    let slot = this.find(sha256);
    if (slot >= 0 && !replace) return;
    if (slot < 0) slot = this.insert();
    this.packOf[slot] = this.internPack(pack);
    this.memberOf[slot] = member;
    this.sizeOf[slot] = size;
    this.sizes.add(size);
    this.changed = true;
  }

  /** A pack of this run was stored: its entries now have an id. */
  packClosed(handle: P, id: string): void {
    const p = this.packIndex.get(handle);
    if (p === undefined) return;
    this.packIds[p] = id;
    this.openPacks.delete(p);
    this.packIndex.delete(handle);
    this.packIndex.set(id, p);
  }

  /** Every entry whose pack has an id, as cache lines. */
  *lines(): Generator<string> {
    for (let slot = 0; slot < this.count; slot++) {
      const pack = this.packIds[this.packOf[slot]!]!;
      if (pack === "") continue;
      const hex = this.shas.toString("hex", slot * HASH_BYTES, (slot + 1) * HASH_BYTES);
      yield JSON.stringify([hex, pack, this.memberOf[slot], this.sizeOf[slot]]) + "\n";
    }
  }

  private internPack(pack: string | P): number {
    let p = this.packIndex.get(pack);
    if (p === undefined) {
      p = this.packIds.length;
      this.packIndex.set(pack, p);
      if (typeof pack === "string") this.packIds.push(pack);
      else {
        this.packIds.push("");
        this.openPacks.set(p, pack);
      }
    }
    return p;
  }

  /** The slot of hash `sha256` (hex), or -1; leaves its bytes in `key` and, when missing, its free table position in `probe`. */
  private find(sha256: string): number {
    const key = this.key;
    if (key.write(sha256, 0, HASH_BYTES, "hex") !== HASH_BYTES) throw new TypeError(`not a SHA-256: ${sha256}`);
    const mask = this.table.length - 1;
    for (let i = key.readUInt32LE(0) & mask; ; i = (i + 1) & mask) {
      const v = this.table[i]!;
      if (v === 0) {
        this.probe = i;
        return -1;
      }
      const slot = v - 1;
      if (this.shas.compare(key, 0, HASH_BYTES, slot * HASH_BYTES, (slot + 1) * HASH_BYTES) === 0) return slot;
    }
  }

  /** A new slot for the hash find() just missed (in `key`, at table position `probe`). */
  private insert(): number {
    if (this.count === this.packOf.length) this.growColumns();
    const slot = this.count++;
    this.key.copy(this.shas, slot * HASH_BYTES);
    this.table[this.probe] = slot + 1;
    if (this.count * 2 > this.table.length) this.growTable();
    return slot;
  }

  private growColumns(): void {
    const n = this.packOf.length * 2;
    this.shas = withRoom(this.shas, n * HASH_BYTES);
    this.packOf = withRoom(this.packOf, n);
    this.sizeOf = withRoom(this.sizeOf, n);
  }

  private growTable(): void {
    const table = new Int32Array(this.table.length * 2);
    const mask = table.length - 1;
    for (let slot = 0; slot < this.count; slot++) {
      let i = this.shas.readUInt32LE(slot * HASH_BYTES) & mask;
      while (table[i] !== 0) i = (i + 1) & mask;
      table[i] = slot + 1;
    }
    this.table = table;
  }
}
