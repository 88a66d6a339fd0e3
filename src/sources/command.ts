/**
 * The `command` source: runs a shell command and stores its stdout as one file (database dumps).
 * It owns running the command and spooling its output to a local file with its SHA-256; packing,
 * encrypting and naming the file in the snapshot are left to the caller.
 *
 * Memory stays flat whatever the output size: stdout is streamed to the spool file with
 * backpressure (a pipe chunk at a time), and only the last STDERR_TAIL_BYTES of stderr are kept.
 */

import { spawn, type ChildProcessByStdio } from "node:child_process";
import { createHash } from "node:crypto";
import { open, rm, stat, type FileHandle } from "node:fs/promises";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { IsnadError, messageOf } from "../errors.js";
import { describeFsError } from "./dir.js";

/** How much of the end of stderr is kept for the error message (a few lines of a failing dump). */
const STDERR_TAIL_BYTES = 4096;
/** A longer stderr line is cut in the error message, which must stay one readable line. */
const MAX_MESSAGE_LINE = 300;

export interface CommandSourceOptions {
  label: string;
  command: string;
  /** Working folder of the command; must exist. */
  cwd: string;
  /** The file to create ("wx", mode 0600); it must not exist. Deleted again if the command fails. */
  spoolPath: string;
  /** Environment of the command; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Called with each stderr line (without its newline) as it arrives. */
  onStderr?: (line: string) => void;
}

/**
 * Runs `command` with /bin/sh -c (cwd given, stdin from /dev/null), streams its stdout into a new
 * file `spoolPath`, hashing as it goes. Non-zero exit or death by signal deletes the spool file
 * and throws IsnadError("source", `command source "<label>": \`<command>\` exited with code N:
 * <last stderr line>`). A missing cwd, a spawn failure or a write failure (disk full) fail the
 * same way; an existing spool file is left alone and fails before the command starts.
 */
export async function runCommandSource(opts: CommandSourceOptions): Promise<{ size: number; sha256: string }> {
  const what = `command source "${opts.label}"`;
  const fail = (detail: string, cause?: unknown, hint?: string) =>
    new IsnadError("source", `${what}: ${detail}`, { cause, hint });

  // Checked first: with a missing cwd, spawn reports a misleading "spawn /bin/sh ENOENT".
  let cwdIsFolder: boolean;
  try {
    cwdIsFolder = (await stat(opts.cwd)).isDirectory();
  } catch (err) {
    throw fail(`working folder ${opts.cwd} cannot be used: ${describeFsError(err)}`, err, "fix cwd in the config file");
  }
  if (!cwdIsFolder) throw fail(`working folder ${opts.cwd} is not a folder`, undefined, "fix cwd in the config file");

  let file: FileHandle;
  try {
    file = await open(opts.spoolPath, "wx", 0o600);
  } catch (err) {
    throw fail(`cannot create the spool file ${opts.spoolPath}: ${describeFsError(err)}`, err);
  }

  let ok = false;
  try {
    const result = await run(opts, file, fail);
    ok = true;
    return result;
  } finally {
    // The write stream closes the handle when it ends or is destroyed; this covers the paths
    // where it was never started. Closing twice is harmless here: the error is ignored.
    await file.close().catch(() => {});
    if (!ok) await rm(opts.spoolPath, { force: true });
  }
}

async function run(
  opts: CommandSourceOptions,
  file: FileHandle,
  fail: (detail: string, cause?: unknown, hint?: string) => IsnadError,
): Promise<{ size: number; sha256: string }> {
  let child: ChildProcessByStdio<null, Readable, Readable>;
  try {
    child = spawn("/bin/sh", ["-c", opts.command], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    // Bad arguments (a NUL byte in the command or env) throw here instead of emitting "error".
    throw fail(`\`${opts.command}\` could not be started: ${messageOf(err)}`, err);
  }

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal }));
  });

  const stderr = new StderrTail(opts.onStderr);
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));

  const hash = createHash("sha256");
  let size = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const copied = pipeline(child.stdout, hasher, file.createWriteStream());
  // If the spool file cannot be written (disk full), stop the command now rather than let it run
  // to the end into a closed pipe.
  copied.catch(() => child.kill("SIGTERM"));

  const [copy, exit] = await Promise.allSettled([copied, exited]);
  stderr.end();

  if (exit.status === "rejected") {
    throw fail(`\`${opts.command}\` could not be started: ${messageOf(exit.reason)}`, exit.reason);
  }
  if (copy.status === "rejected") {
    // Only a failure on our side (the spool file) gets here: the child's stdout ends cleanly.
    throw fail(`writing the output of \`${opts.command}\` to ${opts.spoolPath} failed: ${describeFsError(copy.reason)}`, copy.reason);
  }
  const { code, signal } = exit.value;
  if (code !== 0) {
    const how = signal !== null ? `was killed by signal ${signal}` : `exited with code ${code ?? "?"}`;
    const last = stderr.lastLine();
    throw fail(`\`${opts.command}\` ${how}${last === "" ? "" : `: ${last}`}`);
  }
  return { size, sha256: hash.digest("hex") };
}

/** Splits stderr into lines for onStderr and keeps its last few KiB for the error message. */
class StderrTail {
  private tail: Buffer = Buffer.alloc(0);
  private partial = "";
  private readonly decoder = new TextDecoder("utf-8");

  constructor(private readonly onLine: ((line: string) => void) | undefined) {}

  push(chunk: Buffer): void {
    this.tail = Buffer.concat([this.tail, chunk]);
    if (this.tail.length > STDERR_TAIL_BYTES) this.tail = this.tail.subarray(this.tail.length - STDERR_TAIL_BYTES);
    if (this.onLine === undefined) return;
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    // A line without its newline yet waits for the next chunk, but never grows without bound.
    this.partial = lines.pop() ?? "";
    if (this.partial.length > STDERR_TAIL_BYTES) {
      lines.push(this.partial);
      this.partial = "";
    }
    for (const line of lines) this.onLine(line.replace(/\r$/, ""));
  }

  end(): void {
    if (this.onLine === undefined) return;
    const rest = this.partial + this.decoder.decode();
    this.partial = "";
    if (rest !== "") this.onLine(rest);
  }

  /** The last non-blank line of stderr, trimmed and cut to one readable line. */
  lastLine(): string {
    // The tail may start in the middle of a UTF-8 sequence; the decoder replaces that part.
    const lines = new TextDecoder("utf-8").decode(this.tail).split(/\r?\n/);
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i]!.trim();
      if (line !== "") {
        // eslint-disable-next-line no-control-regex
        const clean = line.replace(/[\u0000-\u001f\u007f]/g, " ");
        return clean.length > MAX_MESSAGE_LINE ? `${clean.slice(0, MAX_MESSAGE_LINE)}…` : clean;
      }
    }
    return "";
  }
}
