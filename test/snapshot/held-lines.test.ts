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

  it("a line whose record does not fit moves the lines before it intact, and itself", () => {
    const p: Pack = { name: "p" };
    const q: Pack = { name: "q" };
    const ids = new Map<Pack, string>();
    const h = new HeldLines<Pack>();
    const c = collector();
    h.add("A".repeat(50_000), { pack: p, tail: "\n" });
    h.add("B:", { pack: q, tail: "\n" });
    ids.set(p, "P");
    h.flush((x) => ids.get(x), c.line, c.record); // A is written; B waits, so A's bytes are dropped only when room is needed
    expect(c.lines).toHaveLength(1);
    // C's head fits; its record does not: room is made (dropping A's bytes) before any of C is put.
    const record = "[" + "r".repeat(80_000);
    h.add("C:", { pack: "old", tail: "\n", cache: { path: "c", record, recordTail: "]\n" } });
    ids.set(q, "Q");
    h.flush((x) => ids.get(x), c.line, c.record);
    expect(c.lines).toEqual(["A".repeat(50_000) + '"P"\n', 'B:"Q"\n', 'C:"old"\n']);
    expect(c.records).toEqual([["c", record + ',"old"]\n']]);
  });

  it("agrees with a plain list of lines over a long random run (growth and compaction at any point)", () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const packs: Pack[] = [];
    const ids = new Map<Pack, string>();
    const h = new HeldLines<Pack>();
    const c = collector();
    // The model: every line with what it waits for, written in order once nothing before waits.
    const model: Array<{ pack?: Pack | string; text: (id: string) => string; rec?: [string, (id: string) => string] }> = [];
    const expectedLines: string[] = [];
    const expectedRecords: Array<[string, string]> = [];
    const modelFlush = () => {
      while (model.length) {
        const m = model[0]!;
        const id = m.pack === undefined ? "" : typeof m.pack === "string" ? m.pack : ids.get(m.pack);
        if (id === undefined) break;
        expectedLines.push(m.text(id));
        if (m.rec) expectedRecords.push([m.rec[0], m.rec[1](id)]);
        model.shift();
      }
    };
    for (let i = 0; i < 4000; i++) {
      const len = rand(10) === 0 ? rand(120_000) : rand(300);
      const text = `${i}:` + "aé日😀".repeat(len >> 2);
      const kind = rand(4);
      if (kind === 0) {
        h.add(text + "\n");
        model.push({ text: () => text + "\n" });
      } else {
        if (packs.length === 0 || rand(20) === 0) packs.push({ name: `p${packs.length}` });
        const pack = kind === 1 ? `old${i}` : packs[packs.length - 1 - rand(Math.min(2, packs.length))]!;
        const withRec = rand(2) === 0;
        h.add(text, { pack, tail: `|${i}\n`, cache: withRec ? { path: `p${i}`, record: `[${text}`, recordTail: "]\n" } : undefined });
        model.push({
          pack,
          text: (id) => `${text}${JSON.stringify(id)}|${i}\n`,
          rec: withRec ? [`p${i}`, (id) => `[${text},${JSON.stringify(id)}]\n`] : undefined,
        });
      }
      if (rand(7) === 0 && packs.length) {
        const p = packs[rand(packs.length)]!;
        if (!ids.has(p)) ids.set(p, `id-${p.name}`);
      }
      if (rand(3) === 0) {
        h.flush((p) => ids.get(p), c.line, c.record);
        modelFlush();
        expect(c.lines.length).toBe(expectedLines.length);
      }
    }
    for (const p of packs) if (!ids.has(p)) ids.set(p, `id-${p.name}`);
    h.flush((p) => ids.get(p), c.line, c.record);
    modelFlush();
    expect(c.lines).toEqual(expectedLines);
    expect(c.records).toEqual(expectedRecords);
    expect(h.length).toBe(0);
  });
});
