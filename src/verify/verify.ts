/**
 * verify: proves snapshots complete and unaltered.
 * Without a key: every seal decodes, is canonical, is signed by the repository's signer, and the
 * chain of parents is unbroken; every object a checked seal names exists with its size and
 * SHA-256. With identities: also every manifest and pack is decrypted as a stream (nothing is
 * written) and every file's size and SHA-256 is checked against its manifest entry.
 */
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import type { AgeIdentities } from "../crypto/age.js";
import { IsnadError, messageOf } from "../errors.js";
import { manifestKey, packKey } from "../format/layout.js";
import { memberOf } from "../format/manifest.js";
import { decodeSeal, type ObjectRef } from "../format/seal.js";
import { PACK_CHECKSUMS_MEMBER, parseSha256sum } from "../format/sha256sum.js";
import { verifyEd25519 } from "../keys/signer.js";
import type { NextObject } from "../pack/reader.js";
import { isRemovedSeal, readRemovals, type Removals } from "../repo/removals.js";
import { listSealFiles, signerPublicKey, type ReadableSeal, type Repository } from "../repo/repository.js";
import { throttle } from "../throttle.js";
import { ExpectedMembers } from "./expected-members.js";
import type { Finding } from "./findings.js";

/** The pack reader brings typage (through crypto/age.ts), which only a verify with the key uses. */
const packReader = () => import("../pack/reader.js");

export type VerifyEvent =
  | { type: "object"; key: string; bytes: number }
  | { type: "finding"; finding: Finding }
  /** At most every PROGRESS_INTERVAL_MS (src/throttle.ts), and once when all objects are done. */
  | { type: "progress"; objects: number; bytes: number; totalObjects: number; totalBytes: number };

export interface VerifyOptions {
  repo: Repository;
  /** Snapshot ids (full) to check objects of; undefined = all. The chain is always checked whole. */
  snapshots?: string[];
  identities?: AgeIdentities;
  /** A signer fingerprint the user recorded: must equal the repository's. */
  expectedSigner?: string;
  /** A chain head (seal hash) from an earlier log: must be present. */
  expectedHead?: string;
  onEvent?: (e: VerifyEvent) => void;
}

export interface VerifyReport {
  repository: string;
  signer: string;
  chainHead: string | null;
  seals: number;
  /** Snapshots a valid removal record names: removed by policy (forget), not by an attacker. */
  removedByPolicy: number;
  snapshotsChecked: string[];
  objectsChecked: number;
  bytesChecked: number;
  filesChecked: number;
  withKey: boolean;
  findings: Finding[];
}

export async function verifyRepository(opts: VerifyOptions): Promise<VerifyReport> {
  const { repo } = opts;
  const emit = opts.onEvent ?? (() => undefined);
  const findings: Finding[] = [];
  const add = (f: Finding) => {
    findings.push(f);
    emit({ type: "finding", finding: f });
  };
  const report: VerifyReport = {
    repository: repo.config.id,
    signer: repo.config.signer.fingerprint,
    chainHead: null,
    seals: 0,
    removedByPolicy: 0,
    snapshotsChecked: [],
    objectsChecked: 0,
    bytesChecked: 0,
    filesChecked: 0,
    withKey: opts.identities !== undefined,
    findings,
  };

  if (opts.expectedSigner && opts.expectedSigner.toLowerCase() !== repo.config.signer.fingerprint) {
    add({
      severity: "error",
      code: "seal-signer",
      message: `the repository's signer is ${repo.config.signer.fingerprint}, not the expected ${opts.expectedSigner}: isnad.json was replaced or this is another repository`,
    });
    return report; // every signature check below would trust the wrong key
  }

  const allSeals = await checkSeals(repo, add);
  const removals = await readRemovals(repo);
  for (const p of removals.problems) add({ severity: "error", code: p.code, object: p.key, message: p.message });
  const chain = chainWithRemovals(allSeals, removals, add);
  checkChain(chain, add);
  // Seals removed by policy but still present (forget was interrupted) are not checked further:
  // prune may already have deleted what they name.
  const seals = allSeals.filter((s) => !isRemovedSeal(removals, s));
  report.seals = seals.length;
  report.removedByPolicy = chain.filter((l) => l.removed).length;
  report.chainHead = chain.at(-1)?.hash ?? null;
  if (opts.expectedHead && !chain.some((s) => s.hash === opts.expectedHead?.toLowerCase())) {
    add({
      severity: "error",
      code: "chain-head-missing",
      message: `no seal has the chain head ${opts.expectedHead}: a snapshot recorded earlier is gone or was rewritten`,
    });
  }

  const wanted = opts.snapshots ? new Set(opts.snapshots) : undefined;
  const checked = seals.filter((s) => !wanted || wanted.has(s.body.snapshot));
  report.snapshotsChecked = checked.map((s) => s.body.snapshot);

  // Storage-level check: each object once, whichever snapshots name it. With dedup later
  // snapshots name packs earlier ones wrote; findings name the first (oldest) snapshot naming it.
  const objects = new Map<string, { key: string; ref: ObjectRef; snapshot: string; kind: "manifest" | "pack" }>();
  const addObject = (key: string, ref: ObjectRef, snapshot: string, kind: "manifest" | "pack") => {
    if (!objects.has(key)) objects.set(key, { key, ref, snapshot, kind });
  };
  for (const s of checked) {
    addObject(manifestKey(s.body.manifest.id), s.body.manifest, s.body.snapshot, "manifest");
    for (const p of s.body.packs) addObject(packKey(p.id), p, s.body.snapshot, "pack");
  }
  let totalBytes = 0;
  for (const o of objects.values()) totalBytes += o.ref.size;
  const progressDue = throttle();
  const progress = (last = false) => {
    if (last || progressDue()) emit({ type: "progress", objects: report.objectsChecked, bytes: report.bytesChecked, totalObjects: objects.size, totalBytes });
  };
  progress();
  const intact = new Set<string>();
  if (!opts.identities) {
    for (const o of objects.values()) {
      if (await checkStoredObject(repo, o, add)) intact.add(o.key);
      report.objectsChecked++;
      report.bytesChecked += o.ref.size;
      emit({ type: "object", key: o.key, bytes: o.ref.size });
      progress();
    }
    progress(true);
    return report;
  }

  // With the key: manifests first (they say what each pack must hold), then each pack once.
  const { readManifest } = await packReader();
  const expected = new ExpectedMembers();
  // Missing and wrong-sized objects are named as such before anything is decrypted.
  const present = new Set<string>();
  for (const o of objects.values()) if (await checkPresence(repo, o, add)) present.add(o.key);
  for (const s of checked) {
    const o = objects.get(manifestKey(s.body.manifest.id))!;
    const listed = new Set(s.body.packs.map((p) => p.id));
    if (!present.has(o.key)) continue;
    try {
      await readManifest(repo.storage, o.key, s.body.manifest, opts.identities, (e, header) => {
        if (header.snapshot !== s.body.snapshot) {
          throw new IsnadError("integrity", `manifest belongs to snapshot ${header.snapshot}, not ${s.body.snapshot}`);
        }
        if (e.type !== "file") return;
        if (!listed.has(e.pack)) {
          add({ severity: "error", code: "manifest-mismatch", snapshot: s.body.snapshot, path: e.path, object: e.pack, message: `${e.path} is stored in pack ${e.pack.slice(0, 16)}…, which the seal does not list` });
          return;
        }
        const member = memberOf(e);
        const prev = expected.get(e.pack, member);
        if (prev && (prev.sha256 !== e.sha256 || prev.size !== e.size)) {
          add({ severity: "error", code: "manifest-mismatch", snapshot: s.body.snapshot, path: e.path, message: `${e.path}: snapshots ${prev.snapshot} and ${s.body.snapshot} disagree about pack member ${member}` });
        }
        // Many snapshots may name one member (unchanged or renamed files): it is hashed once, when
        // its pack is read, against what the first of them recorded; the others must agree with it.
        if (!prev) expected.set(e.pack, member, { sha256: e.sha256, size: e.size, path: e.path, snapshot: s.body.snapshot });
      });
    } catch (err) {
      addObjectError(add, err, { snapshot: s.body.snapshot, object: o.key, code: "manifest-invalid" });
    }
    report.objectsChecked++;
    report.bytesChecked += o.ref.size;
    emit({ type: "object", key: o.key, bytes: o.ref.size });
    progress();
  }
  const packs = [...objects.values()].filter((o) => o.kind === "pack" && present.has(o.key));
  for (const [i, o] of packs.entries()) {
    report.filesChecked += await checkPackContent(repo, o, opts.identities, expected, add, packs[i + 1]);
    report.objectsChecked++;
    report.bytesChecked += o.ref.size;
    emit({ type: "object", key: o.key, bytes: o.ref.size });
    progress();
  }
  progress(true);
  return report;
}

/** Reads every seal file; returns those that decode and verify, sorted by seq. */
async function checkSeals(repo: Repository, add: (f: Finding) => void): Promise<ReadableSeal[]> {
  const key = signerPublicKey(repo);
  const good: ReadableSeal[] = [];
  for (const f of await listSealFiles(repo)) {
    if (!f.snapshotId) {
      add({ severity: "warning", code: "seal-unreadable", object: f.key, message: `${f.key} is not a seal file name; ignored` });
      continue;
    }
    let d;
    try {
      d = decodeSeal(f.bytes);
    } catch (e) {
      add({ severity: "error", code: "seal-unreadable", snapshot: f.snapshotId, object: f.key, message: `${f.key}: ${messageOf(e)}` });
      continue;
    }
    if (d.body.snapshot !== f.snapshotId || d.body.repository !== repo.config.id) {
      add({ severity: "error", code: "seal-unreadable", snapshot: f.snapshotId, object: f.key, message: `${f.key} names snapshot ${d.body.snapshot} of repository ${d.body.repository}: it was copied or renamed` });
      continue;
    }
    if (d.body.signer !== repo.config.signer.fingerprint || !verifyEd25519(key, d.signedBytes, d.signature)) {
      add({ severity: "error", code: "seal-signature", snapshot: f.snapshotId, object: f.key, message: `${f.key}: signature does not verify with the repository's signer key` });
      continue;
    }
    good.push({ ...d, key: f.key });
  }
  return good.sort((a, b) => a.body.seq - b.body.seq);
}

/** One place in the seal chain: a seal present, or the stub a removal record keeps of a removed one. */
interface ChainLink {
  seq: number;
  snapshot: string;
  parent: string | null;
  hash: string;
  /** The removal record that names it, if it was removed by policy. */
  removed?: number;
}

/**
 * The whole chain: every valid seal present, plus the stub of every seal a valid removal record
 * names and that is gone. Each removal is reported as info; a present seal that a record names
 * with another hash is an error (the seal or the record was swapped).
 */
function chainWithRemovals(seals: ReadableSeal[], removals: Removals, add: (f: Finding) => void): ChainLink[] {
  const links: ChainLink[] = [];
  const presentSeqs = new Set<number>();
  for (const s of seals) {
    presentSeqs.add(s.body.seq);
    const stub = removals.removed.get(s.body.seq);
    const link: ChainLink = { seq: s.body.seq, snapshot: s.body.snapshot, parent: s.body.parent, hash: s.hash };
    if (stub && (stub.snapshot !== s.body.snapshot || stub.seal_sha256 !== s.hash || stub.parent !== s.body.parent)) {
      add({ severity: "error", code: "removal-mismatch", snapshot: s.body.snapshot, object: s.key, message: `removal record ${stub.record} names seal ${stub.seq} as snapshot ${stub.snapshot} with hash ${stub.seal_sha256.slice(0, 16)}…, but ${s.key} (snapshot ${s.body.snapshot}) hashes to ${s.hash.slice(0, 16)}…` });
    } else if (stub) {
      link.removed = stub.record;
      add({ severity: "info", code: "snapshot-removed-by-policy", snapshot: s.body.snapshot, object: s.key, message: `snapshot ${s.body.snapshot} (seq ${s.body.seq}, ${s.body.time}) was removed by policy (removal record ${stub.record}); its seal is still present` });
    }
    links.push(link);
  }
  for (const stub of removals.removed.values()) {
    if (presentSeqs.has(stub.seq)) continue;
    links.push({ seq: stub.seq, snapshot: stub.snapshot, parent: stub.parent, hash: stub.seal_sha256, removed: stub.record });
    add({ severity: "info", code: "snapshot-removed-by-policy", snapshot: stub.snapshot, message: `snapshot ${stub.snapshot} (seq ${stub.seq}, ${stub.time}) was removed by policy (removal record ${stub.record})` });
  }
  return links.sort((a, b) => a.seq - b.seq);
}

/** The chain: seq 1, 2, 3… each naming the previous seal's hash as parent. */
function checkChain(links: ChainLink[], add: (f: Finding) => void): void {
  let prev: ChainLink | undefined;
  const name = (l: ChainLink) => `snapshot ${l.snapshot}${l.removed ? " (removed by policy)" : ""}`;
  for (const s of links) {
    const snap = s.snapshot;
    if (prev && s.seq === prev.seq) {
      add({ severity: "error", code: "chain-fork", snapshot: snap, message: `snapshots ${prev.snapshot} and ${snap} both claim place ${s.seq} in the chain` });
      continue;
    }
    const expectedSeq = (prev?.seq ?? 0) + 1;
    if (s.seq !== expectedSeq) {
      const missing = s.seq - expectedSeq === 1 ? `${expectedSeq}` : `${expectedSeq} to ${s.seq - 1}`;
      add({ severity: "error", code: "chain-gap", snapshot: snap, message: `seal${s.seq - expectedSeq === 1 ? "" : "s"} ${missing} of the chain ${s.seq - expectedSeq === 1 ? "is" : "are"} missing before ${name(s)} (seq ${s.seq}), and no valid removal record names ${s.seq - expectedSeq === 1 ? "it" : "them"}` });
    } else if (s.parent !== (prev?.hash ?? null)) {
      add({ severity: "error", code: "chain-parent", snapshot: snap, message: `${name(s)} (seq ${s.seq}) names parent ${s.parent?.slice(0, 16) ?? "none"}…, but seal ${expectedSeq - 1} hashes to ${prev?.hash.slice(0, 16) ?? "none"}…` });
    }
    prev = s;
  }
}

/** The object exists with the size its seal recorded. */
async function checkPresence(
  repo: Repository,
  o: { key: string; ref: ObjectRef; snapshot: string },
  add: (f: Finding) => void,
): Promise<boolean> {
  const where = { snapshot: o.snapshot, object: o.key };
  const st = await repo.storage.stat(o.key);
  if (!st) {
    add({ severity: "error", code: "object-missing", ...where, message: `${o.key} is missing (named by snapshot ${o.snapshot})` });
    return false;
  }
  if (st.size !== o.ref.size) {
    add({ severity: "error", code: "object-size", ...where, message: `${o.key} is ${st.size} bytes; snapshot ${o.snapshot} recorded ${o.ref.size}` });
    return false;
  }
  return true;
}

/** Present, right size, and its bytes hash to its id. */
async function checkStoredObject(
  repo: Repository,
  o: { key: string; ref: ObjectRef; snapshot: string },
  add: (f: Finding) => void,
): Promise<boolean> {
  const where = { snapshot: o.snapshot, object: o.key };
  if (!(await checkPresence(repo, o, add))) return false;
  const hash = createHash("sha256");
  try {
    await pipeline(
      await repo.storage.get(o.key),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb();
        },
      }),
    );
  } catch (e) {
    add({ severity: "error", code: "object-unreadable", ...where, message: `${o.key}: ${messageOf(e)}` });
    return false;
  }
  const got = hash.digest("hex");
  if (got !== o.ref.id) {
    add({ severity: "error", code: "object-hash", ...where, message: `${o.key} has SHA-256 ${got.slice(0, 16)}…: its content was altered` });
    return false;
  }
  return true;
}

function addObjectError(
  add: (f: Finding) => void,
  err: unknown,
  where: { snapshot: string; object: string; code: Finding["code"] },
): void {
  if (err instanceof IsnadError && err.kind === "config") throw err; // wrong key: not a finding about the data
  const notFound = (err as { notFound?: boolean }).notFound === true;
  add({
    severity: "error",
    code: notFound ? "object-missing" : where.code,
    snapshot: where.snapshot,
    object: where.object,
    message: notFound ? `${where.object} is missing (named by snapshot ${where.snapshot})` : `${where.object}: ${messageOf(err)}`,
  });
}

/**
 * Decrypts one pack and checks each member against what the manifests expect. Returns files
 * checked. `next`: the pack checked after this one, read ahead.
 */
async function checkPackContent(
  repo: Repository,
  o: { key: string; ref: ObjectRef; snapshot: string },
  identities: AgeIdentities,
  expected: ExpectedMembers,
  add: (f: Finding) => void,
  next: NextObject | undefined,
): Promise<number> {
  const expectedIn = expected.inPack(o.ref.id);
  const seen = new Map<string, string>();
  let checklist: Array<{ sha256: string; name: string }> | undefined;
  let files = 0;
  const where = { snapshot: o.snapshot, object: o.key };
  const { readPackMembers } = await packReader();
  try {
    await readPackMembers(repo.storage, o.key, o.ref, identities, (m) => {
      const name = m.name;
      if (seen.has(name) || (name === PACK_CHECKSUMS_MEMBER && checklist)) {
        add({ severity: "error", code: "member-duplicate", ...where, path: name, message: `${o.key}: member ${JSON.stringify(name)} appears twice` });
        return undefined;
      }
      if (m.type !== "file") {
        add({ severity: "error", code: "member-type", ...where, path: name, message: `${o.key}: member ${JSON.stringify(name)} is a ${m.type}; packs hold only regular files` });
        return undefined;
      }
      if (name === PACK_CHECKSUMS_MEMBER) {
        if (m.size > 64 << 20) throw new IsnadError("integrity", `${PACK_CHECKSUMS_MEMBER} is implausibly large`);
        const chunks: Buffer[] = [];
        return {
          data: (c) => chunks.push(Buffer.from(c)), // a copy: sinks must not keep views of the reader's chunks
          end: () => {
            checklist = parseSha256sum(Buffer.concat(chunks).toString("utf8"));
          },
        };
      }
      const h = createHash("sha256");
      let size = 0;
      return {
        data: (c) => {
          h.update(c);
          size += c.length;
        },
        end: () => {
          const sha = h.digest("hex");
          seen.set(name, sha);
          files++;
          const want = expectedIn(name);
          if (!want) return; // stored for a snapshot not being checked; the checksum list still covers it
          if (size !== want.size) {
            add({ severity: "error", code: "member-size", ...where, snapshot: want.snapshot, path: want.path, message: `${want.path}: ${size} bytes in ${o.key}, the manifest says ${want.size}` });
          } else if (sha !== want.sha256) {
            add({ severity: "error", code: "member-hash", ...where, snapshot: want.snapshot, path: want.path, message: `${want.path}: content in ${o.key} does not match its SHA-256 in the manifest` });
          }
        },
      };
    }, next);
  } catch (err) {
    addObjectError(add, err, { ...where, code: "pack-invalid" });
    return files;
  }
  for (const member of expected.membersOf(o.ref.id)) {
    const want = seen.has(member) ? undefined : expectedIn(member);
    if (want) {
      add({ severity: "error", code: "member-missing", ...where, snapshot: want.snapshot, path: want.path, message: `${want.path}: not in ${o.key}, where the manifest says it is` });
    }
  }
  if (!checklist) {
    add({ severity: "error", code: "pack-checksums", ...where, message: `${o.key}: has no ${PACK_CHECKSUMS_MEMBER}` });
  } else {
    const listed = new Map(checklist.map((c) => [c.name, c.sha256]));
    for (const [name, sha] of seen) {
      const l = listed.get(name);
      if (l === undefined) add({ severity: "error", code: "member-unexpected", ...where, path: name, message: `${o.key}: member ${JSON.stringify(name)} is not in the pack's checksum list` });
      else if (l !== sha) add({ severity: "error", code: "pack-checksums", ...where, path: name, message: `${o.key}: member ${JSON.stringify(name)} does not match the pack's checksum list` });
    }
    if (listed.size !== seen.size) {
      for (const name of listed.keys())
        if (!seen.has(name)) add({ severity: "error", code: "pack-checksums", ...where, path: name, message: `${o.key}: checksum list names ${JSON.stringify(name)}, which the pack lacks` });
    }
  }
  return files;
}

