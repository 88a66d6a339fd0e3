/**
 * forget: decides which snapshots a policy removes (policy.ts), writes ONE signed removal record
 * naming them (format/removal.ts), and only then deletes their seals. A crash between the two
 * leaves seals that a record names: verify reports them as removed by policy, and the next forget
 * finishes deleting them. Manifests and packs are left for prune. Needs the signer key, never the
 * identity.
 */
import os from "node:os";
import { configError, integrityError, IsnadError, usageError } from "../errors.js";
import { removalKey, sealKey } from "../format/layout.js";
import { sha256Hex } from "../format/seal.js";
import { encodeRemoval, removalSignedBytes, REMOVAL_FORMAT, type RemovalBody, type RemovalPolicy } from "../format/removal.js";
import type { Signer } from "../keys/signer.js";
import { isRemovedSeal, readRemovals } from "../repo/removals.js";
import { readSeals, type ReadableSeal, type Repository } from "../repo/repository.js";
import { VERSION } from "../version.js";
import { applyPolicy, isEmptyPolicy, type GroupDecision, type Policy } from "./policy.js";

export type ForgetEvent =
  | { type: "warning"; message: string }
  | { type: "record-written"; key: string; seq: number; hash: string }
  | { type: "seal-deleted"; key: string; snapshot: string };

export interface ForgetOptions {
  repo: Repository;
  /** Needed unless dryRun. */
  signer?: Signer;
  policy: Policy;
  /** Snapshot ids (or unique prefixes) to remove, instead of a policy. */
  ids?: string[];
  /** What goes into the record's `policy` field: the flags as the user gave them. */
  asGiven: RemovalPolicy;
  allowEmpty?: boolean;
  dryRun?: boolean;
  host?: string;
  now?: () => Date;
  /** Called just before the record is written (the CLI checks it still holds the lock). */
  beforeCommit?: () => Promise<void>;
  onEvent?: (e: ForgetEvent) => void;
}

export interface ForgetResult {
  dryRun: boolean;
  groups: GroupDecision[];
  kept: number;
  removed: Array<{ snapshot: string; seq: number; time: string; seal: string }>;
  /** The removal record written (none in a dry run or when nothing is removed). */
  record: { key: string; seq: number; hash: string } | null;
  /** Seals an earlier, interrupted forget had recorded as removed and that this run deleted. */
  finished: string[];
}

export async function forget(opts: ForgetOptions): Promise<ForgetResult> {
  const { repo } = opts;
  const emit = opts.onEvent ?? (() => undefined);
  const ids = opts.ids ?? [];
  if (ids.length > 0 && !isEmptyPolicy(opts.policy)) throw usageError("give snapshot ids or --keep-* options, not both");
  if (ids.length === 0 && isEmptyPolicy(opts.policy)) {
    throw usageError("no retention policy given: forget would remove nothing", "pass e.g. --keep-daily 7 --keep-weekly 5 (see isnad help forget), or snapshot ids");
  }
  if (!opts.dryRun) {
    if (!opts.signer) throw new IsnadError("internal", "internal: forget without a signer");
    if (opts.signer.fingerprint !== repo.config.signer.fingerprint) {
      throw configError(
        `the signing key (fingerprint ${opts.signer.fingerprint.slice(0, 16)}…) does not belong to ${repo.storage.location}, which expects ${repo.config.signer.fingerprint.slice(0, 16)}…`,
        { hint: "point --signing-key (or signing_key in the config) at the key isnad init wrote for this repository" },
      );
    }
  }

  const removals = await readRemovals(repo);
  if (removals.problems.length > 0) {
    throw integrityError(`the removal records of ${repo.storage.location} do not verify (${removals.problems[0]!.message}); refusing to add to them`, {
      hint: "run isnad verify for the whole picture",
    });
  }
  const seals = await readSeals(repo, (key, why) => emit({ type: "warning", message: `ignoring ${key}: ${why}; run isnad verify` }));
  const leftovers = seals.filter((s) => isRemovedSeal(removals, s));
  const live = seals.filter((s) => !isRemovedSeal(removals, s));

  const groups = ids.length > 0 ? byIds(live, ids) : applyPolicy(live.map(policyInput), opts.policy);
  const removeIds = new Set(groups.flatMap((g) => g.remove.map((d) => d.id)));
  const toRemove = live.filter((s) => removeIds.has(s.body.snapshot));
  const kept = live.length - toRemove.length;
  if (live.length > 0 && kept === 0 && !opts.allowEmpty) {
    throw usageError(`this would remove every snapshot (${live.length}) of ${repo.storage.location}; nothing was changed`, "pass --allow-empty if that is really what you want");
  }
  const result: ForgetResult = {
    dryRun: opts.dryRun === true,
    groups,
    kept,
    removed: toRemove.map((s) => ({ snapshot: s.body.snapshot, seq: s.body.seq, time: s.body.time, seal: s.hash })),
    record: null,
    finished: [],
  };
  if (opts.dryRun) return result;

  if (toRemove.length > 0) {
    await opts.beforeCommit?.();
    const head = removals.head;
    const body: RemovalBody = {
      format: REMOVAL_FORMAT,
      repository: repo.config.id,
      seq: (head?.body.seq ?? 0) + 1,
      parent: head?.hash ?? null,
      time: (opts.now ?? (() => new Date()))().toISOString(),
      host: opts.host ?? os.hostname(),
      policy: opts.asGiven,
      removed: [...toRemove]
        .sort((a, b) => a.body.seq - b.body.seq)
        .map((s) => ({ snapshot: s.body.snapshot, seq: s.body.seq, seal_sha256: s.hash, parent: s.body.parent, time: s.body.time })),
      signer: repo.config.signer.fingerprint,
      isnad: VERSION,
    };
    const bytes = encodeRemoval(body, opts.signer!.sign(removalSignedBytes(body)));
    const key = removalKey(body.seq);
    if ((await repo.storage.putBytes(key, bytes)) === "exists") {
      throw new IsnadError("locked", `${key} was written by another run meanwhile; nothing was removed`, { hint: "run isnad verify, then forget again" });
    }
    result.record = { key, seq: body.seq, hash: sha256Hex(bytes) };
    emit({ type: "record-written", ...result.record });
  }
  // The record is durable: only now may the seals go.
  for (const s of [...leftovers, ...toRemove]) {
    await repo.storage.delete(sealKey(s.body.snapshot));
    emit({ type: "seal-deleted", key: sealKey(s.body.snapshot), snapshot: s.body.snapshot });
  }
  result.finished = leftovers.map((s) => s.body.snapshot);
  return result;
}

const policyInput = (s: ReadableSeal) => ({ id: s.body.snapshot, time: s.body.time, host: s.body.host, sources: s.body.sources });

/** `forget ID…`: each id (or unique prefix of ≥ 4 hex digits) is removed; the rest is kept. */
function byIds(live: ReadableSeal[], ids: string[]): GroupDecision[] {
  const named = new Set<string>();
  for (const ref of ids) {
    if (!/^[0-9a-f]{4,16}$/.test(ref)) throw usageError(`"${ref}" is not a snapshot id`, "use ids from `isnad snapshots`");
    const m = live.filter((s) => s.body.snapshot.startsWith(ref));
    if (m.length === 0) throw usageError(`no snapshot ${ref} (or it was already removed)`, "list them with: isnad snapshots");
    if (m.length > 1) throw usageError(`snapshot id ${ref} is ambiguous (${m.length} match)`, "give more digits");
    named.add(m[0]!.body.snapshot);
  }
  const newestFirst = [...live].sort((a, b) => b.body.seq - a.body.seq);
  const d = (s: ReadableSeal, reasons: string[]) => ({ id: s.body.snapshot, time: s.body.time, reasons });
  return [
    {
      host: "*",
      sources: [],
      keep: newestFirst.filter((s) => !named.has(s.body.snapshot)).map((s) => d(s, ["not named"])),
      remove: newestFirst.filter((s) => named.has(s.body.snapshot)).map((s) => d(s, [])),
    },
  ];
}
