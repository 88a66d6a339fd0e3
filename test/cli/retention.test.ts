/**
 * Retention through the real CLI: `isnad forget` (policy, dry run, explicit ids, --allow-empty,
 * --prune), `isnad prune`, and what `isnad verify` makes of them. A repository of seven snapshots
 * is made once; forget removes seals 1–2 (record 1) and 3–4 (record 2), prune frees their objects;
 * each later case works on its own copy (cp -r) of that state.
 *
 * The tamper cases: a seal deleted without a record, a removal record deleted while a later one
 * exists, an edited record, a record signed with another key, and a validly signed record that
 * names the wrong seal hash all exit 3 with their own finding code. A policy removal exits 0 with
 * an info finding per removed snapshot.
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removalKey, sealKey } from "../../src/format/layout.js";
import { decodeRemoval, encodeRemoval, removalSignedBytes, type RemovalBody } from "../../src/format/removal.js";
import { decodeSeal } from "../../src/format/seal.js";
import type { Finding } from "../../src/verify/findings.js";
import { sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { describeTree } from "../helpers/tree.js";

interface Snap {
  snapshot: string;
  seq: number;
  chainHead: string;
  manifest: { id: string; size: number };
  packs: Array<{ id: string; size: number }>;
}

let sb: Sandbox;
let t: TestRepo;
let src: string;
const snaps: Snap[] = [];
/** The repository after the two forgets and a prune: seals 5, 6, 7 remain. */
let base: string;
/** A copy of the repository before any forget. */
let untouched: string;
let copies = 0;

const abs = (repo: string, key: string): string => path.join(repo, ...key.split("/"));
const exists = (repo: string, key: string): boolean => fs.existsSync(abs(repo, key));
function copyRepo(from = base): string {
  const dest = sb.path(`copy-${++copies}`);
  fs.cpSync(from, dest, { recursive: true });
  return dest;
}
/** Every file under a repository except locks and staging, for "nothing changed" checks. */
function listing(repo: string): string[] {
  return (fs.readdirSync(repo, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(repo, path.join(d.parentPath, d.name)))
    .filter((f) => !f.startsWith("tmp") && !f.startsWith("locks"))
    .sort();
}

async function snapshot(repo = t.repo): Promise<Snap> {
  const r = await sb.run(["--json", "snapshot", "--repo", repo, src]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Snap;
}

async function verify(repo: string, args: string[] = []): Promise<{ code: number; text: string; findings: Finding[]; errors: string[] }> {
  const [text, json] = await Promise.all([sb.run(["verify", "--repo", repo, ...args]), sb.run(["--json", "verify", "--repo", repo, ...args])]);
  expect(json.code, `--json and text verify disagree\n${text.stdout}\n${json.stderr}`).toBe(text.code);
  const doc = JSON.parse(json.stdout) as { findings: Finding[] };
  return { code: text.code, text: text.stdout, findings: doc.findings, errors: doc.findings.filter((f) => f.severity === "error").map((f) => f.code) };
}

const removedByPolicy = (v: { findings: Finding[] }) =>
  v.findings.filter((f) => f.code === "snapshot-removed-by-policy" && f.severity === "info").map((f) => f.snapshot).sort();
const ids = (from: number, to: number) => snaps.slice(from - 1, to).map((s) => s.snapshot);

/** A removal record signed with a key file (PKCS#8 PEM) or key object. */
function signedRecord(body: RemovalBody, key: Parameters<typeof sign>[2]): Buffer {
  return encodeRemoval(body, sign(null, removalSignedBytes(body), key));
}
const repoKey = () => createPrivateKey(fs.readFileSync(t.signingKey));

beforeAll(async () => {
  sb = sandbox();
  t = await initRepo(sb);
  src = sb.path("data");
  fs.mkdirSync(src);
  for (let i = 1; i <= 7; i++) {
    // Each snapshot changes one file and replaces another, so (with dedup) each has its own pack
    // that no other snapshot refers to, and pruning a removed snapshot frees its pack.
    fs.writeFileSync(path.join(src, "changing.txt"), `version ${i}\n`.repeat(100 * i));
    if (i > 1) fs.rmSync(path.join(src, `added-${i - 1}.txt`));
    fs.writeFileSync(path.join(src, `added-${i}.txt`), `added in snapshot ${i}\n`);
    snaps.push(await snapshot());
  }
  untouched = copyRepo(t.repo);
}, 120_000);

afterAll(() => sb?.cleanup());

describe("forget and prune", () => {
  it("forget --dry-run lists what it would keep and remove, with reasons, and changes nothing", async () => {
    const before = listing(t.repo);
    const r = await sb.run(["forget", "--repo", t.repo, "--keep-last", "5", "--dry-run"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/keep 5 snapshots:/);
    expect(r.stdout).toContain(`${snaps[6]!.snapshot}  `);
    expect(r.stdout).toMatch(new RegExp(`${snaps[6]!.snapshot} .* last snapshot`));
    expect(r.stdout).toMatch(/would remove 2 snapshots:/);
    for (const id of ids(1, 2)) expect(r.stdout).toMatch(new RegExp(`^    ${id}  \\d{4}-`, "m"));
    expect(r.stdout).toMatch(/^dry run: nothing was changed/m);
    expect(listing(t.repo)).toEqual(before);
  });

  it("forget --keep-last 5 writes a signed removal record, then deletes seals 1-2; a second forget adds record 2", async () => {
    const r1 = await sb.run(["--json", "forget", "--repo", t.repo, "--keep-last", "5"]);
    expect(r1.code, r1.stderr).toBe(0);
    const j1 = JSON.parse(r1.stdout) as { removed: Array<{ snapshot: string }>; kept: number; record: { key: string; seq: number } };
    expect(j1.removed.map((x) => x.snapshot).sort()).toEqual(ids(1, 2).sort());
    expect(j1.kept).toBe(5);
    expect(j1.record).toMatchObject({ key: removalKey(1), seq: 1 });
    for (const id of ids(1, 2)) expect(exists(t.repo, sealKey(id))).toBe(false);
    const rec = decodeRemoval(fs.readFileSync(abs(t.repo, removalKey(1))));
    expect(rec.body.policy).toEqual({ "keep-last": 5 });
    expect(rec.body.removed.map((x) => x.seq)).toEqual([1, 2]);
    expect(rec.body.removed[1]!.seal_sha256).toBe(snaps[1]!.chainHead);

    const r2 = await sb.run(["forget", "--repo", t.repo, "--keep-last", "3"]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toContain(`signed removal record ${removalKey(2)}`);
    expect(decodeRemoval(fs.readFileSync(abs(t.repo, removalKey(2)))).body.parent).toBe(rec.hash);

    const s = await sb.run(["--json", "snapshots", "--repo", t.repo]);
    expect((JSON.parse(s.stdout) as Array<{ id: string }>).map((x) => x.id)).toEqual(ids(5, 7));
    const all = await sb.run(["--json", "snapshots", "--repo", t.repo, "--removed"]);
    const listed = JSON.parse(all.stdout) as Array<{ id: string; removed?: { record: number } }>;
    expect(listed.map((x) => [x.id, x.removed?.record])).toEqual(snaps.map((x, i) => [x.snapshot, i < 2 ? 1 : i < 4 ? 2 : undefined]));
  });

  it("verify after forget: exit 0, each removed snapshot reported as removed by policy (info)", async () => {
    const v = await verify(t.repo);
    expect(v.errors).toEqual([]);
    expect(v.code).toBe(0);
    expect(removedByPolicy(v)).toEqual(ids(1, 4).sort());
    expect(v.text).toMatch(/3 seals \(and 4 snapshots removed by policy/);
    expect(v.text).toMatch(/^OK: every check passed$/m);
  });

  it("prune --dry-run lists, prune deletes exactly the objects of removed snapshots and prints the bytes freed", async () => {
    const kept = snaps.slice(4).flatMap((s) => [`manifests/${s.manifest.id}.age`, ...s.packs.map((p) => `packs/${p.id.slice(0, 2)}/${p.id}.age`)]);
    // What removed snapshots named and no kept one does (with dedup a kept seal may list an old pack).
    const gone = snaps
      .slice(0, 4)
      .flatMap((s) => [`manifests/${s.manifest.id}.age`, ...s.packs.map((p) => `packs/${p.id.slice(0, 2)}/${p.id}.age`)])
      .filter((k) => !kept.includes(k));
    expect(gone.filter((k) => k.startsWith("packs/")).length).toBe(4);
    const before = listing(t.repo);
    const dry = await sb.run(["prune", "--repo", t.repo, "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    for (const k of gone) expect(dry.stdout).toContain(`would delete ${k}`);
    expect(dry.stdout).toMatch(/dry run: nothing was changed/);
    expect(listing(t.repo)).toEqual(before);

    const r = await sb.run(["--json", "prune", "--repo", t.repo]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { deleted: Array<{ key: string; size: number }>; bytesFreed: number };
    expect(j.deleted.map((d) => d.key).sort()).toEqual([...gone].sort());
    expect(j.bytesFreed).toBe(j.deleted.reduce((n, d) => n + d.size, 0));
    expect(j.bytesFreed).toBeGreaterThan(0);
    for (const k of gone) expect(exists(t.repo, k), k).toBe(false);
    for (const k of kept) expect(exists(t.repo, k), k).toBe(true);
    expect(exists(t.repo, "locks/lock.json")).toBe(false);

    const again = await sb.run(["prune", "--repo", t.repo]);
    expect(again.stdout).toMatch(/deleted 0 manifests and 0 packs, 0 B freed/);
    base = copyRepo(t.repo);
  });

  it("after forget and prune: keyless and keyed verify exit 0, and a kept snapshot restores byte for byte", async () => {
    expect((await verify(base)).code).toBe(0);
    const keyed = await verify(base, ["-i", t.key]);
    expect(keyed.errors).toEqual([]);
    expect(keyed.code).toBe(0);
    const target = sb.path("restored");
    const r = await sb.run(["restore", "--repo", base, "-i", t.key, "-t", target, snaps[6]!.snapshot]);
    expect(r.code, r.stderr).toBe(0);
    expect(describeTree(path.join(target, "data"))).toEqual(describeTree(src));
    const old = await sb.run(["restore", "--repo", base, "-i", t.key, "-t", sb.path("restored-old"), snaps[0]!.snapshot]);
    expect(old.code).toBe(2);
    expect(old.stderr).toMatch(new RegExp(`^isnad: snapshot ${snaps[0]!.snapshot} was removed by policy \\(removal record 1`, "m"));
  });

  it("a snapshot after forget and prune extends the chain (seq 8), and verify stays 0", async () => {
    const repo = copyRepo();
    const s = await snapshot(repo);
    expect(s.seq).toBe(8);
    expect(decodeSeal(fs.readFileSync(abs(repo, sealKey(s.snapshot)))).body.parent).toBe(snaps[6]!.chainHead);
    expect((await verify(repo)).code).toBe(0);
  });

  it("forget --prune does both in one run under one lock", async () => {
    const repo = copyRepo(untouched);
    const r = await sb.run(["forget", "--repo", repo, "--keep-last", "1", "--prune"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed 6 snapshots, kept 1/);
    expect(r.stdout).toMatch(/deleted 6 manifests and \d+ packs/);
    expect(exists(repo, "locks/lock.json")).toBe(false);
    expect((await verify(repo, ["-i", t.key])).code).toBe(0);
  });
});

describe("removing the newest snapshot and every snapshot (explicit ids)", () => {
  it("forget ID of the newest seal: the next snapshot still chains to it; verify 0", async () => {
    const repo = copyRepo();
    const r = await sb.run(["forget", "--repo", repo, snaps[6]!.snapshot.slice(0, 8)]);
    expect(r.code, r.stderr).toBe(0);
    expect(decodeRemoval(fs.readFileSync(abs(repo, removalKey(3)))).body.policy).toEqual({ snapshots: [snaps[6]!.snapshot.slice(0, 8)] });
    const s = await snapshot(repo);
    expect(s.seq).toBe(8);
    expect(decodeSeal(fs.readFileSync(abs(repo, sealKey(s.snapshot)))).body.parent).toBe(snaps[6]!.chainHead);
    expect((await verify(repo)).code).toBe(0);
    // A chain head from an old log that names the removed seal is still found (as removed by policy).
    expect((await verify(repo, ["--chain-head", snaps[6]!.chainHead])).code).toBe(0);
  });

  it("a removal that leaves no snapshot is refused (exit 2, nothing changed) unless --allow-empty", async () => {
    const repo = copyRepo();
    const before = listing(repo);
    const r = await sb.run(["forget", "--repo", repo, ...ids(5, 7)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^isnad: this would remove every snapshot \(3\) of .*; nothing was changed$/m);
    expect(r.stderr).toMatch(/--allow-empty/);
    expect(listing(repo)).toEqual(before);
    const ok = await sb.run(["forget", "--repo", repo, "--allow-empty", "--prune", ...ids(5, 7)]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(fs.readdirSync(abs(repo, "snapshots"))).toEqual([]);
    const v = await verify(repo);
    expect(v.code).toBe(0);
    expect(removedByPolicy(v)).toEqual(snaps.map((s) => s.snapshot).sort());
    expect((await snapshot(repo)).seq).toBe(8);
    expect((await verify(repo, ["-i", t.key])).code).toBe(0);
  });
});

describe("bad input", () => {
  it.each<[string[], RegExp]>([
    [["--keep-daily", "abc"], /^isnad: --keep-daily: expected a whole number ≥ 1, got abc$/m],
    [["--keep-last", "0"], /^isnad: --keep-last: expected a whole number ≥ 1, got 0$/m],
    [["--keep-weekly", "-3"], /^isnad: --keep-weekly: expected a whole number ≥ 1, got -3$/m],
    [["--keep-monthly", "1.5"], /^isnad: --keep-monthly: expected a whole number ≥ 1, got 1\.5$/m],
    [["--keep-within", "3w"], /^isnad: --keep-within: expected a duration like 2y5m7d3h .*got 3w$/m],
    [["--keep-within", "0d"], /^isnad: --keep-within: expected a duration like 2y5m7d3h .*got 0d$/m],
    [["--keep-last", "2", "--wait", "soon"], /^isnad: --wait: expected a duration like 90s, 10m, 1h or 1h30m, got soon$/m],
    [[], /^isnad: no retention policy given: forget would remove nothing$/m],
    [["--keep-last", "2", "0123abcd"], /^isnad: give snapshot ids or --keep-\* options, not both$/m],
    [["not-an-id"], /^isnad: "not-an-id" is not a snapshot id$/m],
    [["--keep-last", "2", "--dry-run", "--prune"], /^isnad: --prune does nothing with --dry-run$/m],
  ])("forget %j: exit 2, one line naming the flag, nothing changed", async (args, message) => {
    const before = listing(base);
    const r = await sb.run(["forget", "--repo", base, ...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(listing(base)).toEqual(before);
  });

  it("forget with another repository's signing key: exit 2, nothing changed", async () => {
    const other = await initRepo(sb, { name: "other" });
    const before = listing(base);
    const r = await sb.run(["forget", "--repo", base, "--keep-last", "1", "--signing-key", other.signingKey]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^isnad: the signing key \(fingerprint .*\) does not belong to /m);
    expect(listing(base)).toEqual(before);
  });
});

describe("the lock", () => {
  it("forget and prune exit 75 naming the holder while another run holds the lock; --wait gives up after the wait", async () => {
    const repo = copyRepo();
    const now = new Date().toISOString();
    // A live holder on this host: the test runner's own pid.
    fs.mkdirSync(abs(repo, "locks"), { recursive: true });
    fs.writeFileSync(abs(repo, "locks/lock.json"), JSON.stringify({ token: "t", host: os.hostname(), pid: process.pid, user: "someone", command: "snapshot", started: now, refreshed: now }));
    const before = listing(repo);
    for (const args of [["forget", "--keep-last", "1"], ["prune"], ["forget", "--keep-last", "1", "--wait", "1s"]]) {
      const r = await sb.run([...args, "--repo", repo]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(75);
      expect(r.stderr).toMatch(new RegExp(`^isnad: .* is locked by isnad snapshot \\(pid ${process.pid} on `, "m"));
    }
    expect(listing(repo)).toEqual(before);
    // Dry runs only read: they do not need the lock.
    expect((await sb.run(["forget", "--repo", repo, "--keep-last", "1", "--dry-run"])).code).toBe(0);
  });
});

describe("crashes", () => {
  it.each([1, 2, 5])("prune killed (-9) after %i deletions: verify exits 0 (with and without the key), a second prune finishes", async (n) => {
    const repo = copyRepo(untouched);
    expect((await sb.run(["forget", "--repo", repo, "--keep-last", "2"])).code).toBe(0);
    const r = await sb.run(["prune", "--repo", repo], { env: { ISNAD_TEST_PRUNE_KILL_AFTER: String(n) } });
    expect(r.code, "prune should have been killed").not.toBe(0);
    expect(exists(repo, "locks/lock.json"), "a killed prune leaves its lock").toBe(true);
    expect((await verify(repo)).code).toBe(0);
    expect((await verify(repo, ["-i", t.key])).code).toBe(0);
    const again = await sb.run(["--json", "prune", "--repo", repo]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/took over a stale lock/);
    const done = JSON.parse(again.stdout) as { deleted: unknown[] };
    expect(done.deleted.length).toBeGreaterThan(0);
    expect((await sb.run(["--json", "prune", "--repo", repo, "--dry-run"])).stdout).toMatch(/"deleted": \[\]/);
    expect((await verify(repo, ["-i", t.key])).code).toBe(0);
  });

  it("forget interrupted after its record (seals still present): verify 0 ('seal still present'), snapshots hides them, the next forget deletes them", async () => {
    const repo = copyRepo();
    // The state a crash between writing record 2 and deleting its seals leaves: put seals 3-4 back.
    for (const id of ids(3, 4)) fs.copyFileSync(abs(untouched, sealKey(id)), abs(repo, sealKey(id)));
    const v = await verify(repo);
    expect(v.errors).toEqual([]);
    expect(v.text).toMatch(/info \[snapshot-removed-by-policy\] snapshot .* its seal is still present/);
    expect(removedByPolicy(v)).toEqual(ids(1, 4).sort());
    const s = await sb.run(["--json", "snapshots", "--repo", repo]);
    expect((JSON.parse(s.stdout) as Array<{ id: string }>).map((x) => x.id)).toEqual(ids(5, 7));
    // Nor can it be restored: prune may already have deleted its objects.
    const r = await sb.run(["restore", "--repo", repo, "-i", t.key, "-t", sb.path(`r-${copies}`), snaps[3]!.snapshot]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/was removed by policy \(removal record 2/);
    const f = await sb.run(["--json", "forget", "--repo", repo, "--keep-last", "3"]);
    expect(f.code, f.stderr).toBe(0);
    expect((JSON.parse(f.stdout) as { finished: string[]; record: unknown }).finished.sort()).toEqual(ids(3, 4).sort());
    expect(JSON.parse(f.stdout).record).toBeNull();
    for (const id of ids(3, 4)) expect(exists(repo, sealKey(id))).toBe(false);
    expect((await verify(repo)).code).toBe(0);
  });
});

describe("tampering with removals (exit 3, named)", () => {
  it("a kept seal deleted without a record: chain-gap", async () => {
    const repo = copyRepo();
    fs.rmSync(abs(repo, sealKey(snaps[5]!.snapshot)));
    const v = await verify(repo);
    expect(v.code).toBe(3);
    expect(v.errors).toEqual(["chain-gap"]);
    expect(v.text).toMatch(/ERROR \[chain-gap\] seal 6 of the chain is missing before snapshot .*no valid removal record names it/);
  });

  it("removal record 1 deleted while record 2 exists: removal-chain-gap, and seals 1-2 are a chain-gap", async () => {
    const repo = copyRepo();
    fs.rmSync(abs(repo, removalKey(1)));
    const v = await verify(repo);
    expect(v.code).toBe(3);
    expect(v.errors.sort()).toEqual(["chain-gap", "removal-chain-gap"]);
    expect(v.text).toMatch(/ERROR \[removal-chain-gap\] removal record 1 is missing before removals\/0000000002\.json/);
    // forget and prune refuse to build on a broken record chain
    const f = await sb.run(["forget", "--repo", repo, "--keep-last", "1"]);
    expect(f.code).toBe(3);
    expect(f.stderr).toMatch(/^isnad: the removal records of .* do not verify/m);
    expect((await sb.run(["prune", "--repo", repo])).code).toBe(3);
  });

  it("an edited removal record: removal-signature naming it, and the seals it covered are a chain-gap", async () => {
    const repo = copyRepo();
    const file = abs(repo, removalKey(2));
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('"keep-last":3', '"keep-last":4'));
    const v = await verify(repo);
    expect(v.code).toBe(3);
    expect(v.errors.sort()).toEqual(["chain-gap", "removal-signature"]);
    expect(v.findings.find((f) => f.code === "removal-signature")!.object).toBe(removalKey(2));
  });

  it("a record forged with another key that 'removes' seal 5: removal-signature, and seal 5's absence is a chain-gap", async () => {
    const repo = copyRepo();
    const prev = decodeRemoval(fs.readFileSync(abs(repo, removalKey(2))));
    const s5 = decodeSeal(fs.readFileSync(abs(repo, sealKey(snaps[4]!.snapshot))));
    const body: RemovalBody = {
      ...prev.body,
      seq: 3,
      parent: prev.hash,
      policy: { "keep-last": 2 },
      removed: [{ snapshot: s5.body.snapshot, seq: 5, seal_sha256: s5.hash, parent: s5.body.parent, time: s5.body.time }],
    };
    fs.writeFileSync(abs(repo, removalKey(3)), signedRecord(body, generateKeyPairSync("ed25519").privateKey));
    fs.rmSync(abs(repo, sealKey(s5.body.snapshot)));
    const v = await verify(repo);
    expect(v.code).toBe(3);
    expect(v.errors.sort()).toEqual(["chain-gap", "removal-signature"]);
  });

  it("a validly signed record naming the wrong hash for a seal: removal-mismatch while the seal is there, chain-parent once it is gone", async () => {
    const repo = copyRepo();
    const prev = decodeRemoval(fs.readFileSync(abs(repo, removalKey(2))));
    const s5 = decodeSeal(fs.readFileSync(abs(repo, sealKey(snaps[4]!.snapshot))));
    const wrong = createHash("sha256").update("another seal").digest("hex");
    const body: RemovalBody = {
      ...prev.body,
      seq: 3,
      parent: prev.hash,
      removed: [{ snapshot: s5.body.snapshot, seq: 5, seal_sha256: wrong, parent: s5.body.parent, time: s5.body.time }],
    };
    fs.writeFileSync(abs(repo, removalKey(3)), signedRecord(body, repoKey()));
    const v = await verify(repo);
    expect(v.code).toBe(3);
    expect(v.errors).toEqual(["removal-mismatch"]);
    fs.rmSync(abs(repo, sealKey(s5.body.snapshot)));
    const gone = await verify(repo);
    expect(gone.code).toBe(3);
    expect(gone.errors).toEqual(["chain-parent"]);
  });
});
