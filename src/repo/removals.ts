/**
 * Reading removal records (src/format/removal.ts) from a repository: which snapshots were removed
 * by policy, and whether the chain of records itself is intact. Keyless, like readSeals.
 */
import { messageOf } from "../errors.js";
import { REMOVALS_PREFIX, removalSeqOfKey } from "../format/layout.js";
import { decodeRemoval, type DecodedRemoval, type RemovedSeal } from "../format/removal.js";
import { verifyEd25519 } from "../keys/signer.js";
// Types only: repository.ts imports this module (resolveSnapshot skips removed seals).
import type { ReadableSeal, Repository } from "./repository.js";

/** Like MAX_SEAL_BYTES: records are small; this bounds what a hostile repository can make us read. */
const MAX_RECORD_BYTES = 16 << 20;

export interface ReadableRemoval extends DecodedRemoval {
  key: string;
}

export type RemovalProblemCode = "removal-unreadable" | "removal-signature" | "removal-chain-gap" | "removal-chain-parent" | "removal-chain-fork";

export interface RemovalProblem {
  code: RemovalProblemCode;
  key: string;
  message: string;
}

export interface Removals {
  /** Records that decode, belong to this repository and carry a valid signature, by seq. */
  records: ReadableRemoval[];
  /** Every stub of those records, by the removed seal's seq. */
  removed: Map<number, RemovedSeal & { record: number }>;
  /** Anything wrong with the records or their chain: each one an integrity failure. */
  problems: RemovalProblem[];
  /** The newest record's hash: the parent of the next one (null if there is none). */
  head: ReadableRemoval | undefined;
}

export async function readRemovals(repo: Repository): Promise<Removals> {
  const pub = Buffer.from(repo.config.signer.public_key, "base64");
  const problems: RemovalProblem[] = [];
  const keys: string[] = [];
  for await (const o of repo.storage.list(REMOVALS_PREFIX)) keys.push(o.key);
  keys.sort();
  const records: ReadableRemoval[] = [];
  for (const key of keys) {
    const seq = removalSeqOfKey(key);
    if (seq === undefined) {
      problems.push({ code: "removal-unreadable", key, message: `${key} is not a removal record name` });
      continue;
    }
    let d: DecodedRemoval;
    try {
      d = decodeRemoval(await repo.storage.readBytes(key, MAX_RECORD_BYTES));
    } catch (e) {
      problems.push({ code: "removal-unreadable", key, message: `${key}: ${messageOf(e)}` });
      continue;
    }
    if (d.body.seq !== seq || d.body.repository !== repo.config.id) {
      problems.push({ code: "removal-unreadable", key, message: `${key} is record ${d.body.seq} of repository ${d.body.repository}: it was copied or renamed` });
      continue;
    }
    if (d.body.signer !== repo.config.signer.fingerprint || !verifyEd25519(pub, d.signedBytes, d.signature)) {
      problems.push({ code: "removal-signature", key, message: `${key}: signature does not verify with the repository's signer key (altered or forged)` });
      continue;
    }
    records.push({ ...d, key });
  }
  records.sort((a, b) => a.body.seq - b.body.seq);

  // The records' own chain: seq 1, 2, 3 … each naming the previous record's hash.
  let prev: ReadableRemoval | undefined;
  for (const r of records) {
    const expected = (prev?.body.seq ?? 0) + 1;
    if (r.body.seq !== expected) {
      problems.push({ code: "removal-chain-gap", key: r.key, message: `removal record${r.body.seq - expected === 1 ? ` ${expected} is` : `s ${expected} to ${r.body.seq - 1} are`} missing before ${r.key}: a record of removed snapshots was deleted` });
    } else if (r.body.parent !== (prev?.hash ?? null)) {
      problems.push({ code: "removal-chain-parent", key: r.key, message: `${r.key} names parent ${r.body.parent?.slice(0, 16) ?? "none"}…, but record ${expected - 1} hashes to ${prev?.hash.slice(0, 16) ?? "none"}…` });
    }
    prev = r;
  }

  const removed = new Map<number, RemovedSeal & { record: number }>();
  for (const r of records) {
    for (const stub of r.body.removed) {
      const other = removed.get(stub.seq);
      if (other && (other.seal_sha256 !== stub.seal_sha256 || other.snapshot !== stub.snapshot)) {
        problems.push({ code: "removal-chain-fork", key: r.key, message: `${r.key} and removal record ${other.record} disagree about seal ${stub.seq} (${other.snapshot} vs ${stub.snapshot})` });
        continue;
      }
      if (!other) removed.set(stub.seq, { ...stub, record: r.body.seq });
    }
  }
  return { records, removed, problems, head: records.at(-1) };
}

/** Whether a present seal is the one a removal record names (same seq, snapshot and hash). */
export function isRemovedSeal(removals: Removals, seal: ReadableSeal): boolean {
  const stub = removals.removed.get(seal.body.seq);
  return stub !== undefined && stub.snapshot === seal.body.snapshot && stub.seal_sha256 === seal.hash;
}

/**
 * The end of the seal chain, counting removed seals: the next snapshot takes seq + 1 and names
 * hash as its parent, even when the newest seal was removed by policy.
 */
export function chainTip(seals: ReadableSeal[], removals: Removals): { seq: number; hash: string } | undefined {
  let tip: { seq: number; hash: string } | undefined;
  for (const s of seals) if (!tip || s.body.seq > tip.seq) tip = { seq: s.body.seq, hash: s.hash };
  for (const r of removals.removed.values()) if (!tip || r.seq > tip.seq) tip = { seq: r.seq, hash: r.seal_sha256 };
  return tip;
}
