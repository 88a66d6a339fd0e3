/**
 * The pipeline at its limits, reached with a small tree by lowering them: packs closed by size
 * and by the number of manifest entries waiting for them, in any interleaving of compressed and
 * plain files. (A pack closed twice once crashed a 50 000-file snapshot.)
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AgeIdentities } from "../../src/crypto/age.js";
import { generateIdentity, generateSignerPem, loadSigner, signerFingerprint, writeKeyFile } from "../../src/keys/index.js";
import { initRepository } from "../../src/repo/repository.js";
import { restoreSnapshot } from "../../src/restore/restore.js";
import { createSnapshot } from "../../src/snapshot/snapshot.js";
import { LocalStorage } from "../../src/storage/local.js";
import { verifyRepository } from "../../src/verify/verify.js";
import { describeTree } from "../helpers/tree.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-limits-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each([
  { maxPendingEntries: 7, packTargetBytes: 128 << 20 },
  { maxPendingEntries: 50_000, packTargetBytes: 20_000 },
  { maxPendingEntries: 5, packTargetBytes: 9_000 },
])("limits %o", (limits) => {
  it("make several packs, and the snapshot verifies and restores whole", async () => {
    const base = fs.mkdtempSync(path.join(dir, "case-"));
    const src = path.join(base, "src");
    for (let i = 0; i < 60; i++) {
      const sub = path.join(src, `d${i % 4}`);
      fs.mkdirSync(sub, { recursive: true });
      // alternate compressible text and random bytes, so both kinds of pack fill at once
      fs.writeFileSync(path.join(sub, `f${i}`), i % 3 ? `line ${i}\n`.repeat(50 + i * 7) : randomBytes(17_000 + i * 100)); // over 16 KiB: sampled, found incompressible
    }
    const { identity, recipient } = await generateIdentity("classic");
    const { privatePem, publicKey } = generateSignerPem();
    await writeKeyFile(path.join(base, "signer.key"), privatePem);
    const repo = await initRepository(new LocalStorage(path.join(base, "repo")), {
      recipients: [recipient],
      signerPublicKey: publicKey,
      signerFingerprint: signerFingerprint(publicKey),
    });
    const signer = await loadSigner(path.join(base, "signer.key"));
    const res = await createSnapshot({ repo, signer, sources: [{ label: "src", type: "dir", path: src }], limits, env: { XDG_CACHE_HOME: path.join(base, "cache") } });
    expect(res.stats.files).toBe(60);
    expect(res.packs.length).toBeGreaterThan(2);
    expect(res.packs.some((p) => p.compression === "zstd") && res.packs.some((p) => !p.compression)).toBe(true);
    const ids = new AgeIdentities([identity]);
    const v = await verifyRepository({ repo, identities: ids });
    expect(v.findings).toEqual([]);
    expect(v.filesChecked).toBe(60);
    const seal = (await import("../../src/repo/repository.js")).readSeals(repo);
    const out = path.join(base, "out");
    const r = await restoreSnapshot({ repo, seal: (await seal)[0]!, identities: ids, target: out });
    expect(r.findings).toEqual([]);
    const a = describeTree(src);
    const b = describeTree(path.join(out, "src"));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, e] of a) expect(b.get(k)?.sha256, k).toBe(e.sha256);
  });
});
