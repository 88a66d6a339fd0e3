/**
 * age identities (secret keys) and their files: generating them, writing age-keygen's layout,
 * protecting a file with a passphrase as `age -p` does, and reading identity files back with Go
 * age's rules. Recipient strings live in recipients.ts; the signing key in signer.ts.
 *
 * Messages never quote a line of an identity file: it may be a secret key with one typo.
 */
import {
  armor,
  Decrypter,
  Encrypter,
  generateHybridIdentity,
  generateX25519Identity,
  identityToRecipient,
} from "age-encryption";
import { encryptToBytes } from "../crypto/age.js";
import { configError, internalError, messageOf, usageError } from "../errors.js";
import { bech32Reason, readKeyFile, writeNewKeyFile } from "./files.js";

export type KeyKind = "hybrid" | "classic";

const X25519_PREFIX = "AGE-SECRET-KEY-1";
const HYBRID_PREFIX = "AGE-SECRET-KEY-PQ-1";

/** hybrid = ML-KEM-768 + X25519 (AGE-SECRET-KEY-PQ-1…, recipient age1pq1…); classic = X25519. */
export async function generateIdentity(kind: KeyKind): Promise<{ identity: string; recipient: string }> {
  const identity = kind === "hybrid" ? await generateHybridIdentity() : await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** age-keygen's layout: "# created: <RFC3339>\n# public key: <recipient>\n<IDENTITY>\n" */
export function formatIdentityFile(identity: string, recipient: string, created: Date): string {
  if (Number.isNaN(created.getTime())) throw internalError("formatIdentityFile: invalid date");
  if (/[\r\n]/.test(identity) || /[\r\n]/.test(recipient)) throw internalError("formatIdentityFile: newline in a key");
  // RFC 3339 in UTC, whole seconds, as age-keygen prints (it uses local time with an offset).
  const stamp = created.toISOString().replace(/\.\d{3}Z$/, "Z");
  return `# created: ${stamp}\n# public key: ${recipient}\n${identity}\n`;
}

/** Options for {@link encryptIdentityFile}. */
export interface EncryptIdentityOptions {
  /**
   * log2 of the scrypt work factor, 10..20; default 18 as in typage and Go age (about 2 s here).
   * Lower only in tests: it is what stands between a stolen file and a brute-forced passphrase.
   */
  scryptWorkFactor?: number;
}

/**
 * A passphrase-protected identity file as `age -p -a` writes it (scrypt stanza, ASCII armor), so
 * Go `age -d -i file` opens it after asking for the passphrase.
 */
export async function encryptIdentityFile(
  text: string,
  passphrase: string,
  opts?: EncryptIdentityOptions,
): Promise<string> {
  if (passphrase === "") throw usageError("an empty passphrase would not protect the identity file");
  const e = new Encrypter();
  if (opts?.scryptWorkFactor !== undefined) {
    const n = opts.scryptWorkFactor;
    // Go age and typage refuse to decrypt above 2^20 (22 in newer Go); below 2^10 is no protection.
    if (!Number.isInteger(n) || n < 10 || n > 20) throw internalError(`scrypt work factor ${n} out of range 10..20`);
    e.setScryptWorkFactor(n);
  }
  e.setPassphrase(passphrase);
  return armor.encode(await encryptToBytes(e, new TextEncoder().encode(text)));
}

/**
 * Writes a key file: refuses to overwrite (usage error "<path> already exists; refusing to
 * overwrite a key file"), mode 0600, creates missing parent folders with 0700, fsyncs.
 */
export async function writeKeyFile(path: string, content: string): Promise<void> {
  await writeNewKeyFile(path, content);
}

/**
 * Reads an identity file and returns its identity strings (AGE-SECRET-KEY-1… and
 * AGE-SECRET-KEY-PQ-1…), in file order.
 *
 * Plain file: Go age's rule. A line is skipped only if it is empty or has "#" in column 0; every
 * other line must be an identity. An age-encrypted file (binary or armored, as `age -p` writes) is
 * decrypted with the passphrase from getPassphrase(), called only then, and its content read the
 * same way. All errors are config errors naming the path.
 */
export async function loadIdentities(path: string, getPassphrase: () => Promise<string>): Promise<string[]> {
  const bytes = await readKeyFile(path, "identity file");
  // Go age peeks at the first 14 bytes, with no whitespace skipped; so do we.
  const peek = bytes.subarray(0, 14).toString("latin1");
  if (peek === "age-encryption" || peek === "-----BEGIN AGE") {
    const text = await decryptIdentityFile(path, bytes, peek === "-----BEGIN AGE", getPassphrase);
    return parseIdentityLines(text, `${path} (decrypted)`, path);
  }
  if (peek.startsWith("-----BEGIN")) {
    throw configError(`${path} is a PEM key (SSH or other), not an age identity file`, {
      hint: "isnad reads age identities only (AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…); make one with isnad keygen",
    });
  }
  return parseIdentityLines(bytes.toString("utf8"), path, path);
}

/** The recipient (public key) of an identity string. Config error, without key material, if malformed. */
export async function recipientOf(identity: string): Promise<string> {
  const why = identityProblem(identity);
  if (why !== undefined) throw configError(`not an age identity (${why})`);
  try {
    return await identityToRecipient(identity);
  } catch (err) {
    throw configError(`not an age identity (${bech32Reason(messageOf(err))})`);
  }
}

async function decryptIdentityFile(
  path: string,
  bytes: Buffer,
  armored: boolean,
  getPassphrase: () => Promise<string>,
): Promise<string> {
  let raw: Uint8Array;
  if (armored) {
    try {
      raw = armor.decode(bytes.toString("utf8"));
    } catch (err) {
      throw configError(`${path}: damaged armored age file (${messageOf(err)})`, { cause: err });
    }
  } else {
    raw = bytes;
  }
  // Only a passphrase can open it here; say so before asking for one.
  if (!hasScryptStanza(raw)) {
    throw configError(`${path} is age-encrypted to recipients, not with a passphrase; isnad cannot open it`, {
      hint: "decrypt it with the tool that protected it, or use a passphrase-protected (age -p) identity file",
    });
  }
  const passphrase = await getPassphrase();
  const d = new Decrypter();
  d.addPassphrase(passphrase);
  try {
    return await d.decrypt(raw, "text");
  } catch (err) {
    const msg = messageOf(err);
    if (msg.includes("no identity matched")) {
      throw configError(`${path}: wrong passphrase for this identity file`, { cause: err });
    }
    if (msg.includes("work factor is too high")) {
      throw configError(`${path}: its scrypt work factor is above 2^20; refusing to spend that much work on it`, {
        cause: err,
      });
    }
    throw configError(`${path}: cannot decrypt this identity file (${msg})`, { cause: err });
  }
}

/** True if the age header (text lines up to "---") has a scrypt stanza. */
function hasScryptStanza(raw: Uint8Array): boolean {
  // The header is ASCII; a passphrase file's is a few hundred bytes, cap the scan anyway.
  const head = Buffer.from(raw.subarray(0, 64 * 1024)).toString("latin1");
  const end = head.indexOf("\n---");
  const header = end === -1 ? head : head.slice(0, end);
  return /^-> scrypt /m.test(header);
}

function parseIdentityLines(text: string, label: string, path: string): string[] {
  const out: string[] = [];
  // bufio.ScanLines: split on \n, drop one trailing \r.
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] ?? "";
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line === "" || line.startsWith("#")) continue;
    const why = identityProblem(line);
    if (why !== undefined) throw configError(`${label} line ${i + 1}: not an age identity (${why})`);
    out.push(line);
  }
  if (out.length === 0) {
    throw configError(`${path} holds no age identity`, {
      hint: "an identity line starts with AGE-SECRET-KEY-1 or AGE-SECRET-KEY-PQ-1",
    });
  }
  return out;
}

/** Why a line is not a usable identity, or undefined if it is one. Never quotes the line. */
function identityProblem(line: string): string | undefined {
  const trimmed = line.trim();
  if (line.startsWith("\uFEFF")) return "the file starts with a byte-order mark; save it as plain UTF-8";
  if (trimmed.startsWith("#")) return "an indented comment; only lines with # in the first column are comments";
  if (trimmed !== line && identityProblem(trimmed) === undefined) return "spaces around the key";
  if (/^age-secret-key-/i.test(line) && line !== line.toUpperCase()) return "age identities are upper case";
  if (line.startsWith("age1")) return "this is a public key (recipient); an identity starts with AGE-SECRET-KEY-";
  if (line.startsWith("AGE-PLUGIN-")) return "plugin identities are not supported";
  if (line.startsWith("ssh-") || line.startsWith("-----BEGIN")) return "SSH keys are not supported";
  if (!line.startsWith(X25519_PREFIX) && !line.startsWith(HYBRID_PREFIX)) {
    return "unknown identity type; expected AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…";
  }
  try {
    // typage's constructors check the bech32 checksum, prefix and key size.
    new Decrypter().addIdentity(line);
  } catch (err) {
    return bech32Reason(messageOf(err));
  }
  return undefined;
}
