/**
 * Standard tools alone get the data out of a repository made with a classic key:
 * `age -d -i key.txt pack | tar -x && sha256sum -c .isnad/manifest-sha256.txt`, and the
 * manifest is JSON Lines once `age -d` has decrypted it.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandbox, skipWithout, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { describeTree, makeOddTree } from "../helpers/tree.js";

const sh = (cmd: string, cwd: string) => spawnSync("bash", ["-o", "pipefail", "-c", cmd], { cwd, encoding: "utf8" });

describe.skipIf(skipWithout("age"))("standard tools: Go age, GNU tar, sha256sum", () => {
  let sb: Sandbox;
  let r: TestRepo;
  let src: string;

  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb, { classic: true });
    src = sb.path("site");
    makeOddTree(src);
    const res = await sb.run(["snapshot", "--repo", r.repo, src]);
    expect(res.code, res.stderr).toBe(0);
  });
  afterAll(() => sb.cleanup());

  it("age -d | tar -x && sha256sum -c restores and checks every file of a pack", () => {
    const packs = fs.readdirSync(path.join(r.repo, "packs"), { recursive: true }).map(String).filter((p) => p.endsWith(".age"));
    expect(packs.length).toBe(1);
    const out = sb.path("by-hand");
    fs.mkdirSync(out);
    const x = sh(`age -d -i '${r.key}' '${path.join(r.repo, "packs", packs[0]!)}' | tar -x`, out);
    expect(x.status, x.stderr).toBe(0);
    const c = sh("sha256sum -c .isnad/manifest-sha256.txt", out);
    expect(c.status, c.stdout + c.stderr).toBe(0);
    expect(c.stdout.trim().split("\n").length).toBe(13);
    // every regular file came out byte for byte (symlinks and empty folders live in the manifest)
    const orig = describeTree(src);
    const got = describeTree(path.join(out, "site"));
    for (const [rel, e] of orig) {
      if (e.type === "file") expect(got.get(rel)?.sha256, rel).toBe(e.sha256);
    }
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
