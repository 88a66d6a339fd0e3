import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Decrypter, Encrypter } from "age-encryption";
import { describe, expect, it, vi } from "vitest";
import {
  formatIdentityFile,
  generateIdentity,
  loadIdentities,
  recipientOf,
  writeKeyFile,
} from "../../src/keys/index.js";
import { itGoAge, rejection, tempDir } from "./helpers.js";

// Key generation and scrypt are CPU-bound, and other suites run in parallel: allow for a slow machine.
vi.setConfig({ testTimeout: 30_000 });

const dir = tempDir();
let n = 0;
const fresh = (name: string) => join(dir, `${n++}-${name}`);
const noPassphrase = async (): Promise<string> => {
  throw new Error("getPassphrase must not be called for a plain identity file");
};

describe("generateIdentity", () => {
  it.each(["hybrid", "classic"] as const)("%s: round-trips through typage", async (kind) => {
    const { identity, recipient } = await generateIdentity(kind);
    if (kind === "hybrid") {
      expect(identity).toMatch(/^AGE-SECRET-KEY-PQ-1[0-9A-Z]+$/);
      expect(recipient).toMatch(/^age1pq1[0-9a-z]+$/);
    } else {
      expect(identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
      expect(recipient).toMatch(/^age1[0-9a-z]{58}$/);
    }
    expect(await recipientOf(identity)).toBe(recipient);
    const e = new Encrypter();
    e.addRecipient(recipient);
    const ct = await e.encrypt("evidence");
    const d = new Decrypter();
    d.addIdentity(identity);
    expect(await d.decrypt(ct, "text")).toBe("evidence");
    // and the file layout reads back to the same key
    const p = fresh(`${kind}.txt`);
    await writeKeyFile(p, formatIdentityFile(identity, recipient, new Date()));
    expect(await loadIdentities(p, noPassphrase)).toEqual([identity]);
  });

  it("makes different keys each time", async () => {
    const a = await generateIdentity("classic");
    const b = await generateIdentity("classic");
    expect(a.identity).not.toBe(b.identity);
  });
});

describe("formatIdentityFile", () => {
  it("uses age-keygen's layout", () => {
    const text = formatIdentityFile("AGE-SECRET-KEY-1X", "age1x", new Date("2026-01-02T03:04:05.678Z"));
    expect(text).toBe("# created: 2026-01-02T03:04:05Z\n# public key: age1x\nAGE-SECRET-KEY-1X\n");
  });
});

describe("interop with Go age", () => {
  itGoAge("Go age decrypts with a file from formatIdentityFile; age-keygen -y prints its recipient", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const keyFile = fresh("key.txt");
    await writeKeyFile(keyFile, formatIdentityFile(identity, recipient, new Date()));
    const plain = fresh("plain.txt");
    writeFileSync(plain, "the file we keep\n");
    const enc = spawnSync("age", ["-r", recipient, "-o", `${plain}.age`, plain], { encoding: "utf8" });
    expect(enc.status, enc.stderr).toBe(0);
    const dec = spawnSync("age", ["-d", "-i", keyFile, `${plain}.age`], { encoding: "utf8" });
    expect(dec.status, dec.stderr).toBe(0);
    expect(dec.stdout).toBe("the file we keep\n");
    const y = spawnSync("age-keygen", ["-y", keyFile], { encoding: "utf8" });
    expect(y.status, y.stderr).toBe(0);
    expect(y.stdout.trim()).toBe(recipient);
  });

  itGoAge("loadIdentities reads an age-keygen file; typage then opens Go age's output", async () => {
    const keyFile = fresh("keygen.txt");
    const kg = spawnSync("age-keygen", ["-o", keyFile], { encoding: "utf8" });
    expect(kg.status, kg.stderr).toBe(0);
    const ids = await loadIdentities(keyFile, noPassphrase);
    expect(ids).toHaveLength(1);
    const recipient = readFileSync(keyFile, "utf8").match(/# public key: (age1\S+)/)?.[1];
    expect(await recipientOf(ids[0] ?? "")).toBe(recipient);
    const enc = spawnSync("age", ["-i", keyFile, "-e"], { input: "from go" }); // -i with -e: encrypt to the identity's recipient
    expect(enc.status, enc.stderr.toString()).toBe(0);
    const d = new Decrypter();
    for (const id of ids) d.addIdentity(id);
    expect(await d.decrypt(enc.stdout, "text")).toBe("from go");
  });

  itGoAge("an indented comment is rejected, as Go age rejects it", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const p = fresh("indented.txt");
    writeFileSync(p, `# created: now\n  # an indented note\n${identity}\n`);
    const err = await rejection(loadIdentities(p, noPassphrase));
    expect(err.kind).toBe("config");
    expect(err.message).toBe(`${p} line 2: not an age identity (an indented comment; only lines with # in the first column are comments)`);
    const enc = spawnSync("age", ["-r", recipient], { input: "x" });
    const go = spawnSync("age", ["-d", "-i", p], { input: enc.stdout, encoding: "utf8" });
    expect(go.status).not.toBe(0);
    expect(go.stderr).toMatch(/line 2/);
  });
});

describe("loadIdentities (plain files)", () => {
  it("skips empty lines and column-0 comments, reads CRLF, keeps several keys in order", async () => {
    const a = await generateIdentity("classic");
    const b = await generateIdentity("hybrid");
    const p = fresh("multi.txt");
    writeFileSync(p, `# first\r\n${a.identity}\r\n\r\n#second\r\n${b.identity}`);
    expect(await loadIdentities(p, noPassphrase)).toEqual([a.identity, b.identity]);
  });

  it("names the line and never prints key material", async () => {
    const { identity } = await generateIdentity("classic");
    const typo = identity.slice(0, 30) + (identity[30] === "Q" ? "P" : "Q") + identity.slice(31);
    const cases: [string, RegExp][] = [
      [typo, /line 2: not an age identity \(bad checksum/],
      [identity.toLowerCase(), /line 2: not an age identity \(age identities are upper case\)/],
      [` ${identity}`, /line 2: not an age identity \(spaces around the key\)/],
      [`${identity} `, /line 2: not an age identity \(spaces around the key\)/],
      ["age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", /public key \(recipient\)/],
      ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", /SSH keys are not supported/],
      ["hello", /unknown identity type/],
      ["  # an indented note", /an indented comment; only lines with # in the first column are comments/],
      [identity.slice(0, 40), /line 2: not an age identity \(/],
    ];
    for (const [line, want] of cases) {
      const p = fresh("bad.txt");
      writeFileSync(p, `# comment\n${line}\n`);
      const err = await rejection(loadIdentities(p, noPassphrase));
      expect(err.kind).toBe("config");
      expect(err.message).toMatch(want);
      expect(err.message.startsWith(`${p} line 2: `)).toBe(true);
      expect(err.message).not.toContain(identity.slice(16, 30));
      expect(err.message.toLowerCase()).not.toContain(identity.slice(16, 30).toLowerCase());
    }
  });

  it("missing file, empty file, folder, PEM key: config errors naming the path", async () => {
    const missing = join(dir, "nope", "key.txt");
    let err = await rejection(loadIdentities(missing, noPassphrase));
    expect(err.kind).toBe("config");
    expect(err.message).toContain(missing);

    const empty = fresh("empty.txt");
    writeFileSync(empty, "# only a comment\n\n");
    err = await rejection(loadIdentities(empty, noPassphrase));
    expect(err.message).toBe(`${empty} holds no age identity`);

    const folder = fresh("folder");
    mkdirSync(folder);
    err = await rejection(loadIdentities(folder, noPassphrase));
    expect(err.message).toContain(folder);

    const pem = fresh("id_ed25519");
    writeFileSync(pem, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n");
    err = await rejection(loadIdentities(pem, noPassphrase));
    expect(err.message).toMatch(/PEM key .*not an age identity file/);
  });
});

describe("recipientOf", () => {
  it("rejects a broken identity without echoing it", async () => {
    const { identity } = await generateIdentity("hybrid");
    const broken = identity.slice(0, -1) + (identity.endsWith("Q") ? "P" : "Q");
    const err = await rejection(recipientOf(broken));
    expect(err.kind).toBe("config");
    expect(err.message).not.toContain(identity.slice(19, 40));
  });
});

describe("writeKeyFile", () => {
  it("creates parents 0700, the file 0600, and refuses to overwrite", async () => {
    const parent = join(dir, "w", "deep");
    const p = join(parent, "key.txt");
    const oldMask = process.umask(0o022);
    try {
      await writeKeyFile(p, "secret\n");
    } finally {
      process.umask(oldMask);
    }
    expect(readFileSync(p, "utf8")).toBe("secret\n");
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(statSync(parent).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "w")).mode & 0o777).toBe(0o700);

    const err = await rejection(writeKeyFile(p, "other\n"));
    expect(err.kind).toBe("usage");
    expect(err.message).toBe(`${p} already exists; refusing to overwrite a key file`);
    expect(readFileSync(p, "utf8")).toBe("secret\n");
  });

  it("is 0600 even under a permissive umask", async () => {
    const p = fresh("umask.txt");
    const oldMask = process.umask(0);
    try {
      await writeKeyFile(p, "x");
    } finally {
      process.umask(oldMask);
    }
    expect(statSync(p).mode & 0o777).toBe(0o600);
  });
});
