/**
 * Standard tools alone get the data out of a repository made with a classic key:
 * `age -d -i key.txt pack | [zstd -d |] tar -x && sha256sum -c .isnad/manifest-sha256.txt`, and
 * the manifest is JSON Lines once `age -d` has decrypted it. The seal says which packs are zstd.
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandbox, skipWithout, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { describeTree, makeOddTree } from "../helpers/tree.js";

const sh = (cmd: string, cwd: string) => spawnSync("bash", ["-o", "pipefail", "-c", cmd], { cwd, encoding: "utf8" });

describe.skipIf(skipWithout("age") || skipWithout("zstd"))("standard tools: Go age, GNU tar, sha256sum", () => {
  let sb: Sandbox;
  let r: TestRepo;
  let src: string;

  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb, { classic: true });
    src = sb.path("site");
    makeOddTree(src);
    // Content that does not compress goes to a plain pack: random bytes and a "JPEG".
    fs.writeFileSync(path.join(src, "photo.jpg"), crypto.randomBytes(5000));
    fs.writeFileSync(path.join(src, "noise.bin"), crypto.randomBytes(200_000));
    const res = await sb.run(["snapshot", "--repo", r.repo, src]);
    expect(res.code, res.stderr).toBe(0);
  });
  afterAll(() => sb.cleanup());

  it("age -d | zstd -d | tar -x (compressed) and age -d | tar -x (plain), then sha256sum -c, give back every file", () => {
    const seal = JSON.parse(fs.readFileSync(path.join(r.repo, "snapshots", fs.readdirSync(path.join(r.repo, "snapshots"))[0]!), "utf8"));
    const packs = seal.seal.packs as Array<{ id: string; compression?: string }>;
    expect(packs.map((p) => p.compression ?? "none").sort()).toEqual(["none", "zstd"]);
    const got = new Map<string, string>();
    for (const p of packs) {
      const out = sb.path(`by-hand-${p.id.slice(0, 8)}`);
      fs.mkdirSync(out);
      const file = path.join(r.repo, "packs", p.id.slice(0, 2), `${p.id}.age`);
      const x = sh(`age -d -i '${r.key}' '${file}' | ${p.compression === "zstd" ? "zstd -d |" : ""} tar -x`, out);
      expect(x.status, x.stderr).toBe(0);
      const c = sh("sha256sum -c .isnad/manifest-sha256.txt", out);
      expect(c.status, c.stdout + c.stderr).toBe(0);
      for (const [rel, e] of describeTree(path.join(out, "site"))) if (e.type === "file") got.set(rel, e.sha256!);
    }
    expect(got.has("photo.jpg") && got.has("noise.bin")).toBe(true);
    // every regular file came out byte for byte (symlinks and empty folders live in the manifest)
    const orig = [...describeTree(src)].filter(([, e]) => e.type === "file");
    expect(orig.length).toBe(15);
    for (const [rel, e] of orig) expect(got.get(rel), rel).toBe(e.sha256);
  });

  it("age -d opens the manifest: JSON Lines naming every entry", () => {
    const m = fs.readdirSync(path.join(r.repo, "manifests"))[0]!;
    const d = sh(`age -d -i '${r.key}' '${path.join(r.repo, "manifests", m)}'`, sb.dir);
    expect(d.status, d.stderr).toBe(0);
    const lines = d.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ format: "isnad-manifest/1" });
    expect(lines.at(-1)).toEqual({ end: true, entries: lines.length - 2 });
    const paths = lines.slice(1, -1).map((e) => e.path);
    expect(paths).toContain("site/reports/تقرير موجز.html");
    expect(paths).toContain("site/empty-dir/nested-empty");
    expect(lines.find((e) => e.path === "site/link-to-index")).toMatchObject({ type: "symlink", target: "index.html" });
  });
});
