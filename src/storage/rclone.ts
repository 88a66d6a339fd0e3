/**
 * The rclone backend: `rclone:remote:path`, through the `rclone` binary (as restic does), so any
 * of rclone's remotes can hold a repository. rclone reads its own config (RCLONE_CONFIG, or
 * ~/.config/rclone/rclone.conf; `storage.rclone.config` in isnad.yaml sets --config) and retries
 * transient errors itself (--retries, --low-level-retries).
 *
 * One rclone process per operation: about a quarter of a second each. Packs are large, so a
 * snapshot spends its time moving bytes, not starting processes; a repository of many thousands
 * of small objects would want `rclone rcd` (one long-lived process) instead.
 *
 * Never overwrite, never half-visible: an object is first written under tmp/ (rclone's own
 * uploads to many remotes, and to a local folder, are not atomic), then `rclone moveto
 * --ignore-existing` moves it to its name; exit code 9 (--error-on-no-transfer) means the name
 * was taken, and the temporary object is removed. rclone checks the target and then moves, so two
 * hosts putting the same key at the same instant could both "create" it (the later rename wins).
 * Within one process puts of a key are serialised; between hosts the repository lock keeps
 * writers apart, and content-addressed objects of the same name have the same content.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { Transform, type Readable } from "node:stream";
import { type ObjectInfo, type PutResult, type Storage, StorageError } from "./storage.js";
import { configError } from "../errors.js";

export interface RcloneOptions {
  /** The rclone binary (default "rclone" on PATH). */
  program?: string;
  /** rclone's config file (default: rclone's own rule, RCLONE_CONFIG or ~/.config/rclone/rclone.conf). */
  config?: string;
}

const STAGING = "tmp/";
/** rclone exit codes (rclone docs, "Exit code"). */
const EXIT_DIR_NOT_FOUND = 3;
const EXIT_FILE_NOT_FOUND = 4;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function openRcloneStorage(location: string, opts: RcloneOptions = {}): Promise<RcloneStorage> {
  const spec = location.replace(/^rclone:/i, "");
  if (!/^:?[A-Za-z0-9_. -]+(,[^:]*)?:/.test(spec)) {
    throw configError(`repository "${redact(location)}": expected rclone:REMOTE:PATH`, {
      hint: "name a remote from `rclone listremotes`, e.g. rclone:offsite:isnad",
    });
  }
  const s = new RcloneStorage(spec, opts);
  await s.checkBinary();
  return s;
}

/** Hides values of inline remote parameters (`:sftp,pass=…:` or `remote,key=…:`). */
export function redact(text: string): string {
  return text.replace(/(,[A-Za-z0-9_-]+=)("[^"]*"|'[^']*'|[^,:\s]*)/g, "$1***");
}

export class RcloneStorage implements Storage {
  readonly location: string;
  private readonly root: string;
  private readonly program: string;
  private readonly baseArgs: string[];
  private staging: string | undefined;
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(spec: string, opts: RcloneOptions) {
    this.root = spec.replace(/\/+$/, "");
    this.location = `rclone:${redact(this.root)}`;
    this.program = opts.program ?? "rclone";
    // Transient errors: rclone retries each request (--low-level-retries) and each operation
    // (--retries, 2 s apart); a stalled connection is dropped after --timeout. This bounds one
    // operation against a dead server to well under a minute.
    this.baseArgs = [
      ...(opts.config ? ["--config", opts.config] : []),
      "--retries",
      "2",
      "--retries-sleep",
      "2s",
      "--low-level-retries",
      "5",
      "--contimeout",
      "15s",
      "--timeout",
      "2m",
    ];
  }

  private remote(key: string): string {
    if (key !== "" && (key.split("/").some((s) => s === ".." || s === "." || s === "") || key.startsWith("/")))
      throw new StorageError(`internal: bad storage key ${JSON.stringify(key)}`);
    if (key === "") return this.root;
    return this.root.endsWith(":") ? `${this.root}${key}` : `${this.root}/${key}`;
  }

  async checkBinary(): Promise<void> {
    const r = await this.run(["version"], { noBase: true });
    if (r.code !== 0) throw this.fail("run", "", r);
  }

  /** Runs rclone; stdin from `input` (bytes) if given. Never throws for a non-zero exit. */
  private run(args: string[], opts: { input?: Uint8Array; noBase?: boolean } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.program, [...(opts.noBase ? [] : this.baseArgs), ...args], { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-16_384)));
      child.on("error", (e) => reject(this.spawnError(e)));
      child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
      child.stdin.on("error", () => undefined); // rclone exited early; its exit code says why
      child.stdin.end(opts.input === undefined ? undefined : Buffer.from(opts.input));
    });
  }

  private spawnError(e: unknown): StorageError {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT") {
      return new StorageError(`cannot run rclone ("${this.program}" not found) for ${this.location}`, {
        cause: e,
        hint: "install rclone (apt-get install rclone), or set storage.rclone.program in isnad.yaml",
      });
    }
    return new StorageError(`cannot run rclone for ${this.location}: ${(e as Error).message}`, { cause: e });
  }

  /** One line from rclone's stderr, without its timestamp and without secrets. */
  private fail(op: string, key: string, r: RunResult): StorageError {
    const line = errorLine(r);
    const what = key ? `${key} in ${this.location}` : this.location;
    const hint = /didn't find section in config file|config file .* not found/i.test(line)
      ? "check the remote name against `rclone listremotes` (RCLONE_CONFIG or storage.rclone.config picks the config file)"
      : undefined;
    return new StorageError(`rclone ${op} ${what} failed: ${redact(line).replace(/^ERROR : /, "")}`, { hint });
  }

  async stagingDir(): Promise<string> {
    this.staging ??= await fs.mkdtemp(path.join(os.tmpdir(), "isnad-rclone-"));
    await fs.chmod(this.staging, 0o700);
    return this.staging;
  }

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.inFlight.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.inFlight.set(key, next);
    void next.catch(() => undefined).finally(() => {
      if (this.inFlight.get(key) === next) this.inFlight.delete(key);
    });
    return next;
  }

  private tempKey(key: string): string {
    return `${STAGING}${key.replace(/\//g, "_")}.${process.pid}.${randomBytes(6).toString("hex")}`;
  }

  /**
   * Moves tmp/… to key unless key exists. rclone's exit code does not tell a skip from a move
   * (--error-on-no-transfer counts a server-side rename as no transfer), so the outcome is read
   * from its final statistics, logged as JSON: a rename or a transfer means the key was created.
   */
  private async commit(tmp: string, key: string): Promise<PutResult> {
    const r = await this.run(["moveto", "--ignore-existing", "--use-json-log", "-v", this.remote(tmp), this.remote(key)]);
    if (r.code !== 0) {
      await this.delete(tmp).catch(() => undefined);
      throw this.fail("moveto", key, r);
    }
    let moved: boolean | undefined;
    for (const line of r.stderr.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const st = (JSON.parse(line) as { stats?: { renames?: number; transfers?: number } }).stats;
        if (st) moved = (st.renames ?? 0) + (st.transfers ?? 0) > 0;
      } catch {
        /* not a log line of ours */
      }
    }
    moved ??= (await this.stat(tmp)) === undefined;
    if (moved) return "created";
    await this.delete(tmp);
    return "exists";
  }

  async putFile(key: string, localPath: string): Promise<PutResult> {
    this.remote(key);
    const result = await this.serial(key, async () => {
      if (await this.stat(key)) return "exists" as const;
      const tmp = this.tempKey(key);
      const r = await this.run(["copyto", localPath, this.remote(tmp)]);
      if (r.code !== 0) {
        await this.delete(tmp).catch(() => undefined);
        throw this.fail("upload", key, r);
      }
      return this.commit(tmp, key);
    });
    await fs.rm(localPath, { force: true });
    return result;
  }

  async putBytes(key: string, data: Uint8Array): Promise<PutResult> {
    this.remote(key);
    return this.serial(key, async () => {
      // No stat first: for a small object it costs as much as the upload, and moveto checks anyway.
      const tmp = await this.upload(key, data);
      return this.commit(tmp, key);
    });
  }

  /** Writes bytes to a fresh tmp/ object (through a local file: rcat of empty input writes nothing on some versions). */
  private async upload(key: string, data: Uint8Array): Promise<string> {
    const tmp = this.tempKey(key);
    const local = path.join(await this.stagingDir(), tmp.slice(STAGING.length));
    await fs.writeFile(local, data, { mode: 0o600, flag: "wx" });
    try {
      const r = await this.run(["copyto", local, this.remote(tmp)]);
      if (r.code !== 0) {
        await this.delete(tmp).catch(() => undefined);
        throw this.fail("upload", key, r);
      }
    } finally {
      await fs.rm(local, { force: true });
    }
    return tmp;
  }

  async replaceBytes(key: string, data: Uint8Array): Promise<void> {
    this.remote(key);
    const tmp = await this.upload(key, data);
    const r = await this.run(["moveto", this.remote(tmp), this.remote(key)]);
    if (r.code !== 0) {
      await this.delete(tmp).catch(() => undefined);
      throw this.fail("moveto", key, r);
    }
  }

  async get(key: string): Promise<Readable> {
    const info = await this.stat(key);
    if (!info) throw new StorageError(`${key} is missing from ${this.location}`, { notFound: true });
    const child = spawn(this.program, [...this.baseArgs, "cat", this.remote(key)], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-16_384)));
    const exited = new Promise<RunResult>((resolve) => {
      child.on("error", (e) => resolve({ code: -1, stdout: "", stderr: (e as Error).message }));
      child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout: "", stderr }));
    });
    let n = 0;
    const fail = this.fail.bind(this);
    // Byte-counting pass-through: the stream fails unless rclone exits 0 having sent exactly the stated size.
    const out = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        cb(null, chunk);
      },
      flush(cb) {
        void exited.then((r) => {
          if (r.code !== 0) return cb(fail("cat", key, r));
          if (n !== info.size) return cb(new StorageError(`${key} in rclone:… ended after ${n} of ${info.size} bytes`));
          cb();
        });
      },
      destroy(err, cb) {
        if (child.exitCode === null) child.kill();
        cb(err);
      },
    });
    child.stdout.on("error", (e) => out.destroy(e));
    child.stdout.pipe(out);
    return out;
  }

  async readBytes(key: string, maxBytes: number): Promise<Buffer> {
    const info = await this.stat(key);
    if (!info) throw new StorageError(`${key} is missing from ${this.location}`, { notFound: true });
    if (info.size > maxBytes) throw new StorageError(`${key} is ${info.size} bytes, more than the ${maxBytes} expected`);
    const r = await this.runBinary(["cat", this.remote(key)], maxBytes);
    if (r.code === EXIT_DIR_NOT_FOUND || r.code === EXIT_FILE_NOT_FOUND) throw new StorageError(`${key} is missing from ${this.location}`, { notFound: true });
    if (r.code !== 0) throw this.fail("cat", key, { ...r, stdout: "" });
    return r.data;
  }

  private runBinary(args: string[], maxBytes: number): Promise<{ code: number; data: Buffer; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.program, [...this.baseArgs, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      const parts: Buffer[] = [];
      let n = 0;
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        n += d.length;
        if (n > maxBytes) child.kill();
        else parts.push(d);
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-16_384)));
      child.on("error", (e) => reject(this.spawnError(e)));
      child.on("close", (code, signal) => {
        if (n > maxBytes) return reject(new StorageError(`${args[args.length - 1]} is more than the ${maxBytes} bytes expected`));
        resolve({ code: code ?? (signal ? 128 : -1), data: Buffer.concat(parts), stderr });
      });
    });
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const r = await this.run(["lsjson", "--stat", "--no-mimetype", this.remote(key)]);
    if (r.code === EXIT_DIR_NOT_FOUND || r.code === EXIT_FILE_NOT_FOUND) return undefined;
    if (r.code !== 0) throw this.fail("stat", key, r);
    let v: { Size?: number; IsDir?: boolean };
    try {
      v = JSON.parse(r.stdout) as typeof v;
    } catch {
      throw new StorageError(`rclone stat ${key} in ${this.location}: unexpected output`);
    }
    return v.IsDir ? undefined : { key, size: v.Size ?? 0 };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const trimmed = prefix.replace(/\/+$/, "");
    const child = spawn(
      this.program,
      [...this.baseArgs, "lsjson", "-R", "--files-only", "--no-mimetype", "--no-modtime", this.remote(trimmed)],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-16_384)));
    const exited = new Promise<RunResult>((resolve, reject) => {
      child.on("error", (e) => reject(this.spawnError(e)));
      child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout: "", stderr }));
    });
    const base = trimmed === "" ? "" : `${trimmed}/`;
    // lsjson prints one object per line between "[" and "]": read it line by line, in bounded memory.
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    try {
      for await (const raw of lines) {
        const line = raw.trim().replace(/,$/, "");
        if (line === "[" || line === "]" || line === "") continue;
        const v = JSON.parse(line) as { Path: string; Size: number; IsDir?: boolean };
        if (!v.IsDir) yield { key: base + v.Path, size: v.Size };
      }
    } finally {
      if (child.exitCode === null) child.kill();
    }
    const r = await exited;
    if (r.code === EXIT_DIR_NOT_FOUND) return;
    if (r.code !== 0) throw this.fail("list", prefix, r);
  }

  async delete(key: string): Promise<void> {
    const r = await this.run(["deletefile", "--retries", "1", this.remote(key)]);
    if (r.code === 0) return;
    if (r.code === EXIT_DIR_NOT_FOUND || r.code === EXIT_FILE_NOT_FOUND || /doesn't exist|object not found/i.test(errorLine(r))) return;
    throw this.fail("delete", key, r);
  }

  async close(): Promise<void> {
    if (this.staging) await fs.rm(this.staging, { recursive: true, force: true });
    this.staging = undefined;
  }
}

/** The line of rclone's stderr that says what failed, without its timestamp. */
function errorLine(r: RunResult): string {
  const lines = r.stderr
    .split("\n")
    .map((l) => (l.startsWith("{") ? jsonLogLine(l) : l))
    .map((l) => l.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\s+/, "").trim())
    .filter((l) => l !== "");
  return [...lines].reverse().find((l) => /^(ERROR|CRITICAL|Failed)/.test(l)) ?? lines[lines.length - 1] ?? `exit code ${r.code}`;
}

/** A --use-json-log line as the text rclone would have printed ("ERROR : msg"). */
function jsonLogLine(l: string): string {
  try {
    const v = JSON.parse(l) as { level?: string; msg?: string; object?: string };
    return `${(v.level ?? "").toUpperCase()} : ${v.object ? `${v.object}: ` : ""}${(v.msg ?? "").trim().split("\n")[0]}`;
  } catch {
    return l;
  }
}
