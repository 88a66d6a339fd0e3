/**
 * Compression of pack contents: zstd (through zstd-napi's native binding, used synchronously on
 * the hot path) for content that compresses, nothing for content that does not. Which is which is
 * decided per file, by name for formats that are compressed already and otherwise by compressing
 * a sample. A compressed pack's plaintext is the tar as one or more zstd frames in a row, so
 * `age -d … | zstd -d | tar -x` opens it.
 */
import binding from "zstd-napi/binding.js";
import { integrityError, internalError } from "../errors.js";

/**
 * Level 1, not restic's 3: on the benchmark's docs corpus it compresses 1.5x faster for 4 % more
 * bytes (598 vs 575 MB of 1115 MB), which keeps the repository within 1.05x of restic's.
 */
export const ZSTD_LEVEL = 1;
/**
 * No zstd thread of its own: compression runs in the pack writer thread (pack/writer-thread.ts),
 * which already has the second core. A zstd worker on top measured no faster on the benchmark and
 * cost ~50 MiB of job buffers.
 */
const ZSTD_WORKERS = 0;
/** Below this size a file goes to the compressed pack without a sample: sampling would cost as
 * much as compressing it, and zstd passes incompressible blocks through cheaply. */
const NO_SAMPLE_BELOW = 16 * 1024;
/** A sample this large says how a file compresses. Small on purpose: sampling runs on the main
 * thread, and 64 KiB samples cost the docs corpus about as much CPU as compressing it. */
const SAMPLE_BYTES = 8 * 1024;
/** Compressing must save at least this much of the sample, or the file is stored as it is. */
const MIN_SAVING = 0.1;

/** Formats whose content is compressed already: zstd would spend time to gain nothing. */
const COMPRESSED_EXTENSIONS = new Set(
  (
    "7z apk avif br bz2 cab deb docx epub flac gif gz heic heif jar jpeg jpg jxl lz lz4 lzma m4a m4v mkv mov mp3 mp4 mpeg mpg odp ods odt ogg " +
    "opus pdf png pptx rar rpm tgz txz webm webp woff woff2 xlsx xz zip zst"
  ).split(" "),
);

const sampler = new binding.CCtx();
const sampleOut = Buffer.allocUnsafe(binding.compressBound(SAMPLE_BYTES));

/** Should this file go into a compressed pack? `head` is its first bytes (as many as were read). */
export function worthCompressing(name: string, head: Uint8Array): boolean {
  const dot = name.lastIndexOf(".");
  if (dot > name.lastIndexOf("/") && COMPRESSED_EXTENSIONS.has(name.slice(dot + 1).toLowerCase())) return false;
  if (head.length < NO_SAMPLE_BELOW) return true;
  const sample = head.subarray(0, SAMPLE_BYTES);
  const n = sampler.compress(sampleOut, sample, 1);
  return n <= sample.length * (1 - MIN_SAVING);
}

/**
 * Synchronous streaming zstd compressor: frames handed to `sink` in order. end() ends a frame;
 * a write after it starts the next one. One compressor can serve object after object (set
 * `sink`, and reset() if the last frame was dropped unfinished): its context (~1-2 MiB of
 * native memory) is reused instead of left to a garbage collection that may not come soon.
 */
export class ZstdCompressor {
  private readonly cctx = new binding.CCtx();
  private readonly out = Buffer.allocUnsafe(binding.cStreamOutSize());
  /** Bytes were written since the last end(): a frame is open. */
  inFrame = false;

  constructor(
    public sink: (chunk: Buffer) => void,
    level = ZSTD_LEVEL,
  ) {
    this.cctx.setParameter(binding.CParameter.compressionLevel, level);
    this.cctx.setParameter(binding.CParameter.checksumFlag, 1); // zstd -d checks it too
    this.cctx.setParameter(binding.CParameter.nbWorkers, ZSTD_WORKERS);
  }

  write(data: Uint8Array): void {
    let input = data;
    if (input.length > 0) this.inFrame = true;
    while (input.length > 0) {
      const [, produced, consumed] = this.cctx.compressStream2(this.out, input, binding.EndDirective.continue);
      if (produced > 0) this.sink(this.out.subarray(0, produced)); // the sink copies what it keeps
      input = input.subarray(consumed);
    }
  }

  /** Ends the current frame (an empty frame if nothing was written since the last end). */
  end(): void {
    this.inFrame = false;
    for (;;) {
      const [remaining, produced] = this.cctx.compressStream2(this.out, EMPTY, binding.EndDirective.end);
      if (produced > 0) this.sink(this.out.subarray(0, produced)); // the sink copies what it keeps
      if (remaining === 0) return;
    }
  }

  /** Drops a frame left unfinished, keeping the parameters. */
  reset(): void {
    this.cctx.reset(binding.ResetDirective.sessionOnly);
    this.inFrame = false;
  }
}

/**
 * Compressors of finished objects, for the next ones on the same thread. Reused, not dropped: a
 * thread that allocates little on the JS heap (the pack writer thread) rarely runs a full
 * collection, and each dropped context (~1-2 MiB of native memory) stayed until one came. A few
 * objects are open at once at most, so the list stays that short.
 */
const spareCompressors: ZstdCompressor[] = [];

/** A compressor at the start of a frame, handing its output to `sink`. */
export function takeCompressor(sink: (chunk: Buffer) => void): ZstdCompressor {
  const z = spareCompressors.pop() ?? new ZstdCompressor(sink);
  z.sink = sink;
  return z;
}

/** Gives a compressor back for reuse; a frame it left open is dropped. */
export function giveBackCompressor(z: ZstdCompressor): void {
  if (z.inFrame) z.reset();
  z.sink = dropOutput;
  if (spareCompressors.length < 4) spareCompressors.push(z);
}

const dropOutput = (): void => undefined;

const EMPTY = new Uint8Array(0);

/** zstd's recommended output size for streaming decompression. */
export const ZSTD_DECODE_OUT_BYTES: number = binding.dStreamOutSize();

/**
 * zstd decompression, synchronous: output goes to `sink` as views of one reused buffer, as fast
 * as the sink takes it, even inside one input chunk (a small compressed chunk can expand
 * enormously and memory must stay flat). Errors are integrity errors naming `label`: the bytes
 * were authentic but are not valid zstd.
 */
export class ZstdDecoder {
  private dctx: InstanceType<typeof binding.DCtx> | undefined = spareDecoders.pop() ?? new binding.DCtx();
  private inFrame = false;

  /** `out` (ZSTD_DECODE_OUT_BYTES or more) is where output is made; the caller may reuse it afterwards. */
  constructor(
    private readonly label: string,
    private readonly sink: (chunk: Buffer) => void,
    readonly out: Buffer = Buffer.allocUnsafe(ZSTD_DECODE_OUT_BYTES),
  ) {}

  push(chunk: Buffer): void {
    const dst = this.out;
    const dctx = this.dctx;
    if (!dctx) throw internalError(`${this.label}: zstd input after the decoder was released`);
    let src = chunk;
    for (;;) {
      let ret: number, produced: number, consumed: number;
      try {
        [ret, produced, consumed] = dctx.decompressStream(dst, src);
      } catch (e) {
        throw integrityError(`${this.label}: bad zstd data (${(e as Error).message})`);
      }
      src = src.subarray(consumed);
      this.inFrame = ret !== 0;
      if (produced > 0) this.sink(dst.subarray(0, produced));
      if (src.length === 0 && (produced < dst.length || ret === 0)) break;
    }
  }

  end(): void {
    if (this.inFrame) throw integrityError(`${this.label}: zstd data ends in the middle of a frame`);
  }

  /**
   * Gives the decompression context back for the next object (after end(), or after an error).
   * Reused, not dropped: a context holds up to a window of native memory (512 KiB at level 1),
   * and the read thread, which allocates little on the JS heap, rarely runs the full collection
   * that would free a dropped one (measured: ~15 MiB more peak over a 4 GiB verify).
   */
  release(): void {
    const dctx = this.dctx;
    if (!dctx) return;
    this.dctx = undefined;
    if (this.inFrame) dctx.reset(binding.ResetDirective.sessionOnly);
    if (spareDecoders.length < 4) spareDecoders.push(dctx);
  }
}

const spareDecoders: Array<InstanceType<typeof binding.DCtx>> = [];
