/**
 * Packs written by PackWriter read back by readPackMembers, plain and compressed, written on this
 * thread or through the writer thread (with a small ring, so that frames wrap and wait), with
 * enough members that every stage (age, zstd, tar) has to wait for the next: a stage that
 * mishandles backpressure hangs here (it once did, with zstd and 20 000 files).
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgeIdentities } from "../../src/crypto/age.js";
import { packKey } from "../../src/format/layout.js";
import { readPackMembers } from "../../src/pack/reader.js";
import { ThreadedObjects } from "../../src/pack/objects.js";
import { PackWriter } from "../../src/pack/writer.js";
import { generateIdentity } from "../../src/keys/identity.js";
import { LocalStorage } from "../../src/storage/local.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-pack-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each([
  [false, "inline"],
  [true, "inline"],
  [false, "threaded"],
  [true, "threaded"],
])("a pack of 4000 files (compressed: %s, %s)", (compressed, how) => {
  it("reads back every member with the hash it was written with", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const storage = new LocalStorage(path.join(dir, `repo-${compressed}-${how}`));
    const src = path.join(dir, `src-${compressed}-${how}`);
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
