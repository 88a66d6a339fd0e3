/** Sets up a repository through the CLI: keygen, init. Returns what later steps need. */
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import type { Sandbox } from "./cli.js";

export interface TestRepo {
  repo: string;
  key: string;
  recipient: string;
  fingerprint: string;
  signingKey: string;
}

export async function initRepo(sb: Sandbox, opts?: { classic?: boolean; name?: string }): Promise<TestRepo> {
  const name = opts?.name ?? "repo";
  const key = sb.path(`${name}-key.txt`);
  const kg = await sb.run(["keygen", ...(opts?.classic === false ? [] : ["--classic"]), "-o", key]);
  expect(kg.code, kg.stderr).toBe(0);
  const recipient = /^# public key: (\S+)$/m.exec(readFileSync(key, "utf8"))![1]!;
  const init = await sb.run(["--json", "init", "--repo", sb.path(name), "--recipient", recipient]);
  expect(init.code, init.stderr).toBe(0);
  const r = JSON.parse(init.stdout) as { signer: { fingerprint: string; key: string } };
  return { repo: sb.path(name), key, recipient, fingerprint: r.signer.fingerprint, signingKey: r.signer.key };
}
