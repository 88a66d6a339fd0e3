import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { adHocSources, loadConfig, parseConfig, userConfigDir, type Config } from "../../src/config/index.js";
import { IsnadError } from "../../src/errors.js";

const tmpRoots: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-config-"));
  tmpRoots.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

const ENV = { HOME: "/home/alice" };

const EXAMPLE = `# isnad.yaml
repository: ./repo
signing_key: ~/.config/isnad/signing/x.key
recipients_file: ./recipients.txt
identity: ./key.txt
sources:
  - label: website
    type: dir
    path: ./site
    include: ["**/*.html"]
    exclude: ["cache/", "*.tmp"]
  - label: database
    type: command
    command: "pg_dump mydb"
    filename: database.sql
    cwd: ./
`;

function parseError(text: string): IsnadError {
  try {
    parseConfig(text, "isnad.yaml", ENV);
  } catch (e) {
    expect(e).toBeInstanceOf(IsnadError);
    expect((e as IsnadError).kind).toBe("config");
    expect((e as IsnadError).message).not.toContain("\n");
    return e as IsnadError;
  }
  throw new Error("expected a config error");
}
const messageOf = (text: string) => parseError(text).message;

describe("parseConfig: a valid file", () => {
  it("parses the documented example, resolving paths against the file's folder", () => {
    const config = parseConfig(EXAMPLE, "/etc/isnad/isnad.yaml", ENV);
    expect(config).toEqual<Config>({
      file: "/etc/isnad/isnad.yaml",
      repository: "/etc/isnad/repo",
      signingKey: "/home/alice/.config/isnad/signing/x.key",
      recipientsFile: "/etc/isnad/recipients.txt",
      identity: "/etc/isnad/key.txt",
      sources: [
        { label: "website", type: "dir", path: "/etc/isnad/site", include: ["**/*.html"], exclude: ["cache/", "*.tmp"] },
        { label: "database", type: "command", command: "pg_dump mydb", filename: "database.sql", cwd: "/etc/isnad" },
      ],
    });
  });

  it("fills in defaults and leaves optional keys out", () => {
    const config = parseConfig(
      "repository: /srv/backup\nsources:\n  - {label: db, type: command, command: mysqldump x}\n  - {label: home, type: dir, path: \"~\"}\n",
      "/a/b/isnad.yaml",
      ENV,
    );
    expect(config).toEqual({
      file: "/a/b/isnad.yaml",
      repository: "/srv/backup",
      sources: [
        { label: "db", type: "command", command: "mysqldump x", filename: "db.out", cwd: "/a/b" },
        { label: "home", type: "dir", path: "/home/alice" },
      ],
    });
    expect("signingKey" in config).toBe(false);
    expect("include" in config.sources[1]!).toBe(false);
  });

  it("keeps repository URLs as written and makes a relative file path absolute", () => {
    for (const url of ["sftp://backup@host:2222/srv/isnad", "s3://bucket/prefix", "rclone:remote:path/x"]) {
      expect(parseConfig(`repository: "${url}"\nsources: [{label: a, type: dir, path: x}]\n`, "/c/isnad.yaml", ENV).repository).toBe(url);
    }
    const config = parseConfig("repository: ./odd:name\nsources: [{label: a, type: dir, path: x}]\n", "conf/isnad.yaml", ENV);
    expect(config.file).toBe(path.resolve("conf/isnad.yaml"));
    expect(config.repository).toBe(path.resolve("conf/odd:name"));
  });

  it("YAML 1.2: 'no' and 'on' are strings, so such labels work", () => {
    const config = parseConfig("repository: r\nsources: [{label: no, type: dir, path: on}]\n", "/x/isnad.yaml", ENV);
    expect(config.sources[0]).toMatchObject({ label: "no", path: "/x/on" });
  });

  it("accepts labels and file names at the edge of the rules", () => {
    const config = parseConfig(
      "repository: r\nsources:\n  - {label: A.b_c-9, type: command, command: x, filename: 'dump 2024 (full).sql'}\n  - {label: .hidden, type: dir, path: x}\n",
      "/x/isnad.yaml",
      ENV,
    );
    expect(config.sources.map((s) => s.label)).toEqual(["A.b_c-9", ".hidden"]);
  });
});

describe("parseConfig: every error is one line naming the file and the key or line", () => {
  it("YAML syntax errors give the line", () => {
    expect(messageOf("repository: ./r\nsources:\n  - label: a\n    type: dir\n   path: x\n")).toMatch(/^isnad\.yaml line 5: \S/);
    expect(messageOf("repository: ./r\nsources:\n\t- x\n")).toBe("isnad.yaml line 3: Tabs are not allowed as indentation");
    expect(messageOf("repository: r\nsources: [a, b\n")).toMatch(/^isnad\.yaml line \d: /);
  });

  it("duplicate keys give the line of the second one", () => {
    expect(messageOf("repository: ./r\nsources: []\nrepository: ./s\n")).toBe("isnad.yaml line 3: Map keys must be unique");
  });

  it("several documents, unknown tags and unresolved aliases", () => {
    expect(messageOf("repository: r\n---\nrepository: s\n")).toBe('isnad.yaml line 2: the file holds more than one YAML document (a second "---")');
    expect(messageOf("repository: !foo r\n")).toBe("isnad.yaml line 1: Unresolved tag: !foo");
    expect(messageOf("repository: *x\n")).toMatch(/^isnad\.yaml: Unresolved alias/);
  });

  it("an empty file or one that is not a mapping", () => {
    expect(messageOf("")).toBe("isnad.yaml: the file is empty");
    expect(messageOf("# only a comment\n")).toBe("isnad.yaml: the file is empty");
    expect(messageOf("- a\n- b\n")).toBe("isnad.yaml: expected a mapping (key: value lines) at the top level");
    expect(messageOf("hello\n")).toBe("isnad.yaml: expected a mapping (key: value lines) at the top level");
  });

  it("unknown keys, with a suggestion or the known keys", () => {
    const typo = parseError("repository: ./r\nsorces: []\n");
    expect(typo.message).toBe('isnad.yaml: unknown key "sorces"');
    expect(typo.hint).toBe('did you mean "sources"?');
    expect(messageOf("repository: r\nsources:\n  - {label: a, type: dir, paht: x}\n")).toBe('isnad.yaml: sources[0]: unknown key "paht"');
    const wrongKind = parseError("repository: r\nsources:\n  - {label: a, type: command, command: x, path: y}\n");
    expect(wrongKind.message).toBe('isnad.yaml: sources[0]: unknown key "path"');
    expect(wrongKind.hint).toBe("known keys: label, type, command, filename, cwd");
    expect(messageOf("repository: r\nfoo: 1\nbar: 2\nsources: [{label: a, type: dir, path: x}]\n")).toBe('isnad.yaml: unknown keys "foo", "bar"');
  });

  it("wrong types", () => {
    expect(messageOf("repository: ./r\nsources:\n  - {label: a, type: dir, path: x}\n  - {label: b, type: dir, path: 3}\n")).toBe(
      "isnad.yaml: sources[1].path: expected a string",
    );
    expect(messageOf("repository: r\nsources:\n  - label: a\n    type: dir\n    path:\n")).toBe("isnad.yaml: sources[0].path: expected a string");
    expect(messageOf("repository: r\nsources: {}\n")).toBe("isnad.yaml: sources: expected a list");
    const bareTilde = parseError("repository: r\nsources: [{label: h, type: dir, path: ~}]\n");
    expect(bareTilde.message).toBe("isnad.yaml: sources[0].path: expected a string");
    expect(bareTilde.hint).toContain('"~" in quotes');
    expect(messageOf("repository: r\nsources: [{label: 12, type: dir, path: x}]\n")).toBe("isnad.yaml: sources[0].label: expected a string");
    expect(messageOf("repository: r\nsources: [{label: w, type: dir, path: x, include: [1]}]\n")).toBe(
      "isnad.yaml: sources[0].include[0]: expected a string",
    );
    expect(messageOf("repository: r\nsources: [{label: w, type: dir, path: x, exclude: '*.tmp'}]\n")).toBe(
      "isnad.yaml: sources[0].exclude: expected a list",
    );
    expect(messageOf("repository: [a]\nsources: [{label: w, type: dir, path: x}]\n")).toBe("isnad.yaml: repository: expected a string");
  });

  it("missing keys", () => {
    expect(messageOf("sources: [{label: a, type: dir, path: x}]\n")).toBe('isnad.yaml: missing key "repository"');
    expect(messageOf("repository: r\n")).toBe('isnad.yaml: missing key "sources"');
    expect(messageOf("repository: r\nsources: [{label: a, path: x}]\n")).toBe('isnad.yaml: sources[0]: missing key "type"');
    expect(messageOf("repository: r\nsources: [{label: a, type: dir}]\n")).toBe('isnad.yaml: sources[0]: missing key "path"');
    expect(messageOf("repository: r\nsources: [{type: command, command: x}]\n")).toBe('isnad.yaml: sources[0]: missing key "label"');
    expect(messageOf("repository: r\nsources: [{label: a, type: command}]\n")).toBe('isnad.yaml: sources[0]: missing key "command"');
  });

  it("bad values", () => {
    expect(messageOf("repository: r\nsources: []\n")).toBe("isnad.yaml: sources: at least one source is needed");
    expect(messageOf("repository: r\nsources: [{label: a, type: site}]\n")).toBe('isnad.yaml: sources[0].type: expected "dir" or "command", got "site"');
    expect(messageOf("repository: r\nsources: [{label: a b, type: dir, path: x}]\n")).toBe(
      'isnad.yaml: sources[0].label "a b": may only contain letters A-Z a-z, digits, ".", "_" and "-"',
    );
    expect(messageOf("repository: r\nsources: [{label: 'ä', type: dir, path: x}]\n")).toMatch(/^isnad\.yaml: sources\[0\]\.label "ä": may only/);
    expect(messageOf("repository: r\nsources: [{label: '..', type: dir, path: x}]\n")).toBe('isnad.yaml: sources[0].label "..": must not be "." or ".."');
    expect(messageOf("repository: r\nsources: [{label: '', type: dir, path: x}]\n")).toMatch(/^isnad\.yaml: sources\[0\]\.label: may only/);
    expect(messageOf("repository: r\nsources: [{label: db, type: command, command: x, filename: a/b}]\n")).toBe(
      'isnad.yaml: sources[0].filename "a/b": must be a single file name (no "/", no control characters, not "." or "..")',
    );
    expect(messageOf("repository: r\nsources: [{label: db, type: command, command: x, filename: '..'}]\n")).toMatch(/filename "\.\.": must be a single file name/);
    expect(messageOf('repository: r\nsources: [{label: db, type: command, command: x, filename: "a\\nb"}]\n')).toMatch(/filename "a\\nb": must be/);
    expect(messageOf("repository: r\nsources: [{label: w, type: dir, path: x, include: []}]\n")).toBe(
      "isnad.yaml: sources[0].include: must list at least one pattern (leave it out to include everything)",
    );
    expect(messageOf("repository: r\nsources: [{label: w, type: command, command: ''}]\n")).toBe("isnad.yaml: sources[0].command: must not be empty");
    expect(messageOf("repository: ''\nsources: [{label: w, type: dir, path: x}]\n")).toBe("isnad.yaml: repository: must not be empty");
    expect(messageOf("repository: r\nsigning_key: ~bob/k\nsources: [{label: w, type: dir, path: x}]\n")).toBe(
      'isnad.yaml: signing_key "~bob/k": only "~" and "~/…" are expanded; write the full path',
    );
  });

  it("a label used twice", () => {
    const err = parseError(
      "repository: r\nsources:\n  - {label: website, type: dir, path: x}\n  - {label: db, type: command, command: x}\n  - {label: website, type: dir, path: y}\n",
    );
    expect(err.message).toBe('isnad.yaml: sources[2].label "website" is used twice');
    expect(err.hint).toContain("sources[0]");
  });

  it("names the file as it was given", () => {
    expect(() => parseConfig("", "/etc/isnad/isnad.yaml", ENV)).toThrow("/etc/isnad/isnad.yaml: the file is empty");
  });
});

describe("loadConfig", () => {
  const minimal = "repository: ./repo\nsources: [{label: a, type: dir, path: ./a}]\n";

  it("reads an explicit file relative to cwd, naming it as given in errors", async () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, "conf"));
    fs.writeFileSync(path.join(dir, "conf", "my.yaml"), minimal);
    const config = await loadConfig("conf/my.yaml", dir, ENV);
    expect(config?.file).toBe(path.join(dir, "conf", "my.yaml"));
    expect(config?.repository).toBe(path.join(dir, "conf", "repo"));
    fs.writeFileSync(path.join(dir, "conf", "bad.yaml"), "repository: r\n");
    await expect(loadConfig("conf/bad.yaml", dir, ENV)).rejects.toThrow('conf/bad.yaml: missing key "sources"');
  });

  it("an explicit file that is missing or a folder is an error naming it", async () => {
    const dir = tmpDir();
    await expect(loadConfig("nope.yaml", dir, ENV)).rejects.toMatchObject({ kind: "config", message: "config file nope.yaml does not exist" });
    await expect(loadConfig(dir, dir, ENV)).rejects.toMatchObject({ kind: "config", message: `config file ${dir} is a folder` });
  });

  it("finds ./isnad.yaml first, then the user config, else returns undefined", async () => {
    const cwd = tmpDir();
    const home = tmpDir();
    const env = { HOME: home };
    expect(await loadConfig(undefined, cwd, env)).toBeUndefined();

    fs.mkdirSync(path.join(home, ".config", "isnad"), { recursive: true });
    fs.writeFileSync(path.join(home, ".config", "isnad", "config.yaml"), minimal);
    expect((await loadConfig(undefined, cwd, env))?.file).toBe(path.join(home, ".config", "isnad", "config.yaml"));

    fs.writeFileSync(path.join(cwd, "isnad.yaml"), minimal);
    expect((await loadConfig(undefined, cwd, env))?.file).toBe(path.join(cwd, "isnad.yaml"));

    fs.writeFileSync(path.join(cwd, "isnad.yaml"), "sorces: 1\n");
    await expect(loadConfig(undefined, cwd, env)).rejects.toThrow('isnad.yaml: unknown key "sorces"');
  });

  it("uses $XDG_CONFIG_HOME when it is absolute", async () => {
    const cwd = tmpDir();
    const xdg = tmpDir();
    fs.mkdirSync(path.join(xdg, "isnad"));
    fs.writeFileSync(path.join(xdg, "isnad", "config.yaml"), minimal);
    expect((await loadConfig(undefined, cwd, { HOME: "/nonexistent", XDG_CONFIG_HOME: xdg }))?.file).toBe(path.join(xdg, "isnad", "config.yaml"));
    expect(userConfigDir({ HOME: "/h", XDG_CONFIG_HOME: "relative" })).toBe("/h/.config/isnad");
    expect(userConfigDir({ HOME: "/h" })).toBe("/h/.config/isnad");
  });

  it("a found config that cannot be parsed names it by its full path", async () => {
    const home = tmpDir();
    fs.mkdirSync(path.join(home, ".config", "isnad"), { recursive: true });
    const file = path.join(home, ".config", "isnad", "config.yaml");
    fs.writeFileSync(file, "repository: r\n");
    await expect(loadConfig(undefined, tmpDir(), { HOME: home })).rejects.toThrow(`${file}: missing key "sources"`);
  });
});

describe("adHocSources", () => {
  it("one dir source per path, labelled by basename, made unique", () => {
    expect(adHocSources(["site", "/var/www/site", "./site/", "/", "../x/My Documents", "/srv/site-2", "日本"], "/home/a")).toEqual([
      { label: "site", type: "dir", path: "/home/a/site" },
      { label: "site-2", type: "dir", path: "/var/www/site" },
      { label: "site-3", type: "dir", path: "/home/a/site" },
      { label: "root", type: "dir", path: "/" },
      { label: "My_Documents", type: "dir", path: "/home/x/My Documents" },
      { label: "site-2-2", type: "dir", path: "/srv/site-2" },
      { label: "_", type: "dir", path: "/home/a/日本" },
    ]);
  });

  it("labels it makes pass the config rules", () => {
    for (const s of adHocSources(["a b", ".hidden", "x!y", "/"], "/")) expect(s.label).toMatch(/^[A-Za-z0-9._-]+$/);
  });
});

describe("parseConfig: hooks", () => {
  const base = "repository: ./repo\nsources:\n  - {label: a, type: dir, path: ./a}\n";
  it("reads the three hooks and the timeout; cwd is the config's folder", () => {
    const c = parseConfig(`${base}hooks:\n  before: ./pre.sh\n  after: curl -fsS https://hc.example/ping/x\n  on_failure: "curl -fsS https://hc.example/ping/x/fail"\n  timeout: 1m30s\n`, "/etc/isnad/isnad.yaml", ENV);
    expect(c.hooks).toEqual({ before: "./pre.sh", after: "curl -fsS https://hc.example/ping/x", onFailure: "curl -fsS https://hc.example/ping/x/fail", timeoutMs: 90_000, cwd: "/etc/isnad" });
  });
  it("defaults the timeout to 5 minutes; no hooks key, no hooks", () => {
    expect(parseConfig(`${base}hooks:\n  after: "true"\n`, "/x/isnad.yaml", ENV).hooks?.timeoutMs).toBe(5 * 60_000);
    expect(parseConfig(base, "/x/isnad.yaml", ENV).hooks).toBeUndefined();
  });
  it("a bad timeout, an empty command or a misspelt key is one line naming it", () => {
    expect(parseError(`${base}hooks:\n  timeout: 5 minutes\n`).message).toBe('isnad.yaml: hooks.timeout "5 minutes": is not a duration: use e.g. 30s, 5m, 1h or 1h30m');
    expect(parseError(`${base}hooks:\n  timeout: 0s\n`).message).toContain("hooks.timeout");
    expect(parseError(`${base}hooks:\n  after: ""\n`).message).toBe("isnad.yaml: hooks.after: must not be empty");
    const e = parseError(`${base}hooks:\n  onfailure: x\n`);
    expect(e.message).toBe('isnad.yaml: hooks: unknown key "onfailure"');
    expect(e.hint).toBe('did you mean "on_failure"?');
  });
});

describe("parseConfig: the storage block (off-site backends)", () => {
  const errorAndHint = (text: string) => {
    const e = parseError(text);
    return `${e.message} ${e.hint ?? ""}`;
  };
  const base = "repository: s3://ngo-backups/site\nsources: [{label: a, type: dir, path: x}]\n";

  it("maps storage.s3 and storage.rclone to their options, paths resolved against the file", () => {
    const config = parseConfig(
      `${base}storage:\n  s3:\n    endpoint: http://127.0.0.1:9000\n    region: eu-west-1\n    path_style: true\n    object_lock: {mode: governance, days: 30}\n  rclone:\n    config: ./rclone.conf\n    program: rclone\n`,
      "/etc/isnad/isnad.yaml",
      ENV,
    );
    expect(config.storage).toEqual({
      s3: { endpoint: "http://127.0.0.1:9000", region: "eu-west-1", pathStyle: true, objectLock: { mode: "governance", days: 30 } },
      rclone: { config: "/etc/isnad/rclone.conf", program: "rclone" },
    });
    expect(parseConfig(base, "/c/isnad.yaml", ENV).storage).toBeUndefined();
  });

  it("refuses unknown keys (no credentials in the file), bad modes and bad endpoints, in one line", () => {
    expect(errorAndHint(`${base}storage:\n  s3:\n    secret_access_key: abc\n`)).toMatch(/^isnad\.yaml: storage\.s3: unknown key "secret_access_key"/);
    expect(errorAndHint(`${base}storage:\n  s3:\n    path_stlye: true\n`)).toMatch(/did you mean "path_style"/);
    expect(errorAndHint(`${base}storage:\n  s3:\n    object_lock: {mode: forever, days: 3}\n`)).toMatch(
      /storage\.s3\.object_lock\.mode: expected "compliance" or "governance"/,
    );
    expect(errorAndHint(`${base}storage:\n  s3:\n    object_lock: {mode: compliance, days: 0}\n`)).toMatch(/storage\.s3\.object_lock\.days/);
    expect(errorAndHint(`${base}storage:\n  s3:\n    endpoint: ftp://x\n`)).toMatch(/storage\.s3\.endpoint.*http/);
    expect(errorAndHint(`${base}storage:\n  sftp3: {}\n`)).toMatch(/storage: unknown key "sftp3"/);
  });
});

describe("parseConfig: storage.sftp", () => {
  const base = "repository: sftp://backup@vault.example.org:2222/srv/isnad\nsources:\n  - {label: w, type: dir, path: ./w}\n";

  it("keeps the URL as written and makes the key paths absolute", () => {
    const c = parseConfig(
      `${base}storage:\n  sftp:\n    identity_file: ./id_ed25519\n    known_hosts: ~/.ssh/known_hosts\n    strict_host_key: false\n    retry_seconds: 5\n`,
      "/etc/isnad/isnad.yaml",
      ENV,
    );
    expect(c.repository).toBe("sftp://backup@vault.example.org:2222/srv/isnad");
    expect(c.storage?.sftp).toEqual({
      identity_file: "/etc/isnad/id_ed25519",
      known_hosts: "/home/alice/.ssh/known_hosts",
      strict_host_key: false,
      retry_seconds: 5,
    });
  });

  it("an unknown key under storage.sftp names it and suggests the right one", () => {
    const e = parseError(`${base}storage:\n  sftp:\n    identity_fille: ./k\n`);
    expect(e.message).toBe('isnad.yaml: storage.sftp: unknown key "identity_fille"');
    expect(e.hint).toBe('did you mean "identity_file"?');
  });

  it("a wrong type is named", () => {
    expect(messageOf(`${base}storage:\n  sftp:\n    strict_host_key: "no"\n`)).toBe("isnad.yaml: storage.sftp.strict_host_key: expected true or false");
  });
});
