/**
 * Watch mode: when to take the next snapshot. `WatchLoop` decides the timing — a snapshot once
 * changes have settled for the quiet period, but no later than the max delay after the first
 * change not yet saved; one snapshot at a time; a failed one retried after a backoff — with the
 * clock injected, so tests drive it with fake timers. `watchFolders` turns chokidar's events into
 * calls to `change()`. Taking the snapshot itself is the caller's (src/cli/commands/watch.ts), and
 * nothing here prints.
 */
import path from "node:path";
import { watch, type FSWatcher } from "chokidar";

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Looks the globals up at each call, so fake timers installed later still apply. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type WatchLoopEvent =
  | { type: "scheduled"; inMs: number; changes: number; retry: boolean }
  | { type: "snapshot-start"; changes: number; initial: boolean }
  | { type: "snapshot-end"; ok: boolean; retryInMs?: number };

export interface WatchLoopOptions {
  quietMs: number;
  maxDelayMs: number;
  /** Takes one snapshot; resolves true if it was saved. A rejection counts as a failure. */
  runSnapshot: () => Promise<boolean>;
  clock?: Clock;
  onEvent?: (e: WatchLoopEvent) => void;
}

export class WatchLoop {
  private readonly clock: Clock;
  private readonly emit: (e: WatchLoopEvent) => void;
  /** Times of the first and the last change not yet in a snapshot (undefined: nothing pending). */
  private first: number | undefined;
  private last: number | undefined;
  private changes = 0;
  /** After a failure: no retry before this time. */
  private notBefore: number | undefined;
  private failures = 0;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: WatchLoopOptions) {
    this.clock = opts.clock ?? systemClock;
    this.emit = opts.onEvent ?? (() => undefined);
  }

  /** Starts; with `initial`, takes a snapshot at once (changes made while not watching). */
  start(initial: boolean): void {
    if (initial) this.fire(true);
  }

  /** Something changed under a watched folder. */
  change(): void {
    if (this.stopped) return;
    const t = this.clock.now();
    this.first ??= t;
    this.last = t;
    this.changes++;
    this.schedule(false);
  }

  /** Whether a snapshot is being taken now. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Changes seen and not yet in a snapshot. */
  get pending(): number {
    return this.changes;
  }

  /** No more snapshots start; resolves when the one in progress (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private dueAt(): number | undefined {
    if (this.first === undefined || this.last === undefined) return undefined;
    const due = Math.min(this.last + this.opts.quietMs, this.first + this.opts.maxDelayMs);
    return this.notBefore === undefined ? due : Math.max(due, this.notBefore);
  }

  private schedule(retry: boolean): void {
    if (this.stopped || this.running) return; // rescheduled when the snapshot ends
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const due = this.dueAt();
    if (due === undefined) return;
    const inMs = Math.max(0, due - this.clock.now());
    this.timer = this.clock.setTimeout(() => this.fire(false), inMs);
    this.emit({ type: "scheduled", inMs, changes: this.changes, retry });
  }

  private fire(initial: boolean): void {
    this.timer = undefined;
    if (this.stopped || this.running) return;
    const changes = this.changes;
    // Changes from here on are after the snapshot started reading: they need another one.
    this.first = this.last = undefined;
    this.changes = 0;
    this.emit({ type: "snapshot-start", changes, initial });
    this.running = this.take(changes);
  }

  private async take(changes: number): Promise<void> {
    let ok = false;
    try {
      ok = await this.opts.runSnapshot();
    } catch {
      ok = false;
    }
    const now = this.clock.now();
    let retryInMs: number | undefined;
    if (ok) {
      this.failures = 0;
      this.notBefore = undefined;
    } else {
      // What the failed snapshot should have saved is still unsaved: pending again, retried after
      // a backoff that starts at the quiet period and doubles up to the max delay.
      this.failures++;
      retryInMs = Math.min(this.opts.quietMs * 2 ** (this.failures - 1), Math.max(this.opts.maxDelayMs, this.opts.quietMs));
      this.notBefore = now + retryInMs;
      this.first = Math.min(this.first ?? now, now);
      this.last = Math.max(this.last ?? now, now);
      this.changes += Math.max(changes, 1);
    }
    this.running = undefined;
    this.emit({ type: "snapshot-end", ok, ...(retryInMs !== undefined ? { retryInMs } : {}) });
    this.schedule(!ok);
  }
}

export interface FolderWatcher {
  close(): Promise<void>;
}

/**
 * Watches folders (recursively) with chokidar; every add/change/unlink of a file or folder is one
 * onChange call. Paths for which `ignore` answers true (the repository and the cache, when they lie
 * inside a source) are not watched. Errors (e.g. ENOSPC: too many inotify watches) go to onError and
 * watching goes on. Resolves once the initial scan is done.
 */
export async function watchFolders(
  folders: string[],
  opts: { ignore: (absPath: string) => boolean; onChange: (event: string, absPath: string) => void; onError: (err: unknown) => void },
): Promise<FolderWatcher> {
  const w: FSWatcher = watch(folders, {
    ignoreInitial: true,
    ignored: (p: string) => opts.ignore(path.resolve(p)),
    atomic: true,
  });
  w.on("all", (event, p) => opts.onChange(event, path.resolve(p)));
  w.on("error", (e) => opts.onError(e));
  await new Promise<void>((resolve) => w.once("ready", () => resolve()));
  return { close: () => w.close() };
}

/** An `ignore` function for watchFolders: true for each folder given and everything under it. */
export function underAny(folders: string[]): (absPath: string) => boolean {
  const roots = folders.map((f) => path.resolve(f));
  return (p) => roots.some((r) => p === r || p.startsWith(r.endsWith(path.sep) ? r : r + path.sep));
}
