/**
 * The snapshot cache on its own: the path part is merge-joined with lookups in walk order, the
 * content part trusts only packs the caller says valid seals list, and anything of another
 * repository, malformed or out of order is ignored with a warning, never thrown.
 */
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { SnapshotCache } from "../../src/cache/index.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-cache-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const REPO = "0123456789abcdef0123456789abcdef";
const sha = (c: string) => c.repeat(64);
const PACK_A = sha("a");
const PACK_B = sha("b");
let env: NodeJS.ProcessEnv;
let warned: string[];
let n = 0;

beforeEach(() => {
  env = { XDG_CACHE_HOME: path.join(root, `c${++n}`) };
  warned = [];
});

const open = (validPacks: string[] = [PACK_A, PACK_B], opts: { rehash?: boolean; repoId?: string } = {}) =>
  SnapshotCache.open<object>({ repoId: opts.repoId ?? REPO, validPacks: new Set(validPacks), rehash: opts.rehash, env, warn: (_w, m) => warned.push(m) });

/** This test's cache folder, and the lines of its path part. */
const cacheDir = (): string => path.join(env["XDG_CACHE_HOME"]!, "isnad", REPO);
const filesLines = (): string[] => fs.readFileSync(path.join(cacheDir(), "files.v2.jsonl"), "utf8").trimEnd().split("\n");

const file = (size: number, sha256: string) => ({ size: BigInt(size), mtimeNs: 1n, ctimeNs: 2n, ino: 3n, sha256 });

/** Writes a cache through the public API: the records given, content entries in pack A. */
function seed(paths: string[]): void {
  const c = open();
  for (const [i, p] of paths.entries()) {
    c.content.add(sha(String(i % 10)), PACK_A, p, i);
    c.record(p, file(i, sha(String(i % 10))), PACK_A, p);
  }
  c.commit();
}

describe("SnapshotCache", () => {
  it("finds records by merge-join in walk order, skipping paths it does not know", () => {
    seed(["s", "s/a", "s/a/z", "s/a.txt", "s/b"]);
    const c = open();
    expect(c.state).toBe("used");
    expect(c.lookup("r")).toBeUndefined();
    expect(c.lookup("s/a")).toMatchObject({ sha256: sha("1"), pack: PACK_A, member: "s/a" });
    expect(c.lookup("s/a/y")).toBeUndefined(); // between s/a and s/a/z: s/a/z stays for later
    expect(c.lookup("s/a/z")?.sha256).toBe(sha("2"));
    expect(c.lookup("s/b")?.size).toBe(4n); // s/a.txt passed over
    expect(c.lookup("t")).toBeUndefined();
    expect(c.content.get(sha("3"))).toMatchObject({ pack: PACK_A, member: "s/a.txt", size: 3 });
    expect(warned).toEqual([]);
    c.discard();
  });

  it("--rehash ignores the path part but keeps content dedup", () => {
    seed(["s/a"]);
    const c = open(undefined, { rehash: true });
    expect(c.lookup("s/a")).toBeUndefined();
    expect(c.content.get(sha("0"))?.pack).toBe(PACK_A);
    c.discard();
  });

  it("never trusts a pack no valid seal lists", () => {
    seed(["s/a", "s/b"]);
    const c = open([PACK_B]);
    expect(c.content.get(sha("0"))).toBeUndefined();
    expect(c.content.size).toBe(0);
    c.discard();
  });

  it("ignores a cache of another repository, with a warning", () => {
    seed(["s/a"]);
    fs.renameSync(path.join(env["XDG_CACHE_HOME"]!, "isnad", REPO), path.join(env["XDG_CACHE_HOME"]!, "isnad", "ffff"));
    const c = open(undefined, { repoId: "ffff" });
    expect(c.lookup("s/a")).toBeUndefined();
    expect(c.content.size).toBe(0);
    expect(warned.filter((w) => w.includes("another repository"))).toHaveLength(2);
    c.discard();
  });

  it("stops using a path part that is out of order, and drops a content part with a bad line", () => {
    seed(["s/a", "s/b"]);
    const dir = cacheDir();
    const files = filesLines();
    fs.writeFileSync(path.join(dir, "files.v2.jsonl"), [files[0], files[2], files[1]].join("\n") + "\n");
    fs.appendFileSync(path.join(dir, "content.v1.jsonl"), '["nothex","x","y",1]\n');
    const c = open();
    expect(c.lookup("s/a")).toBeUndefined(); // s/b comes first: s/a is not found
    expect(c.lookup("s/b")?.sha256).toBe(sha("1"));
    expect(warned).toEqual([]);
    expect(c.lookup("s/c")).toBeUndefined(); // reading on finds s/a after s/b: the rest is dropped
    expect(c.content.size).toBe(0); // the content part is read now, on first use
    expect(warned.some((w) => w.includes("files.v2.jsonl"))).toBe(true);
    expect(warned.some((w) => w.includes("content.v1.jsonl") && w.includes("line 4"))).toBe(true);
    c.discard();
  });

  it("content of a pack still open gets its id when the pack is closed", () => {
    const c = open([]);
    const handle = {};
    c.content.add(sha("9"), handle, "s/x", 5);
    expect(c.content.get(sha("9"))).toMatchObject({ pack: "", open: handle });
    c.content.packClosed(handle, PACK_B);
    expect(c.content.get(sha("9"))).toMatchObject({ pack: PACK_B, open: undefined, member: "s/x" });
    expect(c.content.hasSize(5)).toBe(true);
    c.commit();
    expect(open([PACK_B]).content.get(sha("9"))?.pack).toBe(PACK_B);
  });

  it("a record keeps its pack and, when it differs from the path, its member name", () => {
    const c = open();
    c.record("s/a", file(1, sha("1")), PACK_A, "s/a");
    c.record("s/b", file(2, sha("2")), PACK_B, "t/elsewhere");
    c.commit();
    const lines = filesLines();
    expect(JSON.parse(lines[0]!)).toEqual({ format: "isnad-cache-files/2", repository: REPO });
    expect(JSON.parse(lines[1]!)).toEqual(["s/a", "1", "1", "2", "3", sha("1"), PACK_A]);
    expect(JSON.parse(lines[2]!)).toEqual(["s/b", "2", "1", "2", "3", sha("2"), PACK_B, "t/elsewhere"]);
    const again = open();
    expect(again.lookup("s/a")).toMatchObject({ pack: PACK_A, member: "s/a", size: 1n });
    expect(again.lookup("s/b")).toMatchObject({ pack: PACK_B, member: "t/elsewhere", size: 2n });
    again.discard();
  });

  it("records a looked-up file again by its line as read, and encodes it anew when its pack or member moved", () => {
    const c = open();
    c.record("s/a", file(1, sha("1")), PACK_A, "s/a");
    c.record("s/b", file(2, sha("2")), PACK_A, "s/b");
    c.commit();
    const dir = cacheDir();
    const before = filesLines();
    // The line as read: written as it is (a hand-edited spacing survives, which proves it was copied).
    fs.writeFileSync(path.join(dir, "files.v2.jsonl"), [before[0], before[1]!.replace(/,/g, ", "), before[2]].join("\n") + "\n");
    const again = open();
    const a = again.lookup("s/a")!;
    const b = again.lookup("s/b")!;
    again.record("s/a", a, a.pack, a.member);
    again.record("s/b", b, PACK_B, b.member); // its content was stored again elsewhere
    again.commit();
    const after = filesLines();
    expect(after[1]).toBe(before[1]!.replace(/,/g, ", "));
    expect(JSON.parse(after[2]!)).toEqual(["s/b", "2", "1", "2", "3", sha("2"), PACK_B]);
  });

  it("reads the content part only when asked, and writes it again only if it changed", () => {
    seed(["s/a", "s/b"]);
    const dir = cacheDir();
    const content = path.join(dir, "content.v1.jsonl");
    // Not asked: a broken content file is neither read (no warning) nor replaced.
    fs.appendFileSync(content, "not json\n");
    const untouched = fs.readFileSync(content, "utf8");
    const c1 = open();
    c1.lookup("s/a");
    c1.commit();
    expect(warned).toEqual([]);
    expect(fs.readFileSync(content, "utf8")).toBe(untouched);
    // Asked: the bad file is dropped with a warning and written again (empty, as nothing was added).
    const c2 = open();
    expect(c2.content.size).toBe(0);
    c2.commit();
    expect(warned).toEqual([expect.stringContaining("content.v1.jsonl")]);
    expect(fs.readFileSync(content, "utf8").trimEnd().split("\n")).toHaveLength(1);
    // Read and unchanged: the file is left as it was (same inode).
    seed(["s/a"]);
    const ino = fs.statSync(content).ino;
    const c3 = open();
    expect(c3.content.size).toBe(1);
    c3.commit();
    expect(fs.statSync(content).ino).toBe(ino);
    // A pack no valid seal lists any more: its entries leave the file.
    const c4 = open([PACK_B]);
    expect(c4.content.size).toBe(0);
    c4.commit();
    expect(fs.readFileSync(content, "utf8").trimEnd().split("\n")).toHaveLength(1);
  });

  it("a cache of the first format is not read, and goes when a new one is committed", () => {
    const dir = cacheDir();
    fs.mkdirSync(dir, { recursive: true });
    const old = path.join(dir, "files.v1.jsonl");
    fs.writeFileSync(old, JSON.stringify({ format: "isnad-cache-files/1", repository: REPO }) + "\n" + JSON.stringify(["s/a", "1", "1", "2", "3", sha("1")]) + "\n");
    const c = open();
    expect(c.lookup("s/a")).toBeUndefined();
    c.commit();
    expect(fs.existsSync(old)).toBe(false);
    expect(warned).toEqual([]);
  });

  it("discard leaves the old cache as it was and no temporary file", () => {
    seed(["s/a"]);
    const dir = cacheDir();
    const before = fs.readFileSync(path.join(dir, "files.v2.jsonl"), "utf8");
    const c = open();
    c.record("s/z", file(1, sha("e")), PACK_A, "s/z");
    c.discard();
    expect(fs.readFileSync(path.join(dir, "files.v2.jsonl"), "utf8")).toBe(before);
    expect(fs.readdirSync(dir).sort()).toEqual(["content.v1.jsonl", "files.v2.jsonl"]);
  });
});
