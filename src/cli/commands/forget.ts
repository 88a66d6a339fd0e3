/** isnad forget: removes snapshots by a retention policy, recording each removal in a signed record. */
import { usageError } from "../../errors.js";
import type { RemovalPolicy } from "../../format/removal.js";
import { forget, type ForgetResult } from "../../retention/forget.js";
import { parseWithin, type Policy } from "../../retention/policy.js";
import { findConfig, openRepo, signerFor, type Context } from "../context.js";
import { takeLock } from "../lock.js";
import { parseWait, printPrune, runPrune } from "./prune.js";

const COUNTS = ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const;

/** As parsed by its command line in ../program.ts. */
export interface ForgetOptions {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  dryRun?: boolean;
  prune?: boolean;
  allowEmpty?: boolean;
  signingKey?: string;
  host?: string;
  wait?: string;
}

export async function action(ctx: Context, ids: string[], opts: ForgetOptions): Promise<void> {
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
