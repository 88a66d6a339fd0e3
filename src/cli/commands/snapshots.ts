/** isnad snapshots: lists the snapshots whose seals decode (verify checks their signatures). */
import { Command } from "@commander-js/extra-typings";
import { readSeals } from "../../repo/repository.js";
import { findConfig, openRepo, type Context } from "../context.js";
import { formatBytes } from "../output/print.js";

export function snapshotsCommand(run: (fn: (ctx: Context) => Promise<void>) => Promise<void>) {
  return new Command("snapshots")
    .description("list snapshots, oldest first")
    .action(() =>
      run(async (ctx) => {
        const config = await findConfig(ctx);
        const repo = await openRepo(ctx, config);
        const rejected: string[] = [];
        const seals = await readSeals(repo, (key, why) => {
          rejected.push(key);
          ctx.log.warn({ seal: key }, `not listed: ${why}`);
        });
        ctx.out.result(
          seals.map((s) => ({
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
        );
        if (seals.length === 0) return ctx.out.line(`no snapshots in ${repo.storage.location}`);
        const rows = seals.map((s) => [
          s.body.snapshot,
          String(s.body.seq),
          s.body.time.replace("T", " ").replace(/\.\d+Z$/, "Z"),
          s.body.host,
          s.body.sources.join(","),
          String(s.body.stats.files),
          formatBytes(s.body.stats.bytes),
          s.body.stats.missing ? `${s.body.stats.missing} missing` : "",
        ]);
        const head = ["ID", "SEQ", "TIME", "HOST", "SOURCES", "FILES", "SIZE", ""];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const r of [head, ...rows]) ctx.out.line(r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
        if (rejected.length) ctx.out.line(`${rejected.length} seal file${rejected.length === 1 ? "" : "s"} not listed because they do not verify: run isnad verify`);
      }),
    );
}
