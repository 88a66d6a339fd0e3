/**
 * The SFTP backend: a repository on any SSH server (OpenSSH's internal-sftp or sftp-server),
 * at `sftp://user@host[:port]/absolute/path` or `sftp://user@host[:port]/~/path` (relative to the
 * account's login folder). It owns the connection (host-key check, authentication, TCP no-delay,
 * reconnect and retry) and how bytes move; which key an object gets is src/format/layout.ts.
 *
 * Never overwrite, never half-visible:
 * - normally an object is uploaded to `tmp/<name>.<random>` opened exclusively (`wx`) and then
 *   renamed to its key. OpenSSH's SFTP v3 rename link(2)s the file, so it fails when the key
 *   exists: that is the never-overwrite check, atomic on the server.
 * - on an append-only account (rename refused, see README "Off-site: SFTP") the object is written
 *   under its key directly, opened with `wx`, and its size is checked after the upload. A crash
 *   can leave a truncated object there: a later put of the same key sees the size mismatch and
 *   either resumes it (same run: from the last acknowledged byte, then read back and compared)
 *   or reports it; verify finds it by its hash.
 * The local staging folder (stagingDir) is os.tmpdir()/isnad-staging-<hash of the location>.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import * as fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import type { SFTPWrapper, Stats } from "ssh2";
import SftpClient from "ssh2-sftp-client";
import { IsnadError, configError, errnoCode, messageOf } from "../errors.js";
import { homeDir } from "../keys/paths.js";
import { checkHostKey, fingerprint, keyType, type HostKeyVerdict } from "./known-hosts.js";
import { type ObjectInfo, type PutResult, type SftpOptions, type Storage, StorageError } from "./storage.js";

/** SFTP status codes (draft-ietf-secsh-filexfer-02, the version OpenSSH speaks). */
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;
const FAILURE = 4;

/** Upload in 256 KiB reads with up to 8 writes in flight: 2 MiB of memory, full speed on a LAN. */
const CHUNK = 256 * 1024;
const IN_FLIGHT = 8;
const STAGING = "tmp";
/** Keys named by the SHA-256 of their bytes: a copy of another size is damaged, never "exists". */
const CONTENT_ADDRESSED = /^(packs\/[0-9a-f]{2}|manifests|index)\/[0-9a-f]{64}\.age$/;
/** Errors of the network, not of the request: worth reconnecting and trying again. */
const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ECONNABORTED", "ENOTCONN"]);

export interface SftpTarget {
  user: string;
  host: string;
  port: number;
  /** Remote folder of the repository: absolute ("/srv/isnad") or relative to the login folder. */
  root: string;
  /** The URL without query, for messages. */
  location: string;
}

/** Parses `sftp://user@host[:port]/path[?option=value]`; options from the query join `opts`. */
export function parseSftpUrl(url: string, opts: SftpOptions = {}): { target: SftpTarget; options: SftpOptions } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    const redacted = url.replace(/^(sftp:\/\/[^/:@]*):[^/@]*@/i, "$1:***@");
    throw configError(`repository "${redacted}" is not a valid sftp:// URL`, { hint: "write sftp://user@host[:port]/path" });
  }
  const shown = `${u.protocol}//${u.username ? `${u.username}@` : ""}${u.host}${u.pathname}`;
  if (u.password !== "") {
    throw configError(`repository sftp URL must not hold a password`, {
      hint: "remove it from the URL; authenticate with a key (storage.sftp.identity_file or ssh-agent)",
    });
  }
  if (u.hostname === "") throw configError(`repository "${shown}" names no host`, { hint: "write sftp://user@host[:port]/path" });
  let pathname = decodeURIComponent(u.pathname);
  if (pathname === "" || pathname === "/") {
    throw configError(`repository "${shown}" names no folder`, { hint: "write sftp://user@host/absolute/path or sftp://user@host/~/path" });
  }
  let root: string;
  if (pathname === "/~" || pathname.startsWith("/~/")) root = pathname.slice(3).replace(/\/+$/, "") || ".";
  else root = pathname.replace(/\/+$/, "");
  if (root.split("/").includes("..")) throw configError(`repository "${shown}": ".." is not allowed in the path`);
  const options: SftpOptions = { ...opts };
  for (const [k, v] of u.searchParams) {
    if (k === "strict_host_key" || k === "append_only") {
      if (v !== "true" && v !== "false") throw configError(`repository "${shown}": ?${k}= must be true or false`);
      options[k] = v === "true";
    } else if (k === "retry_seconds" || k === "connect_timeout") {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw configError(`repository "${shown}": ?${k}= must be a number of seconds`);
      options[k] = n;
    } else {
      throw configError(`repository "${shown}": unknown option ?${k}=`, {
        hint: "the URL query may set strict_host_key, append_only, retry_seconds, connect_timeout; keys and known_hosts go in the config's storage.sftp",
      });
    }
  }
  const user = decodeURIComponent(u.username) || os.userInfo().username;
  const port = u.port === "" ? 22 : Number(u.port);
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const location = `sftp://${user}@${u.host}${pathname.replace(/\/+$/, "")}`;
  return { target: { user, host, port, root, location }, options };
}

interface Connection {
  client: SftpClient;
  sftp: SFTPWrapper;
  dead: boolean;
  /** Open read streams: ssh2 would leave them waiting forever once the connection is gone. */
  streams: Set<Readable>;
}

/** A connection-level failure: the request may be retried on a new connection. */
class TransientError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
  }
}

export class SftpStorage implements Storage {
  readonly location: string;
  appendOnly = false;
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private closed = false;
  private readonly madeDirs = new Set<string>();
  /**
   * Keys this process started writing in place (append-only) and may resume after a drop, each
   * with how many leading bytes the server has acknowledged.
   */
  private readonly ownPartial = new Map<string, number>();
  private readonly retryMs: number;

  private constructor(
    readonly target: SftpTarget,
    private readonly options: SftpOptions,
    private readonly warn: (m: string) => void,
  ) {
    this.location = target.location;
    this.retryMs = (options.retry_seconds ?? 60) * 1000;
  }

  /** Connects (so a bad host key or key shows at once) and finds out whether rename is allowed. */
  static async open(url: string, opts: SftpOptions, onWarning?: (m: string) => void): Promise<SftpStorage> {
    const { target, options } = parseSftpUrl(url, opts);
    const s = new SftpStorage(target, options, onWarning ?? (() => undefined));
    try {
      await s.retrying("connecting", async () => undefined);
      s.appendOnly = options.append_only ?? (await s.retrying("probe", (sftp) => probeAppendOnly(sftp, s.remote(`${STAGING}/probe-${randomBytes(6).toString("hex")}`))));
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  // ---- paths ----------------------------------------------------------------------------------

  private remote(key: string): string {
    if (key.split("/").some((p) => p === ".." || p === "" || p === ".") || key.startsWith("/")) {
      throw new StorageError(`internal: bad storage key ${JSON.stringify(key)}`);
    }
    return this.target.root === "." ? key : `${this.target.root}/${key}`;
  }

  private async mkdirs(sftp: SFTPWrapper, dir: string): Promise<void> {
    if (this.madeDirs.has(dir) || dir === "." || dir === "/" || dir === "") return;
    const st = await call<Stats>(sftp, (cb) => sftp.stat(dir, cb)).catch((e) => {
      if (sftpCode(e) === NO_SUCH_FILE) return undefined;
      throw e;
    });
    if (!st) {
      await this.mkdirs(sftp, path.posix.dirname(dir));
      await call(sftp, (cb) => sftp.mkdir(dir, cb)).catch(async (e) => {
        // Made meanwhile by a concurrent put: fine.
        const again = await call<Stats>(sftp, (cb) => sftp.stat(dir, cb)).catch(() => undefined);
        if (!again?.isDirectory()) throw e;
      });
    } else if (!st.isDirectory()) {
      throw new StorageError(`${this.location}: ${dir} is not a folder`);
    }
    this.madeDirs.add(dir);
  }

  // ---- Storage --------------------------------------------------------------------------------

  async stagingDir(): Promise<string> {
    const tag = createHash("sha256").update(this.location).digest("hex").slice(0, 16);
    const dir = path.join(os.tmpdir(), `isnad-staging-${tag}`);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // The name is predictable and os.tmpdir() is shared: use it only if it is ours and private.
    const st = await fs.lstat(dir);
    if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o077) !== 0) {
      throw new StorageError(`staging folder ${dir} is not a private folder of this user`, {
        hint: "remove it, or set TMPDIR to a private folder",
      });
    }
    return dir;
  }

  async putFile(key: string, localPath: string): Promise<PutResult> {
    const size = (await fs.stat(localPath)).size;
    const source = fileSource(localPath, size);
    try {
      const result = await this.put(key, source);
      await fs.rm(localPath, { force: true });
      return result;
    } finally {
      await source.close?.();
    }
  }

  async putBytes(key: string, data: Uint8Array): Promise<PutResult> {
    return this.put(key, bytesSource(data));
  }

  private put(key: string, source: Source): Promise<PutResult> {
    const final = this.remote(key);
    return this.retrying(`writing ${key}`, async (sftp) => {
      if (!this.appendOnly) {
        const tmp = this.remote(`${STAGING}/${path.posix.basename(key)}.${randomBytes(8).toString("hex")}`);
        await this.mkdirs(sftp, path.posix.dirname(tmp));
        await this.mkdirs(sftp, path.posix.dirname(final));
        try {
          await upload(sftp, source, tmp, "wx", 0);
        } catch (e) {
          await removeQuietly(sftp, tmp);
          throw e;
        }
        try {
          await call(sftp, (cb) => sftp.rename(tmp, final, cb));
          return "created";
        } catch (e) {
          await removeQuietly(sftp, tmp);
          if (sftpCode(e) === PERMISSION_DENIED) {
            this.appendOnly = true;
            this.warn(`${this.location}: the server refuses rename; writing objects in place (append-only account)`);
          } else {
            const existing = await statFile(sftp, final);
            if (existing) return this.existing(key, existing.size, source.size);
            throw e;
          }
        }
      }
      return this.putInPlace(sftp, key, final, source);
    });
  }

  /** Append-only: write the final name exclusively, then check its size. */
  private async putInPlace(sftp: SFTPWrapper, key: string, final: string, source: Source): Promise<PutResult> {
    await this.mkdirs(sftp, path.posix.dirname(final));
    const before = await statFile(sftp, final);
    const confirmed = (n: number) => void this.ownPartial.set(key, n);
    if (before) {
      const acked = this.ownPartial.get(key);
      if (acked !== undefined && before.size <= source.size) {
        // Our own upload of this key was cut off by a dropped connection. Only the bytes the
        // server acknowledged are known to be there: writes still in flight may have landed out of
        // order and left holes below the size the server reports. Write again from the
        // acknowledged end, then read the whole object back, since two connections wrote it.
        await upload(sftp, source, final, "r+", Math.min(acked, before.size), confirmed);
        await this.checkSize(sftp, key, final, source.size);
        if (!(await this.sameBytes(sftp, final, source))) {
          this.warn(`${this.location}: ${key} differs from the local copy after resuming its upload; writing it again from the start`);
          await upload(sftp, source, final, "r+", 0, confirmed);
          if (!(await this.sameBytes(sftp, final, source))) {
            throw new StorageError(`${this.location}: ${key} still differs from the local copy after writing it twice`, {
              hint: "the server does not keep what it acknowledges; check its disk, then run isnad verify",
            });
          }
        }
        this.ownPartial.delete(key);
        return "created";
      }
      return this.existing(key, before.size, source.size);
    }
    confirmed(0);
    try {
      await upload(sftp, source, final, "wx", 0, confirmed);
    } catch (e) {
      if (sftpCode(e) === FAILURE && !isConnectionError(e)) {
        // wx on an existing name: someone else wrote it between our stat and our open.
        const existing = await statFile(sftp, final);
        if (existing) {
          this.ownPartial.delete(key);
          return this.existing(key, existing.size, source.size);
        }
      }
      throw e;
    }
    await this.checkSize(sftp, key, final, source.size);
    this.ownPartial.delete(key);
    return "created";
  }

  private async checkSize(sftp: SFTPWrapper, key: string, final: string, size: number): Promise<void> {
    const after = await statFile(sftp, final);
    if (after?.size !== size) {
      throw new StorageError(`${this.location}: ${key} has ${after?.size ?? "no"} bytes after writing ${size}`, {
        hint: "the server did not keep the whole upload; check its free space, then run isnad verify",
      });
    }
  }

  private existing(key: string, remoteSize: number, size: number): PutResult {
    if (CONTENT_ADDRESSED.test(key) && remoteSize !== size) {
      throw new StorageError(
        `${this.location}: ${key} already exists with ${remoteSize} bytes, but its content has ${size}: a damaged or partial copy (an upload cut off on an append-only account?)`,
        { hint: `remove ${key} with an account that may delete, then run isnad verify and snapshot again` },
      );
    }
    return "exists";
  }

  async replaceBytes(key: string, data: Uint8Array): Promise<void> {
    if (this.appendOnly) {
      throw new StorageError(`${this.location} is append-only: cannot replace ${key}`, {
        hint: "use an account that may rename files for this operation",
      });
    }
    const final = this.remote(key);
    await this.retrying(`replacing ${key}`, async (sftp) => {
      const tmp = this.remote(`${STAGING}/${path.posix.basename(key)}.${randomBytes(8).toString("hex")}`);
      await this.mkdirs(sftp, path.posix.dirname(tmp));
      await this.mkdirs(sftp, path.posix.dirname(final));
      try {
        await upload(sftp, bytesSource(data), tmp, "wx", 0);
        // posix-rename@openssh.com is rename(2): replaces the target atomically.
        await call(sftp, (cb) => sftp.ext_openssh_rename(tmp, final, cb));
      } catch (e) {
        await removeQuietly(sftp, tmp);
        throw e;
      }
    });
  }

  async get(key: string): Promise<Readable> {
    const p = this.remote(key);
    return this.retrying(`reading ${key}`, async (sftp) => {
      const st = await statFile(sftp, p);
      if (!st) throw this.notFound(key);
      return this.readStream(sftp, p);
    });
  }

  /** A read stream of `p` that fails, rather than waits forever, if the connection drops. */
  private readStream(sftp: SFTPWrapper, p: string): Readable {
    const conn = this.conn;
    const stream = sftp.createReadStream(p, { highWaterMark: CHUNK }) as unknown as Readable;
    stream.on("error", () => undefined); // consumers see errors through their own listener (pipeline, for await)
    if (conn) {
      conn.streams.add(stream);
      stream.once("close", () => conn.streams.delete(stream));
    }
    return stream;
  }

  /** Whether `remote` holds exactly `source`'s bytes: both are read through, SHA-256 compared. */
  private async sameBytes(sftp: SFTPWrapper, remote: string, source: Source): Promise<boolean> {
    const local = createHash("sha256");
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let pos = 0; pos < source.size; ) {
      const n = await source.read(buf, pos);
      if (n === 0) throw new Error(`the local file ended at byte ${pos} of ${source.size}`);
      local.update(buf.subarray(0, n));
      pos += n;
    }
    const conn = this.conn;
    const there = createHash("sha256");
    try {
      for await (const data of this.readStream(sftp, remote)) there.update(data as Buffer);
    } catch (e) {
      // A drop while reading back: reconnect and try again, like any other request.
      if (conn?.dead) throw new TransientError(`reading ${remote} back: ${messageOf(e)}`, e);
      throw e;
    }
    return local.digest("hex") === there.digest("hex");
  }

  async readBytes(key: string, maxBytes: number): Promise<Buffer> {
    const p = this.remote(key);
    return this.retrying(`reading ${key}`, async (sftp) => {
      const st = await statFile(sftp, p);
      if (!st) throw this.notFound(key);
      if (st.size > maxBytes) throw new StorageError(`${key} is ${st.size} bytes, more than the ${maxBytes} expected`);
      const data = await call<Buffer>(sftp, (cb) => sftp.readFile(p, cb)).catch((e) => {
        if (sftpCode(e) === NO_SUCH_FILE) throw this.notFound(key);
        throw e;
      });
      if (data.length > maxBytes) throw new StorageError(`${key} is ${data.length} bytes, more than the ${maxBytes} expected`);
      return data;
    });
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const p = this.remote(key);
    const st = await this.retrying(`stat ${key}`, (sftp) => statFile(sftp, p));
    return st ? { key, size: st.size } : undefined;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const trimmed = prefix.replace(/\/+$/, "");
    let level: string[] = [trimmed];
    while (level.length > 0) {
      const next: string[] = [];
      // Read up to 16 folders at once: packs/ has 256 of them, each one round trip.
      for (let i = 0; i < level.length; i += 16) {
        const batch = await Promise.all(level.slice(i, i + 16).map((k) => this.readDir(k)));
        for (const { dirs, files } of batch) {
          next.push(...dirs);
          for (const f of files) yield f;
        }
      }
      level = next;
    }
  }

  private async readDir(keyPrefix: string): Promise<{ dirs: string[]; files: ObjectInfo[] }> {
    const dir = keyPrefix === "" ? this.target.root : this.remote(keyPrefix);
    return this.retrying(`listing ${keyPrefix || "/"}`, async (sftp) => {
      const entries = await readdirAll(sftp, dir).catch((e) => {
        if (sftpCode(e) === NO_SUCH_FILE) return [];
        throw e;
      });
      const dirs: string[] = [];
      const files: ObjectInfo[] = [];
      for (const e of entries) {
        if (e.filename === "." || e.filename === "..") continue;
        const key = keyPrefix === "" ? e.filename : `${keyPrefix}/${e.filename}`;
        if (e.attrs.isDirectory()) dirs.push(key);
        else if (e.attrs.isFile()) files.push({ key, size: e.attrs.size });
      }
      return { dirs, files };
    });
  }

  async delete(key: string): Promise<void> {
    const p = this.remote(key);
    await this.retrying(`deleting ${key}`, async (sftp) => {
      await call(sftp, (cb) => sftp.unlink(p, cb)).catch((e) => {
        if (sftpCode(e) === NO_SUCH_FILE) return;
        if (sftpCode(e) === PERMISSION_DENIED) {
          throw new StorageError(`${this.location}: not allowed to delete ${key}${this.appendOnly ? " (append-only account)" : ""}`, {
            cause: e,
            hint: "delete with an account that may remove files",
          });
        }
        throw e;
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.conn;
    this.conn = undefined;
    if (c && !c.dead) {
      c.dead = true;
      await Promise.race([c.client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    }
  }

  // ---- connection, retry ----------------------------------------------------------------------

  private notFound(key: string): StorageError {
    return new StorageError(`${key} is missing from ${this.location}`, { notFound: true });
  }

  /**
   * Runs `op` on a live connection. A network failure (refused, reset, timed out, connection
   * closed under a request) reconnects and runs `op` again with backoff (0.25 s doubling to
   * 10 s) until retry_seconds have passed; any other failure is final.
   */
  private async retrying<T>(what: string, op: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const started = Date.now();
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      let conn: Connection | undefined;
      try {
        conn = await this.connection();
        return await op(conn.sftp);
      } catch (e) {
        if (e instanceof IsnadError) throw e;
        // A request that failed because the connection closed under it gets its error before the
        // client's close event; give that event a moment to arrive.
        if (conn && !conn.dead && isConnectionError(e)) await new Promise((r) => setTimeout(r, 50));
        const transient = e instanceof TransientError || isConnectionError(e) || conn?.dead === true;
        if (!transient || this.closed) throw this.wrap(e, what);
        if (conn) this.drop(conn);
        const spent = Date.now() - started;
        if (spent + delay > this.retryMs) {
          throw new StorageError(
            `${this.location}: connection failed while ${what}: ${messageOf(e)} (${attempt} attempt${attempt === 1 ? "" : "s"} in ${Math.round(spent / 1000)} s)`,
            { cause: e, hint: "check the network and the server; nothing half-written is taken for data: run isnad verify once it is back" },
          );
        }
        this.warn(`${this.location}: ${what}: ${messageOf(e)}; retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  private drop(conn: Connection): void {
    conn.dead = true;
    if (this.conn === conn) this.conn = undefined;
    conn.client.end().catch(() => undefined);
  }

  private async connection(): Promise<Connection> {
    if (this.closed) throw new StorageError(`internal: ${this.location} used after close`);
    if (this.conn && !this.conn.dead) return this.conn;
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<Connection> {
    const { host, port, user } = this.target;
    const timeoutMs = (this.options.connect_timeout ?? 20) * 1000;
    const auth = await authMaterial(this.options, this.location);
    const knownHostsFile = this.options.known_hosts ?? path.join(homeDir(), ".ssh", "known_hosts");
    const knownHosts = await readKnownHosts(knownHostsFile, this.location);

    const sock = net.connect({ host, port, noDelay: true });
    sock.setTimeout(timeoutMs);
    try {
      await Promise.race([
        once(sock, "connect"),
        once(sock, "timeout").then(() => {
          throw Object.assign(new Error(`connecting to ${host}:${port} timed out`), { code: "ETIMEDOUT" });
        }),
      ]);
    } catch (e) {
      sock.destroy();
      throw new TransientError(messageOf(e), e);
    }
    sock.setTimeout(0);

    let verdict: (HostKeyVerdict & { fingerprint: string; type: string }) | undefined;
    const conn = { dead: false, streams: new Set() } as unknown as Connection;
    let die: (e: Error) => void = () => undefined;
    const death = new Promise<never>((_, reject) => (die = reject));
    death.catch(() => undefined);
    const markDead = () => {
      conn.dead = true;
      if (this.conn === conn) this.conn = undefined;
      die(new TransientError(`the connection to ${host}:${port} closed`));
      for (const st of conn.streams) st.destroy(new StorageError(`${this.location}: the connection closed while reading`, { hint: "check the network and the server, then run the command again" }));
      conn.streams.clear();
    };
    // Custom callbacks: the library's defaults print to stdout, which would break --json.
    const client = new SftpClient("isnad", { error: markDead, end: markDead, close: markDead });
    conn.client = client;
    try {
      conn.sftp = await client.connect({
        sock,
        username: user,
        ...(auth.privateKey ? { privateKey: auth.privateKey } : {}),
        ...(auth.agent ? { agent: auth.agent } : {}),
        readyTimeout: timeoutMs,
        keepaliveInterval: 10_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          const v = checkHostKey(knownHosts ?? "", host, port, key);
          verdict = { ...v, fingerprint: fingerprint(key), type: keyType(key) };
          if (v.status === "known") return true;
          if (v.status === "unknown" && this.options.strict_host_key === false) {
            this.warn(`${this.location}: accepting unknown host key ${verdict.fingerprint} (${verdict.type}) because strict_host_key is off; it is not written to ${knownHostsFile}`);
            return true;
          }
          return false;
        },
      });
    } catch (e) {
      sock.destroy();
      markDead();
      if (verdict && verdict.status !== "known" && !(verdict.status === "unknown" && this.options.strict_host_key === false)) {
        throw hostKeyError(verdict, knownHostsFile, this.target);
      }
      const msg = messageOf(e);
      if (/authentication methods failed/i.test(msg)) {
        throw new StorageError(`${this.location}: the server refused the key for user ${user} (tried ${auth.tried.join(", ")})`, {
          cause: e,
          hint: "set storage.sftp.identity_file in the config to a key whose public half is in the account's authorized_keys",
        });
      }
      throw new TransientError(msg, e);
    }
    deaths.set(conn.sftp, death);
    this.conn = conn;
    return conn;
  }

  private wrap(e: unknown, what: string): StorageError {
    if (e instanceof StorageError) return e;
    const code = sftpCode(e);
    if (code === NO_SUCH_FILE) return new StorageError(`${this.location}: ${what}: no such file`, { cause: e, notFound: true });
    if (code === PERMISSION_DENIED) {
      return new StorageError(`${this.location}: ${what}: permission denied`, { cause: e, hint: "check the account's rights on the repository folder" });
    }
    return new StorageError(`${this.location}: ${what}: ${messageOf(e)}`, { cause: e });
  }
}

// ---- helpers --------------------------------------------------------------------------------

function hostKeyError(v: HostKeyVerdict & { fingerprint: string; type: string }, file: string, t: SftpTarget): StorageError {
  const scan = `ssh-keyscan${t.port === 22 ? "" : ` -p ${t.port}`} ${t.host} >> ${file}`;
  if (v.status === "unknown") {
    return new StorageError(`${t.location}: unknown host key ${v.fingerprint} (${v.type}) for ${v.name}: it is not in ${file}`, {
      hint: `check that fingerprint with the server's admin (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the server), then add it: ${scan}`,
    });
  }
  if (v.status === "revoked") {
    return new StorageError(`${t.location}: host key ${v.fingerprint} (${v.type}) of ${v.name} is marked @revoked in ${file}`, {
      hint: "the server must get a new host key",
    });
  }
  return new StorageError(
    `${t.location}: HOST KEY CHANGED for ${v.name}: the server shows ${v.fingerprint} (${v.type}), which is not the key in ${file} line ${v.lines.join(", ")}`,
    {
      hint: `someone may be intercepting the connection; if the admin confirms the new key, remove the old line (ssh-keygen -R '${v.name}' -f ${file}) and add the new one: ${scan}`,
    },
  );
}

async function readKnownHosts(file: string, location: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw configError(`${location}: cannot read known_hosts file ${file}: ${errnoCode(e) ?? messageOf(e)}`, {
      cause: e,
      hint: "set storage.sftp.known_hosts in the config to a readable file",
    });
  }
}

/** identity_file, else ssh-agent and the default key files (~/.ssh/id_ed25519, id_rsa). */
async function authMaterial(opts: SftpOptions, location: string): Promise<{ privateKey?: Buffer; agent?: string; tried: string[] }> {
  if (opts.identity_file) {
    let key: Buffer;
    try {
      key = await fs.readFile(opts.identity_file);
    } catch (e) {
      throw configError(`storage.sftp.identity_file ${opts.identity_file} cannot be read: ${errnoCode(e) ?? messageOf(e)}`, {
        cause: e,
        hint: "point it at the private key (e.g. ~/.ssh/id_ed25519) of the backup account",
      });
    }
    if (/ENCRYPTED|Proc-Type: 4,ENCRYPTED/.test(key.toString("latin1", 0, 200)) || isEncryptedOpenSshKey(key)) {
      throw configError(`storage.sftp.identity_file ${opts.identity_file} is protected by a passphrase`, {
        hint: "load it into ssh-agent (ssh-add) and leave identity_file out, or use a key without a passphrase for the backup account",
      });
    }
    return { privateKey: key, tried: [`storage.sftp.identity_file ${opts.identity_file}`] };
  }
  const out: { privateKey?: Buffer; agent?: string; tried: string[] } = { tried: [] };
  const sock = process.env["SSH_AUTH_SOCK"];
  if (sock) {
    out.agent = sock;
    out.tried.push(`ssh-agent at ${sock}`);
  }
  for (const name of ["id_ed25519", "id_rsa"]) {
    const f = path.join(homeDir(), ".ssh", name);
    const key = await fs.readFile(f).catch(() => undefined);
    if (key && !isEncryptedOpenSshKey(key)) {
      out.privateKey = key;
      out.tried.push(f);
      break;
    }
  }
  if (!out.agent && !out.privateKey) {
    throw configError(`${location}: no SSH key to log in with`, {
      hint: "set storage.sftp.identity_file in the config, run ssh-agent (SSH_AUTH_SOCK), or create ~/.ssh/id_ed25519",
    });
  }
  return out;
}

/** An OpenSSH-format private key whose cipher is not "none" needs a passphrase. */
function isEncryptedOpenSshKey(key: Buffer): boolean {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END/.exec(key.toString("latin1"));
  if (!m) return false;
  const raw = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
  // "openssh-key-v1\0" then string ciphername
  const off = 15;
  if (raw.length < off + 4) return false;
  const n = raw.readUInt32BE(off);
  return raw.toString("latin1", off + 4, off + 4 + n) !== "none";
}

/** Whether rename is refused: renaming a name that does not exist is harmless either way. */
async function probeAppendOnly(sftp: SFTPWrapper, missing: string): Promise<boolean> {
  try {
    await call(sftp, (cb) => sftp.rename(missing, `${missing}.x`, cb));
    return false;
  } catch (e) {
    if (isConnectionError(e)) throw e;
    return sftpCode(e) === PERMISSION_DENIED;
  }
}

interface Source {
  size: number;
  /** Reads up to buf.length bytes at pos into buf; resolves the count (0 at the end). */
  read(buf: Buffer, pos: number): Promise<number>;
  close?(): Promise<void>;
}

function bytesSource(data: Uint8Array): Source {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return {
    size: b.length,
    read: async (buf, pos) => b.copy(buf, 0, pos, Math.min(b.length, pos + buf.length)),
  };
}

/** A local file, opened on first read and kept open until close(). */
function fileSource(file: string, size: number): Source {
  let fh: Promise<fs.FileHandle> | undefined;
  return {
    size,
    read: async (buf, pos) => (await (fh ??= fs.open(file, "r"))).read(buf, 0, buf.length, pos).then((r) => r.bytesRead),
    close: async () => {
      const h = fh;
      fh = undefined;
      if (h) await (await h).close();
    },
  };
}

/**
 * Streams `source` from byte `from` into `remote` opened with `flags`, with a bounded number of
 * writes in flight (backpressure: memory stays at IN_FLIGHT * CHUNK), then fsyncs (OpenSSH's
 * fsync@openssh.com) and closes. Resolves once the server confirmed every write and the close.
 * `confirmed` hears how many leading bytes the server has acknowledged, as that grows.
 */
async function upload(
  sftp: SFTPWrapper,
  source: Source,
  remote: string,
  flags: "wx" | "r+",
  from: number,
  confirmed: (bytes: number) => void = () => undefined,
): Promise<void> {
  const handle = await call<Buffer>(sftp, (cb) => sftp.open(remote, flags, { mode: 0o644 }, cb));
  // One SFTP request per write: ssh2 sends the rest of a longer write only once its first part is
  // acknowledged, which would leave holes behind the next writes if the connection drops.
  const chunk = Math.min(CHUNK, (sftp as unknown as { _maxWriteLen?: number })._maxWriteLen ?? CHUNK);
  let failed: unknown;
  try {
    // Writes in the order sent, each with whether the server acknowledged it yet.
    const sent: Array<{ end: number; done: boolean }> = [];
    const inFlight = new Set<Promise<void>>();
    let pos = from;
    confirmed(from);
    while (pos < source.size && failed === undefined) {
      const buf = Buffer.allocUnsafe(Math.min(chunk, source.size - pos));
      const n = await source.read(buf, pos);
      if (n === 0) throw new Error(`the local file ended at byte ${pos} of ${source.size}`);
      const at = pos;
      const entry = { end: at + n, done: false };
      sent.push(entry);
      const w: Promise<void> = call(sftp, (cb) => sftp.write(handle, buf, 0, n, at, cb)).then(
        () => {
          inFlight.delete(w);
          entry.done = true;
          let acked: number | undefined;
          while (sent[0]?.done) acked = sent.shift()!.end;
          if (acked !== undefined) confirmed(acked);
        },
        (e) => {
          inFlight.delete(w);
          failed ??= e;
        },
      );
      inFlight.add(w);
      pos += n;
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failed !== undefined) throw failed;
    if ((sftp as unknown as { _extensions: Record<string, string> })._extensions["fsync@openssh.com"]) {
      await call(sftp, (cb) => sftp.ext_openssh_fsync(handle, cb));
    }
  } catch (e) {
    await call(sftp, (cb) => sftp.close(handle, cb)).catch(() => undefined);
    throw e;
  }
  await call(sftp, (cb) => sftp.close(handle, cb));
}

async function statFile(sftp: SFTPWrapper, p: string): Promise<{ size: number } | undefined> {
  try {
    const st = await call<Stats>(sftp, (cb) => sftp.stat(p, cb));
    return st.isFile() ? { size: st.size } : undefined;
  } catch (e) {
    if (sftpCode(e) === NO_SUCH_FILE) return undefined;
    throw e;
  }
}

async function removeQuietly(sftp: SFTPWrapper, p: string): Promise<void> {
  await call(sftp, (cb) => sftp.unlink(p, cb)).catch(() => undefined);
}

/** readdir until the server says the listing is done (a large folder comes in several replies). */
async function readdirAll(sftp: SFTPWrapper, dir: string): Promise<Array<{ filename: string; attrs: Stats }>> {
  // ssh2's readdir(path) opens the folder and reads every page itself.
  return call(sftp, (cb) => sftp.readdir(dir, cb as never));
}

function sftpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "number" ? c : undefined;
}

/** Errors that mean the connection, not the request, failed. */
function isConnectionError(e: unknown): boolean {
  const code = errnoCode(e);
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true;
  return /No response from server|Not connected|No SFTP connection|socket|Channel|connection (lost|closed|reset)|ECONNRESET|ECONNREFUSED|Timed out/i.test(messageOf(e));
}

/** Rejects, for every request still waiting, when its connection dies (see call). */
const deaths = new WeakMap<SFTPWrapper, Promise<never>>();

/**
 * One SFTP request as a promise. ssh2 never answers a request sent after its channel closed, so
 * each call also fails as soon as its connection is known dead: nothing waits forever.
 */
function call<T = void>(sftp: SFTPWrapper, fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  const p = new Promise<T>((resolve, reject) => {
    try {
      fn((err, v) => (err ? reject(err) : resolve(v as T)));
    } catch (e) {
      reject(e);
    }
  });
  const death = deaths.get(sftp);
  return death ? Promise.race([p, death]) : p;
}
