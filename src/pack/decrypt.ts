/**
 * Reading one encrypted object back, without typage or zod, so that the read thread
 * (pack/read-thread.ts) loads only this: the stored bytes, read with one read ahead, are hashed
 * (to check them against the object id), decrypted and decompressed (compressed packs) in one
 * synchronous loop per chunk read, with reused buffers, so memory stays flat however large the
 * object. The age header's file key comes from a FileKeySource: AgeIdentities on the main thread,
 * or, in the read thread, the key the main thread opened already (openLocalHeader, openedKey).
 */
import { createHash, type Hash } from "node:crypto";
import * as fsp from "node:fs/promises";
import path from "node:path";
import { AgeDecryptor, type FileKeySource } from "../crypto/age-stream.js";
import { errnoCode, integrityError } from "../errors.js";
import type { ObjectRef } from "../format/seal.js";
import { StorageError } from "../storage/storage.js";
import { ZSTD_DECODE_OUT_BYTES, ZstdDecoder } from "./compression.js";

/** Bytes read from a local object at a time; two such buffers alternate (one read ahead). */
const READ_SIZE = 1 << 20;

/**
 * Buffers kept for the next object: fresh memory is slow to touch on small VMs, and a 1 MiB
 * buffer dropped per read leaves tens of MiB of garbage for the collector to find.
 */
const spare = new Map<number, Buffer[]>();
function takeBuffer(size: number): Buffer {
  return spare.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
}
function giveBack(b: Buffer): void {
  let list = spare.get(b.length);
  if (!list) spare.set(b.length, (list = []));
  if (list.length < 4) list.push(b);
}

/** Hands an object's bytes, in order, to `onChunk`, waiting for the promise it may return. */
export type ChunkSource = (onChunk: (chunk: Buffer) => Promise<void> | undefined) => Promise<void>;

/**
 * An object in a local repository, read directly with one read ahead, so the disk read overlaps
 * the work on the previous chunk. Each chunk is only valid during the call (its buffer is reused).
 */
export function localChunks(root: string, key: string): ChunkSource {
  return async (onChunk) => {
    const fh = await openObject(root, key);
    const bufs = [takeBuffer(READ_SIZE), takeBuffer(READ_SIZE)];
    let i = 0;
    let next: Promise<{ bytesRead: number }> | undefined = fh.read(bufs[0]!, 0, READ_SIZE, null);
    try {
      for (;;) {
        const { bytesRead } = await next;
        next = undefined;
        if (bytesRead === 0) break;
        const cur = bufs[i]!;
        i ^= 1;
        next = fh.read(bufs[i]!, 0, READ_SIZE, null);
        const wait = onChunk(cur.subarray(0, bytesRead));
        if (wait) await wait;
      }
    } catch (e) {
      if (e instanceof StorageError || !(e as { syscall?: string }).syscall) throw e;
      throw new StorageError(`cannot read ${key} in ${root}: ${(e as Error).message}`, { cause: e });
    } finally {
      // A read still in flight writes into bufs: let it finish before the buffers are reused.
      if (next) await next.catch(() => undefined);
      await fh.close();
      bufs.forEach(giveBack);
    }
  };
}

function checkDigest(label: string, ref: ObjectRef, hash: Hash, bytes: number): void {
  const got = hash.digest("hex");
  if (bytes !== ref.size) throw integrityError(`${label}: ${bytes} bytes stored, the seal says ${ref.size}`);
  if (got !== ref.id) throw integrityError(`${label}: content hash is ${got.slice(0, 16)}…, not its id`);
}

/**
 * Hashes and decrypts an object's bytes (and decompresses them, for a compressed pack), and hands
 * the plaintext to `onPlaintext` in order: views valid only during the call. Resolves once the
 * object was read to its end, authenticated, and its ciphertext matched ref; anything
 * `onPlaintext` throws ends the read and rejects with that error. The read thread
 * (pack/read-thread.ts) runs this too.
 */
export async function decryptChunks(
  source: ChunkSource,
  ref: ObjectRef,
  keys: FileKeySource,
  label: string,
  onPlaintext: (chunk: Buffer) => void,
): Promise<void> {
  const hash = createHash("sha256");
  let bytes = 0;
  const zstd = ref.compression === "zstd" ? new ZstdDecoder(label, onPlaintext, takeBuffer(ZSTD_DECODE_OUT_BYTES)) : undefined;
  const dec = new AgeDecryptor(keys, label, zstd ? (p) => zstd.push(p) : onPlaintext);
  try {
    await source((chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
      return dec.write(chunk);
    });
    dec.end();
    zstd?.end();
  } finally {
    if (zstd) {
      zstd.release();
      giveBack(zstd.out);
    }
  }
  checkDigest(label, ref, hash, bytes);
}

/** Opens object `key` of the local repository at `root`; a missing one is a StorageError with notFound. */
async function openObject(root: string, key: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(path.join(root, ...key.split("/")), "r");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") throw new StorageError(`${key} is missing from ${root}`, { cause: e, notFound: true });
    throw new StorageError(`cannot read ${key} in ${root}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Bytes of an object's start read at a time while looking for the end of its age header: a
 * header is ~200 bytes per X25519 recipient and ~1.6 KB per hybrid one, so one read usually
 * holds it, and little of the payload (which the read thread reads and decrypts again) comes with it.
 */
const HEADER_READ = 4 << 10;

/**
 * Opens the age header of an object in a local repository: its exact bytes and its file key,
 * reading only as far as the header goes. Errors are decryptChunks's for the same object (a
 * missing object, not an age file, no identity matching).
 */
export async function openLocalHeader(root: string, key: string, keys: FileKeySource, label: string): Promise<{ header: Buffer; fileKey: Buffer }> {
  let opened: { header: Buffer; fileKey: Buffer } | undefined;
  const capture: FileKeySource = {
    fileKeyFor: async (header) => {
      const fileKey = await keys.fileKeyFor(header);
      opened = { header: Buffer.from(header), fileKey: Buffer.from(fileKey) }; // the decryptor wipes its own copy
      return fileKey;
    },
  };
  const dec = new AgeDecryptor(capture, label, () => undefined);
  const fh = await openObject(root, key);
  try {
    const buf = Buffer.allocUnsafe(HEADER_READ);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) dec.end(); // throws: the object ends inside (or before) its header
      const wait = dec.write(buf.subarray(0, bytesRead));
      if (wait) {
        await wait;
        if (!opened) throw integrityError(`${label}: the age header was not opened`);
        return opened;
      }
    }
  } finally {
    await fh.close();
  }
}

/**
 * The file key the main thread opened for `header` (openLocalHeader), for decrypting the same
 * object again elsewhere: the header read there must be byte for byte the one opened here (the
 * ciphertext hash then checks every byte of the object).
 */
export function openedKey(header: Uint8Array, fileKey: Uint8Array): FileKeySource {
  return {
    fileKeyFor: (got) =>
      Buffer.compare(got, header) === 0
        ? Promise.resolve(Buffer.from(fileKey))
        : Promise.reject(integrityError("the age header changed between two reads of the object")),
  };
}
