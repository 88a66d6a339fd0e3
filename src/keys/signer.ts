/**
 * The snapshot-signing key: Ed25519 via node:crypto, stored as a PKCS#8 PEM file outside the
 * repository (see paths.ts). This module loads it and signs; it also checks signatures and
 * presents public keys (raw 32 bytes, SHA-256 fingerprint, SPKI PEM) for seals and auditors.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { configError, internalError, messageOf } from "../errors.js";
import { readKeyFile } from "./files.js";

export interface Signer {
  /** raw 32-byte Ed25519 public key */
  readonly publicKey: Buffer;
  /** signerFingerprint(publicKey) */
  readonly fingerprint: string;
  /** 64-byte Ed25519 signature over data (pure Ed25519, no pre-hash) */
  sign(data: Uint8Array): Buffer;
}

const MISSING_HINT = "isnad init creates it; use --signing-key to point at it";

/** A new Ed25519 key pair: private key as PKCS#8 PEM (unencrypted: save it with writeKeyFile). */
export function generateSignerPem(): { privatePem: string; publicKey: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: rawPublicKey(publicKey),
  };
}

/** Loads a signing key file. Missing → config error with a hint; malformed or not Ed25519 → config error. */
export async function loadSigner(path: string): Promise<Signer> {
  const pem = await readKeyFile(path, "signing key", MISSING_HINT);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (err) {
    // node:crypto's messages (e.g. "error:1E08010C:DECODER routines::unsupported") never echo the key.
    throw configError(`signing key ${path} is not a readable PKCS#8 PEM private key (${messageOf(err)})`, {
      cause: err,
      hint: MISSING_HINT,
    });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw configError(`signing key ${path} is a ${key.asymmetricKeyType ?? "unknown"} key; isnad signs with Ed25519`);
  }
  const publicKey = rawPublicKey(createPublicKey(key));
  const fingerprint = signerFingerprint(publicKey);
  return {
    publicKey,
    fingerprint,
    sign: (data: Uint8Array): Buffer => sign(null, data, key),
  };
}

/** Lower-case hex SHA-256 of the raw 32-byte public key (checkable with: base64 -d | sha256sum). */
export function signerFingerprint(publicKey: Buffer): string {
  if (publicKey.length !== 32) throw internalError(`an Ed25519 public key is 32 bytes, not ${publicKey.length}`);
  return createHash("sha256").update(publicKey).digest("hex");
}

/**
 * True if signature is a valid Ed25519 signature of data under publicKey. A key or signature of
 * the wrong size (hostile or damaged input) gives false, not an exception.
 */
export function verifyEd25519(publicKey: Buffer, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  let key: KeyObject;
  try {
    key = publicKeyObject(publicKey);
  } catch {
    return false;
  }
  return verify(null, data, key, signature);
}

/** Public key as a PEM SPKI (for auditors: openssl pkeyutl -verify -pubin -inkey signer.pem -rawin). */
export function publicKeyPem(publicKey: Buffer): string {
  if (publicKey.length !== 32) throw internalError(`an Ed25519 public key is 32 bytes, not ${publicKey.length}`);
  return publicKeyObject(publicKey).export({ type: "spki", format: "pem" }).toString();
}

function publicKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

function rawPublicKey(key: KeyObject): Buffer {
  const x = key.export({ format: "jwk" }).x;
  if (typeof x !== "string") throw internalError("Ed25519 public key has no x");
  const raw = Buffer.from(x, "base64url");
  if (raw.length !== 32) throw internalError(`Ed25519 public key is ${raw.length} bytes`);
  return raw;
}
