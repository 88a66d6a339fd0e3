/**
 * The push tar parser (src/format/tar-reader.ts): what it reads must be what GNU tar and
 * tar-stream read, at every chunking of the input, and it must refuse malformed archives.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeFileHeader, paddingFor, TAR_END } from "../../src/format/tar.js";
import { TarFormatError, TarReader, type TarMemberHeader } from "../../src/format/tar-reader.js";

interface Seen {
  header: TarMemberHeader;
  sha256: string;
  bytes: number;
}

/** Parses `archive` fed in pieces of `chunk` bytes; returns every member with a hash of its data. */
function parse(archive: Buffer, chunk: number): Seen[] {
  const seen: Seen[] = [];
  const reader = new TarReader((header) => {
    const h = createHash("sha256");
    let bytes = 0;
    return {
      data: (c) => {
        h.update(c);
        bytes += c.length;
      },
      end: () => seen.push({ header, sha256: h.digest("hex"), bytes }),
    };
  });
  for (let i = 0; i < archive.length; i += chunk) reader.push(archive.subarray(i, i + chunk));
  reader.end();
  return seen;
}

/** The same archive through tar-stream, as the reference. */
async function parseWithTarStream(archive: Buffer): Promise<Array<{ name: string; type: string; size: number; sha256: string; linkname: string }>> {
  const ex = tar.extract();
  const out: Array<{ name: string; type: string; size: number; sha256: string; linkname: string }> = [];
  const done = (async () => {
    for await (const e of ex) {
      const h = createHash("sha256");
      for await (const c of e) h.update(c as Buffer);
      out.push({ name: e.header.name, type: e.header.type ?? "", size: e.header.size ?? 0, sha256: h.digest("hex"), linkname: e.header.linkname ?? "" });
    }
  })();
  Readable.from([archive]).pipe(ex);
  await done;
  return out;
}

const CHUNKINGS = [1, 7, 511, 512, 513, 4096, 65536, 1 << 30];

function member(name: string, data: Buffer): Buffer {
  return Buffer.concat([encodeFileHeader({ name, size: data.length, mode: 0o640, mtime: 1_700_000_000 }), data, Buffer.alloc(paddingFor(data.length))]);
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-tar-reader-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("TarReader on isnad's own tar", () => {
  const files: Array<[string, Buffer]> = [
    ["a/empty", Buffer.alloc(0)],
    ["a/one", Buffer.from("x")],
    ["a/block", randomBytes(512)],
    ["a/odd", randomBytes(70_001)],
    [`deep/${"d".repeat(120)}/long name with spaces.txt`, randomBytes(1000)],
    ["شهادة/وثيقة.txt", Buffer.from("testimony")],
  ];
  const archive = Buffer.concat([...files.map(([n, d]) => member(n, d)), TAR_END]);

  it.each(CHUNKINGS)("reads every member, name and byte, in chunks of %i", (chunk) => {
    const seen = parse(archive, chunk);
    expect(seen.map((s) => s.header.name)).toEqual(files.map(([n]) => n));
    for (const [i, [, data]] of files.entries()) {
      expect(seen[i]!.bytes).toBe(data.length);
      expect(seen[i]!.header.size).toBe(data.length);
      expect(seen[i]!.sha256).toBe(createHash("sha256").update(data).digest("hex"));
      expect(seen[i]!.header.type).toBe("file");
      expect(seen[i]!.header.mode).toBe(0o640);
      expect(seen[i]!.header.mtime).toBe(1_700_000_000);
    }
  });

  it("skips the bytes of a member the visitor does not want", () => {
    const names: string[] = [];
    const reader = new TarReader((h) => {
      names.push(h.name);
      return undefined;
    });
    reader.push(archive);
    reader.end();
    expect(names).toEqual(files.map(([n]) => n));
  });

  it("refuses an archive cut short, anywhere", () => {
    for (const cut of [100, 512, 600, archive.length - 1025, archive.length - 1024]) {
      expect(() => parse(archive.subarray(0, cut), 4096), `cut at ${cut}`).toThrow(TarFormatError);
    }
    expect(() => parse(Buffer.alloc(0), 1)).toThrow(/empty archive/);
    // One end-of-archive block is enough (GNU tar reads a lone zero block too).
    expect(parse(archive.subarray(0, archive.length - 512), 4096).length).toBe(files.length);
  });

  it("refuses data after the end of the archive, and a bad checksum", () => {
    expect(() => parse(Buffer.concat([archive, Buffer.from("junk")]), 4096)).toThrow(/after the end/);
    const bad = Buffer.from(archive);
    bad[10] = bad[10]! ^ 1; // inside the first header's name
    expect(() => parse(bad, 4096)).toThrow(/checksum/);
  });

  it("an error thrown by the visitor stops the parse", () => {
    const reader = new TarReader(() => {
      throw new Error("stop here");
    });
    expect(() => reader.push(archive)).toThrow("stop here");
  });
});

describe("TarReader agrees with GNU tar and tar-stream", () => {
  let tree: string;
  beforeAll(() => {
    tree = path.join(dir, "tree");
    fs.mkdirSync(path.join(tree, "sub", "x".repeat(150)), { recursive: true });
    fs.writeFileSync(path.join(tree, "sub", "x".repeat(150), "y".repeat(120)), randomBytes(3000));
    fs.writeFileSync(path.join(tree, "plain.txt"), "hello\n");
    fs.writeFileSync(path.join(tree, "big"), randomBytes(1_500_000));
    fs.symlinkSync("plain.txt", path.join(tree, "link"));
    fs.linkSync(path.join(tree, "plain.txt"), path.join(tree, "hard"));
    execFileSync("mkfifo", [path.join(tree, "fifo")]);
  });

  for (const format of ["gnu", "pax", "ustar"]) {
    it(`--format=${format}`, async () => {
      const file = path.join(dir, `${format}.tar`);
      try {
        execFileSync("tar", ["-cf", file, `--format=${format}`, "--sort=name", "-C", tree, "."], { stdio: "pipe" });
      } catch (e) {
        // ustar and v7 cannot hold the 270-byte name: GNU tar says so and leaves it out.
        if (!/name too long|file name is too long/i.test(String((e as { stderr?: Buffer }).stderr))) throw e;
      }
      const archive = fs.readFileSync(file);
      const reference = await parseWithTarStream(archive);
      for (const chunk of [1, 512, 65536]) {
        const mine = parse(archive, chunk).map((s) => ({ name: s.header.name, type: s.header.type, size: s.header.size, sha256: s.sha256, linkname: s.header.linkname }));
        expect(mine.map((m) => m.name)).toEqual(reference.map((r) => r.name));
        for (const [i, m] of mine.entries()) {
          const r = reference[i]!;
          expect(m.type).toBe(r.type);
          expect(m.linkname).toBe(r.linkname);
          if (m.type === "file") {
            expect(m.size).toBe(r.size);
            expect(m.sha256).toBe(r.sha256);
          }
        }
      }
      expect(reference.map((r) => r.type)).toEqual(expect.arrayContaining(["file", "directory", "symlink", "link", "fifo"]));
    });
  }

  it("reads tar-stream's pax headers and GNU base-256 sizes", async () => {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on("data", (c) => chunks.push(c as Buffer));
    const ended = new Promise<void>((r) => pack.on("end", () => r()));
    pack.entry({ name: "ü/".repeat(80) + "file", size: 3 }, Buffer.from("abc"));
    pack.entry({ name: "s", type: "symlink", linkname: "../".repeat(60) + "etc/passwd" });
    pack.finalize();
    await ended;
    const seen = parse(Buffer.concat(chunks), 333);
    expect(seen.map((s) => s.header.name)).toEqual(["ü/".repeat(80) + "file", "s"]);
    expect(seen[1]!.header.linkname).toBe("../".repeat(60) + "etc/passwd");

    const header = Buffer.from(encodeFileHeader({ name: "n", size: 0, mode: 0o644, mtime: 0 }));
    header[124] = 0x80; // base-256: size field = 5
    header.fill(0, 125, 136);
    header[135] = 5;
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
    const seen2 = parse(Buffer.concat([header, Buffer.from("12345"), Buffer.alloc(507), TAR_END]), 100);
    expect(seen2[0]!.header.size).toBe(5);
    expect(seen2[0]!.bytes).toBe(5);
  });
});
