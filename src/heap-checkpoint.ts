/**
 * A full garbage collection at a natural pause (a pack ended), when the JS heap has grown by more
 * than GROWTH_BYTES since the last one this module ran. With both cores busy in synchronous
 * loops, V8 sometimes let promoted garbage pile up for seconds whatever --heap-growing-percent
 * said: a first snapshot of 4 GiB reached a 64 MiB heap holding 26 MiB of live objects. With this
 * (called when a pack ends), that snapshot's peak RSS was 155-160 MiB in five runs, against
 * 162-185 without, in the same time: a full collection of a heap that size takes ~5-10 ms.
 *
 * Needs `gc`, which --expose-gc gives (bin/isnad.ts's shebang); without it, does nothing.
 */
import v8 from "node:v8";

const GROWTH_BYTES = 8 << 20;

type FullGc = (options?: { type: "major" }) => void;
const gc = (globalThis as { gc?: FullGc }).gc;
let after = 0;

export function heapCheckpoint(): void {
  if (gc === undefined) return;
  const used = v8.getHeapStatistics().used_heap_size;
  if (used - after < GROWTH_BYTES) return;
  gc({ type: "major" });
  after = v8.getHeapStatistics().used_heap_size;
}
