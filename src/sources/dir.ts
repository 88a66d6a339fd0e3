/**
 * The `dir` source: walks one folder and yields what it holds as `SourceEntry` values, in the
 * order of `comparePaths`. It selects (exclude, include, `.isnadignore`) and reports; it reads no
 * file contents (except ignore files) and decides nothing about changes, packs or hashes.
 *
 * It is synchronous on purpose: it is the hot path of a backup of many small files, and one
 * `readdirSync` + one `lstatSync` per entry is several times faster than the promise API.
 *
 * Selection rules (all matched against `rel`, the "/"-separated path below the root):
 *
 * - `exclude` patterns and `.isnadignore` files use gitignore syntax and semantics (the `ignore`
 *   package, case-sensitive as git on Linux): "cache" matches that name at any depth, "/cache" or
 *   "a/cache" only there, "cache/" only folders, "!keep" re-includes. An excluded folder is pruned:
 *   nothing below it is walked or yielded. `exclude` patterns act as an ignore file at the root,
 *   read before the root's own `.isnadignore`.
 * - An `.isnadignore` file applies to the subtree of the folder holding it, with patterns relative
 *   to that folder. Deeper files take precedence over shallower ones (the last matching pattern
 *   wins, as in git). Only regular files count: a symlink named `.isnadignore` is not followed.
 *   The ignore file is an ordinary entry otherwise: it is backed up unless a rule or `include`
 *   leaves it out. If it cannot be read, its own entry is yielded as "unreadable" (its rules were
 *   not applied), even when a rule excludes it.
 * - `include` globs (picomatch, dot: true) select non-folder entries: a file, symlink or special
 *   file is kept only if one glob matches it (after `exclude` has not removed it). Every folder is
 *   walked, but a folder is yielded only if a glob matches it or something below it is yielded,
 *   just before the first such entry, so the pre-order stays intact. An empty `include` list
 *   means "no include filter". The root is always yielded.
 *
 * Errors below the root (lstat, readdir, readlink, reading an ignore file) are yielded as
 * "unreadable" entries, in walk order, never thrown. A folder whose listing fails is yielded once,
 * as "unreadable" instead of "dir". An entry that fails `lstat` is judged by the type `readdir`
 * reported. Problems with the root itself are thrown, when `walkDir` is called.
 */

import * as fs from "node:fs";
import type { BigIntStats, Dirent } from "node:fs";
import * as path from "node:path";
import ignore, { type Ignore } from "ignore";
import picomatch from "picomatch";
import { IsnadError, errnoCode, messageOf } from "../errors.js";
import { compareNames } from "./order.js";

/** `FileStat`: a file's lstat, or `undefined` too when the walk was asked not to take it (statFiles: false). */
export type SourceEntry<FileStat extends BigIntStats | undefined = BigIntStats> =
  | { type: "dir"; rel: string; abs: string; stat: BigIntStats }
  | { type: "file"; rel: string; abs: string; stat: FileStat }
  | { type: "symlink"; rel: string; abs: string; stat: BigIntStats; target: string }
  | { type: "skipped"; rel: string; abs: string; reason: string }
  | { type: "unreadable"; rel: string; abs: string; error: string };

export interface DirSourceOptions {
  /** picomatch globs; when given and not empty, only matching non-folder entries are kept. */
  include?: string[];
  /** gitignore patterns, as if in an ignore file at the root. */
  exclude?: string[];
  /** Name of the per-folder ignore files; default ".isnadignore"; "" turns them off. */
  ignoreFileName?: string;
  /** Folders never entered, by device and inode, with the reason recorded (the repository itself). */
  skipDirs?: Array<{ dev: bigint; ino: bigint; reason: string }>;
  /**
   * false: an entry the folder listing says is a regular file is yielded without an lstat (stat
   * undefined), for a caller that opens and fstats it anyway (a snapshot reading a new file):
   * one system call and one BigIntStats fewer per file. Default true.
   */
  statFiles?: boolean;
}

export const DEFAULT_IGNORE_FILE_NAME = ".isnadignore";

type DirEntry = Extract<SourceEntry, { type: "dir" }>;

/** The ignore rules that apply below one folder, all rewritten relative to the root. */
interface Rules {
  /** The compiled rules; undefined when there is no pattern at all (the fast path). */
  template: Ignore | undefined;
  patterns: string[];
}

interface Frame {
  rel: string;
  abs: string;
  children: Dirent[];
  next: number;
  rules: Rules;
  /**
   * Matches this folder's children. A fresh copy of `rules.template` per folder, because an
   * `ignore` instance caches every path it is asked about (and its parents) forever: one instance
   * for the whole walk would hold every path of the tree in memory.
   */
  matcher: Ignore | undefined;
  entry: DirEntry;
  /** Whether `entry` was yielded already (always, unless an include filter holds it back). */
  emitted: boolean;
  /** Why this folder's ignore file could not be read, reported on that file's own entry. */
  ignoreFileError: string | undefined;
}

/**
 * Yields the root folder first (rel ""), then every entry in pre-order depth-first, children
 * sorted by compareNames. rel uses "/" separators, no leading "./". Symlinks below the root are
 * never followed; the root itself may be a symlink to a folder (its target's stat is reported).
 *
 * The root is checked and listed when this is called, not at the first `next()`: a missing root
 * or one that is not a folder throws IsnadError("config"), any other failure on the root (stat or
 * listing) IsnadError("source").
 */
export function walkDir(root: string, opts: DirSourceOptions & { statFiles: false }): Generator<SourceEntry<BigIntStats | undefined>>;
export function walkDir(root: string, opts?: DirSourceOptions): Generator<SourceEntry>;
export function walkDir(root: string, opts: DirSourceOptions = {}): Generator<SourceEntry<BigIntStats | undefined>> {
  const abs = path.resolve(root);
  let stat: BigIntStats;
  try {
    stat = fs.statSync(abs, { bigint: true });
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new IsnadError("config", `source "${root}" does not exist`, {
        cause: err,
        hint: "check the source path in the config file or on the command line",
      });
    }
    throw new IsnadError("source", `source "${root}" cannot be read: ${describeFsError(err)}`, { cause: err });
  }
  if (!stat.isDirectory()) {
    throw new IsnadError("config", `source "${root}" is not a folder`, {
      hint: "a dir source backs up a folder; give the folder that holds the file",
    });
  }
  let children: Dirent[];
  try {
    children = readSorted(abs);
  } catch (err) {
    throw new IsnadError("source", `source "${root}" cannot be listed: ${describeFsError(err)}`, { cause: err });
  }
  return walk(abs, stat, children, opts);
}

function* walk(rootAbs: string, rootStat: BigIntStats, rootChildren: Dirent[], opts: DirSourceOptions): Generator<SourceEntry<BigIntStats | undefined>> {
  const ignoreFileName = opts.ignoreFileName ?? DEFAULT_IGNORE_FILE_NAME;
  const statFiles = opts.statFiles ?? true;
  const include =
    opts.include !== undefined && opts.include.length > 0 ? picomatch(opts.include, { dot: true }) : undefined;

  const rootEntry: DirEntry = { type: "dir", rel: "", abs: rootAbs, stat: rootStat };
  yield rootEntry;

  const baseRules = extendRules({ template: undefined, patterns: [] }, opts.exclude ?? [], "");
  const stack: Frame[] = [makeFrame(rootEntry, rootChildren, baseRules, ignoreFileName, true)];

  // Yields the folders an include filter held back, outermost first, once something below them
  // is yielded. Emitted frames are always a prefix of the stack.
  function* flush(): Generator<SourceEntry<BigIntStats | undefined>> {
    for (const frame of stack) {
      if (!frame.emitted) {
        frame.emitted = true;
        yield frame.entry;
      }
    }
  }

  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const dirent = frame.children[frame.next++];
    if (dirent === undefined) {
      stack.pop();
      continue;
    }
    const name = dirent.name;
    const rel = frame.rel === "" ? name : `${frame.rel}/${name}`;
    const abs = frame.abs === "/" ? `/${name}` : `${frame.abs}/${name}`;

    if (frame.ignoreFileError !== undefined && name === ignoreFileName) {
      if (!frame.emitted) yield* flush();
      yield { type: "unreadable", rel, abs, error: frame.ignoreFileError };
      continue;
    }

    if (!statFiles && dirent.isFile()) {
      if (isExcluded(frame.matcher, rel, false)) continue;
      if (include !== undefined && !include(rel)) continue;
      if (!frame.emitted) yield* flush();
      yield { type: "file", rel, abs, stat: undefined };
      continue;
    }

    let stat: BigIntStats;
    try {
      stat = fs.lstatSync(abs, { bigint: true });
    } catch (err) {
      const isDir = dirent.isDirectory();
      if (isExcluded(frame.matcher, rel, isDir)) continue;
      if (!isDir && include !== undefined && !include(rel)) continue;
      if (!frame.emitted) yield* flush();
      yield { type: "unreadable", rel, abs, error: describeFsError(err) };
      continue;
    }

    if (stat.isDirectory()) {
      if (isExcluded(frame.matcher, rel, true)) continue;
      const skip = opts.skipDirs?.find((d) => d.dev === stat.dev && d.ino === stat.ino);
      if (skip) {
        if (!frame.emitted) yield* flush();
        yield { type: "skipped", rel, abs, reason: skip.reason };
        continue;
      }
      let children: Dirent[];
      try {
        children = readSorted(abs);
      } catch (err) {
        if (!frame.emitted) yield* flush();
        yield { type: "unreadable", rel, abs, error: describeFsError(err) };
        continue;
      }
      const entry: DirEntry = { type: "dir", rel, abs, stat };
      const emit = include === undefined || include(rel);
      if (emit) {
        if (!frame.emitted) yield* flush();
        yield entry;
      }
      stack.push(makeFrame(entry, children, frame.rules, ignoreFileName, emit));
      continue;
    }

    if (isExcluded(frame.matcher, rel, false)) continue;
    if (include !== undefined && !include(rel)) continue;
    if (!frame.emitted) yield* flush();

    if (stat.isFile()) {
      yield { type: "file", rel, abs, stat };
    } else if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = fs.readlinkSync(abs);
      } catch (err) {
        yield { type: "unreadable", rel, abs, error: describeFsError(err) };
        continue;
      }
      yield { type: "symlink", rel, abs, stat, target };
    } else {
      yield { type: "skipped", rel, abs, reason: `special file (${specialKind(stat)})` };
    }
  }
}

function readSorted(abs: string): Dirent[] {
  return fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => compareNames(a.name, b.name));
}

/** A frame for a folder just listed; reads its ignore file if it has one. */
function makeFrame(entry: DirEntry, children: Dirent[], parentRules: Rules, ignoreFileName: string, emitted: boolean): Frame {
  let rules = parentRules;
  let ignoreFileError: string | undefined;
  if (ignoreFileName !== "") {
    const ignoreFile = children.find((d) => d.name === ignoreFileName);
    if (ignoreFile !== undefined && ignoreFile.isFile()) {
      const file = entry.abs === "/" ? `/${ignoreFileName}` : `${entry.abs}/${ignoreFileName}`;
      try {
        rules = extendRules(parentRules, parseIgnoreFile(fs.readFileSync(file, "utf8")), entry.rel);
      } catch (err) {
        ignoreFileError = `${describeFsError(err)} (its ignore rules were not applied)`;
      }
    }
  }
  const matcher = rules.template === undefined ? undefined : ignore({ ignoreCase: false }).add(rules.template);
  return { rel: entry.rel, abs: entry.abs, children, next: 0, rules, matcher, entry, emitted, ignoreFileError };
}

/** The pattern lines of a gitignore-style file: no blank lines, no comments. */
function parseIgnoreFile(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== "" && !line.startsWith("#"));
}

/**
 * Adds the patterns of an ignore file in folder `base` to the rules inherited from above. Patterns
 * are rewritten relative to the root ("x" in "a/b" becomes "a/b/**\/x", "/x" or "x/y" becomes
 * "a/b/x" or "a/b/x/y") so that one matcher holds every level in precedence order; a matcher per
 * level would get "a parent folder is excluded" wrong when a deeper file re-includes it.
 */
function extendRules(parent: Rules, lines: string[], base: string): Rules {
  if (lines.length === 0) return parent;
  const added = base === "" ? lines : lines.map((line) => rebase(line, base));
  const patterns = [...parent.patterns, ...added];
  return { template: ignore({ ignoreCase: false }).add(patterns), patterns };
}

function rebase(line: string, base: string): string {
  const negated = line.startsWith("!");
  const body = negated ? line.slice(1) : line;
  // gitignore: a slash at the start or in the middle anchors the pattern to its file's folder;
  // a trailing slash only means "folders only".
  const anchored = body.trimEnd().replace(/\/$/, "").includes("/");
  const prefix = escapeGlob(base);
  const rebased = anchored ? `${prefix}/${body.replace(/^\//, "")}` : `${prefix}/**/${body}`;
  return negated ? `!${rebased}` : rebased;
}

/** Escapes a literal folder path for gitignore syntax ("#" and "!" matter only at the start). */
function escapeGlob(literal: string): string {
  return literal.replace(/[\\*?[\]!# ]/g, (c) => `\\${c}`);
}

/**
 * Whether a path (relative to the source's folder) is part of the source by its config's include
 * and exclude, as the walk decides it; .isnadignore files are not read. For watch: a change to an
 * excluded file should not cause a snapshot.
 */
export function sourcePathFilter(opts: Pick<DirSourceOptions, "include" | "exclude">): (rel: string, isDir: boolean) => boolean {
  const rules = extendRules({ template: undefined, patterns: [] }, opts.exclude ?? [], "");
  const include = opts.include !== undefined && opts.include.length > 0 ? picomatch(opts.include, { dot: true }) : undefined;
  return (rel, isDir) => {
    if (rel === "") return true;
    const parts = rel.split("/");
    // gitignore: nothing under an excluded folder can be re-included.
    for (let i = 1; i < parts.length; i++) if (isExcluded(rules.template, parts.slice(0, i).join("/"), true)) return false;
    if (isExcluded(rules.template, rel, isDir)) return false;
    return isDir || include === undefined || include(rel);
  };
}

function isExcluded(matcher: Ignore | undefined, rel: string, isDir: boolean): boolean {
  return matcher !== undefined && matcher.ignores(isDir ? `${rel}/` : rel);
}

function specialKind(stat: BigIntStats): string {
  if (stat.isFIFO()) return "fifo";
  if (stat.isSocket()) return "socket";
  if (stat.isCharacterDevice()) return "character device";
  if (stat.isBlockDevice()) return "block device";
  return "unknown type";
}

/** "EACCES: permission denied" from Node's "EACCES: permission denied, scandir '/x'". */
export function describeFsError(err: unknown): string {
  const message = messageOf(err);
  const m = /^([A-Z][A-Z0-9_]*): ([^,]*)/.exec(message);
  if (m !== null) return `${m[1]}: ${m[2]}`;
  const code = errnoCode(err);
  return code === undefined ? message : `${code}: ${message}`;
}
