/**
 * Drives the real CLI (dist/bin/isnad.js, built by `npm test`) as a subprocess, the way a user or
 * cron would. Each sandbox has its own HOME and XDG folders so keys never land in the real ones.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = path.join(ROOT, "dist/bin/isnad.js");

if (!existsSync(BIN)) {
  throw new Error(`${BIN} is missing: run \`npm run build\` (npm test does it) before vitest`);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Runs `isnad ARGS` in the sandbox (cwd = sandbox dir unless given). */
  run(args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string }): Promise<RunResult>;
  path(...p: string[]): string;
  cleanup(): void;
}

export function sandbox(): Sandbox {
  const dir = mkdtempSync(path.join(os.tmpdir(), "isnad-test-"));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    HOME: path.join(dir, "home"),
    XDG_CONFIG_HOME: path.join(dir, "home/.config"),
    XDG_CACHE_HOME: path.join(dir, "home/.cache"),
    TMPDIR: process.env["TMPDIR"],
    CI: process.env["CI"],
  };
  return {
    dir,
    env,
    path: (...p) => path.join(dir, ...p),
    run: (args, opts) => runIsnad(args, { cwd: opts?.cwd ?? dir, env: { ...env, ...opts?.env }, input: opts?.input }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function runIsnad(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: stripUndefined(opts.env), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

function stripUndefined(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
}

/** Is a tool on PATH? In CI a missing tool is a failure, elsewhere a loud skip. */
export function haveTool(name: string): boolean {
  const ok = spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
  if (!ok) {
    const msg = `!!! ${name} is not installed: tests that need it ${process.env["CI"] === "true" ? "FAIL (CI=true)" : "are SKIPPED"}; .ci/run installs it`;
    console.warn(msg);
  }
  return ok;
}

/** For `it.skipIf(...)`: skip only outside CI; in CI the test runs and fails on the missing tool. */
export const skipWithout = (name: string): boolean => !haveTool(name) && process.env["CI"] !== "true";
