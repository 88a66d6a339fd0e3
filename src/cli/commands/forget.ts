/** isnad forget: removes snapshots by a retention policy, recording each removal in a signed record. */
import { Command } from "@commander-js/extra-typings";
import { usageError } from "../../errors.js";
import type { RemovalPolicy } from "../../format/removal.js";
import { forget, type ForgetResult } from "../../retention/forget.js";
import { parseWithin, type Policy } from "../../retention/policy.js";
import { findConfig, openRepo, signerFor, type Context } from "../context.js";
import { takeLock } from "../lock.js";
import { parseWait, printPrune, runPrune } from "./prune.js";

const COUNTS = ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const;

export function forgetCommand(run: (fn: (ctx: Context) => Promise<void>) => Promise<void>) {
  return new Command("forget")
    .description("remove snapshots by a retention policy (restic's semantics, UTC); each removal is recorded in a signed, chained record")
    .argument("[ids...]", "remove these snapshots (ids or unique prefixes) instead of applying a policy")
    .option("--keep-last <n>", "keep the n newest snapshots")
    .option("--keep-hourly <n>", "keep the newest snapshot of each of the n most recent hours that have one")
    .option("--keep-daily <n>", "keep the newest snapshot of each of the n most recent days that have one")
    .option("--keep-weekly <n>", "keep the newest snapshot of each of the n most recent ISO weeks that have one")
    .option("--keep-monthly <n>", "keep the newest snapshot of each of the n most recent months that have one")
    .option("--keep-yearly <n>", "keep the newest snapshot of each of the n most recent years that have one")
    .option("--keep-within <duration>", "keep every snapshot newer than this before the group's newest one, e.g. 2y5m7d3h (years, months, days, hours)")
    .option("--dry-run", "list what would be kept and removed, and why; change nothing")
    .option("--prune", "run isnad prune right after, under the same lock")
    .option("--allow-empty", "allow a removal that leaves no snapshot at all")
    .option("--signing-key <file>", "the repository's snapshot-signing key (default: from init)")
    .option("--host <name>", "host name to record in the removal record (default: this machine's)")
    .option("--wait <duration>", "if another run holds the repository lock, wait up to this long (e.g. 30s, 10m, 1h) instead of exiting 75")
    .addHelpText(
      "after",
      `
Snapshots are grouped by host and source labels; each group gets the policy on its own. Periods
are UTC; weeks are ISO weeks (Monday to Sunday). A --keep-* rule counts only periods that have a
snapshot; when a rule has count left, the group's oldest snapshot is kept too. --keep-within is
relative to the group's newest snapshot, not to now: y years, m months, d days, h hours, in that
order (1y6m, 30d, 36h).

Before deleting any seal, forget writes a signed removal record (removals/<seq>.json) naming the
removed snapshots, so isnad verify reports them as removed by policy, not as a broken chain.
Then run isnad prune (or pass --prune) to delete the data only removed snapshots used.

Examples:
  isnad forget --keep-hourly 24 --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run
  isnad forget --keep-last 10 --keep-within 1y --prune
  isnad forget 5e0c2b9a`,
    )
    .action((ids, opts) =>
      run(async (ctx) => {
        const policy: Policy = {};
        const asGiven: RemovalPolicy = {};
        const given = { last: opts.keepLast, hourly: opts.keepHourly, daily: opts.keepDaily, weekly: opts.keepWeekly, monthly: opts.keepMonthly, yearly: opts.keepYearly };
        for (const k of COUNTS) {
          const v = given[k];
          if (v === undefined) continue;
          if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < 1) throw usageError(`--keep-${k}: expected a whole number ≥ 1, got ${v}`);
          policy[k] = Number(v);
          asGiven[`keep-${k}`] = Number(v);
        }
        if (opts.keepWithin !== undefined) {
          const w = parseWithin(opts.keepWithin);
          if (!w || w.years + w.months + w.days + w.hours === 0) {
            throw usageError(`--keep-within: expected a duration like 2y5m7d3h (years, months, days, hours; at least one above 0), got ${opts.keepWithin}`);
          }
          policy.within = w;
          asGiven["keep-within"] = opts.keepWithin;
        }
        if (ids.length > 0) asGiven["snapshots"] = ids;
        const waitMs = parseWait(opts.wait);
        if (opts.dryRun && opts.prune) throw usageError("--prune does nothing with --dry-run", "run isnad prune --dry-run after a dry run to see what prune would delete");
        const config = await findConfig(ctx);
        const repo = await openRepo(ctx, config);
        const signer = opts.dryRun ? undefined : await signerFor(repo, opts.signingKey, config);
        const lock = opts.dryRun ? undefined : await takeLock(ctx, repo, "forget", waitMs);
        try {
          const result = await forget({
            repo,
            signer,
            policy,
            ids,
            asGiven,
            allowEmpty: opts.allowEmpty,
            dryRun: opts.dryRun,
            host: opts.host,
            beforeCommit: () => lock!.assertHeld(),
            onEvent: (e) => {
              if (e.type === "warning") ctx.log.warn(e.message);
              else if (e.type === "record-written") ctx.log.info({ record: e.key, seq: e.seq, hash: e.hash }, "removal record written");
              else ctx.log.debug({ seal: e.key }, "seal deleted");
            },
          });
          ctx.log.info({ removed: result.removed.length, kept: result.kept, record: result.record, dryRun: result.dryRun }, result.dryRun ? "forget dry run" : "forget complete");
          printForget(ctx, result);
          const pruned = opts.prune ? await runPrune(ctx, repo, false, lock) : undefined;
          ctx.out.result(pruned ? { ...result, prune: pruned } : result);
          if (pruned) printPrune(ctx, pruned);
        } finally {
          await lock?.release();
        }
      }),
    );
}

function printForget(ctx: Context, r: ForgetResult): void {
  const when = (t: string) => t.replace("T", " ").replace(/\.\d+Z$/, "Z");
  const n = (k: number) => `${k} snapshot${k === 1 ? "" : "s"}`;
  for (const g of r.groups) {
    ctx.out.line(g.host === "*" ? "snapshots:" : `snapshots of host ${g.host}, sources ${g.sources.join(",") || "(none)"}:`);
    ctx.out.line(`  keep ${n(g.keep.length)}:`);
    for (const d of g.keep) ctx.out.line(`    ${d.id}  ${when(d.time)}  ${d.reasons.join(", ")}`);
    ctx.out.line(`  ${r.dryRun ? "would remove" : "remove"} ${n(g.remove.length)}${g.remove.length ? ":" : ""}`);
    for (const d of g.remove) ctx.out.line(`    ${d.id}  ${when(d.time)}`);
  }
  if (r.finished.length) ctx.out.line(`deleted ${r.finished.length} seal${r.finished.length === 1 ? "" : "s"} an interrupted forget had already recorded as removed`);
  if (r.dryRun) ctx.out.line(`dry run: nothing was changed (${n(r.removed.length)} would be removed, ${r.kept} kept)`);
  else if (r.record) ctx.out.line(`removed ${n(r.removed.length)}, kept ${r.kept}; signed removal record ${r.record.key} (${r.record.hash}); run isnad prune to free the space`);
  else ctx.out.line(`nothing to remove; kept ${n(r.kept)}`);
}
