/**
 * prune: deletes manifests and packs that no remaining snapshot references. "Remaining" is every
 * seal file present that a valid removal record does not name — including seals whose signature
 * does not verify (prune keeps what they name: deciding what an unverifiable seal is worth is
 * verify's job, not prune's). A seal references its manifest and every pack in its `packs` list
 * (with dedup that includes packs first written by older snapshots), so no manifest is opened and
 * no key is needed. Prune never deletes a seal or a removal record.
 *
 * Crash safety: each delete removes one object no kept seal names, so stopping after any of them
 * leaves a repository that verifies; running prune again deletes the rest.
 */
import { integrityError, messageOf } from "../errors.js";
import { MANIFESTS_PREFIX, objectIdOfKey, PACKS_PREFIX } from "../format/layout.js";
import { decodeSeal } from "../format/seal.js";
import { readRemovals } from "../repo/removals.js";
import { listSealFiles, type Repository } from "../repo/repository.js";
import { StorageError } from "../storage/storage.js";

export type PruneEvent =
  | { type: "deleted"; key: string; kind: "manifest" | "pack"; size: number }
  /** Object Lock (S3): the object is still under retention; a later prune deletes it. */
  | { type: "still-locked"; key: string; kind: "manifest" | "pack"; size: number; until: string | undefined };

export interface PruneOptions {
  repo: Repository;
  dryRun?: boolean;
  /** Throws if this run no longer holds the repository lock; called before the first deletion and every 30 s after. */
  assertLocked?: () => Promise<void>;
  onEvent?: (e: PruneEvent) => void;
}

/** A lock lost mid-prune (taken over after 15 minutes without refresh) must stop the deletions soon. */
const LOCK_CHECK_MS = 30_000;

export interface PruneResult {
  dryRun: boolean;
  /** Seals whose objects were kept. */
  snapshotsKept: number;
  objectsKept: number;
  deleted: Array<{ key: string; kind: "manifest" | "pack"; size: number }>;
  /** Unreferenced, but still under the storage's retention (Object Lock): left for a later prune. */
  stillLocked: Array<{ key: string; kind: "manifest" | "pack"; size: number; until: string | undefined }>;
  bytesFreed: number;
}

export async function prune(opts: PruneOptions): Promise<PruneResult> {
  const { repo } = opts;
  const removals = await readRemovals(repo);
  if (removals.problems.length > 0) {
    throw integrityError(`the removal records of ${repo.storage.location} do not verify (${removals.problems[0]!.message}); refusing to prune`, {
      hint: "run isnad verify for the whole picture",
    });
  }
  const referenced = new Set<string>();
  let snapshotsKept = 0;
  for (const f of await listSealFiles(repo)) {
    let seal;
    try {
      seal = decodeSeal(f.bytes);
    } catch (e) {
      // Unreadable: we cannot know what it needs, so we delete nothing.
      throw integrityError(`${f.key} cannot be read (${messageOf(e)}); refusing to prune while a seal's references are unknown`, {
        hint: "run isnad verify for the whole picture",
      });
    }
    const stub = removals.removed.get(seal.body.seq);
    if (stub && stub.snapshot === seal.body.snapshot && stub.seal_sha256 === seal.hash) continue; // removed by policy
    snapshotsKept++;
    referenced.add(seal.body.manifest.id);
    for (const p of seal.body.packs) referenced.add(p.id);
  }

  const result: PruneResult = { dryRun: opts.dryRun === true, snapshotsKept, objectsKept: 0, deleted: [], stillLocked: [], bytesFreed: 0 };
  let lockCheckedAt = -Infinity;
  for (const prefix of [MANIFESTS_PREFIX, PACKS_PREFIX]) {
    const victims: Array<{ key: string; kind: "manifest" | "pack"; size: number }> = [];
    for await (const o of repo.storage.list(prefix)) {
      const obj = objectIdOfKey(o.key);
      if (!obj) continue; // not an object name isnad writes: not ours to delete
      if (referenced.has(obj.id)) result.objectsKept++;
      else victims.push({ key: o.key, kind: obj.kind, size: o.size });
    }
    victims.sort((a, b) => (a.key < b.key ? -1 : 1));
    for (const v of victims) {
      if (!opts.dryRun) {
        if (opts.assertLocked && Date.now() - lockCheckedAt >= LOCK_CHECK_MS) {
          await opts.assertLocked();
          lockCheckedAt = Date.now();
        }
        try {
          await repo.storage.delete(v.key);
        } catch (e) {
          if (!(e instanceof StorageError && e.locked)) throw e;
          const locked = { ...v, until: e.lockedUntil?.toISOString() };
          result.stillLocked.push(locked);
          opts.onEvent?.({ type: "still-locked", ...locked });
          continue;
        }
      }
      result.deleted.push(v);
      result.bytesFreed += v.size;
      opts.onEvent?.({ type: "deleted", ...v });
    }
  }
  return result;
}
