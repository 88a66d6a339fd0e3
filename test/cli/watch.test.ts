/**
 * isnad watch through the real CLI: an initial snapshot, another once changes settle, a clean
 * exit 0 on SIGTERM; the repository verifies and the latest snapshot restores the changed files.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { writeBigFile } from "../helpers/tree.js";

describe("isnad watch", () => {
  let sb: Sandbox;
  let r: TestRepo;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb);
    fs.mkdirSync(sb.path("data"));
    fs.writeFileSync(sb.path("data/a.txt"), "first version\n");
  });
  afterAll(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    sb.cleanup();
  });

  const snapshots = async () => {
    const res = await sb.run(["--json", "snapshots", "--repo", r.repo]);
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as Array<{ id: string; seq: number }>;
  };
  /** Polls until `n` snapshots exist (the test's own timeout bounds the wait). */
  const waitForSnapshots = async (n: number) => {
    for (;;) {
      const list = await snapshots();
      if (list.length >= n) return list;
      await new Promise((res) => setTimeout(res, 300));
    }
  };

  it("snapshots at start and after changes settle, stops cleanly on SIGTERM", { timeout: 90_000 }, async () => {
    let stderr = "";
    let stdout = "";
    child = spawn(process.execPath, [BIN, "--json", "watch", "--quiet-period", "1s", "--max-delay", "5s", "--repo", r.repo, sb.path("data")], {
      cwd: sb.dir,
      env: sb.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    const exited = new Promise<number | null>((res) => child!.on("close", (code) => res(code)));

    await waitForSnapshots(1); // the initial snapshot
    // Only once the watcher is ready do changes count (the log says so).
    while (!stderr.includes('"msg":"watching"')) await new Promise((res) => setTimeout(res, 100));
    fs.writeFileSync(sb.path("data/a.txt"), "second version\n");
    fs.mkdirSync(sb.path("data/new"));
    fs.writeFileSync(sb.path("data/new/b.txt"), "added while watching\n");
    const list = await waitForSnapshots(2);

    child.kill("SIGTERM");
    expect(await exited, stderr).toBe(0);
    expect(stderr).toContain('"msg":"watch stopped"');
    for (const l of stderr.trim().split("\n")) JSON.parse(l); // JSON log lines only
    // --json: one JSON line per snapshot on stdout
    const results = stdout.trim().split("\n").map((l) => JSON.parse(l) as { snapshot: string; chainHead: string });
    expect(results.map((x) => x.snapshot)).toEqual((await snapshots()).map((s) => s.id));

    const v = await sb.run(["verify", "--repo", r.repo, "-i", r.key]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const latest = (await snapshots()).at(-1)!;
    expect(latest.seq).toBeGreaterThanOrEqual(list[1]!.seq);
    const rs = await sb.run(["restore", latest.id, "--repo", r.repo, "-i", r.key, "-t", sb.path("restored")]);
    expect(rs.code, rs.stderr).toBe(0);
    expect(fs.readFileSync(sb.path("restored/data/a.txt"), "utf8")).toBe("second version\n");
    expect(fs.readFileSync(sb.path("restored/data/new/b.txt"), "utf8")).toBe("added while watching\n");
  });

  /** Starts watch on a big folder; resolves once its initial snapshot is running. */
  async function startBusyWatch(big: string) {
    let stderr = "";
    const c = spawn(process.execPath, [BIN, "watch", "--repo", r.repo, big], { cwd: sb.dir, env: sb.env, stdio: ["ignore", "ignore", "pipe"] });
    child = c;
    c.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((res) => c.on("close", (code) => res(code)));
    while (!stderr.includes('"msg":"snapshot started"')) await new Promise((res) => setTimeout(res, 20));
    return { c, exited, stderr: () => stderr };
  }

  it("SIGTERM during a snapshot lets it finish and exits 0; a second signal exits at once, leaving no partial snapshot", { timeout: 120_000 }, async () => {
    const big = sb.path("big");
    fs.mkdirSync(big);
    writeBigFile(`${big}/big.bin`, 300 << 20); // a few seconds of work
    const before = (await snapshots()).length;

    const a = await startBusyWatch(big);
    a.c.kill("SIGTERM");
    expect(await a.exited, a.stderr()).toBe(0);
    expect(a.stderr()).toContain("stopping after the snapshot in progress");
    expect((await snapshots()).length).toBe(before + 1); // it finished and was sealed

    // New content: with the cache, the unchanged file would let this snapshot end within
    // milliseconds, before the second signal could come.
    writeBigFile(`${big}/big.bin`, 300 << 20, 2);
    const b = await startBusyWatch(big);
    b.c.kill("SIGTERM");
    while (!b.stderr().includes("stopping after the snapshot in progress")) await new Promise((res) => setTimeout(res, 20));
    b.c.kill("SIGINT");
    expect(await b.exited, b.stderr()).toBe(130);
    expect(b.stderr()).toContain("stopping at once");
    expect(b.stderr()).not.toContain('"msg":"snapshot complete"');
    expect((await snapshots()).length).toBe(before + 1); // nothing sealed half-way
    const v = await sb.run(["verify", "--repo", r.repo]);
    expect(v.code, v.stdout).toBe(0);
    // the abandoned run's lock (its process is gone) does not block the next snapshot
    const next = await sb.run(["snapshot", "--repo", r.repo, sb.path("data")]);
    expect(next.code, next.stderr).toBe(0);
  });

  it("bad options are one usage line", async () => {
    const res = await sb.run(["watch", "--quiet-period", "soon", "--repo", r.repo, sb.path("data")]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('isnad: --quiet-period "soon" is not a duration');
  });
});
