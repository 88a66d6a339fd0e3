/**
 * The CLI against an rclone repository (a `local` remote from a temp rclone config, picked by
 * RCLONE_CONFIG as a user would): the round trip, and storage.rclone.config from isnad.yaml.
 * Skipped loudly without rclone; in CI (CI=true) a missing rclone fails.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandbox, skipWithout, type RunResult, type Sandbox } from "../helpers/cli.js";
import { remoteForgetPrune, remoteRoundTrip } from "../helpers/remote-roundtrip.js";

const skip = skipWithout("rclone");
let sb: Sandbox;
let env: NodeJS.ProcessEnv;
const outputs: RunResult[] = [];

beforeAll(() => {
  sb = sandbox();
  fs.writeFileSync(sb.path("rclone.conf"), "[offsite]\ntype = local\n");
  env = { RCLONE_CONFIG: sb.path("rclone.conf") };
});
afterAll(() => sb?.cleanup());

describe.skipIf(skip)("rclone round trip through the CLI", () => {
  const trip = remoteRoundTrip(() => ({ sb, url: `rclone:offsite:${sb.path("remote/isnad")}`, env, outputs }));

  it("the objects landed in the remote's folder, with no temporary leftovers", () => {
    const root = sb.path("remote/isnad");
    expect(fs.existsSync(`${root}/isnad.json`)).toBe(true);
    expect(fs.readdirSync(`${root}/snapshots`).filter((n) => n.endsWith(".seal.json")).length).toBe(2);
    const tmp = fs.existsSync(`${root}/tmp`) ? fs.readdirSync(`${root}/tmp`) : [];
    expect(tmp).toEqual([]);
  });

  it("takes rclone's config file from isnad.yaml (storage.rclone.config)", async () => {
    const cfg = sb.path("isnad.yaml");
    fs.writeFileSync(
      cfg,
      `repository: rclone:offsite:${sb.path("remote/isnad")}\nstorage:\n  rclone:\n    config: ./rclone.conf\nsources:\n  - label: site\n    type: dir\n    path: ./site\n`,
    );
    try {
      const r = await sb.run(["--json", "snapshots", "--config", cfg]);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as unknown[]).length).toBe(2);
    } finally {
      fs.rmSync(cfg);
    }
  });

  it("an unknown remote: exit 1, one line with a hint", async () => {
    const r = await sb.run(["snapshots", "--repo", "rclone:nowhere:isnad"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^isnad: rclone .*rclone:nowhere:isnad.*\n\s+hint: check the remote name against `rclone listremotes`/m);
  });
  remoteForgetPrune(() => ({ sb, url: `rclone:offsite:${sb.path("remote/isnad")}`, env, outputs }), trip.repo, trip.src);
});
