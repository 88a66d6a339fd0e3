/** isnad snapshot: backs up the config's sources (or the folders given) into a new snapshot. */
import { adHocSources } from "../../config/index.js";
import { usageError } from "../../errors.js";
import { parseDuration } from "../../repo/lock.js";
import { runSnapshotJob } from "../snapshot-job.js";
import { findConfig, openRepo, signerFor, type Context } from "../context.js";
import { formatBytes, formatDuration } from "../output/print.js";

/** As parsed by its command line in ../program.ts. */
export interface SnapshotOptions {
  signingKey?: string;
  host?: string;
  rehash?: boolean;
  wait?: string;
}

export async function action(ctx: Context, paths: string[], opts: SnapshotOptions): Promise<void> {
  const config = paths.length > 0 && ctx.globals.repo && !ctx.globals.config ? undefined : await findConfig(ctx);
  const sources = paths.length > 0 ? adHocSources(paths, process.cwd()) : config?.sources;
  if (!sources || sources.length === 0) {
    throw usageError("nothing to back up", "give folders (isnad snapshot --repo R DIR…) or a config with sources (--config isnad.yaml)");
  }
  const waitMs = opts.wait === undefined ? 0 : parseDuration(opts.wait);
  if (waitMs === undefined) throw usageError(`--wait "${opts.wait}" is not a duration`, "use e.g. 90s, 10m, 1h or 1h30m");
  const repo = await openRepo(ctx, config, { encrypting: true });
  const signer = await signerFor(repo, opts.signingKey, config);
  const job = await runSnapshotJob(ctx, { repo, signer, sources, hooks: config?.hooks, host: opts.host, waitMs, command: "snapshot", progress: true, rehash: opts.rehash === true });
  if (!job.result) throw job.error; // reported by main (its exit code is job.exitCode)
  const result = job.result;
  const incomplete = result.missing.length > 0;
  ctx.exitCode = job.exitCode;
  ctx.out.result({ ...result, repository: repo.storage.location, complete: !incomplete, exitCode: job.exitCode, hookFailed: job.hookFailed });
  const s = result.stats;
  ctx.out.line(`snapshot ${result.snapshot} (seq ${result.seq}) saved to ${repo.storage.location}`);
  ctx.out.line(`  files ${s.files}, folders ${s.dirs}, symlinks ${s.symlinks}, ${formatBytes(s.bytes)} (${formatBytes(s.new_bytes)} new)`);
  const inc = result.incremental;
  ctx.out.line(
    `  ${inc.unchanged} file${inc.unchanged === 1 ? "" : "s"} unchanged (cache), ${inc.reused} already stored, ${inc.stored} new` +
      (inc.cache === "off" ? " (no cache)" : opts.rehash ? " (--rehash: every file read)" : ""),
  );
  const old = result.packs.length - inc.newPacks;
  ctx.out.line(`  ${inc.newPacks} new pack${inc.newPacks === 1 ? "" : "s"}${old ? `, ${old} from earlier snapshots` : ""}, took ${formatDuration(result.durationMs)}`);
  ctx.out.line(`  chain head ${result.chainHead}`);
  if (s.skipped) ctx.out.line(`  ${s.skipped} special file${s.skipped === 1 ? "" : "s"} skipped`);
  if (s.changed) ctx.out.line(`  ${s.changed} file${s.changed === 1 ? "" : "s"} changed while being read (flagged): ${result.changed.slice(0, 5).join(", ")}${s.changed > 5 ? ", …" : ""}`);
  if (incomplete) {
    ctx.out.line(`  INCOMPLETE: ${s.missing === 1 ? "1 entry" : `${s.missing} entries`} could not be read; recorded as missing:`);
    for (const m of result.missing.slice(0, 20)) ctx.out.line(`    ${m.path}: ${m.error}`);
    if (result.missing.length > 20) ctx.out.line(`    … and ${result.missing.length - 20} more (see the log)`);
  }
  if (job.hookFailed) ctx.out.line(`  the after hook failed (see the log); the snapshot is saved`);
}
