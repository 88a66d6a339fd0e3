/**
 * Progress bars (cli-progress) on stderr for long snapshots, verifies and restores — only for a
 * person at a terminal: never under cron or systemd (no TTY), never with --json or --quiet, never
 * in CI or on a dumb terminal. Whether to draw is one pure function, progressWanted; the bars are
 * fed from the core's throttled `progress` events and draw at most 10 times a second.
 */
import cliProgress from "cli-progress";
import { formatBytes } from "./print.js";

export interface ProgressConditions {
  /** process.stderr.isTTY */
  isTTY: boolean | undefined;
  json: boolean;
  quiet: boolean;
  env: NodeJS.ProcessEnv;
}

export function progressWanted(c: ProgressConditions): boolean {
  if (!c.isTTY || c.json || c.quiet) return false;
  const ci = c.env["CI"];
  if (ci !== undefined && ci !== "" && ci !== "false" && ci !== "0") return false;
  if (c.env["TERM"] === "dumb") return false;
  if (c.env["ISNAD_NO_PROGRESS"] !== undefined && c.env["ISNAD_NO_PROGRESS"] !== "") return false;
  return true;
}

export type ProgressKind = "snapshot" | "verify" | "restore";

export interface ProgressUpdate {
  /** Files (snapshot, restore) or objects (verify) done so far. */
  count: number;
  bytes: number;
  /** Known for verify and restore once planned; never for a snapshot (the walk is streamed). */
  totalCount?: number;
  totalBytes?: number;
}

export interface ProgressBar {
  update(u: ProgressUpdate): void;
  stop(): void;
}

const NONE: ProgressBar = { update: () => undefined, stop: () => undefined };

const UNIT: Record<ProgressKind, string> = { snapshot: "files", verify: "objects", restore: "files" };

/** A bar on stderr if progressWanted says so, else one that does nothing. */
export function createProgress(kind: ProgressKind, flags: { json: boolean; quiet: boolean }): ProgressBar {
  if (!progressWanted({ isTTY: process.stderr.isTTY, json: flags.json, quiet: flags.quiet, env: process.env })) return NONE;
  const unit = UNIT[kind];
  let bar: cliProgress.SingleBar | undefined;
  let withTotal = false;
  return {
    update(u) {
      const payload = { count: u.count, totalCount: u.totalCount ?? "?", size: formatBytes(u.bytes), totalSize: formatBytes(u.totalBytes ?? 0), unit };
      if (!bar) {
        withTotal = u.totalBytes !== undefined;
        const format = withTotal
          ? `${kind} [{bar}] {percentage}% | {count}/{totalCount} {unit} | {size} of {totalSize} | {duration_formatted}`
          : `${kind} | {count} {unit} | {size} | {duration_formatted}`;
        bar = new cliProgress.SingleBar(
          { format, stream: process.stderr, fps: 10, hideCursor: true, clearOnComplete: true, barsize: 30 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(withTotal ? Math.max(1, u.totalBytes ?? 0) : 0, u.bytes, payload);
        return;
      }
      if (withTotal && u.totalBytes !== undefined) bar.setTotal(Math.max(1, u.totalBytes));
      bar.update(u.bytes, payload);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
