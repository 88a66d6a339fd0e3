/**
 * A single-producer, single-consumer queue of frames in a SharedArrayBuffer, for handing a
 * snapshot's plaintext from the main thread (which reads and hashes files) to the writer thread
 * (which compresses, encrypts and writes), and a stored object's plaintext from the read thread
 * (which reads, decrypts and decompresses) to the main thread (which parses, hashes and writes
 * files), with no copy and no message per chunk. The producer reads data straight into ring
 * memory; the consumer works on it in place, then releases it.
 *
 * Layout: a control block of Int32 slots, then DATA_BYTES of frames. A frame is a 16-byte header
 * (type, stream, length) and `length` bytes, padded to 16. The two positions are free-running
 * byte counters (int32, wrapping), so "used" is their difference; a frame never wraps around the
 * end: a WRAP frame there says "continue at the start".
 */

/** Control slots (Int32 indexes). */
const WRITE = 0; // producer's published position
const READ = 1; // consumer's released position
const FAILED = 2; // set by the consumer when it stopped on an error
const RESULTS = 3; // bumped by the consumer each time it posts a result
// Set by a side just before it sleeps, so the other side calls Atomics.notify (a syscall-priced
// call when made per frame) only when someone is waiting.
const CONSUMER_SLEEPS = 4;
const PRODUCER_SLEEPS = 5;
const CANCEL = 6; // a stream the consumer no longer wants (the read thread stops producing it)
const CONTROL_BYTES = 64;
const HEADER = 16;

/**
 * `data`: plaintext of a stream; `zstd`: bytes of a compressed stream that the producer has
 * compressed already (whole zstd frames, in pieces), to be passed on as they are.
 */
export const FRAME = { data: 1, open: 2, finish: 3, wrap: 4, stop: 5, zstd: 6 } as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

/**
 * 4 MiB: several 1 MiB reads in flight. A power of two. 8 MiB measured no faster (the main thread
 * takes a share of compression when the writer falls behind, pack/shared-compression.ts) and
 * cost 4 MiB more memory, all of it touched.
 */
export const DATA_BYTES = 4 << 20;
/** A data frame is published once it holds this much, so both threads stay busy. */
const PUBLISH_BYTES = 256 << 10;

export function createRing(dataBytes = DATA_BYTES): SharedArrayBuffer {
  if (dataBytes & (dataBytes - 1) || dataBytes < 1 << 16) throw new RangeError(`ring size ${dataBytes} must be a power of two ≥ 64 KiB`);
  return new SharedArrayBuffer(CONTROL_BYTES + dataBytes);
}

/**
 * Sleeps while ctrl[slot] is `seen`, with the sleeping flag raised. The flag is raised before the
 * wait re-checks the slot, so a change made after the other side looked at the flag is seen by
 * the wait itself. The timeout bounds a sleep missed for any other reason (and lets
 * Worker.terminate() through).
 */
function sleepUntilChanged(ctrl: Int32Array, flag: number, slot: number, seen: number): void {
  Atomics.store(ctrl, flag, 1);
  Atomics.wait(ctrl, slot, seen, 1000);
  Atomics.store(ctrl, flag, 0);
}

const pad16 = (n: number): number => (n + 15) & ~15;

/** Atomics.waitAsync (ES2024; in Node since 16), which the ES2023 library this project compiles against lacks. */
interface AtomicsWithWaitAsync {
  waitAsync(ta: Int32Array, index: number, value: number, timeout: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

class RingView {
  protected readonly ctrl: Int32Array;
  protected readonly data: Buffer;
  protected readonly header: Int32Array;
  protected readonly size: number;
  protected readonly mask: number;

  constructor(sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.size = sab.byteLength - CONTROL_BYTES;
    this.mask = this.size - 1;
    this.data = Buffer.from(sab, CONTROL_BYTES, this.size);
    this.header = new Int32Array(sab, CONTROL_BYTES, this.size / 4);
  }

  get failed(): boolean {
    return Atomics.load(this.ctrl, FAILED) !== 0;
  }

  /** Tells the other side this one has stopped on an error, waking it wherever it sleeps. */
  fail(): void {
    Atomics.store(this.ctrl, FAILED, 1);
    Atomics.notify(this.ctrl, READ);
    Atomics.notify(this.ctrl, WRITE);
    Atomics.notify(this.ctrl, RESULTS);
  }
}

/**
 * The producing side (the main thread when writing, the read thread when reading). Data for one
 * stream accumulates in an open frame (append, or reserve then commit to read into ring memory)
 * and is published when it is big enough, when another stream or a control frame comes, or on
 * flush(). When the ring is full it blocks (Atomics.wait)
 * until the consumer releases space; if the consumer has failed, `onFailed` is called, which must
 * throw.
 */
export class RingProducer extends RingView {
  /** End of the last closed frame (int32, wrapping). */
  private pub = 0;
  /** What the consumer has been shown (ctrl[WRITE]): frames are published in batches, because
   * waking the consumer costs a syscall and small files would otherwise cost one each. */
  private published = 0;
  /** The open frame, if any: its type, stream, and bytes so far. */
  private open: { type: FrameType; stream: number; length: number } | undefined;
  /** The largest frame body. */
  readonly maxFrame: number;

  constructor(
    sab: SharedArrayBuffer,
    private readonly onFailed: () => never,
  ) {
    super(sab);
    this.maxFrame = Math.min(this.size / 4, (1 << 20) + PUBLISH_BYTES);
  }

  /** Copies bytes into stream `stream`'s data (or, with FRAME.zstd, its compressed data). */
  append(stream: number, bytes: Uint8Array, type: typeof FRAME.data | typeof FRAME.zstd = FRAME.data): void {
    let off = 0;
    while (off < bytes.length) {
      const buf = this.reserve(stream, bytes.length - off, type);
      buf.set(bytes.subarray(off, off + buf.length));
      this.commit(buf.length);
      off += buf.length;
    }
  }

  /**
   * Ring memory for more bytes of stream `stream`: `max` bytes, or fewer if a frame cannot hold
   * that many. commit(n) says how many of them were written.
   */
  reserve(stream: number, max: number, type: typeof FRAME.data | typeof FRAME.zstd = FRAME.data): Buffer {
    max = Math.min(max, this.maxFrame);
    let f = this.open;
    if (f && (f.type !== type || f.stream !== stream || f.length + max > this.maxFrame || (this.pub & this.mask) + HEADER + f.length + max > this.size)) {
      this.flush();
      f = undefined;
    }
    if (!f) f = this.start(type, stream, max);
    this.waitFor(this.pub + HEADER + f.length + max);
    const at = (this.pub & this.mask) + HEADER + f.length;
    return this.data.subarray(at, at + max);
  }

  commit(n: number): void {
    const f = this.open;
    if (!f) throw new Error("commit without reserve");
    f.length += n;
    if (f.length >= PUBLISH_BYTES) this.flush();
  }

  /** Publishes a control frame (after whatever data is open), with an optional small body. */
  control(type: FrameType, stream: number, body?: Uint8Array): void {
    this.flush();
    const length = body?.length ?? 0;
    if (length > this.maxFrame) throw new RangeError(`control frame of ${length} bytes`);
    const f = this.start(type, stream, length);
    this.waitFor(this.pub + HEADER + length);
    if (body) this.data.set(body, (this.pub & this.mask) + HEADER);
    f.length = length;
    this.flush();
  }

  /** Publishes the open frame, if any. */
  flush(): void {
    const f = this.open;
    if (!f) return;
    this.open = undefined;
    const at = (this.pub & this.mask) >> 2;
    this.header[at] = f.type;
    this.header[at + 1] = f.stream;
    this.header[at + 2] = f.length;
    this.pub = (this.pub + pad16(HEADER + f.length)) | 0;
    if ((f.type !== FRAME.data && f.type !== FRAME.zstd) || ((this.pub - this.published) | 0) >= PUBLISH_BYTES) this.publish();
  }

  /** Bytes the consumer has not released yet (frames published or not, the open one included). */
  backlog(): number {
    return (this.pub + (this.open ? HEADER + this.open.length : 0) - Atomics.load(this.ctrl, READ)) | 0;
  }

  /** The ring's data size. */
  get capacity(): number {
    return this.size;
  }

  /** Opens a frame at the published position, first wrapping to the start if `room` would not fit. */
  private start(type: FrameType, stream: number, room: number): { type: FrameType; stream: number; length: number } {
    const off = this.pub & this.mask;
    if (off + HEADER + room > this.size) {
      this.waitFor(this.pub + HEADER);
      this.header[off >> 2] = FRAME.wrap;
      this.pub = (this.pub + (this.size - off)) | 0;
    }
    this.open = { type, stream, length: 0 };
    return this.open;
  }

  private publish(): void {
    if (this.published === this.pub) return;
    this.published = this.pub;
    Atomics.store(this.ctrl, WRITE, this.pub);
    if (Atomics.load(this.ctrl, CONSUMER_SLEEPS)) Atomics.notify(this.ctrl, WRITE);
  }

  /** Blocks until every byte before `end` is free (released by the consumer). */
  private waitFor(end: number): void {
    for (;;) {
      const read = Atomics.load(this.ctrl, READ);
      if (((end - read) | 0) <= this.size) return;
      if (this.failed) this.onFailed();
      this.publish(); // the consumer may be waiting for exactly what is not yet published
      sleepUntilChanged(this.ctrl, PRODUCER_SLEEPS, READ, read);
    }
  }

  /** How many results the consumer has posted so far. */
  resultsPosted(): number {
    return Atomics.load(this.ctrl, RESULTS);
  }

  /** Has the consumer asked to drop stream `stream` (see RingConsumer.cancel)? */
  cancelled(stream: number): boolean {
    return Atomics.load(this.ctrl, CANCEL) === stream;
  }

  /** Blocks until the consumer has posted more than `seen` results (or failed); returns the count. */
  waitForResults(seen: number): number {
    this.publish();
    for (;;) {
      const n = Atomics.load(this.ctrl, RESULTS);
      if (n !== seen) return n;
      if (this.failed) this.onFailed();
      Atomics.wait(this.ctrl, RESULTS, n, 1000);
    }
  }
}

export interface Frame {
  type: FrameType;
  stream: number;
  /** The frame's body, in ring memory: valid until the consumer moves past it. */
  body: Buffer;
}

/**
 * The consuming side (the writer thread, or the main thread when reading): frames in order,
 * each released after the handler returns.
 */
export class RingConsumer extends RingView {
  private pos = 0;

  /**
   * Handles frames until `handle` returns false (after a stop frame). `onFailed` (which must
   * throw) is called if the producer has failed while there is nothing to handle.
   */
  run(handle: (f: Frame) => boolean, onFailed?: () => never): void {
    for (;;) {
      const end = Atomics.load(this.ctrl, WRITE);
      if (end === this.pos) {
        if (onFailed && this.failed) onFailed();
        sleepUntilChanged(this.ctrl, CONSUMER_SLEEPS, WRITE, end);
        continue;
      }
      if (!this.handleUpTo(end, handle)) return;
    }
  }

  /**
   * run(), for a consumer that also waits on callbacks (the writer thread's fsyncs): while
   * `pending()` says some are due, it goes back to the event loop after each batch of frames, and
   * waits for frames there (Atomics.waitAsync) instead of blocking the thread.
   */
  async runYielding(handle: (f: Frame) => boolean, pending: () => boolean): Promise<void> {
    for (;;) {
      const end = Atomics.load(this.ctrl, WRITE);
      if (end === this.pos) {
        if (pending()) await this.sleepAsync(end);
        else sleepUntilChanged(this.ctrl, CONSUMER_SLEEPS, WRITE, end);
        continue;
      }
      if (!this.handleUpTo(end, handle)) return;
      if (pending()) await new Promise((r) => setImmediate(r));
    }
  }

  /** sleepUntilChanged() on the event loop: woken by the producer's notify, or after 50 ms. */
  private async sleepAsync(seen: number): Promise<void> {
    Atomics.store(this.ctrl, CONSUMER_SLEEPS, 1);
    const wait = (Atomics as unknown as AtomicsWithWaitAsync).waitAsync(this.ctrl, WRITE, seen, 50);
    if (wait.async) {
      // A pending waitAsync keeps no thread alive: this timer does, in case every callback the
      // caller waits for has run before the wait ends.
      const alive = setTimeout(() => undefined, 100);
      await wait.value;
      clearTimeout(alive);
    }
    Atomics.store(this.ctrl, CONSUMER_SLEEPS, 0);
  }

  /** Handles the frames before `end`; false once `handle` said to stop. */
  private handleUpTo(end: number, handle: (f: Frame) => boolean): boolean {
    while (this.pos !== end) {
      const off = this.pos & this.mask;
      const type = this.header[off >> 2] as FrameType;
      if (type === FRAME.wrap) {
        this.release(this.pos + (this.size - off));
        continue;
      }
      const stream = this.header[(off >> 2) + 1]!;
      const length = this.header[(off >> 2) + 2]!;
      const more = handle({ type, stream, body: this.data.subarray(off + HEADER, off + HEADER + length) });
      this.release(this.pos + pad16(HEADER + length));
      if (!more) return false;
    }
    return true;
  }

  private release(pos: number): void {
    this.pos = pos | 0;
    Atomics.store(this.ctrl, READ, this.pos);
    if (Atomics.load(this.ctrl, PRODUCER_SLEEPS)) Atomics.notify(this.ctrl, READ);
  }

  /** Tells the producer a result was posted. */
  resultPosted(): void {
    Atomics.add(this.ctrl, RESULTS, 1);
    Atomics.notify(this.ctrl, RESULTS);
  }

  /** Asks the producer to stop producing stream `stream` (it ends the stream early). */
  cancel(stream: number): void {
    Atomics.store(this.ctrl, CANCEL, stream);
  }
}
