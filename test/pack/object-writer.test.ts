/**
 * EncryptedObjectWriter hands its output buffer and zstd compressor to the next object of the
 * same thread (pack/object-writer.ts). Reuse must not leak one object's bytes or zstd state into
 * another: objects written one after another, and one abandoned in the middle of a zstd frame,
 * each decrypt and decompress to exactly what was written to them.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgeIdentities } from "../../src/crypto/age.js";
import { generateIdentity } from "../../src/keys/identity.js";
import { InlineObjects, finishObject, type ObjectOutput } from "../../src/pack/objects.js";
import { decryptChunks, localChunks } from "../../src/pack/reader.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-object-writer-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function plaintextOf(ids: AgeIdentities, staged: { file: string; id: string; size: number }, compressed: boolean): Promise<Buffer> {
  const parts: Buffer[] = [];
  const ref = { id: staged.id, size: staged.size, ...(compressed ? { compression: "zstd" as const } : {}) };
  await decryptChunks(localChunks(dir, path.basename(staged.file)), ref, ids, "test object", (c) => parts.push(Buffer.from(c)));
  return Buffer.concat(parts);
}

/** Text that compresses, in pieces, so the compressor holds a frame open between writes. */
function text(seed: string, bytes: number): Buffer {
  return Buffer.from(`${seed} `.repeat(Math.ceil(bytes / (seed.length + 1)))).subarray(0, bytes);
}

describe("objects written one after another on one thread", () => {
  it("each decrypts and decompresses to its own bytes, after one was abandoned mid-frame", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const ids = new AgeIdentities([identity]);
    const objects = new InlineObjects(dir, [recipient]);
    const write = (o: ObjectOutput, data: Buffer): void => {
      for (let off = 0; off < data.length; off += 100_000) o.write(data.subarray(off, off + 100_000));
    };

    const a = text("first object", 3 << 20);
    const first = await objects.create("pack", { compress: true });
    write(first, a);
    const stagedA = finishObject(first);

    // Abandoned with a frame half written: its compressor goes back to the pool mid-frame.
    const dropped = await objects.create("pack", { compress: true });
    write(dropped, text("abandoned", 2 << 20));
    dropped.abort();

    const b = Buffer.concat([text("second object", 1 << 20), randomBytes(300_000), text("tail", 70_000)]);
    const second = await objects.create("pack", { compress: true });
    const plain = await objects.create("manifest", { compress: false }); // open side by side
    write(second, b);
    write(plain, a);
    const stagedB = finishObject(second);
    const stagedPlain = finishObject(plain);

    const empty = await objects.create("pack", { compress: true });
    const stagedEmpty = finishObject(empty);

    expect((await plaintextOf(ids, stagedA, true)).equals(a)).toBe(true);
    expect((await plaintextOf(ids, stagedB, true)).equals(b)).toBe(true);
    expect((await plaintextOf(ids, stagedPlain, false)).equals(a)).toBe(true);
    expect((await plaintextOf(ids, stagedEmpty, true)).length).toBe(0);
  });
});
