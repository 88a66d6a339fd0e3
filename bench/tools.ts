/**
 * The four contestants, each as: once-per-bench keys, then per run a fresh repository and the
 * commands for snapshot (1st, unchanged, 1 % changed), verify every byte, and restore.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import type { Corpus } from "./corpus.js";
import { runChecked, shell, type Cmd } from "./measure.js";

export const TOOL_NAMES = ["isnad", "tar-age", "restic", "borg"] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export interface ToolRun {
  repo: string;
  /** i = 1 (first), 2 (nothing changed), 3 (after the 1 % change). */
  snapshot(i: number): Cmd;
  verify(): Cmd;
  /** target: a fresh, empty folder. */
  restore(target: string): Cmd;
}

export interface Tool {
  name: ToolName;
  /** What the rows call it, e.g. "tar -c | age". */
  title: string;
  /** What "verify" and "restore" run, for the notes under the tables. */
  notes: string;
  commands: string[];
  apt: string[];
  version(): string;
  prepare(): void;
  /** Creates a fresh repository under dir (untimed). */
  newRun(dir: string, corpus: Corpus): ToolRun;
}

export interface ToolContext {
  /** This tool's private folder (keys, config, caches). */
  home: string;
  isnadBin: string;
  baseEnv: NodeJS.ProcessEnv;
}

const PASSWORD = "isnad-bench-not-a-secret";

function firstLine(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  return ((r.stdout || r.stderr || "").trim().split("\n")[0] ?? "").trim() || "?";
}

function publicKeyOf(keyFile: string): string {
  const m = /^# public key: (age1\S+)$/m.exec(fs.readFileSync(keyFile, "utf8"));
  if (!m) throw new Error(`no "# public key:" line in ${keyFile}`);
  return m[1]!;
}

/** What a script's "#!/usr/bin/env -S [NAME=value …] node [flags …]" line sets: environment and node flags. */
export function shebangOf(script: string): { env: Record<string, string>; nodeFlags: string[] } {
  const first = fs.readFileSync(script, "utf8").split("\n", 1)[0] ?? "";
  const words = /^#!\S*env\s+-S\s+(.*)$/.exec(first)?.[1]?.trim().split(/\s+/) ?? [];
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!); i++) {
    const w = words[i]!;
    env[w.slice(0, w.indexOf("="))] = w.slice(w.indexOf("=") + 1);
  }
  return { env, nodeFlags: words[i] === "node" ? words.slice(i + 1) : [] };
}

export function makeTool(name: ToolName, ctx: ToolContext): Tool {
  fs.mkdirSync(ctx.home, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...ctx.baseEnv,
    HOME: ctx.home,
    XDG_CONFIG_HOME: path.join(ctx.home, "config"),
    XDG_CACHE_HOME: path.join(ctx.home, "cache"),
  };
  const key = path.join(ctx.home, "key.txt");
  switch (name) {
    case "isnad": {
      // Run it as the installed command runs: with the environment and node flags of the bin's #! line.
      const shebang = shebangOf(ctx.isnadBin);
      const isnad = (...args: string[]) => [process.execPath, ...shebang.nodeFlags, ctx.isnadBin, ...args];
      Object.assign(env, shebang.env);
      let recipient = "";
      return {
        name,
        title: "isnad",
        notes: "isnad snapshot; verify --repo R -i key (every byte of every snapshot); restore latest -i key (SHA-256 of every file checked)",
        commands: [],
        apt: [],
        version: () => firstLine(isnad("--version")),
        prepare() {
          runChecked({ argv: isnad("keygen", "--classic", "-o", key), cwd: ctx.home, env }, "isnad keygen");
          recipient = publicKeyOf(key);
        },
        newRun(dir, corpus) {
          const repo = path.join(dir, "repo");
          runChecked({ argv: isnad("--json", "init", "--repo", repo, "--recipient", recipient), cwd: dir, env }, "isnad init");
          return {
            repo,
            snapshot: () => ({ argv: isnad("snapshot", "--repo", repo, corpus.root), cwd: corpus.parent, env }),
            verify: () => ({ argv: isnad("verify", "--repo", repo, "-i", key), cwd: dir, env }),
            restore: (target) => ({ argv: isnad("restore", "latest", "--repo", repo, "--target", target, "-i", key), cwd: dir, env }),
          };
        },
      };
    }
    case "tar-age": {
      let recipient = "";
      return {
        name,
        title: "tar -c | age",
        notes: "tar -cf - DIR | age -r R > N.tar.age (one full archive per run); verify: age -d | tar -t > /dev/null for every archive; restore: age -d -i key | tar -x",
        commands: ["tar", "age", "age-keygen"],
        apt: ["tar", "age"],
        version: () => `${firstLine(["tar", "--version"])}; age ${firstLine(["age", "--version"])}`,
        prepare() {
          runChecked({ argv: ["age-keygen", "-o", key], cwd: ctx.home, env }, "age-keygen");
          recipient = publicKeyOf(key);
        },
        newRun(dir, corpus) {
          const repo = path.join(dir, "repo");
          fs.mkdirSync(repo, { recursive: true });
          let last = 0;
          const archive = (i: number) => path.join(repo, `${i}.tar.age`);
          return {
            repo,
            snapshot: (i) => {
              last = i;
              return shell('tar -cf - "$1" | age -r "$2" > "$3"', [corpus.root, recipient, archive(i)], corpus.parent, env);
            },
            verify: () => shell('for f in "$2"/*.tar.age; do age -d -i "$1" "$f" | tar -tf - > /dev/null || exit 1; done', [key, repo], dir, env),
            restore: (target) => shell('age -d -i "$1" "$2" | tar -xf - -C "$3"', [key, archive(last), target], dir, env),
          };
        },
      };
    }
    case "restic": {
      return {
        name,
        title: "restic",
        notes: "restic backup -q DIR (default compression auto); verify: restic check --read-data; restore: restic restore latest --target",
        commands: ["restic"],
        apt: ["restic"],
        version: () => firstLine(["restic", "version"]),
        prepare() {},
        newRun(dir, corpus) {
          const repo = path.join(dir, "repo");
          const renv = { ...env, RESTIC_PASSWORD: PASSWORD, RESTIC_REPOSITORY: repo, RESTIC_CACHE_DIR: path.join(dir, "cache") };
          runChecked({ argv: ["restic", "init", "-q"], cwd: dir, env: renv }, "restic init");
          return {
            repo,
            snapshot: () => ({ argv: ["restic", "backup", "-q", corpus.root], cwd: corpus.parent, env: renv }),
            verify: () => ({ argv: ["restic", "check", "-q", "--read-data"], cwd: dir, env: renv }),
            restore: (target) => ({ argv: ["restic", "restore", "-q", "latest", "--target", target], cwd: dir, env: renv }),
          };
        },
      };
    }
    case "borg": {
      return {
        name,
        title: "borg",
        notes: "borg create (repokey, default lz4); verify: borg check --verify-data; restore: borg extract",
        commands: ["borg"],
        apt: ["borgbackup"],
        version: () => firstLine(["borg", "--version"]),
        prepare() {},
        newRun(dir, corpus) {
          const repo = path.join(dir, "repo");
          const benv = {
            ...env,
            BORG_PASSPHRASE: PASSWORD,
            BORG_BASE_DIR: path.join(dir, "base"),
            BORG_DISPLAY_PASSPHRASE: "no",
            BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes",
          };
          runChecked({ argv: ["borg", "init", "-e", "repokey", repo], cwd: dir, env: benv }, "borg init");
          let last = 0;
          return {
            repo,
            snapshot: (i) => {
              last = i;
              return { argv: ["borg", "create", `${repo}::run-${i}`, corpus.root], cwd: corpus.parent, env: benv };
            },
            verify: () => ({ argv: ["borg", "check", "--verify-data", repo], cwd: dir, env: benv }),
            restore: (target) => ({ argv: ["borg", "extract", `${repo}::run-${last}`], cwd: target, env: benv }),
          };
        },
      };
    }
  }
}
