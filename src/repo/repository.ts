/**
 * A repository: storage plus the format. Creates and opens repositories, reads seals and resolves
 * snapshot references. Knows nothing of packs' contents or keys beyond the public ones.
 */
import { randomBytes } from "node:crypto";
import { configError, IsnadError, messageOf, usageError } from "../errors.js";
import { verifyEd25519 } from "../keys/signer.js";
import { REPO_CONFIG_KEY, SEALS_PREFIX, snapshotIdOfKey } from "../format/layout.js";
import { decodeRepoConfig, encodeRepoConfig, REPO_FORMAT, REPO_VERSION, type RepoConfig } from "../format/repo-config.js";
import { decodeSeal, type DecodedSeal } from "../format/seal.js";
import type { Storage } from "../storage/storage.js";
import { isRemovedSeal, readRemovals } from "./removals.js";

/** Seals are small; this bounds what a hostile repository can make us read into memory. */
export const MAX_SEAL_BYTES = 16 << 20;
const MAX_CONFIG_BYTES = 1 << 20;

export interface Repository {
  storage: Storage;
  config: RepoConfig;
}

export async function initRepository(
  storage: Storage,
  opts: { recipients: string[]; signerPublicKey: Buffer; signerFingerprint: string; now?: Date },
): Promise<Repository> {
  if (await storage.stat(REPO_CONFIG_KEY)) {
    throw configError(`${storage.location} is already an isnad repository`, { hint: "use it as it is, or pick another folder" });
  }
  for await (const _obj of storage.list("")) {
    throw configError(`${storage.location} is not empty and is not an isnad repository`, {
      hint: "pick an empty or new folder for the repository",
    });
  }
  const config: RepoConfig = {
    format: REPO_FORMAT,
    version: REPO_VERSION,
    id: randomBytes(16).toString("hex"),
    created: (opts.now ?? new Date()).toISOString(),
    recipients: opts.recipients,
    signer: {
      algorithm: "ed25519",
      public_key: opts.signerPublicKey.toString("base64"),
      fingerprint: opts.signerFingerprint,
    },
  };
  if ((await storage.putBytes(REPO_CONFIG_KEY, encodeRepoConfig(config))) === "exists") {
    throw configError(`${storage.location} was made a repository by another run just now`);
  }
  return { storage, config };
}

export interface OpenOptions {
  /**
   * Also check that each recipient in isnad.json is one typage can encrypt to (a trial
   * encryption each), so that a damaged isnad.json is named as such before a snapshot starts.
   * Only a command that encrypts needs it: it loads typage with its post-quantum code and costs
   * ~0.2 s, which read-only commands (snapshots, verify, restore, prune...) do not pay.
   */
  encrypting?: boolean;
}

export async function openRepository(storage: Storage, opts: OpenOptions = {}): Promise<Repository> {
  let bytes: Buffer;
  try {
    bytes = await storage.readBytes(REPO_CONFIG_KEY, MAX_CONFIG_BYTES);
  } catch (e) {
    if ((e as { notFound?: boolean }).notFound) {
      throw configError(`${storage.location} is not an isnad repository (no ${REPO_CONFIG_KEY})`, {
        hint: "check --repo, or create one with: isnad init --repo PATH --recipient age1…",
      });
    }
    throw e;
  }
  try {
    const config = decodeRepoConfig(bytes);
    if (opts.encrypting) {
      const { parseRecipient } = await import("../keys/recipients.js");
      for (const [i, r] of config.recipients.entries()) {
        try {
          await parseRecipient(r, "isnad.json");
        } catch (e) {
          throw new Error(`recipients[${i}] is not an age recipient (${messageOf(e)})`);
        }
      }
    }
    return { storage, config };
  } catch (e) {
    throw configError(`${storage.location}/${REPO_CONFIG_KEY} is corrupted: ${(e as Error).message}`, {
      cause: e,
      hint: "restore isnad.json from a copy; its signer fingerprint must match the one recorded at init",
    });
  }
}

export const signerPublicKey = (repo: Repository): Buffer => Buffer.from(repo.config.signer.public_key, "base64");

export interface SealFile {
  key: string;
  snapshotId: string;
  bytes: Buffer;
}

/** Every seal file in the repository, sorted by key. Unknown files under snapshots/ are returned with an empty id. */
export async function listSealFiles(repo: Repository): Promise<SealFile[]> {
  const keys: string[] = [];
  for await (const o of repo.storage.list(SEALS_PREFIX)) keys.push(o.key);
  keys.sort();
  const out: SealFile[] = [];
  for (const key of keys) {
    const bytes = await repo.storage.readBytes(key, MAX_SEAL_BYTES);
    out.push({ key, snapshotId: snapshotIdOfKey(key) ?? "", bytes });
  }
  return out;
}

export interface ReadableSeal extends DecodedSeal {
  key: string;
}

/**
 * Seals that decode, belong to this repository and carry a valid signature of its signer,
 * sorted by seq. Anything else is passed to onRejected (verify reports it in detail) and never
 * used: no command acts on a snapshot whose seal does not verify.
 */
export async function readSeals(repo: Repository, onRejected?: (key: string, why: string) => void): Promise<ReadableSeal[]> {
  const key = signerPublicKey(repo);
  const seals: ReadableSeal[] = [];
  for (const f of await listSealFiles(repo)) {
    let why: string | undefined;
    try {
      const d = decodeSeal(f.bytes);
      if (d.body.snapshot !== f.snapshotId || d.body.repository !== repo.config.id) why = "it belongs to another snapshot or repository";
      else if (d.body.signer !== repo.config.signer.fingerprint || !verifyEd25519(key, d.signedBytes, d.signature)) why = "its signature does not verify";
      else seals.push({ ...d, key: f.key });
    } catch (e) {
      why = messageOf(e);
    }
    if (why) onRejected?.(f.key, why);
  }
  return seals.sort((a, b) => a.body.seq - b.body.seq || a.body.snapshot.localeCompare(b.body.snapshot));
}

/** Resolves "latest", a full snapshot id or a unique prefix of at least 4 hex digits. */
export async function resolveSnapshot(repo: Repository, ref: string): Promise<ReadableSeal> {
  const rejected: Array<{ key: string; why: string }> = [];
  const removals = await readRemovals(repo);
  // A seal a removal record names is gone as far as users are concerned, even if an interrupted
  // forget left its file (prune may already have deleted its objects).
  const seals = (await readSeals(repo, (key, why) => rejected.push({ key, why }))).filter((s) => !isRemovedSeal(removals, s));
  if (ref === "latest") {
    const last = seals.at(-1);
    if (!last) throw new IsnadError("usage", `${repo.storage.location} has no snapshots yet`);
    return last;
  }
  if (!/^[0-9a-f]{4,16}$/.test(ref)) throw usageError(`"${ref}" is not a snapshot id`, "use an id from `isnad snapshots`, or latest");
  const matches = seals.filter((s) => s.body.snapshot.startsWith(ref));
  if (matches.length === 1) return matches[0]!;
  const bad = rejected.find((r) => snapshotIdOfKey(r.key)?.startsWith(ref));
  if (matches.length === 0 && bad) {
    throw new IsnadError("integrity", `snapshot ${snapshotIdOfKey(bad.key)}: ${bad.key} does not verify (${bad.why}); refusing to use it`, {
      hint: "run isnad verify for the whole picture",
    });
  }
  const removed = [...removals.removed.values()].find((r) => r.snapshot.startsWith(ref));
  if (matches.length === 0 && removed) {
    throw usageError(`snapshot ${removed.snapshot} was removed by policy (removal record ${removed.record}, see isnad snapshots --removed)`);
  }
  if (matches.length === 0) throw usageError(`no snapshot ${ref} in ${repo.storage.location}`, "list them with: isnad snapshots");
  throw usageError(`snapshot id ${ref} is ambiguous (${matches.length} match)`, "give more digits");
}

