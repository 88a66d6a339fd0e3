/** runHook against a real /bin/sh: environment, bounded output, timeout, failures as data. */
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hookEnvironment, oneLine, runHook } from "../../src/hooks/hooks.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-hooks-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const info = { exitCode: 0, repository: "/srv/repo", snapshot: "0123456789abcdef", chainHead: "ab".repeat(32), files: 3, bytes: 42, missing: 0 };

describe("runHook", () => {
  it("runs in the given folder with the ISNAD_* variables added to the environment", async () => {
    const o = await runHook({ event: "after", command: 'pwd; env | grep "^ISNAD_\\|^KEPT=" | sort', cwd: dir, timeoutMs: 10_000, info, baseEnv: { PATH: process.env["PATH"], KEPT: "yes" } });
    expect(o.ok).toBe(true);
    expect(o.exitCode).toBe(0);
    const lines = o.output.trim().split("\n");
    expect(lines[0]).toBe(fs.realpathSync(dir));
    expect(lines.slice(1)).toEqual([
      "ISNAD_BYTES=42",
      `ISNAD_CHAIN_HEAD=${"ab".repeat(32)}`,
      "ISNAD_ERROR=",
      "ISNAD_EVENT=after",
      "ISNAD_EXIT_CODE=0",
      "ISNAD_FILES=3",
      "ISNAD_MISSING=0",
      "ISNAD_REPOSITORY=/srv/repo",
      "ISNAD_SNAPSHOT=0123456789abcdef",
      "KEPT=yes",
    ]);
  });

  it("a non-zero exit is a failure with its code and output", async () => {
    const o = await runHook({ event: "before", command: "echo no such host >&2; exit 7", cwd: dir, timeoutMs: 10_000, info });
    expect(o).toMatchObject({ ok: false, exitCode: 7, timedOut: false, output: "no such host\n" });
  });

  it("keeps only the first bytes of a flood of output and counts the rest", async () => {
    const o = await runHook({ event: "after", command: "head -c 100000 /dev/zero | tr '\\0' x", cwd: dir, timeoutMs: 10_000, info, maxOutputBytes: 1000 });
    expect(o.ok).toBe(true);
    expect(o.output).toBe("x".repeat(1000));
    expect(o.droppedBytes).toBe(99_000);
  });

  it("kills a hook (and what it started) at the timeout", async () => {
    const marker = path.join(dir, "survived");
    const o = await runHook({ event: "before", command: `(sleep 2; touch ${marker}) & sleep 30`, cwd: dir, timeoutMs: 300, info });
    expect(o).toMatchObject({ ok: false, timedOut: true, exitCode: null });
    await new Promise((r) => setTimeout(r, 2500));
    expect(fs.existsSync(marker), "the hook's child outlived the timeout").toBe(false);
  });

  it("a folder that is gone is a failure, not a throw", async () => {
    const o = await runHook({ event: "on-failure", command: "true", cwd: path.join(dir, "nope"), timeoutMs: 10_000, info });
    expect(o.ok).toBe(false);
    expect(o.spawnError).toContain("ENOENT");
  });

  // The child sleeps 20 s; the test's 10 s timeout fails it if runHook waited for the pipe to close.
  it("does not wait for a background child that keeps the output open", { timeout: 10_000 }, async () => {
    const o = await runHook({ event: "after", command: "sleep 20 & echo started", cwd: dir, timeoutMs: 30_000, info });
    expect(o.ok).toBe(true);
    expect(o.output).toBe("started\n");
  });
});

describe("hookEnvironment", () => {
  it("passes the error as one bounded line and absent values as empty strings", () => {
    const env = hookEnvironment("on-failure", { exitCode: 2, repository: "r", error: "line one\nline two\r\n\tthree" });
    expect(env["ISNAD_ERROR"]).toBe("line one line two three");
    expect(env["ISNAD_EXIT_CODE"]).toBe("2");
    expect(env["ISNAD_SNAPSHOT"]).toBe("");
    expect(env["ISNAD_FILES"]).toBe("");
    expect(oneLine("x".repeat(5000)).length).toBe(1000);
  });
});
