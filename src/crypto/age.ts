/**
 * The age v1 file format (C2SP age spec, https://c2sp.org/age) for isnad's stored objects.
 *
 * The STREAM payload is done with node:crypto in crypto/age-stream.ts, encryption and decryption
 * (kept apart so that the pack writer and read threads need not load typage). Everything about the header
 * (recipient stanzas, ML-KEM/X25519 wrapping, the header MAC, key strings) is left to
 * age-encryption (typage); this module never builds or parses a stanza itself.
 *
 * Output is a plain age file: Go `age -d` and typage's Decrypter read it, and the decrypt stream
 * reads what they write (test/crypto/age.test.ts checks every direction).
 */

import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { Transform } from "node:stream";
import type { TransformCallback } from "node:stream";
import { Decrypter, Encrypter } from "age-encryption";
import type { Recipient, Stanza } from "age-encryption";
import { configError, integrityError, internalError, messageOf } from "../errors.js";
import { AgeDecryptor, AgeEncryptor, FILE_KEY_SIZE, MAC_LINE_START, MAGIC, NEWLINE, PAYLOAD_NONCE_SIZE, TAG_SIZE, ageCiphertextSize, type FileKeySource } from "./age-stream.js";

export { AgeDecryptor, AgeEncryptor, ageCiphertextSize } from "./age-stream.js";


// ---------------------------------------------------------------------------------------------
// Header (typage)
// ---------------------------------------------------------------------------------------------

/**
 * Records the file key typage hands to each recipient, and adds no stanza of its own.
 *
 * typage draws the file key inside Encrypter.encrypt() and does not return it, but it calls
 * `wrapFileKey(fileKey)` once per recipient per encrypt (its documented Recipient contract). The
 * brief suggested wrapping each real typage recipient and delegating to it; typage 0.3.1 does not
 * export its recipient classes (package.json `exports` is "." only), so delegating would mean
 * reading Encrypter's private `recipients` field. Instead the real recipients are added as
 * strings, exactly as any typage user would, and this observer is added after them: it sees the
 * same file key in the same encrypt() call and returns no stanza. Every stanza in the header is
 * therefore the one typage itself wrote, none dropped or rewritten.
 */
class FileKeyRecorder implements Recipient {
  readonly fileKeys: Buffer[] = [];

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    this.fileKeys.push(Buffer.from(fileKey)); // a copy: typage owns its array
    return [];
  }
}

/**
 * Creates a fresh age header for these recipient strings (age1… X25519, age1pq1… hybrid; several
 * allowed) and returns it with its file key.
 *
 * How: a typage Encrypter gets the recipients plus a FileKeyRecorder (above), then encrypts an
 * empty plaintext. Its output is header ‖ 16-byte payload nonce ‖ 16-byte tag of the empty final
 * chunk, so the header is all but the last 32 bytes. That throwaway nonce and chunk are dropped;
 * AgeEncryptor draws its own random payload nonce, so the payload key is fresh. Before returning,
 * the header's shape is checked and its MAC is recomputed with node:crypto from the recorded key
 * (HMAC-SHA256 under HKDF-SHA256(fileKey, "header")), which proves the recorded key is the one
 * typage used for this header.
 */
export async function createAgeHeader(recipients: readonly string[]): Promise<{ header: Buffer; fileKey: Buffer }> {
  if (recipients.length === 0) {
    throw configError("no age recipients given", { hint: "add at least one recipient (age1…) to the configuration" });
  }
  const encrypter = new Encrypter();
  recipients.forEach((recipient, i) => {
    const which = recipients.length === 1 ? "the age recipient" : `age recipient #${i + 1} of ${recipients.length}`;
    if (/^age-secret-key-/i.test(recipient)) {
      // Never quote it: it is a secret key in the place of a public one.
      throw configError(`${which} is a secret key (AGE-SECRET-KEY-…), not a recipient`, {
        hint: "use the public recipient (age1…) printed by `isnad keygen` or `age-keygen -y`",
      });
    }
    try {
      encrypter.addRecipient(recipient);
    } catch (err) {
      throw configError(`${which} is invalid (${messageOf(err)}): ${quoteRecipient(recipient)}`, {
        cause: err,
        hint: "recipients are age1… (X25519) or age1pq1… (post-quantum hybrid) strings",
      });
    }
  });
  const recorder = new FileKeyRecorder();
  encrypter.addRecipient(recorder);

  const sealed = await encryptToBytes(encrypter, new Uint8Array(0));
  const emptyPayloadSize = PAYLOAD_NONCE_SIZE + TAG_SIZE;
  const header = Buffer.from(sealed.subarray(0, sealed.length - emptyPayloadSize)); // a copy
  const fileKey = recorder.fileKeys[0];
  if (recorder.fileKeys.length !== 1 || fileKey === undefined || fileKey.length !== FILE_KEY_SIZE) {
    throw internalError(`age header: typage gave the recorder ${recorder.fileKeys.length} file keys, expected one of ${FILE_KEY_SIZE} bytes`);
  }
  checkOwnHeader(header, fileKey);
  return { header, fileKey };
}

/**
 * typage's Encrypter.encrypt() of `plaintext`, as bytes. Handed bytes, typage reads its own
 * output through `new Response(stream)`, whose first use loads Node's fetch (undici: ~10 ms of
 * the start of every command that opens a repository); handed a stream, it returns one, which is
 * read here instead.
 */
export async function encryptToBytes(encrypter: Encrypter, plaintext: Uint8Array): Promise<Buffer> {
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      if (plaintext.length > 0) controller.enqueue(plaintext);
      controller.close();
    },
  });
  const reader = (await encrypter.encrypt(input)).getReader();
  const chunks: Uint8Array[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  return Buffer.concat(chunks);
}

/** Public recipients may be quoted, but a hybrid one is 1959 characters long. */
function quoteRecipient(recipient: string): string {
  return JSON.stringify(recipient.length > 24 ? `${recipient.slice(0, 20)}…` : recipient);
}

/** Checks a header typage just wrote for us: shape, and its MAC under the recorded file key. */
function checkOwnHeader(header: Buffer, fileKey: Buffer): void {
  if (header.length < MAGIC.length || !header.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw internalError("age header: typage output does not start with age-encryption.org/v1");
  }
  if (header[header.length - 1] !== NEWLINE) {
    throw internalError("age header: typage output does not end with a newline");
  }
  const macLine = header.lastIndexOf(MAC_LINE_START, header.length - 2);
  if (macLine < 0) {
    throw internalError('age header: typage output has no "--- " MAC line');
  }
  // The MAC covers the header up to and including "---" (without the space and the MAC).
  const macStart = macLine + MAC_LINE_START.length;
  const covered = header.subarray(0, macStart - 1);
  const mac = Buffer.from(header.toString("latin1", macStart, header.length - 1), "base64");
  const hmacKey = Buffer.from(hkdfSync("sha256", fileKey, Buffer.alloc(0), "header", 32));
  const expected = createHmac("sha256", hmacKey).update(covered).digest();
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw internalError("age header: the recorded file key does not match the header MAC typage wrote");
  }
}

/**
 * Identities for decryption: age identity strings (AGE-SECRET-KEY-1…, AGE-SECRET-KEY-PQ-1…),
 * wrapping a typage Decrypter. Error messages say which identity is at fault by position and
 * never quote it.
 */
export class AgeIdentities implements FileKeySource {
  readonly #decrypter = new Decrypter();

  /** @param source where the identities came from (e.g. the identity file), named in errors */
  constructor(
    identities: readonly string[],
    readonly source?: string,
  ) {
    if (identities.length === 0) {
      throw configError("no age identities given", { hint: "pass an identity file (AGE-SECRET-KEY-…)" });
    }
    identities.forEach((identity, i) => {
      const which = identities.length === 1 ? "the age identity" : `age identity #${i + 1} of ${identities.length}`;
      const isKeyString = identity.startsWith("AGE-SECRET-KEY-1") || identity.startsWith("AGE-SECRET-KEY-PQ-1");
      if (!isKeyString) {
        const lowerCase = /^age-secret-key-(pq-)?1/i.test(identity);
        throw configError(`${which} is not an age secret key (expected AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)`, {
          hint: lowerCase ? "age secret keys must be written in upper case" : undefined,
        });
      }
      try {
        this.#decrypter.addIdentity(identity);
      } catch {
        // No cause: the bech32 decoder's message can quote the key.
        throw configError(`${which} is malformed (bad length or checksum)`);
      }
    });
  }

  /**
   * Parses and checks the header (incl. MAC) via typage decryptHeader, returns the file key.
   * `header` is the exact header, up to and including the newline after the "--- " MAC line.
   * Throws IsnadError "config" when no identity matches, "integrity" for a bad header or MAC;
   * the messages carry no label (createAgeDecryptStream adds one).
   */
  async fileKeyFor(header: Uint8Array): Promise<Buffer> {
    let fileKey: Uint8Array;
    try {
      fileKey = await this.#decrypter.decryptHeader(header);
    } catch (err) {
      // typage throws plain Errors; these two messages are the ones it uses (LIBRARIES.md §1).
      const message = messageOf(err);
      if (message === "no identity matched any of the file's recipients") {
        throw configError(
          `no identity matches this file (${this.source ? `wrong identity file ${this.source}?` : "wrong or missing identity file?"})`,
          { cause: err, hint: "use the identity file made by isnad keygen whose recipient the repository encrypts to (see isnad.json)" },
        );
      }
      if (message === "invalid header HMAC") {
        throw integrityError("invalid header MAC", { cause: err });
      }
      throw integrityError(`invalid age header (${message})`, { cause: err });
    }
    if (fileKey.length !== FILE_KEY_SIZE) {
      throw internalError(`age: typage returned a ${fileKey.length}-byte file key`);
    }
    return Buffer.from(fileKey);
  }
}

/** The Transform around AgeDecryptor; see createAgeDecryptStream. */
class AgeDecryptStream extends Transform {
  readonly #core: AgeDecryptor;

  constructor(identities: AgeIdentities, label: string) {
    super();
    this.#core = new AgeDecryptor(identities, label, (plaintext) => this.push(plaintext));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let pending: Promise<void> | undefined;
    try {
      pending = this.#core.write(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    if (pending) pending.then(() => callback(), (err: Error) => callback(err));
    else callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#core.end();
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }
}

/**
 * Node Transform: age ciphertext in (any chunking) → plaintext out.
 *
 * Parses the header (refusing headers over 1 MiB), asks `identities` for the file key, then
 * decrypts the STREAM payload chunk by chunk, releasing a chunk only after it authenticates and
 * holding the last one back until the end of input shows whether it must be flagged final.
 * Refuses truncation (also exactly at a chunk boundary), data after the final chunk, an empty
 * final chunk after non-empty ones, and any changed byte. Plaintext released before an error
 * is authentic but incomplete: write it to a temporary file and keep it only if the stream ends
 * without error.
 *
 * Errors: IsnadError "config" ("<label>: no identity matches this file (wrong or missing
 * identity file?)") when no identity matches; "integrity" ("<label>: …") for everything else.
 */
export function createAgeDecryptStream(identities: AgeIdentities, label: string): Transform {
  return new AgeDecryptStream(identities, label);
}

// ---------------------------------------------------------------------------------------------
// Whole-buffer helpers
// ---------------------------------------------------------------------------------------------

/** Encrypts a small object in memory (key files, manifests in tests). */
export async function ageEncryptBytes(plaintext: Uint8Array, recipients: readonly string[]): Promise<Buffer> {
  const { header, fileKey } = await createAgeHeader(recipients);
  const out = Buffer.allocUnsafe(ageCiphertextSize(plaintext.length, header.length));
  let filled = 0;
  const encryptor = new AgeEncryptor(header, fileKey, (chunk) => {
    chunk.copy(out, filled);
    filled += chunk.length;
  });
  fileKey.fill(0);
  encryptor.write(plaintext);
  encryptor.end();
  if (filled !== out.length) {
    throw internalError(`age: wrote ${filled} bytes, ageCiphertextSize said ${out.length}`);
  }
  return out;
}

/** Decrypts a small object in memory, with the same checks and errors as the decrypt stream. */
export async function ageDecryptBytes(ciphertext: Uint8Array, identities: AgeIdentities, label: string): Promise<Buffer> {
  const stream = createAgeDecryptStream(identities, label);
  const parts: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on("data", (part: Buffer) => parts.push(part));
    stream.on("end", resolve);
    stream.on("error", reject);
    stream.end(ciphertext);
  });
  return Buffer.concat(parts);
}
