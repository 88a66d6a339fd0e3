/**
 * The command line: builds the commander program, runs one command, and is THE place where
 * errors become messages and exit codes (src/cli/exit-codes.ts). Commands never call
 * process.exit; core modules never print.
 */
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { IsnadError, messageOf } from "../errors.js";
import { VERSION } from "../version.js";
import { diffCommand } from "./commands/diff.js";
import { initCommand } from "./commands/init.js";
import { keygenCommand } from "./commands/keygen.js";
import { restoreCommand } from "./commands/restore.js";
import { snapshotCommand } from "./commands/snapshot.js";
import { snapshotsCommand } from "./commands/snapshots.js";
import { verifyCommand } from "./commands/verify.js";
import type { Context, GlobalOptions } from "./context.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { createLogger, type LogLevel } from "./output/log.js";
import { createOut } from "./output/print.js";

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name("isnad")
    .description("backups that can be trusted as evidence: encrypted, hashed file by file, signed and hash-chained")
    .version(VERSION, "-V, --version")
    .option("-c, --config <file>", "config file (default: ./isnad.yaml, then ~/.config/isnad/config.yaml)")
    .option("--repo <path>", "repository location (overrides the config)")
    .option("--json", "print the result as one JSON document on stdout", false)
    .option("-q, --quiet", "print nothing on stdout but errors and --json", false)
    .addOption(new Option("--log-level <level>", "log level of the JSON log on stderr").choices(["debug", "info", "warn", "error", "silent"] as const).default("info" as const))
    .showHelpAfterError("(run isnad --help for usage)")
    .configureOutput(commanderOutput)
    .exitOverride();

  const run = async (fn: (ctx: Context) => Promise<void>): Promise<void> => {
    const g = program.opts() as GlobalOptions;
    const log = createLogger(g.logLevel as LogLevel);
    const ctx: Context = { globals: g, log, out: createOut(g.json, g.quiet), exitCode: EXIT.ok, opened: [] };
    try {
      await fn(ctx);
      exitCode = ctx.exitCode;
    } catch (err) {
      exitCode = reportError(err, log);
    } finally {
      // Open connections (SFTP) would keep the process alive; a failing close changes nothing.
      for (const s of ctx.opened) await s.close?.().catch(() => undefined);
    }
  };

  for (const c of [keygenCommand, initCommand, snapshotCommand, snapshotsCommand, verifyCommand, diffCommand, restoreCommand]) {
    const cmd = c(run);
    program.addCommand(cmd.exitOverride().configureOutput(commanderOutput).showHelpAfterError(`(run isnad help ${cmd.name()} for usage)`));
  }

  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every other parse error is a usage error
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(err, undefined);
  }
  return exitCode;
}

/** Parse errors read like every other error: one line starting "isnad: ". */
const commanderOutput = {
  outputError: (s: string, write: (s: string) => void) => write(s.replace(/^error: /, "isnad: ")),
};

/** One line on stderr ("isnad: message" plus a hint), logged too; returns the exit code. */
function reportError(err: unknown, log: ReturnType<typeof createLogger> | undefined): number {
  if (err instanceof IsnadError) {
    if (err.kind === "internal") process.stderr.write(`isnad: ${err.message}\n  this is a bug: please report it with the log above\n`);
    else process.stderr.write(`isnad: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ""}\n`);
    log?.error({ kind: err.kind, err: err.kind === "internal" ? err : undefined }, err.message);
    return exitCodeFor(err.kind);
  }
  process.stderr.write(`isnad: ${messageOf(err)}\n`);
  log?.error({ err }, messageOf(err));
  return EXIT.error;
}
