/**
 * Tampering with a repository on storage (DESIGN.md §2.2): every changed, truncated, missing,
 * swapped or replayed object is detected by `isnad verify` and NAMED — finding code plus the
 * object key, snapshot id or path — in the text output and in the --json findings, with exit 3.
 *
 * One repository of three snapshots is made through the CLI; each case damages a fresh copy of it
 * (cp -r) and runs the real CLI against the copy, without the key (storage level) and with -i.
 */
import { createHash, createPrivateKey, sign } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSeal, encodeSeal, sealSignedBytes, sha256Hex, type SealBody } from "../../src/format/seal.js";
import { manifestKey, packKey, sealKey } from "../../src/format/layout.js";
import { generateSignerPem, signerFingerprint } from "../../src/keys/signer.js";
import { PackWriter } from "../../src/pack/writer.js";
import type { Finding } from "../../src/verify/findings.js";
import { sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

interface Snap {
  snapshot: string;
  seq: number;
  chainHead: string;
  time: string;
  manifest: { id: string; size: number };
  packs: Array<{ id: string; size: number }>;
}

interface VerifyJson {
  ok: boolean;
  seals: number;
  chainHead: string | null;
  snapshotsChecked: string[];
  objectsChecked: number;
  filesChecked: number;
  findings: Finding[];
}

interface Verified {
  code: number;
  /** stdout of the text run */
  text: string;
  /** the --json run's document */
  json: VerifyJson;
  /** errors only, reduced to what names the problem */
  errors: Array<{ code: string; object?: string; snapshot?: string; path?: string }>;
}

let sb: Sandbox;
let t: TestRepo;
let src: string;
const snaps: Snap[] = [];
/** How many objects (manifests + packs) the untouched repository has. */
let objectCount = 0;
let copies = 0;

const rnd = (n: number): Buffer => {
  // Incompressible content, different on every call, made fast (a SHA-256 chain).
  const out = Buffer.alloc(n);
  let block = createHash("sha256").update(String(n)).update(String(Math.random())).digest();
  for (let off = 0; off < n; off += block.length) {
    block.copy(out, off);
    block = createHash("sha256").update(block).digest();
  }
  return out;
};

async function snapshot(): Promise<Snap> {
  const r = await sb.run(["--json", "snapshot", "--repo", t.repo, src]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Snap;
}

/** A fresh copy of the untouched repository. */
function copyRepo(): string {
  const dest = sb.path(`copy-${++copies}`);
  fs.cpSync(t.repo, dest, { recursive: true });
  return dest;
}

/** Runs `isnad verify` on repo twice at once, as text and as --json; both must agree on the exit code. */
async function verify(repo: string, args: string[] = []): Promise<Verified> {
  const [text, json] = await Promise.all([sb.run(["verify", "--repo", repo, ...args]), sb.run(["--json", "verify", "--repo", repo, ...args])]);
  expect(json.code, `--json and text verify disagree\n${text.stdout}\n${json.stderr}`).toBe(text.code);
  const doc = JSON.parse(json.stdout) as VerifyJson;
  const errors = doc.findings.filter((f) => f.severity === "error").map(({ code, object, snapshot, path: p }) => ({ code, object, snapshot, path: p }));
  return { code: text.code, text: text.stdout, json: doc, errors };
}

const keyed = (): string[] => ["-i", t.key];

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The text output has the line `ERROR [code] …needle…`. */
function expectTextError(v: Verified, code: string, ...needles: string[]): void {
  const lines = v.text.split("\n").filter((l) => l.startsWith(`ERROR [${code}] `));
  expect(lines.some((l) => needles.every((n) => l.includes(n))), `no "ERROR [${code}]" line naming ${needles.join(", ")} in:\n${v.text}`).toBe(true);
  expect(v.text).toMatch(/^FAILED: \d+ problems? found$/m);
}

function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ 0x01;
    fs.writeSync(fd, b, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}

const abs = (repo: string, key: string): string => path.join(repo, ...key.split("/"));

beforeAll(async () => {
  sb = sandbox();
  t = await initRepo(sb);
  src = sb.path("site");
  fs.mkdirSync(path.join(src, "docs"), { recursive: true });
  fs.mkdirSync(path.join(src, "notes"), { recursive: true });
  // Snapshots 1 and 2 hold the same names and sizes with different content, so their packs are
  // exactly the same size (a swap then shows as a hash mismatch, not a size mismatch). Snapshot 3
  // adds a file. big.bin spans many 64 KiB age chunks. Every file is mostly random bytes, so
  // none is worth compressing and each snapshot has exactly one (plain) pack (files under 16 KiB
  // would go to a compressed pack unsampled: these are larger).
  const write = (seed: string) => {
    fs.writeFileSync(path.join(src, "docs/a.txt"), Buffer.concat([Buffer.from(`letter, version ${seed}\n`), rnd(20_000)]));
    fs.writeFileSync(path.join(src, "docs/big.bin"), rnd(1 << 20));
    fs.writeFileSync(path.join(src, "notes/b.txt"), Buffer.concat([Buffer.from(`notes ${seed}\n`), rnd(20_000)]));
  };
  write("1");
  snaps.push(await snapshot());
  write("2");
  snaps.push(await snapshot());
  fs.writeFileSync(path.join(src, "notes/c.txt"), Buffer.concat([Buffer.from("a third file\n"), rnd(20_000)]));
  snaps.push(await snapshot());
  // Snapshot 3 reuses snapshot 2's pack for its three unchanged files (dedup) and writes a pack of
  // its own for c.txt: each object is counted once.
  objectCount = new Set(snaps.flatMap((s) => [s.manifest.id, ...s.packs.map((p) => p.id)])).size;
});

afterAll(() => sb?.cleanup());

describe("isnad verify names every kind of tampering", () => {
  it("the untouched repository verifies, with and without the key", async () => {
    expect(snaps.map((s) => s.seq)).toEqual([1, 2, 3]);
    expect(new Set(snaps.flatMap((s) => s.packs.map((p) => p.id))).size).toBe(3);
    expect(snaps[0]!.packs[0]!.size).toBe(snaps[1]!.packs[0]!.size);
    const [plain, withKey] = await Promise.all([verify(t.repo), verify(t.repo, keyed())]);
    for (const v of [plain, withKey]) {
      expect(v.code, v.text).toBe(0);
      expect(v.json.findings).toEqual([]);
      expect(v.json.seals).toBe(3);
      expect(v.json.chainHead).toBe(snaps[2]!.chainHead);
      expect(v.json.objectsChecked).toBe(objectCount);
      expect(v.text).toMatch(/^OK: every check passed$/m);
    }
    expect(snaps[2]!.packs.map((p) => p.id)).toEqual([snaps[1]!.packs[0]!.id, expect.any(String)]);
    // Each pack member is hashed once, however many snapshots name it: c.txt is the only new one.
    expect(withKey.json.filesChecked).toBe(3 + 3 + 1);
  });

  it("1. one flipped byte in the middle of a pack: object-hash naming the pack (and fails with the key)", async () => {
    const repo = copyRepo();
    const s = snaps[1]!;
    const key = packKey(s.packs[0]!.id);
    flipByte(abs(repo, key), Math.floor(s.packs[0]!.size / 2));

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([{ code: "object-hash", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(plain, "object-hash", key, "altered");

    // With the key: age authenticates every 64 KiB chunk, so decryption stops at the damaged one.
    const withKey = await verify(repo, keyed());
    expect(withKey.code, withKey.text).toBe(3);
    expect(withKey.errors).toEqual([{ code: "pack-invalid", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(withKey, "pack-invalid", key, "failed authentication");
  });

  it("2. one flipped byte in a manifest: object-hash naming the manifest", async () => {
    const repo = copyRepo();
    const s = snaps[0]!;
    const key = manifestKey(s.manifest.id);
    flipByte(abs(repo, key), Math.floor(s.manifest.size / 2));

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([{ code: "object-hash", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(plain, "object-hash", key);

    const withKey = await verify(repo, keyed());
    expect(withKey.code, withKey.text).toBe(3);
    expect(withKey.errors).toEqual([{ code: "manifest-invalid", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(withKey, "manifest-invalid", key);
  });

  it("3a. a seal edited inside a string value (still canonical JSON): seal-signature naming the seal", async () => {
    const repo = copyRepo();
    const s = snaps[2]!; // the last seal: nothing after it, so the only finding is about it
    const key = sealKey(s.snapshot);
    const file = abs(repo, key);
    const text = fs.readFileSync(file, "utf8");
    const at = text.indexOf(`"time":"${s.time}"`) + `"time":"`.length + s.time.length - 2; // last digit of the milliseconds
    expect(text[at]).toMatch(/[0-9]/);
    const edited = text.slice(0, at) + String((Number(text[at]) + 1) % 10) + text.slice(at + 1);
    expect(() => JSON.parse(edited)).not.toThrow();
    fs.writeFileSync(file, edited);

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([{ code: "seal-signature", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(plain, "seal-signature", key);
    const withKey = await verify(repo, keyed());
    expect(withKey.code).toBe(3);
    expect(withKey.errors).toEqual(plain.errors);
  });

  it("3b. an edited middle seal also breaks the chain after it: seal-signature for it, chain-gap for the next", async () => {
    const repo = copyRepo();
    const key = sealKey(snaps[1]!.snapshot);
    const file = abs(repo, key);
    const text = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, text.replace(`"host":"`, `"host":"x`));

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([
      { code: "seal-signature", object: key, snapshot: snaps[1]!.snapshot, path: undefined },
      { code: "chain-gap", object: undefined, snapshot: snaps[2]!.snapshot, path: undefined },
    ]);
    expectTextError(plain, "seal-signature", key);
    expectTextError(plain, "chain-gap", snaps[2]!.snapshot, "seal 2 of the chain is missing");
  });

  it("3c. a seal re-encoded with extra whitespace (same JSON value): seal-unreadable, non-canonical", async () => {
    const repo = copyRepo();
    const s = snaps[2]!;
    const key = sealKey(s.snapshot);
    const file = abs(repo, key);
    fs.writeFileSync(file, JSON.stringify(JSON.parse(fs.readFileSync(file, "utf8")), null, 2) + "\n");

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([{ code: "seal-unreadable", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(plain, "seal-unreadable", key, "not in canonical form");
  });

  it("4. a deleted pack: object-missing naming the pack and the snapshot", async () => {
    const repo = copyRepo();
    const s = snaps[0]!;
    const key = packKey(s.packs[0]!.id);
    fs.rmSync(abs(repo, key));

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([{ code: "object-missing", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(plain, "object-missing", key, `named by snapshot ${s.snapshot}`);

    const withKey = await verify(repo, keyed());
    expect(withKey.code, withKey.text).toBe(3);
    expect(withKey.errors).toEqual([{ code: "object-missing", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(withKey, "object-missing", key, `named by snapshot ${s.snapshot}`);
  });

  it("5. two packs swapped (same size): object-hash naming both", async () => {
    const repo = copyRepo();
    const [a, b] = [snaps[0]!, snaps[1]!];
    const ka = packKey(a.packs[0]!.id);
    const kb = packKey(b.packs[0]!.id);
    const fa = abs(repo, ka);
    const fb = abs(repo, kb);
    fs.renameSync(fa, `${fa}.swap`);
    fs.renameSync(fb, fa);
    fs.renameSync(`${fa}.swap`, fb);

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([
      { code: "object-hash", object: ka, snapshot: a.snapshot, path: undefined },
      { code: "object-hash", object: kb, snapshot: b.snapshot, path: undefined },
    ]);
    expectTextError(plain, "object-hash", ka);
    expectTextError(plain, "object-hash", kb);

    // With the key the swapped packs decrypt fine (same recipient): every member's content differs
    // from what its manifest says (member-hash, naming the file), and the ciphertext is not the
    // pack's id (pack-invalid). Each finding names the pack it was found in.
    const withKey = await verify(repo, keyed());
    expect(withKey.code, withKey.text).toBe(3);
    const files = ["site/docs/a.txt", "site/docs/big.bin", "site/notes/b.txt"];
    expect(withKey.errors).toEqual(
      [[ka, a], [kb, b]].flatMap(([k, s]) => [
        ...files.map((f) => ({ code: "member-hash", object: k, snapshot: (s as Snap).snapshot, path: f })),
        { code: "pack-invalid", object: k, snapshot: (s as Snap).snapshot, path: undefined },
      ]),
    );
    for (const [k, other] of [[ka, b], [kb, a]] as const) {
      expectTextError(withKey, "member-hash", "site/docs/big.bin", k);
      expectTextError(withKey, "pack-invalid", k, `content hash is ${other.packs[0]!.id.slice(0, 16)}`);
    }
  });

  it("6. the middle seal dropped: chain-gap naming the snapshot after the gap; --chain-head of the dropped seal: chain-head-missing", async () => {
    const repo = copyRepo();
    fs.rmSync(abs(repo, sealKey(snaps[1]!.snapshot)));

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([{ code: "chain-gap", object: undefined, snapshot: snaps[2]!.snapshot, path: undefined }]);
    expectTextError(plain, "chain-gap", snaps[2]!.snapshot, "seal 2 of the chain is missing");
    // The dropped snapshot's objects are no longer checked (nothing signed names them any more).
    expect(plain.json.snapshotsChecked).toEqual([snaps[0]!.snapshot, snaps[2]!.snapshot]);

    const pinned = await verify(repo, ["--chain-head", snaps[1]!.chainHead]);
    expect(pinned.code, pinned.text).toBe(3);
    expect(pinned.errors).toEqual([
      { code: "chain-gap", object: undefined, snapshot: snaps[2]!.snapshot, path: undefined },
      { code: "chain-head-missing", object: undefined, snapshot: undefined, path: undefined },
    ]);
    expectTextError(pinned, "chain-head-missing", snaps[1]!.chainHead);

    // The same pin on the untouched repository passes.
    const ok = await verify(t.repo, ["--chain-head", snaps[1]!.chainHead]);
    expect(ok.code, ok.text).toBe(0);
  });

  it("6b. the last seal dropped leaves a chain that is whole: only a pinned chain head catches it", async () => {
    const repo = copyRepo();
    fs.rmSync(abs(repo, sealKey(snaps[2]!.snapshot)));
    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(0); // nothing on storage can tell: this is why heads are logged
    const pinned = await verify(repo, ["--chain-head", snaps[2]!.chainHead]);
    expect(pinned.code, pinned.text).toBe(3);
    expect(pinned.errors).toEqual([{ code: "chain-head-missing", object: undefined, snapshot: undefined, path: undefined }]);
  });

  it("7. a pack truncated by one byte: object-size naming the pack", async () => {
    const repo = copyRepo();
    const s = snaps[2]!;
    const p = s.packs.at(-1)!; // the pack snapshot 3 wrote (its first is snapshot 2's)
    const key = packKey(p.id);
    fs.truncateSync(abs(repo, key), p.size - 1);

    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(3);
    expect(plain.errors).toEqual([{ code: "object-size", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(plain, "object-size", key, `${p.size - 1} bytes`, `recorded ${p.size}`);

    // With the key too: a wrong size is named as such before anything is decrypted.
    const withKey = await verify(repo, keyed());
    expect(withKey.code, withKey.text).toBe(3);
    expect(withKey.errors).toEqual([{ code: "object-size", object: key, snapshot: s.snapshot, path: undefined }]);
    expectTextError(withKey, "object-size", key, `${p.size - 1} bytes`);
  });

  it("8. isnad.json's signer replaced and every seal re-signed: passes plain verify, fails --signer <recorded fingerprint>", async () => {
    const repo = copyRepo();
    // The attacker controls the storage: new key pair, new isnad.json, every seal re-signed and
    // re-chained with it (the parent hashes change because the seal bytes change).
    const attacker = generateSignerPem();
    const attackerKey = createPrivateKey(attacker.privatePem);
    const attackerFp = signerFingerprint(attacker.publicKey);
    const cfgFile = path.join(repo, "isnad.json");
    const cfg = JSON.parse(fs.readFileSync(cfgFile, "utf8")) as { signer: { public_key: string; fingerprint: string } };
    expect(cfg.signer.fingerprint).toBe(t.fingerprint);
    cfg.signer.public_key = attacker.publicKey.toString("base64");
    cfg.signer.fingerprint = attackerFp;
    fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2) + "\n");
    let parent: string | null = null;
    for (const s of snaps) {
      const file = abs(repo, sealKey(s.snapshot));
      const body: SealBody = { ...decodeSeal(fs.readFileSync(file)).body, signer: attackerFp, parent };
      const bytes = encodeSeal(body, sign(null, sealSignedBytes(body), attackerKey));
      fs.writeFileSync(file, bytes);
      parent = sha256Hex(bytes);
    }

    // Everything is self-consistent: without a recorded fingerprint nothing can tell.
    const plain = await verify(repo);
    expect(plain.code, plain.text).toBe(0);
    expect(plain.json.findings).toEqual([]);
    expect(plain.text).toContain(`signer ${attackerFp}`);
    const withKey = await verify(repo, keyed());
    expect(withKey.code, withKey.text).toBe(0);

    // The fingerprint recorded at init (printed by isnad init) catches it.
    const pinned = await verify(repo, ["--signer", t.fingerprint]);
    expect(pinned.code, pinned.text).toBe(3);
    expect(pinned.errors).toEqual([{ code: "seal-signer", object: undefined, snapshot: undefined, path: undefined }]);
    expectTextError(pinned, "seal-signer", attackerFp, t.fingerprint);
    // So does a chain head from an earlier log: re-signing changed every seal's bytes.
    const head = await verify(repo, ["--chain-head", snaps[2]!.chainHead]);
    expect(head.code, head.text).toBe(3);
    expect(head.errors.map((e) => e.code)).toEqual(["chain-head-missing"]);
    // And the untouched repository passes the same --signer check.
    const genuine = await verify(t.repo, ["--signer", t.fingerprint.toUpperCase()]);
    expect(genuine.code, genuine.text).toBe(0);
  });

  it("9. a forged pack (encrypted to the public recipient, stored under its true sha256 name) is in no signed seal: ignored", async () => {
    const repo = copyRepo();
    // The attacker holds only the public recipient (from isnad.json) and builds a well-formed
    // pack whose member has the path of a real file, with content of their choosing.
    const cfg = JSON.parse(fs.readFileSync(path.join(repo, "isnad.json"), "utf8")) as { recipients: string[] };
    expect(cfg.recipients).toEqual([t.recipient]);
    const evil = sb.path("evil.txt");
    fs.writeFileSync(evil, "forged letter\n");
    const staging = sb.path(`forge-${copies}`);
    fs.mkdirSync(staging);
    const w = await PackWriter.open(staging, cfg.recipients, false);
    const fd = fs.openSync(evil, "r");
    const st = fs.fstatSync(fd, { bigint: true });
    w.addFile("site/docs/a.txt", fd, { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino }, 0o644);
    fs.closeSync(fd);
    const forged = w.finish();
    expect(createHash("sha256").update(fs.readFileSync(forged.file)).digest("hex")).toBe(forged.id);
    const forgedKey = packKey(forged.id);
    fs.mkdirSync(path.dirname(abs(repo, forgedKey)), { recursive: true });
    fs.copyFileSync(forged.file, abs(repo, forgedKey));

    // A forged pack is not in any signed seal: verify checks only what seals name, so it passes,
    // with the same objects checked as before, and restore/diff never read it.
    const [plain, withKey] = await Promise.all([verify(repo), verify(repo, keyed())]);
    for (const v of [plain, withKey]) {
      expect(v.code, v.text).toBe(0);
      expect(v.json.findings).toEqual([]);
      expect(v.json.objectsChecked).toBe(objectCount);
    }

    // Put in place of a real pack (under the real pack's name) it is caught like any other change.
    const victim = snaps[0]!;
    const victimKey = packKey(victim.packs[0]!.id);
    fs.copyFileSync(forged.file, abs(repo, victimKey));
    const replaced = await verify(repo);
    expect(replaced.code, replaced.text).toBe(3);
    expect(replaced.errors).toEqual([{ code: "object-size", object: victimKey, snapshot: victim.snapshot, path: undefined }]);
    // With the key, its size is checked before it is decrypted: it is never read as data.
    const replacedKeyed = await verify(repo, keyed());
    expect(replacedKeyed.code, replacedKeyed.text).toBe(3);
    expect(replacedKeyed.errors).toEqual([{ code: "object-size", object: victimKey, snapshot: victim.snapshot, path: undefined }]);
    expectTextError(replacedKeyed, "object-size", victimKey, `${forged.size} bytes`);
  });
});
