/**
 * Reading encrypted objects back: one pass over the stored bytes that both hashes the ciphertext
 * (to check it against the object id) and decrypts it. Packs are then parsed with the push tar
 * reader (src/format/tar-reader.ts); manifests as JSON Lines. Integrity problems surface as IsnadError("integrity").
 */
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type AgeIdentities, createAgeDecryptStream } from "../crypto/age.js";
import { integrityError } from "../errors.js";
import { TarFormatError, TarReader, type TarVisitor } from "../format/tar-reader.js";
import { ManifestParser, type ManifestEntry, type ManifestHeader } from "../format/manifest.js";
import type { ObjectRef } from "../format/seal.js";
import { comparePaths } from "../sources/order.js";
import { zstdDecompress } from "./compression.js";
import type { Storage } from "../storage/storage.js";

/** Counts and hashes bytes passing through, to compare with the object's id and size. */
class HashingCounter extends Transform {
  readonly hash = createHash("sha256");
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

function checkDigest(label: string, ref: ObjectRef, counter: HashingCounter): void {
  const got = counter.hash.digest("hex");
  if (counter.bytes !== ref.size) throw integrityError(`${label}: ${counter.bytes} bytes stored, the seal says ${ref.size}`);
  if (got !== ref.id) throw integrityError(`${label}: content hash is ${got.slice(0, 16)}…, not its id`);
}

/** Opens the stored object and returns (decrypted plaintext stream, a promise settling once the
 * ciphertext was fully read and checked against ref). */
async function openDecrypted(
  storage: Storage,
  key: string,
  ref: ObjectRef,
  identities: AgeIdentities,
  label: string,
): Promise<{ plaintext: Readable; checked: Promise<void> }> {
  const src = await storage.get(key);
  const counter = new HashingCounter();
  const dec = createAgeDecryptStream(identities, label);
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const checked = (
    ref.compression === "zstd" ? pipeline(src, counter, dec, zstdDecompress(label), out) : pipeline(src, counter, dec, out)
  ).then(() => checkDigest(label, ref, counter));
  // Keep an early rejection from being unhandled while the consumer is still reading.
  checked.catch(() => undefined);
  return { plaintext: out, checked };
}

export interface ManifestReadResult {
  header: ManifestHeader;
}

/**
 * Streams a manifest's entries to onEntry, in order. Resolves only once the whole manifest was
 * read, decrypted, parsed to its end line and its ciphertext matched ref; rejects otherwise.
 */
export async function readManifest(
  storage: Storage,
  key: string,
  ref: ObjectRef,
  identities: AgeIdentities,
  onEntry: (e: ManifestEntry, header: ManifestHeader) => void | Promise<void>,
): Promise<ManifestReadResult> {
  const label = `manifest ${ref.id.slice(0, 16)}`;
  const { plaintext, checked } = await openDecrypted(storage, key, ref, identities, label);
  const parser = new ManifestParser(comparePaths);
  const lines = createInterface({ input: plaintext, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      let e: ManifestEntry | undefined;
      try {
        e = parser.push(line);
      } catch (err) {
        throw integrityError(`${label}: ${(err as Error).message}`);
      }
      if (e) await onEntry(e, parser.header!);
    }
  } catch (err) {
    plaintext.destroy();
    throw err;
  }
  await checked;
  try {
    parser.finish();
  } catch (err) {
    throw integrityError(`${label}: ${(err as Error).message}`);
  }
  return { header: parser.header! };
}

/**
 * Reads a pack and hands each member to `visitor` (see src/format/tar-reader.ts): synchronous
 * callbacks, the member's bytes as views of the decrypted chunks. Resolves once the pack was read
 * to its end-of-archive block and its ciphertext matched ref; anything the visitor throws ends the
 * read and rejects with that error.
 */
export async function readPackMembers(
  storage: Storage,
  key: string,
  ref: ObjectRef,
  identities: AgeIdentities,
  visitor: TarVisitor,
): Promise<void> {
  const label = `pack ${ref.id.slice(0, 16)}`;
  const src = await storage.get(key);
  const counter = new HashingCounter();
  const dec = createAgeDecryptStream(identities, label);
  const reader = new TarReader(visitor);
  const parse = async (source: AsyncIterable<Buffer>): Promise<void> => {
    try {
      for await (const chunk of source) reader.push(chunk);
      reader.end();
    } catch (err) {
      // Authentic plaintext that is not a valid tar: the pack itself is malformed.
      if (err instanceof TarFormatError) throw integrityError(`${label}: not a valid tar stream (${err.message})`, { cause: err });
      throw err;
    }
  };
  if (ref.compression === "zstd") await pipeline(src, counter, dec, zstdDecompress(label), parse);
  else await pipeline(src, counter, dec, parse);
  checkDigest(label, ref, counter);
}
