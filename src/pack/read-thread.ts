/**
 * The read thread: reads a local repository's objects, checks their ciphertext hash, decrypts and
 * decompresses them (pack/reader.ts decryptChunks), and hands the plaintext to the main thread
 * through the ring (pack/ring.ts); the main thread parses it, hashes files and writes them. Jobs
 * run one at a time in the order posted; each stream ends with a finish frame carrying its outcome.
 */
import { workerData, type MessagePort } from "node:worker_threads";
import type { ObjectRef } from "../format/seal.js";
import { FRAME, RingProducer } from "./ring.js";
import { describeError, type ThreadError } from "./threads.js";

export interface ReadThreadData {
  ring: SharedArrayBuffer;
  port: MessagePort;
  /** Identity strings (AgeIdentities.forWorker): this thread opens the age headers itself. */
  identities: string[];
  source?: string;
}

export interface ReadJob {
  stream: number;
  root: string;
  key: string;
  ref: ObjectRef;
  label: string;
}

/** Body of a stream's finish frame (JSON). */
export type ReadOutcome = { ok: true } | { cancelled: true } | { error: ThreadError };

class Cancelled extends Error {}

const { ring, port, identities, source } = workerData as ReadThreadData;
// The main thread never fails the ring while this thread waits for space: it always drains a stream to its end.
const producer = new RingProducer(ring, () => {
  throw new Error("read thread: the main thread stopped reading");
});

try {
  // Loaded inside the try: a failure to load must reach the main thread too.
  const { AgeIdentities } = await import("../crypto/age.js");
  const { decryptChunks, localChunks } = await import("./reader.js");
  const ids = new AgeIdentities(identities, source);
  const queue: ReadJob[] = [];
  let running = false;

  const runJob = async (job: ReadJob): Promise<void> => {
    let outcome: ReadOutcome;
    try {
      await decryptChunks(localChunks(job.root, job.key), job.ref, ids, job.label, (chunk) => {
        if (producer.cancelled(job.stream)) throw new Cancelled();
        producer.append(job.stream, chunk);
      });
      outcome = { ok: true };
    } catch (e) {
      outcome = e instanceof Cancelled ? { cancelled: true } : { error: describeError(e) };
    }
    producer.control(FRAME.finish, job.stream, Buffer.from(JSON.stringify(outcome satisfies ReadOutcome)));
  };

  port.on("message", (job: ReadJob) => {
    queue.push(job);
    if (running) return;
    running = true;
    void (async () => {
      try {
        for (let j = queue.shift(); j; j = queue.shift()) await runJob(j);
      } catch (e) {
        port.postMessage({ error: describeError(e) });
        producer.fail();
      } finally {
        running = false;
      }
    })();
  });
} catch (e) {
  port.postMessage({ error: describeError(e) });
  producer.fail();
}
