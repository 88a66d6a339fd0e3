/**
 * A compressed object's zstd work, shared between the main thread and the pack writer thread.
 *
 * The writer thread compresses, encrypts, hashes and writes; the main thread walks, reads and
 * hashes files. Which of them is behind changes with what the walk meets: a run of small files
 * keeps the main thread busy (syscalls per file) while the writer waits for data; large
 * compressible files keep the writer busy (zstd is its costliest step) while the main thread
 * waits for ring space. So while the ring's backlog is high, the main thread compresses the
 * object's bytes itself and sends whole zstd frames (FRAME.zstd), which the writer only encrypts;
 * once the backlog is low again, it ends its frame and sends plaintext again. The two thresholds
 * keep switches, and so frames, few: each switch ends a frame, which costs a few bytes and the
 * compression history.
 *
 * The object's plaintext is then a sequence of whole zstd frames, some made on each thread, which
 * `zstd -d` and every zstd decoder read as one stream (docs/FORMAT.md §4).
 */
import { giveBackCompressor, takeCompressor, type ZstdCompressor } from "./compression.js";
import { FRAME, type RingProducer } from "./ring.js";

/** Backlog levels, as fractions of the ring, at which this thread starts and stops compressing. */
export interface ShareThresholds {
  start: number;
  stop: number;
}

export const DEFAULT_SHARE: ShareThresholds = { start: 3 / 4, stop: 1 / 4 };

/** Reads of file content into this thread's memory, to be compressed here: as large as the pack writer's reads. */
const SCRATCH_BYTES = 1 << 20;
/** One buffer for every object: PackWriter pairs each reserve() with its commit() before any other object is written. */
let scratch: Buffer | undefined;

export class SharedCompression {
  private zstd: ZstdCompressor | undefined;
  private readonly start: number;
  private readonly stop: number;
  /** The last reserve() gave scratch memory, not ring memory. */
  private reservedHere = false;

  constructor(
    private readonly ring: RingProducer,
    private readonly stream: number,
    share: ShareThresholds = DEFAULT_SHARE,
  ) {
    this.start = share.start * ring.capacity;
    this.stop = share.stop * ring.capacity;
  }

  write(data: Uint8Array): void {
    if (this.here()) this.zstd!.write(data);
    else this.ring.append(this.stream, data);
  }

  reserve(max: number): Buffer {
    this.reservedHere = this.here();
    if (!this.reservedHere) return this.ring.reserve(this.stream, max);
    scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES);
    return scratch.subarray(0, Math.min(max, SCRATCH_BYTES));
  }

  commit(n: number): void {
    if (this.reservedHere) this.zstd!.write(scratch!.subarray(0, n));
    else this.ring.commit(n);
  }

  /** Ends the frame this thread has open, if any: call before the object's finish frame. */
  end(): void {
    if (this.zstd?.inFrame) this.zstd.end();
    this.release();
  }

  /** Gives the compressor back (an open frame is dropped). Safe to call twice. */
  release(): void {
    if (this.zstd) giveBackCompressor(this.zstd);
    this.zstd = undefined;
  }

  /** Whether this thread compresses the next bytes: starts above one backlog level, stops below the other. */
  private here(): boolean {
    const backlog = this.ring.backlog();
    if (this.zstd) {
      if (backlog > this.stop) return true;
      if (this.zstd.inFrame) this.zstd.end(); // the frame goes out whole before plaintext follows
      this.release();
      return false;
    }
    if (backlog < this.start) return false;
    this.zstd = takeCompressor((c) => this.ring.append(this.stream, c, FRAME.zstd));
    return true;
  }
}
