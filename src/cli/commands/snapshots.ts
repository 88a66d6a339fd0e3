/** isnad snapshots: lists the snapshots whose seals decode (verify checks their signatures). */
import { isRemovedSeal, readRemovals } from "../../repo/removals.js";
import { readSeals } from "../../repo/repository.js";
import { findConfig, openRepo, type Context } from "../context.js";
import { formatBytes } from "../output/print.js";

/** As parsed by its command line in ../program.ts. */
export interface SnapshotsOptions {
  removed?: boolean;
}

export async function action(ctx: Context, opts: SnapshotsOptions): Promise<void> {
  const config = await findConfig(ctx);
  const repo = await openRepo(ctx, config);
  const rejected: string[] = [];
  const all = await readSeals(repo, (key, why) => {
    rejected.push(key);
    ctx.log.warn({ seal: key }, `not listed: ${why}`);
  });
  const removals = await readRemovals(repo);
  for (const p of removals.problems) ctx.log.warn({ record: p.key }, p.message);
  const seals = all.filter((s) => !isRemovedSeal(removals, s));
  const present = new Set(seals.map((s) => s.body.seq));
  const removed = opts.removed ? [...removals.removed.values()].filter((r) => !present.has(r.seq)).sort((a, b) => a.seq - b.seq) : [];
  ctx.out.result(
    [...seals.map((s) => ({
      id: s.body.snapshot,
      seq: s.body.seq,
      time: s.body.time,
      host: s.body.host,
      sources: s.body.sources,
      files: s.body.stats.files,
      bytes: s.body.stats.bytes,
      missing: s.body.stats.missing,
      seal: s.hash,
    })),
    ...removed.map((r) => ({ id: r.snapshot, seq: r.seq, time: r.time, seal: r.seal_sha256, removed: { record: r.record } })),
  ].sort((a, b) => a.seq - b.seq),
  );
  if (seals.length === 0 && removed.length === 0) return ctx.out.line(`no snapshots in ${repo.storage.location}`);
  const rows = [...seals.map((s) => [
    s.body.snapshot,
    String(s.body.seq),
    s.body.time.replace("T", " ").replace(/\.\d+Z$/, "Z"),
    s.body.host,
    s.body.sources.join(","),
    String(s.body.stats.files),
    formatBytes(s.body.stats.bytes),
    s.body.stats.missing ? `${s.body.stats.missing} missing` : "",
  ]), ...removed.map((r) => [r.snapshot, String(r.seq), r.time.replace("T", " ").replace(/\.\d+Z$/, "Z"), "", "", "", "", `removed by policy (record ${r.record})`])]
    .sort((a, b) => Number(a[1]) - Number(b[1]));
  const head = ["ID", "SEQ", "TIME", "HOST", "SOURCES", "FILES", "SIZE", ""];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) ctx.out.line(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
  if (removals.removed.size && !opts.removed) ctx.out.line(`${removals.removed.size} snapshot${removals.removed.size === 1 ? "" : "s"} removed by policy not listed (show them with --removed)`);
  if (rejected.length) ctx.out.line(`${rejected.length} seal file${rejected.length === 1 ? "" : "s"} not listed because they do not verify: run isnad verify`);
}
