import { describe, expect, it } from "vitest";
import { HeldLines } from "../../src/snapshot/held-lines.js";

interface Pack {
  name: string;
}

function collector() {
  const lines: string[] = [];
  const records: Array<[string, string]> = [];
  return { lines, records, line: (t: string) => lines.push(t), record: (p: string, t: string) => records.push([p, t]) };
}

describe("HeldLines", () => {
  it("hands out lines in order up to the first whose pack has no id yet", () => {
    const a: Pack = { name: "a" };
    const b: Pack = { name: "b" };
    const ids = new Map<Pack, string>();
    const h = new HeldLines<Pack>();
    h.add("dir1\n");
    h.add("f1:", { pack: a, tail: ":end\n", cache: { path: "f1", record: "[f1", recordTail: "]\n" } });
    h.add("f2:", { pack: "earlier", tail: ":end\n" });
    h.add("f3:", { pack: b, tail: ":é日😀\n", cache: { path: "f3", record: "[f3", recordTail: ',"m"]\n' } });
    h.add("dir2\n");
    expect(h.length).toBe(5);

    const c = collector();
    h.flush((p) => ids.get(p), c.line, c.record);
    expect(c.lines).toEqual(["dir1\n"]); // f1 waits for pack a, and everything after it
    expect(h.length).toBe(4);

    ids.set(a, "A");
    h.flush((p) => ids.get(p), c.line, c.record);
    expect(c.lines).toEqual(["dir1\n", 'f1:"A":end\n', 'f2:"earlier":end\n']);
    expect(c.records).toEqual([["f1", '[f1,"A"]\n']]);
    expect(h.length).toBe(2);

    ids.set(b, "B");
    h.flush((p) => ids.get(p), c.line, c.record);
    expect(c.lines.slice(3)).toEqual(['f3:"B":é日😀\n', "dir2\n"]);
    expect(c.records[1]).toEqual(["f3", '[f3,"B","m"]\n']);
    expect(h.length).toBe(0);
  });

  it("keeps every byte when it grows past its buffer, with lines written out in between", () => {
    const p: Pack = { name: "p" };
    const q: Pack = { name: "q" };
    const ids = new Map<Pack, string>();
    const h = new HeldLines<Pack>();
    const c = collector();
    const expected: string[] = [];
    // First a waiting line, so nothing can be written and the buffer has to grow; then lines of
    // another pack interleaved with flushes, so that compaction moves the bytes of the rest.
    for (let i = 0; i < 3000; i++) {
      const text = `${i}-${"ü".repeat(i % 200)}-😀`;
      const pack = i < 2000 ? p : i === 2200 ? q : "old";
      h.add(`${text}:`, { pack, tail: `:${text}\n`, cache: { path: text, record: `[${i}`, recordTail: "]\n" } });
      expected.push(`${text}:${JSON.stringify(i < 2000 ? "P" : i === 2200 ? "Q" : "old")}:${text}\n`);
      if (i === 2500) {
        ids.set(p, "P");
        h.flush((x) => ids.get(x), c.line, c.record);
        expect(c.lines).toHaveLength(2200); // up to the line that waits for q
      }
    }
    expect(c.lines).toHaveLength(2200);
    ids.set(q, "Q");
    h.flush((x) => ids.get(x), c.line, c.record);
    expect(c.lines).toEqual(expected);
    expect(c.records).toHaveLength(3000);
    expect(c.records[2999]).toEqual([`2999-${"ü".repeat(2999 % 200)}-😀`, '[2999,"old"]\n']);
    expect(c.records[2200]).toEqual([`2200-${"ü".repeat(2200 % 200)}-😀`, '[2200,"Q"]\n']);
    expect(h.length).toBe(0);
  });

  it("lines that are written out as they come leave the buffer its first size", () => {
    const h = new HeldLines<Pack>();
    const c = collector();
    const waiting: Pack = { name: "w" };
    const ids = new Map<Pack, string>();
    for (let i = 0; i < 20_000; i++) {
      const pack = i % 100 === 0 ? waiting : "old";
      h.add(`${"x".repeat(100)}${i}:`, { pack, tail: "\n" });
      if (i % 100 === 99) {
        ids.set(waiting, String(i));
        h.flush((x) => ids.get(x), c.line, c.record);
        ids.delete(waiting);
      }
    }
    expect(c.lines).toHaveLength(20_000);
    expect((h as unknown as { buf: Buffer }).buf.length).toBe(256 * 1024); // never grew
  });
});
