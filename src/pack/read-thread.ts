/**
 * The read thread: reads a local repository's objects, checks their ciphertext hash, decrypts and
 * decompresses them (pack/decrypt.ts decryptChunks), and hands the plaintext to the main thread
 * through the ring (pack/ring.ts); the main thread parses it, hashes files and writes them. Jobs
 * run one at a time in the order posted; each stream ends with a finish frame carrying its outcome.
 * The main thread opens each object's age header itself and sends its file key with the job, so
 * this thread holds no identity and loads neither typage nor zod (a verify of the docs corpus
 * peaked ~9 MiB lower).
 */
import { workerData, type MessagePort } from "node:worker_threads";
import type { ObjectRef } from "../format/seal.js";
import { FRAME, RingProducer } from "./ring.js";
import { describeError, type ThreadError } from "./threads.js";

export interface ReadThreadData {
  ring: SharedArrayBuffer;
  port: MessagePort;
}

export interface ReadJob {
  stream: number;
  root: string;
  key: string;
  ref: ObjectRef;
  label: string;
  /** The object's age header as the main thread read it, and the file key it opened (pack/decrypt.ts openLocalHeader). */
  header: Uint8Array;
  fileKey: Uint8Array;
}

/** Body of a stream's finish frame (JSON). */
export type ReadOutcome = { ok: true } | { cancelled: true } | { error: ThreadError };

class Cancelled extends Error {}

const { ring, port } = workerData as ReadThreadData;
// The main thread never fails the ring while this thread waits for space: it always drains a stream to its end.
const producer = new RingProducer(ring, () => {
  throw new Error("read thread: the main thread stopped reading");
});

try {
  // Loaded inside the try: a failure to load must reach the main thread too.
  const { decryptChunks, localChunks, openedKey } = await import("./decrypt.js");
  const queue: ReadJob[] = [];
  let running = false;

  const runJob = async (job: ReadJob): Promise<void> => {
    let outcome: ReadOutcome;
    try {
      await decryptChunks(localChunks(job.root, job.key), job.ref, openedKey(job.header, job.fileKey), job.label, (chunk) => {
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
