/**
 * The scheduling examples are real: the crontab's commands run as cron would run them (env -i,
 * its PATH, sh -c) against a sandbox, and `systemd-analyze verify` accepts the unit files without
 * a single warning. Without systemd-analyze that test is skipped LOUDLY, in CI too: CI machines
 * need not have systemd. The hardening itself is not exercised here; that needs a running systemd.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT, sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

const CRONTAB = path.join(ROOT, "examples/cron/isnad.crontab");
const SYSTEMD = path.join(ROOT, "examples/systemd");

describe("examples/cron/isnad.crontab", () => {
  let sb: Sandbox;
  let r: TestRepo;
  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb);
    fs.mkdirSync(sb.path("data"));
    fs.writeFileSync(sb.path("data/a.txt"), "alpha\n");
    fs.writeFileSync(sb.path("isnad.yaml"), `repository: ${r.repo}\nsources:\n  - {label: data, type: dir, path: ./data}\n`);
    fs.mkdirSync(sb.path("log"));
    // `isnad` on cron's PATH: a launcher as npm would install it.
    fs.mkdirSync(sb.path("bin"));
    fs.writeFileSync(sb.path("bin/isnad"), `#!/bin/sh\nexec ${process.execPath} ${BIN} "$@"\n`, { mode: 0o755 });
  });
  afterAll(() => sb.cleanup());

  it("every job line runs as cron runs it: exit 0, nothing on stdout or stderr, JSON lines in the log", () => {
    const text = fs.readFileSync(CRONTAB, "utf8");
    const env = Object.fromEntries([...text.matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace(/^"(.*)"$/, "$1")]));
    expect(env["PATH"]).toBeDefined();
    const jobs = text.split("\n").filter((l) => /^[0-9*]/.test(l));
    expect(jobs.length).toBe(2);
    for (const job of jobs) {
      const fields = job.trim().split(/\s+/);
      expect(fields.slice(0, 5).every((f) => /^[0-9*,/-]+$/.test(f)), job).toBe(true);
      const command = fields
        .slice(5)
        .join(" ")
        .replaceAll("/etc/isnad/isnad.yaml", sb.path("isnad.yaml"))
        .replaceAll("/var/log/isnad", sb.path("log"));
      const res = spawnSync("/usr/bin/env", ["-i", `PATH=${sb.path("bin")}:${env["PATH"]}`, `HOME=${sb.env["HOME"]}`, "/bin/sh", "-c", command], {
        cwd: "/",
        stdio: ["ignore", "pipe", "pipe"],
        encoding: "utf8",
      });
      expect(res.status, `${command}\n${res.stderr}`).toBe(0);
      expect(res.stdout + res.stderr).toBe("");
    }
    for (const log of ["snapshot.log", "verify.log"]) {
      const lines = fs.readFileSync(sb.path("log", log), "utf8").trim().split("\n");
      for (const l of lines) JSON.parse(l);
      expect(JSON.parse(lines.at(-1)!)["chainHead"]).toMatch(/^[0-9a-f]{64}$/);
    }
  });
});

const haveSystemdAnalyze = spawnSync("sh", ["-c", "command -v systemd-analyze"], { stdio: "ignore" }).status === 0;
if (!haveSystemdAnalyze) console.warn("!!! systemd-analyze is not installed: the check of examples/systemd is SKIPPED (also in CI: systemd is optional there)");

describe("examples/systemd", () => {
  it.skipIf(!haveSystemdAnalyze)("systemd-analyze verify accepts the units without a warning", () => {
    const dir = fs.mkdtempSync(path.join(sandbox().dir, "units-"));
    const units = fs.readdirSync(SYSTEMD).filter((f) => /\.(service|timer)$/.test(f));
    expect(units.sort()).toEqual(["isnad-backup.service", "isnad-backup.timer", "isnad-watch.service"]);
    for (const u of units) {
      // verify checks that ExecStart's program exists: point it at this checkout's build.
      const text = fs.readFileSync(path.join(SYSTEMD, u), "utf8").replaceAll("/usr/local/bin/isnad", `${process.execPath} ${BIN}`);
      fs.writeFileSync(path.join(dir, u), text);
    }
    const res = spawnSync("systemd-analyze", ["verify", "--man=no", ...units.map((u) => path.join(dir, u))], { encoding: "utf8" });
    fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr.trim()).toBe("");
  });
});
