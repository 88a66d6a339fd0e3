/**
 * The user's round trip through the real CLI against an off-site repository URL: keygen, init,
 * snapshot, snapshots, verify (keyless and with the key), diff, restore, forget and prune. Each backend's
 * test/cli/<backend>-roundtrip.test.ts calls it with how to reach its server.
 */
import path from "node:path";
import { expect, it } from "vitest";
import * as fs from "node:fs";
import { readFileSync } from "node:fs";
import type { RunResult, Sandbox } from "./cli.js";
import { describeTree, makeOddTree } from "./tree.js";

export interface RemoteRepo {
  url: string;
  recipient: string;
  key: string;
  fingerprint: string;
}

/** keygen + init against `url`; `env` reaches the server (credentials, rclone config). */
export async function initRemote(sb: Sandbox, url: string, env: NodeJS.ProcessEnv, name = "repo"): Promise<RemoteRepo> {
  const key = sb.path(`${name}-key.txt`);
  const kg = await sb.run(["keygen", "--classic", "-o", key]);
  expect(kg.code, kg.stderr).toBe(0);
  const recipient = /^# public key: (\S+)$/m.exec(readFileSync(key, "utf8"))![1]!;
  const init = await sb.run(["--json", "init", "--repo", url, "--recipient", recipient], { env });
  expect(init.code, init.stderr).toBe(0);
  const r = JSON.parse(init.stdout) as { repository: string; signer: { fingerprint: string } };
  expect(r.repository).toBe(url.replace(/\?.*$/, "").replace(/\/+$/, ""));
  return { url, recipient, key, fingerprint: r.signer.fingerprint };
}

export function expectSameTree(a: string, b: string): void {
  const left = describeTree(a);
  const right = describeTree(b);
  expect([...right.keys()].sort()).toEqual([...left.keys()].sort());
  for (const [rel, e] of left) {
    const { mtimeMs: lm, ...l } = e;
    const { mtimeMs: rm, ...r } = right.get(rel)!;
    expect(r, rel).toEqual(l);
    if (e.type !== "symlink") expect(Math.abs(rm - lm), `${rel} mtime`).toBeLessThanOrEqual(1);
  }
}

/**
 * Registers the round-trip tests. `ctx()` gives the sandbox, the repository URL and the env,
 * available once the caller's beforeAll ran. Every output is collected in `outputs` so a caller
 * can check that no secret was ever printed.
 */
export function remoteRoundTrip(ctx: () => { sb: Sandbox; url: string; env: NodeJS.ProcessEnv; outputs: RunResult[] }): { repo: () => RemoteRepo; src: () => string } {
  let repo: RemoteRepo;
  let src: string;
  let snap: string;
  const run = async (args: string[]): Promise<RunResult> => {
    const { sb, env, outputs } = ctx();
    const r = await sb.run(["--log-level", "debug", ...args], { env });
    outputs.push(r);
    return r;
  };

  it("init, snapshot, snapshots", async () => {
    const { sb, url, env } = ctx();
    repo = await initRemote(sb, url, env);
    src = sb.path("site");
    makeOddTree(src);
    const res = await run(["--json", "snapshot", "--repo", url, src]);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { snapshot: string; complete: boolean; stats: { files: number } };
    expect(out.complete).toBe(true);
    expect(out.stats.files).toBe(13);
    snap = out.snapshot;
    const list = await run(["--json", "snapshots", "--repo", url]);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((s) => s.id)).toEqual([snap]);
  });

  it("verifies without and with the key", async () => {
    const { url } = ctx();
    const a = await run(["verify", "--repo", url, "--signer", repo.fingerprint]);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const b = await run(["--json", "verify", "--repo", url, "-i", repo.key]);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ ok: true, filesChecked: 13, withKey: true });
  });

  it("diff of the unchanged tree is empty, and restore gives the same tree", async () => {
    const { sb, url } = ctx();
    const d = await run(["diff", snap, src, "--repo", url, "-i", repo.key]);
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const target = sb.path("restored");
    const res = await run(["restore", snap, "--target", target, "--repo", url, "-i", repo.key]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expectSameTree(src, path.join(target, "site"));
  });

  it("a second snapshot chains onto the first", async () => {
    const { url } = ctx();
    const res = await run(["--json", "snapshot", "--repo", url, src]);
    expect(res.code, res.stderr).toBe(0);
    const list = await run(["--json", "snapshots", "--repo", url]);
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(2);
    const v = await run(["verify", "--repo", url, "--signer", repo.fingerprint]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });

  return { repo: () => repo, src: () => src };
}

/**
 * forget and prune on the backend (after remoteRoundTrip's tests, which it changes: register it
 * last). Needs the delete right, which an append-only account lacks.
 */
export function remoteForgetPrune(ctx: () => { sb: Sandbox; url: string; env: NodeJS.ProcessEnv; outputs: RunResult[] }, repoOf: () => RemoteRepo, srcOf: () => string): void {
  const run = async (args: string[]): Promise<RunResult> => {
    const { sb, env, outputs } = ctx();
    const r = await sb.run(["--log-level", "debug", ...args], { env });
    outputs.push(r);
    return r;
  };
  it("forget --prune removes old snapshots and their objects; the repository verifies and the kept one restores", async () => {
    const { sb, url } = ctx();
    const repo = repoOf();
    const src = srcOf();
    fs.writeFileSync(path.join(src, "changed-after.txt"), "a file only the last snapshot has\n");
    const last = await run(["--json", "snapshot", "--repo", url, src]);
    expect(last.code, last.stderr).toBe(0);
    const lastId = (JSON.parse(last.stdout) as { snapshot: string }).snapshot;
    const before = JSON.parse((await run(["--json", "snapshots", "--repo", url])).stdout) as unknown[];
    expect(before.length).toBeGreaterThan(1);
    const f = await run(["--json", "forget", "--repo", url, "--keep-last", "1", "--prune"]);
    expect(f.code, f.stdout + f.stderr).toBe(0);
    const out = JSON.parse(f.stdout) as { removed: unknown[]; prune?: { deleted: unknown[] } };
    expect(out.removed.length).toBe(before.length - 1);
    expect(out.prune?.deleted.length).toBeGreaterThan(0); // the manifests of the removed snapshots at least
    const list = await run(["--json", "snapshots", "--repo", url]);
    expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((x) => x.id)).toEqual([lastId]);
    const a = await run(["verify", "--repo", url, "--signer", repo.fingerprint]);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const b = await run(["verify", "--repo", url, "-i", repo.key]);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    const target = sb.path("restored-after-prune");
    const r = await run(["restore", "latest", "--target", target, "--repo", url, "-i", repo.key]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectSameTree(src, path.join(target, "site"));
  });
}
