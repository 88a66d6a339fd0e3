/**
 * Hooks: the shell commands a config runs around a snapshot (`hooks: before/after/on_failure`),
 * e.g. a health-check ping. This module runs one hook and reports its outcome as data; which hook
 * runs when, and what its failure does to the exit code, is the snapshot job's decision
 * (src/cli/snapshot-job.ts). Never prints.
 *
 * A hook runs as `/bin/sh -c COMMAND` in the config file's folder, in its own process group (so a
 * timeout kills what it started too), with stdin from /dev/null and the outcome of the snapshot in
 * ISNAD_* environment variables. Its stdout and stderr are captured together, up to
 * MAX_HOOK_OUTPUT_BYTES; the rest is counted, not kept.
 */
import { spawn } from "node:child_process";
import { messageOf } from "../errors.js";

export type HookEvent = "before" | "after" | "on-failure";

/** What a hook is told, as ISNAD_* variables (a value left out is passed as ""). */
export interface HookInfo {
  /** The exit code isnad will have if this hook succeeds (0 for `before`). */
  exitCode: number;
  repository: string;
  snapshot?: string;
  chainHead?: string;
  /** One line: why the snapshot failed (on-failure only). */
  error?: string;
  files?: number;
  bytes?: number;
  missing?: number;
}

export interface HookOutcome {
  event: HookEvent;
  command: string;
  ok: boolean;
  /** The command's exit code; null if it was killed or never started. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Could not be started at all (e.g. the folder is gone). */
  spawnError?: string;
  /** stdout and stderr interleaved, at most MAX_HOOK_OUTPUT_BYTES. */
  output: string;
  /** Bytes of output beyond the kept part. */
  droppedBytes: number;
  durationMs: number;
}

/** Enough for a curl error or a script's last words; a chatty hook cannot flood the log. */
export const MAX_HOOK_OUTPUT_BYTES = 16 * 1024;
/** After the shell exits, how long a background child may keep its output pipe open. */
const DRAIN_AFTER_EXIT_MS = 1000;
/** ISNAD_ERROR is one line of at most this many characters. */
const MAX_ERROR_CHARS = 1000;

export function hookEnvironment(event: HookEvent, info: HookInfo): Record<string, string> {
  const s = (v: string | number | undefined) => (v === undefined ? "" : String(v));
  return {
    ISNAD_EVENT: event,
    ISNAD_EXIT_CODE: String(info.exitCode),
    ISNAD_REPOSITORY: info.repository,
    ISNAD_SNAPSHOT: s(info.snapshot),
    ISNAD_CHAIN_HEAD: s(info.chainHead),
    ISNAD_ERROR: oneLine(info.error ?? ""),
    ISNAD_FILES: s(info.files),
    ISNAD_BYTES: s(info.bytes),
    ISNAD_MISSING: s(info.missing),
  };
}

export function oneLine(s: string): string {
  const flat = s.replace(/[\r\n\t]+/g, " ").trim();
  return flat.length > MAX_ERROR_CHARS ? `${flat.slice(0, MAX_ERROR_CHARS - 1)}…` : flat;
}

export interface RunHookOptions {
  event: HookEvent;
  command: string;
  cwd: string;
  timeoutMs: number;
  info: HookInfo;
  /** The environment the ISNAD_* variables are added to (default: this process's). */
  baseEnv?: NodeJS.ProcessEnv;
  maxOutputBytes?: number;
}

/** Runs one hook to its end (or its timeout); never throws. */
export function runHook(opts: RunHookOptions): Promise<HookOutcome> {
  const started = Date.now();
  const max = opts.maxOutputBytes ?? MAX_HOOK_OUTPUT_BYTES;
  const chunks: Buffer[] = [];
  let kept = 0;
  let dropped = 0;
  const collect = (b: Buffer) => {
    const room = max - kept;
    if (room > 0) {
      chunks.push(room >= b.length ? b : b.subarray(0, room));
      kept += Math.min(room, b.length);
    }
    dropped += Math.max(0, b.length - Math.max(room, 0));
  };
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    const outcome = (exitCode: number | null, signal: string | null, spawnError?: string): HookOutcome => ({
      event: opts.event,
      command: opts.command,
      ok: !timedOut && spawnError === undefined && exitCode === 0,
      exitCode,
      signal,
      timedOut,
      ...(spawnError !== undefined ? { spawnError } : {}),
      output: Buffer.concat(chunks).toString("utf8"),
      droppedBytes: dropped,
      durationMs: Date.now() - started,
    });
    const finish = (o: HookOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(drain);
      resolve(o);
    };
    let drain: NodeJS.Timeout | undefined;
    const child = spawn("/bin/sh", ["-c", opts.command], {
      cwd: opts.cwd,
      env: { ...(opts.baseEnv ?? process.env), ...hookEnvironment(opts.event, opts.info) },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group: a timeout kills the whole group
    });
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("error", (e) => finish(outcome(null, null, messageOf(e))));
    child.on("exit", (code, signal) => {
      // A background child that keeps the pipes open must not hold isnad up.
      drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(outcome(code, signal));
      }, DRAIN_AFTER_EXIT_MS);
    });
    child.on("close", (code, signal) => finish(outcome(code, signal)));
  });
}

/** "exit code 3", "timed out after 5s (killed)", "killed by SIGTERM", "could not start: …". */
export function describeHookFailure(o: HookOutcome, timeoutMs: number): string {
  if (o.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)}s and was killed`;
  if (o.spawnError !== undefined) return `could not start: ${o.spawnError}`;
  if (o.signal) return `killed by ${o.signal}`;
  return `exit code ${o.exitCode}`;
}
