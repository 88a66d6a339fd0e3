/**
 * While the writer thread is behind, the main thread compresses part of a compressed pack itself
 * (pack/shared-compression.ts), so the pack's plaintext is a sequence of zstd frames made on
 * either thread. Against a ring whose backlog the test sets, it starts and stops at its
 * thresholds and the object holds exactly the frames that implies. Through the real writer
 * thread, forced to share always or left to switch with the backlog, a pack still reads back
 * member for member through isnad's reader and through `age -d | zstd -d | tar -x` with
 * `sha256sum -c`.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgeIdentities } from "../../src/crypto/age.js";
import { packKey } from "../../src/format/layout.js";
import { generateIdentity } from "../../src/keys/identity.js";
import { ThreadedObjects } from "../../src/pack/objects.js";
import { readPackMembers } from "../../src/pack/reader.js";
import type { ShareThresholds } from "../../src/pack/shared-compression.js";
import { PackWriter } from "../../src/pack/writer.js";
import { LocalStorage } from "../../src/storage/local.js";
import binding from "zstd-napi/binding.js";
import { decryptChunks, localChunks } from "../../src/pack/decrypt.js";
import type { EncryptedObjectWriter } from "../../src/pack/object-writer.js";
import { InlineObjects } from "../../src/pack/objects.js";
import { FRAME, type RingProducer } from "../../src/pack/ring.js";
import { SharedCompression } from "../../src/pack/shared-compression.js";
import { skipWithout } from "../helpers/cli.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-shared-zstd-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sh = (cmd: string, cwd: string) => spawnSync("bash", ["-o", "pipefail", "-c", cmd], { cwd, encoding: "utf8" });

/** Files of every kind the pack writer handles differently: small, just over a read, several reads; text and noise. */
function makeFiles(src: string): string[] {
  fs.mkdirSync(src);
  const names: string[] = [];
  for (let i = 0; i < 300; i++) {
    const size = i % 50 === 0 ? (1 << 20) * (1 + (i % 3)) + 777 : 500 + ((i * 7919) % 40_000);
    const data = i % 3 === 0 ? randomBytes(size) : Buffer.from(`line ${i} of text that compresses well\n`.repeat(Math.ceil(size / 40))).subarray(0, size);
    const name = `f${String(i).padStart(3, "0")}`;
    fs.writeFileSync(path.join(src, name), data);
    names.push(name);
  }
  return names;
}

/**
 * The ring as SharedCompression sees it, with a backlog the test sets, feeding the object writer
 * directly as the writer thread would: plaintext through its compressor, FRAME.zstd bytes past it.
 */
class StubRing {
  readonly capacity = 1 << 20;
  backlogBytes = 0;
  private readonly scratch = Buffer.alloc(1 << 20);
  constructor(private readonly writer: EncryptedObjectWriter) {}
  backlog(): number {
    return this.backlogBytes;
  }
  append(_stream: number, data: Uint8Array, type: number = FRAME.data): void {
    if (type === FRAME.zstd) this.writer.writeCompressed(data);
    else this.writer.write(data);
  }
  reserve(_stream: number, max: number): Buffer {
    return this.scratch.subarray(0, max);
  }
  commit(n: number): void {
    this.writer.write(this.scratch.subarray(0, n));
  }
}

describe("SharedCompression against a ring whose backlog the test sets", () => {
  it("compresses here from the start level until the stop level, a whole frame each time", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const writer = (await new InlineObjects(dir, [recipient]).create("pack", { compress: true })) as EncryptedObjectWriter;
    const ring = new StubRing(writer);
    const shared = new SharedCompression(ring as unknown as RingProducer, 1);
    const parts: Buffer[] = [];
    const write = (backlog: number, text: string, via: "write" | "reserve") => {
      ring.backlogBytes = backlog * ring.capacity;
      const data = Buffer.from(text.repeat(5000));
      parts.push(data);
      if (via === "write") shared.write(data);
      else {
        const buf = shared.reserve(data.length);
        data.copy(buf);
        shared.commit(data.length);
      }
    };
    write(0, "a", "write"); // writer thread's frame 1
    write(0.7, "b", "reserve"); // under 3/4: still the writer's
    write(0.9, "c", "write"); // over 3/4: here, frame 2
    write(0.5, "d", "reserve"); // above 1/4: still here
    write(0.1, "e", "write"); // under 1/4: frame 2 ends, writer's frame 3
    write(0.8, "f", "reserve"); // here again, frame 4
    shared.end();
    writer.end();
    const staged = writer.result()!;

    // The decrypted plaintext, before decompression: the zstd frames themselves.
    const chunks: Buffer[] = [];
    await decryptChunks(localChunks(dir, path.basename(staged.file)), { id: staged.id, size: staged.size }, new AgeIdentities([identity]), "stub", (c) => chunks.push(Buffer.from(c)));
    const zst = Buffer.concat(chunks);
    const frames: Buffer[] = [];
    for (let off = 0; off < zst.length; ) {
      const n = binding.findFrameCompressedSize(zst.subarray(off));
      frames.push(zst.subarray(off, off + n));
      off += n;
    }
    const text = (f: Buffer) => {
      const out = Buffer.alloc(1 << 20);
      return out.subarray(0, binding.decompress(out, f)).toString("latin1");
    };
    expect(frames.map(text)).toEqual(["a".repeat(5000) + "b".repeat(5000), "c".repeat(5000) + "d".repeat(5000), "e".repeat(5000), "f".repeat(5000)]);
  });
});

describe.each([
  // One frame, all made here: the writer thread adds no empty frame of its own at the end.
  ["always on this thread", { start: 0, stop: -1 }, (n: number) => expect(n).toBe(1)],
  // Whether and how often it switches depends on how fast the writer thread drains the ring.
  ["switching with the backlog", { start: 0.3, stop: 0.05 }, (n: number) => expect(n).toBeGreaterThanOrEqual(1)],
] as Array<[string, ShareThresholds, (frames: number) => void]>)("a compressed pack with the main thread's share of zstd (%s)", (label, share, checkFrames) => {
  it("reads back member for member, with isnad's reader and with age | zstd -d | tar", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const slug = label.replace(/\W+/g, "-");
    const storage = new LocalStorage(path.join(dir, `repo-${slug}`));
    const src = path.join(dir, `src-${slug}`);
    const names = makeFiles(src);
    const objects = new ThreadedObjects(await storage.stagingDir(), [recipient], { ringBytes: 1 << 20, share });
    const w = new PackWriter(await objects.create("pack", { compress: true }), true);
    const want = new Map<string, string>();
    for (const name of names) {
      const fd = fs.openSync(path.join(src, name), "r");
      const st = fs.fstatSync(fd, { bigint: true });
      want.set(`src/${name}`, w.addFile(`src/${name}`, fd, { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino }, 0o644).sha256);
      fs.closeSync(fd);
    }
    const staged = w.finish();
    await objects.close();
    await storage.putFile(packKey(staged.id), staged.file);

    const got = new Map<string, string>();
    const ref = { id: staged.id, size: staged.size, compression: "zstd" as const };
    await readPackMembers(storage, packKey(staged.id), ref, new AgeIdentities([identity]), (m) => {
      const h = createHash("sha256");
      return { data: (c) => h.update(c), end: () => got.set(m.name, h.digest("hex")) };
    });
    expect(got.size).toBe(names.length + 1); // and .isnad/manifest-sha256.txt
    for (const [name, sha] of want) expect(got.get(name), name).toBe(sha);
    for (const name of names) expect(want.get(`src/${name}`)).toBe(createHash("sha256").update(fs.readFileSync(path.join(src, name))).digest("hex"));

    if (skipWithout("age") || skipWithout("zstd")) {
      console.warn("SKIPPED: the standard-tools half of this test needs Debian's age and zstd (CI installs them)");
      return;
    }
    const key = path.join(dir, `key-${slug}.txt`);
    fs.writeFileSync(key, `${identity}\n`);
    const out = path.join(dir, `out-${slug}`);
    fs.mkdirSync(out);
    const file = path.join(storage.localRoot!, ...packKey(staged.id).split("/"));
    const x = sh(`age -d -i '${key}' '${file}' > plain.zst && zstd -d -c plain.zst | tar -x && sha256sum -c --quiet .isnad/manifest-sha256.txt`, out);
    expect(x.status, x.stderr + x.stdout).toBe(0);
    checkFrames(Number(/^\s*(\d+)\s/m.exec(sh("zstd -l plain.zst", out).stdout)?.[1]));
  });
});
