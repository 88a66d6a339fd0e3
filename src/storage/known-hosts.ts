/**
 * Checks an SSH server's host key against an OpenSSH known_hosts file, as `ssh` does with
 * StrictHostKeyChecking: plain and hashed (`|1|salt|hash`) host names, `[host]:port` for a port
 * other than 22, comma-separated patterns with `*`, `?` and `!` negation, and `@revoked` lines.
 * `@cert-authority` lines are ignored (isnad does not accept host certificates). Pure: the caller
 * reads the file and decides what a verdict means.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export type HostKeyStatus = "known" | "unknown" | "changed" | "revoked";

export interface HostKeyVerdict {
  status: HostKeyStatus;
  /** The name looked up: "host" on port 22, else "[host]:port" (OpenSSH's form). */
  name: string;
  /** Line numbers (1-based) of the entries for this host, for messages. */
  lines: number[];
}

/** OpenSSH-style fingerprint of a public key blob: "SHA256:" + unpadded base64 of its SHA-256. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type named at the start of an SSH public key blob (e.g. "ssh-ed25519"). */
export function keyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "?";
  const n = keyBlob.readUInt32BE(0);
  return n > 0 && n < 64 && keyBlob.length >= 4 + n ? keyBlob.subarray(4, 4 + n).toString("latin1") : "?";
}

export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

export function checkHostKey(knownHostsText: string, host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const lines: number[] = [];
  let known = false;
  let revoked = false;
  const text = knownHostsText.split(/\r?\n/);
  for (let i = 0; i < text.length; i++) {
    const line = text[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]!.startsWith("@")) marker = fields.shift();
    const [hosts, type, b64] = fields;
    if (hosts === undefined || type === undefined || b64 === undefined) continue;
    let blob: Buffer;
    try {
      blob = Buffer.from(b64, "base64");
    } catch {
      continue;
    }
    if (marker === "@revoked") {
      // A revoked key is refused for every host, whatever the host field says.
      if (blob.equals(keyBlob)) revoked = true;
      continue;
    }
    if (marker !== undefined) continue; // @cert-authority or unknown markers
    if (!hostsMatch(hosts, name)) continue;
    lines.push(i + 1);
    if (blob.equals(keyBlob)) known = true;
  }
  if (revoked) return { status: "revoked", name, lines };
  if (known) return { status: "known", name, lines };
  return { status: lines.length > 0 ? "changed" : "unknown", name, lines };
}

/** OpenSSH semantics: a negated pattern that matches wins; otherwise any positive match. */
function hostsMatch(field: string, name: string): boolean {
  if (field.startsWith("|1|")) return hashedMatch(field, name);
  let matched = false;
  for (const raw of field.split(",")) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (wildcardMatch(pattern, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function hashedMatch(field: string, name: string): boolean {
  const parts = field.split("|"); // ["", "1", salt, hash]
  if (parts.length !== 4) return false;
  const salt = Buffer.from(parts[2]!, "base64");
  const want = Buffer.from(parts[3]!, "base64");
  const got = createHmac("sha1", salt).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

function wildcardMatch(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === name;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  return re.test(name);
}
