/** The known_hosts check (src/storage/known-hosts.ts), against lines as OpenSSH writes them. */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkHostKey, fingerprint, keyType } from "../../src/storage/known-hosts.js";

/** An ssh-ed25519 public key blob: string "ssh-ed25519", string key (32 bytes). */
function edBlob(): Buffer {
  const raw = generateKeyPairSync("ed25519").publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const name = Buffer.from("ssh-ed25519");
  const len = (n: number) => Buffer.from([0, 0, 0, n]);
  return Buffer.concat([len(name.length), name, len(32), raw]);
}
const line = (hosts: string, blob: Buffer, marker = "") => `${marker}${marker ? " " : ""}${hosts} ssh-ed25519 ${blob.toString("base64")}`;

describe("known_hosts", () => {
  const key = edBlob();
  const other = edBlob();

  it("port 22 is the bare name, another port [host]:port", () => {
    expect(checkHostKey(line("vault.example.org", key), "vault.example.org", 22, key).status).toBe("known");
    expect(checkHostKey(line("vault.example.org", key), "vault.example.org", 2222, key).status).toBe("unknown");
    expect(checkHostKey(line("[vault.example.org]:2222", key), "vault.example.org", 2222, key).status).toBe("known");
    expect(checkHostKey(line("VAULT.example.org,10.0.0.5", key), "vault.example.org", 22, key).status).toBe("known");
  });

  it("another key for the host is 'changed' and names its line; another host's key is 'unknown'", () => {
    const text = ["# comment", "", line("vault", other), line("elsewhere", key)].join("\n");
    expect(checkHostKey(text, "vault", 22, key)).toEqual({ status: "changed", name: "vault", lines: [3] });
    expect(checkHostKey(text, "nowhere", 22, key).status).toBe("unknown");
  });

  it("wildcards and negation", () => {
    expect(checkHostKey(line("*.example.org", key), "a.example.org", 22, key).status).toBe("known");
    expect(checkHostKey(line("*.example.org,!b.example.org", key), "b.example.org", 22, key).status).toBe("unknown");
    expect(checkHostKey(line("host?", key), "host1", 22, key).status).toBe("known");
  });

  it("@revoked wins; @cert-authority lines are not host keys", () => {
    expect(checkHostKey([line("vault", key), line("*", key, "@revoked")].join("\n"), "vault", 22, key).status).toBe("revoked");
    expect(checkHostKey(line("*", key, "@cert-authority"), "vault", 22, key).status).toBe("unknown");
  });

  it("hashed names written by ssh-keygen -H match, for both name forms", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-kh-"));
    const f = path.join(dir, "known_hosts");
    fs.writeFileSync(f, [line("vault.example.org", key), line("[127.0.0.1]:2222", key)].join("\n") + "\n");
    execFileSync("ssh-keygen", ["-H", "-f", f], { stdio: "ignore" });
    const text = fs.readFileSync(f, "utf8");
    fs.rmSync(dir, { recursive: true, force: true });
    expect(text).not.toContain("vault");
    expect(checkHostKey(text, "vault.example.org", 22, key).status).toBe("known");
    expect(checkHostKey(text, "127.0.0.1", 2222, key).status).toBe("known");
    expect(checkHostKey(text, "127.0.0.1", 2222, other).status).toBe("changed");
    expect(checkHostKey(text, "127.0.0.1", 22, key).status).toBe("unknown");
  });

  it("fingerprints and key types read as OpenSSH prints them", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-kh-"));
    const pub = path.join(dir, "k.pub");
    fs.writeFileSync(pub, `ssh-ed25519 ${key.toString("base64")} test\n`);
    const fp = execFileSync("ssh-keygen", ["-lf", pub], { encoding: "utf8" }).split(" ")[1];
    fs.rmSync(dir, { recursive: true, force: true });
    expect(fingerprint(key)).toBe(fp);
    expect(keyType(key)).toBe("ssh-ed25519");
  });
});
