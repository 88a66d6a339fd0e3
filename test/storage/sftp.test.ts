/**
 * The SFTP backend against a real OpenSSH sshd on 127.0.0.1 (test/helpers/sshd.ts): the shared
 * storage contract, then what only SFTP has (host keys, authentication, a dropped connection,
 * the append-only account). The server is on this machine, so a test may look at or damage the
 * remote folder directly through the local file system.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStorage } from "../../src/storage/open.js";
import { SftpStorage } from "../../src/storage/sftp.js";
import { StorageError, type SftpOptions } from "../../src/storage/storage.js";
import { TestSshd, skipWithoutSshd } from "../helpers/sshd.js";
import { storageConformance, tempDir } from "./conformance.js";

const skip = skipWithoutSshd();
let sshd: TestSshd;
// Every temp folder of this file (remote roots, sshd, and the backend's local staging folders
// under os.tmpdir()) goes under one folder removed at the end.
const savedTmp = process.env["TMPDIR"];
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-sftp-test-"));
  process.env["TMPDIR"] = tmp;
  if (!skip) sshd = await TestSshd.start();
});
afterAll(() => {
  sshd?.stop();
  if (savedTmp === undefined) delete process.env["TMPDIR"];
  else process.env["TMPDIR"] = savedTmp;
  fs.rmSync(tmp, { recursive: true, force: true });
});

const opts = (extra?: SftpOptions): SftpOptions => ({ identity_file: sshd.clientKey, known_hosts: sshd.knownHosts, ...extra });

/** A fresh remote folder (also a local one: the server runs here). */
function freshRoot(): string {
  return tempDir("isnad-sftp-");
}

async function stage(s: SftpStorage, data: Buffer): Promise<string> {
  const f = path.join(await s.stagingDir(), `t-${randomBytes(6).toString("hex")}`);
  fs.writeFileSync(f, data);
  return f;
}

describe.skipIf(skip)("sftp backend", () => {
  storageConformance("sftp (OpenSSH internal-sftp)", async () => {
    const root = freshRoot();
    const storage = await openStorage(sshd.url(root), { sftp: opts() });
    return {
      storage,
      cleanup: async () => {
        await storage.close?.();
        fs.rmSync(root, { recursive: true, force: true });
      },
    };
  });

  it("parses the URL: location without query, ~/ relative to the login folder, no password", async () => {
    const s = await openStorage(sshd.url("/~/isnad-test-home-repo"), { sftp: opts() });
    expect(s.location).toBe(`sftp://${sshd.user}@127.0.0.1:${sshd.port}/~/isnad-test-home-repo`);
    await s.putBytes("snapshots/x.json", Buffer.from("x"));
    const home = execFileSync("sh", ["-c", `getent passwd ${sshd.user} | cut -d: -f6`], { encoding: "utf8" }).trim();
    expect(fs.readFileSync(path.join(home, "isnad-test-home-repo/snapshots/x.json"), "utf8")).toBe("x");
    await s.close?.();
    fs.rmSync(path.join(home, "isnad-test-home-repo"), { recursive: true, force: true });

    await expect(openStorage(`sftp://u:secret@127.0.0.1:${sshd.port}/x`, { sftp: opts() })).rejects.toThrow(/must not hold a password/);
    const bad = await openStorage("sftp://u:secret@[bad/x", { sftp: opts() }).catch((e: unknown) => e);
    expect((bad as Error).message).toMatch(/not a valid sftp:\/\/ URL/);
    expect((bad as Error).message).not.toContain("secret");
    await expect(openStorage(`sftp://u@127.0.0.1:${sshd.port}/x?identity_file=/k`, { sftp: opts() })).rejects.toThrow(/unknown option \?identity_file=/);
  });

  it("puts objects through tmp/ and rename: no temp file is left behind", async () => {
    const root = freshRoot();
    const s = await openStorage(sshd.url(root), { sftp: opts() });
    expect(s.appendOnly).toBe(false);
    await s.putBytes("packs/aa/one.age", Buffer.from("one"));
    await s.putBytes("packs/aa/one.age", Buffer.from("two"));
    expect(fs.readdirSync(path.join(root, "tmp"))).toEqual([]);
    await s.close?.();
  });

  it("an unknown host key is an error naming its SHA256 fingerprint, the file and ssh-keyscan", async () => {
    const kh = path.join(sshd.dir, "empty_known_hosts");
    fs.writeFileSync(kh, "");
    const fp = execFileSync("ssh-keygen", ["-lf", `${sshd.hostKeyFile}.pub`], { encoding: "utf8" }).split(" ")[1]!;
    expect(fp).toMatch(/^SHA256:/);
    const err = await openStorage(sshd.url(freshRoot()), { sftp: opts({ known_hosts: kh }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).message).toContain(`unknown host key ${fp}`);
    expect((err as StorageError).message).toContain(kh);
    expect((err as StorageError).hint).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${kh}`);
  });

  it("strict_host_key: false accepts an unknown key with a warning, but never a changed one", async () => {
    const kh = path.join(sshd.dir, "empty_known_hosts2");
    fs.writeFileSync(kh, "");
    const warnings: string[] = [];
    const s = await openStorage(sshd.url(freshRoot()), { sftp: opts({ known_hosts: kh, strict_host_key: false }), onWarning: (m) => warnings.push(m) });
    expect(warnings.join("\n")).toMatch(/accepting unknown host key SHA256:/);
    expect(fs.readFileSync(kh, "utf8")).toBe("");
    await s.close?.();
  });

  it("a changed host key is an error naming the new fingerprint and the known_hosts line", async () => {
    const other = path.join(sshd.dir, "other_host");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const [type, b64] = fs.readFileSync(`${other}.pub`, "utf8").split(" ");
    const kh = path.join(sshd.dir, "changed_known_hosts");
    fs.writeFileSync(kh, `# a comment\n[127.0.0.1]:${sshd.port} ${type} ${b64}\n`);
    const fp = execFileSync("ssh-keygen", ["-lf", `${sshd.hostKeyFile}.pub`], { encoding: "utf8" }).split(" ")[1]!;
    for (const strict of [true, false]) {
      const err = await openStorage(sshd.url(freshRoot()), { sftp: opts({ known_hosts: kh, strict_host_key: strict }) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(/HOST KEY CHANGED/);
      expect((err as Error).message).toContain(fp);
      expect((err as Error).message).toContain(`${kh} line 2`);
    }
  });

  it("a hashed known_hosts entry (ssh-keygen -H) is accepted", async () => {
    const kh = path.join(sshd.dir, "hashed_known_hosts");
    fs.copyFileSync(sshd.knownHosts, kh);
    execFileSync("ssh-keygen", ["-H", "-f", kh], { stdio: "ignore" });
    expect(fs.readFileSync(kh, "utf8")).toMatch(/^\|1\|/);
    const s = await openStorage(sshd.url(freshRoot()), { sftp: opts({ known_hosts: kh }) });
    expect(await s.stat("isnad.json")).toBeUndefined();
    await s.close?.();
  });

  it("a key the server does not accept is an auth error naming the key file", async () => {
    const wrong = path.join(sshd.dir, "wrong_client");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrong]);
    const err = await openStorage(sshd.url(freshRoot()), { sftp: opts({ identity_file: wrong }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/refused the key for user/);
    expect((err as Error).message).toContain(wrong);
    expect((err as StorageError).hint).toContain("storage.sftp.identity_file");
  });

  it("a passphrase-protected identity_file is a config error, not a prompt", async () => {
    const locked = path.join(sshd.dir, "locked_client");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "pass phrase", "-f", locked]);
    await expect(openStorage(sshd.url(freshRoot()), { sftp: opts({ identity_file: locked }) })).rejects.toThrow(/protected by a passphrase/);
  });

  it("reconnects after the server restarts, within retry_seconds", async () => {
    const root = freshRoot();
    const s = await openStorage(sshd.url(root), { sftp: opts({ retry_seconds: 30 }), onWarning: () => undefined });
    await s.putBytes("snapshots/a.json", Buffer.from("a"));
    sshd.kill();
    const restarted = new Promise((r) => setTimeout(r, 600)).then(() => sshd.restart());
    expect((await s.readBytes("snapshots/a.json", 10)).toString()).toBe("a");
    await restarted;
    await s.close?.();
  });

  it("killing sshd mid-upload: put rejects with a clear error and nothing appears under the key", async () => {
    const root = freshRoot();
    const s = (await openStorage(sshd.url(root), { sftp: opts({ retry_seconds: 1 }), onWarning: () => undefined })) as SftpStorage;
    const size = 200 * 1024 * 1024;
    const f = path.join(await s.stagingDir(), "big");
    const fh = fs.openSync(f, "w");
    const chunk = randomBytes(1024 * 1024);
    for (let i = 0; i < size / chunk.length; i++) fs.writeSync(fh, chunk);
    fs.closeSync(fh);
    const key = "packs/ee/big.age";
    const put = s.putFile(key, f);
    // Kill once the upload is under way (the temp file has grown), not before it starts.
    for (let i = 0; i < 200; i++) {
      const tmp = fs.existsSync(path.join(root, "tmp")) ? fs.readdirSync(path.join(root, "tmp")) : [];
      if (tmp.some((n) => fs.statSync(path.join(root, "tmp", n)).size > 0)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    sshd.kill();
    const err = await put.catch((e: unknown) => e);
    await sshd.restart();
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/connection failed while writing packs\/ee\/big\.age/);
    expect(fs.existsSync(path.join(root, key))).toBe(false);
    fs.rmSync(f, { force: true });
    await s.close?.();
  });

  it("killing sshd while an object is read: the read fails, it does not hang", async () => {
    const root = freshRoot();
    const s = await openStorage(sshd.url(root), { sftp: opts({ retry_seconds: 1 }), onWarning: () => undefined });
    await s.putFile("packs/ff/r.age", await stage(s as SftpStorage, randomBytes(16 * 1024 * 1024)));
    const it = (await s.get("packs/ff/r.age"))[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    sshd.kill();
    const drain = async () => {
      for (let r = await it.next(); !r.done; r = await it.next());
    };
    const err = await drain().catch((e: unknown) => e);
    await sshd.restart();
    expect(err).toBeInstanceOf(Error);
    await s.close?.();
  });

  describe("append-only account (internal-sftp -P remove,rmdir,rename,posix-rename,setstat,fsetstat)", () => {
    it("is detected; objects are written in place, never overwritten; delete and replace are refused", async () => {
      const root = freshRoot();
      const s = await openStorage(sshd.url(root, { appendOnly: true }), { sftp: opts() });
      expect(s.appendOnly).toBe(true);
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const key = `packs/ab/${"ab".padEnd(64, "0")}.age`;
      expect(await s.putFile(key, await stage(s as SftpStorage, data))).toBe("created");
      expect(fs.readFileSync(path.join(root, key)).equals(data)).toBe(true);
      expect(fs.existsSync(path.join(root, "tmp"))).toBe(false); // no temp files it could never delete
      expect(await s.putFile(key, await stage(s as SftpStorage, data))).toBe("exists");
      expect(await s.putBytes("locks/lock.json", Buffer.from("one"))).toBe("created");
      expect(await s.putBytes("locks/lock.json", Buffer.from("two!"))).toBe("exists");
      expect(fs.readFileSync(path.join(root, "locks/lock.json"), "utf8")).toBe("one");
      await expect(s.delete(key)).rejects.toThrow(/not allowed to delete .* \(append-only account\)/);
      await expect(s.replaceBytes("locks/lock.json", Buffer.from("x"))).rejects.toThrow(/append-only: cannot replace/);
      expect(fs.existsSync(path.join(root, key))).toBe(true);
      await s.close?.();
    });

    it("a truncated content-addressed object left by a crash is reported, never taken as existing", async () => {
      const root = freshRoot();
      const s = await openStorage(sshd.url(root, { appendOnly: true }), { sftp: opts() });
      const data = randomBytes(100_000);
      const key = `manifests/${"cd".padEnd(64, "1")}.age`;
      fs.mkdirSync(path.join(root, "manifests"), { recursive: true });
      fs.writeFileSync(path.join(root, key), data.subarray(0, 4096)); // what an interrupted upload leaves
      const err = await s.putFile(key, await stage(s as SftpStorage, data)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(/already exists with 4096 bytes, but its content has 100000: a damaged or partial copy/);
      await s.close?.();
    });

    it("an upload cut off by a dropped connection is resumed after reconnecting, byte for byte", async () => {
      const root = freshRoot();
      const s = await openStorage(sshd.url(root, { appendOnly: true }), { sftp: opts({ retry_seconds: 30 }), onWarning: () => undefined });
      const data = randomBytes(120 * 1024 * 1024);
      const key = `packs/12/${"12".padEnd(64, "3")}.age`;
      const put = s.putFile(key, await stage(s as SftpStorage, data));
      const final = path.join(root, key);
      for (let i = 0; i < 500; i++) {
        if (fs.existsSync(final) && fs.statSync(final).size > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      sshd.kill();
      const cut = fs.statSync(final).size;
      // What a server may leave behind: the last writes before the drop not all applied (a hole
      // of zeros below its end), and even acknowledged bytes lost (a crash before its disk had them).
      const hole = Math.min(cut, 64 * 1024);
      const fd = fs.openSync(final, "r+");
      fs.writeSync(fd, Buffer.alloc(hole), 0, hole, cut - hole);
      fs.writeSync(fd, Buffer.alloc(hole), 0, hole, 0);
      fs.closeSync(fd);
      await new Promise((r) => setTimeout(r, 300));
      await sshd.restart();
      expect(await put).toBe("created");
      expect(cut).toBeLessThan(data.length); // it really was cut off
      expect(createHash("sha256").update(fs.readFileSync(final)).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
      await s.close?.();
    });

    it("append_only: true in the options skips the probe and never uses tmp/", async () => {
      const root = freshRoot();
      const s = await openStorage(sshd.url(root), { sftp: opts({ append_only: true }) });
      expect(s.appendOnly).toBe(true);
      await s.putBytes("snapshots/s.json", Buffer.from("s"));
      expect(fs.existsSync(path.join(root, "tmp"))).toBe(false);
      await s.close?.();
    });
  });
});

// The staging folder is local and private.
describe.skipIf(skip)("sftp staging folder", () => {
  it("is os.tmpdir()/isnad-staging-<hash>, mode 0700", async () => {
    const s = await openStorage(sshd.url(freshRoot()), { sftp: opts() });
    const dir = await s.stagingDir();
    expect(path.dirname(dir)).toBe(os.tmpdir());
    expect(path.basename(dir)).toMatch(/^isnad-staging-[0-9a-f]{16}$/);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    await s.close?.();
  });
});
