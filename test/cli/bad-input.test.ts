/**
 * Bad input through the real CLI: every mistake a user can make ends with its own exit code, ONE
 * line on stderr starting "isnad: " that names the file, option or key at fault (and, on a hint
 * line, what to do), and nothing half-written: the whole sandbox (repository, keys, targets,
 * TMPDIR) is compared before and after each failing run.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT, sandbox, type RunResult, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

const EXIT = { ok: 0, error: 1, usage: 2 } as const;

let sb: Sandbox;
let r: TestRepo;
/** The folder backed up in the first snapshot. */
let data: string;
let firstSnapshot: string;

beforeAll(async () => {
  sb = sandbox();
  // Spool files of command sources go to TMPDIR: keep it inside the sandbox so it is checked too.
  fs.mkdirSync(sb.path("tmpdir"));
  sb.env["TMPDIR"] = sb.path("tmpdir");
  r = await initRepo(sb);
  data = sb.path("data");
  fs.mkdirSync(path.join(data, "sub"), { recursive: true });
  fs.writeFileSync(path.join(data, "report.txt"), "field report\n");
  fs.writeFileSync(path.join(data, "sub", "photo.bin"), Buffer.alloc(4096, 7));
  const s = await sb.run(["--json", "snapshot", "--repo", r.repo, data]);
  expect(s.code, s.stderr).toBe(EXIT.ok);
  firstSnapshot = (JSON.parse(s.stdout) as { snapshot: string }).snapshot;
});

afterAll(() => sb?.cleanup());

// ---- helpers ------------------------------------------------------------------------------------

type Tree = Record<string, string>;

/** Every entry under dir: folders by type, files by size, mtime and SHA-256, symlinks by target. */
function tree(dir: string): Tree {
  const out: Tree = {};
  const walk = (abs: string, rel: string) => {
    for (const name of fs.readdirSync(abs).sort()) {
      const a = path.join(abs, name);
      const p = rel === "" ? name : `${rel}/${name}`;
      const st = fs.lstatSync(a);
      if (st.isDirectory()) {
        out[p] = "dir";
        walk(a, p);
      } else if (st.isSymbolicLink()) out[p] = `link -> ${fs.readlinkSync(a)}`;
      else out[p] = `file ${st.size} ${st.mtimeMs} ${createHash("sha256").update(fs.readFileSync(a)).digest("hex")}`;
    }
  };
  walk(dir, "");
  return out;
}

/**
 * Checks the one-line error contract and returns the "isnad: " line. Other stderr lines may only
 * be a "  hint: …" line, commander's "(run isnad … for usage)" line, or JSON log lines.
 */
function errorLine(res: RunResult, code: number): string {
  expect(res.code, `exit code; stderr:\n${res.stderr}`).toBe(code);
  const lines = res.stderr.split("\n").filter((l) => l.trim() !== "");
  const messages = lines.filter((l) => l.startsWith("isnad: "));
  expect(messages, `exactly one "isnad: " line on stderr; stderr:\n${res.stderr}`).toHaveLength(1);
  for (const l of lines) {
    if (l.startsWith("isnad: ") || l.startsWith("  hint: ") || /^\(run isnad .* for usage\)$/.test(l)) continue;
    expect(() => JSON.parse(l), `stray stderr line (not the message, a hint or a JSON log line): ${l}`).not.toThrow();
  }
  expect(res.stderr, "no stack trace").not.toMatch(/^\s+at /m);
  return messages[0]!;
}

/** The hint line ("  hint: …"), or "" if there is none. */
const hintOf = (res: RunResult): string => res.stderr.split("\n").find((l) => l.startsWith("  hint: ")) ?? "";

/** Runs a command that must fail, and checks that nothing in the sandbox changed. */
async function failsCleanly(args: string[], opts?: Parameters<Sandbox["run"]>[1]): Promise<RunResult> {
  const before = tree(sb.dir);
  const res = await sb.run(args, opts);
  expect(tree(sb.dir), `the sandbox changed after: isnad ${args.join(" ")}\nstderr:\n${res.stderr}`).toEqual(before);
  return res;
}

async function snapshotIds(repo: string): Promise<string[]> {
  const res = await sb.run(["--json", "snapshots", "--repo", repo]);
  expect(res.code, res.stderr).toBe(EXIT.ok);
  return (JSON.parse(res.stdout) as Array<{ id: string }>).map((s) => s.id);
}

function writeConfig(name: string, text: string): string {
  const file = sb.path(name);
  fs.writeFileSync(file, text);
  return file;
}

/** Runs the CLI in a new session (no controlling terminal), stdin a pipe; kills it if it hangs. */
function runWithoutTty(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<RunResult & { timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: sb.dir,
      env: Object.fromEntries(Object.entries({ ...sb.env, ...env }).filter(([, v]) => v !== undefined)),
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // setsid(): /dev/tty cannot be opened, as under cron
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr, timedOut });
    });
    // stdin stays an open pipe that never sends anything: a prompt on it would hang.
  });
}

// ---- config file --------------------------------------------------------------------------------

describe("config file", () => {
  it("--config naming a missing file: exit 2, names the file and --config", async () => {
    const res = await failsCleanly(["--config", "nope.yaml", "snapshot"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/nope\.yaml/);
    expect(line).toMatch(/does not exist/);
    expect(hintOf(res)).toMatch(/--config/);
  });

  it("malformed YAML: exit 2, names the file and the line", async () => {
    const file = writeConfig(
      "syntax.yaml",
      `repository: ${r.repo}\nsources:\n  - label: data\n   type: dir\n    path: ${data}\n`,
    );
    const before = await snapshotIds(r.repo);
    const res = await failsCleanly(["--config", file, "snapshot"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/syntax\.yaml line 4\b/);
    expect(await snapshotIds(r.repo)).toEqual(before);
  });

  it("unknown top-level key: exit 2, names the key and suggests the right one", async () => {
    const file = writeConfig("unknown-key.yaml", `repository: ${r.repo}\nsorces:\n  - label: data\n    type: dir\n    path: ${data}\n`);
    const res = await failsCleanly(["--config", file, "snapshot"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/unknown-key\.yaml/);
    expect(line).toMatch(/unknown key "sorces"/);
    expect(hintOf(res)).toMatch(/"sources"/);
  });

  it("unknown key inside a source: exit 2, names sources[0] and the key", async () => {
    const file = writeConfig(
      "unknown-source-key.yaml",
      `repository: ${r.repo}\nsources:\n  - label: data\n    type: dir\n    path: ${data}\n    exlude: ["*.tmp"]\n`,
    );
    const res = await failsCleanly(["--config", file, "snapshot"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/sources\[0\]/);
    expect(line).toMatch(/"exlude"/);
    expect(hintOf(res)).toMatch(/"exclude"/);
  });

  it("wrong type at the top level: exit 2, names the key", async () => {
    const file = writeConfig("wrong-type.yaml", `repository: 42\nsources:\n  - label: data\n    type: dir\n    path: ${data}\n`);
    const res = await failsCleanly(["--config", file, "snapshots"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/wrong-type\.yaml/);
    expect(line).toMatch(/repository: expected a string/);
  });

  it("wrong type inside a source: exit 2, names sources[0].exclude", async () => {
    const file = writeConfig(
      "wrong-nested-type.yaml",
      `repository: ${r.repo}\nsources:\n  - label: data\n    type: dir\n    path: ${data}\n    exclude: "*.tmp"\n`,
    );
    const res = await failsCleanly(["--config", file, "snapshot"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/sources\[0\]\.exclude: expected a list/);
  });
});

// ---- init ---------------------------------------------------------------------------------------

describe("init", () => {
  it("--recipient age1garbage: exit 2, names the option and the string, no repository made", async () => {
    const res = await failsCleanly(["init", "--repo", sb.path("new-repo"), "--recipient", "age1garbage"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/--recipient/);
    expect(line).toMatch(/"age1garbage"/);
    expect(line).toMatch(/age1…/); // says what a recipient looks like
    expect(fs.existsSync(sb.path("new-repo"))).toBe(false);
  });

  it("a secret key given as --recipient: exit 2, says so, and never echoes the key", async () => {
    const secret = fs
      .readFileSync(r.key, "utf8")
      .split("\n")
      .find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
    const res = await failsCleanly(["init", "--repo", sb.path("new-repo"), "--recipient", secret]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/--recipient/);
    expect(line).toMatch(/secret key/);
    const body = secret.slice("AGE-SECRET-KEY-1".length);
    for (const out of [res.stdout, res.stderr]) {
      expect(out).not.toContain(secret);
      expect(out).not.toContain(body.slice(0, 12));
      expect(out).not.toContain(body.slice(-12));
    }
  });

  it("a non-empty folder that is not a repository: exit 2, names it, leaves it as it was", async () => {
    const dir = sb.path("papers");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "notes.txt"), "do not touch\n");
    const res = await failsCleanly(["init", "--repo", dir, "--recipient", r.recipient]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(dir);
    expect(line).toMatch(/not empty and is not an isnad repository/);
    expect(fs.readdirSync(dir)).toEqual(["notes.txt"]);
  });

  it("twice on the same folder: exit 2, the repository and its signing key are untouched", async () => {
    const res = await failsCleanly(["init", "--repo", r.repo, "--recipient", r.recipient]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(r.repo);
    expect(line).toMatch(/already an isnad repository/);
    expect(await snapshotIds(r.repo)).toEqual([firstSnapshot]);
  });
});

// ---- --repo not a repository ----------------------------------------------------------------------

describe("--repo pointing at a folder that is not a repository", () => {
  let notRepo: string;
  beforeAll(() => {
    notRepo = sb.path("just-a-folder");
    fs.mkdirSync(notRepo);
    fs.writeFileSync(path.join(notRepo, "readme.txt"), "hello\n");
  });

  const cases: Array<[string, (repo: string) => string[]]> = [
    ["snapshot", (repo) => ["snapshot", "--repo", repo, data]],
    ["verify", (repo) => ["verify", "--repo", repo]],
    ["verify -i", (repo) => ["verify", "--repo", repo, "-i", r.key]],
    ["restore", (repo) => ["restore", "latest", "--repo", repo, "-i", r.key, "-t", sb.path("restore-target")]],
    ["diff", (repo) => ["diff", "latest", data, "--repo", repo, "-i", r.key]],
    ["snapshots", (repo) => ["snapshots", "--repo", repo]],
  ];

  for (const [name, args] of cases) {
    it(`${name}: exit 2, names the folder and --repo`, async () => {
      const res = await failsCleanly(args(notRepo));
      const line = errorLine(res, EXIT.usage);
      expect(line).toContain(notRepo);
      expect(line).toMatch(/is not an isnad repository/);
      expect(hintOf(res)).toMatch(/--repo/);
    });
  }

  it("snapshot to a folder that does not exist: exit 2, the folder is not created", async () => {
    const missing = sb.path("no-such-repo");
    const res = await failsCleanly(["snapshot", "--repo", missing, data]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(missing);
    expect(line).toMatch(/is not an isnad repository/);
  });
});

// ---- corrupted isnad.json ---------------------------------------------------------------------------

describe("corrupted isnad.json", () => {
  function corruptCopy(name: string, edit: (text: string) => string): string {
    const dest = sb.path(name);
    fs.cpSync(r.repo, dest, { recursive: true });
    const file = path.join(dest, "isnad.json");
    fs.writeFileSync(file, edit(fs.readFileSync(file, "utf8")));
    return dest;
  }
  const jsonEdit = (f: (j: Record<string, unknown>) => void) => (text: string) => {
    const j = JSON.parse(text) as Record<string, unknown>;
    f(j);
    return JSON.stringify(j, null, 2);
  };

  it("truncated JSON: snapshot and verify exit 2 naming isnad.json, nothing written", async () => {
    const repo = corruptCopy("repo-truncated", (t) => t.slice(0, Math.floor(t.length / 2)));
    for (const args of [["snapshot", "--repo", repo, "--signing-key", r.signingKey, data], ["verify", "--repo", repo]]) {
      const res = await failsCleanly(args);
      const line = errorLine(res, EXIT.usage);
      expect(line).toContain(path.join(repo, "isnad.json"));
      expect(line).toMatch(/corrupted/);
      expect(line).toMatch(/not valid JSON/);
    }
  });

  it("valid JSON with a wrong field (recipients not a list): exit 2 naming the file and the field", async () => {
    const repo = corruptCopy("repo-wrong-field", jsonEdit((j) => (j["recipients"] = r.recipient)));
    const res = await failsCleanly(["snapshot", "--repo", repo, "--signing-key", r.signingKey, data]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(path.join(repo, "isnad.json"));
    expect(line).toMatch(/corrupted/);
    expect(line).toMatch(/recipients/);
  });

  it("valid JSON with a wrong field (version 2): exit 2 naming the field", async () => {
    const repo = corruptCopy("repo-wrong-version", jsonEdit((j) => (j["version"] = 2)));
    const res = await failsCleanly(["verify", "--repo", repo]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(path.join(repo, "isnad.json"));
    expect(line).toMatch(/version/);
  });

  it("valid JSON with a recipient that is not an age key: exit 2 naming isnad.json, no snapshot", async () => {
    const repo = corruptCopy("repo-bad-recipient", jsonEdit((j) => (j["recipients"] = ["age1garbage"])));
    const res = await failsCleanly(["snapshot", "--repo", repo, "--signing-key", r.signingKey, data]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/age1garbage/);
    // The user must learn WHERE the bad recipient is: the repository's isnad.json.
    expect(line).toMatch(/isnad\.json/);
  });
});

// ---- sources ------------------------------------------------------------------------------------

describe("sources", () => {
  it("a dir source folder from the config that does not exist: exit 2, names the source and the folder", async () => {
    const file = writeConfig(
      "missing-source.yaml",
      `repository: ${r.repo}\nsigning_key: ${r.signingKey}\nsources:\n  - label: data\n    type: dir\n    path: ${data}\n  - label: scans\n    type: dir\n    path: ./no-such-scans\n`,
    );
    const before = await snapshotIds(r.repo);
    const res = await failsCleanly(["--config", file, "snapshot"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/source "scans"/);
    expect(line).toContain(sb.path("no-such-scans"));
    expect(line).toMatch(/does not exist/);
    expect(await snapshotIds(r.repo)).toEqual(before);
  });

  it("an ad hoc path that does not exist: exit 2, names the folder", async () => {
    const before = await snapshotIds(r.repo);
    const res = await failsCleanly(["snapshot", "--repo", r.repo, data, "no-such-folder"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(sb.path("no-such-folder"));
    expect(line).toMatch(/does not exist/);
    expect(await snapshotIds(r.repo)).toEqual(before);
  });

  it("a command source that fails half way (dump-database.sh --fail): exit 1, names command and code, no snapshot", async () => {
    const script = path.join(ROOT, "examples", "dump-database.sh");
    const file = writeConfig(
      "failing-dump.yaml",
      `repository: ${r.repo}\nsigning_key: ${r.signingKey}\nsources:\n  - label: data\n    type: dir\n    path: ${data}\n  - label: database\n    type: command\n    command: sh ${script} --fail\n    filename: cases.sql\n`,
    );
    const before = await snapshotIds(r.repo);
    const res = await failsCleanly(["--config", file, "snapshot"]); // also: nothing left in the repository, its tmp or TMPDIR
    const line = errorLine(res, EXIT.error);
    expect(line).toMatch(/command source "database"/);
    expect(line).toContain(`sh ${script} --fail`);
    expect(line).toMatch(/exited with code 1/);
    expect(line).toMatch(/query failed/); // the command's own last stderr line
    expect(await snapshotIds(r.repo)).toEqual(before);
    expect(fs.readdirSync(path.join(r.repo, "tmp"))).toEqual([]);
    expect(fs.readdirSync(sb.path("tmpdir"))).toEqual([]);
  });

  it("a command source `sh -c 'exit 3'`: exit 1, names the command and code 3, no snapshot", async () => {
    const file = writeConfig(
      "exit3.yaml",
      `repository: ${r.repo}\nsigning_key: ${r.signingKey}\nsources:\n  - label: db\n    type: command\n    command: sh -c 'exit 3'\n`,
    );
    const before = await snapshotIds(r.repo);
    const res = await failsCleanly(["--config", file, "snapshot"]);
    const line = errorLine(res, EXIT.error);
    expect(line).toMatch(/command source "db"/);
    expect(line).toContain("sh -c 'exit 3'");
    expect(line).toMatch(/exited with code 3/);
    expect(await snapshotIds(r.repo)).toEqual(before);
    expect(fs.readdirSync(sb.path("tmpdir"))).toEqual([]);
  });
});

// ---- identities ---------------------------------------------------------------------------------

describe("identities", () => {
  let otherKey: string;
  beforeAll(async () => {
    otherKey = sb.path("other-key.txt");
    const kg = await sb.run(["keygen", "--classic", "-o", otherKey]);
    expect(kg.code, kg.stderr).toBe(0);
  });

  it("restore with another key: exit 2 \"no identity matches\", no target folder left behind", async () => {
    const target = sb.path("restore-wrong-key");
    const res = await failsCleanly(["restore", "latest", "--repo", r.repo, "-i", otherKey, "-t", target]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/no identity matches/);
    expect(fs.existsSync(target)).toBe(false);
  });

  it("diff with another key: exit 2 \"no identity matches\"", async () => {
    const res = await failsCleanly(["diff", "latest", data, "--repo", r.repo, "-i", otherKey]);
    expect(errorLine(res, EXIT.usage)).toMatch(/no identity matches/);
  });

  for (const cmd of ["restore", "diff", "verify"] as const) {
    it(`${cmd} -i with a missing identity file: exit 2, names the file`, async () => {
      const missing = sb.path("missing-key.txt");
      const args =
        cmd === "restore"
          ? ["restore", "latest", "--repo", r.repo, "-i", missing, "-t", sb.path("restore-missing-key")]
          : cmd === "diff"
            ? ["diff", "latest", data, "--repo", r.repo, "-i", missing]
            : ["verify", "--repo", r.repo, "-i", missing];
      const res = await failsCleanly(args);
      const line = errorLine(res, EXIT.usage);
      expect(line).toContain(missing);
      expect(line).toMatch(/identity file .* does not exist/);
    });
  }

  for (const cmd of ["restore", "diff"] as const) {
    it(`${cmd} without any identity (no -i, no config): exit 2, says -i is needed`, async () => {
      const args =
        cmd === "restore" ? ["restore", "latest", "--repo", r.repo, "-t", sb.path("restore-no-key")] : ["diff", "latest", data, "--repo", r.repo];
      const res = await failsCleanly(args);
      const line = errorLine(res, EXIT.usage);
      expect(line).toMatch(new RegExp(`${cmd} needs the identity`));
      expect(hintOf(res)).toMatch(/-i KEYFILE/);
    });
  }
});

// ---- restore target -----------------------------------------------------------------------------

describe("restore target", () => {
  it("--target naming an existing file: exit 2, names it, the file is untouched", async () => {
    const file = sb.path("target-is-a-file.txt");
    fs.writeFileSync(file, "precious\n");
    const res = await failsCleanly(["restore", firstSnapshot, "--repo", r.repo, "-i", r.key, "-t", file]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(file);
    expect(line).toMatch(/is a file, not a folder/);
    expect(fs.readFileSync(file, "utf8")).toBe("precious\n");
  });

  it("a non-empty folder without --overwrite: exit 2, names it and --overwrite, the file there is untouched", async () => {
    const dir = sb.path("busy-target");
    fs.mkdirSync(path.join(dir, "data"), { recursive: true });
    // Same name as a file in the snapshot: a restore that went ahead would replace it.
    fs.writeFileSync(path.join(dir, "data", "report.txt"), "newer local edits\n");
    const res = await failsCleanly(["restore", "latest", "--repo", r.repo, "-i", r.key, "-t", dir]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(dir);
    expect(line).toMatch(/not empty/);
    expect(hintOf(res)).toMatch(/--overwrite/);
    expect(fs.readFileSync(path.join(dir, "data", "report.txt"), "utf8")).toBe("newer local edits\n");
  });
});

// ---- command line -------------------------------------------------------------------------------

describe("command line", () => {
  it("unknown command: exit 2, one isnad: line naming it", async () => {
    const res = await failsCleanly(["frobnicate"]);
    expect(errorLine(res, EXIT.usage)).toMatch(/frobnicate/);
  });

  it("unknown option: exit 2, one isnad: line naming it", async () => {
    const res = await failsCleanly(["snapshots", "--repo", r.repo, "--bogus"]);
    expect(errorLine(res, EXIT.usage)).toMatch(/--bogus/);
  });

  it("missing required option (restore without --target): exit 2, one isnad: line naming it", async () => {
    const res = await failsCleanly(["restore", "latest", "--repo", r.repo, "-i", r.key]);
    expect(errorLine(res, EXIT.usage)).toMatch(/--target/);
  });

  it("`isnad snapshot` with no config and no paths: exit 2, says what to give", async () => {
    const res = await failsCleanly(["snapshot"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/nothing to back up/);
    expect(hintOf(res)).toMatch(/--repo/);
    expect(hintOf(res)).toMatch(/--config/);
  });

  it("`isnad snapshot DIR` with no --repo and no config: exit 2, names --repo", async () => {
    const res = await failsCleanly(["snapshot", data]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/no repository/);
    expect(hintOf(res)).toMatch(/--repo/);
  });

  it("keygen -o onto an existing file: exit 2, refuses, the file is unchanged", async () => {
    const res = await failsCleanly(["keygen", "--classic", "-o", r.key]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(r.key);
    expect(line).toMatch(/already exists; refusing to overwrite/);
    expect(res.stdout).not.toMatch(/age1/); // no recipient printed for a key that was not written
  });

  it("verify --signer with a malformed fingerprint: exit 2, names --signer", async () => {
    const res = await failsCleanly(["verify", "--repo", r.repo, "--signer", "b4ed8da7-not-hex"]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/--signer/);
    expect(line).toMatch(/"b4ed8da7-not-hex"/);
    expect(line).toMatch(/64 hex digits/);
  });

  it("verify --signer with a fingerprint one digit short: exit 2", async () => {
    const res = await failsCleanly(["verify", "--repo", r.repo, "--signer", r.fingerprint.slice(1)]);
    expect(errorLine(res, EXIT.usage)).toMatch(/--signer/);
  });
});

// ---- signing key --------------------------------------------------------------------------------

describe("signing key", () => {
  it("snapshot with another repository's signing key: exit 2, names --signing-key, no snapshot written", async () => {
    const other = await initRepo(sb, { name: "other-repo" });
    expect(other.signingKey).not.toBe(r.signingKey);
    const before = await snapshotIds(r.repo);
    const res = await failsCleanly(["snapshot", "--repo", r.repo, "--signing-key", other.signingKey, data]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/signing key/);
    expect(line).toMatch(/does not belong to/);
    expect(line).toContain(r.repo);
    expect(hintOf(res)).toMatch(/--signing-key/);
    expect(await snapshotIds(r.repo)).toEqual(before);
  });

  it("snapshot with an age identity as --signing-key: exit 2, names the file", async () => {
    const res = await failsCleanly(["snapshot", "--repo", r.repo, "--signing-key", r.key, data]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(r.key);
    expect(line).toMatch(/signing key/);
  });

  it("snapshot with a --signing-key file that does not exist: exit 2, names the file", async () => {
    const missing = sb.path("no-such-signing.key");
    const res = await failsCleanly(["snapshot", "--repo", r.repo, "--signing-key", missing, data]);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(missing);
    expect(line).toMatch(/does not exist/);
  });
});

// ---- passphrase-protected identity -----------------------------------------------------------------

describe("passphrase-protected identity", () => {
  let protectedKey: string;
  let passFile: string;
  let repo: string;

  beforeAll(async () => {
    passFile = sb.path("passphrase.txt");
    fs.writeFileSync(passFile, "correct horse battery staple\n", { mode: 0o600 });
    protectedKey = sb.path("protected-key.txt");
    const kg = await runWithoutTty(["--json", "keygen", "--classic", "--passphrase", "-o", protectedKey], { ISNAD_PASSPHRASE_FILE: passFile });
    expect(kg.timedOut).toBe(false);
    expect(kg.code, kg.stderr).toBe(0);
    expect(fs.readFileSync(protectedKey, "utf8")).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----/);
    const recipient = (JSON.parse(kg.stdout) as { recipient: string }).recipient;
    repo = sb.path("protected-repo");
    const init = await sb.run(["init", "--repo", repo, "--recipient", recipient]);
    expect(init.code, init.stderr).toBe(0);
    const snap = await sb.run(["snapshot", "--repo", repo, data]);
    expect(snap.code, snap.stderr).toBe(0);
  });

  it("restore with ISNAD_PASSPHRASE_FILE works", async () => {
    const target = sb.path("restore-protected");
    const res = await runWithoutTty(["restore", "latest", "--repo", repo, "-i", protectedKey, "-t", target], { ISNAD_PASSPHRASE_FILE: passFile });
    expect(res.timedOut).toBe(false);
    expect(res.code, res.stderr).toBe(EXIT.ok);
    expect(fs.readFileSync(path.join(target, "data", "report.txt"), "utf8")).toBe("field report\n");
  });

  it("restore without ISNAD_PASSPHRASE_FILE and without a terminal: exit 2 at once, hint names ISNAD_PASSPHRASE_FILE", async () => {
    const target = sb.path("restore-protected-no-pass");
    const before = tree(sb.dir);
    const started = Date.now();
    const res = await runWithoutTty(["restore", "latest", "--repo", repo, "-i", protectedKey, "-t", target], {}, 30_000);
    expect(res.timedOut, "the CLI hung waiting for a passphrase").toBe(false);
    expect(Date.now() - started).toBeLessThan(30_000);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(protectedKey);
    expect(line).toMatch(/passphrase/);
    expect(line).toMatch(/ISNAD_PASSPHRASE_FILE/);
    expect(tree(sb.dir)).toEqual(before);
  });

  it("restore with the wrong passphrase: exit 2, says the passphrase is wrong", async () => {
    const wrong = sb.path("wrong-passphrase.txt");
    fs.writeFileSync(wrong, "Tr0ub4dor&3\n");
    const target = sb.path("restore-protected-wrong-pass");
    const before = tree(sb.dir);
    const res = await runWithoutTty(["restore", "latest", "--repo", repo, "-i", protectedKey, "-t", target], { ISNAD_PASSPHRASE_FILE: wrong });
    expect(res.timedOut).toBe(false);
    const line = errorLine(res, EXIT.usage);
    expect(line).toContain(protectedKey);
    expect(line).toMatch(/wrong passphrase/);
    expect(tree(sb.dir)).toEqual(before);
  });

  it("ISNAD_PASSPHRASE_FILE naming a missing file: exit 2, names the variable and the file", async () => {
    const missing = sb.path("no-such-passphrase.txt");
    const before = tree(sb.dir);
    const res = await runWithoutTty(["verify", "--repo", repo, "-i", protectedKey], { ISNAD_PASSPHRASE_FILE: missing });
    expect(res.timedOut).toBe(false);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/ISNAD_PASSPHRASE_FILE/);
    expect(line).toContain(missing);
    expect(tree(sb.dir)).toEqual(before);
  });

  it("keygen --passphrase without ISNAD_PASSPHRASE_FILE and without a terminal: exit 2, no key file written", async () => {
    const out = sb.path("never-written-key.txt");
    const before = tree(sb.dir);
    const res = await runWithoutTty(["keygen", "--passphrase", "-o", out], {}, 30_000);
    expect(res.timedOut, "the CLI hung waiting for a passphrase").toBe(false);
    const line = errorLine(res, EXIT.usage);
    expect(line).toMatch(/ISNAD_PASSPHRASE_FILE/);
    expect(fs.existsSync(out)).toBe(false);
    expect(tree(sb.dir)).toEqual(before);
  });
});
