/**
 * age's STREAM payload on node:crypto (C2SP age spec, "Payload"): the 16-byte payload nonce,
 * HKDF-SHA256 of the payload key, and 64 KiB ChaCha20-Poly1305 chunks whose nonce carries an
 * 11-byte counter and a last-chunk flag. Done with node:crypto because it is about 8x faster than
 * typage's pure-JS cipher (LIBRARIES.md §1: 962 vs 121 MiB/s).
 *
 * Kept apart from the header code (crypto/age.ts, which loads typage and its post-quantum code)
 * so that the pack writer thread can encrypt, and the read thread decrypt, without loading any of
 * that. The decryptor parses the header's framing (magic, "---" MAC line) itself and asks a
 * FileKeySource for the file key: typage does the rest, where it is loaded.
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes } from "node:crypto";
import { chunkDone } from "./chunk-garbage.js";
import type { KeyObject } from "node:crypto";
import { IsnadError, integrityError, internalError, messageOf } from "../errors.js";

/** The file key is 16 bytes in age v1. */
export const FILE_KEY_SIZE = 16;
/** The payload nonce after the header, the HKDF salt of the payload key. */
export const PAYLOAD_NONCE_SIZE = 16;
/** STREAM plaintext chunk size fixed by the age spec. */
export const CHUNK_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const CIPHERTEXT_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
/**
 * The 11-byte chunk counter is written as 6 bytes (48 bits); 2^48 chunks of 64 KiB is 16 EiB,
 * which no stored object reaches. Reaching it would be a bug, not bad input.
 */
const MAX_CHUNKS = 2 ** 48;

/** payload key = HKDF-SHA256(ikm = file key, salt = payload nonce, info = "payload"), 32 bytes. */
export function payloadKey(fileKey: Uint8Array, payloadNonce: Uint8Array): KeyObject {
  if (fileKey.length !== FILE_KEY_SIZE) {
    throw internalError(`age: file key is ${fileKey.length} bytes, expected ${FILE_KEY_SIZE}`);
  }
  const raw = Buffer.from(hkdfSync("sha256", fileKey, payloadNonce, "payload", 32));
  const key = createSecretKey(raw); // a KeyObject: node:crypto need not copy the raw key per chunk
  raw.fill(0);
  return key;
}

/** The 12-byte chunk nonce: 11-byte big-endian counter ‖ 0x01 on the last chunk, else 0x00. */
export function setChunkNonce(nonce: Buffer, counter: number, last: boolean): void {
  if (counter >= MAX_CHUNKS) {
    throw internalError("age: STREAM chunk counter overflow");
  }
  nonce.fill(0, 0, 5);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
}


/** Size of the age file for a plaintext of this size under a header of this length. */
export function ageCiphertextSize(plaintextSize: number, headerLength: number): number {
  if (!Number.isSafeInteger(plaintextSize) || plaintextSize < 0 || !Number.isSafeInteger(headerLength) || headerLength < 0) {
    throw internalError(`ageCiphertextSize(${plaintextSize}, ${headerLength}): sizes must be non-negative integers`);
  }
  const chunks = plaintextSize === 0 ? 1 : Math.ceil(plaintextSize / CHUNK_SIZE);
  return headerLength + PAYLOAD_NONCE_SIZE + plaintextSize + chunks * TAG_SIZE;
}

/**
 * Synchronous age encryptor: hands ciphertext to `sink` in order.
 *
 * Emits header ‖ random 16-byte payload nonce on construction, then one 64 KiB STREAM chunk at a
 * time. A full chunk is sealed only once more data arrives or end() is called, because the last
 * chunk must carry the last-chunk flag; an empty final chunk is written only when the whole
 * plaintext is empty. Each sealed chunk reaches the sink as two buffers, ciphertext then its
 * 16-byte tag: joining them cost about 25% of the throughput in a measurement (one more 64 KiB
 * allocation and copy per chunk). The sink owns every buffer it is given. Plaintext is staged in
 * one reused 64 KiB buffer, and whole chunks are sealed straight from the caller's array when
 * they can be.
 */
export class AgeEncryptor {
  readonly #sink: (chunk: Buffer) => void;
  readonly #key: KeyObject;
  readonly #nonce = Buffer.alloc(12);
  readonly #staged = Buffer.allocUnsafe(CHUNK_SIZE);
  #stagedLength = 0;
  #counter = 0;
  #ended = false;
  #plaintextBytes = 0;
  #ciphertextBytes = 0;

  constructor(header: Buffer, fileKey: Buffer, sink: (chunk: Buffer) => void) {
    this.#sink = sink;
    const payloadNonce = randomBytes(PAYLOAD_NONCE_SIZE);
    this.#key = payloadKey(fileKey, payloadNonce);
    this.#emit(Buffer.concat([header, payloadNonce]));
  }

  /** Plaintext bytes written so far. */
  get plaintextBytes(): number {
    return this.#plaintextBytes;
  }

  /** Bytes handed to the sink so far, header and payload nonce included. */
  get ciphertextBytes(): number {
    return this.#ciphertextBytes;
  }

  write(data: Uint8Array): void {
    if (this.#ended) {
      throw internalError("age: write after end");
    }
    const length = data.length;
    this.#plaintextBytes += length;
    let offset = 0;
    while (offset < length) {
      if (this.#stagedLength === CHUNK_SIZE) {
        // More data follows, so the staged chunk is not the last one.
        this.#seal(this.#staged, false);
        this.#stagedLength = 0;
      }
      if (this.#stagedLength === 0 && length - offset > CHUNK_SIZE) {
        // A whole chunk with more after it: seal it in place, no copy.
        this.#seal(data.subarray(offset, offset + CHUNK_SIZE), false);
        offset += CHUNK_SIZE;
        continue;
      }
      const n = Math.min(CHUNK_SIZE - this.#stagedLength, length - offset);
      this.#staged.set(data.subarray(offset, offset + n), this.#stagedLength);
      this.#stagedLength += n;
      offset += n;
    }
  }

  /** Seals the final chunk. The encryptor cannot be used afterwards. */
  end(): void {
    if (this.#ended) {
      throw internalError("age: end called twice");
    }
    this.#ended = true;
    // Empty only if nothing was ever written: a full chunk is kept staged until data follows it.
    this.#seal(this.#staged.subarray(0, this.#stagedLength), true);
    this.#staged.fill(0);
  }

  #seal(plaintext: Uint8Array, last: boolean): void {
    setChunkNonce(this.#nonce, this.#counter, last);
    this.#counter += 1;
    const cipher = createCipheriv("chacha20-poly1305", this.#key, this.#nonce, { authTagLength: TAG_SIZE });
    const ciphertext = cipher.update(plaintext);
    cipher.final(); // a stream cipher: no output here
    if (ciphertext.length > 0) {
      this.#emit(ciphertext);
    }
    this.#emit(cipher.getAuthTag());
    chunkDone();
  }

  #emit(chunk: Buffer): void {
    this.#ciphertextBytes += chunk.length;
    this.#sink(chunk);
  }
}

// ---------------------------------------------------------------------------------------------
// Decryption
// ---------------------------------------------------------------------------------------------

export const MAGIC = Buffer.from("age-encryption.org/v1\n", "latin1");
export const MAC_LINE_START = Buffer.from("\n--- ", "latin1");
export const NEWLINE = 0x0a;
/**
 * Hostile input must not make us buffer without limit. A real header is small: about 200 bytes
 * per X25519 recipient and 1.6 KB per hybrid recipient, so 1 MiB is hundreds of recipients.
 */
export const MAX_HEADER_SIZE = 1024 * 1024;

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
 * Where a decryptor gets the file key for a header: AgeIdentities (crypto/age.ts, typage) on the
 * main thread; in the read thread, a key the main thread already opened (pack/read-thread.ts).
 * Throws (rejects with) IsnadError "config" when it has no key for the header, "integrity" for
 * a bad header; messages carry no label (the decryptor adds it).
 */
export interface FileKeySource {
  fileKeyFor(header: Uint8Array): Promise<Buffer>;
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
  readonly #keys: FileKeySource;
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

  constructor(keys: FileKeySource, label: string, onPlaintext: (plaintext: Buffer) => void) {
    this.#keys = keys;
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
        this.#pending = this.#keys.fileKeyFor(found.header).then(
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

  /** Adds the label to errors from the key source; anything that is not an IsnadError is a bug. */
  #labelled(err: unknown): IsnadError {
    this.#state = "done";
    if (err instanceof IsnadError) {
      if (err.message.startsWith(`${this.#label}: `) || err.kind === "internal") return err;
      return new IsnadError(err.kind, `${this.#label}: ${err.message}`, { cause: err, hint: err.hint });
    }
    return new IsnadError("internal", `internal: ${this.#label}: ${messageOf(err)}`, { cause: err });
  }
}

