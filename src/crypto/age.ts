/**
 * The age v1 file format (C2SP age spec, https://c2sp.org/age) for isnad's stored objects.
 *
 * The STREAM payload is done with node:crypto: encryption in crypto/age-stream.ts (kept apart so
 * the pack writer thread need not load typage), decryption here. Everything about the header
 * (recipient stanzas, ML-KEM/X25519 wrapping, the header MAC, key strings) is left to
 * age-encryption (typage); this module never builds or parses a stanza itself.
 *
 * Output is a plain age file: Go `age -d` and typage's Decrypter read it, and the decrypt stream
 * reads what they write (test/crypto/age.test.ts checks every direction).
 */

import { createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { chunkDone } from "./chunk-garbage.js";
import type { KeyObject } from "node:crypto";
import { Transform } from "node:stream";
import type { TransformCallback } from "node:stream";
import { Decrypter, Encrypter } from "age-encryption";
import type { Recipient, Stanza } from "age-encryption";
import { IsnadError, configError, integrityError, internalError, messageOf } from "../errors.js";
import { AgeEncryptor, CHUNK_SIZE, CIPHERTEXT_CHUNK_SIZE, FILE_KEY_SIZE, PAYLOAD_NONCE_SIZE, TAG_SIZE, ageCiphertextSize, payloadKey, setChunkNonce } from "./age-stream.js";

export { AgeEncryptor, ageCiphertextSize } from "./age-stream.js";

const MAGIC = Buffer.from("age-encryption.org/v1\n", "latin1");
const MAC_LINE_START = Buffer.from("\n--- ", "latin1");
const NEWLINE = 0x0a;
/**
 * Hostile input must not make us buffer without limit. A real header is small: about 200 bytes
 * per X25519 recipient and 1.6 KB per hybrid recipient, so 1 MiB is hundreds of recipients.
 */
const MAX_HEADER_SIZE = 1024 * 1024;

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

  const sealed = await encrypter.encrypt(new Uint8Array(0));
  const emptyPayloadSize = PAYLOAD_NONCE_SIZE + TAG_SIZE;
  const header = Buffer.from(sealed.subarray(0, sealed.length - emptyPayloadSize)); // a copy
  const fileKey = recorder.fileKeys[0];
  if (recorder.fileKeys.length !== 1 || fileKey === undefined || fileKey.length !== FILE_KEY_SIZE) {
    throw internalError(`age header: typage gave the recorder ${recorder.fileKeys.length} file keys, expected one of ${FILE_KEY_SIZE} bytes`);
  }
  checkOwnHeader(header, fileKey);
  return { header, fileKey };
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

// ---------------------------------------------------------------------------------------------
// STREAM payload (node:crypto)
// ---------------------------------------------------------------------------------------------

/** Decrypts one chunk (ciphertext ‖ tag); null if it does not authenticate under this nonce. */
function openChunk(key: KeyObject, nonce: Buffer, counter: number, last: boolean, sealed: Uint8Array): Buffer | null {
  setChunkNonce(nonce, counter, last);
  const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_SIZE });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE));
  try {
    decipher.final();
  } catch {
    return null;
  } finally {
    chunkDone();
  }
  return plaintext;
}

/**
 * Identities for decryption: age identity strings (AGE-SECRET-KEY-1…, AGE-SECRET-KEY-PQ-1…),
 * wrapping a typage Decrypter. Error messages say which identity is at fault by position and
 * never quote it.
 */
export class AgeIdentities {
  readonly #decrypter = new Decrypter();
  readonly #keys: readonly string[];

  /** @param source where the identities came from (e.g. the identity file), named in errors */
  constructor(
    identities: readonly string[],
    readonly source?: string,
  ) {
    if (identities.length === 0) {
      throw configError("no age identities given", { hint: "pass an identity file (AGE-SECRET-KEY-…)" });
    }
    this.#keys = [...identities];
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

  /** The identity strings, to build the same AgeIdentities in a worker thread (pack/read-thread.ts). */
  forWorker(): { identities: string[]; source?: string } {
    return { identities: [...this.#keys], source: this.source };
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

type DecryptState = "header" | "nonce" | "payload" | "done";

/**
 * The age decryptor without stream machinery: ciphertext in with write() (any chunking), each
 * authenticated plaintext chunk handed to `onPlaintext` as it is opened, end() when the input is
 * over. Synchronous except for the header: the write() that completes it returns a promise
 * (the identity lookup is asynchronous), and no more input may be written until it settles.
 * createAgeDecryptStream wraps it as a Transform; readers that hash, decrypt and parse in one
 * loop (src/pack/reader.ts) use it directly.
 *
 * Payload chunks are opened straight from the incoming buffers where possible. At most one
 * ciphertext chunk (64 KiB + 16) is copied into `#carry`: a chunk split across writes, or the
 * last whole chunk seen so far, which is held back because only the end of the stream tells
 * whether it must carry the last-chunk flag. Each plaintext chunk is a fresh buffer the consumer
 * may keep.
 *
 * Refuses truncation (also exactly at a chunk boundary), data after the final chunk, an empty
 * final chunk after non-empty ones, and any changed byte; errors as createAgeDecryptStream's.
 */
export class AgeDecryptor {
  readonly #identities: AgeIdentities;
  readonly #label: string;
  readonly #onPlaintext: (plaintext: Buffer) => void;
  #state: DecryptState = "header";

  // header phase: bytes so far, grown by doubling up to MAX_HEADER_SIZE
  #header = Buffer.allocUnsafe(4096);
  #headerLength = 0;
  /** Where the "\n--- " MAC line starts, once seen; -1 before. */
  #macLineAt = -1;
  #pending: Promise<void> | undefined;

  // payload nonce phase: the file key waits here for the nonce bytes
  #fileKey: Buffer | undefined;
  readonly #payloadNonce = Buffer.alloc(PAYLOAD_NONCE_SIZE);
  #payloadNonceLength = 0;

  // payload phase
  #key: KeyObject | undefined;
  readonly #chunkNonce = Buffer.alloc(12);
  #counter = 0;
  readonly #carry = Buffer.allocUnsafe(CIPHERTEXT_CHUNK_SIZE);
  #carryLength = 0;

  constructor(identities: AgeIdentities, label: string, onPlaintext: (plaintext: Buffer) => void) {
    this.#identities = identities;
    this.#label = label;
    this.#onPlaintext = onPlaintext;
  }

  /**
   * Feeds ciphertext. Returns a promise when this write completed the header: wait for it before
   * the next write. Throws (or the promise rejects with) a labelled IsnadError.
   */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.#pending) throw internalError(`age: ${this.#label}: write while the header is being opened`);
    try {
      if (this.#state === "header") {
        const found = this.#takeHeader(chunk);
        if (found === undefined) return undefined;
        this.#pending = this.#identities.fileKeyFor(found.header).then(
          (fileKey) => {
            this.#pending = undefined;
            try {
              this.#state = "nonce";
              this.#fileKey = fileKey;
              for (const rest of found.rest) this.#takePayload(rest);
            } catch (err) {
              throw this.#labelled(err);
            }
          },
          (err: unknown) => {
            this.#pending = undefined;
            throw this.#labelled(err);
          },
        );
        return this.#pending;
      }
      this.#takePayload(chunk);
      return undefined;
    } catch (err) {
      throw this.#labelled(err);
    }
  }

  /** The input is over: opens the held-back final chunk, or refuses a file cut short. */
  end(): void {
    try {
      switch (this.#state) {
        case "header":
          if (this.#headerLength === 0) throw this.#integrity("not an age file (it is empty)");
          throw this.#integrity("truncated: the file ends inside the age header");
        case "nonce":
          throw this.#integrity("truncated: the file ends inside the payload nonce");
        case "payload":
          if (this.#carryLength === 0) throw this.#integrity("truncated: no final chunk");
          if (this.#carryLength < TAG_SIZE) {
            throw this.#integrity(`truncated: chunk ${this.#counter} is shorter than its tag`);
          }
          this.#open(this.#carry.subarray(0, this.#carryLength), true);
          this.#carryLength = 0;
          this.#state = "done";
          return;
        case "done":
          return;
      }
    } catch (err) {
      throw this.#labelled(err);
    }
  }

  /**
   * Appends to the header buffer until the "--- " MAC line is complete. Returns the exact header
   * and whatever followed it (still to be decrypted), or undefined while it is incomplete.
   */
  #takeHeader(chunk: Buffer): { header: Buffer; rest: Buffer[] } | undefined {
    const room = MAX_HEADER_SIZE - this.#headerLength;
    const taken = Math.min(room, chunk.length);
    if (this.#headerLength + taken > this.#header.length) {
      const grown = Buffer.allocUnsafe(Math.min(MAX_HEADER_SIZE, Math.max(this.#header.length * 2, this.#headerLength + taken)));
      this.#header.copy(grown, 0, 0, this.#headerLength);
      this.#header = grown;
    }
    const scanFrom = this.#headerLength;
    chunk.copy(this.#header, this.#headerLength, 0, taken);
    this.#headerLength += taken;
    const seen = this.#header.subarray(0, this.#headerLength);

    if (scanFrom < MAGIC.length) {
      const n = Math.min(MAGIC.length, seen.length);
      if (!seen.subarray(0, n).equals(MAGIC.subarray(0, n))) {
        const armored = seen[0] === 0x2d; // "-----BEGIN AGE ENCRYPTED FILE-----"
        throw integrityError(`${this.#label}: not an age file (no age-encryption.org/v1 header)`, {
          hint: armored ? "this looks like an ASCII-armored age file (age -a), which isnad does not read" : undefined,
        });
      }
    }
    if (this.#macLineAt < 0) {
      const at = seen.indexOf(MAC_LINE_START, Math.max(0, scanFrom - (MAC_LINE_START.length - 1)));
      if (at >= 0) this.#macLineAt = at;
    }
    if (this.#macLineAt >= 0) {
      const lineFrom = this.#macLineAt + MAC_LINE_START.length;
      const end = seen.indexOf(NEWLINE, Math.max(lineFrom, scanFrom));
      if (end >= 0) {
        const header = Buffer.from(seen.subarray(0, end + 1)); // a copy, handed to typage
        const rest: Buffer[] = [];
        if (end + 1 < seen.length) rest.push(Buffer.from(seen.subarray(end + 1)));
        if (taken < chunk.length) rest.push(chunk.subarray(taken));
        this.#header = Buffer.alloc(0);
        this.#headerLength = 0;
        return { header, rest };
      }
    }
    if (this.#headerLength >= MAX_HEADER_SIZE) {
      throw this.#integrity(`age header is larger than ${MAX_HEADER_SIZE} bytes`);
    }
    return undefined;
  }

  #takePayload(data: Buffer): void {
    let offset = 0;
    if (this.#state === "nonce") {
      const n = Math.min(PAYLOAD_NONCE_SIZE - this.#payloadNonceLength, data.length);
      data.copy(this.#payloadNonce, this.#payloadNonceLength, 0, n);
      this.#payloadNonceLength += n;
      offset = n;
      if (this.#payloadNonceLength < PAYLOAD_NONCE_SIZE) return;
      const fileKey = this.#fileKey;
      if (fileKey === undefined) throw internalError("age: payload nonce before the file key");
      this.#key = payloadKey(fileKey, this.#payloadNonce);
      fileKey.fill(0);
      this.#fileKey = undefined;
      this.#state = "payload";
    }
    if (this.#state !== "payload") {
      throw internalError(`age: payload bytes in state ${this.#state}`);
    }
    const length = data.length;
    if (offset === length) return;

    if (this.#carryLength > 0) {
      const n = Math.min(CIPHERTEXT_CHUNK_SIZE - this.#carryLength, length - offset);
      data.copy(this.#carry, this.#carryLength, offset, offset + n);
      this.#carryLength += n;
      offset += n;
      // All consumed: hold the carry, even if full; the next write or the end decides its flag.
      if (offset === length) return;
      // Otherwise the carry is full and more data follows it: not the last chunk.
      this.#open(this.#carry, false);
      this.#carryLength = 0;
    }
    while (length - offset > CIPHERTEXT_CHUNK_SIZE) {
      this.#open(data.subarray(offset, offset + CIPHERTEXT_CHUNK_SIZE), false);
      offset += CIPHERTEXT_CHUNK_SIZE;
    }
    if (offset < length) {
      data.copy(this.#carry, 0, offset, length);
      this.#carryLength = length - offset;
    }
  }

  /** Authenticates and releases one chunk; on failure, works out the most useful message. */
  #open(sealed: Uint8Array, last: boolean): void {
    const key = this.#key;
    if (key === undefined) throw internalError("age: payload chunk before the payload key");
    const index = this.#counter;
    const plaintext = openChunk(key, this.#chunkNonce, index, last, sealed);
    if (plaintext === null) {
      // Only on the error path: try the other flag to tell truncation and trailing data apart
      // from corruption.
      if (!last && openChunk(key, this.#chunkNonce, index, true, sealed) !== null) {
        throw this.#integrity(`trailing data after final chunk ${index}`);
      }
      if (last && sealed.length === CIPHERTEXT_CHUNK_SIZE && openChunk(key, this.#chunkNonce, index, false, sealed) !== null) {
        throw this.#integrity(`truncated: no final chunk (the file ends after chunk ${index})`);
      }
      throw this.#integrity(`chunk ${index} failed authentication`);
    }
    if (last && plaintext.length === 0 && index > 0) {
      throw this.#integrity(`empty final chunk ${index} after non-empty ones`);
    }
    this.#counter = index + 1;
    if (plaintext.length > 0) this.#onPlaintext(plaintext);
  }

  #integrity(message: string): IsnadError {
    return integrityError(`${this.#label}: ${message}`);
  }

  /** Adds the label to errors from AgeIdentities; anything that is not an IsnadError is a bug. */
  #labelled(err: unknown): IsnadError {
    this.#state = "done";
    if (err instanceof IsnadError) {
      if (err.message.startsWith(`${this.#label}: `) || err.kind === "internal") return err;
      return new IsnadError(err.kind, `${this.#label}: ${err.message}`, { cause: err, hint: err.hint });
    }
    return new IsnadError("internal", `internal: ${this.#label}: ${messageOf(err)}`, { cause: err });
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
