/**
 * A snapshot driven by a YAML config, as cron runs it: folder sources with exclude globs,
 * .isnadignore and include, a fifo (skipped with a warning and recorded), and a command source
 * (a database dump stand-in) stored as one file.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandbox, type RunResult, type Sandbox } from "../helpers/cli.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";
import { describeTree } from "../helpers/tree.js";

describe("isnad snapshot --config", () => {
  let sb: Sandbox;
  let r: TestRepo;
  let res: RunResult;
  let restored: string;

  beforeAll(async () => {
    sb = sandbox();
    r = await initRepo(sb);
    const site = sb.path("site");
    const w = (rel: string, s: string) => {
      fs.mkdirSync(path.dirname(path.join(site, rel)), { recursive: true });
      fs.writeFileSync(path.join(site, rel), s);
    };
    w("index.html", "home\n");
    w("cache/page.html", "cached\n");
    w("tmp.tmp", "scratch\n");
    w("uploads/.isnadignore", "*.log\n");
    w("uploads/photo.txt", "photo\n");
    w("uploads/debug.log", "log\n");
    w("notes/keep.md", "md\n");
    w("notes/skip.txt", "txt\n");
    execFileSync("mkfifo", [path.join(site, "queue.fifo")]);
    fs.writeFileSync(
      sb.path("isnad.yaml"),
      [
        `repository: ${r.repo}`,
        `signing_key: ${r.signingKey}`,
        "sources:",
        "  - label: website",
        "    type: dir",
        "    path: ./site",
        '    exclude: ["cache/", "*.tmp", "notes/skip.txt"]',
        "  - label: notes-only",
        "    type: dir",
        "    path: ./site/notes",
        '    include: ["*.md"]',
        "  - label: db",
        "    type: command",
        "    command: printf 'CREATE TABLE cases (id int);\\n'",
        "    filename: dump.sql",
        "",
      ].join("\n"),
    );
    res = await sb.run(["--json", "snapshot"]); // ./isnad.yaml is the default config
    restored = sb.path("restored");
  });
  afterAll(() => sb.cleanup());

  it("succeeds and warns about the fifo", () => {
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out.stats.skipped).toBe(1);
    const warn = res.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).find((l) => l.level === 40);
    expect(warn).toMatchObject({ path: "website/queue.fifo" });
  });

  it("stores exactly what the rules select, and the command's output", async () => {
    const rr = await sb.run(["restore", "latest", "--target", restored, "-i", r.key, "--repo", r.repo]);
    expect(rr.code, rr.stdout + rr.stderr).toBe(0);
    expect(rr.stdout).toContain("not in the snapshot: website/queue.fifo (not stored: special file (fifo))");
    const files = [...describeTree(restored)].filter(([, e]) => e.type === "file").map(([p]) => p).sort();
    expect(files).toEqual(
      ["db/dump.sql", "notes-only/keep.md", "website/index.html", "website/notes/keep.md", "website/uploads/.isnadignore", "website/uploads/photo.txt"].sort(),
    );
    expect(fs.readFileSync(path.join(restored, "db/dump.sql"), "utf8")).toBe("CREATE TABLE cases (id int);\n");
  });

  it("diff applies the source's own rules, so the live folder matches", async () => {
    const d = await sb.run(["diff", "latest", sb.path("site"), "-i", r.key, "--repo", r.repo, "--source", "website"]);
    expect(d.code, d.stdout + d.stderr).toBe(0);
  });
});
