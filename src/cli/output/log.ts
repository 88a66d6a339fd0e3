/**
 * The logger: JSON lines on stderr (pretty on a terminal), written synchronously so nothing is
 * lost or reordered when the process exits. stdout stays free for results and --json output.
 * Not a terminal (cron, systemd, a pipe): JSON lines, never colour. NO_COLOR turns colour off on
 * a terminal too.
 */
import { createRequire } from "node:module";
import pino, { type Logger } from "pino";

// pino-pretty only on a terminal: under cron it would be loaded for nothing (time and memory).
const require = createRequire(import.meta.url);
const pretty = (): typeof import("pino-pretty") => require("pino-pretty") as typeof import("pino-pretty");

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export function createLogger(level: LogLevel): Logger {
  const dest = process.stderr.isTTY
    ? pretty()({ destination: 2, sync: true, colorize: !process.env["NO_COLOR"], translateTime: "SYS:HH:MM:ss", ignore: "pid,hostname" })
    : pino.destination({ dest: 2, sync: true });
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

export type { Logger };
