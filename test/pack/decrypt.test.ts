/**
 * The read thread holds no identity: the main thread opens each object's age header
 * (openLocalHeader) and hands over the file key, which openedKey gives only for that exact header.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgeIdentities, ageEncryptBytes } from "../../src/crypto/age.js";
import { generateIdentity } from "../../src/keys/identity.js";
import { decryptChunks, localChunks, openedKey, openLocalHeader } from "../../src/pack/decrypt.js";
import { sha256Hex } from "../../src/format/seal.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-decrypt-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function stored(name: string, plaintext: Buffer, recipient: string) {
  const bytes = await ageEncryptBytes(plaintext, [recipient]);
  fs.writeFileSync(path.join(dir, name), bytes);
  return { key: name, ref: { id: sha256Hex(bytes), size: bytes.length } };
}

async function decrypt(key: string, ref: { id: string; size: number }, keys: Parameters<typeof decryptChunks>[2]): Promise<Buffer> {
  const parts: Buffer[] = [];
  await decryptChunks(localChunks(dir, key), ref, keys, `object ${key}`, (c) => parts.push(Buffer.from(c)));
  return Buffer.concat(parts);
}

describe("openLocalHeader and openedKey", () => {
  it("open the header on one side and decrypt the object with its key on the other", async () => {
    for (const kind of ["classic", "hybrid"] as const) {
      const { identity, recipient } = await generateIdentity(kind);
      const plaintext = randomBytes(200_000);
      const o = await stored(`ok-${kind}`, plaintext, recipient);
      const { header, fileKey } = await openLocalHeader(dir, o.key, new AgeIdentities([identity]), "test");
      expect(header.subarray(0, 22).toString("latin1")).toBe("age-encryption.org/v1\n");
      expect(header.at(-1)).toBe(0x0a);
      expect(fileKey.length).toBe(16);
      expect((await decrypt(o.key, o.ref, openedKey(header, fileKey))).equals(plaintext)).toBe(true);
    }
  });

  it("openedKey gives no key for another header (the object was swapped between the two reads)", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const a = await stored("swap-a", Buffer.from("first"), recipient);
    const b = await stored("swap-b", Buffer.from("second"), recipient);
    const opened = await openLocalHeader(dir, a.key, new AgeIdentities([identity]), "test");
    await expect(decrypt(b.key, b.ref, openedKey(opened.header, opened.fileKey))).rejects.toMatchObject({
      kind: "integrity",
      message: expect.stringContaining("the age header changed between two reads"),
    });
  });

  it("names a missing object, a file that is not age, and an identity that does not match", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const ids = new AgeIdentities([identity]);
    await expect(openLocalHeader(dir, "nope", ids, "test")).rejects.toMatchObject({ kind: "storage", notFound: true });
    fs.writeFileSync(path.join(dir, "not-age"), "hello, this is not an age file\n");
    await expect(openLocalHeader(dir, "not-age", ids, "object x")).rejects.toMatchObject({ kind: "integrity", message: expect.stringContaining("object x: not an age file") });
    fs.writeFileSync(path.join(dir, "cut"), (await ageEncryptBytes(Buffer.from("x"), [recipient])).subarray(0, 30));
    await expect(openLocalHeader(dir, "cut", ids, "object y")).rejects.toMatchObject({ kind: "integrity", message: expect.stringContaining("object y: truncated") });
    const other = await generateIdentity("classic");
    const o = await stored("other", Buffer.from("secret"), other.recipient);
    await expect(openLocalHeader(dir, o.key, ids, "object z")).rejects.toMatchObject({ kind: "config", message: expect.stringContaining("no identity matches") });
  });
});
