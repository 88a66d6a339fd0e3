/**
 * isnad.json: the repository's public configuration. Plaintext on purpose: anyone holding it can
 * check every seal (signer key) and encrypt to the repository (recipients); it holds no secret.
 */
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
  return r.data;
}
