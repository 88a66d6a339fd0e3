/**
 * zstd in packs: the per-file choice, the frame standard zstd reads, and flat memory on the way
 * back (ZstdDecoder, as pack/reader.ts uses it).
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { describe, expect, it } from "vitest";
import { IsnadError } from "../../src/errors.js";
import { worthCompressing, ZstdCompressor, ZstdDecoder } from "../../src/pack/compression.js";
import { skipWithout } from "../helpers/cli.js";

function compress(parts: Buffer[]): Buffer {
  const out: Buffer[] = [];
  const z = new ZstdCompressor((c) => out.push(Buffer.from(c)));
  for (const p of parts) z.write(p);
  z.end();
  return Buffer.concat(out);
}

/** Decompresses `data` fed in 1000-byte pieces, so frames and blocks straddle pushes. */
function decompress(data: Buffer, label = "pack x"): Buffer {
  const out: Buffer[] = [];
  const z = new ZstdDecoder(label, (c) => out.push(Buffer.from(c)));
  for (let i = 0; i < data.length; i += 1000) z.push(data.subarray(i, i + 1000));
  z.end();
  return Buffer.concat(out);
}

describe("which files are compressed", () => {
  const text = Buffer.from("<p>the same words again and again</p>\n".repeat(5000));
  it.each([
    ["report.html", text, true],
    ["photo.jpg", text, false], // by name: already compressed formats are not sampled
    ["Scan.PDF", text, false],
    ["noise.bin", crypto.randomBytes(100_000), false], // by sample
    ["tiny.bin", crypto.randomBytes(100), true], // too small to matter
    ["empty", Buffer.alloc(0), true],
    ["dir.jpg/notes.txt", text, true], // the extension is the file's, not a folder's
  ])("%s -> %s", (name, head, want) => {
    expect(worthCompressing(name as string, head as Buffer)).toBe(want);
  });
});

describe("ZstdCompressor and ZstdDecoder", () => {
  it("round-trip any split of the input", () => {
    const data = Buffer.concat([Buffer.from("abc".repeat(100_000)), crypto.randomBytes(300_000)]);
    const parts = [data.subarray(0, 1), data.subarray(1, 70_000), data.subarray(70_000)];
    expect(decompress(compress(parts)).equals(data)).toBe(true);
    expect(decompress(compress([])).length).toBe(0);
  });

  it.skipIf(skipWithout("zstd"))("write a frame that `zstd -d` reads and checks", () => {
    const data = Buffer.from("isnad ".repeat(50_000));
    const r = spawnSync("zstd", ["-d", "-c"], { input: compress([data]) });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.equals(data)).toBe(true);
  });

  it("refuse garbage and a cut frame with an integrity error naming the object", () => {
    const thrown = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const garbage = thrown(() => decompress(Buffer.from("not zstd at all"), "pack abc"));
    expect(garbage).toBeInstanceOf(IsnadError);
    expect(garbage).toMatchObject({ kind: "integrity", message: expect.stringMatching(/^pack abc: bad zstd data/) });
    const frame = compress([Buffer.from("x".repeat(100_000))]);
    const cut = thrown(() => decompress(frame.subarray(0, frame.length - 5), "pack abc"));
    expect(cut).toBeInstanceOf(IsnadError);
    expect(cut).toMatchObject({ kind: "integrity", message: expect.stringMatching(/middle of a frame/) });
  });

  it("keep memory flat when a tiny input expands enormously (output reuses one buffer)", () => {
    const zeros = Buffer.alloc(1 << 20);
    const out: Buffer[] = [];
    const z = new ZstdCompressor((c) => out.push(Buffer.from(c)));
    for (let i = 0; i < 1024; i++) z.write(zeros); // 1 GiB of zeros
    z.end();
    const bomb = Buffer.concat(out);
    expect(bomb.length).toBeLessThan(1 << 20);
    const before = process.memoryUsage().rss;
    let peak = before;
    let total = 0;
    const d = new ZstdDecoder("bomb", (c) => {
      total += c.length;
      if (total % (64 << 20) < c.length) peak = Math.max(peak, process.memoryUsage().rss);
    });
    d.push(bomb);
    d.end();
    expect(total).toBe(1 << 30);
    expect(peak - before).toBeLessThan(128 << 20);
  });
});
