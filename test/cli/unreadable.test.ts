/**
 * Files that cannot be read, and files that change while they are read, through the real CLI.
 *
 * An unreadable file is never silently dropped: it is named in the JSON log (stderr) and in the
 * summary (stdout), recorded as missing in the snapshot, and the run exits 4; the snapshot still
 * verifies, restore says the file is not in it, and --json lists it under missing.
 *
 * As root (CI), chmod 000 does not stop reads, so the CLI runs as uid/gid 65534 under setpriv,
 * on a sandbox chowned to that user, with the locked entries owned by root. Not as root, plain
 * chmod 000 does it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import os from "node:os";
import { BIN, ROOT, sandbox, skipWithout, type RunResult, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

const EXIT = { ok: 0, integrity: 3, incomplete: 4 } as const;
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

interface LogLine {
  level: number;
  msg: string;
  path?: string;
  error?: string;
  [k: string]: unknown;
}

/** The JSON log lines on stderr (other lines, such as "isnad: …" messages, are left out). */
function logLines(stderr: string): LogLine[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

function chownTree(p: string, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
  if (fs.lstatSync(p).isDirectory()) for (const name of fs.readdirSync(p)) chownTree(path.join(p, name), uid, gid);
}

let unprivilegedBin: string | undefined;
let installCopy: string | undefined;
afterAll(() => {
  if (installCopy) fs.rmSync(installCopy, { recursive: true, force: true });
});

/**
 * The CLI as the unprivileged user can run it. The checkout may sit below a folder only root can
 * enter (a CI clone in a mode-0700 temp folder); then the built CLI and its dependencies are
 * copied once to a folder everyone may read.
 */
function binForUnprivileged(): string {
  if (unprivilegedBin) return unprivilegedBin;
  const canRead = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "test", "-r", BIN]).status === 0;
  if (canRead) return (unprivilegedBin = BIN);
  installCopy = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-install-"));
  fs.chmodSync(installCopy, 0o755);
  for (const part of ["package.json", "dist", "node_modules"]) {
    fs.cpSync(path.join(ROOT, part), path.join(installCopy, part), { recursive: true, verbatimSymlinks: true });
  }
  return (unprivilegedBin = path.join(installCopy, path.relative(ROOT, BIN)));
}

/**
 * A sandbox whose CLI runs as an unprivileged user when the tests run as root. Its folder is
 * given to that user, and TMPDIR points inside it (the system /tmp may not be writable for it).
 */
function unprivilegedSandbox(): Sandbox {
  const sb = sandbox();
  fs.mkdirSync(sb.path("tmpdir"));
  sb.env["TMPDIR"] = sb.path("tmpdir");
  if (!isRoot) return sb;
  chownTree(sb.dir, NOBODY, NOBODY);
  const run: Sandbox["run"] = (args, opts) =>
    new Promise<RunResult>((resolve, reject) => {
      const env = Object.fromEntries(Object.entries({ ...sb.env, ...opts?.env }).filter(([, v]) => v !== undefined));
      const child = spawn("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, binForUnprivileged(), ...args], {
        cwd: opts?.cwd ?? sb.dir,
        env,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
      child.stdin.end(opts?.input ?? "");
    });
  return { ...sb, run };
}

/** Creates a file (or folder with a file in it) that the CLI's user cannot read. */
function makeUnreadable(p: string, kind: "file" | "dir"): void {
  if (kind === "file") fs.writeFileSync(p, "sealed testimony\n");
  else {
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, "inside.txt"), "cannot be listed\n");
  }
  if (isRoot) chownTree(p, 0, 0); // root-owned: uid 65534 gets only the "other" bits, which are 0
  fs.chmodSync(p, 0o000);
}

/** Whether the user the CLI runs as can read the file (or list the folder) at p. */
function readableByCliUser(p: string): boolean {
  const probe = ["sh", "-c", 'if [ -d "$1" ]; then ls "$1"; else head -c1 "$1"; fi', "probe", p];
  const cmd = isRoot ? ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...probe] : probe;
  return spawnSync(cmd[0]!, cmd.slice(1), { stdio: "ignore" }).status === 0;
}

const needsSetpriv = isRoot && skipWithout("setpriv");

describe.skipIf(needsSetpriv)("a file that cannot be read", () => {
  let sb: Sandbox;
  let r: TestRepo;
  let data: string;
  const LOCKED = "data/sub/locked.txt";
  const PRIVATE = "data/private";
  let first: RunResult;

  beforeAll(async () => {
    sb = unprivilegedSandbox();
    r = await initRepo(sb);
    data = sb.path("data");
    fs.mkdirSync(path.join(data, "sub"), { recursive: true });
    fs.writeFileSync(path.join(data, "readable.txt"), "open record\n");
    fs.writeFileSync(path.join(data, "sub", "also-readable.txt"), "another open record\n");
    if (isRoot) chownTree(data, NOBODY, NOBODY);
    makeUnreadable(path.join(data, "sub", "locked.txt"), "file");
    makeUnreadable(path.join(data, "private"), "dir");
    // The precondition: the CLI's user really cannot read them (else the test proves nothing).
    expect(readableByCliUser(path.join(data, "sub", "locked.txt")), "locked.txt is readable").toBe(false);
    expect(readableByCliUser(path.join(data, "private")), "private/ is listable").toBe(false);
    expect(readableByCliUser(path.join(data, "readable.txt")), "readable.txt is not readable").toBe(true);
    first = await sb.run(["snapshot", "--repo", r.repo, data]);
  });

  afterAll(() => {
    if (!sb) return;
    // Without root the sandbox cannot be removed while these are 000.
    for (const p of [path.join(data, "private"), path.join(data, "sub", "locked.txt")]) fs.chmodSync(p, 0o700);
    sb.cleanup();
  });

  it("the snapshot exits 4", () => {
    expect(first.code, first.stderr).toBe(EXIT.incomplete);
  });

  it("the JSON log on stderr names each unreadable path, at level error", () => {
    const lines = logLines(first.stderr);
    for (const p of [LOCKED, PRIVATE]) {
      const line = lines.find((l) => l.path === p);
      expect(line, `no log line for ${p} in:\n${first.stderr}`).toBeDefined();
      expect(line!.level).toBe(50);
      expect(line!.msg).toMatch(/cannot read; recorded as missing/);
      expect(line!.error).toMatch(/EACCES/);
    }
    expect(lines.at(-1)!.msg).toMatch(/with unreadable files/);
    expect(lines.at(-1)!["missing"]).toBe(2);
  });

  it("the summary on stdout says INCOMPLETE and lists each unreadable path", () => {
    expect(first.stdout).toMatch(/INCOMPLETE: 2 entries could not be read; recorded as missing/);
    expect(first.stdout).toMatch(new RegExp(`^\\s+${LOCKED}: EACCES`, "m"));
    expect(first.stdout).toMatch(new RegExp(`^\\s+${PRIVATE}: EACCES`, "m"));
    expect(first.stdout).toMatch(/files 2\b/); // the readable files are all there
  });

  it("the snapshot is written and listed with its missing count", async () => {
    const res = await sb.run(["--json", "snapshots", "--repo", r.repo]);
    expect(res.code, res.stderr).toBe(EXIT.ok);
    const list = JSON.parse(res.stdout) as Array<{ files: number; missing: number }>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ files: 2, missing: 2 });
  });

  it("--json lists them under missing, and exits 4", async () => {
    const res = await sb.run(["--json", "snapshot", "--repo", r.repo, data]);
    expect(res.code, res.stderr).toBe(EXIT.incomplete);
    const out = JSON.parse(res.stdout) as {
      complete: boolean;
      missing: Array<{ path: string; error: string }>;
      stats: { files: number; missing: number };
    };
    expect(out.complete).toBe(false);
    expect(out.stats).toMatchObject({ files: 2, missing: 2 });
    expect(out.missing.map((m) => m.path).sort()).toEqual([PRIVATE, LOCKED].sort());
    for (const m of out.missing) expect(m.error).toMatch(/EACCES/);
  });

  it("verify -i passes (exit 0): an incomplete snapshot is still a sound one", async () => {
    const res = await sb.run(["verify", "--repo", r.repo, "-i", r.key]);
    expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(EXIT.ok);
    expect(res.stdout).toMatch(/OK: every check passed/);
  });

  it("restore says the unreadable paths are not in the snapshot, and restores the rest", async () => {
    const target = sb.path("restored");
    const res = await sb.run(["restore", "latest", "--repo", r.repo, "-i", r.key, "-t", target]);
    expect(res.code, res.stderr).toBe(EXIT.ok);
    expect(res.stdout).toMatch(new RegExp(`not in the snapshot: ${LOCKED} \\(unreadable at backup time: EACCES`));
    expect(res.stdout).toMatch(new RegExp(`not in the snapshot: ${PRIVATE} \\(unreadable at backup time: EACCES`));
    expect(fs.readFileSync(path.join(target, "data", "readable.txt"), "utf8")).toBe("open record\n");
    expect(fs.readFileSync(path.join(target, "data", "sub", "also-readable.txt"), "utf8")).toBe("another open record\n");
    expect(fs.existsSync(path.join(target, "data", "sub", "locked.txt"))).toBe(false);
  });

  it("restore --json lists them under notStored", async () => {
    const res = await sb.run(["--json", "restore", "latest", "--repo", r.repo, "-i", r.key, "-t", sb.path("restored-json")]);
    expect(res.code, res.stderr).toBe(EXIT.ok);
    const out = JSON.parse(res.stdout) as { ok: boolean; notStored: Array<{ path: string; why: string }> };
    expect(out.ok).toBe(true);
    expect(out.notStored.map((n) => n.path).sort()).toEqual([PRIVATE, LOCKED].sort());
  });

  it("diff against the live folder flags them (exit 3), never reports the folder identical", async () => {
    const res = await sb.run(["diff", "latest", data, "--repo", r.repo, "-i", r.key]);
    expect(res.code, res.stderr).toBe(EXIT.integrity);
    expect(res.stdout).toMatch(/^\? sub\/locked\.txt .*unreadable at backup time/m);
    expect(res.stdout).toMatch(/^\? private .*unreadable at backup time/m);
  });
});

describe("a file that changes while it is read", () => {
  let sb: Sandbox;
  let r: TestRepo;
  let data: string;
  let writer: ChildProcess | undefined;
  const GROWING = "data/growing.bin";

  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb);
    data = sb.path("data");
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, "steady.txt"), "does not change\n");
    // ~100 MiB, written in 1 MiB chunks of varying bytes (so a wrong offset would show in the hash).
    const fd = fs.openSync(path.join(data, "growing.bin"), "w");
    for (let i = 0; i < 100; i++) fs.writeSync(fd, Buffer.alloc(1 << 20, i));
    fs.closeSync(fd);
  });

  afterAll(() => {
    if (writer && writer.exitCode === null) writer.kill("SIGKILL");
    sb?.cleanup();
  });

  /** Starts a process that appends a line to the file every millisecond; resolves once it has. */
  function startAppender(file: string): Promise<ChildProcess> {
    const script = `
      const fs = require("node:fs");
      const fd = fs.openSync(process.argv[1], "a");
      let n = 0;
      setInterval(() => { fs.writeSync(fd, "appended " + n++ + "\\n"); if (n === 1) process.stdout.write("ready\\n"); }, 1);
    `;
    const child = spawn(process.execPath, ["-e", script, file], { stdio: ["ignore", "pipe", "inherit"] });
    return new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (code) => reject(new Error(`the appender exited early (${code})`)));
      child.stdout!.setEncoding("utf8").once("data", () => resolve(child));
    });
  }

  it("is stored as read, flagged in the summary, the log and --json, and the snapshot verifies", async () => {
    const file = path.join(data, "growing.bin");
    const sizeBefore = fs.statSync(file).size;
    writer = await startAppender(file);
    let res: RunResult;
    try {
      res = await sb.run(["--json", "snapshot", "--repo", r.repo, data]);
    } finally {
      writer.removeAllListeners("exit");
      writer.kill("SIGKILL");
    }
    expect(fs.statSync(file).size, "the appender did append while the snapshot ran").toBeGreaterThan(sizeBefore);

    // A changed file is stored, not missing: the snapshot is complete.
    expect(res.code, res.stderr).toBe(EXIT.ok);
    const out = JSON.parse(res.stdout) as { complete: boolean; changed: string[]; missing: unknown[]; stats: { changed: number; files: number } };
    expect(out.complete).toBe(true);
    expect(out.missing).toEqual([]);
    expect(out.changed).toEqual([GROWING]);
    expect(out.stats).toMatchObject({ changed: 1, files: 2 });

    const warn = logLines(res.stderr).find((l) => l.path === GROWING);
    expect(warn, `no log line for ${GROWING} in:\n${res.stderr}`).toBeDefined();
    expect(warn!.level).toBe(40);
    expect(warn!.msg).toMatch(/changed while being read/);

    const v = await sb.run(["verify", "--repo", r.repo, "-i", r.key]);
    expect(v.code, `${v.stdout}\n${v.stderr}`).toBe(EXIT.ok);
  });

  it("the human summary flags it too", async () => {
    const file = path.join(data, "growing.bin");
    writer = await startAppender(file);
    let res: RunResult;
    try {
      res = await sb.run(["snapshot", "--repo", r.repo, data]);
    } finally {
      writer.removeAllListeners("exit");
      writer.kill("SIGKILL");
    }
    expect(res.code, res.stderr).toBe(EXIT.ok);
    expect(res.stdout).toMatch(new RegExp(`1 file changed while being read \\(flagged\\): ${GROWING}`));
    expect(res.stdout).not.toMatch(/INCOMPLETE/);
  });

  it("restore gives back exactly the bytes that were read, checked against the manifest", async () => {
    const target = sb.path("restored");
    const res = await sb.run(["--json", "restore", "latest", "--repo", r.repo, "-i", r.key, "-t", target, "--include", GROWING]);
    expect(res.code, res.stderr).toBe(EXIT.ok);
    const restored = fs.readFileSync(path.join(target, "data", "growing.bin"));
    const live = fs.readFileSync(path.join(data, "growing.bin"));
    // What was stored is a prefix of the file as it is now (it only ever grew), at least the 100 MiB.
    expect(restored.length).toBeGreaterThanOrEqual(100 << 20);
    expect(restored.length).toBeLessThanOrEqual(live.length);
    const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    expect(digest(restored)).toBe(digest(live.subarray(0, restored.length)));
  });
});

// setpriv's own sanity, so a skip or failure above is explained.
describe.runIf(isRoot && !needsSetpriv)("setpriv", () => {
  it("drops to uid 65534", () => {
    const res = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "id", "-u"], { encoding: "utf8" });
    expect(res.stdout.trim()).toBe(String(NOBODY));
  });
});
