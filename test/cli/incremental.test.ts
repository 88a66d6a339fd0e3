/**
 * Incremental snapshots through the real CLI: the local cache (in the sandbox's XDG_CACHE_HOME)
 * lets unchanged files go unread, content already stored is referenced rather than stored again,
 * and the cache is only ever a hint: deleted, corrupt, unwritable or stale, every snapshot is
 * still complete and restores on its own.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { sealKey, packKey } from "../../src/format/layout.js";
import { sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { describeTree, hashFile } from "../helpers/tree.js";

interface SnapJson {
  snapshot: string;
  packs: Array<{ id: string; size: number; compression?: string }>;
  stats: { files: number; bytes: number; new_bytes: number };
  incremental: { unchanged: number; reused: number; stored: number; newPacks: number; cache: string };
}

const sandboxes: Sandbox[] = [];
afterAll(() => {
  for (const s of sandboxes) s.cleanup();
});

let sb: Sandbox;
let t: TestRepo;
let src: string;

beforeEach(async () => {
  sb = sandbox();
  sandboxes.push(sb);
  t = await initRepo(sb);
  src = sb.path("site");
  fs.mkdirSync(src, { recursive: true });
});

async function snapshot(extra: string[] = [], dirs: string[] = [src], env?: NodeJS.ProcessEnv): Promise<SnapJson & { stderr: string; stdout: string }> {
  const r = await sb.run(["--json", "snapshot", "--repo", t.repo, ...extra, ...dirs], { env });
  expect(r.code, r.stderr).toBe(0);
  return { ...(JSON.parse(r.stdout) as SnapJson), stderr: r.stderr, stdout: r.stdout };
}

async function verifyKeyed(): Promise<void> {
  const v = await sb.run(["verify", "--repo", t.repo, "-i", t.key]);
  expect(v.code, v.stdout + v.stderr).toBe(0);
}

/** Restores a snapshot into a fresh folder and returns that folder. */
let restores = 0;
async function restore(id: string): Promise<string> {
  const out = sb.path(`out-${++restores}`);
  const r = await sb.run(["restore", id, "--repo", t.repo, "--target", out, "-i", t.key]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return out;
}

const repoId = (): string => (JSON.parse(fs.readFileSync(path.join(t.repo, "isnad.json"), "utf8")) as { id: string }).id;
const cacheDir = (): string => path.join(sb.env["XDG_CACHE_HOME"]!, "isnad", repoId());
const warnings = (stderr: string): string[] =>
  stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { level: number; msg: string })
    .filter((l) => l.level === 40)
    .map((l) => l.msg);

function writeRandom(file: string, bytes: number): void {
  const fd = fs.openSync(file, "w");
  try {
    for (let done = 0; done < bytes; done += 1 << 20) fs.writeSync(fd, randomBytes(Math.min(1 << 20, bytes - done)));
  } finally {
    fs.closeSync(fd);
  }
}

describe("incremental snapshots", () => {
  it("a renamed 100 MiB file adds no pack bytes, and the second snapshot restores it under its new name", async () => {
    writeRandom(path.join(src, "video.bin"), 100 << 20);
    fs.writeFileSync(path.join(src, "note.txt"), "a note\n");
    const first = await snapshot();
    expect(first.stats.new_bytes).toBe((100 << 20) + 7);
    expect(first.incremental).toMatchObject({ unchanged: 0, reused: 0, stored: 2, cache: "empty" });
    const sha = hashFile(path.join(src, "video.bin"));

    fs.renameSync(path.join(src, "video.bin"), path.join(src, "renamed.bin"));
    const second = await snapshot();
    expect(second.stats.new_bytes).toBe(0);
    expect(second.stats.bytes).toBe(first.stats.bytes);
    expect(second.incremental).toMatchObject({ unchanged: 1, reused: 1, stored: 0, newPacks: 0, cache: "used" });
    // The seal lists exactly the packs of the first snapshot (with their compression flag): no new pack.
    expect([...second.packs].sort((a, b) => a.id.localeCompare(b.id))).toEqual([...first.packs].sort((a, b) => a.id.localeCompare(b.id)));
    const seal = JSON.parse(fs.readFileSync(path.join(t.repo, sealKey(second.snapshot)), "utf8")) as { seal: { packs: unknown; stats: { new_bytes: number } } };
    expect(seal.seal.stats.new_bytes).toBe(0);
    expect(seal.seal.packs).toEqual(second.packs);
    const packFiles = fs.readdirSync(path.join(t.repo, "packs"), { recursive: true }).filter((f) => String(f).endsWith(".age"));
    expect(packFiles.length).toBe(first.packs.length);

    const out = await restore(second.snapshot);
    expect(fs.existsSync(path.join(out, "site/video.bin"))).toBe(false);
    expect(hashFile(path.join(out, "site/renamed.bin"))).toBe(sha);
    await verifyKeyed();
  });

  it("a touched but identical file is re-hashed (cache miss) and not stored again", async () => {
    writeRandom(path.join(src, "big.bin"), 3 << 20); // more than one read buffer: hashed in a pass of its own
    fs.writeFileSync(path.join(src, "small.txt"), "small\n");
    fs.writeFileSync(path.join(src, "other.txt"), "other\n");
    await snapshot();
    const again = await snapshot();
    expect(again.incremental).toMatchObject({ unchanged: 3, reused: 0, stored: 0, newPacks: 0 });

    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(src, "big.bin"), later, later);
    fs.utimesSync(path.join(src, "small.txt"), later, later);
    const touched = await snapshot();
    expect(touched.incremental).toMatchObject({ unchanged: 1, reused: 2, stored: 0, newPacks: 0 });
    expect(touched.stats.new_bytes).toBe(0);
    const out = await restore(touched.snapshot);
    expect(hashFile(path.join(out, "site/big.bin"))).toBe(hashFile(path.join(src, "big.bin")));
    // The new mtime is what the manifest records for the touched file.
    expect(Math.round(fs.statSync(path.join(out, "site/small.txt")).mtimeMs / 1000)).toBe(Math.round(later.getTime() / 1000));
  });

  it("a changed file with size and mtime forged back: ctime gives it away; a cache that lies is caught by --rehash and diff", async () => {
    const f = path.join(src, "ledger.csv");
    fs.writeFileSync(f, "alice,100\n");
    const mtime = new Date("2024-01-02T03:04:05Z");
    fs.utimesSync(f, mtime, mtime);
    await snapshot();

    // Same size, mtime set back with utimes (what `touch -d` does). The kernel still moved ctime,
    // which no user can set back: the plain snapshot reads the file again and stores the change.
    fs.writeFileSync(f, "alice,900\n");
    fs.utimesSync(f, mtime, mtime);
    const second = await snapshot();
    expect(second.incremental).toMatchObject({ unchanged: 0, stored: 1 });
    expect(fs.readFileSync(path.join(await restore(second.snapshot), "site/ledger.csv"), "utf8")).toBe("alice,900\n");

    // Now a cache that lies (as if ctime too had been forged, e.g. with the clock set back, or the
    // cache edited): its record for the file is rewritten to the file's current metadata.
    fs.writeFileSync(f, "alice,999\n");
    fs.utimesSync(f, mtime, mtime);
    const st = fs.statSync(f, { bigint: true });
    const filesCache = path.join(cacheDir(), "files.v2.jsonl");
    const lines = fs.readFileSync(filesCache, "utf8").split("\n");
    const at = lines.findIndex((l) => l.startsWith('["site/ledger.csv"'));
    const rec = JSON.parse(lines[at]!) as string[];
    lines[at] = JSON.stringify([rec[0], st.size.toString(), st.mtimeNs.toString(), st.ctimeNs.toString(), st.ino.toString(), ...rec.slice(5)]);
    fs.writeFileSync(filesCache, lines.join("\n"));

    // What this shows: a snapshot without --rehash trusts the cache and records the old content
    // (the one the cache names), so it misses the change. The repository is still consistent —
    // verify with the key passes, since every entry matches the bytes it points at — and `diff`,
    // which hashes every live file, names the change. `snapshot --rehash` reads the file and
    // stores the new content.
    const missed = await snapshot();
    expect(missed.incremental).toMatchObject({ unchanged: 1, stored: 0 });
    await verifyKeyed();
    const diff = await sb.run(["--json", "diff", missed.snapshot, src, "--repo", t.repo, "-i", t.key]);
    expect(diff.code, diff.stderr).toBe(3);
    const changes = (JSON.parse(diff.stdout) as { changes: Array<{ kind: string; path: string }> }).changes;
    expect(changes).toEqual([expect.objectContaining({ kind: "modified", path: "ledger.csv" })]);

    const rehashed = await snapshot(["--rehash"]);
    expect(rehashed.incremental).toMatchObject({ unchanged: 0, stored: 1 });
    expect(rehashed.stats.new_bytes).toBe(10);
    expect(fs.readFileSync(path.join(await restore(rehashed.snapshot), "site/ledger.csv"), "utf8")).toBe("alice,999\n");
    const clean = await sb.run(["diff", rehashed.snapshot, src, "--repo", t.repo, "-i", t.key]);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    await verifyKeyed();
  });

  it("with the cache folder deleted, the next snapshot reads everything, is correct and restores", async () => {
    fs.mkdirSync(path.join(src, "d"));
    writeRandom(path.join(src, "d/a.bin"), 200_000);
    fs.writeFileSync(path.join(src, "b.txt"), "b\n".repeat(1000));
    await snapshot();
    expect(fs.statSync(cacheDir()).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(cacheDir(), "files.v2.jsonl")).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(cacheDir(), "content.v1.jsonl")).mode & 0o777).toBe(0o600);
    fs.rmSync(path.join(sb.env["XDG_CACHE_HOME"]!, "isnad"), { recursive: true });
    const next = await snapshot();
    expect(next.incremental).toMatchObject({ unchanged: 0, reused: 0, stored: 2, cache: "empty" });
    const out = await restore(next.snapshot);
    expect(describeTree(path.join(out, "site"))).toEqual(describeTree(src));
    await verifyKeyed();
  });

  it("an unusable cache folder (XDG_CACHE_HOME is a file) or a corrupt cache file: a warning, exit 0, a correct snapshot", async () => {
    fs.writeFileSync(path.join(src, "a.txt"), "a\n");
    fs.writeFileSync(path.join(src, "a-copy.txt"), "a\n");
    const notADir = sb.path("cache-is-a-file");
    fs.writeFileSync(notADir, "");
    const off = await snapshot([], [src], { XDG_CACHE_HOME: notADir });
    expect(off.incremental).toMatchObject({ cache: "off", stored: 1, reused: 1 }); // dedup within the run still works
    expect(warnings(off.stderr).some((m) => m.includes(path.join(notADir, "isnad")) && m.includes("running without the cache"))).toBe(true);
    const text = await sb.run(["snapshot", "--repo", t.repo, src], { env: { XDG_CACHE_HOME: notADir } });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/0 files unchanged \(cache\), 1 already stored, 1 new \(no cache\)/);

    if (process.getuid?.() !== 0) {
      // (root ignores folder permissions, so this half runs only as an ordinary user)
      const locked = sb.path("locked");
      fs.mkdirSync(locked, { mode: 0o000 });
      const denied = await snapshot([], [src], { XDG_CACHE_HOME: path.join(locked, "cache") });
      expect(denied.incremental.cache).toBe("off");
      fs.chmodSync(locked, 0o700);
    }

    await snapshot(); // a good cache
    fs.writeFileSync(path.join(cacheDir(), "content.v1.jsonl"), '{"format":"isnad-cache-content/1"\n garbage');
    fs.writeFileSync(path.join(cacheDir(), "files.v2.jsonl"), "\0\0\0 not json");
    const corrupt = await snapshot();
    const w = warnings(corrupt.stderr);
    expect(w.some((m) => m.includes("content.v1.jsonl"))).toBe(true);
    expect(w.some((m) => m.includes("files.v2.jsonl"))).toBe(true);
    expect(corrupt.incremental).toMatchObject({ unchanged: 0, stored: 1, reused: 1 });
    const healed = await snapshot();
    expect(healed.incremental).toMatchObject({ unchanged: 2, stored: 0 });
    expect(warnings(healed.stderr)).toEqual([]);
    await verifyKeyed();
  });

  it("a cache entry whose pack was pruned (pack and seal deleted) is not trusted: the content is stored again", async () => {
    writeRandom(path.join(src, "keep.bin"), 50_000);
    const first = await snapshot();
    // Simulate forget + prune of the only snapshot: its seal, manifest and packs are gone; the cache still names them.
    fs.rmSync(path.join(t.repo, sealKey(first.snapshot)));
    for (const p of first.packs) fs.rmSync(path.join(t.repo, packKey(p.id)));
    const next = await snapshot();
    expect(next.incremental).toMatchObject({ unchanged: 0, stored: 1, newPacks: 1 });
    expect(next.stats.new_bytes).toBe(50_000);
    expect(next.packs.map((p) => p.id)).not.toContain(first.packs[0]!.id);
    const out = await restore(next.snapshot);
    expect(hashFile(path.join(out, "site/keep.bin"))).toBe(hashFile(path.join(src, "keep.bin")));
    await verifyKeyed();

    // A pack deleted while its seal stays (a prune cut short, or damage): the seal still lists it,
    // but storage does not have it, so it is not referenced either; the snapshot warns and stores again.
    const [lost] = next.packs;
    fs.rmSync(path.join(t.repo, packKey(lost!.id)));
    const third = await snapshot();
    expect(warnings(third.stderr).some((m) => m.includes(packKey(lost!.id)) && m.includes("missing"))).toBe(true);
    expect(third.incremental).toMatchObject({ unchanged: 0, stored: 1, newPacks: 1 });
    expect(third.packs.map((p) => p.id)).not.toContain(lost!.id);
    const v = await sb.run(["--json", "verify", "--repo", t.repo, "-i", t.key]);
    const errors = (JSON.parse(v.stdout) as { findings: Array<{ code: string; snapshot?: string }> }).findings;
    expect(errors.map((f) => [f.code, f.snapshot])).toEqual([["object-missing", next.snapshot]]);
    expect(hashFile(path.join(await restore(third.snapshot), "site/keep.bin"))).toBe(hashFile(path.join(src, "keep.bin")));
  });

  it("dedups across two sources and within one run; each snapshot restores on its own after an older seal is removed", async () => {
    const other = sb.path("mirror");
    fs.mkdirSync(other);
    writeRandom(path.join(src, "report.pdf"), 300_000);
    fs.copyFileSync(path.join(src, "report.pdf"), path.join(src, "report-copy.pdf"));
    fs.copyFileSync(path.join(src, "report.pdf"), path.join(other, "report.pdf"));
    // Small files share the compressed pack: the second snapshot needs it for stay.txt, and it
    // also holds gone.txt, which the second snapshot no longer has.
    fs.writeFileSync(path.join(src, "gone.txt"), "deleted before the second snapshot\n");
    fs.writeFileSync(path.join(src, "stay.txt"), "stays\n");
    const first = await snapshot([], [src, other]);
    expect(first.stats.files).toBe(5);
    expect(first.stats.new_bytes).toBe(300_000 + 35 + 6);
    expect(first.incremental).toMatchObject({ stored: 3, reused: 2 });
    expect(first.packs.length).toBe(2);

    fs.rmSync(path.join(src, "gone.txt"));
    fs.writeFileSync(path.join(other, "new.txt"), "new\n");
    const second = await snapshot([], [src, other]);
    expect(second.incremental).toMatchObject({ unchanged: 4, stored: 1, newPacks: 1 });
    expect(second.packs.length).toBe(3);
    for (const p of first.packs) expect(second.packs).toContainEqual(p);

    // The first seal is removed (as forget would): the second snapshot still names every pack it
    // needs, and restores whole — including from a pack holding a member (gone.txt) it does not list.
    fs.rmSync(path.join(t.repo, sealKey(first.snapshot)));
    const out = await restore(second.snapshot);
    expect(describeTree(path.join(out, "site"))).toEqual(describeTree(src));
    expect(describeTree(path.join(out, "mirror"))).toEqual(describeTree(other));
    const sum = (p: string) => createHash("sha256").update(fs.readFileSync(p)).digest("hex");
    expect(sum(path.join(out, "mirror/report.pdf"))).toBe(sum(path.join(src, "report.pdf")));
    // Verify reports the chain gap the removal made, and nothing about the data.
    const v = await sb.run(["--json", "verify", "--repo", t.repo, "-i", t.key]);
    const findings = (JSON.parse(v.stdout) as { findings: Array<{ code: string }> }).findings;
    expect(findings.map((f) => f.code)).toEqual(["chain-gap"]);
  });
});
