/**
 * The core loop as a user runs it: keygen, init, snapshot, verify (without and with the key),
 * diff, restore, and the restored tree equals the original entry by entry.
 */
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { describeTree, makeOddTree, writeBigFile } from "../helpers/tree.js";

/** Restored trees must match in type, mode, content, link target, and file/dir mtime (ms). */
function expectSameTree(a: string, b: string): void {
  const left = describeTree(a);
  const right = describeTree(b);
  expect([...right.keys()].sort()).toEqual([...left.keys()].sort());
  for (const [rel, e] of left) {
    const r = right.get(rel)!;
    const { mtimeMs: _l, ...lRest } = e;
    const { mtimeMs: _r, ...rRest } = r;
    expect(rRest, rel).toEqual(lRest);
    if (e.type !== "symlink") expect(Math.abs(r.mtimeMs - e.mtimeMs), `${rel} mtime`).toBeLessThanOrEqual(1);
  }
}

describe.each([
  { name: "classic X25519 key", classic: true },
  { name: "hybrid post-quantum key (default)", classic: false },
])("round trip with a $name", ({ classic }) => {
  let sb: Sandbox;
  let r: TestRepo;
  let src: string;
  let snap: string;

  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb, { classic });
    src = sb.path("site");
    makeOddTree(src);
  });
  afterAll(() => sb.cleanup());

  it("snapshots an odd tree and lists it", async () => {
    const res = await sb.run(["--json", "snapshot", "--repo", r.repo, src]);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    snap = out.snapshot;
    expect(out.stats.files).toBe(13);
    expect(out.stats.symlinks).toBe(4);
    expect(out.complete).toBe(true);
    expect(out.chainHead).toMatch(/^[0-9a-f]{64}$/);
    // The last JSON log line on stderr names the snapshot and the chain head (for cron logs).
    const last = JSON.parse(res.stderr.trim().split("\n").at(-1)!);
    expect(last).toMatchObject({ snapshot: snap, chainHead: out.chainHead, msg: "snapshot complete" });
    const list = await sb.run(["--json", "snapshots", "--repo", r.repo]);
    expect(JSON.parse(list.stdout).map((s: { id: string }) => s.id)).toEqual([snap]);
  });

  it("keeps every file name out of the repository's plaintext", () => {
    const names = ["briefing", "تقرير", "secret", "index.html", "site/"];
    const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
    for (const f of walk(r.repo)) {
      const text = fs.readFileSync(f).toString("utf8");
      for (const n of names) expect(text.includes(n), `${n} appears in ${f}`).toBe(false);
    }
  });

  it("verifies without and with the key", async () => {
    const a = await sb.run(["verify", "--repo", r.repo, "--signer", r.fingerprint]);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(a.stdout).toContain("OK");
    const b = await sb.run(["--json", "verify", "--repo", r.repo, "-i", r.key]);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ ok: true, filesChecked: 13, withKey: true });
  });

  it("diff of the unchanged tree is empty (exit 0), and names every kind of change (exit 3)", async () => {
    const same = await sb.run(["diff", snap, src, "--repo", r.repo, "-i", r.key]);
    expect(same.code, same.stdout + same.stderr).toBe(0);
    const work = sb.path("changed");
    fs.cpSync(src, work, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    fs.appendFileSync(path.join(work, "index.html"), "<script src=//evil></script>");
    fs.writeFileSync(path.join(work, "reports/shell.php"), "<?php system($_GET['c']);");
    fs.rmSync(path.join(work, "empty-file"));
    fs.chmodSync(path.join(work, "scripts/run.sh"), 0o777);
    fs.rmSync(path.join(work, "link-to-index"));
    fs.symlinkSync("/etc/passwd", path.join(work, "link-to-index"));
    // same size, same mtime, different content: only the hash can tell
    const q1 = path.join(work, "reports/2026/q1/briefing.html");
    const st = fs.statSync(q1);
    fs.writeFileSync(q1, fs.readFileSync(q1, "utf8").replace("q1", "Q1"));
    fs.utimesSync(q1, st.atime, st.mtime);
    const d = await sb.run(["--json", "diff", snap, work, "--repo", r.repo, "-i", r.key, "--source", "site"]);
    expect(d.code, d.stderr).toBe(3);
    const changes = JSON.parse(d.stdout).changes as Array<{ kind: string; path: string }>;
    const got = changes.map((c) => `${c.kind} ${c.path}`).sort();
    expect(got).toEqual(
      [
        "modified index.html",
        "added reports/shell.php",
        "removed empty-file",
        "mode scripts/run.sh",
        "symlink link-to-index",
        "modified reports/2026/q1/briefing.html",
      ].sort(),
    );
  });

  it("restores a tree identical to the original", async () => {
    const target = sb.path("restored");
    const res = await sb.run(["restore", snap, "--target", target, "--repo", r.repo, "-i", r.key]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expectSameTree(src, path.join(target, "site"));
    // and diff agrees
    const d = await sb.run(["diff", snap, path.join(target, "site"), "--repo", r.repo, "-i", r.key, "--source", "site"]);
    expect(d.code, d.stdout).toBe(0);
  });

  it("restores only what --include selects", async () => {
    const target = sb.path("partial");
    const res = await sb.run(["restore", snap, "--target", target, "--include", "site/reports/2026", "--include", "site/odd/#hash", "--repo", r.repo, "-i", r.key]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect([...describeTree(target).keys()].sort()).toEqual(["site", "site/odd", "site/odd/#hash", "site/reports", "site/reports/2026", "site/reports/2026/q1", "site/reports/2026/q1/briefing.html"]);
  });
});

describe("a 200 MiB file", () => {
  let sb: Sandbox;
  beforeAll(() => {
    sb = sandbox();
  });
  afterAll(() => sb.cleanup());

  it("goes through snapshot, keyed verify and restore intact", async () => {
    const r = await initRepo(sb);
    const src = sb.path("big");
    fs.mkdirSync(src);
    writeBigFile(path.join(src, "archive.bin"), 200 * 1024 * 1024 + 7);
    fs.writeFileSync(path.join(src, "small.txt"), "small\n");
    const s = await sb.run(["--json", "snapshot", "--repo", r.repo, src]);
    expect(s.code, s.stderr).toBe(0);
    const v = await sb.run(["verify", "--repo", r.repo, "-i", r.key]);
    expect(v.code, v.stdout).toBe(0);
    const target = sb.path("out");
    const res = await sb.run(["restore", "latest", "--target", target, "--repo", r.repo, "-i", r.key]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expectSameTree(src, path.join(target, "big"));
  });
});
