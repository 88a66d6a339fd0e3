/**
 * Writes one encrypted object (a pack or a manifest) to a staging file: plaintext in, optionally
 * zstd frames (made here, or made by the main thread and passed in whole), age out, SHA-256 of
 * the ciphertext computed on the way (it becomes the object's id). Synchronous on purpose: it sits on the hot path and Node's stream plumbing costs more than
 * the work itself. It runs on the main thread (tests, small objects) or in the pack writer thread
 * (pack/writer-thread.ts); it imports nothing that loads typage, so the thread stays light.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { AgeEncryptor } from "../crypto/age-stream.js";
import { internalError, storageError, type IsnadError } from "../errors.js";
import { giveBackCompressor, takeCompressor, type ZstdCompressor } from "./compression.js";

export interface StagedObject {
  /** Local file holding the ciphertext, to hand to Storage.putFile. */
  file: string;
  /** SHA-256 of the ciphertext: the object id. */
  id: string;
  size: number;
}

/** Ciphertext is gathered into writes of this size: one syscall per MiB, not two per 64 KiB chunk. */
const OUT_BYTES = 1 << 20;

/**
 * Output buffers of finished objects, for the next ones on the same thread (zstd compressors are
 * reused the same way, pack/compression.ts). Reused, not dropped: the writer thread allocates so
 * little on the JS heap that V8 rarely runs a full collection there, and each dropped object's
 * ~3 MiB (its buffer, a zstd context) stayed in memory pack after pack (measured: +18 MiB over 11
 * packs). At most three objects are open at once (the manifest and two packs).
 */
const spareOut: Buffer[] = [];

/** A fresh staging file name: <prefix>-<pid>-<random>.tmp (snapshot.ts removes those of dead runs). */
export function stagingPath(stagingDir: string, prefix: string): string {
  return path.join(stagingDir, `${prefix}-${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
}

/** Creates the staging file (it must not exist), mode 0600. */
export function createStagingFile(file: string): number {
  try {
    return fs.openSync(file, "wx", 0o600);
  } catch (e) {
    throw storageError(`cannot create staging file ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** The error for a staging file that cannot be synced. */
export function syncError(file: string, e: unknown): IsnadError {
  return storageError(`cannot sync staging file ${file}: ${(e as Error).message}`, { cause: e });
}

export class EncryptedObjectWriter {
  private readonly hash: Hash = createHash("sha256");
  private readonly enc: AgeEncryptor;
  private readonly zstd: ZstdCompressor | undefined;
  private readonly out = spareOut.pop() ?? Buffer.allocUnsafe(OUT_BYTES);
  private released = false;
  /** Whether a whole zstd frame has gone out already (from this writer or from writeCompressed). */
  private framesOut = false;
  private outLength = 0;
  private size = 0;
  private closed = false;
  private staged: StagedObject | undefined;
  private scratch: Buffer | undefined;

  /**
   * `fd` is the open staging file `file`. With `ownsFd` the writer closes it in finish() and
   * closes and removes the file in abort(); without (in the writer thread), the caller does.
   */
  constructor(
    readonly file: string,
    readonly fd: number,
    header: Buffer,
    fileKey: Buffer,
    private readonly opts: { compress: boolean; ownsFd: boolean },
  ) {
    this.enc = new AgeEncryptor(header, fileKey, (chunk) => this.collect(chunk));
    this.zstd = opts.compress ? takeCompressor((c) => this.enc.write(c)) : undefined;
  }

  write(data: Uint8Array): void {
    if (this.zstd) this.zstd.write(data);
    else this.enc.write(data);
  }

  /**
   * Bytes of zstd frames compressed elsewhere (the main thread, while this one was behind), for
   * a compressed object: the frame this writer has open is ended first, so the plaintext stays a
   * sequence of whole frames.
   */
  writeCompressed(data: Uint8Array): void {
    if (!this.zstd) throw internalError(`${this.file}: compressed data for an object that is not compressed`);
    if (this.zstd.inFrame) this.zstd.end();
    this.framesOut = true;
    this.enc.write(data);
  }

  /** A buffer for up to `max` bytes of plaintext to be read into; commit(n) writes the first n. */
  reserve(max: number): Buffer {
    if (!this.scratch || this.scratch.length < max) this.scratch = Buffer.allocUnsafe(Math.max(max, 64 << 10));
    return this.scratch.subarray(0, max);
  }

  commit(n: number): void {
    this.write(this.scratch!.subarray(0, n));
  }

  /** Ends the zstd frame and the age stream, fsyncs (and closes, if it owns it) the staging file. */
  finish(): StagedObject {
    const staged = this.complete();
    try {
      fs.fsyncSync(this.fd);
    } catch (e) {
      throw syncError(this.file, e);
    }
    if (this.opts.ownsFd) fs.closeSync(this.fd);
    return staged;
  }

  /**
   * Ends the zstd frame and the age stream and writes the last bytes, but does not fsync: for a
   * caller that syncs the file (`fd`) itself, as the writer thread does off its hot path. The
   * object is not durable, and must not be stored, until that sync is done.
   */
  complete(): StagedObject {
    // A compressed object always holds at least one frame (an empty one if nothing was written).
    if (this.zstd && (this.zstd.inFrame || !this.framesOut)) this.zstd.end();
    this.enc.end();
    this.drain();
    this.closed = true;
    this.release();
    return { file: this.file, id: this.hash.digest("hex"), size: this.size };
  }

  /** Hands the buffer and compressor to the next object (once). */
  private release(): void {
    if (this.released) return;
    this.released = true;
    spareOut.push(this.out);
    if (this.zstd) giveBackCompressor(this.zstd);
  }

  /** ObjectOutput's two-step finish: on this thread the object is complete when end() returns. */
  end(): void {
    this.staged = this.finish();
  }

  result(): StagedObject | undefined {
    return this.staged;
  }

  /** Closes and removes the staging file (after an error), if it owns it. Safe to call twice. */
  abort(): void {
    this.release();
    if (!this.opts.ownsFd) return;
    if (!this.closed) {
      this.closed = true;
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
    }
    fs.rmSync(this.file, { force: true });
  }

  private collect(chunk: Buffer): void {
    if (this.outLength + chunk.length > OUT_BYTES) this.drain();
    if (chunk.length > OUT_BYTES) {
      this.emit(chunk);
      return;
    }
    chunk.copy(this.out, this.outLength);
    this.outLength += chunk.length;
  }

  private drain(): void {
    if (this.outLength === 0) return;
    this.emit(this.out.subarray(0, this.outLength));
    this.outLength = 0;
  }

  private emit(bytes: Buffer): void {
    this.hash.update(bytes);
    let off = 0;
    try {
      while (off < bytes.length) off += fs.writeSync(this.fd, bytes, off, bytes.length - off);
    } catch (e) {
      throw storageError(`cannot write staging file ${this.file}: ${(e as Error).message}`, { cause: e });
    }
    this.size += bytes.length;
  }
}
