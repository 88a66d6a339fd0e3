/** Shared test helpers for test/keys: temp folders, external tools, a pty driver, child modules. */
import { expect } from "vitest";
import { IsnadError } from "../../src/errors.js";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");

/** A temp folder removed after the file's tests. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "isnad-keys-"));
  afterAll(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const toolCache = new Map<string, boolean>();
export function haveTool(name: string): boolean {
  let v = toolCache.get(name);
  if (v === undefined) {
    v = spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
    toolCache.set(name, v);
  }
  return v;
}

/**
 * `it` for a test that needs external tools. Missing with CI=true: the test FAILS (interop with Go
 * age is part of what is being proven). Missing elsewhere: a loud warning and a skip. Tools listed
 * in `optional` (openssl) only ever skip.
 */
export function itWith(tools: string[], opts: { optional?: boolean } = {}) {
  return (name: string, fn: () => Promise<void> | void, timeout?: number): void => {
    const missing = tools.filter((t) => !haveTool(t));
    if (missing.length === 0) {
      it(name, fn, timeout);
    } else if (process.env.CI === "true" && opts.optional !== true) {
      it(name, () => {
        throw new Error(`${missing.join(", ")} not installed; CI requires it for this interop test`);
      });
    } else {
      console.warn(`\n!!!!! SKIPPING "${name}": ${missing.join(", ")} not installed !!!!!\n`);
      it.skip(name, fn, timeout);
    }
  };
}

export const itGoAge = itWith(["age", "age-keygen"]);
export const itGoAgePty = itWith(["age", "age-keygen", "python3"]);
export const itPty = itWith(["python3"]);

export interface PtyResult {
  exit: number;
  output: string;
  steps: number;
  timedOut: boolean;
}

/** Runs argv on a new pty (its controlling terminal), answering prompts in order. */
export async function runOnPty(
  argv: string[],
  steps: { expect: string; send: string }[],
  opts: { timeout?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<PtyResult> {
  const spec = JSON.stringify({ argv, steps, timeout: opts.timeout ?? 60 });
  const { stdout, code, stderr } = await run("python3", [join(here, "pty-drive.py"), spec], {
    env: opts.env,
    cwd: opts.cwd,
  });
  if (code !== 0) throw new Error(`pty driver failed (${code}): ${stderr}`);
  return JSON.parse(stdout) as PtyResult;
}

/** Runs a command to completion, collecting output; `detached` puts it in a new session (no terminal). */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; detached?: boolean } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: opts.detached ?? false,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", rej);
    child.on("close", (code) => res({ code, stdout, stderr }));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * Node 20 cannot run .ts, so tests that need src/keys/passphrase.ts in a child process transpile
 * it (and errors.ts, its only local import) into a temp folder with the same layout. Returns the
 * path of the transpiled passphrase.js.
 */
export function transpilePassphraseModule(dir: string): string {
  const out = join(dir, "transpiled");
  for (const rel of ["src/errors.ts", "src/keys/passphrase.ts"]) {
    const src = readFileSync(join(root, rel), "utf8");
    const js = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const dest = join(out, rel.replace(/\.ts$/, ".js"));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  writeFileSync(join(out, "package.json"), '{"type":"module"}\n');
  return join(out, "src/keys/passphrase.js");
}

/** process.env without ISNAD_PASSPHRASE_FILE, plus extra. */
export function envWithout(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!("ISNAD_PASSPHRASE_FILE" in extra)) delete env.ISNAD_PASSPHRASE_FILE;
  return env;
}

/** The IsnadError a promise rejects with (fails the test if it resolves or throws anything else). */
export async function rejection(p: Promise<unknown>): Promise<IsnadError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IsnadError);
  return err as IsnadError;
}
