/**
 * age's STREAM payload on node:crypto (C2SP age spec, "Payload"): the 16-byte payload nonce,
 * HKDF-SHA256 of the payload key, and 64 KiB ChaCha20-Poly1305 chunks whose nonce carries an
 * 11-byte counter and a last-chunk flag. Done with node:crypto because it is about 8x faster than
 * typage's pure-JS cipher (LIBRARIES.md §1: 962 vs 121 MiB/s).
 *
 * Kept apart from the header code (crypto/age.ts, which loads typage and its post-quantum code)
 * so that the pack writer thread can encrypt without loading any of that.
 */
import { createCipheriv, createSecretKey, hkdfSync, randomBytes } from "node:crypto";
import { chunkDone } from "./chunk-garbage.js";
import type { KeyObject } from "node:crypto";
import { internalError } from "../errors.js";

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

