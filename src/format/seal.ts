/**
 * Seals: one small plaintext object per snapshot, signed with Ed25519 and chained to the previous
 * seal by the SHA-256 of its bytes. A snapshot exists iff its seal exists and verifies. The file is
 * the canonical JSON (RFC 8785 subset, see canonical.ts) of {"seal": body, "signature": base64}
 * followed by one newline; the signature covers canonicalJson(body) exactly. Readers refuse any
 * other byte sequence, so the bytes hashed for the chain are the only possible encoding.
 */
import * as z from "zod";
import { decodeSigned, encodeSigned, sha256Hex, signedBytesOf, type DecodedSigned } from "./signed.js";

export const SEAL_FORMAT = "isnad-seal/1";

const ObjectRef = z
  .object({
    id: z.string().regex(/^[0-9a-f]{64}$/),
    size: z.number().int().nonnegative(),
    /** Packs only: the plaintext is a zstd frame holding the tar. */
    compression: z.literal("zstd").optional(),
  })
  .strict();

const SealBodySchema = z
  .object({
    format: z.literal(SEAL_FORMAT),
    repository: z.string(),
    snapshot: z.string().regex(/^[0-9a-f]{16}$/),
    seq: z.number().int().positive(),
    parent: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
    time: z.string(),
    host: z.string(),
    sources: z.array(z.string()),
    manifest: ObjectRef,
    packs: z.array(ObjectRef),
    stats: z
      .object({
        files: z.number().int().nonnegative(),
        dirs: z.number().int().nonnegative(),
        symlinks: z.number().int().nonnegative(),
        bytes: z.number().int().nonnegative(),
        new_bytes: z.number().int().nonnegative(),
        missing: z.number().int().nonnegative(),
        skipped: z.number().int().nonnegative(),
        changed: z.number().int().nonnegative(),
      })
      .strict(),
    signer: z.string().regex(/^[0-9a-f]{64}$/),
    isnad: z.string(),
  })
  .strict();

export type SealBody = z.infer<typeof SealBodySchema>;
export type ObjectRef = z.infer<typeof ObjectRef>;

export type DecodedSeal = DecodedSigned<SealBody>;

export { sha256Hex };

export function sealSignedBytes(body: SealBody): Buffer {
  return signedBytesOf(body);
}

export function encodeSeal(body: SealBody, signature: Uint8Array): Buffer {
  return encodeSigned("seal", body, signature);
}

/** Strict decode; throws an Error saying what is wrong. Does not check the signature. */
export function decodeSeal(bytes: Uint8Array): DecodedSeal {
  return decodeSigned(bytes, "seal", "seal", SealBodySchema);
}
