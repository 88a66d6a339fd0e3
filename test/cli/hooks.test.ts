/**
 * Hooks through the real CLI: what each hook is told, and what a failing hook does to the
 * snapshot and the exit code (README "Scheduled backups": before fails -> no snapshot, exit 1;
 * after fails -> snapshot stands, exit 5; on_failure fails -> the snapshot's code stays).
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

describe("hooks around a snapshot", () => {
  let sb: Sandbox;
  let r: TestRepo;

  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb);
    fs.mkdirSync(sb.path("data"));
    fs.writeFileSync(sb.path("data/a.txt"), "alpha\n");
  });
  afterAll(() => sb.cleanup());

  /** Writes isnad.yaml with these hooks; each hook's environment can be dumped to a file. */
  function config(hooks: Record<string, string>, source = "./data"): string {
    const lines = Object.entries(hooks).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
    const file = sb.path("isnad.yaml");
    fs.writeFileSync(file, `repository: ./repo\nsources:\n  - {label: data, type: dir, path: ${source}}\nhooks:\n${lines.join("\n")}\n`);
    return file;
  }
  const dump = (name: string) => `env | grep ^ISNAD_ | sort > ${name}.env`;
  const readEnv = (name: string) =>
    Object.fromEntries(
      fs.readFileSync(sb.path(`${name}.env`), "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  const seals = () => fs.readdirSync(`${r.repo}/snapshots`).filter((n) => n.endsWith(".seal.json")).length;
  const logLines = (stderr: string) => stderr.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

  it("before and after run (in the config's folder) and after is told the snapshot, chain head and counts", async () => {
    config({ before: dump("before"), after: dump("after"), on_failure: dump("failure") });
    const res = await sb.run(["--json", "snapshot"]);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { snapshot: string; chainHead: string };
    expect(readEnv("before")).toMatchObject({ ISNAD_EVENT: "before", ISNAD_EXIT_CODE: "0", ISNAD_REPOSITORY: r.repo, ISNAD_SNAPSHOT: "" });
    expect(readEnv("after")).toEqual({
      ISNAD_EVENT: "after",
      ISNAD_EXIT_CODE: "0",
      ISNAD_REPOSITORY: r.repo,
      ISNAD_SNAPSHOT: out.snapshot,
      ISNAD_CHAIN_HEAD: out.chainHead,
      ISNAD_ERROR: "",
      ISNAD_FILES: "1",
      ISNAD_BYTES: "6",
      ISNAD_MISSING: "0",
    });
    expect(fs.existsSync(sb.path("failure.env")), "on_failure ran after a success").toBe(false);
    const last = logLines(res.stderr).at(-1)!;
    expect(last).toMatchObject({ msg: "snapshot complete", snapshot: out.snapshot, chainHead: out.chainHead });
  });

  it("a failing before hook: no snapshot, on_failure is told why, exit 1", async () => {
    const before = seals();
    config({ before: "echo database is down >&2; exit 3", on_failure: dump("failure") });
    const res = await sb.run(["snapshot"]);
    expect(res.code, res.stderr).toBe(1);
    expect(seals()).toBe(before);
    expect(res.stderr).toContain("isnad: the before hook failed: no snapshot was taken");
    const hookLine = logLines(res.stderr).find((l) => l["hook"] === "before")!;
    expect(hookLine).toMatchObject({ level: 50, exitCode: 3, output: "database is down\n" });
    expect(readEnv("failure")).toMatchObject({ ISNAD_EVENT: "on-failure", ISNAD_EXIT_CODE: "1", ISNAD_ERROR: "the before hook failed: no snapshot was taken", ISNAD_SNAPSHOT: "" });
  });

  it("a before hook past its timeout is killed and counts as failed", async () => {
    const before = seals();
    fs.writeFileSync(sb.path("isnad.yaml"), `repository: ./repo\nsources:\n  - {label: data, type: dir, path: ./data}\nhooks:\n  before: sleep 60\n  timeout: 1s\n`);
    const res = await sb.run(["snapshot"]);
    expect(res.code, res.stderr).toBe(1);
    expect(seals()).toBe(before);
    expect(res.stderr).toContain("before hook failed: timed out after 1s and was killed");
  });

  it("a failing after hook: the snapshot stands, the failure is logged, exit 5", async () => {
    const before = seals();
    config({ after: "echo ping failed; exit 22" });
    const res = await sb.run(["--json", "snapshot"]);
    expect(res.code, res.stderr).toBe(5);
    expect(seals()).toBe(before + 1);
    const out = JSON.parse(res.stdout) as { snapshot: string; exitCode: number; hookFailed: boolean };
    expect(out).toMatchObject({ exitCode: 5, hookFailed: true });
    const lines = logLines(res.stderr);
    expect(lines.find((l) => l["hook"] === "after")).toMatchObject({ level: 50, msg: "after hook failed: exit code 22", output: "ping failed\n" });
    expect(lines.at(-1)).toMatchObject({ msg: "snapshot complete", snapshot: out.snapshot, exitCode: 5, hookFailed: "after" });
    const v = await sb.run(["verify", "--repo", r.repo]);
    expect(v.code, v.stdout).toBe(0);
  });

  it("a failed snapshot runs on_failure with its exit code; a failing on_failure keeps that code", async () => {
    config({ after: dump("after2"), on_failure: `${dump("failure2")}; exit 1` }, "./no-such-folder");
    const res = await sb.run(["snapshot"]);
    expect(res.code, res.stderr).toBe(2);
    expect(readEnv("failure2")).toMatchObject({ ISNAD_EVENT: "on-failure", ISNAD_EXIT_CODE: "2" });
    expect(readEnv("failure2")["ISNAD_ERROR"]).toContain("no-such-folder does not exist");
    expect(fs.existsSync(sb.path("after2.env"))).toBe(false);
    expect(res.stderr).toContain("on-failure hook failed: exit code 1");
  });
});
