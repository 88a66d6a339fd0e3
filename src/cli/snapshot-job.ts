/**
 * One snapshot as a scheduled job: the `before` hook, the repository lock, the snapshot, then the
 * `after` or `on_failure` hook, each logged, ending in the exit code (README "Exit codes"). Shared
 * by `isnad snapshot` (once) and `isnad watch` (for every snapshot), so both behave alike.
 *
 * Exit codes and hooks:
 *   - `before` fails (non-zero, timeout): no snapshot; `on_failure` runs; exit 1.
 *   - the snapshot fails: `on_failure` runs (ISNAD_EXIT_CODE = the code isnad exits with); a failing
 *     `on_failure` is logged and the code stays.
 *   - the snapshot is saved (0) or saved incomplete (4): `after` runs; if it fails the snapshot still
 *     stands, the failure is logged and the exit code becomes 5 — unless it was already 4, which
 *     stays (the missing files matter more).
 * The final log line of a saved snapshot names the snapshot and the chain head, after the hooks.
 */
import type { HooksConfig, SourceConfig } from "../config/index.js";
import { IsnadError, messageOf } from "../errors.js";
import { describeHookFailure, runHook, type HookEvent, type HookInfo } from "../hooks/hooks.js";
import type { Signer } from "../keys/index.js";
import { takeLock } from "./lock.js";
import type { Repository } from "../repo/repository.js";
import { createSnapshot, type SnapshotResult } from "../snapshot/snapshot.js";
import type { Context } from "./context.js";
import { EXIT, exitCodeOfError } from "./exit-codes.js";
import { createProgress } from "./output/progress.js";

export interface SnapshotJob {
  repo: Repository;
  signer: Signer;
  sources: SourceConfig[];
  hooks?: HooksConfig;
  host?: string;
  /** How long to wait for another run's lock. */
  waitMs: number;
  /** Recorded in the lock: "snapshot" or "watch". */
  command: string;
  /** Draw a progress bar (on a terminal only; see output/progress.ts). */
  progress: boolean;
  /** Read and hash every file, ignoring the cache's record of unchanged files. */
  rehash?: boolean;
}

export interface JobOutcome {
  exitCode: number;
  result?: SnapshotResult;
  /** Why there is no snapshot (the caller reports it: `isnad snapshot` rethrows, watch logs). */
  error?: unknown;
  /** The `after` or `on_failure` hook failed. */
  hookFailed: boolean;
}

export async function runSnapshotJob(ctx: Context, job: SnapshotJob): Promise<JobOutcome> {
  const repository = job.repo.storage.location;
  const hook = async (event: HookEvent, command: string | undefined, info: Omit<HookInfo, "repository">): Promise<boolean> => {
    if (!command || !job.hooks) return true;
    const o = await runHook({ event, command, cwd: job.hooks.cwd, timeoutMs: job.hooks.timeoutMs, info: { ...info, repository } });
    const fields = { hook: event, command, exitCode: o.exitCode, durationMs: o.durationMs, output: o.output, ...(o.droppedBytes ? { outputDropped: o.droppedBytes } : {}) };
    if (o.ok) ctx.log.info(fields, `${event} hook done`);
    else ctx.log.error({ ...fields, timedOut: o.timedOut, signal: o.signal }, `${event} hook failed: ${describeHookFailure(o, job.hooks.timeoutMs)}`);
    return o.ok;
  };
  const failed = async (err: unknown): Promise<JobOutcome> => {
    const exitCode = exitCodeOfError(err);
    const ok = await hook("on-failure", job.hooks?.onFailure, { exitCode, error: messageOf(err) });
    return { exitCode, error: err, hookFailed: !ok };
  };

  if (!(await hook("before", job.hooks?.before, { exitCode: EXIT.ok }))) {
    return failed(new IsnadError("hook", "the before hook failed: no snapshot was taken", { hint: "see the hook's output in the log above" }));
  }

  let result: SnapshotResult;
  const bar = job.progress ? createProgress("snapshot", ctx.globals) : undefined;
  try {
    const lock = await takeLock(ctx, job.repo, job.command, job.waitMs);
    ctx.log.info({ repository, sources: job.sources.map((s) => s.label) }, "snapshot started");
    result = await createSnapshot({
      repo: job.repo,
      signer: job.signer,
      sources: job.sources,
      host: job.host,
      rehash: job.rehash,
      beforeSeal: () => lock.assertHeld(),
      onEvent: (e) => {
        if (e.type === "warning") ctx.log.warn({ path: e.path }, e.message);
        else if (e.type === "unreadable") ctx.log.error({ path: e.path, error: e.error }, "cannot read; recorded as missing");
        else if (e.type === "pack") ctx.log.debug({ pack: e.id, size: e.size, files: e.files }, "pack stored");
        else if (e.type === "source") ctx.log.debug({ source: e.label, type: e.kind }, "source");
        else if (e.type === "progress") bar?.update({ count: e.files, bytes: e.bytes });
      },
    }).finally(() => {
      bar?.stop();
      return lock.release();
    });
  } catch (err) {
    bar?.stop();
    return failed(err);
  }

  const incomplete = result.missing.length > 0;
  let exitCode: number = incomplete ? EXIT.incomplete : EXIT.ok;
  const afterOk = await hook("after", job.hooks?.after, {
    exitCode,
    snapshot: result.snapshot,
    chainHead: result.chainHead,
    files: result.stats.files,
    bytes: result.stats.bytes,
    missing: result.stats.missing,
  });
  if (!afterOk && exitCode === EXIT.ok) exitCode = EXIT.hookFailed;
  ctx.log.info(
    {
      snapshot: result.snapshot,
      seq: result.seq,
      chainHead: result.chainHead,
      files: result.stats.files,
      bytes: result.stats.bytes,
      newBytes: result.stats.new_bytes,
      unchanged: result.incremental.unchanged,
      reused: result.incremental.reused,
      stored: result.incremental.stored,
      missing: result.stats.missing,
      durationMs: result.durationMs,
      exitCode,
      ...(afterOk ? {} : { hookFailed: "after" }),
    },
    incomplete ? "snapshot complete, with unreadable files" : "snapshot complete",
  );
  return { exitCode, result, hookFailed: !afterOk };
}
