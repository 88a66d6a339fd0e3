/** isnad verify: checks seals, chain and objects; with -i also every byte of every file. */
import { usageError } from "../../errors.js";
import { resolveSnapshot } from "../../repo/repository.js";
import { isError } from "../../verify/findings.js";
import { verifyRepository } from "../../verify/verify.js";
import { EXIT } from "../exit-codes.js";
import { findConfig, identitiesFor, openRepo, type Context } from "../context.js";
import { formatBytes } from "../output/print.js";
import { createProgress } from "../output/progress.js";

/** As parsed by its command line in ../program.ts. */
export interface VerifyOptions {
  all?: boolean;
  identity?: string;
  signer?: string;
  chainHead?: string;
}

export async function action(ctx: Context, id: string | undefined, opts: VerifyOptions): Promise<void> {
  if (id && opts.all) throw usageError("give a snapshot id or --all, not both");
  if (opts.signer && !/^[0-9a-fA-F]{64}$/.test(opts.signer)) throw usageError(`--signer "${opts.signer}" is not a fingerprint (64 hex digits, as printed by isnad init)`);
  if (opts.chainHead && !/^[0-9a-fA-F]{64}$/.test(opts.chainHead)) throw usageError(`--chain-head "${opts.chainHead}" is not a SHA-256 (64 hex digits)`);
  const config = await findConfig(ctx);
  const repo = await openRepo(ctx, config);
  const identities = opts.identity ? await identitiesFor(opts.identity, config, "verify") : undefined;
  const snapshots = id ? [(await resolveSnapshot(repo, id)).body.snapshot] : undefined;
  const bar = createProgress("verify", ctx.globals);
  const report = await verifyRepository({
    repo,
    snapshots,
    identities,
    expectedSigner: opts.signer,
    expectedHead: opts.chainHead,
    onEvent: (e) => {
      if (e.type === "progress") bar.update({ count: e.objects, bytes: e.bytes, totalCount: e.totalObjects, totalBytes: e.totalBytes });
      else if (e.type === "finding") ctx.log[e.finding.severity === "error" ? "error" : e.finding.severity === "warning" ? "warn" : "info"]({ code: e.finding.code, snapshot: e.finding.snapshot, object: e.finding.object, path: e.finding.path }, e.finding.message);
    },
  }).finally(() => bar.stop());
  const errors = report.findings.filter(isError);
  ctx.exitCode = errors.length ? EXIT.integrity : EXIT.ok;
  ctx.log.info({ seals: report.seals, objects: report.objectsChecked, files: report.filesChecked, chainHead: report.chainHead, errors: errors.length }, errors.length ? "verify found problems" : "verify ok");
  ctx.out.result({ ok: errors.length === 0, ...report });
  ctx.out.line(`repository ${repo.storage.location} (id ${report.repository})`);
  ctx.out.line(`signer ${report.signer}`);
  ctx.out.line(`${report.seals} seal${report.seals === 1 ? "" : "s"}${report.removedByPolicy ? ` (and ${report.removedByPolicy} snapshot${report.removedByPolicy === 1 ? "" : "s"} removed by policy, each named in a signed removal record)` : ""}; chain head ${report.chainHead ?? "(none)"}`);
  ctx.out.line(`checked ${report.snapshotsChecked.length} snapshot${report.snapshotsChecked.length === 1 ? "" : "s"}: ${report.objectsChecked} objects, ${formatBytes(report.bytesChecked)}${report.withKey ? `, ${report.filesChecked} files decrypted and hashed` : " (storage level; pass -i to check every file)"}`);
  const infos = report.findings.filter((f) => f.severity === "info");
  for (const f of infos.slice(0, 20)) ctx.out.line(`info [${f.code}] ${f.message}`);
  if (infos.length > 20) ctx.out.line(`info … and ${infos.length - 20} more (see --json)`);
  for (const f of report.findings) if (f.severity !== "info") ctx.out.line(`${f.severity === "error" ? "ERROR" : "warning"} [${f.code}] ${f.message}`);
  ctx.out.line(errors.length ? `FAILED: ${errors.length} problem${errors.length === 1 ? "" : "s"} found` : "OK: every check passed");
}
