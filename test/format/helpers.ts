/**
 * Shared by the format tests: where the golden vectors live, how to read and (on request) rewrite
 * them, and how to run a standard tool (GNU tar, sha256sum, jq, openssl) or skip loudly without it.
 *
 * Vectors are only ever rewritten when ISNAD_WRITE_VECTORS=1 is set; a normal run compares and
 * fails, so a format change has to be made on purpose and shows up in review as a vector diff.
 */
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { it } from "vitest";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const VECTORS = path.join(ROOT, "test/vectors");
export const WRITE_VECTORS = process.env["ISNAD_WRITE_VECTORS"] === "1";
const IN_CI = process.env["CI"] === "true";

export const vectorPath = (...parts: string[]): string => path.join(VECTORS, ...parts);
export const readVector = (...parts: string[]): Buffer => readFileSync(vectorPath(...parts));

/** Writes a vector file when ISNAD_WRITE_VECTORS=1; otherwise does nothing. */
export function maybeWriteVector(bytes: Uint8Array | string, ...parts: string[]): void {
  if (!WRITE_VECTORS) return;
  const file = vectorPath(...parts);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, bytes);
}

export function vectorExists(...parts: string[]): boolean {
  return existsSync(vectorPath(...parts));
}

/** A fresh temp folder, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `isnad-format-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const toolCache = new Map<string, boolean>();
export function haveTool(name: string): boolean {
  let ok = toolCache.get(name);
  if (ok === undefined) {
    ok = spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
    toolCache.set(name, ok);
  }
  return ok;
}

/**
 * `it` for a test that runs standard tools. Missing tool with CI=true: the test FAILS (interop with
 * the standard tools is what the test proves). Missing elsewhere: a loud warning and a skip.
 */
export function itWithTools(tools: string[]) {
  return (name: string, fn: () => Promise<void> | void, timeout?: number): void => {
    const missing = tools.filter((t) => !haveTool(t));
    if (missing.length === 0) {
      it(name, fn, timeout);
    } else if (IN_CI) {
      it(name, () => {
        throw new Error(`${missing.join(", ")} not installed; CI=true requires it for "${name}"`);
      });
    } else {
      console.warn(`\n!!!!! SKIPPING "${name}": ${missing.join(", ")} not installed (CI=true would fail) !!!!!\n`);
      it.skip(name, fn, timeout);
    }
  };
}

/** Runs a tool synchronously with a C.UTF-8 locale and UTC clock; throws with its stderr if it fails. */
export function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, {
    ...opts,
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LC_ALL: "C.UTF-8", TZ: "UTC", ...(opts.env ?? {}) },
    maxBuffer: 64 << 20,
  });
  if (r.error) throw r.error;
  const stderr = Buffer.from(r.stderr ?? "").toString("utf8");
  if (r.status !== 0) {
    const stdout = Buffer.from(r.stdout ?? "").toString("utf8");
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${stderr}${stdout ? ` (stdout: ${stdout})` : ""}`);
  }
  return { stdout: Buffer.from(r.stdout ?? ""), stderr };
}

/** "# key: value" header lines, then hex (whitespace ignored). The format of test/vectors/tar/*.hex. */
export function parseHexVector(text: string): { headers: Map<string, string>; bytes: Buffer } {
  const headers = new Map<string, string>();
  const hex: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^# ([a-z-]+): (.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) headers.set(m[1], m[2]);
    else if (line.startsWith("#")) continue;
    else hex.push(line.replace(/\s+/g, ""));
  }
  const joined = hex.join("");
  if (!/^([0-9a-f]{2})*$/.test(joined)) throw new Error("vector body is not lower-case hex");
  return { headers, bytes: Buffer.from(joined, "hex") };
}

export function formatHexVector(headers: Array<[string, string]>, bytes: Buffer): string {
  const lines = headers.map(([k, v]) => `# ${k}: ${v}`);
  for (let i = 0; i < bytes.length; i += 32) {
    const row = bytes.subarray(i, i + 32).toString("hex");
    lines.push(row.replace(/(.{8})(?=.)/g, "$1 "));
  }
  return lines.join("\n") + "\n";
}
