/**
 * The checksum list inside every pack (.isnad/manifest-sha256.txt) must be exactly what GNU
 * `sha256sum` prints for the same names, so `tar -x && sha256sum -c .isnad/manifest-sha256.txt`
 * checks a pack with standard tools. These tests make real files and ask GNU coreutils.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PACK_CHECKSUMS_MEMBER, parseSha256sum, sha256sumLine } from "../../src/format/sha256sum.js";
import { itWithTools, run, tempDir } from "./helpers.js";

const sha = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");
const H = sha("x");

const NAMES: string[] = [
  "plain.txt",
  "dir/sub/file.txt",
  "with space.txt",
  " leading and trailing space ",
  "*starts-with-star",
  "tab\there",
  "وثائق/عقد.pdf",
  "photos/😀.jpg",
  "back\\slash",
  "two\\\\backslashes",
  "ends-with-backslash\\",
  "new\nline",
  "\nleading-newline",
  "cr\rreturn",
  "crlf\r\nboth",
  "all three \\ \n \r",
  "\\n-literal-backslash-n",
];

describe("sha256sumLine", () => {
  it("plain names: '<hash>  <name>\\n'", () => {
    expect(sha256sumLine(H, "plain.txt")).toBe(`${H}  plain.txt\n`);
    expect(sha256sumLine(H, "with space.txt")).toBe(`${H}  with space.txt\n`);
    expect(sha256sumLine(H, "وثائق/عقد.pdf")).toBe(`${H}  وثائق/عقد.pdf\n`);
  });

  it("names with backslash, newline or CR: leading backslash, escaped name", () => {
    expect(sha256sumLine(H, "back\\slash")).toBe(`\\${H}  back\\\\slash\n`);
    expect(sha256sumLine(H, "new\nline")).toBe(`\\${H}  new\\nline\n`);
    expect(sha256sumLine(H, "cr\rreturn")).toBe(`\\${H}  cr\\rreturn\n`);
    expect(sha256sumLine(H, "a\\\n\r")).toBe(`\\${H}  a\\\\\\n\\r\n`);
  });

  it("every line is one line: the only newline is the last byte", () => {
    for (const n of NAMES) {
      const line = sha256sumLine(H, n);
      expect(line.indexOf("\n")).toBe(line.length - 1);
      expect(line.includes("\r")).toBe(false);
    }
  });

  it("names the member it describes", () => {
    expect(PACK_CHECKSUMS_MEMBER).toBe(".isnad/manifest-sha256.txt");
  });
});

describe("against GNU sha256sum, on real files with these names", () => {
  let tmp: ReturnType<typeof tempDir>;
  const contents = new Map<string, Buffer>();
  beforeAll(() => {
    tmp = tempDir("sha256sum");
    NAMES.forEach((n, i) => {
      const file = path.join(tmp.dir, n);
      mkdirSync(path.dirname(file), { recursive: true });
      const data = Buffer.from(`content ${i} of ${JSON.stringify(n)}\n`);
      writeFileSync(file, data);
      contents.set(n, data);
    });
  });
  afterAll(() => tmp.cleanup());

  const ours = (): string => NAMES.map((n) => sha256sumLine(sha(contents.get(n)!), n)).join("");
  const itGnu = itWithTools(["sha256sum"]);

  itGnu("sha256sumLine prints exactly what `sha256sum -- NAMES` prints", () => {
    const { stdout, stderr } = run("sha256sum", ["--", ...NAMES], { cwd: tmp.dir });
    expect(stderr).toBe("");
    expect(ours()).toBe(stdout.toString("utf8"));
  });

  itGnu("line by line too (one sha256sum run per name)", () => {
    for (const n of NAMES) {
      const { stdout } = run("sha256sum", ["--", n], { cwd: tmp.dir });
      expect(sha256sumLine(sha(contents.get(n)!), n), JSON.stringify(n)).toBe(stdout.toString("utf8"));
    }
  });

  itGnu("`sha256sum -c --strict` accepts a list we wrote, every name OK", () => {
    const list = path.join(tmp.dir, "list.sha256");
    writeFileSync(list, ours());
    const { stdout, stderr } = run("sha256sum", ["-c", "--strict", list], { cwd: tmp.dir });
    expect(stderr).toBe("");
    // One report line per name (a name with a newline is reported escaped, so still one line).
    const report = stdout.toString("utf8").split("\n").filter((l) => l !== "");
    expect(report).toHaveLength(NAMES.length);
    for (const l of report) expect(l).toMatch(/: OK$/);
    expect(report[0]).toBe("plain.txt: OK");
  });

  itGnu("`sha256sum -c` fails when one file no longer matches our list (it really checks)", () => {
    const list = path.join(tmp.dir, "list-bad.sha256");
    const lines = NAMES.map((n) => sha256sumLine(n === "new\nline" ? sha("other") : sha(contents.get(n)!), n));
    writeFileSync(list, lines.join(""));
    expect(() => run("sha256sum", ["-c", "--strict", "--quiet", list], { cwd: tmp.dir })).toThrow(/exited 1/);
  });

  itGnu("parseSha256sum reads GNU's own output (text and binary mode) back to the names", () => {
    for (const mode of ["-t", "-b"]) {
      const { stdout } = run("sha256sum", [mode, "--", ...NAMES], { cwd: tmp.dir });
      expect(parseSha256sum(stdout.toString("utf8"))).toEqual(NAMES.map((n) => ({ sha256: sha(contents.get(n)!), name: n })));
    }
  });
});

describe("parseSha256sum", () => {
  it("round trip: parse(lines written by sha256sumLine) gives the same names and hashes", () => {
    const pairs = NAMES.map((n, i) => ({ sha256: sha(String(i)), name: n }));
    const text = pairs.map((p) => sha256sumLine(p.sha256, p.name)).join("");
    expect(parseSha256sum(text)).toEqual(pairs);
  });

  it("an empty list is empty; a missing final newline is tolerated", () => {
    expect(parseSha256sum("")).toEqual([]);
    expect(parseSha256sum(`${H}  a`)).toEqual([{ sha256: H, name: "a" }]);
  });

  it("accepts the binary-mode marker '*'", () => {
    expect(parseSha256sum(`${H} *a.bin\n`)).toEqual([{ sha256: H, name: "a.bin" }]);
  });

  it("keeps a backslash literally on a line without the leading escape marker", () => {
    expect(parseSha256sum(`${H}  a\\nb\n`)).toEqual([{ sha256: H, name: "a\\nb" }]);
  });

  // What GNU sha256sum -c --strict rejects as "improperly formatted" (checked by hand with coreutils
  // 9.1) or what sha256sum never prints: our parser must not make sense of it either.
  const malformed: Array<[what: string, line: string]> = [
    ["a short hash", `${H.slice(1)}  a`],
    ["a long hash", `${H}0  a`],
    ["a non-hex hash", `${H.slice(1)}g  a`],
    ["no name", `${H}  `],
    ["no separator", `${H}a`],
    ["an escape marker with nothing else", "\\"],
    ["only a name", "a.txt"],
    ["the BSD tag format", `SHA256 (a) = ${H}`],
    ["a blank-looking line of spaces", "   "],
  ];
  it.each(malformed)("rejects %s", (_what, line) => {
    expect(() => parseSha256sum(`${sha256sumLine(H, "ok")}${line}\n`)).toThrow(/malformed checksum line/);
  });

  // GNU coreutils (filename_unescape in src/digest.c) knows only \\, \n and \r on an escaped line
  // and rejects any other escape and a trailing lone backslash: `sha256sum -c --strict` says "no
  // properly formatted checksum lines found". Reading such a line as a different name would make
  // isnad's check and the standard tool's check disagree.
  it("rejects an escaped line with an unknown escape (\\x), as GNU does", () => {
    expect(() => parseSha256sum(`\\${H}  a\\xb\n`)).toThrow(/malformed checksum line/);
  });
  it("rejects an escaped line ending in a lone backslash, as GNU does", () => {
    expect(() => parseSha256sum(`\\${H}  a\\\n`)).toThrow(/malformed checksum line/);
  });

  const itGnu = itWithTools(["sha256sum"]);
  itGnu("(GNU really rejects those two lines)", () => {
    const t = tempDir("sha256sum-bad");
    try {
      writeFileSync(path.join(t.dir, "axb"), "x");
      writeFileSync(path.join(t.dir, "a\\xb"), "x");
      for (const line of [`\\${H}  a\\xb\n`, `\\${H}  a\\\n`]) {
        writeFileSync(path.join(t.dir, "l.txt"), line);
        expect(() => run("sha256sum", ["-c", "--strict", "l.txt"], { cwd: t.dir })).toThrow(/no properly formatted/);
      }
    } finally {
      t.cleanup();
    }
  });
});
