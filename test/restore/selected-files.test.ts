/**
 * SelectedFiles keeps a restore's plan in columns: every record comes back as it went in,
 * members shared by several paths keep their manifest order, and growth past the first columns
 * loses nothing.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SelectedFiles, type FileRecord } from "../../src/restore/selected-files.js";

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

function rec(i: number): FileRecord {
  return { path: `dir/${i}.txt`, size: i * 1000 + 1, sha256: sha(`content ${i}`), mode: 0o600 + (i % 64), mtime: String(1_700_000_000_123_456_789n + BigInt(i)), uid: 1000 + i, gid: 4_000_000_000 + (i % 7) };
}

describe("SelectedFiles", () => {
  it("gives back every record by pack and member, after growing many times", () => {
    const t = new SelectedFiles();
    const n = 5000;
    for (let i = 0; i < n; i++) t.add(`pack${i % 3}`, `dir/${i}.txt`, rec(i));
    expect(t.size).toBe(n);
    expect(t.totalBytes).toBe(Array.from({ length: n }, (_, i) => i * 1000 + 1).reduce((a, b) => a + b, 0));
    expect([...t.packs()]).toEqual(["pack0", "pack1", "pack2"]);
    for (const i of [0, 1, 1023, 1024, 1025, 4999]) expect(t.filesOf(`pack${i % 3}`, `dir/${i}.txt`)).toEqual([rec(i)]);
    expect(t.filesOf("pack1", "dir/0.txt")).toEqual([]);
    expect(t.filesOf("nope", "dir/0.txt")).toEqual([]);
    expect([...t.filesIn("pack2")].length).toBe(Math.floor(n / 3));
    expect(t.members("pack0").has("dir/3.txt")).toBe(true);
    expect(t.members("nope").size).toBe(0);
  });

  it("keeps the paths that share one member in manifest order", () => {
    const t = new SelectedFiles();
    const a = rec(1);
    const copies = [a, { ...a, path: "other/copy.txt" }, { ...a, path: "third.txt", mode: 0o644 }];
    t.add("p", "dir/1.txt", copies[0]!);
    t.add("p", "dir/2.txt", rec(2));
    t.add("p", "dir/1.txt", copies[1]!);
    t.add("p", "dir/1.txt", copies[2]!);
    expect(t.filesOf("p", "dir/1.txt")).toEqual(copies);
    expect([...t.filesIn("p")].map((r) => r.path)).toEqual(["dir/1.txt", "other/copy.txt", "third.txt", "dir/2.txt"]);
  });

  it("keeps a time before 1970 and the nanoseconds", () => {
    const t = new SelectedFiles();
    t.add("p", "old", { ...rec(0), path: "old", mtime: "-86400000000001" });
    expect(t.filesOf("p", "old")[0]!.mtime).toBe("-86400000000001");
  });
});
