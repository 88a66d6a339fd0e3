/**
 * The one contract every storage backend must meet (src/storage/storage.ts), run against each
 * backend with a real server. A backend's test file calls storageConformance() with a factory
 * that gives a fresh, empty location per test.
 */
import { randomBytes, createHash } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Storage } from "../../src/storage/storage.js";
import { StorageError } from "../../src/storage/storage.js";

export interface BackendUnderTest {
  storage: Storage;
  /** Releases connections and removes what the test wrote. */
  cleanup(): Promise<void>;
}

async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

async function stage(storage: Storage, data: Uint8Array): Promise<string> {
  const dir = await storage.stagingDir();
  const file = path.join(dir, `conf-${process.pid}-${randomBytes(6).toString("hex")}`);
  fs.writeFileSync(file, data, { mode: 0o600 });
  return file;
}

async function listKeys(storage: Storage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of storage.list(prefix)) keys.push(o.key);
  return keys.sort();
}

export interface ConformanceOptions {
  /** Keys for the many-keys listing case (default 1050, past one 1000-key page); lower for a backend that pays a process per put. */
  manyKeys?: number;
}

export function storageConformance(name: string, make: () => Promise<BackendUnderTest>, opts: ConformanceOptions = {}): void {
  describe(`storage conformance: ${name}`, () => {
    let b: BackendUnderTest;
    beforeEach(async () => {
      b = await make();
    });
    afterEach(async () => {
      await b?.cleanup();
    });

    it("putBytes creates, then refuses to overwrite and keeps the first object", async () => {
      expect(await b.storage.putBytes("snapshots/a.json", Buffer.from("first"))).toBe("created");
      expect(await b.storage.putBytes("snapshots/a.json", Buffer.from("second"))).toBe("exists");
      expect((await b.storage.readBytes("snapshots/a.json", 100)).toString()).toBe("first");
    });

    it("putFile moves a staged file into place (nested key), and never overwrites", async () => {
      const data = randomBytes(300_000);
      const f = await stage(b.storage, data);
      expect(await b.storage.putFile("packs/ab/abcdef.age", f)).toBe("created");
      expect(await readAll(await b.storage.get("packs/ab/abcdef.age"))).toEqual(data);
      const g = await stage(b.storage, Buffer.from("other"));
      expect(await b.storage.putFile("packs/ab/abcdef.age", g)).toBe("exists");
      expect(await readAll(await b.storage.get("packs/ab/abcdef.age"))).toEqual(data);
    });

    it("streams a large object back byte for byte", async () => {
      const size = 12 * 1024 * 1024 + 17;
      const data = randomBytes(size);
      const f = await stage(b.storage, data);
      await b.storage.putFile("packs/cd/big.age", f);
      const h = createHash("sha256");
      let n = 0;
      for await (const c of await b.storage.get("packs/cd/big.age")) {
        h.update(c as Buffer);
        n += (c as Buffer).length;
      }
      expect(n).toBe(size);
      expect(h.digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
      expect(await b.storage.stat("packs/cd/big.age")).toEqual({ key: "packs/cd/big.age", size });
    });

    it("an empty object is an object", async () => {
      expect(await b.storage.putBytes("manifests/empty.age", new Uint8Array(0))).toBe("created");
      expect(await b.storage.stat("manifests/empty.age")).toEqual({ key: "manifests/empty.age", size: 0 });
      expect((await b.storage.readBytes("manifests/empty.age", 10)).length).toBe(0);
    });

    it("get, readBytes of a missing key fail with notFound; stat gives undefined", async () => {
      await expect(b.storage.get("snapshots/missing.json")).rejects.toSatisfy(
        (e) => e instanceof StorageError && e.notFound,
      );
      await expect(b.storage.readBytes("snapshots/missing.json", 10)).rejects.toSatisfy(
        (e) => e instanceof StorageError && e.notFound,
      );
      expect(await b.storage.stat("snapshots/missing.json")).toBeUndefined();
    });

    it("readBytes refuses an object larger than asked", async () => {
      await b.storage.putBytes("snapshots/big.json", Buffer.alloc(1000, 1));
      await expect(b.storage.readBytes("snapshots/big.json", 999)).rejects.toBeInstanceOf(StorageError);
    });

    it("replaceBytes overwrites atomically (and creates)", async () => {
      await b.storage.replaceBytes("locks/lock.json", Buffer.from("one"));
      await b.storage.replaceBytes("locks/lock.json", Buffer.from("two"));
      expect((await b.storage.readBytes("locks/lock.json", 100)).toString()).toBe("two");
    });

    it("list gives every key under a prefix with its size, and nothing else", async () => {
      await b.storage.putBytes("isnad.json", Buffer.from("{}"));
      await b.storage.putBytes("snapshots/1.json", Buffer.from("a"));
      await b.storage.putBytes("snapshots/2.json", Buffer.from("bb"));
      await b.storage.putBytes("packs/00/x.age", Buffer.from("ccc"));
      await b.storage.putBytes("packs/ff/y.age", Buffer.from("dddd"));
      expect(await listKeys(b.storage, "snapshots/")).toEqual(["snapshots/1.json", "snapshots/2.json"]);
      expect(await listKeys(b.storage, "packs/")).toEqual(["packs/00/x.age", "packs/ff/y.age"]);
      expect(await listKeys(b.storage, "manifests/")).toEqual([]);
      const sizes: Record<string, number> = {};
      for await (const o of b.storage.list("packs/")) sizes[o.key] = o.size;
      expect(sizes).toEqual({ "packs/00/x.age": 3, "packs/ff/y.age": 4 });
      const all = await listKeys(b.storage, "");
      for (const k of ["isnad.json", "snapshots/1.json", "packs/ff/y.age"]) expect(all).toContain(k);
    });

    it("lists many keys (past one page of a paged listing)", async () => {
      const n = opts.manyKeys ?? 1050;
      for (let i = 0; i < n; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, n - i) }, (_, j) => b.storage.putBytes(`packs/aa/${String(i + j).padStart(5, "0")}.age`, Buffer.from("x"))),
        );
      }
      expect((await listKeys(b.storage, "packs/")).length).toBe(n);
    });

    it("delete removes; deleting a missing key is not an error", async () => {
      await b.storage.putBytes("packs/01/z.age", Buffer.from("z"));
      await b.storage.delete("packs/01/z.age");
      expect(await b.storage.stat("packs/01/z.age")).toBeUndefined();
      await b.storage.delete("packs/01/z.age");
      await b.storage.delete("packs/02/never.age");
    });

    it("concurrent puts of one key: exactly one is created", async () => {
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) => b.storage.putBytes("locks/race.json", Buffer.from(`run ${i}`))),
      );
      expect(results.filter((r) => r === "created").length).toBe(1);
    });

    it("stagingDir is a local folder only this user can enter", async () => {
      const dir = await b.storage.stagingDir();
      expect(path.isAbsolute(dir)).toBe(true);
      expect(fs.statSync(dir).isDirectory()).toBe(true);
      expect(fs.statSync(dir).mode & 0o077).toBe(0);
    });

    it("close, if the backend has one, may be called twice", async () => {
      await b.storage.close?.();
      await b.storage.close?.();
    });

    it("location names the repository and holds no secret", () => {
      expect(b.storage.location.length).toBeGreaterThan(0);
      expect(b.storage.location).not.toMatch(/secret|password|:[^/@]*@/i);
    });
  });
}

/** A fresh local-folder location, for the local backend's run of the suite. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
