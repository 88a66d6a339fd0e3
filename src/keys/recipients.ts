/**
 * Recipient strings (age public keys): checking one, and reading an `age -R` recipients file.
 * Validation is typage's own (its constructors check bech32, prefix and size) plus a 0-byte trial
 * encryption, so a string accepted here is one the pack writer can encrypt to.
 */
import { Encrypter } from "age-encryption";
import { encryptToBytes } from "../crypto/age.js";
import { configError, messageOf } from "../errors.js";
import { bech32Reason, readKeyFile } from "./files.js";

const EXPECTED = "expected an age1… or age1pq1… public key";

/** Quotes at most ~20 characters of a string the user gave, never a secret key. */
function shown(s: string): string {
  if (/^AGE-SECRET-KEY-/i.test(s)) return JSON.stringify("AGE-SECRET-KEY-…");
  const cut = s.length > 20 ? `${s.slice(0, 20)}…` : s;
  return JSON.stringify(cut);
}

/** Why s is not a recipient typage can use, or undefined if it is one. */
async function recipientProblem(s: string): Promise<string | undefined> {
  if (s === "") return "empty";
  if (s.trim() !== s) return "spaces around the key";
  if (/^AGE-SECRET-KEY-/i.test(s)) return "this is a secret key (identity), not a public key; never share it";
  if (/^(ssh-|ecdsa-sha2-)/.test(s)) return "SSH keys are not supported";
  if (/^age1/i.test(s) && s !== s.toLowerCase()) return "age recipients are lower case";
  if (/^age1[a-z0-9]*1/.test(s) && !/^age1(pq|tag|tagpq)1/.test(s)) return "plugin recipients are not supported";
  if (!s.startsWith("age1")) return "unknown recipient type";
  try {
    const e = new Encrypter();
    e.addRecipient(s);
    await encryptToBytes(e, new Uint8Array(0));
  } catch (err) {
    return bech32Reason(messageOf(err));
  }
  return undefined;
}

/**
 * Validates one recipient string (age1… X25519, age1pq1… hybrid, age1tag1…/age1tagpq1… tag) and
 * returns it unchanged. `where` says where it came from ("--recipient", "isnad.json", ...).
 */
export async function parseRecipient(s: string, where: string): Promise<string> {
  const why = await recipientProblem(s);
  if (why !== undefined) throw configError(`unknown recipient ${shown(s)} from ${where}: ${why}; ${EXPECTED}`);
  return s;
}

/**
 * Reads an `age -R` recipients file: one recipient per line; empty (or all-space) lines and lines
 * with "#" in column 0 are skipped; errors name the file and line. Unlike Go age, which hides the
 * line, we quote ~20 characters of it (never of a secret key). Duplicates are dropped.
 */
export async function readRecipientsFile(path: string): Promise<string[]> {
  const text = (await readKeyFile(path, "recipients file")).toString("utf8");
  const out: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] ?? "";
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.trim() === "" || line.startsWith("#")) continue;
    const where = `${path} line ${i + 1}`;
    if (line.trim().startsWith("#")) {
      throw configError(`${where}: an indented comment; only lines with # in the first column are comments`);
    }
    const r = await parseRecipient(line.trim(), where);
    if (!out.includes(r)) out.push(r);
  }
  if (out.length === 0) throw configError(`recipients file ${path} holds no recipient`);
  return out;
}
