/**
 * ContentIndex (cache/content-index.ts): the in-memory index of stored content, an open-addressing
 * table over hash bytes. Everything added is found again, through both growths (columns and
 * table), with the first location kept unless replaced, and open packs get their id when closed.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ContentIndex } from "../../src/cache/content-index.js";

const sha = (i: number): string => createHash("sha256").update(`content ${i}`).digest("hex");
const PACK_A = "a".repeat(64);
const PACK_B = "b".repeat(64);

describe("ContentIndex", () => {
  it("finds every one of 20 000 entries, and nothing else", () => {
    const idx = new ContentIndex<object>();
    for (let i = 0; i < 20_000; i++) idx.add(sha(i), i % 2 ? PACK_A : PACK_B, `m/${i}`, i * 3);
    expect(idx.size).toBe(20_000);
    for (let i = 0; i < 20_000; i += 97) expect(idx.get(sha(i))).toEqual({ pack: i % 2 ? PACK_A : PACK_B, open: undefined, member: `m/${i}`, size: i * 3 });
    expect(idx.get(sha(20_000))).toBeUndefined();
    expect(idx.hasSize(3 * 19_999)).toBe(true);
    expect(idx.hasSize(1)).toBe(false);
  });

  it("keeps the first location of a content unless told to replace it", () => {
    const idx = new ContentIndex<object>();
    idx.add(sha(1), PACK_A, "first", 10);
    idx.changed = false;
    idx.add(sha(1), PACK_B, "second", 10);
    expect(idx.get(sha(1))).toMatchObject({ pack: PACK_A, member: "first" });
    expect(idx.changed).toBe(false);
    idx.add(sha(1), PACK_B, "second", 10, true);
    expect(idx.get(sha(1))).toMatchObject({ pack: PACK_B, member: "second" });
    expect(idx.size).toBe(1);
    expect(idx.changed).toBe(true);
  });

  it("gives an open pack its id once it is closed; lines() lists only entries with an id", () => {
    const idx = new ContentIndex<object>();
    const open = {};
    idx.add(sha(1), PACK_A, "stored", 1);
    idx.add(sha(2), open, "in/open/pack", 2);
    expect(idx.get(sha(2))).toEqual({ pack: "", open, member: "in/open/pack", size: 2 });
    expect([...idx.lines()]).toEqual([`${JSON.stringify([sha(1), PACK_A, "stored", 1])}\n`]);
    idx.packClosed(open, PACK_B);
    expect(idx.get(sha(2))).toEqual({ pack: PACK_B, open: undefined, member: "in/open/pack", size: 2 });
    expect([...idx.lines()]).toHaveLength(2);
    idx.add(sha(3), PACK_B, "same pack by id", 3);
    expect(idx.get(sha(3))?.pack).toBe(PACK_B);
  });

  it("refuses a key that is not a SHA-256 in hex", () => {
    const idx = new ContentIndex<object>();
    expect(() => idx.get("xyz")).toThrow(TypeError);
    expect(() => idx.add(sha(1).slice(0, 60), PACK_A, "m", 1)).toThrow(TypeError);
  });
});
