/**
 * Passphrase-protected identity files: typage writes them as `age -p -a` does; Go age opens them
 * (passphrase typed on a pty); loadIdentities opens ours and Go age's. scrypt at the default work
 * factor 18 takes about 2 s per operation, so only the Go interop tests use it.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  encryptIdentityFile,
  formatIdentityFile,
  generateIdentity,
  loadIdentities,
  readPassphrase,
  writeKeyFile,
} from "../../src/keys/index.js";
import { itGoAgePty, rejection, runOnPty, tempDir } from "./helpers.js";

// Key generation and scrypt are CPU-bound, and other suites run in parallel: allow for a slow machine.
vi.setConfig({ testTimeout: 30_000 });

const SLOW = 120_000;
const FAST_WF = { scryptWorkFactor: 10 };
const dir = tempDir();
let n = 0;
const fresh = (name: string) => join(dir, `${n++}-${name}`);
const savedEnv = process.env.ISNAD_PASSPHRASE_FILE;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.ISNAD_PASSPHRASE_FILE;
  else process.env.ISNAD_PASSPHRASE_FILE = savedEnv;
});

async function protectedKey(passphrase: string, opts = FAST_WF) {
  const { identity, recipient } = await generateIdentity("classic");
  const file = fresh("protected.txt");
  await writeKeyFile(file, await encryptIdentityFile(formatIdentityFile(identity, recipient, new Date()), passphrase, opts));
  return { identity, recipient, file };
}

describe("encryptIdentityFile + loadIdentities", () => {
  it("writes armored age; opens with the passphrase from ISNAD_PASSPHRASE_FILE", async () => {
    const { identity, file } = await protectedKey("correct horse battery");
    const text = readFileSync(file, "utf8");
    expect(text.startsWith("-----BEGIN AGE ENCRYPTED FILE-----\n")).toBe(true);
    expect(text).not.toContain(identity);
    const passFile = fresh("pass.txt");
    writeFileSync(passFile, "correct horse battery\r\nsecond line ignored\n");
    process.env.ISNAD_PASSPHRASE_FILE = passFile;
    let asked = 0;
    const ids = await loadIdentities(file, () => {
      asked++;
      return readPassphrase(`identity file ${file}`);
    });
    expect(ids).toEqual([identity]);
    expect(asked).toBe(1);
  });

  it("opens a binary (unarmored) age passphrase file too", async () => {
    const { identity, recipient } = await generateIdentity("hybrid");
    const armored = await encryptIdentityFile(formatIdentityFile(identity, recipient, new Date()), "pw-pw-pw", FAST_WF);
    const { armor } = await import("age-encryption");
    const file = fresh("binary.age");
    writeFileSync(file, armor.decode(armored));
    expect(await loadIdentities(file, async () => "pw-pw-pw")).toEqual([identity]);
  });

  it("wrong passphrase is a config error naming the file", async () => {
    const { file } = await protectedKey("right one");
    const err = await rejection(loadIdentities(file, async () => "wrong one"));
    expect(err.kind).toBe("config");
    expect(err.message).toBe(`${file}: wrong passphrase for this identity file`);
  });

  it("a file encrypted to recipients (not a passphrase) is refused before any prompt", async () => {
    const { Encrypter, armor } = await import("age-encryption");
    const other = await generateIdentity("classic");
    const e = new Encrypter();
    e.addRecipient(other.recipient);
    const file = fresh("to-recipient.age");
    writeFileSync(file, armor.encode(await e.encrypt("AGE-SECRET-KEY-1...\n")));
    const err = await rejection(
      loadIdentities(file, async () => {
        throw new Error("must not ask");
      }),
    );
    expect(err.message).toMatch(/encrypted to recipients, not with a passphrase/);
  });

  it("a damaged decrypted content is reported with the line, not the key", async () => {
    const file = fresh("bad-inside.txt");
    await writeKeyFile(file, await encryptIdentityFile("# note\n  # indented\n", "pw-pw-pw", FAST_WF));
    const err = await rejection(loadIdentities(file, async () => "pw-pw-pw"));
    expect(err.message).toMatch(/\(decrypted\) line 2: not an age identity/);
  });

  it("refuses an empty passphrase and an out-of-range work factor", async () => {
    expect((await rejection(encryptIdentityFile("x", ""))).kind).toBe("usage");
    await expect(encryptIdentityFile("x", "p", { scryptWorkFactor: 4 })).rejects.toThrow(/out of range/);
  });
});

describe("interop with Go age (passphrase typed on a pty)", () => {
  itGoAgePty(
    "Go `age -d -i protected.txt` decrypts a file encrypted to the recipient",
    async () => {
      // default work factor (18), exactly what isnad keygen writes
      const { identity, recipient } = await generateIdentity("classic");
      const file = fresh("protected.txt");
      const passphrase = "tree frog lantern 42";
      await writeKeyFile(file, await encryptIdentityFile(formatIdentityFile(identity, recipient, new Date()), passphrase));
      const plain = fresh("doc.txt");
      writeFileSync(plain, "witness statement\n");
      const enc = spawnSync("age", ["-r", recipient, "-o", `${plain}.age`, plain], { encoding: "utf8" });
      expect(enc.status, enc.stderr).toBe(0);
      const out = fresh("doc.out");
      const r = await runOnPty(["age", "-d", "-i", file, "-o", out, `${plain}.age`], [
        { expect: "(?i)passphrase", send: `${passphrase}\r` },
      ]);
      expect(r.timedOut, r.output).toBe(false);
      expect(r.exit, r.output).toBe(0);
      expect(readFileSync(out, "utf8")).toBe("witness statement\n");
      expect(r.output).not.toContain(passphrase); // Go age reads it with echo off
    },
    SLOW,
  );

  itGoAgePty(
    "loadIdentities opens an identity file protected by Go `age -p -a`",
    async () => {
      const keyFile = fresh("keygen.txt");
      expect(spawnSync("age-keygen", ["-o", keyFile]).status).toBe(0);
      const identity = readFileSync(keyFile, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"));
      const protectedFile = fresh("go-protected.age");
      const passphrase = "go wrote this one";
      const r = await runOnPty(
        ["age", "-p", "-a", "-o", protectedFile, keyFile],
        [
          { expect: "(?i)enter passphrase", send: `${passphrase}\r` },
          { expect: "(?i)confirm", send: `${passphrase}\r` },
        ],
      );
      expect(r.exit, r.output).toBe(0);
      const ids = await loadIdentities(protectedFile, async () => passphrase);
      expect(ids).toEqual([identity]);
    },
    SLOW,
  );
});
