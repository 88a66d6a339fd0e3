/**
 * Removal records: what `isnad forget` writes before it deletes any seal, so that the chain of
 * seals stays checkable after snapshots are removed by policy. A record is plaintext, signed with
 * the repository's signer key like a seal, and chained to the previous removal record by the
 * SHA-256 of its bytes. For every seal it removes it keeps that seal's own hash, seq and parent:
 * verify rebuilds the whole seal chain from the seals still present plus these stubs, and tells a
 * removal by policy (a signed record names it) from a deletion (no record does).
 *
 * The file is canonical JSON of {"removal": body, "signature": base64} plus one newline, exactly
 * as for seals (seal.ts); readers refuse any other encoding, so the hashed bytes are unique.
 */
import * as z from "zod";
import { decodeSigned, encodeSigned, signedBytesOf, type DecodedSigned } from "./signed.js";

export const REMOVAL_FORMAT = "isnad-removal/1";

const HEX64 = /^[0-9a-f]{64}$/;

const RemovedSealSchema = z
  .object({
    snapshot: z.string().regex(/^[0-9a-f]{16}$/),
    seq: z.number().int().positive(),
    /** SHA-256 of the removed seal file's bytes. */
    seal_sha256: z.string().regex(HEX64),
    /** The removed seal's own parent (its body's `parent`). */
    parent: z.string().regex(HEX64).nullable(),
    time: z.string(),
  })
  .strict();

/** The policy as given on the command line: flag name (without --) to its value, or snapshot ids. */
const PolicySchema = z.record(z.string().regex(/^[a-z][a-z-]*$/), z.union([z.string(), z.number().int(), z.array(z.string())]));

const RemovalBodySchema = z
  .object({
    format: z.literal(REMOVAL_FORMAT),
    repository: z.string(),
    seq: z.number().int().positive(),
    parent: z.string().regex(HEX64).nullable(),
    time: z.string(),
    host: z.string(),
    policy: PolicySchema,
    removed: z.array(RemovedSealSchema).min(1),
    signer: z.string().regex(HEX64),
    isnad: z.string(),
  })
  .strict()
  .superRefine((b, ctx) => {
    const seen = new Set<number>();
    for (const [i, r] of b.removed.entries()) {
      if (seen.has(r.seq)) ctx.addIssue({ code: "custom", path: ["removed", i, "seq"], message: `seq ${r.seq} is removed twice` });
      seen.add(r.seq);
      if (i > 0 && r.seq < b.removed[i - 1]!.seq) ctx.addIssue({ code: "custom", path: ["removed", i, "seq"], message: "removed seals must be listed by seq, ascending" });
    }
  });

export type RemovalBody = z.infer<typeof RemovalBodySchema>;
export type RemovedSeal = z.infer<typeof RemovedSealSchema>;
export type RemovalPolicy = z.infer<typeof PolicySchema>;

export type DecodedRemoval = DecodedSigned<RemovalBody>;

export function removalSignedBytes(body: RemovalBody): Buffer {
  return signedBytesOf(body);
}

export function encodeRemoval(body: RemovalBody, signature: Uint8Array): Buffer {
  return encodeSigned("removal", body, signature);
}

/** Strict decode; throws an Error saying what is wrong. Does not check the signature. */
export function decodeRemoval(bytes: Uint8Array): DecodedRemoval {
  return decodeSigned(bytes, "removal", "removal record", RemovalBodySchema);
}
