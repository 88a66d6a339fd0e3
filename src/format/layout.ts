/**
 * Where each kind of object lives in a repository (see docs/FORMAT.md "Layout"). Every backend
 * uses these keys; only how bytes move differs between backends.
 */

export const REPO_CONFIG_KEY = "isnad.json";
export const SEALS_PREFIX = "snapshots/";
export const MANIFESTS_PREFIX = "manifests/";
export const PACKS_PREFIX = "packs/";
export const LOCKS_PREFIX = "locks/";
export const REMOVALS_PREFIX = "removals/";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const SNAPSHOT_ID = /^[0-9a-f]{16}$/;

export const isObjectId = (s: string): boolean => SHA256_HEX.test(s);
export const isSnapshotId = (s: string): boolean => SNAPSHOT_ID.test(s);

export const sealKey = (snapshotId: string): string => `${SEALS_PREFIX}${snapshotId}.seal.json`;
export const manifestKey = (objectId: string): string => `${MANIFESTS_PREFIX}${objectId}.age`;
/** Packs fan out by the first two hex digits so no folder holds more than 1/256 of them. */
export const packKey = (objectId: string): string => `${PACKS_PREFIX}${objectId.slice(0, 2)}/${objectId}.age`;

/**
 * Removal records are named by their seq, zero-padded so keys sort in chain order. The storage's
 * no-overwrite put makes two runs that both try to write record N fail rather than fork the chain.
 */
export const removalKey = (seq: number): string => `${REMOVALS_PREFIX}${String(seq).padStart(10, "0")}.json`;

/** Seq of a removal record key, or undefined if the key is not one. */
export function removalSeqOfKey(key: string): number | undefined {
  const m = /^removals\/(\d{10})\.json$/.exec(key);
  const n = m?.[1] ? Number(m[1]) : undefined;
  return n !== undefined && n > 0 ? n : undefined;
}

/** Snapshot id from a seal key, or undefined if the key is not a seal. */
export function snapshotIdOfKey(key: string): string | undefined {
  const m = /^snapshots\/([0-9a-f]{16})\.seal\.json$/.exec(key);
  return m?.[1];
}

/** Object id of a manifest or pack key, or undefined. */
export function objectIdOfKey(key: string): { kind: "manifest" | "pack"; id: string } | undefined {
  let m = /^manifests\/([0-9a-f]{64})\.age$/.exec(key);
  if (m?.[1]) return { kind: "manifest", id: m[1] };
  m = /^packs\/([0-9a-f]{2})\/([0-9a-f]{64})\.age$/.exec(key);
  if (m?.[1] && m[2] && m[2].startsWith(m[1])) return { kind: "pack", id: m[2] };
  return undefined;
}
