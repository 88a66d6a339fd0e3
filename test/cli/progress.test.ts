/**
 * Progress bars: the decision (a pure function) for every case, and on a real pseudo-terminal a
 * bar drawn on stderr for snapshot, verify and restore — and none with --json.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { progressWanted } from "../../src/cli/output/progress.js";
import { BIN, sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { itPty, runOnPty } from "../keys/helpers.js";

describe("progressWanted", () => {
  const tty = { isTTY: true, json: false, quiet: false, env: { TERM: "xterm-256color" } };
  it("draws only on a terminal, without --json or --quiet, outside CI, not on a dumb terminal", () => {
    expect(progressWanted(tty)).toBe(true);
    expect(progressWanted({ ...tty, isTTY: false })).toBe(false); // cron, systemd, a pipe
    expect(progressWanted({ ...tty, isTTY: undefined })).toBe(false);
    expect(progressWanted({ ...tty, json: true })).toBe(false);
    expect(progressWanted({ ...tty, quiet: true })).toBe(false);
    expect(progressWanted({ ...tty, env: { TERM: "dumb" } })).toBe(false);
    expect(progressWanted({ ...tty, env: { CI: "true" } })).toBe(false);
    expect(progressWanted({ ...tty, env: { CI: "1" } })).toBe(false);
    expect(progressWanted({ ...tty, env: { CI: "false" } })).toBe(true);
    expect(progressWanted({ ...tty, env: { ISNAD_NO_PROGRESS: "1" } })).toBe(false);
    expect(progressWanted({ ...tty, env: {} })).toBe(true); // no TERM at all: still a terminal
  });
});

describe("progress bars on a terminal", () => {
  let sb: Sandbox;
  let r: TestRepo;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb);
    fs.mkdirSync(sb.path("data"));
    for (let i = 0; i < 50; i++) fs.writeFileSync(sb.path(`data/f${i}.txt`), `file ${i}\n`.repeat(1000));
    // A terminal outside CI: the bar must show even when this test itself runs under CI=true.
    env = { ...sb.env, CI: undefined, TERM: "xterm" };
  });
  afterAll(() => sb.cleanup());

  const onPty = (args: string[]) => runOnPty([process.execPath, BIN, ...args], [], { env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)), cwd: sb.dir });

  itPty("snapshot, verify and restore draw a bar on stderr; --json draws none", async () => {
    const snap = await onPty(["snapshot", "--repo", r.repo, sb.path("data")]);
    expect(snap.exit, snap.output).toBe(0);
    expect(snap.output).toMatch(/snapshot \| \d+ files \| /);
    const ver = await onPty(["verify", "--repo", r.repo, "-i", r.key]);
    expect(ver.exit, ver.output).toBe(0);
    expect(ver.output).toMatch(/verify \[[^\]]*\] \d+% \| \d+\/\d+ objects/);
    const res = await onPty(["restore", "latest", "--repo", r.repo, "-i", r.key, "-t", sb.path("out")]);
    expect(res.exit, res.output).toBe(0);
    expect(res.output).toMatch(/restore \[[^\]]*\] \d+% \| \d+\/50 files/);
    const json = await onPty(["--json", "snapshot", "--repo", r.repo, sb.path("data")]);
    expect(json.exit, json.output).toBe(0);
    expect(json.output).not.toMatch(/snapshot \| /);
  });
});
