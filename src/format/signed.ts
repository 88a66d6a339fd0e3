/**
 * The envelope that seals and removal records share: the canonical JSON (canonical.ts) of
 * {"<field>": body, "signature": base64} followed by one newline, the Ed25519 signature covering
 * canonicalJson(body) exactly. Decoding is strict: any byte sequence other than the one canonical
 * encoding is refused, so the bytes hashed for a chain have only one possible form.
 */
import { createHash } from "node:crypto";
import * as z from "zod";
import { canonicalJson } from "./canonical.js";

export interface DecodedSigned<T> {
  body: T;
  signature: Buffer;
  /** The exact bytes the signature covers. */
  signedBytes: Buffer;
  /** SHA-256 of the whole file: what the next entry of its chain names as its parent. */
  hash: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function signedBytesOf(body: unknown): Buffer {
  return Buffer.from(canonicalJson(body as never), "utf8");
}

export function encodeSigned(field: string, body: unknown, signature: Uint8Array): Buffer {
  const file = { [field]: body, signature: Buffer.from(signature).toString("base64") };
  return Buffer.from(canonicalJson(file as never) + "\n", "utf8");
}

/** `{<field>: body, signature}`, one schema per field: zod compiles a parser for a schema on its
 * first use, so a schema built for each file would be compiled again for each seal read. */
const envelopes = new Map<string, z.ZodType>();
function envelopeSchema(field: string): z.ZodType {
  let schema = envelopes.get(field);
  if (!schema) envelopes.set(field, (schema = z.object({ [field]: z.unknown(), signature: z.string() }).strict()));
  return schema;
}

/** Strict decode of `{<field>: body, signature}`; throws an Error saying what is wrong (`what`
 * names the kind of file). Does not check the signature. */
export function decodeSigned<T>(bytes: Uint8Array, field: string, what: string, schema: z.ZodType<T>): DecodedSigned<T> {
  const text = Buffer.from(bytes).toString("utf8");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`not valid JSON (${(e as Error).message})`);
  }
  const file = envelopeSchema(field).safeParse(raw);
  if (!file.success) throw new Error(`not a ${what}: expected {${field}, signature}`);
  const data = file.data as Record<string, unknown> & { signature: string };
  const body = schema.safeParse(data[field]);
  if (!body.success) {
    const issue = body.error.issues[0];
    throw new Error(`${field}.${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`);
  }
  const signature = Buffer.from(data.signature, "base64");
  if (!encodeSigned(field, body.data, signature).equals(Buffer.from(bytes))) {
    throw new Error("not in canonical form (the file was re-encoded or edited)");
  }
  return { body: body.data, signature, signedBytes: signedBytesOf(body.data), hash: sha256Hex(bytes) };
}
