/**
 * The tar framing of packs (src/format/tar.ts). Three checks: the header fields byte by byte
 * against the POSIX ustar/pax layout, golden header bytes (test/vectors/tar/*.hex) so an
 * accidental change is caught, and whole archives read by the standard tools: GNU tar lists and
 * extracts them byte for byte, tar-stream (an independent reader) parses the same names.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { extract } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeFileHeader, paddingFor, TAR_BLOCK, TAR_END, writePlainHeader, type TarFileHeader } from "../../src/format/tar.js";
import {
  formatHexVector,
  itWithTools,
  maybeWriteVector,
  parseHexVector,
  readVector,
  run,
  tempDir,
  vectorExists,
  WRITE_VECTORS,
} from "./helpers.js";

const MTIME = 1_700_000_000; // 2023-11-14T22:13:20Z, fixed so the vectors do not move

// ---- an independent reader of the ustar fields (POSIX.1-2001 pax, "ustar Interchange Format") ----

/** Bytes of a field up to its first NUL. */
const field = (b: Buffer, off: number, len: number): Buffer => {
  const f = b.subarray(off, off + len);
  const nul = f.indexOf(0);
  return nul === -1 ? f : f.subarray(0, nul);
};
const text = (b: Buffer, off: number, len: number): string => field(b, off, len).toString("utf8");
const octal = (b: Buffer, off: number, len: number): number => {
  const s = text(b, off, len).trim();
  expect(s).toMatch(/^[0-7]+$/);
  return parseInt(s, 8);
};

interface Ustar {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  storedChecksum: number;
  computedChecksum: number;
  typeflag: string;
  linkname: string;
  magic: string;
  version: string;
  uname: string;
  gname: string;
  prefix: string;
}

function readUstar(b: Buffer): Ustar {
  expect(b.length).toBe(TAR_BLOCK);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return {
    name: text(b, 0, 100),
    mode: octal(b, 100, 8),
    uid: octal(b, 108, 8),
    gid: octal(b, 116, 8),
    size: octal(b, 124, 12),
    mtime: octal(b, 136, 12),
    storedChecksum: octal(b, 148, 8),
    computedChecksum: sum,
    typeflag: String.fromCharCode(b[156]!),
    linkname: text(b, 157, 100),
    magic: b.subarray(257, 263).toString("latin1"),
    version: b.subarray(263, 265).toString("latin1"),
    uname: text(b, 265, 32),
    gname: text(b, 297, 32),
    prefix: text(b, 345, 155),
  };
}

/** Every numeric field is zero-padded octal ending in NUL; the checksum is 6 digits, NUL, space. */
function expectStrictFieldEncoding(b: Buffer): void {
  for (const [off, len] of [[100, 8], [108, 8], [116, 8], [124, 12], [136, 12]] as const) {
    expect(b.subarray(off, off + len).toString("latin1")).toMatch(new RegExp(`^[0-7]{${len - 1}}\\x00$`));
  }
  expect(b.subarray(148, 156).toString("latin1")).toMatch(/^[0-7]{6}\x00 $/);
  expect(b.subarray(329, 345).every((x) => x === 0)).toBe(true); // devmajor, devminor
  expect(b.subarray(500, 512).every((x) => x === 0)).toBe(true); // padding
}

/** Splits encodeFileHeader's output into (optional pax header + records) and the main block. */
function splitHeader(h: Buffer): { pax?: { block: Ustar; records: Map<string, string>; raw: Buffer }; main: Ustar; mainBytes: Buffer } {
  expect(h.length % TAR_BLOCK).toBe(0);
  const first = readUstar(h.subarray(0, TAR_BLOCK));
  if (first.typeflag !== "x") {
    expect(h.length).toBe(TAR_BLOCK);
    return { main: first, mainBytes: h };
  }
  const raw = h.subarray(TAR_BLOCK, TAR_BLOCK + first.size);
  expect(h.length).toBe(TAR_BLOCK + first.size + paddingFor(first.size) + TAR_BLOCK);
  // Padding after the records is zeros.
  expect(h.subarray(TAR_BLOCK + first.size, h.length - TAR_BLOCK).every((x) => x === 0)).toBe(true);
  const mainBytes = h.subarray(h.length - TAR_BLOCK);
  return { pax: { block: first, records: parsePaxRecords(raw), raw }, main: readUstar(mainBytes), mainBytes };
}

/** "<len> <key>=<value>\n" with <len> the record's byte length, its own digits included. */
function parsePaxRecords(raw: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let rest = raw;
  while (rest.length > 0) {
    const sp = rest.indexOf(0x20);
    expect(sp).toBeGreaterThan(0);
    const len = Number(rest.subarray(0, sp).toString("ascii"));
    expect(String(len)).toBe(rest.subarray(0, sp).toString("ascii")); // decimal, no leading zeros
    const record = rest.subarray(sp + 1, len);
    expect(rest[len - 1]).toBe(0x0a);
    const s = record.subarray(0, record.length - 1).toString("utf8");
    const eq = s.indexOf("=");
    out.set(s.slice(0, eq), s.slice(eq + 1));
    rest = rest.subarray(len);
  }
  return out;
}

const ustarName = (name: string) => name.replace(/[^\x20-\x7e]/g, "_").slice(-100);

describe("encodeFileHeader: one ustar block", () => {
  it("short ASCII name: every field where POSIX puts it", () => {
    const h = encodeFileHeader({ name: "docs/readme.txt", size: 5, mode: 0o644, mtime: MTIME });
    expect(h.length).toBe(512);
    const u = readUstar(h);
    expect(u).toEqual({
      name: "docs/readme.txt",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 5,
      mtime: MTIME,
      storedChecksum: u.computedChecksum,
      computedChecksum: u.computedChecksum,
      typeflag: "0",
      linkname: "",
      magic: "ustar\0",
      version: "00",
      uname: "",
      gname: "",
      prefix: "",
    });
    expectStrictFieldEncoding(h);
    expect(h.subarray(0, 100).subarray("docs/readme.txt".length).every((x) => x === 0)).toBe(true);
    expect(h.subarray(100, 108).toString("latin1")).toBe("0000644\0");
    expect(h.subarray(124, 136).toString("latin1")).toBe("00000000005\0");
    expect(h.subarray(136, 148).toString("latin1")).toBe(`${MTIME.toString(8).padStart(11, "0")}\0`);
  });

  it("a name of exactly 100 bytes fills the name field with no NUL and needs no pax header", () => {
    const name = `d100/${"n".repeat(95)}`;
    expect(Buffer.byteLength(name)).toBe(100);
    const h = encodeFileHeader({ name, size: 1, mode: 0o644, mtime: MTIME });
    expect(h.length).toBe(512);
    expect(h.subarray(0, 100).toString("ascii")).toBe(name);
    expect(h[100]).toBe(0x30); // the mode field starts right after, unharmed
    const u = readUstar(h);
    expect(u.name).toBe(name);
    expect(u.storedChecksum).toBe(u.computedChecksum);
    expectStrictFieldEncoding(h);
  });

  it("a name with spaces only is plain ustar", () => {
    const h = encodeFileHeader({ name: "my documents/annual report 2024.pdf", size: 3, mode: 0o600, mtime: MTIME });
    expect(h.length).toBe(512);
    expect(readUstar(h).name).toBe("my documents/annual report 2024.pdf");
  });

  it("size 0", () => {
    const h = encodeFileHeader({ name: "empty", size: 0, mode: 0o644, mtime: MTIME });
    expect(h.subarray(124, 136).toString("latin1")).toBe("00000000000\0");
    const u = readUstar(h);
    expect(u.size).toBe(0);
    expect(u.storedChecksum).toBe(u.computedChecksum);
  });

  it.each([
    [0o644, 0o644],
    [0o4755, 0o4755], // setuid
    [0o2750, 0o2750], // setgid
    [0o1777, 0o1777], // sticky
    [0o7777, 0o7777],
    [0o100644, 0o644], // st_mode with S_IFREG: the file-type bits are dropped, the rest kept
    [0o104755, 0o4755], // S_IFREG | setuid
  ])("mode %o is written as %o (mode & 0o7777)", (mode, written) => {
    const h = encodeFileHeader({ name: "f", size: 0, mode, mtime: MTIME });
    expect(h.subarray(100, 108).toString("latin1")).toBe(`${written.toString(8).padStart(7, "0")}\0`);
    const u = readUstar(h);
    expect(u.mode).toBe(written);
    expect(u.storedChecksum).toBe(u.computedChecksum);
  });

  it.each([
    [0, 0],
    [1, 1],
    [MTIME, MTIME],
    [-1, 0], // before 1970: ustar cannot say it; the manifest keeps the real time
    [0o77777777777, 0o77777777777],
    [0o77777777777 + 1, 0o77777777777], // past year 2242: clamped to what 11 octal digits hold
  ])("mtime %d is written as %d", (mtime, written) => {
    const h = encodeFileHeader({ name: "f", size: 0, mode: 0o644, mtime });
    expect(h.length).toBe(512);
    expect(h.subarray(136, 148).toString("latin1")).toBe(`${written.toString(8).padStart(11, "0")}\0`);
    const u = readUstar(h);
    expect(u.storedChecksum).toBe(u.computedChecksum);
  });

  it("the checksum is the byte sum with the checksum field read as eight spaces", () => {
    for (const hdr of [
      { name: "a", size: 0, mode: 0, mtime: 0 },
      { name: "z".repeat(100), size: 0o77777777777, mode: 0o7777, mtime: 0o77777777777 },
    ]) {
      const h = encodeFileHeader(hdr);
      const u = readUstar(h);
      expect(u.storedChecksum).toBe(u.computedChecksum);
      expect(h.subarray(148, 156).toString("latin1")).toBe(`${u.computedChecksum.toString(8).padStart(6, "0")}\0 `);
    }
  });
});

describe("writePlainHeader: one ustar block written in place", () => {
  // The fields are checked by the independent reader above, the bytes by the golden vectors below.
  it("writes, over dirty memory at any offset, a block every field of which reads back", () => {
    const dest = randomBytes(4096);
    let seed = 7;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 2000; i++) {
      const chars = Array.from({ length: 1 + next(100) }, () => String.fromCharCode(0x20 + next(95)));
      const h: TarFileHeader = {
        name: chars.join(""),
        size: [0, 1, 511, 512, next(2 ** 30), 0o77777777777][next(6)]!,
        mode: next(0o10000) | (next(2) ? 0o170000 : 0), // bits above 07777 are dropped, as encodeFileHeader does
        mtime: [0, 1_700_000_000, 0o77777777777, -5, 2 ** 40][next(5)]!,
      };
      const at = next(4096 - TAR_BLOCK);
      expect(writePlainHeader(h, dest, at)).toBe(true);
      const block = dest.subarray(at, at + TAR_BLOCK);
      expect(block.equals(encodeFileHeader(h)), JSON.stringify(h)).toBe(true);
      expectStrictFieldEncoding(block);
      const u = readUstar(Buffer.from(block));
      expect(u).toMatchObject({ name: h.name, mode: h.mode & 0o7777, size: h.size, mtime: Math.max(0, Math.min(h.mtime, 0o77777777777)), typeflag: "0" });
      expect(u.storedChecksum).toBe(u.computedChecksum);
    }
  });

  it("declines (and writes nothing) when the header needs pax or is not whole numbers", () => {
    const dest = Buffer.alloc(TAR_BLOCK, 0xaa);
    for (const h of [
      { name: "é.txt", size: 1, mode: 0o644, mtime: 0 },
      { name: "x".repeat(101), size: 1, mode: 0o644, mtime: 0 },
      { name: "tab\tname", size: 1, mode: 0o644, mtime: 0 },
      { name: "big", size: 0o77777777777 + 1, mode: 0o644, mtime: 0 },
      { name: "odd", size: 1.5, mode: 0o644, mtime: 0 },
      { name: "odd", size: 1, mode: 0o644, mtime: 0.5 },
    ]) {
      expect(writePlainHeader(h, dest, 0), h.name).toBe(false);
      expect(dest.every((x) => x === 0xaa)).toBe(true);
    }
  });
});

describe("encodeFileHeader: pax extended header", () => {
  const cases: Array<[what: string, name: string]> = [
    ["a 101-byte name", `d101/${"n".repeat(96)}`],
    ["a 300-byte name in several folders", `${"folder-".repeat(20)}/${"x".repeat(100)}/${"y".repeat(59)}`],
    ["an Arabic name", "وثائق/عقد الإيجار ٢٠٢٤.pdf"],
    ["a name with a newline", "notes/line one\nline two.txt"],
    ["a name with a carriage return and a tab", "a\rb\tc.txt"],
    ["a name with DEL", "del\u007f.txt"],
    ["an emoji name (surrogate pair)", "photos/😀.jpg"],
  ];
  it.each(cases)("%s: path record with the exact UTF-8 name, ASCII fallback in ustar", (_what, name) => {
    const h = encodeFileHeader({ name, size: 7, mode: 0o640, mtime: MTIME });
    const { pax, main, mainBytes } = splitHeader(h);
    expect(pax).toBeDefined();
    expect(pax!.block.typeflag).toBe("x");
    expect(pax!.block.magic).toBe("ustar\0");
    expect(pax!.block.storedChecksum).toBe(pax!.block.computedChecksum);
    expect(pax!.block.mtime).toBe(MTIME);
    expect([...pax!.records.entries()]).toEqual([["path", name]]);
    expect(main.typeflag).toBe("0");
    expect(main.size).toBe(7);
    expect(main.mode).toBe(0o640);
    expect(main.mtime).toBe(MTIME);
    expect(main.storedChecksum).toBe(main.computedChecksum);
    expect(main.name).toBe(ustarName(name));
    expect(main.name).toMatch(/^[\x20-\x7e]{1,100}$/);
    expectStrictFieldEncoding(mainBytes);
  });

  // A record's length prefix counts its own digits: " path=" + name + "\n" is n+7 bytes, so a
  // name of 90 bytes gives "99 path=…" and one of 91 bytes "101 path=…" (100 is impossible).
  it.each([
    [88, 97],
    [89, 98],
    [90, 99],
    [91, 101],
    [92, 102],
    [989, 999],
    [990, 1001],
    [991, 1002],
  ])("a %d-byte non-ASCII name gives a %d-byte record", (nameBytes, recordLength) => {
    const name = `é${"a".repeat(nameBytes - 2)}`;
    expect(Buffer.byteLength(name)).toBe(nameBytes);
    const { pax } = splitHeader(encodeFileHeader({ name, size: 0, mode: 0o644, mtime: MTIME }));
    expect(pax!.raw.length).toBe(recordLength);
    expect(pax!.raw.toString("utf8")).toBe(`${recordLength} path=${name}\n`);
  });

  it("a size over 8 GiB - 1 (11 octal digits) goes in a pax size record; ustar says 0", () => {
    const limit = 0o77777777777;
    expect(encodeFileHeader({ name: "big", size: limit, mode: 0o644, mtime: MTIME }).length).toBe(512);
    const { pax, main } = splitHeader(encodeFileHeader({ name: "big", size: limit + 1, mode: 0o644, mtime: MTIME }));
    expect([...pax!.records.entries()]).toEqual([["size", String(limit + 1)]]);
    expect(main.size).toBe(0);
    expect(main.name).toBe("big");
    const both = splitHeader(encodeFileHeader({ name: "é".repeat(60), size: 2 ** 40, mode: 0o644, mtime: MTIME }));
    expect([...both.pax!.records.entries()]).toEqual([
      ["path", "é".repeat(60)],
      ["size", String(2 ** 40)],
    ]);
  });
});

describe("paddingFor and TAR_END", () => {
  it.each([
    [0, 0],
    [1, 511],
    [511, 1],
    [512, 0],
    [513, 511],
    [1024, 0],
    [2 ** 40 + 3, 509],
  ])("paddingFor(%d) = %d", (size, pad) => {
    expect(paddingFor(size)).toBe(pad);
  });
  it("TAR_END is two zero blocks", () => {
    expect(TAR_END.length).toBe(1024);
    expect(TAR_END.every((x) => x === 0)).toBe(true);
  });
});

// ---- golden header bytes ----

const GOLDEN: Array<[file: string, header: TarFileHeader, what: string]> = [
  ["short_ascii.hex", { name: "docs/readme.txt", size: 1234, mode: 0o644, mtime: MTIME }, "one ustar block"],
  [
    "long_name_pax.hex",
    { name: `archive/2024/${"long-folder-name/".repeat(6)}final-report-with-a-long-name.pdf`, size: 70000, mode: 0o4755, mtime: MTIME },
    "pax path record (name over 100 bytes), setuid mode kept",
  ],
  ["arabic_name_pax.hex", { name: "وثائق/عقد الإيجار.pdf", size: 0, mode: 0o600, mtime: MTIME }, "pax path record (non-ASCII name), size 0"],
];

describe("golden vectors: test/vectors/tar/*.hex", () => {
  it.each(GOLDEN)("%s", (file, header, what) => {
    const bytes = encodeFileHeader(header);
    maybeWriteVector(
      formatHexVector(
        [
          ["input", JSON.stringify(header)],
          ["expect", `encodeFileHeader(input) gives exactly these ${bytes.length} bytes (${what})`],
        ],
        bytes,
      ),
      "tar",
      file,
    );
    expect(vectorExists("tar", file), `missing vector; run with ISNAD_WRITE_VECTORS=1 to create it`).toBe(true);
    const v = parseHexVector(readVector("tar", file).toString("utf8"));
    expect(JSON.parse(v.headers.get("input") ?? "null")).toEqual(header);
    expect(bytes.toString("hex")).toBe(v.bytes.toString("hex"));
  });
});

// ---- whole archives, read by GNU tar and by tar-stream ----

interface Member {
  name: string;
  mode: number;
  data: Buffer;
}

const MEMBERS: Member[] = [
  { name: "a.txt", mode: 0o644, data: Buffer.from("hello\n") },
  { name: `d100/${"n".repeat(95)}`, mode: 0o644, data: Buffer.from("exactly one hundred bytes of name\n") },
  { name: `d101/${"n".repeat(96)}`, mode: 0o644, data: Buffer.from("one byte over\n") },
  { name: `deep/${"sub-folder-name/".repeat(12)}file-at-the-bottom.txt`, mode: 0o640, data: Buffer.from("deep\n") },
  { name: "وثائق/عقد الإيجار.txt", mode: 0o644, data: Buffer.from("عقد\n", "utf8") },
  { name: "with space/and more spaces.txt", mode: 0o644, data: Buffer.from("spaces\n") },
  { name: "line\nbreak.txt", mode: 0o644, data: Buffer.from("newline in name\n") },
  { name: "back\\slash.txt", mode: 0o644, data: Buffer.from("backslash in name\n") },
  { name: "tab\tand\rcr.txt", mode: 0o644, data: Buffer.from("tab and cr\n") },
  { name: "photos/😀.jpg", mode: 0o644, data: randomBytes(33) },
  { name: `é${"a".repeat(89)}`, mode: 0o644, data: Buffer.from("99-byte pax record\n") }, // 90 bytes
  { name: `é${"a".repeat(90)}`, mode: 0o644, data: Buffer.from("101-byte pax record\n") }, // 91 bytes
  { name: "empty", mode: 0o644, data: Buffer.alloc(0) },
  { name: "setuid-tool", mode: 0o4755, data: Buffer.from("#!/bin/sh\n") },
  { name: "setgid-sticky", mode: 0o3750, data: Buffer.from("x") },
  { name: "one-block.bin", mode: 0o600, data: randomBytes(512) },
  { name: "random.bin", mode: 0o600, data: randomBytes(1000) },
  { name: "bigger.bin", mode: 0o644, data: randomBytes(70_001) },
];

function buildArchive(members: Member[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    parts.push(encodeFileHeader({ name: m.name, size: m.data.length, mode: m.mode, mtime: MTIME }));
    parts.push(m.data, Buffer.alloc(paddingFor(m.data.length)));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/** How GNU tar --quoting-style=escape prints a name in a UTF-8 locale. */
const tarEscape = (name: string): string =>
  name.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const modeString = (mode: number): string => {
  const rwx = (bits: number, special: boolean, ch: string) =>
    `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? "x" : "-"}`;
  return `-${rwx(mode >> 6, (mode & 0o4000) !== 0, "s")}${rwx(mode >> 3, (mode & 0o2000) !== 0, "s")}${rwx(mode, (mode & 0o1000) !== 0, "t")}`;
};

describe("a generated archive (headers + data + paddingFor + TAR_END)", () => {
  let tmp: ReturnType<typeof tempDir>;
  let archive: Buffer;
  let archivePath: string;
  beforeAll(() => {
    tmp = tempDir("tar");
    archive = buildArchive(MEMBERS);
    archivePath = path.join(tmp.dir, "pack.tar");
    writeFileSync(archivePath, archive);
  });
  afterAll(() => tmp.cleanup());

  it("is a whole number of blocks", () => {
    expect(archive.length % TAR_BLOCK).toBe(0);
  });

  const itTar = itWithTools(["tar"]);

  itTar("GNU tar -tvf lists every name, size, mode and mtime, with nothing on stderr", () => {
    const { stdout, stderr } = run("tar", ["--quoting-style=escape", "--full-time", "-tvf", archivePath]);
    expect(stderr).toBe("");
    const lines = stdout.toString("utf8").split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(MEMBERS.length);
    lines.forEach((line, i) => {
      const m = MEMBERS[i]!;
      const parsed = /^(\S{10}) (\S+)\s+(\d+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (.*)$/.exec(line);
      expect(parsed, line).not.toBeNull();
      expect(parsed![1]).toBe(modeString(m.mode));
      expect(parsed![2]).toBe("0/0");
      expect(Number(parsed![3])).toBe(m.data.length);
      expect(parsed![4]).toBe("2023-11-14 22:13:20");
      expect(parsed![5]).toBe(tarEscape(m.name));
    });
  });

  itTar("GNU tar -x extracts every file byte for byte, with its mode and mtime", () => {
    const out = path.join(tmp.dir, "out");
    mkdirSync(out);
    const { stderr } = run("tar", ["-x", "-p", "-f", archivePath, "-C", out]);
    expect(stderr).toBe("");
    const root = process.getuid?.() === 0;
    for (const m of MEMBERS) {
      const file = path.join(out, m.name);
      expect(readFileSync(file).equals(m.data), m.name).toBe(true);
      const st = statSync(file);
      expect(st.isFile()).toBe(true);
      // Only root keeps setuid/setgid on extraction; everyone keeps the permission bits.
      expect(st.mode & (root ? 0o7777 : 0o777), m.name).toBe(m.mode & (root ? 0o7777 : 0o777));
      expect(Math.floor(st.mtimeMs / 1000)).toBe(MTIME);
    }
  });

  itTar("GNU tar --compare agrees with the extracted tree (it reads every header and data block)", () => {
    const out = path.join(tmp.dir, "out");
    const { stderr } = run("tar", ["--compare", "-f", archivePath, "-C", out]);
    expect(stderr).toBe("");
  });

  it("tar-stream extract() parses the same names, sizes, modes, mtimes and data", async () => {
    const seen: Array<{ name: string; size: number; mode: number; mtime: number; type: string; data: Buffer }> = [];
    const ex = extract();
    Readable.from([archive]).pipe(ex);
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const h = entry.header;
      seen.push({ name: h.name, size: h.size, mode: h.mode, mtime: h.mtime.getTime() / 1000, type: h.type, data: Buffer.concat(chunks) });
    }
    expect(seen.map((s) => s.name)).toEqual(MEMBERS.map((m) => m.name));
    seen.forEach((s, i) => {
      const m = MEMBERS[i]!;
      expect(s.type).toBe("file");
      expect(s.size).toBe(m.data.length);
      expect(s.mode).toBe(m.mode);
      expect(s.mtime).toBe(MTIME);
      expect(s.data.equals(m.data), m.name).toBe(true);
    });
  });

  itTar("GNU tar -tvf lists each golden vector (header + data + padding + TAR_END) as its input", () => {
    for (const [file, header] of GOLDEN) {
      if (WRITE_VECTORS || !vectorExists("tar", file)) continue;
      const { bytes } = parseHexVector(readVector("tar", file).toString("utf8"));
      const one = path.join(tmp.dir, `${file}.tar`);
      writeFileSync(one, Buffer.concat([bytes, Buffer.alloc(header.size, 0x61), Buffer.alloc(paddingFor(header.size)), TAR_END]));
      const { stdout, stderr } = run("tar", ["--quoting-style=escape", "--full-time", "-tvf", one]);
      expect(stderr).toBe("");
      expect(stdout.toString("utf8")).toMatch(
        new RegExp(`^${escapeRe(modeString(header.mode))} 0/0 +${header.size} 2023-11-14 22:13:20 ${escapeRe(tarEscape(header.name))}\n$`),
      );
    }
  });

  it("tar-stream reads the golden vectors' headers back to their inputs", async () => {
    for (const [file, header] of GOLDEN) {
      if (WRITE_VECTORS || !vectorExists("tar", file)) continue;
      const { bytes } = parseHexVector(readVector("tar", file).toString("utf8"));
      const data = Buffer.alloc(header.size, 0x61);
      const ex = extract();
      Readable.from([Buffer.concat([bytes, data, Buffer.alloc(paddingFor(header.size)), TAR_END])]).pipe(ex);
      const names: string[] = [];
      for await (const entry of ex) {
        names.push(entry.header.name);
        expect(entry.header.size).toBe(header.size);
        expect(entry.header.mode).toBe(header.mode);
        entry.resume();
      }
      expect(names).toEqual([header.name]);
    }
  });
});
