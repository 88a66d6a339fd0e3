/**
 * The CLI against an S3 repository on a real S3-protocol server (s3rver on 127.0.0.1): the round
 * trip, the config file's storage.s3 block, no secret in any output, clear errors for a missing
 * bucket and missing credentials, and a server that dies mid-snapshot.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandbox, type RunResult, type Sandbox } from "../helpers/cli.js";
import { initRemote, remoteForgetPrune, remoteRoundTrip } from "../helpers/remote-roundtrip.js";
import { S3RVER_ENV, startRecorder, startS3rver, type S3rverHandle } from "../helpers/s3rver.js";
import { writeBigFile } from "../helpers/tree.js";

const BUCKET = "isnad-cli";
const SECRET = `s3cret-${randomBytes(10).toString("hex")}`;
let server: S3rverHandle;
let sb: Sandbox;
const outputs: RunResult[] = [];
// s3rver accepts any key pair: a unique secret lets the test look for it in every output.
const env: NodeJS.ProcessEnv = { ...S3RVER_ENV, AWS_SECRET_ACCESS_KEY: SECRET, AWS_EC2_METADATA_DISABLED: "true" };
const url = (prefix: string, endpoint = server.endpoint) => `s3://${BUCKET}/${prefix}?endpoint=${endpoint}&path_style=true`;

beforeAll(async () => {
  server = await startS3rver({ buckets: [BUCKET] });
  sb = sandbox();
});
afterAll(async () => {
  sb?.cleanup();
  await server?.stop();
});

describe("s3 round trip through the CLI", () => {
  const trip = remoteRoundTrip(() => ({ sb, url: url("org/backups"), env, outputs }));

  it("reads the endpoint and path style from isnad.yaml's storage.s3 block", async () => {
    const cfg = sb.path("isnad.yaml");
    fs.writeFileSync(
      cfg,
      `repository: s3://${BUCKET}/org/backups\nstorage:\n  s3:\n    endpoint: ${server.endpoint}\n    path_style: true\nsources:\n  - label: site\n    type: dir\n    path: ./site\n`,
    );
    const r = await sb.run(["--json", "snapshots", "--config", cfg], { env });
    outputs.push(r);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as unknown[]).length).toBe(2);
    const bad = fs.readFileSync(cfg, "utf8").replace("path_style", "path_stlye");
    fs.writeFileSync(cfg, bad);
    const b = await sb.run(["snapshots", "--config", cfg], { env });
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/isnad\.yaml: storage\.s3: unknown key "path_stlye"\n\s+hint: did you mean "path_style"\?/);
    fs.rmSync(cfg);
  });

  it("never prints the secret key, even at debug level", () => {
    expect(outputs.length).toBeGreaterThan(5);
    for (const o of outputs) {
      expect(o.stdout).not.toContain(SECRET);
      expect(o.stderr).not.toContain(SECRET);
    }
  });

  it("a bucket that does not exist: exit 1, one line naming it", async () => {
    const r = await sb.run(["snapshots", "--repo", `s3://no-such-bucket/x?endpoint=${server.endpoint}&path_style=true`], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^isnad: bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+\n\s+hint: create it first/m);
    expect(r.stderr).not.toContain(SECRET);
  });

  it("no credentials: exit 1, naming where credentials come from", async () => {
    const noCreds = {
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_SHARED_CREDENTIALS_FILE: sb.path("none/credentials"),
      AWS_CONFIG_FILE: sb.path("none/config"),
    };
    const r = await sb.run(["snapshots", "--repo", url("org/backups")], { env: noCreds });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^isnad: no S3 credentials for s3:\/\/isnad-cli\/org\/backups\n\s+hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/m);
  });

  it("credentials in the URL are refused before anything is sent", async () => {
    const r = await sb.run(["snapshots", "--repo", `s3://AKIDEXAMPLE:${SECRET}@${BUCKET}/x`], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("credentials do not belong in the URL");
    expect(r.stderr).not.toContain(SECRET);
  });

  it("the server dying mid-snapshot fails the run cleanly; the repository still verifies and the next run completes", async () => {
    const rec = await startRecorder(server.port);
    const repoUrl = url("crash", rec.endpoint);
    const repo = await initRemote(sb, repoUrl, env, "crash");
    const src = sb.path("crash-src");
    fs.mkdirSync(src);
    fs.writeFileSync(`${src}/small.txt`, "first\n");
    const first = await sb.run(["snapshot", "--repo", repoUrl, src], { env });
    expect(first.code, first.stderr).toBe(0);

    writeBigFile(`${src}/big.bin`, 48 << 20);
    let killed: Promise<void> | undefined;
    const start = rec.bytesUp();
    rec.onBytes = (n) => {
      if (n - start > 20 << 20 && !killed) killed = server.kill();
    };
    const crash = await sb.run(["snapshot", "--repo", repoUrl, src], { env });
    expect(killed, "the server was killed mid-upload").toBeDefined();
    await killed;
    expect(crash.code, crash.stderr).toBe(1);
    expect(crash.stderr).toMatch(/^isnad: .*s3:\/\/isnad-cli\/crash .*(cannot reach|failed|cut off).*\n/m);
    expect(crash.stderr).not.toContain(SECRET);

    rec.onBytes = undefined;
    await server.restart();
    const direct = url("crash");
    const v = await sb.run(["--json", "verify", "--repo", direct, "-i", repo.key], { env });
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true });
    expect((JSON.parse(v.stdout) as { snapshotsChecked: string[] }).snapshotsChecked).toHaveLength(1);
    const again = await sb.run(["snapshot", "--repo", direct, src], { env });
    expect(again.code, again.stderr).toBe(0);
    const v2 = await sb.run(["--json", "verify", "--repo", direct, "-i", repo.key], { env });
    expect(v2.code, v2.stdout + v2.stderr).toBe(0);
    await rec.close();
  }, 240_000);
  remoteForgetPrune(() => ({ sb, url: url("org/backups"), env, outputs }), trip.repo, trip.src);
});
