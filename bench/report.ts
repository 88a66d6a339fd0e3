/** Turns the measurements into the markdown tables (per corpus, then targets) and the JSON. */
import type { Corpus, CorpusName } from "./corpus.js";
import { median } from "./measure.js";
import type { ToolName } from "./tools.js";

export const OPS = [
  { id: "first", title: "first snapshot" },
  { id: "unchanged", title: "re-run, nothing changed" },
  { id: "changed", title: "re-run, 1 % of files changed" },
  { id: "verify", title: "verify every byte" },
  { id: "restore", title: "restore" },
] as const;
export type OpId = (typeof OPS)[number]["id"];

export interface RunSample {
  round: number;
  seconds: number;
  rssKiB: number | null;
  /** Repository size (apparent bytes of its files) right after a snapshot step. */
  repoBytes?: number;
}

export interface OpResult {
  samples: RunSample[];
  errors: string[];
}

export interface ToolResult {
  tool: ToolName;
  title: string;
  version: string;
  skipped?: string;
  ops: Partial<Record<OpId, OpResult>>;
  restoreChecks: string[];
}

export interface CorpusResult {
  corpus: Omit<Corpus, "files"> & { fileCount: number };
  mutatedFiles: number;
  tools: ToolResult[];
}

export interface TargetRow {
  corpus: CorpusName;
  what: string;
  peer: ToolName | null;
  limit: number;
  measured: number | null;
  pass: boolean | null;
  note?: string;
}

const MiB = 1 << 20;

export function opMedian(r: ToolResult | undefined, op: OpId): number | null {
  const s = r?.ops[op]?.samples ?? [];
  return s.length ? median(s.map((x) => x.seconds)) : null;
}

export function opPeakRss(r: ToolResult | undefined, op: OpId): number | null {
  const v = (r?.ops[op]?.samples ?? []).map((x) => x.rssKiB).filter((x): x is number => x !== null);
  return v.length ? Math.max(...v) : null;
}

export function opRepo(r: ToolResult | undefined, op: OpId): number | null {
  const v = (r?.ops[op]?.samples ?? []).map((x) => x.repoBytes).filter((x): x is number => x !== undefined);
  return v.length ? median(v) : null;
}

/** A table cell: "tar -c | age" must not split the row. */
const cell = (s: string) => s.replace(/\|/g, "\\|");
const f = (x: number | null, d = 2) => (x === null ? "–" : x.toFixed(d));

export function corpusTable(cr: CorpusResult): string {
  const c = cr.corpus;
  const isnad = cr.tools.find((t) => t.tool === "isnad");
  const lines: string[] = [];
  lines.push(`## ${c.name}: ${(c.bytes / MiB).toFixed(1)} MiB in ${c.fileCount.toLocaleString("en-US")} files`);
  lines.push("");
  lines.push(`${c.description}; file list SHA-256 \`${c.listSha256.slice(0, 16)}…\`; 1 % change = ${cr.mutatedFiles} files with 64 bytes inverted.`);
  lines.push("");
  lines.push("| operation | tool | median s | runs (s) | MB/s | peak RSS MiB | repo MiB | isnad/peer |");
  lines.push("|---|---|--:|---|--:|--:|--:|--:|");
  for (const op of OPS) {
    const im = opMedian(isnad, op.id);
    for (const t of cr.tools) {
      if (t.skipped) continue;
      const o = t.ops[op.id];
      const m = opMedian(t, op.id);
      const rss = opPeakRss(t, op.id);
      const repo = opRepo(t, op.id);
      const runs = (o?.samples ?? []).map((s) => s.seconds.toFixed(2)).join(", ");
      const failed = o && o.errors.length ? ` (${o.errors.length} failed)` : "";
      const ratio = t.tool === "isnad" ? "" : im !== null && m !== null ? `${(im / m).toFixed(2)}×` : "–";
      lines.push(
        `| ${op.title} | ${cell(t.title)} | ${m === null ? "failed" : f(m)}${failed} | ${runs} | ${m ? f(c.bytes / 1e6 / m, 1) : "–"} | ${rss === null ? "–" : f(rss / 1024, 0)} | ${repo === null ? "" : f(repo / MiB, 1)} | ${ratio} |`,
      );
    }
  }
  const skipped = cr.tools.filter((t) => t.skipped);
  if (skipped.length) {
    lines.push("");
    for (const t of skipped) lines.push(`- **${t.title} skipped**: ${t.skipped}`);
  }
  const bad = cr.tools.flatMap((t) => t.restoreChecks.filter((x) => x !== "ok").map((x) => `${t.title}: ${x}`));
  if (bad.length) {
    lines.push("");
    for (const b of bad) lines.push(`- restore check: ${b}`);
  }
  return lines.join("\n");
}

/** The issue's targets, for the corpora that ran. */
export function targets(results: CorpusResult[]): TargetRow[] {
  const rows: TargetRow[] = [];
  const get = (c: CorpusName, t: ToolName) => results.find((r) => r.corpus.name === c)?.tools.find((x) => x.tool === t && !x.skipped);
  const has = (c: CorpusName) => results.some((r) => r.corpus.name === c);
  const timeRatio = (c: CorpusName, op: OpId, peer: ToolName, limit: number, what: string) => {
    if (!has(c)) return;
    const a = opMedian(get(c, "isnad"), op);
    const b = opMedian(get(c, peer), op);
    const measured = a !== null && b !== null ? a / b : null;
    rows.push({ corpus: c, what, peer, limit, measured, pass: measured === null ? null : measured <= limit, note: measured === null ? `${get(c, peer) ? "no successful run" : `${peer} not run`}` : undefined });
  };
  timeRatio("docs", "first", "tar-age", 1.5, "first snapshot ≤ 1.5× tar -c | age");
  timeRatio("docs", "first", "restic", 0.3, "first snapshot ≤ 0.3× restic backup");
  timeRatio("small", "first", "tar-age", 2.5, "first snapshot ≤ 2.5× tar -c | age");
  timeRatio("small", "first", "restic", 0.35, "first snapshot ≤ 0.35× restic backup");
  timeRatio("docs", "unchanged", "restic", 0.4, "re-run, nothing changed ≤ 0.4× restic");
  timeRatio("small", "unchanged", "restic", 0.4, "re-run, nothing changed ≤ 0.4× restic");
  timeRatio("docs", "verify", "restic", 0.75, "verify every byte (-i key) ≤ 0.75× restic check --read-data");
  timeRatio("docs", "restore", "tar-age", 1.0, "restore with verification ≤ 1.0× age -d | tar -x");
  timeRatio("small", "restore", "tar-age", 1.0, "restore with verification ≤ 1.0× age -d | tar -x");
  if (has("docs")) {
    const a = opRepo(get("docs", "isnad"), "first");
    const b = opRepo(get("docs", "restic"), "first");
    const measured = a !== null && b !== null ? a / b : null;
    rows.push({ corpus: "docs", what: "repository size after first snapshot ≤ 1.05× restic's", peer: "restic", limit: 1.05, measured, pass: measured === null ? null : measured <= 1.05, note: measured === null ? "restic not run" : undefined });
  }
  for (const r of results) {
    const i = get(r.corpus.name, "isnad");
    const v = OPS.map((o) => opPeakRss(i, o.id)).filter((x): x is number => x !== null);
    const measured = v.length ? Math.max(...v) / 1024 : null;
    rows.push({ corpus: r.corpus.name, what: "isnad peak RSS (any operation) ≤ 150 MiB", peer: null, limit: 150, measured, pass: measured === null ? null : measured <= 150, note: measured === null ? (OPS.some((o) => (i?.ops[o.id]?.samples.length ?? 0) > 0) ? "no RSS measured (GNU time missing?)" : "isnad had no successful run") : undefined });
  }
  return rows;
}

export function targetsTable(rows: TargetRow[]): string {
  const lines = ["## targets", "", "| corpus | target | measured | limit | |", "|---|---|--:|--:|---|"];
  for (const r of rows) {
    const unit = r.peer === null ? " MiB" : "×";
    const m = r.measured === null ? `n/a (${r.note})` : `${r.measured.toFixed(r.peer === null ? 0 : 2)}${unit}`;
    lines.push(`| ${r.corpus} | ${cell(r.what)} | ${m} | ${r.peer === null ? r.limit.toFixed(0) : r.limit.toFixed(2)}${unit} | ${r.pass === null ? "–" : r.pass ? "✅" : "❌"} |`);
  }
  return lines.join("\n");
}
