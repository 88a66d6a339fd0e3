/**
 * The whole CLI against a repository on a real OpenSSH sshd on 127.0.0.1 (test/helpers/sshd.ts),
 * configured as a user would: isnad.yaml with `repository: sftp://…` and `storage.sftp`
 * (identity_file, known_hosts). init, snapshot, snapshots, verify (keyless and keyed), diff,
 * restore; then sshd killed in the middle of a snapshot, and the repository still verifies. Last,
 * the append-only account: snapshot works without delete or rename rights.
 */
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandbox, type Sandbox } from "../helpers/cli.js";
import { TestSshd, skipWithoutSshd } from "../helpers/sshd.js";
import { describeTree, makeOddTree, writeBigFile } from "../helpers/tree.js";

const skip = skipWithoutSshd();

describe.skipIf(skip)("CLI round trip on an SFTP repository", () => {
  let sshd: TestSshd;
  let sb: Sandbox;
  let key: string;
  let recipient: string;
  let remote: string;
  let fingerprint: string;
  let snap: string;
  const src = () => sb.path("site");

  const writeConfig = (file: string, url: string, extra = "") =>
    fs.writeFileSync(
      file,
      [
        `repository: ${url}`,
        "sources:",
        "  - label: site",
        "    type: dir",
        "    path: ./site",
        "storage:",
        "  sftp:",
        `    identity_file: ${sshd.clientKey}`,
        `    known_hosts: ${sshd.knownHosts}`,
        "    retry_seconds: 2",
        extra,
      ].join("\n"),
    );

  beforeAll(async () => {
    sshd = await TestSshd.start();
    sb = sandbox();
    // The CLI's local staging folder (os.tmpdir()/isnad-staging-…) goes inside the sandbox.
    sb.env["TMPDIR"] = sb.path("tmp");
    fs.mkdirSync(sb.path("tmp"));
    remote = sb.path("remote-repo"); // the server is this machine: a local folder seen through SFTP
    key = sb.path("key.txt");
    const kg = await sb.run(["keygen", "--classic", "-o", key]);
    expect(kg.code, kg.stderr).toBe(0);
    recipient = /^# public key: (\S+)$/m.exec(fs.readFileSync(key, "utf8"))![1]!;
    makeOddTree(src());
    writeConfig(sb.path("isnad.yaml"), sshd.url(remote));
  });
  afterAll(() => {
    sshd?.stop();
    sb?.cleanup();
  });

  it("init creates the repository on the server", async () => {
    const res = await sb.run(["--json", "init", "--recipient", recipient]);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out.repository).toBe(`sftp://${sshd.user}@127.0.0.1:${sshd.port}${remote}`);
    fingerprint = out.signer.fingerprint;
    expect(fs.existsSync(path.join(remote, "isnad.json"))).toBe(true);
  });

  it("snapshot, snapshots", async () => {
    const res = await sb.run(["--json", "snapshot"]);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    snap = out.snapshot;
    expect(out.complete).toBe(true);
    expect(fs.existsSync(path.join(remote, "snapshots", `${snap}.seal.json`))).toBe(true);
    expect(fs.readdirSync(path.join(remote, "tmp"))).toEqual([]); // every temp upload was renamed
    expect(fs.existsSync(path.join(remote, "locks", "lock.json"))).toBe(false); // released
    const list = await sb.run(["--json", "snapshots"]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).map((s: { id: string }) => s.id)).toEqual([snap]);
  });

  it("--repo with an sftp:// URL is taken as a URL, not a path", async () => {
    const list = await sb.run(["--json", "snapshots", "--repo", sshd.url(remote)]);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toHaveLength(1);
  });

  it("verify without and with the key", async () => {
    const a = await sb.run(["verify", "--signer", fingerprint]);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const b = await sb.run(["--json", "verify", "-i", key]);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ ok: true, withKey: true });
  });

  it("diff names a change (exit 3); restore gives the original tree back", async () => {
    const work = sb.path("changed");
    fs.cpSync(src(), work, { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(path.join(work, "added.txt"), "new");
    const d = await sb.run(["diff", snap, work, "-i", key, "--source", "site"]);
    expect(d.code, d.stdout + d.stderr).toBe(3);
    expect(d.stdout).toContain("added.txt");

    const target = sb.path("restored");
    const res = await sb.run(["restore", snap, "--target", target, "-i", key]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const a = describeTree(src());
    const b = describeTree(path.join(target, "site"));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [rel, e] of a) expect(b.get(rel)?.sha256, rel).toBe(e.sha256);
  });

  it("forget --prune over SFTP: old snapshots and their objects go; the repository verifies; the kept one restores", async () => {
    fs.writeFileSync(path.join(src(), "later.txt"), "only in the last snapshot\n");
    const s2 = await sb.run(["--json", "snapshot"]);
    expect(s2.code, s2.stderr).toBe(0);
    const lastId = JSON.parse(s2.stdout).snapshot as string;
    const f = await sb.run(["--json", "forget", "--keep-last", "1", "--prune"]);
    expect(f.code, f.stdout + f.stderr).toBe(0);
    const out = JSON.parse(f.stdout) as { removed: unknown[]; prune?: { deleted: Array<{ key: string }> } };
    expect(out.removed).toHaveLength(1);
    expect(out.prune?.deleted.length).toBeGreaterThan(0);
    for (const d of out.prune!.deleted) expect(fs.existsSync(path.join(remote, ...d.key.split("/"))), d.key).toBe(false);
    expect(fs.existsSync(path.join(remote, "snapshots", `${snap}.seal.json`))).toBe(false);
    const list = await sb.run(["--json", "snapshots"]);
    expect(JSON.parse(list.stdout).map((s: { id: string }) => s.id)).toEqual([lastId]);
    const a = await sb.run(["verify", "--signer", fingerprint]);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const b = await sb.run(["verify", "-i", key]);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    snap = lastId; // the one snapshot left, for the tests after this one
    const target = sb.path("restored-after-prune");
    const r = await sb.run(["restore", "latest", "--target", target, "-i", key]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(target, "site", "later.txt"), "utf8")).toBe("only in the last snapshot\n");
  });

  it("a wrong host key stops every command with exit 1 and the fingerprint", async () => {
    const kh = sb.path("bad_known_hosts");
    fs.writeFileSync(kh, "");
    const cfg = sb.path("bad-host.yaml");
    writeConfig(cfg, sshd.url(remote));
    fs.writeFileSync(cfg, fs.readFileSync(cfg, "utf8").replace(sshd.knownHosts, kh));
    const res = await sb.run(["snapshots", "--config", cfg]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^isnad: sftp:\/\/.*unknown host key SHA256:\S+ \(ssh-ed25519\)/m);
    expect(res.stderr).toContain("ssh-keyscan");
  });

  it("sshd killed mid-snapshot: exit 1 with a clear message; after a restart the repository verifies", async () => {
    writeBigFile(path.join(src(), "big.bin"), 150 * 1024 * 1024);
    const run = sb.run(["snapshot"]);
    // Kill once an upload is under way on the server (a temp file has grown).
    const tmpDir = path.join(remote, "tmp");
    for (let i = 0; i < 3000; i++) {
      const growing = fs.readdirSync(tmpDir).some((n) => {
        try {
          return fs.statSync(path.join(tmpDir, n)).size > 1024 * 1024;
        } catch {
          return false;
        }
      });
      if (growing) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    sshd.kill();
    const res = await run;
    await sshd.restart();
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/^isnad: sftp:\/\/\S+: connection failed while writing packs\/\S+/m);
    const seals = fs.readdirSync(path.join(remote, "snapshots"));
    expect(seals).toEqual([`${snap}.seal.json`]); // no seal for the broken run
    const v = await sb.run(["verify", "-i", key]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    fs.rmSync(path.join(src(), "big.bin"));
    // The next snapshot takes over the dead run's lock (same host, process gone) and commits.
    const again = await sb.run(["snapshot"]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/took over a stale lock/);
  });

  it("append-only account: init and snapshot need no delete or rename; the lock is host-local", async () => {
    const aoRemote = sb.path("ao-repo");
    const cfg = sb.path("ao.yaml");
    writeConfig(cfg, sshd.url(aoRemote, { appendOnly: true }));
    const init = await sb.run(["--config", cfg, "init", "--recipient", recipient, "--signing-key", sb.path("ao-signing.key")]);
    expect(init.code, init.stderr).toBe(0);
    fs.appendFileSync(cfg, `signing_key: ${sb.path("ao-signing.key")}\n`);
    for (let i = 0; i < 2; i++) {
      const res = await sb.run(["--config", cfg, "snapshot"]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toMatch(/append-only: locking in .*locks.* on this host only/);
    }
    expect(fs.existsSync(path.join(aoRemote, "tmp"))).toBe(false);
    expect(fs.existsSync(path.join(aoRemote, "locks"))).toBe(false);
    expect(fs.readdirSync(path.join(aoRemote, "snapshots"))).toHaveLength(2);
    const v = await sb.run(["--config", cfg, "verify", "-i", key]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});
