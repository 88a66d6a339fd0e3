/**
 * The ring between the main thread and the pack writer thread, with a real consumer thread and a
 * 64 KiB ring, so that frames wrap around the end many times and the producer has to wait for
 * space: every stream's bytes arrive complete and in order, frames of different streams keep
 * their order, and a consumer that fails wakes a producer that waits.
 */
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { createRing, FRAME, RingProducer } from "../../src/pack/ring.js";

// A Worker cannot load TypeScript: the consumer runs the build's ring.js (`npm test` builds first).
const RING_JS = path.resolve("dist/src/pack/ring.js");

function consumer(sab: SharedArrayBuffer, mode: "hash" | "fail-at-once"): { done: Promise<unknown> } {
  const w = new Worker(
    `const { workerData, parentPort } = require("node:worker_threads");
     const { createHash } = require("node:crypto");
     import(workerData.ringJs).then(({ RingConsumer }) => {
       const c = new RingConsumer(workerData.sab);
       if (workerData.mode === "fail-at-once") { c.fail(); parentPort.postMessage("failed"); return; }
       const hashes = new Map(); const order = [];
       c.run((f) => {
         order.push(f.type + ":" + f.stream);
         if (f.type === 1) { if (!hashes.has(f.stream)) hashes.set(f.stream, createHash("sha256")); hashes.get(f.stream).update(f.body); }
         return f.type !== 5;
       });
       parentPort.postMessage({ order: order.filter((o) => !o.startsWith("1:")), hashes: [...hashes].map(([s, h]) => [s, h.digest("hex")]) });
     });`,
    { eval: true, workerData: { sab, mode, ringJs: RING_JS } },
  );
  return { done: new Promise((resolve, reject) => (w.once("message", resolve), w.once("error", reject))) };
}

describe("RingProducer and RingConsumer", () => {
  it("carry three interleaved streams through a 64 KiB ring, wrapping and waiting, complete and in order", async () => {
    const sab = createRing(64 << 10);
    const c = consumer(sab, "hash");
    const p = new RingProducer(sab, () => {
      throw new Error("consumer failed");
    });
    const want = new Map<number, ReturnType<typeof createHash>>();
    const controls: string[] = [];
    for (const s of [1, 2, 3]) {
      p.control(FRAME.open, s, Buffer.from(`open ${s}`));
      controls.push(`${FRAME.open}:${s}`);
      want.set(s, createHash("sha256"));
    }
    let seed = 1;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let i = 0; i < 3000; i++) {
      const s = 1 + rand(3);
      const bytes = randomBytes(rand(5) === 0 ? 40_000 + rand(60_000) : rand(3000));
      want.get(s)!.update(bytes);
      if (i % 2) {
        p.append(s, bytes);
      } else {
        // read-into style: reserve (perhaps less than asked), fill, commit
        for (let off = 0; off < bytes.length; ) {
          const buf = p.reserve(s, bytes.length - off);
          bytes.copy(buf, 0, off, off + buf.length);
          p.commit(buf.length);
          off += buf.length;
        }
      }
      if (i === 1500) {
        p.control(FRAME.finish, 2);
        controls.push(`${FRAME.finish}:2`);
      }
    }
    p.control(FRAME.stop, 0);
    controls.push(`${FRAME.stop}:0`);
    const got = (await c.done) as { order: string[]; hashes: Array<[number, string]> };
    expect(got.order).toEqual(controls);
    expect(new Map(got.hashes)).toEqual(new Map([...want].map(([s, h]) => [s, h.digest("hex")])));
  });

  it("a producer that needs space from a consumer that has failed throws instead of waiting", async () => {
    const sab = createRing(64 << 10);
    const c = consumer(sab, "fail-at-once");
    await c.done;
    const p = new RingProducer(sab, () => {
      throw new Error("consumer failed");
    });
    expect(() => {
      for (let i = 0; i < 100; i++) p.append(1, Buffer.alloc(10_000));
    }).toThrow("consumer failed");
  });

  it("refuses a ring size that is not a power of two", () => {
    expect(() => createRing(100_000)).toThrow(/power of two/);
  });
});
