/**
 * Manifests (src/format/manifest.ts): JSON Lines, header, entries in walk order, end line.
 *
 * Vectors: test/vectors/manifest/<case>.jsonl hold exactly the plaintext a manifest would hold
 * (no comment lines: a comment would itself make the file invalid). Each file is named for what is
 * wrong with it; VECTORS below maps every file to the expected outcome: "valid" or the substring
 * of the error ManifestParser must throw (from push, or from finish for a cut-short manifest).
 * Lines are fed the way src/pack/reader.ts feeds them: node:readline with crlfDelay Infinity.
 */
import { readdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/format/canonical.js";
import {
  encodeEndLine,
  encodeEntryLine,
  encodeFileEntryAround,
  encodeHeaderLine,
  MANIFEST_FORMAT,
  ManifestParser,
  memberOf,
  unsafePathReason,
  type FileManifestEntry,
  type ManifestEntry,
  type ManifestHeader,
} from "../../src/format/manifest.js";
import { comparePaths } from "../../src/sources/order.js";
import { readVector, vectorPath } from "./helpers.js";

type Outcome = "valid" | string | RegExp;

/** file → "valid", or the substring (or pattern) the parser's error must contain. */
const VECTORS: Record<string, Outcome> = {
  "valid.jsonl": "valid",
  "valid_empty.jsonl": "valid",
  "entry_before_header.jsonl": "line 1: bad header",
  "header_twice.jsonl": "line 2: bad entry",
  "out_of_order.jsonl": 'line 5: "documents/a/b.txt" is out of order or a duplicate',
  "out_of_order_siblings.jsonl": 'line 3: "a.txt" is out of order or a duplicate',
  "duplicate_path.jsonl": 'line 3: "a.txt" is out of order or a duplicate',
  "path_empty.jsonl": 'unsafe path "": empty path',
  "path_absolute.jsonl": 'unsafe path "/etc/passwd": absolute path',
  "path_dotdot.jsonl": "unsafe path \"a/../b\": '..' segment",
  "path_dotdot_leading.jsonl": "unsafe path \"../outside.txt\": '..' segment",
  "path_dotdot_only.jsonl": "unsafe path \"..\": '..' segment",
  "path_double_slash.jsonl": 'unsafe path "a//b": empty segment',
  "path_trailing_slash.jsonl": 'unsafe path "a/": empty segment',
  "path_dot_segment.jsonl": "unsafe path \"./a\": '.' segment",
  "path_nul.jsonl": "NUL in path",
  "unknown_field_entry.jsonl": /line 2: bad entry: +Unrecognized key: "owner"/,
  "unknown_field_header.jsonl": /line 1: bad header: +Unrecognized key: "comment"/,
  "unknown_field_end.jsonl": /line 3: bad end line: +Unrecognized key: "hash"/,
  "unknown_entry_type.jsonl": "line 2: bad entry: type",
  "wrong_format.jsonl": "line 1: bad header: format",
  "sha256_uppercase.jsonl": "line 2: bad entry: sha256",
  "mtime_not_integer.jsonl": "line 2: bad entry: mtime expected integer nanoseconds since the epoch",
  "size_negative.jsonl": "line 2: bad entry: size",
  "end_count_mismatch.jsonl": "end line says 3 entries, found 2",
  "end_count_mismatch_low.jsonl": "end line says 1 entries, found 2",
  "data_after_end.jsonl": "line 4: data after the end line",
  "two_end_lines.jsonl": "line 4: data after the end line",
  "missing_end.jsonl": "manifest has no end line (truncated?)",
  "header_only.jsonl": "manifest has no end line (truncated?)",
  "empty.jsonl": "manifest is empty",
  "blank_line.jsonl": "line 3: not JSON",
  "not_json.jsonl": "line 2: not JSON",
};

async function lines(bytes: Buffer): Promise<string[]> {
  const out: string[] = [];
  for await (const line of createInterface({ input: Readable.from([bytes]), crlfDelay: Infinity })) out.push(line);
  return out;
}

/** Runs a whole manifest through the parser as reader.ts does; returns the entries or throws. */
async function parse(bytes: Buffer): Promise<{ header: ManifestHeader | undefined; entries: ManifestEntry[] }> {
  const parser = new ManifestParser(comparePaths);
  const entries: ManifestEntry[] = [];
  for (const line of await lines(bytes)) {
    const e = parser.push(line);
    if (e) entries.push(e);
  }
  parser.finish();
  return { header: parser.header, entries };
}

describe("vectors: test/vectors/manifest/*.jsonl", () => {
  it("every file in the folder is in the table, and every table row has a file", () => {
    const files = readdirSync(vectorPath("manifest")).filter((f) => f.endsWith(".jsonl")).sort();
    expect(files).toEqual(Object.keys(VECTORS).sort());
  });

  it.each(Object.entries(VECTORS).map(([f, o]) => [f, String(o), o] as const))("%s → %s", async (file, _label, outcome) => {
    const bytes = readVector("manifest", file);
    if (outcome === "valid") {
      await expect(parse(bytes)).resolves.toBeDefined();
    } else {
      await expect(parse(bytes)).rejects.toThrow(outcome);
    }
  });

  it("valid.jsonl: header, 12 entries of every type in walk order, every line canonical", async () => {
    const bytes = readVector("manifest", "valid.jsonl");
    for (const line of await lines(bytes)) expect(canonicalJson(JSON.parse(line))).toBe(line);
    const { header, entries } = await parse(bytes);
    expect(header?.format).toBe(MANIFEST_FORMAT);
    expect(header?.sources.map((s) => s.label)).toEqual(["database", "documents"]);
    expect(entries.map((e) => e.path)).toEqual([
      "database",
      "database/app.sql",
      "documents",
      "documents/a",
      "documents/a/b.txt", // before a.txt: walk order, not plain string order
      "documents/a.txt",
      "documents/a.txt.bak",
      "documents/latest",
      "documents/locked",
      "documents/pipe",
      "documents/same-as-a.txt",
      "documents/وثائق/عقد.pdf",
    ]);
    expect(new Set(entries.map((e) => e.type))).toEqual(new Set(["dir", "file", "symlink", "missing", "skipped"]));
    const same = entries.find((e) => e.path === "documents/same-as-a.txt");
    expect(same?.type === "file" && memberOf(same)).toBe("documents/a.txt");
    const a = entries.find((e) => e.path === "documents/a.txt");
    expect(a?.type === "file" && memberOf(a)).toBe("documents/a.txt");
  });

  it("valid.jsonl re-encodes byte for byte with encodeHeaderLine/encodeEntryLine/encodeEndLine", async () => {
    const bytes = readVector("manifest", "valid.jsonl");
    const { header, entries } = await parse(bytes);
    const again = encodeHeaderLine(header!) + entries.map(encodeEntryLine).join("") + encodeEndLine(entries.length);
    expect(again).toBe(bytes.toString("utf8"));
  });
});

const HEADER: ManifestHeader = {
  format: "isnad-manifest/1",
  repository: "3f2a9c1e5b7d40a8b6c2e9f10d4a7b35",
  snapshot: "5e0c2b9a7f314d68",
  time: "2024-05-01T12:00:00.000Z",
  host: "h",
  signer: "7".repeat(64),
  sources: [{ label: "documents", type: "dir", path: "/srv/documents" }],
};
const file = (path: string): ManifestEntry => ({
  type: "file",
  path,
  mode: 0o644,
  mtime: "-1", // before 1970 is allowed: the schema keeps signed nanoseconds
  uid: 0,
  gid: 0,
  size: 1,
  sha256: "a".repeat(64),
  pack: "b".repeat(64),
});

describe("encode*Line", () => {
  it("are canonical JSON plus one newline", () => {
    expect(encodeHeaderLine(HEADER)).toBe(canonicalJson(HEADER) + "\n");
    expect(encodeEntryLine(file("a"))).toBe(canonicalJson(file("a")) + "\n");
    expect(encodeEndLine(0)).toBe('{"end":true,"entries":0}\n');
    expect(encodeEndLine(12)).toBe('{"end":true,"entries":12}\n');
  });

  it("a file entry is written field by field, yet byte for byte canonicalJson, with every optional field and odd strings", () => {
    const paths = ["a", 'quo"te\\back', "tab\tnl\n", "é/日本/😀", "\u0001ctl", "\u2028sep"];
    for (const p of paths) {
      for (const extra of [{}, { member: `${p}-other` }, { changed: true as const }, { member: "m", changed: true as const }]) {
        const e = { ...file(p), ...extra, mode: 0o4755, uid: 4294967294, gid: 0, size: Number.MAX_SAFE_INTEGER, mtime: "-1" } as ManifestEntry;
        expect(encodeEntryLine(e)).toBe(canonicalJson(e) + "\n");
        // Held while its pack is written: the two parts around the pack id make the same line.
        const { head, tail } = encodeFileEntryAround({ ...(e as FileManifestEntry), pack: "" });
        expect(head + JSON.stringify((e as FileManifestEntry).pack) + tail).toBe(canonicalJson(e) + "\n");
      }
    }
    expect(() => encodeEntryLine({ ...file("a"), size: 2 ** 53 } as ManifestEntry)).toThrow(/not a safe integer/);
    expect(() => encodeEntryLine({ ...file("a"), uid: 1.5 } as ManifestEntry)).toThrow(/not a safe integer/);
  });

  it("round trip through the parser", async () => {
    const entries = ["a", "a/b", "a.txt", "b", "é"].map(file);
    const text = encodeHeaderLine(HEADER) + entries.map(encodeEntryLine).join("") + encodeEndLine(entries.length);
    const parsed = await parse(Buffer.from(text));
    expect(parsed.header).toEqual(HEADER);
    expect(parsed.entries).toEqual(entries);
  });
});

describe("ManifestParser", () => {
  const push = (p: ManifestParser, line: string) => p.push(line);

  // File entries are checked by hand (zod only says what is wrong): every way a file entry can be
  // wrong must still be refused, and every optional field still accepted.
  it("refuses every malformed file entry the schema refuses, and accepts the optional fields", () => {
    const base = file("a") as unknown as Record<string, unknown>;
    const bad: Array<Record<string, unknown>> = [
      ...["type", "path", "mode", "mtime", "uid", "gid", "size", "sha256", "pack"].map((k) => Object.fromEntries(Object.entries(base).filter(([key]) => key !== k))),
      ...["mode", "uid", "gid", "size"].flatMap((k) => [-1, 1.5, 2 ** 53, "1", null, true].map((v) => ({ ...base, [k]: v }))),
      ...["sha256", "pack"].flatMap((k) => ["A".repeat(64), "a".repeat(63), "a".repeat(65), "g".repeat(64), 1, null].map((v) => ({ ...base, [k]: v }))),
      ...["1.5", "1e9", "", " 1", "0x10", 1].map((mtime) => ({ ...base, mtime })),
      { ...base, path: 1 },
      { ...base, path: null },
      { ...base, member: 1 },
      { ...base, member: null },
      { ...base, changed: false },
      { ...base, changed: "true" },
      { ...base, owner: "x" },
      { ...base, type: "dir" },
    ];
    for (const e of bad) {
      const p = new ManifestParser(comparePaths);
      p.push(encodeHeaderLine(HEADER).trimEnd());
      expect(() => p.push(JSON.stringify(e)), JSON.stringify(e)).toThrow(/line 2: bad entry/);
    }
    const proto = new ManifestParser(comparePaths);
    proto.push(encodeHeaderLine(HEADER).trimEnd());
    expect(() => proto.push(JSON.stringify(base).replace("{", '{"__proto__":{},'))).toThrow(/line 2: bad entry/);
    for (const extra of [{ member: "b/c" }, { changed: true }, { member: "", changed: true }, { mtime: "-123" }, { size: Number.MAX_SAFE_INTEGER }]) {
      const p = new ManifestParser(comparePaths);
      p.push(encodeHeaderLine(HEADER).trimEnd());
      expect(p.push(JSON.stringify({ ...base, ...extra }))).toEqual({ ...base, ...extra });
    }
  });

  it("returns undefined for the header and end lines, the entry otherwise", () => {
    const p = new ManifestParser(comparePaths);
    expect(push(p, encodeHeaderLine(HEADER).trimEnd())).toBeUndefined();
    expect(p.header).toEqual(HEADER);
    expect(push(p, encodeEntryLine(file("a")).trimEnd())).toEqual(file("a"));
    expect(push(p, encodeEndLine(1).trimEnd())).toBeUndefined();
    expect(() => p.finish()).not.toThrow();
  });

  it("uses the order it is given: comparePaths accepts a/b before a.txt, plain string order refuses it", () => {
    const lines = [encodeHeaderLine(HEADER), encodeEntryLine(file("a/b")), encodeEntryLine(file("a.txt"))].map((l) => l.trimEnd());
    const walk = new ManifestParser(comparePaths);
    for (const l of lines) walk.push(l);
    const plain = new ManifestParser((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    plain.push(lines[0]!);
    plain.push(lines[1]!);
    expect(() => plain.push(lines[2]!)).toThrow(/out of order/);
  });

  it("refuses a duplicate path even when the entry types differ", () => {
    const p = new ManifestParser(comparePaths);
    p.push(encodeHeaderLine(HEADER).trimEnd());
    p.push(JSON.stringify({ type: "dir", path: "a", mode: 493, mtime: "0", uid: 0, gid: 0 }));
    expect(() => p.push(JSON.stringify({ type: "skipped", path: "a", reason: "fifo" }))).toThrow(/out of order or a duplicate/);
  });

  it("refuses every line after the end line, even a valid one", () => {
    const p = new ManifestParser(comparePaths);
    p.push(encodeHeaderLine(HEADER).trimEnd());
    p.push(encodeEndLine(0).trimEnd());
    expect(() => p.push(encodeEntryLine(file("z")).trimEnd())).toThrow(/data after the end line/);
    expect(() => p.push("")).toThrow(/data after the end line/);
  });

  it("finish throws for an empty manifest and for one without an end line", () => {
    expect(() => new ManifestParser(comparePaths).finish()).toThrow(/manifest is empty/);
    const p = new ManifestParser(comparePaths);
    p.push(encodeHeaderLine(HEADER).trimEnd());
    p.push(encodeEntryLine(file("a")).trimEnd());
    expect(() => p.finish()).toThrow(/no end line/);
  });

  it("refuses an end line that is not exactly {end: true, entries: n}", () => {
    for (const bad of ['{"end":false,"entries":0}', '{"end":true}', '{"end":true,"entries":-1}', '{"end":true,"entries":"0"}']) {
      const p = new ManifestParser(comparePaths);
      p.push(encodeHeaderLine(HEADER).trimEnd());
      expect(() => p.push(bad), bad).toThrow(/line 2: bad end line/);
    }
  });
});

describe("unsafePathReason", () => {
  it.each([
    ["", "empty path"],
    ["/abs", "absolute path"],
    ["/", "absolute path"],
    ["a/../b", "'..' segment"],
    ["..", "'..' segment"],
    ["../a", "'..' segment"],
    ["a/..", "'..' segment"],
    ["a//b", "empty segment"],
    ["a/", "empty segment"],
    ["./a", "'.' segment"],
    [".", "'.' segment"],
    ["a/./b", "'.' segment"],
    ["a\0b", "NUL in path"],
    ["\0", "NUL in path"],
  ])("%j: %s", (p, why) => {
    expect(unsafePathReason(p)).toBe(why);
  });

  it.each(["a", "a/b/c", ".hidden", "a/.hidden", "...", "a/..b", "..a", "a b", "وثائق/عقد.pdf", "back\\slash", "new\nline", "C:"])(
    "%j is safe",
    (p) => {
      expect(unsafePathReason(p)).toBeUndefined();
    },
  );
});
