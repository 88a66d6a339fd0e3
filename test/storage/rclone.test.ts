/**
 * The rclone backend through the real rclone binary, against a `local` remote (an rclone config
 * written to a temp file): the shared conformance suite, then rclone-specific cases. Skipped
 * loudly without rclone; in CI (CI=true) a missing rclone fails.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openRcloneStorage, redact } from "../../src/storage/rclone.js";
import { StorageError } from "../../src/storage/storage.js";
import { skipWithout } from "../helpers/cli.js";
import { storageConformance, tempDir } from "./conformance.js";

const skip = skipWithout("rclone");
const home = tempDir("isnad-rclone-");
const conf = path.join(home, "rclone.conf");
fs.writeFileSync(conf, "[t]\ntype = local\n");
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

const fresh = () => path.join(home, `r-${randomBytes(6).toString("hex")}`);

describe.skipIf(skip)("rclone backend", () => {
  storageConformance(
    "rclone (local remote)",
    async () => {
      const dir = fresh();
      const storage = await openRcloneStorage(`rclone:t:${dir}`, { config: conf });
      return {
        storage,
        cleanup: async () => {
          await storage.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    // One rclone process per operation (about 0.25 s): enough keys to prove listing streams, not 1050.
    { manyKeys: 120 },
  );

  it("puts go through tmp/ and leave nothing there; the object lands under its name", async () => {
    const dir = fresh();
    const s = await openRcloneStorage(`rclone:t:${dir}/`, { config: conf });
    try {
      expect(await s.putBytes("snapshots/a.seal.json", Buffer.from("seal"))).toBe("created");
      expect(await s.putBytes("snapshots/a.seal.json", Buffer.from("other"))).toBe("exists");
      expect(fs.readFileSync(path.join(dir, "snapshots/a.seal.json"), "utf8")).toBe("seal");
      const leftovers = fs.existsSync(path.join(dir, "tmp")) ? fs.readdirSync(path.join(dir, "tmp")) : [];
      expect(leftovers).toEqual([]);
      expect(s.location).toBe(`rclone:t:${dir}`);
    } finally {
      await s.close();
    }
  });

  it("a stream fails when rclone cannot deliver the whole object", async () => {
    const dir = fresh();
    const s = await openRcloneStorage(`rclone:t:${dir}`, { config: conf });
    try {
      await s.putBytes("packs/aa/x.age", randomBytes(4 << 20));
      const stream = await s.get("packs/aa/x.age");
      // The object shrinks under the reader: the byte count no longer matches what stat said.
      fs.truncateSync(path.join(dir, "packs/aa/x.age"), 1000);
      await expect(
        (async () => {
          for await (const _ of stream) void _;
        })(),
      ).rejects.toBeInstanceOf(StorageError);
    } finally {
      await s.close();
    }
  });

  it("an unknown remote is one clear error pointing at rclone listremotes", async () => {
    const s = await openRcloneStorage("rclone:nosuchremote:x", { config: conf });
    const err = await s.stat("isnad.json").then(
      () => undefined,
      (e: unknown) => e as StorageError,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect(err!.message).toMatch(/^rclone stat isnad\.json in rclone:nosuchremote:x failed: .*nosuchremote/);
    expect(err!.message).not.toContain("\n");
    expect(err!.hint).toMatch(/rclone listremotes/);
  });

  it("a missing rclone binary names the option to set", async () => {
    await expect(openRcloneStorage("rclone:t:/x", { program: path.join(home, "no-rclone") })).rejects.toThrow(/cannot run rclone .*not found/);
  });

  it("inline remote parameters (which may be secrets) never appear in the location or errors", async () => {
    const secret = `hunter${randomBytes(6).toString("hex")}`;
    expect(redact(`:sftp,host=127.0.0.1,pass=${secret}:/p`)).toBe(":sftp,host=***,pass=***:/p");
    // Port 1 on loopback: nothing listens, so rclone fails fast.
    const s = await openRcloneStorage(`rclone::sftp,host=127.0.0.1,port=1,user=u,pass=${secret}:/repo`, { config: conf });
    expect(s.location).not.toContain(secret);
    const err = await s.stat("isnad.json").then(
      () => undefined,
      (e: unknown) => e as StorageError,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect(`${err!.message} ${err!.hint ?? ""}`).not.toContain(secret);
  }, 60_000);
});

/**
 * rclone in front of a real network server: an S3 remote on s3rver, killed mid-upload. The put
 * fails, and after a restart nothing is visible under the object's name.
 */
describe.skipIf(skip)("rclone backend over a network remote", () => {
  it("the server dying mid-upload rejects the put and leaves nothing under the key", async () => {
    const { startS3rver, startRecorder } = await import("../helpers/s3rver.js");
    const server = await startS3rver({ buckets: ["isnad-rclone"] });
    const rec = await startRecorder(server.port);
    const conf2 = path.join(home, "s3.conf");
    // rclone's S3 client refuses an http endpoint when AWS_CA_BUNDLE is set (LIBRARIES.md §8).
    const savedCa = process.env["AWS_CA_BUNDLE"];
    delete process.env["AWS_CA_BUNDLE"];
    fs.writeFileSync(
      conf2,
      `[s3]\ntype = s3\nprovider = Other\nendpoint = ${rec.endpoint}\naccess_key_id = S3RVER\nsecret_access_key = S3RVER\nforce_path_style = true\n`,
    );
    const s = await openRcloneStorage("rclone:s3:isnad-rclone/repo", { config: conf2 });
    try {
      expect(await s.putBytes("snapshots/a.seal.json", Buffer.from("seal"))).toBe("created");
      let killed: Promise<void> | undefined;
      rec.onBytes = (n) => {
        // The server and the way to it both go: retries meet a refused connection.
        if (n > 8 << 20 && !killed) killed = server.kill().then(() => rec.close());
      };
      const f = path.join(await s.stagingDir(), "big");
      fs.writeFileSync(f, randomBytes(32 << 20));
      await expect(s.putFile("packs/ab/big.age", f)).rejects.toBeInstanceOf(StorageError);
      expect(killed).toBeDefined();
      await killed;
      rec.onBytes = undefined;
      await server.restart();
      const direct = path.join(home, "s3-direct.conf");
      fs.writeFileSync(direct, fs.readFileSync(conf2, "utf8").replace(rec.endpoint, server.endpoint));
      const again = await openRcloneStorage("rclone:s3:isnad-rclone/repo", { config: direct });
      expect(await again.stat("packs/ab/big.age")).toBeUndefined();
      const keys: string[] = [];
      for await (const o of again.list("packs/")) keys.push(o.key);
      expect(keys).toEqual([]);
      expect((await again.readBytes("snapshots/a.seal.json", 10)).toString()).toBe("seal");
      await again.close();
    } finally {
      if (savedCa !== undefined) process.env["AWS_CA_BUNDLE"] = savedCa;
      await s.close();
      await rec.close().catch(() => undefined);
      await server.stop();
    }
  }, 240_000);
});
