/**
 * readPassphrase: from ISNAD_PASSPHRASE_FILE in-process; from the terminal and without one in a
 * child process (transpiled module), since the prompt needs a controlling terminal of its own.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { readPassphrase } from "../../src/keys/index.js";
import { envWithout, itPty, rejection, run, runOnPty, tempDir, transpilePassphraseModule } from "./helpers.js";

// Key generation and scrypt are CPU-bound, and other suites run in parallel: allow for a slow machine.
vi.setConfig({ testTimeout: 30_000 });

const dir = tempDir();
let n = 0;
const fresh = (name: string) => join(dir, `${n++}-${name}`);
const savedEnv = process.env.ISNAD_PASSPHRASE_FILE;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.ISNAD_PASSPHRASE_FILE;
  else process.env.ISNAD_PASSPHRASE_FILE = savedEnv;
});

describe("ISNAD_PASSPHRASE_FILE", () => {
  it("takes the first line, stripping \\r\\n or \\n but keeping other spaces", async () => {
    const cases: [string, string][] = [
      ["plain\n", "plain"],
      ["crlf\r\nnext\n", "crlf"],
      ["no newline", "no newline"],
      [" spaced out \n", " spaced out "],
      ["ünïcödé\n", "ünïcödé"],
    ];
    for (const [content, want] of cases) {
      const f = fresh("pass");
      writeFileSync(f, content);
      process.env.ISNAD_PASSPHRASE_FILE = f;
      expect(await readPassphrase("test", { confirm: true })).toBe(want);
    }
  });

  it("missing or empty file: config error naming it", async () => {
    const missing = join(dir, "missing-pass");
    process.env.ISNAD_PASSPHRASE_FILE = missing;
    let err = await rejection(readPassphrase("test"));
    expect(err.kind).toBe("config");
    expect(err.message).toContain(missing);

    for (const content of ["", "\n", "\r\nsecond\n"]) {
      const empty = fresh("empty-pass");
      writeFileSync(empty, content);
      process.env.ISNAD_PASSPHRASE_FILE = empty;
      err = await rejection(readPassphrase("test"));
      expect(err.kind).toBe("config");
      expect(err.message).toContain(empty);
      expect(err.message).toMatch(/empty/);
    }

    const folder = fresh("folder");
    mkdirSync(folder);
    process.env.ISNAD_PASSPHRASE_FILE = folder;
    err = await rejection(readPassphrase("test"));
    expect(err.message).toContain(folder);
  });
});

describe("terminal prompt (child processes)", () => {
  let childScript = "";
  beforeAll(() => {
    const mod = transpilePassphraseModule(dir);
    childScript = join(dir, "child.mjs");
    // argv: <result.json> <confirm 0|1>; writes {ok} or {kind, message, hint} to result.json
    writeFileSync(
      childScript,
      `import { writeFileSync } from "node:fs";
import { readPassphrase } from ${JSON.stringify(mod)};
const [out, confirm] = process.argv.slice(2);
try {
  const p = await readPassphrase("the test key", { confirm: confirm === "1" });
  writeFileSync(out, JSON.stringify({ ok: p }));
} catch (e) {
  writeFileSync(out, JSON.stringify({ kind: e.kind, message: e.message }));
}
`,
    );
  });

  it("no controlling terminal: fails at once with the ISNAD_PASSPHRASE_FILE hint, never prompts", async () => {
    const out = fresh("result.json");
    // detached: the child runs setsid(), so it has no controlling terminal; stdin is /dev/null
    const r = await run(process.execPath, [childScript, out, "1"], { env: envWithout(), detached: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toBe("");
    const result = JSON.parse(readFileSync(out, "utf8")) as { kind?: string; message?: string };
    expect(result).toEqual({
      kind: "config",
      message:
        "a passphrase is needed for the test key but there is no terminal; set ISNAD_PASSPHRASE_FILE to a file holding it",
    });
  });

  itPty(
    "prompts on /dev/tty with echo off while stdin and stdout are redirected",
    async () => {
      const out = fresh("result.json");
      const r = await runOnPty(
        ["sh", "-c", `exec "${process.execPath}" "${childScript}" "${out}" 0 </dev/null >/dev/null 2>&1`],
        [{ expect: "Enter passphrase for the test key: ", send: "pässwörd with spaces\r" }],
        { env: envWithout() },
      );
      expect(r.timedOut, r.output).toBe(false);
      expect(r.exit, r.output).toBe(0);
      expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ ok: "pässwörd with spaces" });
      expect(r.output).not.toContain("pässwörd"); // not echoed
    },
    90_000,
  );

  itPty(
    "confirm: asks twice; backspace and Ctrl-U edit; a mismatch is refused",
    async () => {
      const ok = fresh("ok.json");
      let r = await runOnPty(
        ["sh", "-c", `exec "${process.execPath}" "${childScript}" "${ok}" 1 </dev/null >/dev/null`],
        [
          { expect: "Enter passphrase", send: "garbage\u0015hunter22\u007f2\r" },
          { expect: "Confirm passphrase", send: "hunter22\r" },
        ],
        { env: envWithout() },
      );
      expect(r.exit, r.output).toBe(0);
      expect(JSON.parse(readFileSync(ok, "utf8"))).toEqual({ ok: "hunter22" });

      const bad = fresh("bad.json");
      r = await runOnPty(
        ["sh", "-c", `exec "${process.execPath}" "${childScript}" "${bad}" 1 </dev/null >/dev/null`],
        [
          { expect: "Enter passphrase", send: "first try\r" },
          { expect: "Confirm passphrase", send: "first tyr\r" },
        ],
        { env: envWithout() },
      );
      expect(r.exit, r.output).toBe(0);
      expect(JSON.parse(readFileSync(bad, "utf8"))).toEqual({
        kind: "usage",
        message: "the two passphrases did not match",
      });
    },
    90_000,
  );

  itPty(
    "Ctrl-C cancels and leaves the terminal usable",
    async () => {
      const out = fresh("cancel.json");
      const r = await runOnPty(
        ["sh", "-c", `"${process.execPath}" "${childScript}" "${out}" 0 </dev/null; stty -a </dev/tty`],
        [{ expect: "Enter passphrase", send: "abc\u0003" }],
        { env: envWithout() },
      );
      expect(r.exit, r.output).toBe(0);
      expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ kind: "usage", message: "passphrase entry cancelled" });
      // echo and canonical mode are back on after the prompt
      expect(r.output).toMatch(/\secho\s/);
      expect(r.output).toMatch(/\sicanon\s/);
    },
    90_000,
  );
});
