/**
 * Forges a snapshot the way an attacker who owns the backed-up host could (DESIGN.md §2.1): that
 * host holds the age recipients and the snapshot-signing key, so it can write any pack and any
 * manifest, encrypt them to the repository's recipients and seal them with a valid signature,
 * chained to the current head. Built from the library's own format code, not through the CLI, so
 * that the pack's tar stream and the manifest's lines can be anything at all.
 *
 *   const snap = await forgeSnapshot({
 *     repo: r.repo, signingKey: r.signingKey, recipient: r.recipient,
 *     packs: [{ members: [{ name: "site/a.txt", content: "A" }, { name: "../escape.txt", content: "x" }] }],
 *     entries: [dirEntry("site"), fileEntry("site/a.txt", "A")],
 *   });
 *   // then: isnad restore snap.snapshot --repo R --target T -i KEY
 *
 * File entries name their pack by index into `packs` (default 0) or by a 64-hex object id.
 * Entries are sorted into walk order unless keepOrder is set (the manifest parser refuses any
 * other order, which is itself a way to test it).
 */
import { createHash, randomBytes } from "node:crypto";
import tar from "tar-stream";
import { AgeEncryptor, createAgeHeader } from "../../src/crypto/age.js";
import { manifestKey, packKey, sealKey } from "../../src/format/layout.js";
import {
  encodeEndLine,
  encodeEntryLine,
  encodeHeaderLine,
  MANIFEST_FORMAT,
  type FileManifestEntry,
  type ManifestEntry,
  type ManifestSource,
} from "../../src/format/manifest.js";
import { encodeSeal, SEAL_FORMAT, sealSignedBytes, sha256Hex, type ObjectRef, type SealBody } from "../../src/format/seal.js";
import { PACK_CHECKSUMS_MEMBER, sha256sumLine } from "../../src/format/sha256sum.js";
import { loadSigner, type Signer } from "../../src/keys/signer.js";
import { openRepository, readSeals } from "../../src/repo/repository.js";
import { comparePaths } from "../../src/sources/order.js";
import { openStorage } from "../../src/storage/open.js";
import { VERSION } from "../../src/version.js";

/** A fixed mtime (2023-11-14T22:13:20Z) in the manifest's integer nanoseconds. */
export const FORGED_MTIME_NS = "1700000000000000000";

export type TarType = tar.Header["type"];
type TarHeaderArg = Partial<tar.Header> & Pick<tar.Header, "name">;

/** One tar member, written as given: any name, any type. */
export interface ForgedMember {
  name: string;
  /** Default "file". */
  type?: TarType;
  /** File content (files only). */
  content?: string | Buffer;
  /** Target of a symlink or hard link member. */
  linkname?: string;
  mode?: number;
  devmajor?: number;
  devminor?: number;
}

export interface ForgedPack {
  members: ForgedMember[];
  /** Append .isnad/manifest-sha256.txt for the file members, as real packs do (default true). */
  checksums?: boolean;
}

/** A manifest entry as forged: a file entry names its pack by index into `packs`, or by object id. */
export type ForgedEntry =
  | Exclude<ManifestEntry, FileManifestEntry>
  | (Omit<FileManifestEntry, "pack"> & { pack: number | string });

export interface ForgeOptions {
  repo: string;
  /** The repository's signing key file (what the compromised host holds). */
  signingKey?: string;
  /** Sign with this instead of signingKey (e.g. a key that is not the repository's). */
  signer?: Signer;
  /** The fingerprint the seal claims (default: the signer's own). */
  claimSigner?: string;
  recipient: string | string[];
  packs?: ForgedPack[];
  entries: ForgedEntry[];
  /** Write entries in the given order instead of walk order. */
  keepOrder?: boolean;
  /** Manifest header sources (default one dir source per top-level label of the entries). */
  sources?: ManifestSource[];
  host?: string;
  time?: Date;
}

export interface ForgedSnapshot {
  snapshot: string;
  seq: number;
  parent: string | null;
  /** SHA-256 of the seal's bytes (the new chain head). */
  chainHead: string;
  manifest: ObjectRef;
  packs: ObjectRef[];
  sealKey: string;
}

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

export const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/** A file entry whose size and SHA-256 are those of `content` unless overridden. */
export function fileEntry(
  path: string,
  content: string | Buffer,
  over: Partial<Omit<FileManifestEntry, "type" | "path" | "pack">> & { pack?: number | string } = {},
): ForgedEntry {
  const bytes = Buffer.from(content);
  return {
    type: "file",
    path,
    mode: 0o644,
    mtime: FORGED_MTIME_NS,
    uid,
    gid,
    size: bytes.length,
    sha256: sha256(bytes),
    ...over,
    pack: over.pack ?? 0,
  };
}

export const dirEntry = (path: string, mode = 0o755): ForgedEntry => ({ type: "dir", path, mode, mtime: FORGED_MTIME_NS, uid, gid });

export const symlinkEntry = (path: string, target: string): ForgedEntry => ({
  type: "symlink",
  path,
  target,
  mtime: FORGED_MTIME_NS,
  uid,
  gid,
});

/** The tar stream of a pack, built with tar-stream's pack(): it writes names and types verbatim. */
export async function buildTar(pack: ForgedPack): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    p.on("data", (c: unknown) => chunks.push(c as Buffer));
    p.on("end", () => resolve());
    p.on("error", reject);
  });
  const add = (header: TarHeaderArg, body?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body) p.entry(header, body, cb);
      else p.entry(header, cb);
    });
  const sums: string[] = [];
  for (const m of pack.members) {
    const type = m.type ?? "file";
    const header: TarHeaderArg = {
      name: m.name,
      type,
      mode: m.mode ?? 0o644,
      mtime: new Date(Number(BigInt(FORGED_MTIME_NS) / 1_000_000n)),
      ...(m.linkname !== undefined ? { linkname: m.linkname } : {}),
      ...(m.devmajor !== undefined ? { devmajor: m.devmajor } : {}),
      ...(m.devminor !== undefined ? { devminor: m.devminor } : {}),
    };
    if (type === "file") {
      const body = Buffer.from(m.content ?? "");
      sums.push(sha256sumLine(sha256(body), m.name));
      await add(header, body);
    } else {
      await add(header);
    }
  }
  if (pack.checksums ?? true) await add({ name: PACK_CHECKSUMS_MEMBER, mode: 0o644 }, Buffer.from(sums.join(""), "utf8"));
  p.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** age-encrypts plaintext to the recipients with the library's own encryptor. */
export async function ageEncrypt(plaintext: Buffer, recipients: readonly string[]): Promise<Buffer> {
  const { header, fileKey } = await createAgeHeader(recipients);
  const parts: Buffer[] = [];
  const enc = new AgeEncryptor(header, fileKey, (chunk) => parts.push(chunk));
  fileKey.fill(0);
  enc.write(plaintext);
  enc.end();
  return Buffer.concat(parts);
}

export async function forgeSnapshot(opts: ForgeOptions): Promise<ForgedSnapshot> {
  const storage = await openStorage(opts.repo);
  const repo = await openRepository(storage);
  const recipients = Array.isArray(opts.recipient) ? opts.recipient : [opts.recipient];
  const signer = opts.signer ?? (await loadSigner(requireKey(opts.signingKey)));

  // Packs: tar -> age -> packs/xx/<sha256 of ciphertext>.age
  const packRefs: ObjectRef[] = [];
  for (const pack of opts.packs ?? []) {
    const cipher = await ageEncrypt(await buildTar(pack), recipients);
    const ref = { id: sha256Hex(cipher), size: cipher.length };
    await storage.putBytes(packKey(ref.id), cipher);
    packRefs.push(ref);
  }

  // Manifest: header line, entry lines, end line -> age -> manifests/<sha256>.age
  const snapshot = randomBytes(8).toString("hex");
  const time = (opts.time ?? new Date()).toISOString();
  const host = opts.host ?? "compromised.example";
  const entries: ManifestEntry[] = opts.entries.map((e) => {
    if (e.type !== "file") return e;
    const pack = typeof e.pack === "number" ? packRefs[e.pack]?.id : e.pack;
    if (pack === undefined) throw new Error(`forge: entry ${e.path} names pack ${e.pack}, but only ${packRefs.length} were given`);
    return { ...e, pack };
  });
  if (!opts.keepOrder) entries.sort((a, b) => comparePaths(a.path, b.path));
  const labels = [...new Set(entries.map((e) => e.path.split("/")[0] ?? ""))];
  const sources = opts.sources ?? labels.map((label) => ({ label, type: "dir" as const, path: `/srv/${label}` }));
  const lines = [
    encodeHeaderLine({ format: MANIFEST_FORMAT, repository: repo.config.id, snapshot, time, host, signer: signer.fingerprint, sources }),
    ...entries.map(encodeEntryLine),
    encodeEndLine(entries.length),
  ];
  const manifestCipher = await ageEncrypt(Buffer.from(lines.join(""), "utf8"), recipients);
  const manifest = { id: sha256Hex(manifestCipher), size: manifestCipher.length };
  await storage.putBytes(manifestKey(manifest.id), manifestCipher);

  // Seal: chained to the current head, signed.
  const head = (await readSeals(repo)).at(-1);
  const files = entries.filter((e): e is FileManifestEntry => e.type === "file");
  const body: SealBody = {
    format: SEAL_FORMAT,
    repository: repo.config.id,
    snapshot,
    seq: (head?.body.seq ?? 0) + 1,
    parent: head?.hash ?? null,
    time,
    host,
    sources: sources.map((s) => s.label),
    manifest,
    packs: packRefs,
    stats: {
      files: files.length,
      dirs: entries.filter((e) => e.type === "dir").length,
      symlinks: entries.filter((e) => e.type === "symlink").length,
      bytes: files.reduce((n, e) => n + e.size, 0),
      new_bytes: files.reduce((n, e) => n + e.size, 0),
      missing: entries.filter((e) => e.type === "missing").length,
      skipped: entries.filter((e) => e.type === "skipped").length,
      changed: 0,
    },
    signer: opts.claimSigner ?? signer.fingerprint,
    isnad: VERSION,
  };
  const sealBytes = encodeSeal(body, signer.sign(sealSignedBytes(body)));
  const key = sealKey(snapshot);
  if ((await storage.putBytes(key, sealBytes)) === "exists") throw new Error(`forge: ${key} already exists`);
  return { snapshot, seq: body.seq, parent: body.parent, chainHead: sha256Hex(sealBytes), manifest, packs: packRefs, sealKey: key };
}

function requireKey(k: string | undefined): string {
  if (!k) throw new Error("forge: give signingKey (or signer)");
  return k;
}
