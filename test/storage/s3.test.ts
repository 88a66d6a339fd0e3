/**
 * The S3 backend against a real S3-protocol server (s3rver on 127.0.0.1, test/helpers/s3rver.ts):
 * the shared conformance suite, then what s3rver cannot check itself (conditional writes, Object
 * Lock) asserted on the requests the client sends, through a recording proxy.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openS3Storage, parseS3Location, S3_PART_SIZE, type S3Storage } from "../../src/storage/s3.js";
import { StorageError } from "../../src/storage/storage.js";
import { startRecorder, startS3rver, S3RVER_ENV, type S3rverHandle } from "../helpers/s3rver.js";
import { storageConformance } from "./conformance.js";

const BUCKET = "isnad-test";
let server: S3rverHandle;

Object.assign(process.env, S3RVER_ENV, { AWS_EC2_METADATA_DISABLED: "true" });

beforeAll(async () => {
  server = await startS3rver({ buckets: [BUCKET] });
});
afterAll(async () => {
  await server?.stop();
});

const url = (endpoint: string, prefix: string, extra = "") => `s3://${BUCKET}/${prefix}?endpoint=${endpoint}&path_style=true${extra}`;
const fresh = () => `t-${randomBytes(6).toString("hex")}`;

storageConformance("s3 (s3rver)", async () => {
  const storage = await openS3Storage(url(server.endpoint, `conf/${fresh()}`));
  return { storage, cleanup: () => storage.close() };
});

async function stage(s: S3Storage, data: Buffer): Promise<string> {
  const f = path.join(await s.stagingDir(), `t-${randomBytes(4).toString("hex")}`);
  fs.writeFileSync(f, data);
  return f;
}

describe("s3 backend", () => {
  it("parses options from the URL query over the config, and refuses credentials in the URL", () => {
    const l = parseS3Location("s3://my-bucket/a/b/?region=eu-west-1&object_lock_mode=compliance&object_lock_days=7", {
      endpoint: "https://s3.example.org",
      region: "us-east-1",
    });
    expect(l).toEqual({
      bucket: "my-bucket",
      prefix: "a/b",
      options: { endpoint: "https://s3.example.org", region: "eu-west-1", objectLock: { mode: "compliance", days: 7 } },
    });
    expect(() => parseS3Location("s3://AKIA:wJalrXUtnFEMI@my-bucket/x")).toThrow(/credentials do not belong in the URL/);
    expect(() => parseS3Location("s3://my-bucket/x?secret_access_key=abc")).toThrow(/unknown query parameter "secret_access_key"/);
    expect(() => parseS3Location("s3://b/x")).toThrow(/not a valid bucket name/);
    expect(() => parseS3Location("s3://my-bucket/x?object_lock_mode=forever&object_lock_days=3")).toThrow(/compliance or governance/);
  });

  it("a bucket that does not exist is one clear error", async () => {
    await expect(openS3Storage(`s3://no-such-bucket/x?endpoint=${server.endpoint}&path_style=true`)).rejects.toThrow(
      /bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+/,
    );
  });

  it("an unreachable endpoint fails after bounded retries, naming the endpoint", async () => {
    const dead = await startS3rver();
    const endpoint = dead.endpoint;
    await dead.stop();
    await expect(openS3Storage(`s3://${BUCKET}/x?endpoint=${endpoint}&path_style=true`)).rejects.toThrow(
      new RegExp(`cannot reach s3://${BUCKET}/x \\(endpoint ${endpoint.replace(/[.]/g, "\\.")}\\).*ECONNREFUSED`),
    );
  });

  it("sends If-None-Match: * and Object Lock headers with a checksum on every create; none on locks/; never the secret", async () => {
    const rec = await startRecorder(server.port);
    const prefix = fresh();
    const s = await openS3Storage(url(rec.endpoint, prefix), { objectLock: { mode: "governance", days: 30 } });
    try {
      const before = Date.now();
      expect(await s.putBytes("snapshots/1.seal.json", Buffer.from("seal"))).toBe("created");
      expect(await s.putFile("packs/ab/big.age", await stage(s, randomBytes(S3_PART_SIZE + 1000)))).toBe("created");
      expect(await s.putBytes("locks/lock.json", Buffer.from("{}"))).toBe("created");
      await s.replaceBytes("locks/lock.json", Buffer.from("{ }"));

      const puts = rec.requests.filter((r) => r.method === "PUT" && r.url.startsWith(`/${BUCKET}/${prefix}/snapshots/1.seal.json`));
      expect(puts).toHaveLength(1);
      const h = puts[0]!.headers;
      expect(h["if-none-match"]).toBe("*");
      expect(h["x-amz-object-lock-mode"]).toBe("GOVERNANCE");
      const until = Date.parse(String(h["x-amz-object-lock-retain-until-date"]));
      expect(until).toBeGreaterThanOrEqual(before + 30 * 86_400_000 - 1000);
      expect(until).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000 + 1000);
      expect(h["x-amz-meta-isnad-retain-until"]).toBe(new Date(until).toISOString());
      expect(h["content-md5"] ?? h["x-amz-checksum-crc32"]).toBeTruthy();

      // The multipart upload: lock headers when it is created, If-None-Match when it is completed.
      const big = `/${BUCKET}/${prefix}/packs/ab/big.age`;
      const create = rec.requests.find((r) => r.method === "POST" && r.url.startsWith(big) && /[?&]uploads/.test(r.url));
      expect(create?.headers["x-amz-object-lock-mode"]).toBe("GOVERNANCE");
      expect(create?.headers["x-amz-object-lock-retain-until-date"]).toBeTruthy();
      expect(create?.headers["x-amz-checksum-algorithm"]).toBe("CRC32");
      const complete = rec.requests.find((r) => r.method === "POST" && r.url.startsWith(big) && /[?&]uploadId=/.test(r.url));
      expect(complete?.headers["if-none-match"]).toBe("*");
      expect(rec.requests.filter((r) => r.method === "PUT" && r.url.startsWith(big) && /partNumber=/.test(r.url)).length).toBe(2);

      const lockPuts = rec.requests.filter((r) => r.method === "PUT" && r.url.startsWith(`/${BUCKET}/${prefix}/locks/lock.json`));
      expect(lockPuts).toHaveLength(2);
      for (const r of lockPuts) expect(r.headers["x-amz-object-lock-mode"]).toBeUndefined();
      expect(lockPuts[0]!.headers["if-none-match"]).toBe("*");
      expect(lockPuts[1]!.headers["if-none-match"]).toBeUndefined(); // replaceBytes is a plain put

    } finally {
      await s.close();
      await rec.close();
    }
  });

  it("never sends the secret key on the wire, nor puts credentials in a URL", async () => {
    const secret = `sec-${randomBytes(12).toString("hex")}`;
    const saved = process.env["AWS_SECRET_ACCESS_KEY"];
    process.env["AWS_SECRET_ACCESS_KEY"] = secret;
    const rec = await startRecorder(server.port);
    const s = await openS3Storage(url(rec.endpoint, fresh()));
    try {
      await s.putBytes("snapshots/x.json", Buffer.from("x"));
      await s.readBytes("snapshots/x.json", 10);
      expect(rec.requests.length).toBeGreaterThan(1);
      for (const r of rec.requests) {
        expect(JSON.stringify(r)).not.toContain(secret);
        expect(r.url).not.toMatch(/X-Amz-Credential|X-Amz-Signature|AWSAccessKeyId/i);
      }
      expect(s.location).not.toContain(secret);
    } finally {
      process.env["AWS_SECRET_ACCESS_KEY"] = saved;
      await s.close();
      await rec.close();
    }
  });

  it("credentials the server refuses: one line naming where credentials come from, never the secret", async () => {
    const rec = await startRecorder(server.port);
    const s = await openS3Storage(url(rec.endpoint, fresh()));
    try {
      rec.intercept = (r) =>
        r.method === "GET"
          ? {
              status: 403,
              body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`,
            }
          : undefined;
      const err = await s.readBytes("isnad.json", 100).then(
        () => undefined,
        (e: unknown) => e as StorageError,
      );
      expect(err).toBeInstanceOf(StorageError);
      expect(err!.message).toMatch(/^S3 refused the credentials for s3:\/\/isnad-test\/t-\w+ \(endpoint .*\) \(InvalidAccessKeyId\)$/);
      expect(err!.hint).toMatch(/AWS_ACCESS_KEY_ID .*AWS_PROFILE/);
      expect(`${err!.message}${err!.hint}`).not.toContain(S3RVER_ENV.AWS_SECRET_ACCESS_KEY);
      rec.intercept = (r) => (r.method === "HEAD" ? { status: 403 } : undefined);
      await expect(openS3Storage(url(rec.endpoint, "x"))).rejects.toThrow(/S3 denied open of s3:\/\/isnad-test\/x .*access denied/);
    } finally {
      await s.close();
      await rec.close();
    }
  });

  it("delete of a retained object says until when, and leaves it; without a lock it deletes", async () => {
    const prefix = fresh();
    const locked = await openS3Storage(url(server.endpoint, prefix), { objectLock: { mode: "compliance", days: 2 } });
    try {
      await locked.putBytes("packs/aa/p.age", Buffer.from("pack"));
      const err = await locked.delete("packs/aa/p.age").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StorageError);
      const se = err as StorageError;
      expect(se.locked).toBe(true);
      expect(se.lockedUntil!.getTime()).toBeGreaterThan(Date.now() + 86_400_000);
      expect(se.message).toMatch(/packs\/aa\/p\.age .* is still locked until \d{4}-\d\d-\d\dT/);
      expect(await locked.stat("packs/aa/p.age")).toEqual({ key: "packs/aa/p.age", size: 4 });
      // The repository lock is never retained, so it can be released.
      await locked.putBytes("locks/lock.json", Buffer.from("{}"));
      await locked.delete("locks/lock.json");
      expect(await locked.stat("locks/lock.json")).toBeUndefined();
    } finally {
      await locked.close();
    }
  });

  it("the server dying mid-upload rejects the put and leaves nothing under the key", async () => {
    const rec = await startRecorder(server.port);
    const prefix = fresh();
    const s = await openS3Storage(url(rec.endpoint, prefix));
    let killed: Promise<void> | undefined;
    rec.onBytes = (n) => {
      if (n > 2 * S3_PART_SIZE && !killed) killed = server.kill();
    };
    try {
      const file = await stage(s, randomBytes(5 * S3_PART_SIZE));
      await expect(s.putFile("packs/cc/interrupted.age", file)).rejects.toBeInstanceOf(StorageError);
      expect(killed).toBeDefined();
      await killed;
      await server.restart();
      const again = await openS3Storage(url(server.endpoint, prefix));
      try {
        expect(await again.stat("packs/cc/interrupted.age")).toBeUndefined();
        const keys: string[] = [];
        for await (const o of again.list("")) keys.push(o.key);
        expect(keys).toEqual([]);
      } finally {
        await again.close();
      }
    } finally {
      await s.close();
      await rec.close();
    }
  }, 120_000);
});
