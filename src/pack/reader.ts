/**
 * Reading encrypted objects back: one loop over the stored bytes that hashes the ciphertext (to
 * check it against the object id), decrypts it, decompresses it (compressed packs) and hands the
 * plaintext on, all synchronously per chunk read: no stream stages, no per-chunk promises, and
 * the read and decompression buffers are reused, so memory stays flat however large the object.
 * Packs are then parsed with the push tar reader (src/format/tar-reader.ts); manifests as JSON
 * Lines. Integrity problems surface as IsnadError("integrity").
 */
import { createHash, type Hash } from "node:crypto";
import * as fsp from "node:fs/promises";
import path from "node:path";
import { StringDecoder } from "node:string_decoder";
import { type AgeIdentities, AgeDecryptor } from "../crypto/age.js";
import { errnoCode, integrityError } from "../errors.js";
import { TarFormatError, TarReader, type TarVisitor } from "../format/tar-reader.js";
import { ZSTD_DECODE_OUT_BYTES, ZstdDecoder } from "./compression.js";
import { ManifestParser, type ManifestEntry, type ManifestHeader } from "../format/manifest.js";
import type { ObjectRef } from "../format/seal.js";
import { comparePaths } from "../sources/order.js";
import { StorageError, type Storage } from "../storage/storage.js";

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

/** An object through its Storage backend (SFTP, S3, rclone). */
function storageChunks(storage: Storage, key: string): ChunkSource {
  return async (onChunk) => {
    const src = await storage.get(key);
    for await (const chunk of src) {
      const wait = onChunk(chunk as Buffer);
      if (wait) await wait;
    }
  };
}

/**
 * An object in a local repository, read directly with one read ahead, so the disk read overlaps
 * the work on the previous chunk. Each chunk is only valid during the call (its buffer is reused).
 */
export function localChunks(root: string, key: string): ChunkSource {
  return async (onChunk) => {
    const file = path.join(root, ...key.split("/"));
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, "r");
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw new StorageError(`${key} is missing from ${root}`, { cause: e, notFound: true });
      throw new StorageError(`cannot read ${key} in ${root}: ${(e as Error).message}`, { cause: e });
    }
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
  identities: AgeIdentities,
  label: string,
  onPlaintext: (chunk: Buffer) => void,
): Promise<void> {
  const hash = createHash("sha256");
  let bytes = 0;
  const zstd = ref.compression === "zstd" ? new ZstdDecoder(label, onPlaintext, takeBuffer(ZSTD_DECODE_OUT_BYTES)) : undefined;
  const dec = new AgeDecryptor(identities, label, zstd ? (p) => zstd.push(p) : onPlaintext);
  try {
    await source((chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
      return dec.write(chunk);
    });
    dec.end();
    zstd?.end();
  } finally {
    if (zstd) giveBack(zstd.out);
  }
  checkDigest(label, ref, hash, bytes);
}

/**
 * decryptChunks for a stored object. With `inThread`, a local repository's object is read,
 * checked, decrypted and decompressed in the read thread (pack/threaded-reader.ts), so that this
 * thread only parses, hashes and writes files: both cores work. Packs go there; manifests (small,
 * and often the only object a command reads) are read here, as are objects on other backends.
 */
async function readDecrypted(
  storage: Storage,
  key: string,
  ref: ObjectRef,
  identities: AgeIdentities,
  label: string,
  onPlaintext: (chunk: Buffer) => void,
  inThread = false,
): Promise<void> {
  if (inThread && storage.localRoot !== undefined && readThread) {
    const { readerFor } = await import("./threaded-reader.js");
    readerFor(identities).read(storage.localRoot, key, ref, label, onPlaintext);
    return;
  }
  await decryptChunks(storage.localRoot !== undefined ? localChunks(storage.localRoot, key) : storageChunks(storage, key), ref, identities, label, onPlaintext);
}

let readThread = true;
/** Whether local objects are read in the read thread (tests run both ways). */
export function useReadThread(on: boolean): void {
  readThread = on;
}

export interface ManifestReadResult {
  header: ManifestHeader;
}

/**
 * Streams a manifest's entries to onEntry, in order. Resolves only once the whole manifest was
 * read, decrypted, parsed to its end line and its ciphertext matched ref; rejects otherwise.
 * Lines end at "\n", "\r\n" or a lone "\r" (as node:readline splits them).
 */
export async function readManifest(
  storage: Storage,
  key: string,
  ref: ObjectRef,
  identities: AgeIdentities,
  onEntry: (e: ManifestEntry, header: ManifestHeader) => void,
): Promise<ManifestReadResult> {
  const label = `manifest ${ref.id.slice(0, 16)}`;
  const parser = new ManifestParser(comparePaths);
  const decoder = new StringDecoder("utf8");
  let carry = "";
  const line = (text: string) => {
    let e: ManifestEntry | undefined;
    try {
      e = parser.push(text);
    } catch (err) {
      throw integrityError(`${label}: ${(err as Error).message}`);
    }
    if (e) onEntry(e, parser.header!);
  };
  const lines = (text: string, final: boolean) => {
    let s = carry + text;
    // A "\r" at the very end may be the first half of "\r\n": keep it for the next chunk.
    const held = !final && s.endsWith("\r");
    if (held) s = s.slice(0, -1);
    let from = 0;
    let cr = s.indexOf("\r"); // looked for again only once passed: a scan per line would be quadratic
    for (;;) {
      const nl = s.indexOf("\n", from);
      if (cr >= 0 && cr < from) cr = s.indexOf("\r", from);
      const at = nl < 0 ? cr : cr < 0 ? nl : Math.min(nl, cr);
      if (at < 0) break;
      line(s.slice(from, at));
      from = at + (s.charCodeAt(at) === 13 && s.charCodeAt(at + 1) === 10 ? 2 : 1);
    }
    carry = s.slice(from) + (held ? "\r" : "");
    if (final && carry.length > 0) {
      line(carry);
      carry = "";
    }
  };
  await readDecrypted(storage, key, ref, identities, label, (chunk) => lines(decoder.write(chunk), false));
  lines(decoder.end(), true);
  try {
    parser.finish();
  } catch (err) {
    throw integrityError(`${label}: ${(err as Error).message}`);
  }
  return { header: parser.header! };
}

/**
 * Reads a pack and hands each member to `visitor` (see src/format/tar-reader.ts): synchronous
 * callbacks, the member's bytes as views valid only during the call (the buffers are reused).
 * Resolves once the pack was read to its end-of-archive block and its ciphertext matched ref;
 * anything the visitor throws ends the read and rejects with that error.
 */
export async function readPackMembers(
  storage: Storage,
  key: string,
  ref: ObjectRef,
  identities: AgeIdentities,
  visitor: TarVisitor,
): Promise<void> {
  const label = `pack ${ref.id.slice(0, 16)}`;
  const reader = new TarReader(visitor);
  try {
    await readDecrypted(storage, key, ref, identities, label, (chunk) => reader.push(chunk), true);
    reader.end();
  } catch (err) {
    // Authentic plaintext that is not a valid tar: the pack itself is malformed.
    if (err instanceof TarFormatError) throw integrityError(`${label}: not a valid tar stream (${err.message})`, { cause: err });
    throw err;
  }
}
