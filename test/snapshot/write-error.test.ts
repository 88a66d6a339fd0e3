/**
 * A write that fails in the pack writer thread (here: the file size limit, `ulimit -f`, which
 * makes write() fail with EFBIG the way a full disk fails with ENOSPC) must end the snapshot with
 * one clear error and its exit code, no seal, and no staging file left behind; and the next run,
 * without the limit, must work.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BIN, sandbox, type RunResult, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

let sb: Sandbox;
let t: TestRepo;
beforeAll(async () => {
  sb = sandbox();
  fs.mkdirSync(sb.path("data"));
  fs.writeFileSync(sb.path("data", "small.txt"), "a small file\n");
  fs.writeFileSync(sb.path("data", "big.bin"), randomBytes(6 << 20)); // random: goes to a plain pack, 6 MiB on disk
  t = await initRepo(sb);
});
afterAll(() => sb?.cleanup());

/** `isnad ARGS` with the file size limit at `kib` KiB (bash's ulimit -f counts 1024-byte blocks). */
function runLimited(kib: number, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", `ulimit -f ${kib} && exec "$@"`, "bash", process.execPath, BIN, ...args], { cwd: sb.dir, env: sb.env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const list = (dir: string) => (fs.existsSync(path.join(t.repo, dir)) ? fs.readdirSync(path.join(t.repo, dir)) : []);

it("a pack write that fails ends the snapshot with one storage error, no seal and no staging file", async () => {
  const r = await runLimited(2048, ["snapshot", "--repo", t.repo, sb.path("data")]);
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split("\n").filter((l) => l.startsWith("isnad:"));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/cannot write staging file .*pack-.*\.tmp: .*(EFBIG|too large)/i);
  expect(list("snapshots")).toEqual([]);
  expect(list("tmp")).toEqual([]); // the local repository's staging folder

  const ok = await sb.run(["snapshot", "--repo", t.repo, sb.path("data")]);
  expect(ok.code, ok.stderr).toBe(0);
  const v = await sb.run(["verify", "--repo", t.repo, "-i", t.key]);
  expect(v.code, v.stdout + v.stderr).toBe(0);
});
