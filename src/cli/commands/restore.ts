/** isnad restore: puts back verified copies of all or part of a snapshot. */
import { resolveSnapshot } from "../../repo/repository.js";
import { restoreSnapshot } from "../../restore/restore.js";
import { EXIT } from "../exit-codes.js";
import { findConfig, identitiesFor, openRepo, type Context } from "../context.js";
import { formatBytes } from "../output/print.js";
import { createProgress } from "../output/progress.js";

/** As parsed by its command line in ../program.ts. */
export interface RestoreOptions {
  target: string;
  include: string[];
  identity?: string;
  overwrite?: boolean;
}

export async function action(ctx: Context, id: string, opts: RestoreOptions): Promise<void> {
  const config = await findConfig(ctx);
  const repo = await openRepo(ctx, config);
  const identities = await identitiesFor(opts.identity, config, "restore");
  const seal = await resolveSnapshot(repo, id);
  const bar = createProgress("restore", ctx.globals);
  const report = await restoreSnapshot({
    repo,
    seal,
    identities,
    target: opts.target,
    include: opts.include,
    overwrite: opts.overwrite ?? false,
    onEvent: (e) => {
      if (e.type === "progress") bar.update({ count: e.files, bytes: e.bytes, totalCount: e.totalFiles, totalBytes: e.totalBytes });
      else if (e.type === "finding") ctx.log.error({ code: e.finding.code, path: e.finding.path, object: e.finding.object }, e.finding.message);
      else ctx.log.debug({ path: e.path, bytes: e.bytes }, "restored");
    },
  }).finally(() => bar.stop());
  ctx.exitCode = report.findings.length ? EXIT.integrity : EXIT.ok;
  ctx.log.info({ snapshot: report.snapshot, target: report.target, files: report.files, refused: report.findings.length }, "restore done");
  ctx.out.result({ ok: report.findings.length === 0, ...report });
  ctx.out.line(`restored snapshot ${report.snapshot} into ${report.target}: ${report.files} files (${formatBytes(report.bytes)}), ${report.dirs} folders, ${report.symlinks} symlinks, every file checked against its SHA-256`);
  for (const n of report.notStored) ctx.out.line(`  not in the snapshot: ${n.path} (${n.why})`);
  for (const f of report.findings) ctx.out.line(`REFUSED [${f.code}] ${f.message}`);
  if (report.findings.length) ctx.out.line(`${report.findings.length} entr${report.findings.length === 1 ? "y was" : "ies were"} not restored`);
}
