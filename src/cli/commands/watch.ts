/**
 * isnad watch: snapshots the config's folder sources (or the folders given) whenever changes have
 * settled, until SIGINT or SIGTERM. Each snapshot is a full job (hooks, lock, seal) like
 * `isnad snapshot`; a failed one is logged and retried, and watching goes on. On the first signal
 * no new snapshot starts and one in progress is allowed to finish; a second signal exits at once
 * (the seal is written last, so that leaves no partial snapshot, only unreferenced objects).
 */
import path from "node:path";
import { adHocSources } from "../../config/index.js";
import { IsnadError, messageOf, usageError } from "../../errors.js";
import { userCacheDir } from "../../keys/index.js";
import { parseDuration } from "../../repo/lock.js";
import { underAny, WatchLoop, watchFolders } from "../../watch/watch.js";
import { sourcePathFilter } from "../../sources/dir.js";
import { findConfig, openRepo, signerFor, type Context } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { formatDuration } from "../output/print.js";
import { runSnapshotJob } from "../snapshot-job.js";

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** As parsed by its command line in ../program.ts. */
export interface WatchOptions {
  quietPeriod: string;
  maxDelay: string;
  initial: boolean;
  signingKey?: string;
  host?: string;
}

export async function action(ctx: Context, paths: string[], opts: WatchOptions): Promise<void> {
  const quietMs = duration("--quiet-period", opts.quietPeriod);
  const maxDelayMs = duration("--max-delay", opts.maxDelay);
  const config = paths.length > 0 && ctx.globals.repo && !ctx.globals.config ? undefined : await findConfig(ctx);
  const sources = paths.length > 0 ? adHocSources(paths, process.cwd()) : config?.sources;
  if (!sources || sources.length === 0) {
    throw usageError("nothing to watch", "give folders (isnad watch --repo R DIR…) or a config with sources (--config isnad.yaml)");
  }
  const folders = sources.flatMap((s) => (s.type === "dir" ? [s.path] : []));
  if (folders.length === 0) throw usageError("nothing to watch: the config has no folder (type: dir) sources", "schedule command sources with cron instead (see README, Scheduled backups)");
  const repo = await openRepo(ctx, config, { encrypting: true });
  const signer = await signerFor(repo, opts.signingKey, config);
  const location = repo.storage.location;
  const ignored = [userCacheDir(), ...(path.isAbsolute(location) ? [location] : [])];
  // A change counts if it lies in a dir source and is not left out by that source's include/exclude.
  const filters = sources.flatMap((s) => (s.type === "dir" ? [{ root: path.resolve(s.path), keep: sourcePathFilter(s) }] : []));
  const relevant = (abs: string, isDir: boolean): boolean =>
    filters.some((f) => {
      const rel = path.relative(f.root, abs);
      if (rel.startsWith("..") || path.isAbsolute(rel)) return false;
      return f.keep(rel.split(path.sep).join("/"), isDir);
    });

  const loop = new WatchLoop({
    quietMs,
    maxDelayMs,
    onEvent: (e) => {
      if (e.type === "scheduled") ctx.log.debug({ inMs: e.inMs, changes: e.changes }, e.retry ? "retry scheduled" : "snapshot scheduled");
      else if (e.type === "snapshot-end" && e.retryInMs !== undefined) ctx.log.warn({ retryInMs: e.retryInMs }, `snapshot failed; retrying in ${formatDuration(e.retryInMs)} unless stopped`);
      else if (e.type === "snapshot-start") ctx.log.info({ changes: e.changes, initial: e.initial }, e.initial ? "initial snapshot" : `${e.changes} change${e.changes === 1 ? "" : "s"} settled: snapshot`);
    },
    runSnapshot: async () => {
      const job = await runSnapshotJob(ctx, { repo, signer, sources, hooks: config?.hooks, host: opts.host, waitMs: quietMs, command: "watch", progress: false });
      if (!job.result) {
        const err = job.error;
        ctx.log.error({ kind: err instanceof IsnadError ? err.kind : undefined, exitCode: job.exitCode, ...(err instanceof IsnadError && err.hint ? { hint: err.hint } : {}) }, `snapshot failed: ${messageOf(err)}`);
        return false;
      }
      const r = job.result;
      if (ctx.out.json) process.stdout.write(JSON.stringify({ snapshot: r.snapshot, seq: r.seq, time: r.time, chainHead: r.chainHead, stats: r.stats, exitCode: job.exitCode }) + "\n");
      ctx.out.line(`snapshot ${r.snapshot} (seq ${r.seq}): ${r.stats.files} files${r.stats.missing ? `, ${r.stats.missing} missing` : ""}; chain head ${r.chainHead}`);
      return true;
    },
  });

  const stopped = new Promise<string>((resolve) => {
    let first: string | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      if (first === undefined) {
        first = sig;
        ctx.log.info({ signal: sig, snapshotInProgress: loop.busy }, loop.busy ? "stopping after the snapshot in progress (signal again to stop at once)" : "stopping");
        resolve(sig);
        return;
      }
      // The one exit outside main: the user asked twice. Nothing is sealed half-way (the seal
      // is the commit point), and the lock of a dead process is taken over by the next run.
      ctx.log.warn({ signal: sig }, "stopping at once; the snapshot in progress is abandoned (no partial snapshot is left)");
      process.exit(SIGNAL_EXIT[sig] ?? EXIT.error);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });

  const watcher = await watchFolders(folders, {
    ignore: underAny(ignored),
    onChange: (event, p) => {
      if (!relevant(p, event === "addDir" || event === "unlinkDir")) return;
      ctx.log.debug({ event, path: p }, "change");
      loop.change();
    },
    onError: (err) => {
      const hint = (err as { code?: string }).code === "ENOSPC" ? "too many folders for inotify: raise fs.inotify.max_user_watches" : undefined;
      ctx.log.error({ err: messageOf(err), ...(hint ? { hint } : {}) }, "watch error; still watching");
    },
  });
  ctx.log.info({ folders, quietMs, maxDelayMs, repository: location }, "watching");
  loop.start(opts.initial);
  await stopped;
  await watcher.close();
  await loop.stop();
  ctx.log.info({}, "watch stopped");
  ctx.exitCode = EXIT.ok;
}

function duration(option: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw usageError(`${option} "${value}" is not a duration`, "use e.g. 30s, 10m, 1h or 1h30m");
  return ms;
}
