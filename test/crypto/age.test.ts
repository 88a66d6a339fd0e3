import { spawnSync } from "node:child_process";
import { createHash, createCipheriv, hkdfSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Decrypter, Encrypter, generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AgeEncryptor,
  AgeIdentities,
  ageCiphertextSize,
  ageDecryptBytes,
  ageEncryptBytes,
  createAgeDecryptStream,
  createAgeHeader,
} from "../../src/crypto/age.js";
import { IsnadError } from "../../src/errors.js";

const CHUNK = 64 * 1024;
const SEALED_CHUNK = CHUNK + 16;
const SIZES = [0, 1, 65535, 65536, 65537, 131072, 5 * 1024 * 1024 + 123];
const SLOW = { timeout: 120_000 };

// Go age is the reference implementation. CI installs it; locally a missing binary only skips
// the interop tests, loudly.
const GO_AGE = process.env.ISNAD_TEST_GO_AGE ?? "/usr/bin/age"; // override only to test the skip path
const IN_CI = process.env.CI === "true";
const HAVE_GO_AGE = existsSync(GO_AGE);
const SKIP_GO = !HAVE_GO_AGE && !IN_CI;
if (SKIP_GO) {
  console.warn(
    `\n*** WARNING: ${GO_AGE} (Go age) is missing: the Go interop tests in test/crypto/age.test.ts are SKIPPED. ` +
      "Install it with `apt-get install age`; in CI (CI=true) they fail instead. ***\n",
  );
}

let x25519Id: string;
let x25519Rcpt: string;
let hybridId: string;
let hybridRcpt: string;
let otherId: string;
let workDir: string;
let keyFile: string;

beforeAll(async () => {
  x25519Id = await generateX25519Identity();
  x25519Rcpt = await identityToRecipient(x25519Id);
  hybridId = await generateHybridIdentity();
  hybridRcpt = await identityToRecipient(hybridId);
  otherId = await generateX25519Identity();
  workDir = await mkdtemp(join(tmpdir(), "isnad-age-"));
  keyFile = join(workDir, "key.txt");
  await writeFile(keyFile, `# test identity\n${x25519Id}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** Deterministic, incompressible-looking plaintext of any size. */
function plaintextOf(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let block = createHash("sha256").update(`seed ${size}`).digest();
  for (let i = 0; i < size; i += 32) {
    block = createHash("sha256").update(block).digest();
    block.copy(out, i, 0, Math.min(32, size - i));
  }
  return out;
}

function goAge(args: string[], input: Uint8Array): Buffer {
  const r = spawnSync(GO_AGE, args, { input, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`age ${args.join(" ")} exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Feeds `input` to the decrypt stream in pieces of the given sizes, cycled. */
async function decryptInPieces(
  input: Uint8Array,
  identities: AgeIdentities,
  pieces: readonly number[] = [1 << 20],
  label = "test object",
): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(
      (function* () {
        let offset = 0;
        let i = 0;
        while (offset < input.length) {
          const n = pieces[i++ % pieces.length] ?? 1;
          yield Buffer.from(input.subarray(offset, offset + n));
          offset += n;
        }
      })(),
    ),
    createAgeDecryptStream(identities, label),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** Like decryptInPieces but returns the error and how many plaintext bytes came out before it. */
async function decryptFailure(input: Uint8Array, identities: AgeIdentities, pieces: readonly number[] = [1 << 20]) {
  let released = 0;
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      released += chunk.length;
      cb();
    },
  });
  const source = Readable.from(
    (function* () {
      let offset = 0;
      let i = 0;
      while (offset < input.length) {
        const n = pieces[i++ % pieces.length] ?? 1;
        yield Buffer.from(input.subarray(offset, offset + n));
        offset += n;
      }
    })(),
  );
  try {
    await pipeline(source, createAgeDecryptStream(identities, "pack 3fa2"), out);
  } catch (err) {
    return { err: err as IsnadError, released };
  }
  throw new Error("decryption unexpectedly succeeded");
}

function headerLengthOf(file: Uint8Array): number {
  const macLine = Buffer.from(file).indexOf("\n--- ");
  return Buffer.from(file).indexOf(0x0a, macLine + 1) + 1;
}

async function typageEncrypt(plaintext: Uint8Array, recipients: string[]): Promise<Uint8Array> {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e.encrypt(plaintext);
}

async function typageDecrypt(ciphertext: Uint8Array, identity: string): Promise<Uint8Array> {
  const d = new Decrypter();
  d.addIdentity(identity);
  return d.decrypt(ciphertext);
}

describe("Go age", () => {
  it.runIf(IN_CI)("is installed (required when CI=true)", () => {
    expect(HAVE_GO_AGE, `${GO_AGE} is missing; CI must install age`).toBe(true);
  });
});

describe.skipIf(SKIP_GO)("interop with Go age", () => {
  it.each(SIZES)("(a) ours → age -d -i key.txt, %i bytes", SLOW, async (size) => {
    const plaintext = plaintextOf(size);
    const file = await ageEncryptBytes(plaintext, [x25519Rcpt]);
    expect(goAge(["-d", "-i", keyFile], file).equals(plaintext)).toBe(true);
  });

  it.each(SIZES)("(b) age -r → our decrypt stream, %i bytes", SLOW, async (size) => {
    const plaintext = plaintextOf(size);
    const file = goAge(["-r", x25519Rcpt], plaintext);
    const ids = new AgeIdentities([x25519Id]);
    expect((await decryptInPieces(file, ids)).equals(plaintext)).toBe(true);
    expect((await decryptInPieces(file, ids, [1, 7, 65553])).equals(plaintext)).toBe(true);
  });

  it("a file for a hybrid and an X25519 recipient opens with Go age and the X25519 key", SLOW, async () => {
    const plaintext = plaintextOf(70000);
    const file = await ageEncryptBytes(plaintext, [hybridRcpt, x25519Rcpt]);
    expect(file.toString("latin1", 0, 2000)).toContain("-> mlkem768x25519 ");
    expect(goAge(["-d", "-i", keyFile], file).equals(plaintext)).toBe(true);
    expect(Buffer.from(await typageDecrypt(file, hybridId)).equals(plaintext)).toBe(true);
  });

  it("reads a file Go age wrote to disk, in 4 KiB pieces", SLOW, async () => {
    const plaintext = plaintextOf(3 * CHUNK + 5);
    const path = join(workDir, "go.age");
    const r = spawnSync(GO_AGE, ["-r", x25519Rcpt, "-o", path], { input: plaintext });
    expect(r.status).toBe(0);
    const file = await readFile(path);
    expect((await decryptInPieces(file, new AgeIdentities([x25519Id]), [4096])).equals(plaintext)).toBe(true);
  });
});

describe("interop with typage", () => {
  it.each(SIZES)("(c) ours → typage Decrypter, X25519 and hybrid, %i bytes", SLOW, async (size) => {
    const plaintext = plaintextOf(size);
    const classic = await ageEncryptBytes(plaintext, [x25519Rcpt]);
    expect(Buffer.from(await typageDecrypt(classic, x25519Id)).equals(plaintext)).toBe(true);
    const hybrid = await ageEncryptBytes(plaintext, [hybridRcpt]);
    expect(Buffer.from(await typageDecrypt(hybrid, hybridId)).equals(plaintext)).toBe(true);
  });

  it.each(SIZES)("(d) typage Encrypter → ours, X25519 and hybrid, %i bytes", SLOW, async (size) => {
    const plaintext = plaintextOf(size);
    const classic = await typageEncrypt(plaintext, [x25519Rcpt]);
    expect((await decryptInPieces(classic, new AgeIdentities([x25519Id]))).equals(plaintext)).toBe(true);
    const hybrid = await typageEncrypt(plaintext, [hybridRcpt]);
    const pq = new AgeIdentities([hybridId]);
    expect((await decryptInPieces(hybrid, pq)).equals(plaintext)).toBe(true);
    expect((await decryptInPieces(hybrid, pq, [1, 7, 65553])).equals(plaintext)).toBe(true);
    expect((await ageDecryptBytes(hybrid, pq, "x")).equals(plaintext)).toBe(true);
  });

  it.each([0, 1, 65535, 65536, 65537])("decrypts when fed 1 byte at a time, %i bytes", SLOW, async (size) => {
    const plaintext = plaintextOf(size);
    const file = await ageEncryptBytes(plaintext, [x25519Rcpt]);
    expect((await decryptInPieces(file, new AgeIdentities([x25519Id]), [1])).equals(plaintext)).toBe(true);
  });

  it("tries every identity; several identities of both kinds are allowed", async () => {
    const file = await ageEncryptBytes(Buffer.from("hello"), [hybridRcpt]);
    const ids = new AgeIdentities([otherId, x25519Id, hybridId]);
    expect((await ageDecryptBytes(file, ids, "x")).toString()).toBe("hello");
  });
});

describe("createAgeHeader", () => {
  it("writes one stanza per recipient and returns the key the header was made with", async () => {
    const { header, fileKey } = await createAgeHeader([hybridRcpt, x25519Rcpt]);
    const text = header.toString("latin1");
    expect(text.startsWith("age-encryption.org/v1\n")).toBe(true);
    expect(text.match(/^-> mlkem768x25519 /gm)).toHaveLength(1);
    expect(text.match(/^-> X25519 /gm)).toHaveLength(1);
    expect(text.match(/^-> /gm)).toHaveLength(2);
    expect(text).toMatch(/\n--- [A-Za-z0-9+/]{43}\n$/);
    expect(fileKey).toHaveLength(16);
    for (const id of [x25519Id, hybridId]) {
      expect(Buffer.from(await new AgeIdentities([id]).fileKeyFor(header)).equals(fileKey)).toBe(true);
    }
  });

  it("makes a fresh file key every time", async () => {
    const a = await createAgeHeader([x25519Rcpt]);
    const b = await createAgeHeader([x25519Rcpt]);
    expect(a.fileKey.equals(b.fileKey)).toBe(false);
  });

  it("refuses bad recipients with a config error and never quotes a secret key", async () => {
    await expect(createAgeHeader([])).rejects.toMatchObject({ kind: "config" });
    await expect(createAgeHeader([x25519Rcpt, "age1notarecipient"])).rejects.toMatchObject({
      kind: "config",
      message: expect.stringContaining("#2 of 2") as unknown,
    });
    const err: unknown = await createAgeHeader([x25519Id]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ kind: "config" });
    expect((err as IsnadError).message).not.toContain(x25519Id.slice(16));
  });
});

describe("AgeEncryptor", () => {
  it("gives the same plaintext back however it is written, and counts bytes", async () => {
    const plaintext = plaintextOf(3 * CHUNK + 77);
    const { header, fileKey } = await createAgeHeader([x25519Rcpt]);
    for (const pieces of [[1 << 22], [CHUNK], [CHUNK + 1], [1, 7, 65553], [CHUNK - 1, 2]]) {
      const out: Buffer[] = [];
      const enc = new AgeEncryptor(header, fileKey, (c) => out.push(c));
      expect(out).toHaveLength(1);
      expect(out[0]?.subarray(0, header.length).equals(header)).toBe(true);
      expect(out[0]).toHaveLength(header.length + 16);
      let offset = 0;
      for (let i = 0; offset < plaintext.length; i++) {
        const n = pieces[i % pieces.length] ?? 1;
        enc.write(plaintext.subarray(offset, offset + n));
        offset += n;
      }
      enc.end();
      const file = Buffer.concat(out);
      expect(enc.plaintextBytes).toBe(plaintext.length);
      expect(enc.ciphertextBytes).toBe(file.length);
      expect(file.length).toBe(ageCiphertextSize(plaintext.length, header.length));
      expect((await ageDecryptBytes(file, new AgeIdentities([x25519Id]), "x")).equals(plaintext)).toBe(true);
    }
  });

  it("seals a full chunk only when more data or end() follows", async () => {
    const { header, fileKey } = await createAgeHeader([x25519Rcpt]);
    let emitted = 0;
    const enc = new AgeEncryptor(header, fileKey, (c) => (emitted += c.length));
    const start = emitted;
    enc.write(Buffer.alloc(CHUNK));
    expect(emitted).toBe(start);
    enc.write(Buffer.alloc(1));
    expect(emitted).toBe(start + SEALED_CHUNK);
    enc.end();
    expect(emitted).toBe(start + SEALED_CHUNK + 17);
  });

  it("throws an internal error on write after end", async () => {
    const { header, fileKey } = await createAgeHeader([x25519Rcpt]);
    const enc = new AgeEncryptor(header, fileKey, () => {});
    enc.end();
    expect(() => enc.write(Buffer.from("x"))).toThrow(expect.objectContaining({ kind: "internal" }) as unknown as Error);
  });

  it("ageCiphertextSize matches the format", () => {
    expect(ageCiphertextSize(0, 100)).toBe(100 + 16 + 16);
    expect(ageCiphertextSize(1, 100)).toBe(100 + 16 + 1 + 16);
    expect(ageCiphertextSize(CHUNK, 0)).toBe(16 + CHUNK + 16);
    expect(ageCiphertextSize(CHUNK + 1, 0)).toBe(16 + CHUNK + 1 + 32);
    expect(ageCiphertextSize(1024 ** 3, 0)).toBe(16 + 1024 ** 3 + 16 * 16384);
  });
});

describe("AgeIdentities", () => {
  it("names the malformed identity by position and never quotes it", () => {
    const bad = `${x25519Id.slice(0, -1)}${x25519Id.endsWith("Q") ? "P" : "Q"}`;
    let err: unknown;
    try {
      new AgeIdentities([x25519Id, bad]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IsnadError);
    expect(err).toMatchObject({ kind: "config", message: expect.stringContaining("#2 of 2") as unknown });
    expect(JSON.stringify(err) + String((err as Error).message)).not.toContain(bad.slice(16, 40));
    expect(() => new AgeIdentities([x25519Id.toLowerCase()])).toThrow(/not an age secret key/);
    expect(() => new AgeIdentities(["hunter2"])).toThrow(expect.objectContaining({ kind: "config" }) as unknown as Error);
    expect(() => new AgeIdentities([])).toThrow(expect.objectContaining({ kind: "config" }) as unknown as Error);
  });
});

describe("decrypt refuses damaged files", () => {
  // 3 chunks: two full ones and a short final one.
  const SIZE = 2 * CHUNK + 1000;
  let plaintext: Buffer;
  let file: Buffer;
  let ids: AgeIdentities;
  let payload: number; // offset of the first chunk

  beforeAll(async () => {
    plaintext = plaintextOf(SIZE);
    file = await ageEncryptBytes(plaintext, [x25519Rcpt]);
    ids = new AgeIdentities([x25519Id]);
    payload = headerLengthOf(file) + 16;
    expect(file.length).toBe(payload + 2 * SEALED_CHUNK + 1016);
  });

  const flip = (at: number) => {
    const copy = Buffer.from(file);
    copy[at] = (copy[at] ?? 0) ^ 0x01;
    return copy;
  };

  it("truncation exactly at a chunk boundary, releasing nothing unchecked", async () => {
    for (const pieces of [[1 << 22], [1, 7, 65553]]) {
      const { err, released } = await decryptFailure(file.subarray(0, payload + 2 * SEALED_CHUNK), ids, pieces);
      expect(err).toMatchObject({ kind: "integrity", message: expect.stringMatching(/^pack 3fa2: truncated/) as unknown });
      expect(released).toBeLessThanOrEqual(CHUNK); // chunk 1 was held back, then refused
    }
    const one = await decryptFailure(file.subarray(0, payload + SEALED_CHUNK), ids);
    expect(one.err).toMatchObject({ kind: "integrity", message: expect.stringContaining("truncated") as unknown });
    expect(one.released).toBe(0);
    const none = await decryptFailure(file.subarray(0, payload), ids);
    expect(none.err).toMatchObject({ kind: "integrity", message: "pack 3fa2: truncated: no final chunk" });
  });

  it("truncation inside a chunk", async () => {
    for (const cut of [payload + SEALED_CHUNK + 100, file.length - 1, payload + 5]) {
      const { err } = await decryptFailure(file.subarray(0, cut), ids);
      expect(err).toMatchObject({ kind: "integrity" });
    }
  });

  it("a cut header, or a cut payload nonce", async () => {
    for (const cut of [10, 30, headerLengthOf(file) - 1, headerLengthOf(file) + 8]) {
      const { err } = await decryptFailure(file.subarray(0, cut), ids);
      expect(err).toMatchObject({ kind: "integrity", message: expect.stringContaining("truncated") as unknown });
    }
  });

  it("a flipped byte in the header MAC", async () => {
    const macAt = file.indexOf("\n--- ") + 5;
    const copy = Buffer.from(file);
    copy[macAt] = copy[macAt] === 0x41 ? 0x42 : 0x41; // another base64 letter: still parses
    const { err, released } = await decryptFailure(copy, ids);
    expect(err).toMatchObject({ kind: "integrity", message: "pack 3fa2: invalid header MAC" });
    expect(released).toBe(0);
  });

  it("a flipped byte in the payload nonce", async () => {
    const { err, released } = await decryptFailure(flip(payload - 3), ids);
    expect(err).toMatchObject({ kind: "integrity", message: "pack 3fa2: chunk 0 failed authentication" });
    expect(released).toBe(0);
  });

  it("a flipped byte in the first, middle and last chunk, or in a tag", async () => {
    const cases: [number, number, number][] = [
      [payload + 10, 0, 0],
      [payload + SEALED_CHUNK + 40000, 1, CHUNK],
      [file.length - 500, 2, 2 * CHUNK],
      [file.length - 1, 2, 2 * CHUNK],
      [payload + SEALED_CHUNK - 1, 0, 0],
    ];
    for (const [at, chunk, releasedBefore] of cases) {
      for (const pieces of [[1 << 22], [1, 7, 65553]]) {
        const { err, released } = await decryptFailure(flip(at), ids, pieces);
        expect(err).toMatchObject({ kind: "integrity", message: `pack 3fa2: chunk ${chunk} failed authentication` });
        expect(released).toBe(releasedBefore);
      }
    }
  });

  it("trailing data after the final chunk", async () => {
    const { err } = await decryptFailure(Buffer.concat([file, Buffer.from("x")]), ids);
    expect(err).toMatchObject({ kind: "integrity" });
    // With a full final chunk the trailing bytes are told apart from corruption.
    const full = await ageEncryptBytes(plaintextOf(2 * CHUNK), [x25519Rcpt]);
    for (const extra of [1, 16, SEALED_CHUNK + 3]) {
      const { err: e2 } = await decryptFailure(Buffer.concat([full, Buffer.alloc(extra, 7)]), ids);
      expect(e2).toMatchObject({ kind: "integrity", message: "pack 3fa2: trailing data after final chunk 1" });
    }
    // After a short final chunk the junk cannot be told apart from a damaged chunk, but it fails.
    const empty = await ageEncryptBytes(Buffer.alloc(0), [x25519Rcpt]);
    for (const extra of [1, SEALED_CHUNK]) {
      const { err: e3 } = await decryptFailure(Buffer.concat([empty, Buffer.alloc(extra)]), ids);
      expect(e3).toMatchObject({ kind: "integrity", message: "pack 3fa2: chunk 0 failed authentication" });
    }
  });

  it("an empty final chunk after non-empty ones", async () => {
    // Built by hand with the file key, as a non-conforming encoder would write it.
    const { header, fileKey } = await createAgeHeader([x25519Rcpt]);
    const nonce = randomBytes(16);
    const key = Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
    const seal = (counter: number, last: boolean, data: Buffer) => {
      const iv = Buffer.alloc(12);
      iv.writeUIntBE(counter, 5, 6);
      iv[11] = last ? 1 : 0;
      const c = createCipheriv("chacha20-poly1305", key, iv, { authTagLength: 16 });
      return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
    };
    const odd = Buffer.concat([header, nonce, seal(0, false, plaintextOf(CHUNK)), seal(1, true, Buffer.alloc(0))]);
    const { err, released } = await decryptFailure(odd, ids);
    expect(err).toMatchObject({ kind: "integrity", message: "pack 3fa2: empty final chunk 1 after non-empty ones" });
    expect(released).toBe(CHUNK);
    // The same chunks with a proper final chunk decrypt, so the test builds them right.
    const good = Buffer.concat([header, nonce, seal(0, true, plaintextOf(CHUNK))]);
    expect((await decryptInPieces(good, ids)).equals(plaintextOf(CHUNK))).toBe(true);
  });

  it("the wrong identity is a config error", async () => {
    for (const wrong of [otherId, hybridId]) {
      const { err, released } = await decryptFailure(file, new AgeIdentities([wrong]));
      expect(err).toBeInstanceOf(IsnadError);
      expect(err).toMatchObject({
        kind: "config",
        message: "pack 3fa2: no identity matches this file (wrong or missing identity file?)",
      });
      expect(released).toBe(0);
    }
    await expect(ageDecryptBytes(file, new AgeIdentities([otherId]), "m")).rejects.toMatchObject({ kind: "config" });
  });

  it("not an age file", async () => {
    for (const junk of [Buffer.from("hello world\n"), Buffer.from("PK\x03\x04"), randomBytes(100_000), Buffer.alloc(0)]) {
      const { err } = await decryptFailure(junk, ids);
      expect(err).toMatchObject({ kind: "integrity", message: expect.stringMatching(/^pack 3fa2: not an age file/) as unknown });
    }
    const armored = goArmorLike(file);
    const { err } = await decryptFailure(armored, ids);
    expect(err).toMatchObject({ kind: "integrity", message: expect.stringContaining("not an age file") as unknown });
  });

  it("a header over 1 MiB", async () => {
    const huge = Buffer.concat([Buffer.from("age-encryption.org/v1\n"), Buffer.alloc(1100 * 1024, 0x41)]);
    const { err } = await decryptFailure(huge, ids, [4096]);
    expect(err).toMatchObject({ kind: "integrity", message: expect.stringContaining("larger than") as unknown });
  });

  it("a stanza changed in the header", async () => {
    const at = file.indexOf("-> X25519 ") + 12;
    const { err } = await decryptFailure(flip(at), ids);
    expect(err).toBeInstanceOf(IsnadError);
    expect(["config", "integrity"]).toContain(err.kind);
  });
});

/** A PEM-like wrapping, as `age -a` writes: must be refused, not misread. */
function goArmorLike(file: Buffer): Buffer {
  return Buffer.from(`-----BEGIN AGE ENCRYPTED FILE-----\n${file.toString("base64")}\n-----END AGE ENCRYPTED FILE-----\n`);
}
