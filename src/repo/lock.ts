/**
 * The repository lock: one writer at a time (snapshot now; forget and prune later), so two runs
 * that overlap (cron firing while the last run is still going) cannot fork the chain. The lock is
 * the object locks/lock.json, created only if absent (the storage's no-overwrite put), holding who
 * took it. The holder refreshes it every minute; a lock is stale when its process is gone (same
 * host) or it has not been refreshed for 15 minutes (another host). Before the seal is written
 * the holder checks the lock is still its own, so a run whose lock was taken over never commits.
 *
 * On append-only storage (storage.appendOnly: an SFTP account that may not delete, rename or
 * replace) the lock could never be released or refreshed there, so it lives in a host-local
 * folder instead, <userCacheDir()>/locks/<repo id>/locks/lock.json (~/.cache/isnad/…), with the same rules. It then
 * excludes runs on this host only; the "host-local" event says so.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { IsnadError, errnoCode } from "../errors.js";
import { LOCKS_PREFIX } from "../format/layout.js";
import { userCacheDir } from "../keys/paths.js";
import { LocalStorage } from "../storage/local.js";
import type { Storage } from "../storage/storage.js";
import type { Repository } from "./repository.js";

export const LOCK_KEY = `${LOCKS_PREFIX}lock.json`;
const REFRESH_MS = 60_000;
/** Longer than any stretch the event loop can be busy reading one large file. */
const STALE_MS = 15 * 60_000;
const POLL_MS = 1000;

export interface LockInfo {
  token: string;
  host: string;
  pid: number;
  user: string;
  command: string;
  started: string;
  refreshed: string;
}

export type LockEvent =
  | { type: "waiting"; holder: LockInfo }
  | { type: "stale-taken-over"; holder: LockInfo; why: string }
  | { type: "host-local"; folder: string };

/** Where the lock object lives: the repository, or a host-local folder for append-only storage. */
function lockStorage(repo: Repository): { store: Storage; hostLocal?: string } {
  if (!repo.storage.appendOnly) return { store: repo.storage };
  // The id becomes a folder name: refuse anything that could climb out of the cache folder.
  if (!/^[A-Za-z0-9_-]+$/.test(repo.config.id)) throw new IsnadError("config", `repository id ${JSON.stringify(repo.config.id)} cannot name a lock folder`);
  const folder = path.join(userCacheDir(), "locks", repo.config.id);
  return { store: new LocalStorage(folder), hostLocal: folder };
}

export class RepositoryLock {
  private timer: NodeJS.Timeout | undefined;
  private lost: string | undefined;

  constructor(
    private readonly store: Storage,
    readonly info: LockInfo,
  ) {
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    try {
      const now = await readLock(this.store);
      if (!now || now.token !== this.info.token) {
        this.lost = now ? `taken over by ${describeHolder(now)}` : "removed by someone else";
        return;
      }
      this.info.refreshed = new Date().toISOString();
      await this.store.replaceBytes(LOCK_KEY, encode(this.info));
    } catch {
      // A failed refresh is retried in a minute; assertHeld decides before anything commits.
    }
  }

  /** Throws if the lock is no longer this run's: nothing may be committed then. */
  async assertHeld(): Promise<void> {
    const now = await readLock(this.store);
    if (this.lost || !now || now.token !== this.info.token) {
      throw new IsnadError("locked", `lost the repository lock (${this.lost ?? (now ? `taken over by ${describeHolder(now)}` : "removed")}); stopping isnad ${this.info.command} before it writes anything more`, {
        hint: "another run may be writing; run isnad verify, then run the command again",
      });
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const now = await readLock(this.store).catch(() => undefined);
    if (now?.token === this.info.token) await this.store.delete(LOCK_KEY);
  }
}

/**
 * Takes the lock, waiting up to waitMs for a live holder to finish. A stale lock (dead process on
 * this host, or not refreshed for 15 minutes) is taken over, with an event saying whose it was.
 */
export async function acquireLock(
  repo: Repository,
  opts: { command: string; waitMs?: number; onEvent?: (e: LockEvent) => void },
): Promise<RepositoryLock> {
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let announced = false;
  const { store, hostLocal } = lockStorage(repo);
  if (hostLocal) opts.onEvent?.({ type: "host-local", folder: hostLocal });
  for (;;) {
    const now = new Date().toISOString();
    const info: LockInfo = {
      token: randomBytes(16).toString("hex"),
      host: os.hostname(),
      pid: process.pid,
      user: os.userInfo().username,
      command: opts.command,
      started: now,
      refreshed: now,
    };
    if ((await store.putBytes(LOCK_KEY, encode(info))) === "created") {
      // Two runs that both removed the same stale lock could both get here; the later put lost.
      const check = await readLock(store);
      if (check?.token === info.token) return new RepositoryLock(store, info);
      continue;
    }
    const holder = await readLock(store);
    if (!holder) continue; // released between our put and our read: try again at once
    const stale = staleness(holder);
    if (stale) {
      opts.onEvent?.({ type: "stale-taken-over", holder, why: stale });
      await store.delete(LOCK_KEY);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new IsnadError("locked", `${repo.storage.location} is locked by ${describeHolder(holder)}`, {
        hint: "wait for that run to finish, or pass --wait DURATION (e.g. --wait 10m)",
      });
    }
    if (!announced) opts.onEvent?.({ type: "waiting", holder });
    announced = true;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
  }
}

export function describeHolder(h: LockInfo): string {
  return `isnad ${h.command} (pid ${h.pid} on ${h.host}, user ${h.user}, since ${h.started})`;
}

/** Why a lock may be taken over, or undefined if its holder looks alive. */
function staleness(h: LockInfo): string | undefined {
  if (h.host === os.hostname() && !processAlive(h.pid)) return `process ${h.pid} on this host is gone`;
  const age = Date.now() - Date.parse(h.refreshed);
  if (!(age < STALE_MS)) return `not refreshed since ${h.refreshed}`;
  return undefined;
}

/** Whether a process of this host exists (EPERM: it does, owned by another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === "EPERM";
  }
}

async function readLock(store: Storage): Promise<LockInfo | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.readBytes(LOCK_KEY, 64 * 1024);
  } catch (e) {
    if ((e as { notFound?: boolean }).notFound) return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(bytes.toString("utf8")) as LockInfo;
    if (typeof v.token === "string" && typeof v.pid === "number" && typeof v.host === "string") return v;
  } catch {
    /* fall through */
  }
  // Unreadable (a crash mid-write cannot cause this: writes are atomic): treat as stale.
  return { token: "", host: "?", pid: 0, user: "?", command: "?", started: "?", refreshed: "1970-01-01T00:00:00Z" };
}

const encode = (info: LockInfo): Buffer => Buffer.from(JSON.stringify(info, null, 2) + "\n", "utf8");

/** "90s", "10m", "2h", "1h30m" -> milliseconds; undefined if it does not parse. */
export function parseDuration(s: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s.trim());
  if (!m || s.trim() === "") return undefined;
  const [, h, min, sec] = m;
  return ((Number(h ?? 0) * 60 + Number(min ?? 0)) * 60 + Number(sec ?? 0)) * 1000;
}
