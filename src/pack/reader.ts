/**
 * Reading encrypted objects back: the stored bytes are hashed (to check them against the object
 * id), decrypted and decompressed (compressed packs) in one synchronous loop per chunk read
 * (pack/decrypt.ts), on this thread or, for a local repository's packs, in the read thread.
 * Packs are then parsed with the push tar reader (src/format/tar-reader.ts); manifests as JSON
 * Lines. Integrity problems surface as IsnadError("integrity").
 */
import { StringDecoder } from "node:string_decoder";
import type { AgeIdentities } from "../crypto/age.js";
import { integrityError } from "../errors.js";
import { TarFormatError, TarReader, type TarVisitor } from "../format/tar-reader.js";
import { ManifestParser, type ManifestEntry, type ManifestHeader } from "../format/manifest.js";
import type { ObjectRef } from "../format/seal.js";
import { comparePaths } from "../sources/order.js";
import type { Storage } from "../storage/storage.js";
import { decryptChunks, localChunks, type ChunkSource } from "./decrypt.js";

export { decryptChunks, localChunks, type ChunkSource } from "./decrypt.js";

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
  inThread?: { next?: NextObject },
): Promise<void> {
  if (inThread && storage.localRoot !== undefined && readThread) {
    const { readerFor } = await import("./threaded-reader.js");
    const next = inThread.next && { ...inThread.next, label: packLabel(inThread.next.ref) };
    await readerFor().read(storage.localRoot, key, ref, identities, label, onPlaintext, next);
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

/** The object a caller will read next, so that the read thread can start on it early. */
export interface NextObject {
  key: string;
  ref: ObjectRef;
}

const packLabel = (ref: ObjectRef): string => `pack ${ref.id.slice(0, 16)}`;

/**
 * Reads a pack and hands each member to `visitor` (see src/format/tar-reader.ts): synchronous
 * callbacks, the member's bytes as views valid only during the call (the buffers are reused).
 * Resolves once the pack was read to its end-of-archive block and its ciphertext matched ref;
 * anything the visitor throws ends the read and rejects with that error. `next`: the pack the
 * caller reads after this one (a local repository's read thread starts on it meanwhile).
 */
export async function readPackMembers(
  storage: Storage,
  key: string,
  ref: ObjectRef,
  identities: AgeIdentities,
  visitor: TarVisitor,
  next?: NextObject,
): Promise<void> {
  const label = packLabel(ref);
  const reader = new TarReader(visitor);
  try {
    await readDecrypted(storage, key, ref, identities, label, (chunk) => reader.push(chunk), { next });
    reader.end();
  } catch (err) {
    // Authentic plaintext that is not a valid tar: the pack itself is malformed.
    if (err instanceof TarFormatError) throw integrityError(`${label}: not a valid tar stream (${err.message})`, { cause: err });
    throw err;
  }
}
