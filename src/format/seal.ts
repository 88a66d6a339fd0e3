/**
 * Seals: one small plaintext object per snapshot, signed with Ed25519 and chained to the previous
 * seal by the SHA-256 of its bytes. A snapshot exists iff its seal exists and verifies. The file is
 * the canonical JSON (RFC 8785 subset, see canonical.ts) of {"seal": body, "signature": base64}
 * followed by one newline; the signature covers canonicalJson(body) exactly. Readers refuse any
 * other byte sequence, so the bytes hashed for the chain are the only possible encoding.
 */
import { createHash } from "node:crypto";
import * as z from "zod";
import { canonicalJson } from "./canonical.js";

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

export interface DecodedSeal {
  body: SealBody;
  signature: Buffer;
  /** The exact bytes the signature covers. */
  signedBytes: Buffer;
  /** SHA-256 of the whole file: what the next seal names as its parent. */
  hash: string;
}

export function sealSignedBytes(body: SealBody): Buffer {
  return Buffer.from(canonicalJson(body), "utf8");
}

export function encodeSeal(body: SealBody, signature: Uint8Array): Buffer {
  const file = { seal: body, signature: Buffer.from(signature).toString("base64") };
  return Buffer.from(canonicalJson(file) + "\n", "utf8");
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Strict decode; throws an Error saying what is wrong. Does not check the signature. */
export function decodeSeal(bytes: Uint8Array): DecodedSeal {
  const text = Buffer.from(bytes).toString("utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`not valid JSON (${(e as Error).message})`);
  }
  const file = z.object({ seal: z.unknown(), signature: z.string() }).strict().safeParse(raw);
  if (!file.success) throw new Error("not a seal: expected {seal, signature}");
  const body = SealBodySchema.safeParse(file.data.seal);
  if (!body.success) {
    const issue = body.error.issues[0];
    throw new Error(`seal.${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  const signature = Buffer.from(file.data.signature, "base64");
  const canonical = encodeSeal(body.data, signature);
  if (!canonical.equals(Buffer.from(bytes))) throw new Error("not in canonical form (the file was re-encoded or edited)");
  return { body: body.data, signature, signedBytes: sealSignedBytes(body.data), hash: sha256Hex(bytes) };
}
