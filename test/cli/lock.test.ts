/**
 * Two snapshot runs that overlap, as cron can make them: the second exits 75 naming the holder,
 * or with --wait runs after the first; the chain stays linear. A lock left by a dead process is
 * taken over.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { writeBigFile } from "../helpers/tree.js";

describe("the repository lock", () => {
  let sb: Sandbox;
  let r: TestRepo;
  let src: string;
  let holders = 0;

  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb);
    src = sb.path("data");
    fs.mkdirSync(src);
    writeBigFile(path.join(src, "big.bin"), 400 << 20); // a few seconds of work
  });
  afterAll(() => sb.cleanup());

  /** Starts a snapshot and resolves once it holds the lock. */
  async function startHolder(): Promise<{ done: Promise<number>; pid: number }> {
    // A cache of its own, empty: with the shared one, the unchanged big file would not be read
    // again and the run would end before the second one starts.
    const env = { ...sb.env, XDG_CACHE_HOME: sb.path(`holder-cache-${++holders}`) };
    const child = spawn(process.execPath, [BIN, "snapshot", "--repo", r.repo, src], { env, stdio: "ignore" });
    const done = new Promise<number>((res) => child.on("close", (code) => res(code ?? -1)));
    const lockFile = path.join(r.repo, "locks/lock.json");
    for (let i = 0; i < 500 && !fs.existsSync(lockFile); i++) await new Promise((res) => setTimeout(res, 10));
    expect(fs.existsSync(lockFile), "the first run never took the lock").toBe(true);
    return { done, pid: child.pid! };
  }

  it("a second run exits 75 and names who holds the lock", async () => {
    const first = await startHolder();
    const second = await sb.run(["snapshot", "--repo", r.repo, src]);
    expect(second.code, second.stderr).toBe(75);
    const line = second.stderr.split("\n").find((l) => l.startsWith("isnad: "))!;
    expect(line).toContain("is locked by isnad snapshot");
    expect(line).toContain(`pid ${first.pid}`);
    expect(await first.done).toBe(0);
    expect(fs.existsSync(path.join(r.repo, "locks/lock.json")), "the lock is released at the end").toBe(false);
  });

  it("with --wait the second run waits, then extends the chain after the first", async () => {
    const first = await startHolder();
    const second = await sb.run(["--json", "snapshot", "--wait", "2m", "--repo", r.repo, src]);
    expect(await first.done).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain("waiting for isnad snapshot");
    const list = JSON.parse((await sb.run(["--json", "snapshots", "--repo", r.repo])).stdout) as Array<{ seq: number }>;
    expect(list.map((s) => s.seq)).toEqual([1, 2, 3]);
    const v = await sb.run(["verify", "--repo", r.repo]);
    expect(v.code, v.stdout).toBe(0);
  });

  it("a lock left by a process that no longer exists is taken over, with a warning", async () => {
    fs.mkdirSync(path.join(r.repo, "locks"), { recursive: true });
    const dead = { token: "x", host: (await import("node:os")).hostname(), pid: 2 ** 22 + 12345, user: "cron", command: "snapshot", started: "2026-01-01T00:00:00Z", refreshed: new Date().toISOString() };
    fs.writeFileSync(path.join(r.repo, "locks/lock.json"), JSON.stringify(dead));
    const res = await sb.run(["snapshot", "--repo", r.repo, sb.path("home")]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`took over a stale lock: process ${dead.pid} on this host is gone`);
  });

  it("--wait with a bad duration is a usage error", async () => {
    const res = await sb.run(["snapshot", "--wait", "soon", "--repo", r.repo, src]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--wait "soon" is not a duration');
  });
});
