/**
 * `npm run bench [-- options]`: isnad against tar -c | age, restic and borg on the same data.
 *
 * For each corpus (docs: ~1 GiB of real files + 3 × 100 MiB random; small: 50,000 files of 1-8 KiB)
 * and each round (a warm-up first, then --runs rounds, tools alternating round-robin), every tool gets
 * a fresh repository and runs: first snapshot, re-run with nothing changed, re-run after 1 % of the
 * files changed, verify every byte, restore into a fresh folder. The corpus is put back to its
 * original bytes before each tool's turn. Prints medians, MB/s, peak RSS, repository size and the
 * ratios isnad/peer, then writes bench/results/<date>.md and .json (<date>-<corpus> for one corpus).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildDocs, buildSmall, Mutation, dirBytes, treeTotals, type Corpus, type CorpusName } from "./corpus.js";
import { commandExists, haveGnuTime, measure } from "./measure.js";
import { corpusTable, OPS, targets, targetsTable, type CorpusResult, type OpId, type ToolResult } from "./report.js";
import { makeTool, TOOL_NAMES, type Tool, type ToolName } from "./tools.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ISNAD_BIN = path.join(ROOT, "dist/bin/isnad.js");
const GiB = 1 << 30;

const USAGE = `usage: node dist/bench/run.js [options]   (npm run bench -- [options])
  --corpus docs|small|both|docs4
                             which corpus (default both); docs4 is docs at 4 GiB, for the memory
                             target (slow with every tool: try --tools isnad --runs 1)
  --tools a,b,…              subset of ${TOOL_NAMES.join(",")} (default all)
  --runs N                   measured rounds, median reported (default 3)
  --no-warmup                skip the warm-up round
  --quick                    tiny corpora (200 files + one 5 MiB file), 1 run, no warm-up; results to a temp dir
  --save                     with --quick: write to bench/results anyway
  --workdir DIR              where the temp folder goes (default ${os.tmpdir()})
  --restore-dir DIR          where the restores go (default /dev/shm if it is a tmpfs with room, else
                             the temp folder)
  --keep                     keep the temp folder (corpora, repositories, logs)
  --no-install               never apt-get install missing tools`;

function die(msg: string, code = 2): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(code);
}

const t0 = Date.now();
function progress(msg: string): void {
  const s = Math.round((Date.now() - t0) / 1000);
  const hms = `${String(Math.floor(s / 3600)).padStart(2, "0")}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  process.stderr.write(`[bench ${hms}] ${msg}\n`);
}

function parse() {
  let a;
  try {
    a = parseArgs({
      options: {
        quick: { type: "boolean", default: false },
        save: { type: "boolean", default: false },
        corpus: { type: "string", default: "both" },
        tools: { type: "string", default: TOOL_NAMES.join(",") },
        runs: { type: "string" },
        "no-warmup": { type: "boolean", default: false },
        workdir: { type: "string", default: os.tmpdir() },
        "restore-dir": { type: "string" },
        keep: { type: "boolean", default: false },
        "no-install": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    die(`${(e as Error).message}\n${USAGE}`);
  }
  if (a.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const corpora: CorpusName[] =
    a.corpus === "both" ? ["docs", "small"] : a.corpus === "docs" || a.corpus === "small" || a.corpus === "docs4" ? [a.corpus] : die(`--corpus must be docs, small, both or docs4, not ${a.corpus}`);
  const tools = a.tools.split(",").map((s) => s.trim()).filter(Boolean);
  for (const t of tools) if (!(TOOL_NAMES as readonly string[]).includes(t)) die(`unknown tool ${t}: use ${TOOL_NAMES.join(",")}`);
  if (!tools.includes("isnad")) die("--tools must include isnad (the ratios are isnad/peer)");
  const runs = a.runs !== undefined ? Number(a.runs) : a.quick ? 1 : 3;
  if (!Number.isInteger(runs) || runs < 1) die(`--runs must be a positive integer, not ${a.runs}`);
  return {
    quick: a.quick,
    save: a.save || !a.quick,
    corpora,
    tools: TOOL_NAMES.filter((t) => tools.includes(t)),
    runs,
    warmup: !a["no-warmup"] && !a.quick,
    workdir: path.resolve(a.workdir),
    restoreDir: a["restore-dir"] === undefined ? undefined : path.resolve(a["restore-dir"]),
    keep: a.keep,
    install: !a["no-install"] && !a.quick,
  };
}

type Options = ReturnType<typeof parse>;

function aptInstall(pkgs: string[]): boolean {
  if (pkgs.length === 0) return true;
  if (process.getuid?.() !== 0) {
    progress(`WARNING: not root, cannot apt-get install ${pkgs.join(" ")}`);
    return false;
  }
  progress(`installing from Debian: ${pkgs.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const up = spawnSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"], env });
  const r = spawnSync("apt-get", ["install", "-y", "-qq", ...pkgs], { stdio: ["ignore", "ignore", "inherit"], env });
  if (up.status !== 0 || r.status !== 0) {
    progress(`WARNING: apt-get install ${pkgs.join(" ")} failed`);
    return false;
  }
  return true;
}

/** Space needed in the temp folder: corpus + the largest repository (3 full tar|age archives) + a restore, with room to spare. */
function checkDisk(opts: Options): void {
  const need = opts.quick ? 0.25 * GiB : opts.corpora.reduce((s, c) => s + (c === "docs" ? 8 * GiB : c === "docs4" ? 24 * GiB : 3 * GiB), 0);
  const st = fs.statfsSync(opts.workdir);
  const avail = st.bavail * st.bsize;
  progress(`disk: ${(avail / GiB).toFixed(1)} GiB free in ${opts.workdir}, about ${(need / GiB).toFixed(1)} GiB needed`);
  if (avail < need) {
    die(`not enough disk space in ${opts.workdir}: ${(avail / GiB).toFixed(1)} GiB free, the benchmark needs about ${(need / GiB).toFixed(1)} GiB (corpus + repositories + restores); free some or pass --workdir DIR on a bigger disk`);
  }
}

class StepFailed extends Error {}

const TMPFS_MAGIC = 0x01021994;
/** Free space a corpus's restore needs where restores go. */
const restoreNeed = (c: CorpusName, quick: boolean): number => (quick ? 0.1 : c === "docs" ? 1.5 : c === "docs4" ? 5 : 0.5) * GiB;

/**
 * Where restores go: --restore-dir, else /dev/shm when it is a tmpfs with room, else the work
 * folder. Not the work folder by choice: its file system here is ext4 without a journal, which
 * does not give a new file an inode freed in the last minute (six, if the inode's table block is
 * dirty) and checks each such inode in turn to find one. A restore that ran after the one before
 * it was deleted spent 12-35 s of kernel CPU in that search (perf: recently_deleted,
 * find_inode_bit) instead of 2 s, for every tool alike: the restore rows measured the file
 * system's state, not the tools.
 */
function restoreRoot(opts: Options, fallback: string): { dir: string; where: string } {
  if (opts.restoreDir) return { dir: opts.restoreDir, where: `${opts.restoreDir} (--restore-dir)` };
  const need = Math.max(...opts.corpora.map((c) => restoreNeed(c, opts.quick)));
  try {
    const st = fs.statfsSync("/dev/shm");
    if (st.type === TMPFS_MAGIC && st.bavail * st.bsize >= need) return { dir: "/dev/shm", where: "/dev/shm (tmpfs)" };
  } catch {
    /* no /dev/shm: fall back */
  }
  progress(`WARNING: no tmpfs with ${(need / GiB).toFixed(1)} GiB free at /dev/shm: restores go to the work folder, where deleting files can slow the next restore (--restore-dir DIR to choose)`);
  return { dir: fallback, where: "the work folder" };
}

async function benchCorpus(corpus: Corpus, tools: Tool[], opts: Options, dirs: { runs: string; scratch: string; logs: string; restores: string }, useTime: boolean): Promise<{ result: CorpusResult; failures: number }> {
  const mutation = new Mutation(corpus);
  const results = new Map<ToolName, ToolResult>(
    tools.map((t) => [t.name, { tool: t.name, title: t.title, version: t.version(), ops: {}, restoreChecks: [] }]),
  );
  const expected = { files: corpus.files.length, bytes: corpus.bytes };
  let failures = 0;
  const rounds = opts.runs + (opts.warmup ? 1 : 0);
  // Twice what a restore fills, within the free space: touching just the corpus's size left
  // tar's docs restore at 2.2-3.7 s; twice, 1.5-1.7 s, as by hand.
  const st = fs.statfsSync(dirs.restores);
  const prefaultBytes = Math.min(corpus.bytes * 2, st.bavail * st.bsize - 256 * 2 ** 20);
  for (let round = 0; round < rounds; round++) {
    const warm = opts.warmup && round === 0;
    const label = warm ? "warm-up" : `run ${round + (opts.warmup ? 0 : 1)}/${opts.runs}`;
    const order = tools.map((_, i) => tools[(i + round) % tools.length]!);
    progress(`${corpus.name} ${label}: order ${order.map((t) => t.name).join(", ")}`);
    for (const tool of order) {
      const res = results.get(tool.name)!;
      mutation.revert();
      const dir = path.join(dirs.runs, `${corpus.name}-${tool.name}-${round}`);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      try {
        const run = tool.newRun(dir, corpus);
        const step = async (op: OpId, cmd: ReturnType<typeof run.verify>, after?: () => void) => {
          const log = path.join(dirs.logs, `${corpus.name}-${tool.name}-${round}-${op}.log`);
          // The corpus and this tool's repository, read into the page cache first: every tool
          // starts warm; before a restore, as much memory as it will fill is touched (prefault).
          const warmed = [path.join(corpus.parent, corpus.root), run.repo];
          const m = await measure(cmd, { useTime, scratch: dirs.scratch, log, warm: warmed, ...(op === "restore" ? { prefault: { dir: dirs.restores, bytes: prefaultBytes } } : {}) });
          const o = (res.ops[op] ??= { samples: [], errors: [] });
          if (m.code !== 0) {
            const msg = `${label}: exit ${m.code}: ${m.tail.trim().split("\n").slice(-5).join(" | ")}`;
            o.errors.push(msg);
            failures++;
            throw new StepFailed(`${tool.name} ${op} ${msg}`);
          }
          const isSnap = op === "first" || op === "unchanged" || op === "changed";
          const repoBytes = isSnap ? dirBytes(run.repo) : undefined;
          if (!warm) o.samples.push({ round, seconds: m.seconds, rssKiB: m.rssKiB, ...(repoBytes !== undefined ? { repoBytes } : {}) });
          progress(
            `${corpus.name} ${label} ${tool.name.padEnd(7)} ${OPS.find((x) => x.id === op)!.title}: ${m.seconds.toFixed(2)} s, ${(corpus.bytes / 1e6 / m.seconds).toFixed(1)} MB/s` +
              `${m.rssKiB !== null ? `, RSS ${(m.rssKiB / 1024).toFixed(0)} MiB` : ""}${repoBytes !== undefined ? `, repo ${(repoBytes / (1 << 20)).toFixed(1)} MiB` : ""}`,
          );
          after?.();
        };
        await step("first", run.snapshot(1));
        await step("unchanged", run.snapshot(2));
        mutation.apply();
        await step("changed", run.snapshot(3));
        await step("verify", run.verify());
        const target = path.join(dirs.restores, `${corpus.name}-${tool.name}-${round}`);
        fs.mkdirSync(target);
        await step("restore", run.restore(target), () => {
          const got = treeTotals(target);
          const check = got.files === expected.files && got.bytes === expected.bytes ? "ok" : `${label}: restored ${got.files} files / ${got.bytes} bytes, expected ${expected.files} / ${expected.bytes}`;
          if (check !== "ok") {
            progress(`WARNING: ${tool.name} restore check: ${check}`);
            failures++;
          }
          res.restoreChecks.push(check);
        });
      } catch (e) {
        progress(`WARNING: ${tool.name} failed in ${corpus.name} ${label}: ${(e as Error).message}`);
        if (!(e instanceof StepFailed)) {
          // a setup step (init) failed: count it against the first snapshot
          (res.ops.first ??= { samples: [], errors: [] }).errors.push(`${label}: ${(e as Error).message}`);
          failures++;
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(path.join(dirs.restores, `${corpus.name}-${tool.name}-${round}`), { recursive: true, force: true });
      }
    }
  }
  mutation.revert();
  const { files, ...rest } = corpus;
  return { result: { corpus: { ...rest, fileCount: files.length }, mutatedFiles: mutation.count, tools: [...results.values()] }, failures };
}

async function main(): Promise<void> {
  const opts = parse();
  if (!fs.existsSync(ISNAD_BIN)) die(`${ISNAD_BIN} is missing: run npm run build first (npm run bench does)`);
  fs.mkdirSync(opts.workdir, { recursive: true });
  checkDisk(opts);

  // Tools: install what is missing (not in --quick), skip what is still missing, with a warning.
  const wanted = opts.tools.map((name) => ({ name }));
  const allTools = TOOL_NAMES.map((n) => ({ n, cmds: n === "isnad" ? [] : n === "tar-age" ? ["tar", "age", "age-keygen"] : [n] }));
  const missingPkgs = new Set<string>();
  for (const w of wanted) {
    const t = allTools.find((x) => x.n === w.name)!;
    if (t.cmds.some((c) => !commandExists(c))) for (const p of w.name === "borg" ? ["borgbackup"] : w.name === "tar-age" ? ["tar", "age"] : [w.name]) missingPkgs.add(p);
  }
  let useTime = haveGnuTime();
  if (!useTime) missingPkgs.add("time");
  if (missingPkgs.size && opts.install) {
    aptInstall([...missingPkgs]);
    useTime = haveGnuTime();
  }
  if (!useTime) progress("WARNING: GNU time (/usr/bin/time, Debian package time) is missing: peak RSS will not be measured");

  const work = fs.mkdtempSync(path.join(opts.workdir, "isnad-bench-"));
  const sub = { corpus: path.join(work, "corpus"), runs: path.join(work, "runs"), scratch: path.join(work, "scratch"), logs: path.join(work, "logs"), tools: path.join(work, "tools") };
  for (const d of Object.values(sub)) fs.mkdirSync(d, { recursive: true });
  const restoreTo = restoreRoot(opts, work);
  fs.mkdirSync(restoreTo.dir, { recursive: true });
  const dirs = { ...sub, restores: fs.mkdtempSync(path.join(restoreTo.dir, "isnad-bench-restore-")) };
  progress(`work folder ${work}${opts.keep ? " (kept)" : ""}; restores in ${dirs.restores}`);
  const cleanup = () => {
    fs.rmSync(dirs.restores, { recursive: true, force: true });
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  };
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  process.on("SIGTERM", () => {
    cleanup();
    process.exit(143);
  });

  const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k, v]) => v !== undefined && !/^(RESTIC_|BORG_|ISNAD_|AGE_)/.test(k)),
  );
  // A private copy of the built CLI: others may rebuild dist/ while a long run goes on.
  const frozen = path.join(work, "isnad");
  fs.mkdirSync(frozen);
  fs.cpSync(path.join(ROOT, "dist"), path.join(frozen, "dist"), { recursive: true });
  fs.copyFileSync(path.join(ROOT, "package.json"), path.join(frozen, "package.json"));
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(frozen, "node_modules"));
  const isnadBin = path.join(frozen, path.relative(ROOT, ISNAD_BIN));
  const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  const source = { commit: git("rev-parse", "--short", "HEAD") || "?", dirty: git("status", "--porcelain", "--", "src", "bin").split("\n").filter(Boolean).length };

  const tools: Tool[] = [];
  const skipped: ToolResult[] = [];
  for (const name of opts.tools) {
    const tool = makeTool(name, { home: path.join(dirs.tools, name), isnadBin, baseEnv });
    const missing = tool.commands.filter((c) => !commandExists(c));
    if (missing.length) {
      const why = `${missing.join(", ")} not installed (Debian: apt-get install ${tool.apt.join(" ")})`;
      process.stdout.write(`WARNING: skipping ${tool.title}: ${why}\n`);
      progress(`WARNING: skipping ${tool.title}: ${why}`);
      skipped.push({ tool: name, title: tool.title, version: "", skipped: why, ops: {}, restoreChecks: [] });
      continue;
    }
    tool.prepare();
    tools.push(tool);
  }

  const startLoad = os.loadavg();
  const corpusResults: CorpusResult[] = [];
  let failures = 0;
  try {
    for (const name of opts.corpora) {
      progress(`building corpus ${name}${opts.quick ? " (quick)" : ""} …`);
      const corpus = name === "small" ? buildSmall(dirs.corpus, { quick: opts.quick }) : buildDocs(dirs.corpus, { quick: opts.quick }, undefined, name);
      progress(`corpus ${name}: ${corpus.files.length} files, ${(corpus.bytes / (1 << 20)).toFixed(1)} MiB, built in ${corpus.buildSeconds.toFixed(1)} s`);
      const r = await benchCorpus(corpus, tools, opts, dirs, useTime);
      r.result.tools.push(...skipped);
      corpusResults.push(r.result);
      failures += r.failures;
      fs.rmSync(path.join(corpus.parent, corpus.root), { recursive: true, force: true });
    }
  } finally {
    cleanup();
  }
  const endLoad = os.loadavg();

  // Report.
  const date = new Date().toISOString().slice(0, 10);
  const versions = [...corpusResults[0]?.tools ?? []].filter((t) => !t.skipped).map((t) => `${t.title}: ${t.version}`);
  const tgt = targets(corpusResults);
  const md = [
    `# isnad benchmark, ${date}${opts.quick ? " (quick: tiny corpora, not a measurement)" : ""}`,
    "",
    `- machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${(os.totalmem() / GiB).toFixed(0)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.release()}`,
    `- load average (1 min) at start ${startLoad[0]!.toFixed(2)}, at end ${endLoad[0]!.toFixed(2)}; total time ${((Date.now() - t0) / 60000).toFixed(1)} min`,
    `- versions: ${versions.join("; ")}; isnad built from commit ${source.commit}${source.dirty ? ` plus ${source.dirty} uncommitted file(s) under src/ and bin/` : ""}`,
    `- method: per round every tool gets a fresh repository and runs the five steps in order; tools alternate round-robin (the order rotates each round); ${opts.warmup ? "one warm-up round (not counted), then " : "no warm-up, "}${opts.runs} measured round${opts.runs > 1 ? "s" : ""}, median shown. Before every timed step, untimed: the corpus and the tool's repository are read once, so the page cache is warm for every tool (these VMs page out memory idle for a minute), then \`sync\` runs, so no step pays for writing back the one before. The corpus gets its original bytes back before each tool's turn. Restores go to ${restoreTo.where}: on the disk of the VMs this was written on (ext4 without a journal), a restore made just after another was deleted spent seconds of kernel CPU finding free inodes, whichever tool it was. Before each restore, untimed, a scratch file twice the corpus's size is written there and deleted: the first touch of memory these VMs never used before costs ~2.5 s per GiB, which otherwise fell on whichever tool reached it first.`,
    `- seconds: wall clock of the whole command; MB/s = corpus bytes (10^6) / median seconds, for every step (re-runs and verify read or check the whole corpus too); peak RSS: GNU time %M, highest over the measured runs; for a pipeline (tar | age) the max over its processes, not the sum; repo MiB: apparent size of the repository's files after that step (median).`,
    `- commands: ${[...corpusResults[0]?.tools ?? []].filter((t) => !t.skipped).map((t) => tools.find((x) => x.name === t.tool)?.notes).join(" — ")}`,
    "",
    ...corpusResults.flatMap((r) => [corpusTable(r), ""]),
    targetsTable(tgt),
    "",
  ].join("\n");
  const json = { date, quick: opts.quick, options: { ...opts }, machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memBytes: os.totalmem(), node: process.version, isnadSource: source, loadStart: startLoad, loadEnd: endLoad }, results: corpusResults, targets: tgt };

  process.stdout.write(`${md}\n`);
  const outDir = opts.save ? path.join(ROOT, "bench/results") : path.join(opts.workdir, "isnad-bench-results");
  fs.mkdirSync(outDir, { recursive: true });
  // One corpus alone (docs4, say) gets its own file, next to the day's full run rather than over it.
  const suffix = (opts.quick ? "-quick" : "") + (opts.corpora.length === 1 ? `-${opts.corpora[0]}` : "");
  const base = path.join(outDir, `${date}${suffix}`);
  fs.writeFileSync(`${base}.md`, md);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  progress(`results written to ${base}.md and ${base}.json`);
  if (failures) {
    progress(`${failures} command(s) failed or restored wrong data: see the tables`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
