/**
 * The command line: builds the commander program (each command's arguments and options are in
 * program.ts), runs one command, and is THE place where errors become messages and exit codes
 * (src/cli/exit-codes.ts). Commands never call process.exit; core modules never print.
 */
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { IsnadError, messageOf } from "../errors.js";
import { VERSION } from "../version.js";
import type { Context, GlobalOptions } from "./context.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import type { Logger, LogLevel } from "./output/log.js";
import { createOut } from "./output/print.js";
import { commands } from "./program.js";

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name("isnad")
    .description("backups that can be trusted as evidence: encrypted, hashed file by file, signed and hash-chained")
    .version(VERSION, "-V, --version")
    .option("-c, --config <file>", "config file (default: ./isnad.yaml, then ~/.config/isnad/config.yaml)")
    .option("--repo <location>", "repository: a folder, s3://bucket/prefix or rclone:remote:path (overrides the config)")
    .option("--json", "print the result as one JSON document on stdout", false)
    .option("-q, --quiet", "print nothing on stdout but errors and --json", false)
    .addOption(new Option("--log-level <level>", "log level of the JSON log on stderr").choices(["debug", "info", "warn", "error", "silent"] as const).default("info" as const))
    .showHelpAfterError("(run isnad --help for usage)")
    .configureOutput(commanderOutput)
    .exitOverride();

  const run = async (fn: (ctx: Context) => Promise<void>): Promise<void> => {
    const g = program.opts() as GlobalOptions;
    // pino is loaded only when a command runs: --version and --help do not need it.
    const { createLogger } = await import("./output/log.js");
    const log = createLogger(g.logLevel as LogLevel);
    const ctx: Context = { globals: g, log, out: createOut(g.json, g.quiet), exitCode: EXIT.ok, cleanups: [] };
    try {
      await fn(ctx);
      exitCode = ctx.exitCode;
    } catch (err) {
      exitCode = reportError(err, log);
    } finally {
      for (const c of ctx.cleanups.splice(0)) await c().catch((e: unknown) => log.warn({ err: e }, "closing the repository storage failed"));
    }
  };

  for (const cmd of commands(run)) {
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
function reportError(err: unknown, log: Logger | undefined): number {
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
