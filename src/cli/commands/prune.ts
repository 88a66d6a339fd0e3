/** isnad prune: deletes manifests and packs no remaining snapshot references. Needs no key. */
import { usageError } from "../../errors.js";
import { parseDuration, type RepositoryLock } from "../../repo/lock.js";
import { takeLock } from "../lock.js";
import type { Repository } from "../../repo/repository.js";
import { prune, type PruneResult } from "../../retention/prune.js";
import { findConfig, openRepo, type Context } from "../context.js";
import { formatBytes } from "../output/print.js";

/**
 * Test hook for the crash tests (test/cli/retention-crash.test.ts): kill -9 this process right
 * after that many deletions, as a power cut would.
 */
const KILL_AFTER_ENV = "ISNAD_TEST_PRUNE_KILL_AFTER";

/** As parsed by its command line in ../program.ts. */
export interface PruneOptions {
  dryRun?: boolean;
  wait?: string;
}

export async function action(ctx: Context, opts: PruneOptions): Promise<void> {
  const waitMs = parseWait(opts.wait);
  const config = await findConfig(ctx);
  const repo = await openRepo(ctx, config);
  const lock = opts.dryRun ? undefined : await takeLock(ctx, repo, "prune", waitMs);
  try {
    const result = await runPrune(ctx, repo, opts.dryRun === true, lock);
    ctx.out.result(result);
    printPrune(ctx, result);
  } finally {
    await lock?.release();
  }
}

export function parseWait(wait: string | undefined): number {
  const waitMs = wait === undefined ? 0 : parseDuration(wait);
  if (waitMs === undefined) throw usageError(`--wait: expected a duration like 90s, 10m, 1h or 1h30m, got ${wait}`);
  return waitMs;
}

export async function runPrune(ctx: Context, repo: Repository, dryRun: boolean, lock: RepositoryLock | undefined): Promise<PruneResult> {
  const killAfter = Number(process.env[KILL_AFTER_ENV] ?? "0");
  let n = 0;
  const result = await prune({
    repo,
    dryRun,
    assertLocked: lock ? () => lock.assertHeld() : undefined,
    onEvent: (e) => {
      if (e.type === "still-locked") {
        ctx.log.info({ object: e.key, size: e.size, until: e.until }, `still locked${e.until ? ` until ${e.until}` : ""} (Object Lock); left for a later prune`);
        return;
      }
      ctx.log.debug({ object: e.key, size: e.size }, dryRun ? "would delete" : "deleted");
      if (!dryRun && killAfter > 0 && ++n >= killAfter) process.kill(process.pid, "SIGKILL");
    },
  });
  ctx.log.info({ deleted: result.deleted.length, bytesFreed: result.bytesFreed, dryRun }, dryRun ? "prune dry run" : "prune complete");
  return result;
}

export function printPrune(ctx: Context, r: PruneResult): void {
  const verb = r.dryRun ? "would delete" : "deleted";
  for (const d of r.deleted) ctx.out.line(`${verb} ${d.key} (${formatBytes(d.size)})`);
  const manifests = r.deleted.filter((d) => d.kind === "manifest").length;
  ctx.out.line(
    `${verb} ${manifests} manifest${manifests === 1 ? "" : "s"} and ${r.deleted.length - manifests} pack${r.deleted.length - manifests === 1 ? "" : "s"}, ${formatBytes(r.bytesFreed)} ${r.dryRun ? "would be " : ""}freed; kept ${r.objectsKept} object${r.objectsKept === 1 ? "" : "s"} of ${r.snapshotsKept} snapshot${r.snapshotsKept === 1 ? "" : "s"}`,
  );
  if (r.stillLocked.length > 0) {
    const until = r.stillLocked.map((l) => l.until).filter((u): u is string => u !== undefined).sort();
    ctx.out.line(
      `${r.stillLocked.length} unreferenced object${r.stillLocked.length === 1 ? " is" : "s are"} still locked by the storage (Object Lock${until.length ? `, the last until ${until.at(-1)}` : ""}): left for a later prune`,
    );
  }
  if (r.dryRun) ctx.out.line("dry run: nothing was changed");
}
