/** isnad diff: what changed in a live folder since a snapshot (exit 3 when anything did). */
import { diffSnapshot, type ChangeKind } from "../../diff/diff.js";
import { resolveSnapshot } from "../../repo/repository.js";
import { EXIT } from "../exit-codes.js";
import { findConfig, identitiesFor, openRepo, type Context } from "../context.js";

const MARK: Record<ChangeKind, string> = { added: "A", removed: "D", modified: "M", type: "T", mode: "P", owner: "O", symlink: "L", mtime: "t", unverifiable: "?" };

/** As parsed by its command line in ../program.ts. */
export interface DiffOptions {
  identity?: string;
  source?: string;
}

export async function action(ctx: Context, id: string, livePath: string, opts: DiffOptions): Promise<void> {
  const config = await findConfig(ctx);
  const repo = await openRepo(ctx, config);
  const identities = await identitiesFor(opts.identity, config, "diff");
  const seal = await resolveSnapshot(repo, id);
  const report = await diffSnapshot({ repo, seal, identities, livePath, source: opts.source });
  ctx.exitCode = report.changes.length ? EXIT.integrity : EXIT.ok;
  ctx.log.info({ snapshot: report.snapshot, source: report.source, compared: report.compared, changes: report.changes.length }, "diff done");
  ctx.out.result({ identical: report.changes.length === 0, ...report });
  for (const c of report.changes) ctx.out.line(`${MARK[c.kind]} ${c.path === "" ? "." : c.path}  (${c.detail})`);
  ctx.out.line(
    report.changes.length
      ? `${report.changes.length} difference${report.changes.length === 1 ? "" : "s"} between ${report.livePath} and snapshot ${report.snapshot} source "${report.source}"`
      : `identical: ${report.livePath} matches snapshot ${report.snapshot} source "${report.source}" (${report.compared} entries)`,
  );
}
