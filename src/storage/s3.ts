/**
 * The S3 backend: `s3://bucket/prefix`, for AWS S3 and S3-compatible servers.
 *
 * Options come from the config's `storage.s3` block and from non-secret URL query parameters
 * (`?endpoint=…&region=…&path_style=true&object_lock_mode=compliance&object_lock_days=30`; the query
 * wins). Credentials come only from the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 * AWS_PROFILE and ~/.aws/credentials, …): never from the URL, never logged.
 *
 * Never overwrite, never half-visible:
 * - Small objects are one PutObject; a large file is a multipart upload (lib-storage `Upload`),
 *   which S3 shows only once CompleteMultipartUpload succeeds; a failed one is aborted.
 * - Every create sends `If-None-Match: *`: a server that supports conditional writes refuses an
 *   overwrite with 412, taken as "exists". Servers that ignore the header (s3rver, older
 *   S3-compatible stores) are covered by a HeadObject just before the put: between that check and
 *   the put another host could write the same key (a small race, documented in docs/FORMAT.md).
 *   Within one process, puts of one key are serialised, so the race is only between hosts — and
 *   the repository lock already keeps two writers apart.
 *
 * Object Lock (`object_lock: {mode, days}`): every object written carries ObjectLockMode and
 * ObjectLockRetainUntilDate = now + days (plus a CRC32 checksum, which S3 requires with them) and
 * the same date as metadata `x-amz-meta-isnad-retain-until`, so servers that do not echo the lock
 * headers still tell delete that the object is retained. Keys under locks/ are not retained: the
 * repository lock must be removable. delete of a retained object throws a StorageError with
 * `locked: true` ("still locked until …"), which prune reports and skips.
 */
import * as fs from "node:fs/promises";
import { createReadStream } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { configError } from "../errors.js";
import { LOCKS_PREFIX } from "../format/layout.js";
import { type ObjectInfo, type PutResult, type Storage, StorageError } from "./storage.js";

export interface S3Options {
  /** e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:9000; default: AWS. */
  endpoint?: string;
  region?: string;
  /** Path-style addressing (https://host/bucket/key), needed by most self-hosted servers. */
  pathStyle?: boolean;
  objectLock?: { mode: "compliance" | "governance"; days: number };
}

/** Objects up to this size are one PutObject; larger files are uploaded in parts of this size. */
export const S3_PART_SIZE = 8 << 20;
/** Attempts per request (the SDK's standard retry strategy: exponential backoff with jitter, capped at 20 s). */
export const S3_MAX_ATTEMPTS = 5;
/** Bound on one small request including its retries. */
const SMALL_REQUEST_DEADLINE_MS = 3 * 60_000;
/** A socket that makes no progress for this long is dropped (and the request retried). */
const SOCKET_IDLE_MS = 2 * 60_000;
const CONNECT_TIMEOUT_MS = 15_000;
export const RETAIN_UNTIL_META = "isnad-retain-until";

const QUERY_KEYS = new Set(["endpoint", "region", "path_style", "object_lock_mode", "object_lock_days"]);

export interface S3Location {
  bucket: string;
  /** "" or "some/prefix" (no leading or trailing "/"). */
  prefix: string;
  options: S3Options;
}

/** Parses `s3://bucket/prefix?query`, merging query options over the config's. */
export function parseS3Location(location: string, base: S3Options = {}): S3Location {
  const bad = (msg: string, hint?: string) => configError(`repository "${redactUrl(location)}": ${msg}`, { hint });
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw bad("not a valid s3:// URL", "write s3://bucket/prefix");
  }
  if (url.username || url.password) {
    throw bad("credentials do not belong in the URL", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (~/.aws/credentials)");
  }
  if (url.port) throw bad("an s3:// URL has no port; the endpoint goes in ?endpoint=http://host:port or storage.s3.endpoint");
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw bad(`"${bucket}" is not a valid bucket name`, "bucket names are 3-63 characters: a-z, 0-9, '.' and '-'");
  }
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, "");
  if (prefix.split("/").some((s) => s === "." || s === "..") || prefix.includes("//")) {
    throw bad(`the prefix "${prefix}" has an empty, "." or ".." part`);
  }
  const options: S3Options = { ...base };
  let lockMode: string | undefined;
  let lockDays: string | undefined;
  for (const [k, v] of url.searchParams) {
    if (!QUERY_KEYS.has(k)) {
      throw bad(`unknown query parameter "${k}"`, `known: ${[...QUERY_KEYS].join(", ")}; credentials come from the AWS environment or profile, never the URL`);
    }
    if (k === "endpoint") {
      if (!/^https?:\/\/[^/?#@]+\/?$/.test(v)) throw bad(`endpoint "${v}" must be http(s)://host[:port]`);
      options.endpoint = v;
    } else if (k === "region") options.region = v;
    else if (k === "path_style") {
      if (v !== "true" && v !== "false") throw bad(`path_style must be true or false, not "${v}"`);
      options.pathStyle = v === "true";
    } else if (k === "object_lock_mode") lockMode = v;
    else if (k === "object_lock_days") lockDays = v;
  }
  if (lockMode !== undefined || lockDays !== undefined) {
    const mode = lockMode ?? options.objectLock?.mode;
    const days = lockDays !== undefined ? Number(lockDays) : options.objectLock?.days;
    if (mode !== "compliance" && mode !== "governance") throw bad(`object_lock_mode must be compliance or governance`);
    if (days === undefined || !Number.isInteger(days) || days < 1) throw bad(`object_lock_days must be a whole number of days, at least 1`);
    options.objectLock = { mode, days };
  }
  return { bucket, prefix, options };
}

/** The location without its query (which holds no secret, but is noise in messages). */
function redactUrl(location: string): string {
  return location.replace(/\/\/[^/@]*@/, "//***@");
}

type SDK = typeof import("@aws-sdk/client-s3");
type LibStorage = typeof import("@aws-sdk/lib-storage");

export async function openS3Storage(location: string, base?: S3Options): Promise<S3Storage> {
  const loc = parseS3Location(location, base);
  process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true";
  const [sdk, lib] = await Promise.all([import("@aws-sdk/client-s3"), import("@aws-sdk/lib-storage")]);
  const storage = new S3Storage(loc, sdk, lib);
  try {
    await storage.checkBucket();
  } catch (e) {
    await storage.close();
    throw e;
  }
  return storage;
}

export class S3Storage implements Storage {
  readonly location: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly root: string;
  private staging: string | undefined;
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly loc: S3Location,
    private readonly sdk: SDK,
    private readonly lib: LibStorage,
  ) {
    this.bucket = loc.bucket;
    this.root = loc.prefix === "" ? "" : `${loc.prefix}/`;
    this.location = `s3://${loc.bucket}${loc.prefix === "" ? "" : `/${loc.prefix}`}`;
    const o = loc.options;
    this.client = new sdk.S3Client({
      ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}),
      region: o.region ?? process.env["AWS_REGION"] ?? process.env["AWS_DEFAULT_REGION"] ?? "us-east-1",
      forcePathStyle: o.pathStyle ?? false,
      maxAttempts: S3_MAX_ATTEMPTS,
      retryMode: "standard",
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: SOCKET_IDLE_MS },
    });
  }

  private where(): string {
    return this.loc.options.endpoint ? `${this.location} (endpoint ${this.loc.options.endpoint})` : this.location;
  }

  private k(key: string): string {
    if (key.split("/").some((s) => s === ".." || s === "." || s === "") || key.startsWith("/"))
      throw new StorageError(`internal: bad storage key ${JSON.stringify(key)}`);
    return this.root + key;
  }

  private small(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(SMALL_REQUEST_DEADLINE_MS) };
  }

  /** Fails early, with one clear line, when the bucket or the credentials are wrong. */
  async checkBucket(): Promise<void> {
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket }), this.small());
    } catch (e) {
      throw this.wrap(e, "open", undefined);
    }
  }

  async stagingDir(): Promise<string> {
    this.staging ??= await fs.mkdtemp(path.join(os.tmpdir(), "isnad-s3-"));
    await fs.chmod(this.staging, 0o700);
    return this.staging;
  }

  /** Object Lock parameters for a new object (none for locks/, which must stay removable). */
  private lockParams(key: string): Record<string, unknown> {
    const lock = this.loc.options.objectLock;
    if (!lock || key.startsWith(LOCKS_PREFIX)) return {};
    const until = new Date(Date.now() + lock.days * 86_400_000);
    return {
      ObjectLockMode: lock.mode.toUpperCase(),
      ObjectLockRetainUntilDate: until,
      ChecksumAlgorithm: "CRC32",
      Metadata: { [RETAIN_UNTIL_META]: until.toISOString() },
    };
  }

  /** Runs puts of one key one after another within this process. */
  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.inFlight.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.inFlight.set(key, next);
    void next.catch(() => undefined).finally(() => {
      if (this.inFlight.get(key) === next) this.inFlight.delete(key);
    });
    return next;
  }

  async putBytes(key: string, data: Uint8Array): Promise<PutResult> {
    const k = this.k(key);
    return this.serial(k, async () => {
      if (await this.stat(key)) return "exists";
      try {
        await this.client.send(
          new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: k, Body: data, IfNoneMatch: "*", ...this.lockParams(key) }),
          this.small(),
        );
        return "created";
      } catch (e) {
        if (preconditionFailed(e)) return "exists";
        throw this.wrap(e, "write", key);
      }
    });
  }

  async putFile(key: string, localPath: string): Promise<PutResult> {
    const k = this.k(key);
    const st = await fs.stat(localPath);
    let result: PutResult;
    if (st.size <= S3_PART_SIZE) {
      result = await this.putBytes(key, await fs.readFile(localPath));
    } else {
      result = await this.serial(k, async () => {
        if (await this.stat(key)) return "exists";
        const upload = new this.lib.Upload({
          client: this.client,
          params: { Bucket: this.bucket, Key: k, Body: createReadStream(localPath, { highWaterMark: 1 << 20 }), IfNoneMatch: "*", ...this.lockParams(key) },
          partSize: S3_PART_SIZE,
          queueSize: 2,
          leavePartsOnError: false,
        });
        try {
          await upload.done();
          return "created";
        } catch (e) {
          if (preconditionFailed(e)) return "exists";
          throw this.wrap(e, "upload", key);
        }
      });
    }
    await fs.rm(localPath, { force: true });
    return result;
  }

  async replaceBytes(key: string, data: Uint8Array): Promise<void> {
    const k = this.k(key);
    try {
      await this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: k, Body: data, ...this.lockParams(key) }), this.small());
    } catch (e) {
      throw this.wrap(e, "write", key);
    }
  }

  async get(key: string): Promise<Readable> {
    let r;
    try {
      r = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
    } catch (e) {
      throw this.wrap(e, "read", key);
    }
    const body = r.Body as Readable;
    const expected = r.ContentLength;
    let n = 0;
    const wrap = this.wrap.bind(this);
    // A dropped connection surfaces as a StorageError naming the object; a short body is an error too.
    const out = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        n += chunk.length;
        cb(null, chunk);
      },
      flush(cb) {
        if (expected !== undefined && n !== expected) return cb(new StorageError(`${key} in S3 ended after ${n} of ${expected} bytes`));
        cb();
      },
      destroy(err, cb) {
        body.destroy();
        cb(err);
      },
    });
    body.on("error", (e) => out.destroy(wrap(e, "read", key)));
    body.pipe(out);
    return out;
  }

  async readBytes(key: string, maxBytes: number): Promise<Buffer> {
    let r;
    try {
      r = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }), this.small());
    } catch (e) {
      throw this.wrap(e, "read", key);
    }
    const body = r.Body as Readable;
    if ((r.ContentLength ?? 0) > maxBytes) {
      body.destroy();
      throw new StorageError(`${key} is ${r.ContentLength} bytes, more than the ${maxBytes} expected`);
    }
    const parts: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of body) {
        n += (c as Buffer).length;
        if (n > maxBytes) throw new StorageError(`${key} is more than the ${maxBytes} bytes expected`);
        parts.push(c as Buffer);
      }
    } catch (e) {
      body.destroy();
      if (e instanceof StorageError) throw e;
      throw this.wrap(e, "read", key);
    }
    return Buffer.concat(parts);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.head(key);
    return info && { key, size: info.size };
  }

  private async head(key: string): Promise<{ size: number; retainUntil: Date | undefined } | undefined> {
    try {
      const r = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }), this.small());
      const meta = r.Metadata?.[RETAIN_UNTIL_META];
      const dates = [r.ObjectLockRetainUntilDate, meta ? new Date(meta) : undefined].filter(
        (d): d is Date => d instanceof Date && !Number.isNaN(d.getTime()),
      );
      const retainUntil = dates.length ? new Date(Math.max(...dates.map((d) => d.getTime()))) : undefined;
      return { size: r.ContentLength ?? 0, retainUntil };
    } catch (e) {
      const w = this.wrap(e, "stat", key);
      if (w.notFound) return undefined;
      throw w;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const full = this.root + prefix;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new this.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: full, ...(token ? { ContinuationToken: token } : {}) }),
          this.small(),
        );
      } catch (e) {
        throw this.wrap(e, "list", prefix);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith("/")) continue;
        yield { key: o.Key.slice(this.root.length), size: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    const info = await this.head(key);
    if (!info) return;
    if (info.retainUntil && info.retainUntil.getTime() > Date.now()) {
      throw new StorageError(`${key} in ${this.location} is still locked until ${info.retainUntil.toISOString()} (S3 Object Lock)`, {
        locked: true,
        lockedUntil: info.retainUntil,
        hint: "it can be removed once its retention ends",
      });
    }
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) }), this.small());
    } catch (e) {
      const w = this.wrap(e, "delete", key);
      if (w.notFound) return;
      throw w;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    if (this.staging) await fs.rm(this.staging, { recursive: true, force: true });
    this.staging = undefined;
  }

  /** One line naming the location and what to do; never a credential. */
  private wrap(e: unknown, op: string, key: string | undefined): StorageError {
    if (e instanceof StorageError) return e;
    const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number }; Code?: string };
    const name = err.name ?? "Error";
    const status = err.$metadata?.httpStatusCode;
    const what = key === undefined ? this.where() : `${key} in ${this.where()}`;
    const msg = firstLine(err.message ?? String(e));
    if (name === "CredentialsProviderError" || /Could not load credentials/i.test(msg)) {
      return new StorageError(`no S3 credentials for ${this.location}`, {
        cause: e,
        hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials (the standard AWS chain)",
      });
    }
    if (name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch" || name === "InvalidToken" || name === "ExpiredToken") {
      return new StorageError(`S3 refused the credentials for ${this.where()} (${name})`, {
        cause: e,
        hint: "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the AWS_PROFILE entry in ~/.aws/credentials",
      });
    }
    if (name === "AccessDenied" || (status === 403 && op === "open")) {
      return new StorageError(`S3 denied ${op} of ${what} (access denied)`, {
        cause: e,
        hint: "check the credentials (AWS_ACCESS_KEY_ID / AWS_PROFILE) and the bucket policy",
      });
    }
    if (name === "NoSuchBucket" || (op === "open" && (status === 404 || name === "NotFound"))) {
      return new StorageError(`bucket "${this.bucket}" does not exist at ${this.loc.options.endpoint ?? "AWS S3"}`, {
        cause: e,
        notFound: false,
        hint: "create it first (see README: Off-site: S3), or check the bucket name, endpoint and region",
      });
    }
    if (name === "NoSuchKey" || name === "NotFound" || status === 404) {
      return new StorageError(`${key ?? ""} is missing from ${this.location}`, { cause: e, notFound: true });
    }
    if (name === "PermanentRedirect" || status === 301) {
      return new StorageError(`bucket "${this.bucket}" is in another region`, { cause: e, hint: "set storage.s3.region (or ?region=) to the bucket's region" });
    }
    if (name === "TimeoutError" || name === "AbortError") {
      return new StorageError(`S3 ${op} of ${what} was cut off (${name}: ${msg})`, {
        cause: e,
        hint: `check the network and the endpoint; isnad tried ${S3_MAX_ATTEMPTS} times with backoff`,
      });
    }
    const code = err.code ?? (e as { cause?: { code?: string } }).cause?.code;
    if (code && /^E[A-Z]+$/.test(code)) {
      return new StorageError(`cannot reach ${this.where()} to ${op} ${key ?? ""}: ${code}`.replace(/ +$/, ""), {
        cause: e,
        hint: "check the endpoint and the network; isnad retried with backoff",
      });
    }
    return new StorageError(`S3 ${op} of ${what} failed: ${name}${msg && msg !== name ? `: ${msg}` : ""}${status ? ` (HTTP ${status})` : ""}`, {
      cause: e,
    });
  }
}

function preconditionFailed(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  // 409 ConditionalRequestConflict: another conditional write of the key is under way; it wins.
  return err.name === "PreconditionFailed" || err.name === "ConditionalRequestConflict" || err.$metadata?.httpStatusCode === 412;
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.trim();
}
