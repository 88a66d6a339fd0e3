/**
 * Manifest lines held back while a pack is being written: a file entry needs its pack's id, which
 * is the SHA-256 of the finished pack, and every line after it must wait too (the manifest is in
 * walk order). A pack of small files keeps tens of thousands of lines waiting, so they are kept as
 * UTF-8 in one reused buffer, with their offsets in number arrays: a few hundred bytes a line,
 * where entry objects and the strings built for them cost over a kilobyte and outlive V8's young
 * generation (measured on the benchmark's small corpus). The cache record's path is kept as bytes
 * too: as a string it lived exactly long enough to be promoted and die in the old generation,
 * ~100 bytes of garbage there per file between full collections.
 *
 * A line is `head` alone, or, for a file, `head + JSON(pack id) + tail`, with the file's cache
 * record `record + "," + JSON(pack id) + recordTail` beside it when the cache is to remember it.
 */
export interface HeldFile<P> {
  /** A pack of this run (its id is asked for at flush time) or an earlier pack's id. */
  pack: P | string;
  tail: string;
  /** The cache record around the pack id, and the path it is recorded under. */
  cache?: { path: string; record: string; recordTail: string };
}

export class HeldLines<P> {
  private buf = Buffer.allocUnsafe(256 * 1024);
  /** Bytes in use; lines before `first` were written out (their bytes are dropped on compaction). */
  private used = 0;
  private readonly ends: number[] = []; // per line: end of head, of tail, of record, of record tail, of path
  private readonly packs: Array<P | string | undefined> = [];
  private first = 0;

  get length(): number {
    return this.packs.length - this.first;
  }

  /** Holds a line; `file` for a file entry whose line is completed by its pack id. */
  add(head: string, file?: HeldFile<P>): void {
    const cache = file?.cache;
    // Room for the whole line first: growing may move the bytes, and with them the offsets.
    const chars = head.length + (file ? file.tail.length : 0) + (cache ? cache.record.length + cache.recordTail.length + cache.path.length : 0);
    if (this.used + chars * 3 > this.buf.length) this.grow(chars * 3); // UTF-16 unit: at most 3 bytes of UTF-8
    const headEnd = this.put(head);
    const tailEnd = file ? this.put(file.tail) : this.used;
    const recEnd = cache ? this.put(cache.record) : this.used;
    const recTailEnd = cache ? this.put(cache.recordTail) : this.used;
    this.ends.push(headEnd, tailEnd, recEnd, recTailEnd, cache ? this.put(cache.path) : this.used);
    this.packs.push(file?.pack);
  }

  /** The pack of this run the first line waits for (after a flush, the first line waits, if any). */
  firstPack(): P | undefined {
    const pack = this.packs[this.first];
    return typeof pack === "object" ? pack : undefined;
  }

  /**
   * Hands out lines from the first while each either needs no pack or `idOf` knows its pack's id;
   * stops at the first that waits. `line` gets the manifest line, `record` a file's cache record.
   */
  flush(idOf: (pack: P) => string | undefined, line: (text: string) => void, record: (path: string, text: string) => void): void {
    let i = this.first;
    for (; i < this.packs.length; i++) {
      const pack = this.packs[i];
      const e = this.ends;
      const start = i === 0 ? 0 : e[5 * i - 1]!;
      const headEnd = e[5 * i]!;
      const tailEnd = e[5 * i + 1]!;
      const recEnd = e[5 * i + 2]!;
      const recTailEnd = e[5 * i + 3]!;
      const pathEnd = e[5 * i + 4]!;
      const head = this.buf.toString("utf8", start, headEnd);
      if (pack === undefined) {
        line(head);
        continue;
      }
      const id = typeof pack === "string" ? pack : idOf(pack);
      if (id === undefined) break;
      const quoted = JSON.stringify(id);
      line(head + quoted + this.buf.toString("utf8", headEnd, tailEnd));
      // A record is never empty, so an empty record segment means none.
      if (recEnd > tailEnd) record(this.buf.toString("utf8", recTailEnd, pathEnd), this.buf.toString("utf8", tailEnd, recEnd) + "," + quoted + this.buf.toString("utf8", recEnd, recTailEnd));
    }
    this.first = i;
    if (this.first === this.packs.length) this.clear();
  }

  private clear(): void {
    this.used = 0;
    this.first = 0;
    this.ends.length = 0;
    this.packs.length = 0;
  }

  /** Appends text; add() made room for it. */
  private put(text: string): number {
    this.used += this.buf.write(text, this.used, "utf8");
    return this.used;
  }

  /** Makes room: drops the bytes of lines already written, else doubles the buffer. */
  private grow(need: number): void {
    const keepFrom = this.first === 0 ? 0 : this.ends[5 * this.first - 1]!;
    if (keepFrom > 0) {
      this.buf.copy(this.buf, 0, keepFrom, this.used);
      this.used -= keepFrom;
      this.ends.splice(0, 5 * this.first);
      this.packs.splice(0, this.first);
      for (let j = 0; j < this.ends.length; j++) this.ends[j] = this.ends[j]! - keepFrom;
      this.first = 0;
    }
    if (this.used + need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (this.used + need > size) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}
