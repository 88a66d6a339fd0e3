/**
 * A source folder that holds the repository (or isnad's cache) must not back them up into
 * themselves: each snapshot would otherwise store the previous ones again, and grow forever.
 */
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sandbox, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

let sb: Sandbox;
let t: TestRepo;
beforeAll(async () => {
  sb = sandbox();
  fs.mkdirSync(sb.path("data"));
  fs.writeFileSync(sb.path("data", "report.txt"), "report\n");
  t = await initRepo(sb, { name: "data/repo" });
});
afterAll(() => sb?.cleanup());

it("a repository inside a source is recorded as skipped, not stored, and restores without it", async () => {
  for (let i = 0; i < 2; i++) {
    const r = await sb.run(["--json", "snapshot", "--repo", t.repo, sb.path("data")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the isnad repository itself/);
    const res = JSON.parse(r.stdout) as { stats: { files: number; skipped: number } };
    expect(res.stats.files).toBe(2); // report.txt and the test's key file (initRepo puts it beside the repository), in both runs
    expect(res.stats.skipped, r.stderr).toBe(1);
  }
  const out = sb.path("out");
  const r = await sb.run(["restore", "--repo", t.repo, "-i", t.key, "-t", out, "latest"]);
  expect(r.code, r.stderr).toBe(0);
  expect(fs.readdirSync(path.join(out, "data")).sort()).toEqual(["repo-key.txt", "report.txt"]);
});
