/** isnad snapshot: backs up the config's sources (or the folders given) into a new snapshot. */
import { Command } from "@commander-js/extra-typings";
import { adHocSources } from "../../config/index.js";
import { usageError } from "../../errors.js";
import { acquireLock, describeHolder, parseDuration } from "../../repo/lock.js";
import { createSnapshot } from "../../snapshot/snapshot.js";
import { EXIT } from "../exit-codes.js";
import { findConfig, openRepo, signerFor, type Context } from "../context.js";
import { formatBytes, formatDuration } from "../output/print.js";

export function snapshotCommand(run: (fn: (ctx: Context) => Promise<void>) => Promise<void>) {
  return new Command("snapshot")
    .alias("backup")
    .description("back up the sources of the config file, or the folders given, into a new signed snapshot")
    .argument("[paths...]", "folders to back up instead of the config's sources (needs --repo)")
    .option("--signing-key <file>", "the repository's snapshot-signing key (default: from init)")
    .option("--host <name>", "host name to record (default: this machine's)")
    .option("--wait <duration>", "if another run holds the repository lock, wait up to this long (e.g. 30s, 10m, 1h) instead of exiting 75")
    .action((paths, opts) =>
      run(async (ctx) => {
        const config = paths.length > 0 && ctx.globals.repo && !ctx.globals.config ? undefined : await findConfig(ctx);
        const sources = paths.length > 0 ? adHocSources(paths, process.cwd()) : config?.sources;
        if (!sources || sources.length === 0) {
          throw usageError("nothing to back up", "give folders (isnad snapshot --repo R DIR…) or a config with sources (--config isnad.yaml)");
        }
        const waitMs = opts.wait === undefined ? 0 : parseDuration(opts.wait);
        if (waitMs === undefined) throw usageError(`--wait "${opts.wait}" is not a duration`, "use e.g. 90s, 10m, 1h or 1h30m");
        const repo = await openRepo(ctx, config);
        const signer = await signerFor(repo, opts.signingKey, config);
        const lock = await acquireLock(repo, {
          command: "snapshot",
          waitMs,
          onEvent: (e) => {
            if (e.type === "waiting") ctx.log.info({ holder: e.holder }, `waiting for ${describeHolder(e.holder)}`);
            else if (e.type === "host-local") {
              ctx.log.warn({ folder: e.folder }, `the repository is append-only: locking in ${e.folder} on this host only; runs on other hosts are not excluded`);
            } else ctx.log.warn({ holder: e.holder }, `took over a stale lock: ${e.why}`);
          },
        });
        ctx.log.info({ repository: repo.storage.location, sources: sources.map((s) => s.label) }, "snapshot started");
        const result = await createSnapshot({
          repo,
          signer,
          sources,
          host: opts.host,
          beforeSeal: () => lock.assertHeld(),
          onEvent: (e) => {
            if (e.type === "warning") ctx.log.warn({ path: e.path }, e.message);
            else if (e.type === "unreadable") ctx.log.error({ path: e.path, error: e.error }, "cannot read; recorded as missing");
            else if (e.type === "pack") ctx.log.debug({ pack: e.id, size: e.size, files: e.files }, "pack stored");
            else if (e.type === "source") ctx.log.debug({ source: e.label, type: e.kind }, "source");
          },
        }).finally(() => lock.release());
        const incomplete = result.missing.length > 0;
        ctx.log.info(
          { snapshot: result.snapshot, seq: result.seq, chainHead: result.chainHead, files: result.stats.files, bytes: result.stats.bytes, missing: result.stats.missing, durationMs: result.durationMs },
          incomplete ? "snapshot complete, with unreadable files" : "snapshot complete",
        );
        ctx.out.result({ ...result, repository: repo.storage.location, complete: !incomplete });
        const s = result.stats;
        ctx.out.line(`snapshot ${result.snapshot} (seq ${result.seq}) saved to ${repo.storage.location}`);
        ctx.out.line(`  files ${s.files}, folders ${s.dirs}, symlinks ${s.symlinks}, ${formatBytes(s.bytes)} (${formatBytes(s.new_bytes)} new)`);
        ctx.out.line(`  ${result.packs.length} pack${result.packs.length === 1 ? "" : "s"}, took ${formatDuration(result.durationMs)}`);
        ctx.out.line(`  chain head ${result.chainHead}`);
        if (s.skipped) ctx.out.line(`  ${s.skipped} special file${s.skipped === 1 ? "" : "s"} skipped`);
        if (s.changed) ctx.out.line(`  ${s.changed} file${s.changed === 1 ? "" : "s"} changed while being read (flagged): ${result.changed.slice(0, 5).join(", ")}${s.changed > 5 ? ", …" : ""}`);
        if (incomplete) {
          ctx.out.line(`  INCOMPLETE: ${s.missing === 1 ? "1 entry" : `${s.missing} entries`} could not be read; recorded as missing:`);
          for (const m of result.missing.slice(0, 20)) ctx.out.line(`    ${m.path}: ${m.error}`);
          if (result.missing.length > 20) ctx.out.line(`    … and ${result.missing.length - 20} more (see the log)`);
          ctx.exitCode = EXIT.incomplete;
        }
      }),
    );
}
