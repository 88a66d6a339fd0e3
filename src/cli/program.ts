/**
 * The command line of every command: its arguments, options and help, and nothing that runs it.
 * What a command does is in commands/<name>.ts, loaded with `await import()` only when that
 * command runs: `isnad --version` and `--help` load none of them, and each command loads only
 * the modules it uses (typage with its post-quantum code, zod, yaml, chokidar, cli-progress cost
 * tens to hundreds of milliseconds each to load, on every run).
 */
import { Command } from "@commander-js/extra-typings";
import type { Context } from "./context.js";

/** Runs a command's action with its Context and turns what it throws into the exit code (main.ts). */
export type Run = (fn: (ctx: Context) => Promise<void>) => Promise<void>;

const collect = (v: string, prev: string[]) => [...prev, v];

const WAIT_HELP = "if another run holds the repository lock, wait up to this long (e.g. 30s, 10m, 1h) instead of exiting 75";

/** The commands in the order `isnad --help` lists them. */
export function commands(run: Run) {
  const keygen = new Command("keygen")
    .description("create an age identity (private key) file and print its recipient (public key)")
    .requiredOption("-o, --output <file>", "where to write the identity file (refuses to overwrite)")
    .option("--classic", "X25519 key readable by any age (default: hybrid post-quantum ML-KEM-768 + X25519)")
    .option("--passphrase", "encrypt the identity file with a passphrase, as `age -p` would")
    .action((opts) => run(async (ctx) => (await import("./commands/keygen.js")).action(ctx, opts)));

  const init = new Command("init")
    .description("create a repository; needs only public keys")
    .option("-r, --recipient <age1…>", "age recipient to encrypt to (repeatable)", collect, [] as string[])
    .option("-R, --recipients-file <file>", "file of recipients, one per line (as age -R)")
    .option("--signing-key <file>", "where to write the snapshot-signing key (default: user config dir)")
    .action((opts) => run(async (ctx) => (await import("./commands/init.js")).action(ctx, opts)));

  const snapshot = new Command("snapshot")
    .alias("backup")
    .description("back up the sources of the config file, or the folders given, into a new signed snapshot")
    .argument("[paths...]", "folders to back up instead of the config's sources (needs --repo)")
    .option("--signing-key <file>", "the repository's snapshot-signing key (default: from init)")
    .option("--host <name>", "host name to record (default: this machine's)")
    .option("--rehash", "read and hash every file, even those the local cache says are unchanged")
    .option("--wait <duration>", WAIT_HELP)
    .action((paths, opts) => run(async (ctx) => (await import("./commands/snapshot.js")).action(ctx, paths, opts)));

  const snapshots = new Command("snapshots")
    .description("list snapshots, oldest first")
    .option("--removed", "also list snapshots removed by policy (isnad forget) whose removal records verify")
    .action((opts) => run(async (ctx) => (await import("./commands/snapshots.js")).action(ctx, opts)));

  const verify = new Command("verify")
    .description("prove snapshots complete and unaltered (without a key: seals, chain, objects; with -i: every byte)")
    .argument("[snapshot]", "snapshot id, unique prefix or 'latest' (default: all)")
    .option("--all", "check every snapshot (the default when no id is given)")
    .option("-i, --identity <file>", "age identity file: also decrypt and check every file")
    .option("--signer <fingerprint>", "the signer fingerprint recorded at init; refuses a repository signed by another key")
    .option("--chain-head <sha256>", "a chain head from an earlier log; fails if that seal is gone")
    .action((id, opts) => run(async (ctx) => (await import("./commands/verify.js")).action(ctx, id, opts)));

  const diff = new Command("diff")
    .description("compare a live folder with a snapshot: added, removed, modified, type/mode/owner changes")
    .argument("<snapshot>", "snapshot id, unique prefix or 'latest'")
    .argument("<path>", "the live folder to compare")
    .option("-i, --identity <file>", "age identity file (to read the manifest)")
    .option("--source <label>", "which source of the snapshot the folder is (default: inferred)")
    .action((id, livePath, opts) => run(async (ctx) => (await import("./commands/diff.js")).action(ctx, id, livePath, opts)));

  const restore = new Command("restore")
    .description("restore a snapshot (or the paths selected with --include) into a folder, checking every file")
    .argument("<snapshot>", "snapshot id, unique prefix or 'latest'")
    .requiredOption("-t, --target <dir>", "folder to restore into (new or empty unless --overwrite)")
    .option("--include <glob>", "restore only matching paths, e.g. 'website/**' (repeatable)", collect, [] as string[])
    .option("-i, --identity <file>", "age identity file")
    .option("--overwrite", "allow a non-empty target; files there are replaced")
    .action((id, opts) => run(async (ctx) => (await import("./commands/restore.js")).action(ctx, id, opts)));

  const forget = new Command("forget")
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
    .option("--wait <duration>", WAIT_HELP)
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
    .action((ids, opts) => run(async (ctx) => (await import("./commands/forget.js")).action(ctx, ids, opts)));

  const prune = new Command("prune")
    .description("delete manifests and packs that no remaining snapshot references (after forget); needs no key")
    .option("--dry-run", "list what would be deleted and change nothing")
    .option("--wait <duration>", WAIT_HELP)
    .action((opts) => run(async (ctx) => (await import("./commands/prune.js")).action(ctx, opts)));

  const watch = new Command("watch")
    .description("watch the config's folder sources (or the folders given) and snapshot them when changes settle, until stopped")
    .argument("[paths...]", "folders to watch and back up instead of the config's sources (needs --repo)")
    .option("--quiet-period <duration>", "snapshot once nothing has changed for this long", "30s")
    .option("--max-delay <duration>", "but no later than this after the first unsaved change, even if changes go on", "10m")
    .option("--no-initial", "do not take a snapshot at start (by default one is taken at once)")
    .option("--signing-key <file>", "the repository's snapshot-signing key (default: from init)")
    .option("--host <name>", "host name to record (default: this machine's)")
    .action((paths, opts) => run(async (ctx) => (await import("./commands/watch.js")).action(ctx, paths, opts)));

  return [keygen, init, snapshot, snapshots, verify, diff, restore, forget, prune, watch];
}
