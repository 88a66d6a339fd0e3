/**
 * Under cron: `env -i` with only PATH and HOME, stdin /dev/null, no terminal. Nothing prompts,
 * every stderr line is a JSON log line, --json prints one JSON object on stdout, and the last log
 * line names the snapshot and the chain head. Hooks work there too (a health-check ping).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, sandbox, type RunResult, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

/** isnad as cron runs it: env -i PATH=/usr/bin:/bin HOME=<home>, stdin from /dev/null. */
function cronRun(sb: Sandbox, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdin = fs.openSync("/dev/null", "r");
    const child = spawn("/usr/bin/env", ["-i", "PATH=/usr/bin:/bin", `HOME=${sb.env["HOME"]}`, process.execPath, BIN, ...args], {
      cwd: sb.dir,
      stdio: [stdin, "pipe", "pipe"],
    });
    fs.closeSync(stdin);
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Every non-empty stderr line parsed as JSON (throws, failing the test, on any other line). */
function jsonLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`stderr line is not JSON: ${l}`);
      }
    });
}

describe("under cron (env -i, no terminal, stdin /dev/null)", () => {
  let sb: Sandbox;
  let r: TestRepo;

  beforeAll(async () => {
    sb = sandbox();
    // The signing key goes where cron's HOME finds it (~/.config/isnad/signing/), as on a server.
    r = await initRepo(sb);
    fs.mkdirSync(sb.path("data/sub"), { recursive: true });
    fs.writeFileSync(sb.path("data/a.txt"), "alpha\n");
    fs.writeFileSync(sb.path("data/sub/b.txt"), "beta\n");
    fs.writeFileSync(
      sb.path("isnad.yaml"),
      `repository: ./repo\nidentity: ./repo-key.txt\nsources:\n  - {label: data, type: dir, path: ./data}\nhooks:\n  after: 'echo "$ISNAD_EVENT $ISNAD_EXIT_CODE $ISNAD_SNAPSHOT $ISNAD_CHAIN_HEAD" > ping.txt'\n`,
    );
  });
  afterAll(() => sb.cleanup());

  it("snapshot: exit 0, JSON log lines ending with the snapshot id and chain head, one JSON result", async () => {
    const res = await cronRun(sb, ["--json", "snapshot"]);
    expect(res.code, res.stderr).toBe(0);
    const result = JSON.parse(res.stdout) as { snapshot: string; chainHead: string; complete: boolean };
    expect(result.complete).toBe(true);
    const lines = jsonLines(res.stderr);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l).toMatchObject({ level: expect.any(Number), time: expect.any(String), msg: expect.any(String) });
    expect(lines.at(-1)).toMatchObject({ msg: "snapshot complete", snapshot: result.snapshot, chainHead: result.chainHead });
    expect(res.stderr).not.toMatch(/\x1b\[/); // no colour, no progress bar
    expect(fs.readFileSync(sb.path("ping.txt"), "utf8")).toBe(`after 0 ${result.snapshot} ${result.chainHead}\n`);
  });

  it("without --json, stdout is the human summary and stderr is still JSON lines only", async () => {
    const res = await cronRun(sb, ["snapshot"]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^snapshot [0-9a-f]{16} \(seq 2\) saved to /);
    const last = jsonLines(res.stderr).at(-1)!;
    expect(last["chainHead"]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("verify, with the key, exits 0 and logs JSON; its final line carries the chain head", async () => {
    const res = await cronRun(sb, ["verify", "-i", r.key]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const last = jsonLines(res.stderr).at(-1)!;
    expect(last).toMatchObject({ msg: "verify ok", seals: 2, errors: 0 });
    expect(last["chainHead"]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a passphrase-protected identity: an 'isnad:' line saying how to pass it, never a prompt", async () => {
    fs.writeFileSync(sb.path("pass.txt"), "correct horse battery staple\n");
    const kg = await sb.run(["keygen", "--classic", "--passphrase", "-o", sb.path("locked-key.txt")], { env: { ISNAD_PASSPHRASE_FILE: sb.path("pass.txt") } });
    expect(kg.code, kg.stderr).toBe(0);
    const res = await cronRun(sb, ["verify", "-i", sb.path("locked-key.txt")]);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain("ISNAD_PASSPHRASE_FILE");
    const plain = res.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("{"));
    expect(plain.length).toBeGreaterThanOrEqual(1);
    expect(plain[0]).toMatch(/^isnad: /);
    expect(plain.every((l) => l.startsWith("isnad: ") || l.startsWith("  hint: "))).toBe(true);
  });
});
