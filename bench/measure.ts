/**
 * Runs one command, timed by the wall clock, with its peak RSS from GNU time (`/usr/bin/time -f %M`).
 * A pipeline runs as `bash -o pipefail -c …` under one `time`: the kernel's ru_maxrss for a waited
 * child covers its waited-for descendants too, so the figure is the MAX over the pipeline's processes
 * (tar, age and bash), not their sum.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";

export interface Cmd {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface Measured {
  seconds: number;
  /** Peak RSS in KiB, or null when GNU time is not available. */
  rssKiB: number | null;
  code: number;
  /** Last lines of stdout+stderr, for error reports. */
  tail: string;
}

export const GNU_TIME = "/usr/bin/time";

export function haveGnuTime(): boolean {
  if (!fs.existsSync(GNU_TIME)) return false;
  const r = spawnSync(GNU_TIME, ["-f", "%M", "true"], { encoding: "utf8" });
  return r.status === 0 && /^\d+\s*$/m.test(r.stderr);
}

/** A pipeline: script gets args as "$1", "$2", … (no quoting to get wrong). */
export function shell(script: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Cmd {
  return { argv: ["bash", "-o", "pipefail", "-c", script, "bash", ...args], cwd, env };
}

const TAIL = 3000;

/**
 * Writes every dirty page to disk (untimed). Run before each timed step: otherwise the previous
 * step's writes (a restore of 1 GiB, a deleted repository) are still being written back while the
 * next one runs, and the step that happens to sync its own files (isnad fsyncs every object)
 * waits for them. Seen here: the same first snapshot of the small corpus took 2.1 s or 5.9 s, by what ran before it.
 */
export function settleDisk(): void {
  spawnSync("sync", { stdio: "ignore" });
}

/**
 * Reads every file under `dirs` (untimed), so that a timed step finds them in the page cache,
 * whatever ran before it. Needed here: these VMs page out memory left untouched for a minute
 * (DAMON "pageout" of regions idle for 60 s), so a tool whose turn came after another tool's long
 * restore found the corpus half evicted: the small corpus's first snapshot took 4.3 s instead of
 * 1.6 s for isnad, 7.9 s instead of 4.2 s for borg. Returns the bytes read.
 */
export function warmCache(dirs: string[]): number {
  const buf = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  const visit = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.isFile()) {
        const fd = fs.openSync(p, "r");
        try {
          for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) bytes += n;
        } finally {
          fs.closeSync(fd);
        }
      }
    }
  };
  for (const d of dirs) if (fs.existsSync(d)) visit(d);
  return bytes;
}

/**
 * Writes `bytes` through a scratch file in `dir`, then deletes it (untimed), so that a restore
 * into `dir` right after writes into memory the VM has already backed. On these VMs the first
 * touch of guest memory costs about 2.5 s per GiB more (perf: the time lands in the kernel's copy
 * into the new pages): a 1 GiB `age -d | tar -x` into tmpfs took 4.1-4.5 s into memory never used
 * before and 1.4-1.5 s into memory freed just before (by hand, 2026-12-07). Which tool first
 * reached unused memory decided its restore time: in the runs before this, every tool's docs
 * restore took 2.7-4.9 s.
 */
export function prefault(dir: string, bytes: number): void {
  const file = path.join(dir, `prefault-${process.pid}`);
  const buf = Buffer.alloc(1 << 20, 1);
  const fd = fs.openSync(file, "w");
  try {
    for (let n = 0; n < bytes; n += buf.length) fs.writeSync(fd, buf);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/**
 * `warm`: folders to read into the page cache first (warmCache), then the disk is settled
 * (settleDisk); `prefault`: then memory is touched for a restore (prefault). None is timed.
 */
export function measure(cmd: Cmd, opts: { useTime: boolean; scratch: string; log?: string; warm?: string[]; prefault?: { dir: string; bytes: number } }): Promise<Measured> {
  if (opts.warm) warmCache(opts.warm);
  settleDisk();
  if (opts.prefault) prefault(opts.prefault.dir, opts.prefault.bytes);
  const rssFile = path.join(opts.scratch, `rss-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
  const argv = opts.useTime ? [GNU_TIME, "-f", "%M", "-o", rssFile, ...cmd.argv] : cmd.argv;
  return new Promise((resolve, reject) => {
    let tail = "";
    const keep = (d: Buffer) => {
      tail = (tail + d.toString("utf8")).slice(-TAIL);
      if (opts.log) fs.appendFileSync(opts.log, d);
    };
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: cmd.cwd, env: cmd.env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      let rssKiB: number | null = null;
      if (opts.useTime) {
        try {
          const lines = fs.readFileSync(rssFile, "utf8").trim().split("\n");
          const v = Number(lines.at(-1));
          if (Number.isFinite(v)) rssKiB = v;
          fs.rmSync(rssFile, { force: true });
        } catch {
          /* time wrote nothing (killed) */
        }
      }
      resolve({ seconds, rssKiB, code: code ?? (signal ? 128 : -1), tail });
    });
  });
}

/** Untimed setup step; throws with the output on failure. */
export function runChecked(cmd: Cmd, what: string): string {
  const r = spawnSync(cmd.argv[0]!, cmd.argv.slice(1), { cwd: cmd.cwd, env: cmd.env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}\n${(r.stdout + r.stderr).slice(-TAIL)}`);
  return r.stdout;
}

export function commandExists(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v '${name}'`], { stdio: "ignore" }).status === 0;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
