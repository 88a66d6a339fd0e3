import { spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import {
  generateSignerPem,
  loadSigner,
  publicKeyPem,
  signerFingerprint,
  verifyEd25519,
  writeKeyFile,
} from "../../src/keys/index.js";
import { itWith, rejection, tempDir } from "./helpers.js";

// Key generation and scrypt are CPU-bound, and other suites run in parallel: allow for a slow machine.
vi.setConfig({ testTimeout: 30_000 });

const dir = tempDir();
let n = 0;
const fresh = (name: string) => join(dir, `${n++}-${name}`);
const itOpenssl = itWith(["openssl"], { optional: true });
const itSha256sum = itWith(["sha256sum", "base64"], { optional: true });

describe("signer", () => {
  it("generate → writeKeyFile → load → sign → verify", async () => {
    const { privatePem, publicKey } = generateSignerPem();
    expect(privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(publicKey.length).toBe(32);
    const p = join(dir, "signing", "repo.key");
    await writeKeyFile(p, privatePem);
    expect(statSync(p).mode & 0o777).toBe(0o600);

    const signer = await loadSigner(p);
    expect(signer.publicKey.equals(publicKey)).toBe(true);
    expect(signer.fingerprint).toBe(signerFingerprint(publicKey));
    expect(signer.fingerprint).toMatch(/^[0-9a-f]{64}$/);

    const data = Buffer.from("seal bytes");
    const sig = signer.sign(data);
    expect(sig.length).toBe(64);
    expect(verifyEd25519(publicKey, data, sig)).toBe(true);
    expect(verifyEd25519(publicKey, Buffer.from("seal bytez"), sig)).toBe(false);
    const flipped = Buffer.from(sig);
    flipped[10] = (flipped[10] ?? 0) ^ 1;
    expect(verifyEd25519(publicKey, data, flipped)).toBe(false);
    expect(verifyEd25519(generateSignerPem().publicKey, data, sig)).toBe(false);
    // malformed sizes are a plain "no", not an exception
    expect(verifyEd25519(publicKey.subarray(0, 31), data, sig)).toBe(false);
    expect(verifyEd25519(publicKey, data, sig.subarray(0, 63))).toBe(false);
  });

  itSha256sum("fingerprint equals `base64 -d | sha256sum` of the raw key", () => {
    const { publicKey } = generateSignerPem();
    const r = spawnSync("sh", ["-c", "base64 -d | sha256sum"], { input: publicKey.toString("base64"), encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split(" ")[0]).toBe(signerFingerprint(publicKey));
  });

  itOpenssl("publicKeyPem verifies a signature with openssl pkeyutl -rawin", async () => {
    const { privatePem, publicKey } = generateSignerPem();
    const keyPath = fresh("k.key");
    await writeKeyFile(keyPath, privatePem);
    const signer = await loadSigner(keyPath);
    const data = fresh("data");
    writeFileSync(data, "snapshot seal\n");
    const sig = fresh("sig");
    writeFileSync(sig, signer.sign(readFileSync(data)));
    const pub = fresh("pub.pem");
    writeFileSync(pub, publicKeyPem(publicKey));
    expect(readFileSync(pub, "utf8")).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const ok = spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", data, "-sigfile", sig], {
      encoding: "utf8",
    });
    expect(ok.status, ok.stderr + ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/Signature Verified Successfully/);
    writeFileSync(data, "snapshot seal!\n");
    const bad = spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", data, "-sigfile", sig], {
      encoding: "utf8",
    });
    expect(bad.status).not.toBe(0);
  });

  it("missing key: config error naming the path, with the init hint", async () => {
    const p = join(dir, "nowhere", "x.key");
    const err = await rejection(loadSigner(p));
    expect(err.kind).toBe("config");
    expect(err.message).toContain(p);
    expect(err.hint).toBe("isnad init creates it; use --signing-key to point at it");
  });

  it("malformed or non-Ed25519 keys: config errors", async () => {
    const garbage = fresh("garbage.key");
    writeFileSync(garbage, "not a key\n");
    let err = await rejection(loadSigner(garbage));
    expect(err.kind).toBe("config");
    expect(err.message).toContain(garbage);

    const rsa = fresh("rsa.key");
    writeFileSync(rsa, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }));
    err = await rejection(loadSigner(rsa));
    expect(err.kind).toBe("config");
    expect(err.message).toMatch(/is a ec key; isnad signs with Ed25519/);

    const pubOnly = fresh("pub-only.pem");
    writeFileSync(pubOnly, publicKeyPem(generateSignerPem().publicKey));
    err = await rejection(loadSigner(pubOnly));
    expect(err.kind).toBe("config");
  });
});
