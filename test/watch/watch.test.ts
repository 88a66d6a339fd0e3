/** WatchLoop timing under fake timers: quiet period, max delay, one snapshot at a time, retry, stop. */
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { underAny, WatchLoop, watchFolders, type WatchLoopEvent } from "../../src/watch/watch.js";

const QUIET = 1000;
const MAX = 5000;

/** A snapshot that takes `ms` of fake time and records when it started. */
function harness(opts?: { ms?: number; results?: boolean[] }) {
  const starts: number[] = [];
  const events: WatchLoopEvent[] = [];
  const results = [...(opts?.results ?? [])];
  const loop = new WatchLoop({
    quietMs: QUIET,
    maxDelayMs: MAX,
    onEvent: (e) => events.push(e),
    runSnapshot: async () => {
      starts.push(Date.now());
      await new Promise((r) => setTimeout(r, opts?.ms ?? 100));
      return results.length ? results.shift()! : true;
    },
  });
  return { loop, starts, events };
}

describe("WatchLoop", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("takes an initial snapshot at start, or none with initial=false", async () => {
    const a = harness();
    a.loop.start(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.starts).toEqual([0]);
    const b = harness();
    b.loop.start(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(b.starts).toEqual([]);
  });

  it("snapshots once changes have been quiet for the quiet period", async () => {
    const { loop, starts } = harness();
    loop.start(false);
    loop.change();
    await vi.advanceTimersByTimeAsync(600);
    loop.change(); // restarts the quiet period
    await vi.advanceTimersByTimeAsync(999);
    expect(starts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(starts).toEqual([1600]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(starts).toEqual([1600]); // nothing more changed
  });

  it("under constant change, snapshots no later than the max delay after the first change", async () => {
    const { loop, starts } = harness();
    loop.start(false);
    for (let t = 0; t < 12_000; t += 200) {
      loop.change();
      await vi.advanceTimersByTimeAsync(200);
    }
    // First change at 0 -> snapshot at 5000 (takes 100 ms); the next unsaved change at 5000 -> 10000.
    expect(starts).toEqual([5000, 10000]);
  });

  it("never runs two snapshots at once; changes during one lead to another after it", async () => {
    const { loop, starts } = harness({ ms: 3000 });
    loop.start(true); // busy from 0 to 3000
    await vi.advanceTimersByTimeAsync(500);
    loop.change(); // at 500: due at 1500, but the snapshot runs until 3000
    await vi.advanceTimersByTimeAsync(2000);
    expect(starts).toEqual([0]);
    expect(loop.busy).toBe(true);
    await vi.advanceTimersByTimeAsync(600);
    expect(starts.length).toBe(2);
    // at once when the first ends (a 0 ms timer fires after 1 ms, as in Node)
    expect(starts[1]).toBeGreaterThanOrEqual(3000);
    expect(starts[1]).toBeLessThanOrEqual(3001);
  });

  it("a failed snapshot is retried after a backoff that doubles, and the loop goes on", async () => {
    const { loop, starts, events } = harness({ results: [false, false, true] });
    loop.start(true); // fails at 0..100 -> retry at 100+1000
    await vi.advanceTimersByTimeAsync(20_000);
    expect(starts).toEqual([0, 1100, 1100 + 100 + 2000]);
    expect(events.filter((e) => e.type === "snapshot-end").map((e) => (e as { ok: boolean }).ok)).toEqual([false, false, true]);
    loop.change();
    await vi.advanceTimersByTimeAsync(QUIET);
    expect(starts.length).toBe(4); // back to the normal quiet period after a success
  });

  it("a snapshot that throws counts as failed, not as a crash", async () => {
    const loop = new WatchLoop({ quietMs: QUIET, maxDelayMs: MAX, runSnapshot: () => Promise.reject(new Error("disk full")) });
    loop.start(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(loop.pending).toBeGreaterThan(0);
    await loop.stop();
  });

  it("stop: no new snapshot starts, and it waits for the one in progress", async () => {
    const { loop, starts } = harness({ ms: 2000 });
    loop.start(true);
    loop.change();
    let stopped = false;
    const p = loop.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(1999);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(stopped).toBe(true);
    loop.change();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(starts).toEqual([0]);
  });
});

describe("watchFolders (real chokidar)", () => {
  it("reports changes below a folder, and none under an ignored one (the repository inside a source)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-watch-"));
    fs.mkdirSync(path.join(dir, "repo"));
    const seen: string[] = [];
    const w = await watchFolders([dir], { ignore: underAny([path.join(dir, "repo")]), onChange: (_e, p) => seen.push(p), onError: () => undefined });
    try {
      fs.writeFileSync(path.join(dir, "repo", "pack.age"), "x");
      fs.writeFileSync(path.join(dir, "doc.txt"), "y");
      while (!seen.includes(path.join(dir, "doc.txt"))) await new Promise((r) => setTimeout(r, 50));
      // doc.txt was written after pack.age: had pack.age been reported, it would be by now
      expect(seen.filter((p) => p.startsWith(path.join(dir, "repo")))).toEqual([]);
    } finally {
      await w.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("underAny: the folder itself and everything under it, not a sibling sharing its prefix", () => {
    const ig = underAny(["/srv/data/repo"]);
    expect(ig("/srv/data/repo")).toBe(true);
    expect(ig("/srv/data/repo/packs/ab/x.age")).toBe(true);
    expect(ig("/srv/data/repository.txt")).toBe(false);
    expect(ig("/srv/data")).toBe(false);
  });
});
