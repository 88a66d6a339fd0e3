/**
 * Manifests: the complete, encrypted listing of one snapshot. Plaintext form is JSON Lines, one
 * canonical JSON object per line: a header, then one line per entry in walk order (see
 * sources/order.ts comparePaths), then an end line with the entry count. Lines keep reading and
 * writing streamed: memory does not grow with the number of entries.
 */
import * as z from "zod";
import { canonicalJson } from "./canonical.js";

export const MANIFEST_FORMAT = "isnad-manifest/1";

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const Mtime = z.string().regex(/^-?\d+$/, "expected integer nanoseconds since the epoch");

const SourceDef = z
  .object({
    label: z.string(),
    type: z.enum(["dir", "command"]),
    path: z.string().optional(),
    include: z.array(z.string()).optional(),
    exclude: z.array(z.string()).optional(),
    command: z.string().optional(),
    filename: z.string().optional(),
  })
  .strict();

const HeaderSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    repository: z.string(),
    snapshot: z.string(),
    time: z.string(),
    host: z.string(),
    signer: Hex64,
    sources: z.array(SourceDef),
  })
  .strict();

const Owner = { uid: z.number().int().nonnegative(), gid: z.number().int().nonnegative() };

const FileEntry = z
  .object({
    type: z.literal("file"),
    path: z.string(),
    mode: z.number().int().nonnegative(),
    mtime: Mtime,
    ...Owner,
    size: z.number().int().nonnegative(),
    sha256: Hex64,
    pack: Hex64,
    /** Member name in the pack when it differs from path (content stored under another path). */
    member: z.string().optional(),
    /** The file changed while it was read: the stored bytes are what was read, hashed as stored. */
    changed: z.literal(true).optional(),
  })
  .strict();
const DirEntry = z
  .object({ type: z.literal("dir"), path: z.string(), mode: z.number().int().nonnegative(), mtime: Mtime, ...Owner })
  .strict();
const SymlinkEntry = z
  .object({ type: z.literal("symlink"), path: z.string(), target: z.string(), mtime: Mtime, ...Owner })
  .strict();
/** A file or folder that could not be read: recorded so its absence is evidence, not silence. */
const MissingEntry = z.object({ type: z.literal("missing"), path: z.string(), error: z.string() }).strict();
/** A special file (fifo, socket, device) deliberately not stored. */
const SkippedEntry = z.object({ type: z.literal("skipped"), path: z.string(), reason: z.string() }).strict();

const EntrySchema = z.discriminatedUnion("type", [FileEntry, DirEntry, SymlinkEntry, MissingEntry, SkippedEntry]);
const EndSchema = z.object({ end: z.literal(true), entries: z.number().int().nonnegative() }).strict();

export type ManifestHeader = z.infer<typeof HeaderSchema>;
export type ManifestSource = z.infer<typeof SourceDef>;
export type ManifestEntry = z.infer<typeof EntrySchema>;
export type FileManifestEntry = z.infer<typeof FileEntry>;
export type DirManifestEntry = z.infer<typeof DirEntry>;
export type SymlinkManifestEntry = z.infer<typeof SymlinkEntry>;

export const encodeHeaderLine = (h: ManifestHeader): string => canonicalJson(h) + "\n";
export const encodeEntryLine = (e: ManifestEntry): string => (e.type === "file" ? encodeFileEntry(e) : canonicalJson(e) + "\n");

/**
 * canonicalJson of a file entry, written out field by field in sorted key order: the same bytes
 * (test/format/manifest.test.ts compares them), without sorting keys for every one of a tree's
 * files. Numbers must be safe integers, as canonicalJson demands.
 */
function encodeFileEntry(e: FileManifestEntry): string {
  const { head, tail } = encodeFileEntryAround(e);
  return head + JSON.stringify(e.pack) + tail;
}

/**
 * A file entry's line around its pack id (e.pack is not read): `head + JSON.stringify(id) + tail`
 * is encodeEntryLine of the entry with pack `id`, newline included in tail. For an entry whose
 * pack is still being written: it waits as two strings, not as an object.
 */
export function encodeFileEntryAround(e: FileManifestEntry): { head: string; tail: string } {
  for (const n of [e.gid, e.mode, e.size, e.uid]) {
    if (!Number.isSafeInteger(n)) throw new TypeError(`canonical JSON: ${n} is not a safe integer`);
  }
  const str = JSON.stringify;
  return {
    head:
      (e.changed === true ? '{"changed":true,' : "{") +
      `"gid":${e.gid},` +
      (e.member !== undefined ? `"member":${str(e.member)},` : "") +
      `"mode":${e.mode},"mtime":${str(e.mtime)},"pack":`,
    tail: `,"path":${str(e.path)},"sha256":${str(e.sha256)},"size":${e.size},"type":"file","uid":${e.uid}}\n`,
  };
}
export const encodeEndLine = (entries: number): string => canonicalJson({ end: true, entries }) + "\n";

/** Member name of a file entry inside its pack. */
export const memberOf = (e: FileManifestEntry): string => e.member ?? e.path;

function jsonOf(line: string, lineNo: number): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`manifest line ${lineNo}: not JSON`);
  }
}

const parseLine = <T>(schema: z.ZodType<T>, line: string, lineNo: number, what: string): T => checked(schema, jsonOf(line, lineNo), lineNo, what);

function checked<T>(schema: z.ZodType<T>, raw: unknown, lineNo: number, what: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`manifest line ${lineNo}: bad ${what}: ${issue?.path.join(".") ?? ""} ${issue?.message ?? ""}`.trim());
  }
  return r.data;
}

const FILE_KEYS = new Set(Object.keys(FileEntry.shape));
const HEX64 = /^[0-9a-f]{64}$/;
const MTIME = /^-?\d+$/;
const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0; // zod 4: int() is a safe integer

/**
 * The file entry on a line, checked by hand against the same rules as FileEntry; undefined if
 * anything is off, and the zod schema then says what. A manifest is nearly all file entries,
 * and zod took ~40 % of the time to parse one (about 1.3 µs a line).
 */
function asFileEntry(raw: unknown): FileManifestEntry | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const e = raw as Record<string, unknown>;
  for (const k in e) if (!FILE_KEYS.has(k)) return undefined;
  if (e.type !== "file" || typeof e.path !== "string" || typeof e.mtime !== "string" || !MTIME.test(e.mtime)) return undefined;
  if (!count(e.mode) || !count(e.uid) || !count(e.gid) || !count(e.size)) return undefined;
  if (typeof e.sha256 !== "string" || !HEX64.test(e.sha256) || typeof e.pack !== "string" || !HEX64.test(e.pack)) return undefined;
  if ((e.member !== undefined && typeof e.member !== "string") || (e.changed !== undefined && e.changed !== true)) return undefined;
  return e as FileManifestEntry;
}

function parseEntry(line: string, lineNo: number): ManifestEntry {
  const raw = jsonOf(line, lineNo);
  return asFileEntry(raw) ?? checked(EntrySchema, raw, lineNo, "entry");
}

/**
 * Incremental manifest parser: feed it lines in order. Checks the header comes first, entries are
 * unique and in walk order (compare), paths are safe relative paths, and the end line closes it.
 */
export class ManifestParser {
  header: ManifestHeader | undefined;
  private count = 0;
  private lineNo = 0;
  private last: string | undefined;
  private ended = false;

  constructor(private readonly compare: (a: string, b: string) => number) {}

  /** Returns the entry on this line, or undefined for the header and end lines. */
  push(line: string): ManifestEntry | undefined {
    this.lineNo++;
    if (this.ended) throw new Error(`manifest line ${this.lineNo}: data after the end line`);
    if (!this.header) {
      this.header = parseLine(HeaderSchema, line, this.lineNo, "header");
      return undefined;
    }
    if (line.startsWith('{"end":')) {
      const end = parseLine(EndSchema, line, this.lineNo, "end line");
      if (end.entries !== this.count) throw new Error(`manifest end line says ${end.entries} entries, found ${this.count}`);
      this.ended = true;
      return undefined;
    }
    const e = parseEntry(line, this.lineNo);
    const why = unsafePathReason(e.path);
    if (why) throw new Error(`manifest line ${this.lineNo}: unsafe path ${JSON.stringify(e.path)}: ${why}`);
    if (this.last !== undefined && this.compare(this.last, e.path) >= 0)
      throw new Error(`manifest line ${this.lineNo}: ${JSON.stringify(e.path)} is out of order or a duplicate`);
    this.last = e.path;
    this.count++;
    return e;
  }

  /** Call after the last line; throws if the manifest was cut short. */
  finish(): void {
    if (!this.header) throw new Error("manifest is empty");
    if (!this.ended) throw new Error("manifest has no end line (truncated?)");
  }
}

/** An empty, "." or ".." segment somewhere in a path. */
const SUSPECT_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

/**
 * Why a stored path could not be restored safely, or undefined if it can. Paths are relative,
 * "/"-separated, with no empty, "." or ".." segment and no NUL.
 */
export function unsafePathReason(p: string): string | undefined {
  if (p === "") return "empty path";
  if (p.includes("\0")) return "NUL in path";
  if (p.startsWith("/")) return "absolute path";
  if (!SUSPECT_SEGMENT.test(p)) return undefined; // the usual case, without splitting the path
  for (const seg of p.split("/")) {
    if (seg === "") return "empty segment";
    if (seg === "." || seg === "..") return `'${seg}' segment`;
  }
  return undefined;
}
