/**
 * Keeps `npm run bench` working: the quick mode (tiny corpus, one run, no warm-up) on isnad and
 * tar | age. Exit status and the table's shape only: no timing assertions.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { shebangOf } from "../../bench/tools.js";
import { ROOT, skipWithout } from "../helpers/cli.js";

const RUN = path.join(ROOT, "dist/bench/run.js");

describe("shebangOf", () => {
  it("reads the environment and node flags the installed command runs with, as the bench must run it", () => {
    const bin = path.join(ROOT, "dist/bin/isnad.js");
    const s = shebangOf(bin);
    expect(readFileSync(bin, "utf8").split("\n", 1)[0]).toBe(`#!/usr/bin/env -S ${Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(" ")} node ${s.nodeFlags.join(" ")}`);
    expect(s.env).toEqual({ MALLOC_TRIM_THRESHOLD_: "1048576" });
    expect(s.nodeFlags).toContain("--expose-gc");
  });
});

describe.skipIf(skipWithout("age"))("bench --quick", () => {
  const workdir = mkdtempSync(path.join(os.tmpdir(), "isnad-bench-test-"));
  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  it("runs isnad and tar | age on the tiny small corpus and prints the table", () => {
    expect(existsSync(RUN), `${RUN} missing: npm test builds it`).toBe(true);
    const r = spawnSync(process.execPath, [RUN, "--quick", "--corpus", "small", "--runs", "1", "--no-warmup", "--tools", "isnad,tar-age", "--workdir", workdir], {
      encoding: "utf8",
      timeout: 240_000,
    });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toMatch(/^## small: .* in \d+ files$/m);
    expect(r.stdout).toContain("| operation | tool | median s |");
    for (const op of ["first snapshot", "re-run, nothing changed", "re-run, 1 % of files changed", "verify every byte", "restore"]) {
      expect(r.stdout).toMatch(new RegExp(`^\\| ${op} \\| isnad \\| \\d+\\.\\d\\d \\|`, "m"));
      expect(r.stdout).toMatch(new RegExp(`^\\| ${op} \\| tar -c \\\\\\| age \\| \\d+\\.\\d\\d \\|`, "m"));
    }
    expect(r.stdout).toContain("## targets");
    expect(r.stdout).toMatch(/^\| small \| first snapshot ≤ 2\.5× tar -c \\\| age \| \d+\.\d\d× \|/m);
    // results go to the work folder in quick mode, not to bench/results
    expect(r.stderr).toContain(path.join(workdir, "isnad-bench-results"));
    // the temp folder (corpus, repositories) is gone unless --keep
    expect(spawnSync("sh", ["-c", `ls -d '${workdir}'/isnad-bench-* 2>/dev/null | grep -v results`], { encoding: "utf8" }).stdout).toBe("");
  }, 300_000);
});
