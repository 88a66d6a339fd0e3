/**
 * The config file (isnad.yaml): finds it, parses the YAML, validates it strictly with zod and
 * turns it into a typed `Config` with absolute paths. Checking that the paths exist is left to
 * whoever uses them (a snapshot reports a missing source folder its own way).
 *
 * Every problem is one IsnadError("config") line naming the file and the key or line at fault:
 *   isnad.yaml line 4: Map keys must be unique
 *   isnad.yaml: unknown key "sorces"
 *   isnad.yaml: sources[1].path: expected a string
 *
 * Paths: "~" and "~/…" expand to $HOME; any other relative path is relative to the folder of the
 * config file. A `repository` that starts with a scheme ("sftp://", "s3://", "rclone:", any
 * `letters:`) is kept as written; write "./name:with:colons" for a local folder like that.
 */

import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { LineCounter, parseDocument } from "yaml";
import * as z from "zod";
import { IsnadError, errnoCode } from "../errors.js";
import { homeDir, userConfigDir } from "../keys/paths.js";
import { parseDuration } from "../repo/lock.js";
import type { StorageOptions } from "../storage/open.js";
import type { SftpOptions } from "../storage/storage.js";

export interface DirSourceConfig {
  label: string;
  type: "dir";
  /** Absolute. */
  path: string;
  include?: string[];
  exclude?: string[];
}

export interface CommandSourceConfig {
  label: string;
  type: "command";
  command: string;
  /** The name the output gets in the snapshot: a single file name, default "<label>.out". */
  filename: string;
  /** Absolute; default the folder of the config file. */
  cwd: string;
}

export type SourceConfig = DirSourceConfig | CommandSourceConfig;

/** Shell commands run around a snapshot (src/hooks/hooks.ts), from the config file's folder. */
export interface HooksConfig {
  before?: string;
  after?: string;
  onFailure?: string;
  /** How long one hook may run before it is killed and counts as failed. */
  timeoutMs: number;
  /** The config file's folder. */
  cwd: string;
}

/** A hook that runs longer than this (default) is killed and counts as failed. */
export const DEFAULT_HOOK_TIMEOUT_MS = 5 * 60_000;

export interface Config {
  /** Absolute path of the config file. */
  file: string;
  /** Absolute if a path; unchanged if it has a scheme like sftp:// s3:// rclone: */
  repository: string;
  signingKey?: string;
  recipientsFile?: string;
  identity?: string;
  sources: SourceConfig[];
  hooks?: HooksConfig;
  /** Off-site backend options (the `storage:` block); see src/storage/open.ts. */
  storage?: StorageOptions;
}

export const CONFIG_FILE_NAME = "isnad.yaml";
export const USER_CONFIG_FILE_NAME = "config.yaml";

/** A source label: it names the top folder of the source in every snapshot. */
export const LABEL_PATTERN = /^[A-Za-z0-9._-]+$/;

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

// ---- schema ---------------------------------------------------------------------------------

const nonEmpty = z.string().min(1, { error: "must not be empty" });

/** A path as written in the file; "~user" forms are refused rather than taken as relative paths. */
const pathString = nonEmpty.refine((p) => !/^~[^/]/.test(p), {
  error: 'only "~" and "~/…" are expanded; write the full path',
});

const labelSchema = z
  .string()
  .regex(LABEL_PATTERN, { error: 'may only contain letters A-Z a-z, digits, ".", "_" and "-"' })
  .refine((l) => l !== "." && l !== "..", { error: 'must not be "." or ".."' });

const fileNameSchema = nonEmpty.refine(isSafeFileName, {
  error: 'must be a single file name (no "/", no control characters, not "." or "..")',
});

const dirSourceSchema = z.strictObject({
  label: labelSchema,
  type: z.literal("dir"),
  path: pathString,
  include: z.array(nonEmpty).min(1, { error: "must list at least one pattern (leave it out to include everything)" }).optional(),
  exclude: z.array(nonEmpty).optional(),
});

const commandSourceSchema = z.strictObject({
  label: labelSchema,
  type: z.literal("command"),
  command: nonEmpty,
  filename: fileNameSchema.optional(),
  cwd: pathString.optional(),
});

const hooksSchema = z.strictObject({
  before: nonEmpty.optional(),
  after: nonEmpty.optional(),
  on_failure: nonEmpty.optional(),
  timeout: nonEmpty
    .refine((t) => (parseDuration(t) ?? 0) > 0, { error: 'is not a duration: use e.g. 30s, 5m, 1h or 1h30m' })
    .optional(),
});

const sftpSchema = z.strictObject({
  identity_file: pathString.optional(),
  known_hosts: pathString.optional(),
  strict_host_key: z.boolean().optional(),
  append_only: z.boolean().optional(),
  retry_seconds: z.number().min(0).max(3600).optional(),
  connect_timeout: z.number().positive().max(600).optional(),
});

const s3Schema = z.strictObject({
  endpoint: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional(),
  region: nonEmpty.optional(),
  path_style: z.boolean().optional(),
  object_lock: z
    .strictObject({
      mode: z.enum(["compliance", "governance"]),
      days: z.number().int().min(1, { error: "must be at least 1" }),
    })
    .optional(),
});

const rcloneSchema = z.strictObject({
  program: pathString.optional(),
  config: pathString.optional(),
});

const storageSchema = z.strictObject({
  sftp: sftpSchema.optional(),
  s3: s3Schema.optional(),
  rclone: rcloneSchema.optional(),
});

const fileSchema = z.strictObject({
  repository: nonEmpty,
  storage: storageSchema.optional(),
  signing_key: pathString.optional(),
  recipients_file: pathString.optional(),
  identity: pathString.optional(),
  sources: z.array(z.discriminatedUnion("type", [dirSourceSchema, commandSourceSchema])).min(1, {
    error: "at least one source is needed",
  }),
  hooks: hooksSchema.optional(),
});

type ConfigFile = z.infer<typeof fileSchema>;

const KNOWN_KEYS = {
  top: Object.keys(fileSchema.shape),
  storage: Object.keys(storageSchema.shape),
  s3: Object.keys(s3Schema.shape),
  rclone: Object.keys(rcloneSchema.shape),
  dir: Object.keys(dirSourceSchema.shape),
  command: Object.keys(commandSourceSchema.shape),
  hooks: Object.keys(hooksSchema.shape),
  sftp: Object.keys(sftpSchema.shape),
};

// ---- loading --------------------------------------------------------------------------------

/**
 * Loads a config. explicitPath given → that file (missing → IsnadError config naming it).
 * Otherwise ./isnad.yaml in cwd, then <userConfigDir>/config.yaml; none found → undefined.
 * A file that exists but cannot be read is an error, never skipped.
 */
export async function loadConfig(
  explicitPath: string | undefined,
  cwd: string = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<Config | undefined> {
  if (explicitPath !== undefined) {
    const text = await readConfigFile(path.resolve(cwd, explicitPath), explicitPath, true);
    return parseConfig(text!, path.resolve(cwd, explicitPath), env, explicitPath);
  }
  const candidates: Array<[abs: string, shown: string]> = [
    [path.join(cwd, CONFIG_FILE_NAME), CONFIG_FILE_NAME],
    [path.join(userConfigDir(env), USER_CONFIG_FILE_NAME), path.join(userConfigDir(env), USER_CONFIG_FILE_NAME)],
  ];
  for (const [abs, shown] of candidates) {
    const text = await readConfigFile(abs, shown, false);
    if (text !== undefined) return parseConfig(text, abs, env, shown);
  }
  return undefined;
}

async function readConfigFile(abs: string, shown: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(abs, "utf8");
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" && !required) return undefined;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new IsnadError("config", `config file ${shown} does not exist`, {
        cause: err,
        hint: "check the --config path, or leave it out to use ./isnad.yaml",
      });
    }
    if (code === "EISDIR") throw new IsnadError("config", `config file ${shown} is a folder`, { cause: err });
    throw new IsnadError("config", `config file ${shown} cannot be read: ${code ?? "error"}`, { cause: err });
  }
}

// ---- parsing --------------------------------------------------------------------------------

/**
 * Parses and validates the text of a config file. `file` is where it was read from (made
 * absolute against the process cwd; relative paths in it resolve against its folder); `shown`
 * is how messages name it, default `file` as given.
 */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env, shown: string = file): Config {
  const fail = (where: string, message: string, hint?: string) =>
    new IsnadError("config", `${shown}${where}: ${message}`, { hint });

  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const message =
      problem.code === "MULTIPLE_DOCS" ? 'the file holds more than one YAML document (a second "---")' : firstLine(problem.message);
    throw fail(` line ${lines.linePos(problem.pos[0]).line}`, message);
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // Unresolved aliases and alias bombs surface here, without a position.
    throw fail("", firstLine(err instanceof Error ? err.message : String(err)));
  }
  if (data === null || data === undefined) {
    throw fail("", "the file is empty", 'it needs at least "repository:" and "sources:"');
  }

  const parsed = fileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = pickIssue(parsed.error.issues);
    const { where, message, hint } = describeIssue(issue, data);
    throw fail(where === "" ? "" : `: ${where}`, message, hint);
  }
  const raw: ConfigFile = parsed.data;

  const seen = new Map<string, number>();
  raw.sources.forEach((s, i) => {
    if (seen.has(s.label)) {
      throw fail("", `sources[${i}].label "${s.label}" is used twice`, `also used by sources[${seen.get(s.label)}]; labels must be unique`);
    }
    seen.set(s.label, i);
  });

  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  const resolve = (p: string) => resolvePath(p, dir, env);
  const config: Config = {
    file: abs,
    repository: SCHEME.test(raw.repository) ? raw.repository : resolve(raw.repository),
    sources: raw.sources.map((s): SourceConfig => {
      if (s.type === "dir") {
        const out: DirSourceConfig = { label: s.label, type: "dir", path: resolve(s.path) };
        if (s.include !== undefined) out.include = s.include;
        if (s.exclude !== undefined) out.exclude = s.exclude;
        return out;
      }
      return {
        label: s.label,
        type: "command",
        command: s.command,
        filename: s.filename ?? `${s.label}.out`,
        cwd: s.cwd === undefined ? dir : resolve(s.cwd),
      };
    }),
  };
  if (raw.signing_key !== undefined) config.signingKey = resolve(raw.signing_key);
  if (raw.recipients_file !== undefined) config.recipientsFile = resolve(raw.recipients_file);
  if (raw.identity !== undefined) config.identity = resolve(raw.identity);
  if (raw.hooks !== undefined) {
    const h = raw.hooks;
    config.hooks = { timeoutMs: h.timeout === undefined ? DEFAULT_HOOK_TIMEOUT_MS : parseDuration(h.timeout)!, cwd: dir };
    if (h.before !== undefined) config.hooks.before = h.before;
    if (h.after !== undefined) config.hooks.after = h.after;
    if (h.on_failure !== undefined) config.hooks.onFailure = h.on_failure;
  }
  if (raw.storage !== undefined) {
    const { s3, rclone } = raw.storage;
    config.storage = {};
    if (s3 !== undefined) {
      config.storage.s3 = {
        ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
        ...(s3.region !== undefined ? { region: s3.region } : {}),
        ...(s3.path_style !== undefined ? { pathStyle: s3.path_style } : {}),
        ...(s3.object_lock !== undefined ? { objectLock: s3.object_lock } : {}),
      };
    }
    if (rclone !== undefined) {
      config.storage.rclone = {
        ...(rclone.program !== undefined ? { program: rclone.program.includes("/") ? resolve(rclone.program) : rclone.program } : {}),
        ...(rclone.config !== undefined ? { config: resolve(rclone.config) } : {}),
      };
    }
  }
  if (raw.storage?.sftp !== undefined) {
    const { identity_file, known_hosts, ...rest } = raw.storage.sftp;
    const sftp: SftpOptions = { ...rest };
    if (identity_file !== undefined) sftp.identity_file = resolve(identity_file);
    if (known_hosts !== undefined) sftp.known_hosts = resolve(known_hosts);
    config.storage = { ...config.storage, sftp };
  }
  return config;
}

/**
 * Builds sources for an ad hoc run `isnad snapshot --repo R PATH…`: one dir source per path,
 * label = basename (characters a label cannot hold become "_"; made unique with -2, -3…;
 * "/" → "root").
 */
export function adHocSources(paths: string[], cwd: string): DirSourceConfig[] {
  const used = new Set<string>();
  return paths.map((p) => {
    const abs = path.resolve(cwd, p);
    const base = path.basename(abs);
    let label = base === "" ? "root" : base.replace(/[^A-Za-z0-9._-]+/g, "_");
    if (label === "." || label === "..") label = label.replace(/\./g, "_");
    let unique = label;
    for (let n = 2; used.has(unique); n++) unique = `${label}-${n}`;
    used.add(unique);
    return { label: unique, type: "dir", path: abs };
  });
}

// ---- helpers --------------------------------------------------------------------------------

function resolvePath(p: string, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (p === "~") return homeDir(env);
  if (p.startsWith("~/")) return path.join(homeDir(env), p.slice(2));
  return path.resolve(baseDir, p);
}

function isSafeFileName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name !== "." && name !== ".." && !name.includes("/") && !/[\u0000-\u001f\u007f]/.test(name) && Buffer.byteLength(name) <= 255;
}

function firstLine(message: string): string {
  return message.split("\n")[0]!.trim();
}

type Issue = z.core.$ZodIssue;

/** Reports unknown keys first: a misspelt key also shows up as a missing one. */
function pickIssue(issues: Issue[]): Issue {
  return issues.find((i) => i.code === "unrecognized_keys") ?? issues[0]!;
}

function formatPath(p: readonly PropertyKey[]): string {
  let out = "";
  for (const part of p) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

function valueAt(data: unknown, p: readonly PropertyKey[]): { found: boolean; value: unknown } {
  let cur: unknown = data;
  for (const part of p) {
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, part)) return { found: false, value: undefined };
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return { found: true, value: cur };
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  array: "a list",
  object: "a mapping (key: value lines)",
  number: "a number",
  boolean: "true or false",
};

function describeIssue(issue: Issue, data: unknown): { where: string; message: string; hint?: string } {
  const where = formatPath(issue.path);
  const parent = issue.path.slice(0, -1);
  const key = issue.path[issue.path.length - 1];
  const here = valueAt(data, issue.path);
  const missing = key !== undefined && !here.found;
  const missingKey = () => ({ where: formatPath(parent), message: `missing key "${String(key)}"` });

  switch (issue.code) {
    case "unrecognized_keys": {
      const known = knownKeysAt(issue.path, data);
      const keys = issue.keys.map((k) => `"${k}"`).join(", ");
      const first = issue.keys[0] ?? "";
      const suggestion = known.find((k) => editDistance(k, first) <= 2);
      return {
        where,
        message: `unknown key${issue.keys.length > 1 ? "s" : ""} ${keys}`,
        hint: suggestion !== undefined ? `did you mean "${suggestion}"?` : `known keys: ${known.join(", ")}`,
      };
    }
    case "invalid_type":
      if (missing) return missingKey();
      if (issue.path.length === 0) return { where, message: "expected a mapping (key: value lines) at the top level" };
      return {
        where,
        message: `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`,
        // YAML reads an empty value, and a bare "~", as null.
        ...(here.value === null ? { hint: 'the value is empty; for the home folder write "~" in quotes' } : {}),
      };
    case "invalid_union":
      if (missing) return missingKey();
      if (key === "type") {
        return { where, message: `expected "dir" or "command", got ${JSON.stringify(here.value)}` };
      }
      return { where, message: issue.message };
    case "invalid_value":
      return { where, message: `expected ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}` };
    default: {
      // Our own messages (too_small, invalid_format, custom): quote the value when it is text.
      const shown = typeof here.value === "string" && here.value !== "" ? ` ${JSON.stringify(here.value)}` : "";
      return { where: `${where}${shown}`, message: issue.message };
    }
  }
}

function knownKeysAt(p: readonly PropertyKey[], data: unknown): string[] {
  if (p.length === 0) return KNOWN_KEYS.top;
  if (p[0] === "hooks") return KNOWN_KEYS.hooks;
  if (p[0] === "storage") return p[1] === "s3" ? KNOWN_KEYS.s3 : p[1] === "rclone" ? KNOWN_KEYS.rclone : p[1] === "sftp" ? KNOWN_KEYS.sftp : KNOWN_KEYS.storage;
  const type = (valueAt(data, p).value as { type?: unknown } | undefined)?.type;
  return type === "command" ? KNOWN_KEYS.command : KNOWN_KEYS.dir;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
