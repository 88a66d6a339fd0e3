/**
 * Packs written by PackWriter read back by readPackMembers, plain and compressed, written on this
 * thread or through the writer thread (with a small ring, so that frames wrap and wait), read on
 * this thread or through the read thread, with
 * enough members that every stage (age, zstd, tar) has to wait for the next: a stage that
 * mishandles backpressure hangs here (it once did, with zstd and 20 000 files).
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { AgeIdentities } from "../../src/crypto/age.js";
import { packKey } from "../../src/format/layout.js";
import { readPackMembers, useReadThread } from "../../src/pack/reader.js";
import { ThreadedObjects } from "../../src/pack/objects.js";
import { readerFor } from "../../src/pack/threaded-reader.js";
import { PackWriter } from "../../src/pack/writer.js";
import { generateIdentity } from "../../src/keys/identity.js";
import { LocalStorage } from "../../src/storage/local.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-pack-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => useReadThread(true));

describe.each([
  [false, "inline", "inline"],
  [true, "inline", "threaded"],
  [false, "threaded", "threaded"],
  [true, "threaded", "inline"],
])("a pack of 4000 files (compressed: %s, written %s, read %s)", (compressed, how, reading) => {
  it("reads back every member with the hash it was written with", async () => {
    useReadThread(reading === "threaded");
    const { identity, recipient } = await generateIdentity("classic");
    const storage = new LocalStorage(path.join(dir, `repo-${compressed}-${how}-${reading}`));
    const src = path.join(dir, `src-${compressed}-${how}-${reading}`);
    fs.mkdirSync(src);
    const staging = await storage.stagingDir();
    const objects = how === "threaded" ? new ThreadedObjects(staging, [recipient], { ringBytes: 256 << 10 }) : undefined;
    const w = objects ? new PackWriter(await objects.create("pack", { compress: compressed }), compressed) : await PackWriter.open(staging, [recipient], compressed);
    const want = new Map<string, string>();
    for (let i = 0; i < 4000; i++) {
      const f = path.join(src, `f${i}`);
      fs.writeFileSync(f, i % 2 ? `text ${i} `.repeat(200 + (i % 300)) : randomBytes(1000 + i));
      const fd = fs.openSync(f, "r");
      const st = fs.fstatSync(fd, { bigint: true });
      const added = w.addFile(`src/f${i}`, fd, { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino }, 0o644);
      fs.closeSync(fd);
      want.set(`src/f${i}`, added.sha256);
      expect(added.sha256).toBe(createHash("sha256").update(fs.readFileSync(f)).digest("hex"));
    }
    const staged = w.finish();
    await objects?.close();
    await storage.putFile(packKey(staged.id), staged.file);
    const got = new Map<string, string>();
    await readPackMembers(storage, packKey(staged.id), { id: staged.id, size: staged.size, ...(compressed ? { compression: "zstd" as const } : {}) }, new AgeIdentities([identity]), (m) => {
      const h = createHash("sha256");
      return { data: (c) => h.update(c), end: () => got.set(m.name, h.digest("hex")) };
    });
    expect(got.size).toBe(4001); // and .isnad/manifest-sha256.txt
    for (const [name, sha] of want) expect(got.get(name), name).toBe(sha);
  });
});

describe("the read thread", () => {
  /** A stored pack of three small files, and the identities that open it (`repo`: in a shared repository, under its key). */
  async function storedPack(name: string, repo?: { root: string; key: { identity: string; recipient: string } }) {
    const { identity, recipient } = repo?.key ?? (await generateIdentity("classic"));
    const storage = new LocalStorage(repo?.root ?? path.join(dir, name));
    const w = await PackWriter.open(await storage.stagingDir(), [recipient], true);
    for (let i = 0; i < 3; i++) {
      const f = path.join(dir, `${name}-f${i}`);
      fs.writeFileSync(f, `file ${i}\n`.repeat(1000));
      const fd = fs.openSync(f, "r");
      const st = fs.fstatSync(fd, { bigint: true });
      w.addFile(`f${i}`, fd, { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino }, 0o644);
      fs.closeSync(fd);
    }
    const staged = w.finish();
    await storage.putFile(packKey(staged.id), staged.file);
    const ref = { id: staged.id, size: staged.size, compression: "zstd" as const };
    return { storage, ref, key: packKey(staged.id), file: path.join(repo?.root ?? path.join(dir, name), ...packKey(staged.id).split("/")), ids: new AgeIdentities([identity]) };
  }
  const names = async (p: Awaited<ReturnType<typeof storedPack>>): Promise<string[]> => {
    const got: string[] = [];
    await readPackMembers(p.storage, p.key, p.ref, p.ids, (m) => (got.push(m.name), undefined));
    return got;
  };

  it("reports a changed byte as an integrity error naming the pack, then reads the next pack", async () => {
    const p = await storedPack("rt-flip");
    const bytes = fs.readFileSync(p.file);
    bytes[bytes.length - 40]! ^= 1;
    fs.chmodSync(p.file, 0o600);
    fs.writeFileSync(p.file, bytes);
    await expect(names(p)).rejects.toMatchObject({ kind: "integrity", message: expect.stringContaining(`pack ${p.ref.id.slice(0, 16)}`) });
    const good = await storedPack("rt-good");
    expect(await names(good)).toEqual(["f0", "f1", "f2", ".isnad/manifest-sha256.txt"]);
  });

  it("reports a missing pack as a storage error that says it is missing", async () => {
    const p = await storedPack("rt-missing");
    fs.rmSync(p.file);
    await expect(names(p)).rejects.toMatchObject({ kind: "storage", notFound: true, message: expect.stringContaining("missing") });
  });

  it("passes on what the visitor throws, and the thread goes on with the next read", async () => {
    const p = await storedPack("rt-visitor");
    await expect(
      readPackMembers(p.storage, p.key, p.ref, p.ids, () => {
        throw new Error("visitor gave up");
      }),
    ).rejects.toThrow("visitor gave up");
    expect(await names(p)).toHaveLength(4);
  });

  it("reads the next pack ahead: the read that follows takes the job already posted, any other read drops it", async () => {
    const repo = { root: path.join(dir, "rt-ahead"), key: await generateIdentity("classic") };
    const [a, b, c] = [await storedPack("a", repo), await storedPack("b", repo), await storedPack("c", repo)];
    const all = ["f0", "f1", "f2", ".isnad/manifest-sha256.txt"];
    const read = async (p: typeof a, next?: typeof a, visit?: (name: string) => void): Promise<string[]> => {
      const got: string[] = [];
      await readPackMembers(p.storage, p.key, p.ref, p.ids, (m) => (visit?.(m.name), got.push(m.name), undefined), next && { key: next.key, ref: next.ref });
      return got;
    };
    const reader = readerFor();
    const posted = reader.posted;
    expect(await read(a, b)).toEqual(all);
    expect(reader.posted).toBe(posted + 2);
    expect(await read(b)).toEqual(all);
    expect(reader.posted).toBe(posted + 2); // b was posted already
    // b posted ahead, then c read instead: b's frames are skipped, c's read in full.
    expect(await read(a, b)).toEqual(all);
    expect(await read(c)).toEqual(all);
    expect(reader.posted).toBe(posted + 5);
    // The visitor gives up on a: b, posted ahead, is still read whole.
    await expect(read(a, b, () => {
      throw new Error("visitor gave up");
    })).rejects.toThrow("visitor gave up");
    expect(await read(b)).toEqual(all);
    expect(reader.posted).toBe(posted + 7);
    // A pack posted ahead that cannot be opened: not posted; reading it reports what is wrong.
    fs.rmSync(c.file);
    expect(await read(a, c)).toEqual(all);
    expect(reader.posted).toBe(posted + 8);
    await expect(read(c)).rejects.toMatchObject({ kind: "storage", notFound: true });
    expect(readerFor()).toBe(reader);
  });

  it("refuses a pack under identities that do not match, as a config error", async () => {
    const p = await storedPack("rt-wrong-key");
    const other = await generateIdentity("classic");
    await expect(names({ ...p, ids: new AgeIdentities([other.identity]) })).rejects.toMatchObject({ kind: "config" });
  });
});
