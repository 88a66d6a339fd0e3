/**
 * isnad.json: the repository's public configuration. Plaintext on purpose: anyone holding it can
 * check every seal (signer key) and encrypt to the repository (recipients); it holds no secret.
 */
import { createHash } from "node:crypto";
import * as z from "zod";
import { canonicalJson } from "./canonical.js";

export const REPO_FORMAT = "isnad-repository";
export const REPO_VERSION = 1;

const RepoConfigSchema = z
  .object({
    format: z.literal(REPO_FORMAT),
    version: z.literal(REPO_VERSION),
    id: z.string().regex(/^[0-9a-f]{32}$/, "expected 32 hex digits"),
    created: z.string(),
    recipients: z.array(z.string().min(1)).min(1),
    signer: z
      .object({
        algorithm: z.literal("ed25519"),
        public_key: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, "expected a base64 Ed25519 public key"),
        fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
      })
      .strict(),
  })
  .strict();

export type RepoConfig = z.infer<typeof RepoConfigSchema>;

export function encodeRepoConfig(c: RepoConfig): Buffer {
  // Pretty-printed so a person can read it; it is not signed, so no canonical form is needed.
  return Buffer.from(JSON.stringify(JSON.parse(canonicalJson(c)), null, 2) + "\n", "utf8");
}

/** Parses isnad.json; throws an Error whose message says what is wrong (the caller names the file). */
export function decodeRepoConfig(bytes: Uint8Array): RepoConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new Error(`not valid JSON (${(e as Error).message})`);
  }
  const r = RepoConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${issue?.path.join(".") || "(top level)"}: ${issue?.message ?? "invalid"}`);
  }
  // The fingerprint is what users record and compare; it must be the key's, or a swapped key
  // could hide behind the owner's fingerprint. One key, one spelling: canonical base64 only.
  const raw32 = Buffer.from(r.data.signer.public_key, "base64");
  if (raw32.length !== 32 || raw32.toString("base64") !== r.data.signer.public_key) {
    throw new Error("signer.public_key: not the canonical base64 of a 32-byte Ed25519 key");
  }
  if (createHash("sha256").update(raw32).digest("hex") !== r.data.signer.fingerprint) {
    throw new Error("signer.fingerprint: does not match signer.public_key");
  }
  return r.data;
}
