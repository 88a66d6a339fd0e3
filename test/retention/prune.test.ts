/**
 * prune's core (src/retention/prune.ts) on a real local repository made through the CLI: what it
 * keeps when a seal does not verify or cannot be read, and that a lost lock stops it before any
 * deletion. (The CLI behaviour, crashes and tampering are in test/cli/retention.test.ts.)
 */
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IsnadError } from "../../src/errors.js";
import { sealKey } from "../../src/format/layout.js";
import { openRepository } from "../../src/repo/repository.js";
import { prune } from "../../src/retention/prune.js";
import { StorageError } from "../../src/storage/storage.js";
import { openStorage } from "../../src/storage/open.js";
import { sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

let sb: Sandbox;
let t: TestRepo;
/** Three snapshots; forget --keep-last 1 removed the first two. */
let base: string;
const snaps: Array<{ snapshot: string; manifest: { id: string } }> = [];
let copies = 0;

const copy = (): string => {
  const dest = sb.path(`copy-${++copies}`);
  fs.cpSync(base, dest, { recursive: true });
  return dest;
};
const open = async (repo: string) => openRepository(await openStorage(repo));
const objectFiles = (repo: string) =>
  ["manifests", "packs"].flatMap((d) => (fs.readdirSync(path.join(repo, d), { recursive: true }) as string[]).filter((f) => f.endsWith(".age"))).length;

beforeAll(async () => {
  sb = sandbox();
  t = await initRepo(sb);
  const src = sb.path("data");
  fs.mkdirSync(src);
  for (let i = 1; i <= 3; i++) {
    fs.writeFileSync(path.join(src, `f${i}.txt`), `file ${i}\n`);
    const r = await sb.run(["--json", "snapshot", "--repo", t.repo, src]);
    expect(r.code, r.stderr).toBe(0);
    snaps.push(JSON.parse(r.stdout));
  }
  const f = await sb.run(["forget", "--repo", t.repo, "--keep-last", "1"]);
  expect(f.code, f.stderr).toBe(0);
  base = t.repo;
});
afterAll(() => sb?.cleanup());

describe("prune (core)", () => {
  it("deletes only the removed snapshots' objects; a dry run reports the same and deletes nothing", async () => {
    const repo = copy();
    const before = objectFiles(repo);
    const dry = await prune({ repo: await open(repo), dryRun: true });
    expect(objectFiles(repo)).toBe(before);
    const real = await prune({ repo: await open(repo) });
    expect(real.deleted).toEqual(dry.deleted);
    expect(real.deleted.filter((d) => d.kind === "manifest").map((d) => d.key).sort()).toEqual(snaps.slice(0, 2).map((s) => `manifests/${s.manifest.id}.age`).sort());
    expect(objectFiles(repo)).toBe(before - real.deleted.length);
    expect(real.snapshotsKept).toBe(1);
  });

  it("a lost lock stops it before the first deletion", async () => {
    const repo = copy();
    const before = objectFiles(repo);
    const lost = () => Promise.reject(new IsnadError("locked", "lost the repository lock"));
    await expect(prune({ repo: await open(repo), assertLocked: lost })).rejects.toThrow(/lost the repository lock/);
    expect(objectFiles(repo)).toBe(before);
  });

  it("keeps what a seal with a bad signature names (verify judges it, not prune)", async () => {
    const repo = copy();
    // The kept seal, edited so its signature fails: prune still keeps its objects.
    const kept = fs.readFileSync(path.join(repo, sealKey(snaps[2]!.snapshot)), "utf8");
    fs.writeFileSync(path.join(repo, sealKey(snaps[2]!.snapshot)), kept.replace(/"host":"([^"]*)"/, '"host":"$1x"'));
    const r = await prune({ repo: await open(repo) });
    expect(r.snapshotsKept).toBe(1);
    expect(r.deleted.map((d) => d.key)).not.toContain(`manifests/${snaps[2]!.manifest.id}.age`);
  });

  it("refuses (integrity) and deletes nothing while a seal file cannot be read", async () => {
    const repo = copy();
    const before = objectFiles(repo);
    fs.writeFileSync(path.join(repo, sealKey("00000000deadbeef")), "{not json");
    await expect(prune({ repo: await open(repo) })).rejects.toMatchObject({ kind: "integrity", message: expect.stringMatching(/snapshots\/00000000deadbeef\.seal\.json cannot be read/) });
    expect(objectFiles(repo)).toBe(before);
  });

  it("skips objects the storage still locks (Object Lock), says until when, and a later prune deletes them", async () => {
    // No server here implements S3 Object Lock (s3rver lacks it): a local repository whose delete
    // refuses packs the way the S3 backend reports a retained object stands in for one.
    const repo = copy();
    const until = new Date("2031-01-01T00:00:00Z");
    const r0 = await open(repo);
    const storage = r0.storage;
    const locking = Object.create(storage) as typeof storage;
    locking.delete = async (key: string) => {
      if (key.startsWith("manifests/")) throw new StorageError(`${key} is still locked until ${until.toISOString()}`, { locked: true, lockedUntil: until });
      return storage.delete(key);
    };
    const events: string[] = [];
    const r = await prune({ repo: { ...r0, storage: locking }, onEvent: (e) => events.push(e.type) });
    expect(r.stillLocked.length).toBeGreaterThan(0);
    expect(r.stillLocked.every((l) => l.kind === "manifest" && l.until === until.toISOString())).toBe(true);
    expect(r.deleted.every((d) => d.kind === "pack")).toBe(true);
    expect(events).toContain("still-locked");
    for (const l of r.stillLocked) expect(fs.existsSync(path.join(repo, l.key))).toBe(true);
    // Retention over: the next prune deletes them.
    const later = await prune({ repo: await open(repo) });
    expect(later.deleted.map((d) => d.key).sort()).toEqual(r.stillLocked.map((l) => l.key).sort());
    expect(later.stillLocked).toEqual([]);
  });
});
