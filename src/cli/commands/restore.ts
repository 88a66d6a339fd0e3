/** isnad restore: puts back verified copies of all or part of a snapshot. */
import { Command } from "@commander-js/extra-typings";
import { resolveSnapshot } from "../../repo/repository.js";
import { restoreSnapshot } from "../../restore/restore.js";
import { EXIT } from "../exit-codes.js";
import { findConfig, identitiesFor, openRepo, type Context } from "../context.js";
import { formatBytes } from "../output/print.js";
import { createProgress } from "../output/progress.js";

const collect = (v: string, prev: string[]) => [...prev, v];

export function restoreCommand(run: (fn: (ctx: Context) => Promise<void>) => Promise<void>) {
  return new Command("restore")
    .description("restore a snapshot (or the paths selected with --include) into a folder, checking every file")
    .argument("<snapshot>", "snapshot id, unique prefix or 'latest'")
    .requiredOption("-t, --target <dir>", "folder to restore into (new or empty unless --overwrite)")
    .option("--include <glob>", "restore only matching paths, e.g. 'website/**' (repeatable)", collect, [] as string[])
    .option("-i, --identity <file>", "age identity file")
    .option("--overwrite", "allow a non-empty target; files there are replaced")
    .action((id, opts) =>
      run(async (ctx) => {
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
      }),
    );
}
