/**
 * The main thread's side of the read thread (pack/read-thread.ts): opens an object's age header
 * (with the identities, which stay on this thread), posts a job with its file key, and takes its
 * plaintext from the ring, synchronously, until the stream's finish frame. Decryption,
 * decompression and the ciphertext hash run on the second core while this thread parses tar,
 * hashes files and writes them. One thread, started on first use and unref'd, so it never keeps
 * the process alive.
 */
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { FileKeySource } from "../crypto/age-stream.js";
import { internalError } from "../errors.js";
import type { ObjectRef } from "../format/seal.js";
import { openLocalHeader } from "./decrypt.js";
import type { ReadJob, ReadOutcome, ReadThreadData } from "./read-thread.js";
import { createRing, FRAME, RingConsumer } from "./ring.js";
import { rebuildError, threadUrl, type ThreadError } from "./threads.js";

/** 4 MiB: four 1 MiB reads of plaintext in flight; reading needs less slack than writing. */
const READ_RING_BYTES = 4 << 20;

export class ThreadedReader {
  private readonly worker: Worker;
  private readonly port: MessageChannel["port2"];
  private readonly consumer: RingConsumer;
  private nextStream = 1;
  /**
   * The object posted ahead (read()'s `next`): the thread goes on to it as soon as it finishes
   * the current one, instead of idling while this thread works through the ring's backlog and
   * opens the next header (in a 1.9 s verify of three docs snapshots it idled 0.20 s; now 0.04).
   */
  private ahead: { root: string; key: string; stream: number } | undefined;
  /** Set when a read ended mid-stream (the thread failed): readerFor() then starts a new one. */
  broken = false;

  constructor() {
    const sab = createRing(READ_RING_BYTES);
    const { port1, port2 } = new MessageChannel();
    this.port = port2;
    this.port.unref();
    this.consumer = new RingConsumer(sab);
    const data: ReadThreadData = { ring: sab, port: port1 };
    this.worker = new Worker(threadUrl("read-thread"), { workerData: data, transferList: [port1] });
    this.worker.unref();
    // Errors reach us through the port and the ring's failed flag; the event must not crash.
    this.worker.on("error", () => undefined);
  }

  /**
   * Reads object `key` of the local repository at `root` as decryptChunks does, handing each
   * plaintext chunk (a view into the ring, valid only during the call) to `onPlaintext`. Once
   * the header is open, blocks until the object is read to its end; throws what onPlaintext or
   * the thread threw. `next`, the object the caller will read after this one, is posted ahead.
   */
  async read(root: string, key: string, ref: ObjectRef, keys: FileKeySource, label: string, onPlaintext: (chunk: Buffer) => void, next?: ReadAhead): Promise<void> {
    let stream: number;
    const ahead = this.ahead;
    if (ahead && ahead.root === root && ahead.key === key) {
      this.ahead = undefined;
      stream = ahead.stream;
    } else {
      this.dropAhead();
      stream = await this.post(root, key, ref, keys, label);
    }
    if (next) await this.postAhead(root, next, keys);
    let outcome: ReadOutcome | undefined;
    let failure: { error: unknown } | undefined;
    this.guarded(() => this.consumeStream(stream, onPlaintext, (o) => (outcome = o), (error) => (failure ??= { error })));
    if (failure) throw failure.error;
    if (!outcome || "cancelled" in outcome) throw internalError(`read thread: ${label} ended without an outcome`);
    if ("error" in outcome) throw rebuildError(outcome.error);
  }

  /** How many jobs were posted to the thread so far. */
  get posted(): number {
    return this.nextStream - 1;
  }

  /** Opens an object's header here and posts the job with its file key; returns the stream. */
  private async post(root: string, key: string, ref: ObjectRef, keys: FileKeySource, label: string): Promise<number> {
    const { header, fileKey } = await openLocalHeader(root, key, keys, label);
    const stream = this.nextStream++;
    this.port.postMessage({ stream, root, key, ref, label, header, fileKey } satisfies ReadJob);
    fileKey.fill(0); // the thread has its copy
    return stream;
  }

  private async postAhead(root: string, next: ReadAhead, keys: FileKeySource): Promise<void> {
    try {
      this.ahead = { root, key: next.key, stream: await this.post(root, next.key, next.ref, keys, next.label) };
    } catch {
      // Not posted: reading `next` itself opens its header again and reports what is wrong.
    }
  }

  /** Drops the object posted ahead, if the caller reads another instead: its frames are skipped. */
  private dropAhead(): void {
    const ahead = this.ahead;
    if (!ahead) return;
    this.ahead = undefined;
    this.consumer.cancel(ahead.stream);
    const ignore = (): void => undefined;
    this.guarded(() => this.consumeStream(ahead.stream, ignore, ignore, ignore));
  }

  /** Runs a consumeStream; if it throws, the ring is mid-stream and this reader is done. */
  private guarded(consume: () => void): void {
    try {
      consume();
    } catch (e) {
      this.broken = true; // later reads need a new thread
      this.terminate();
      throw e;
    }
  }

  /** Takes stream `stream`'s frames up to its finish frame. */
  private consumeStream(stream: number, onPlaintext: (chunk: Buffer) => void, done: (o: ReadOutcome) => void, failed: (error: unknown) => void): void {
    let failing = false;
    this.consumer.run(
      (f) => {
        if (f.stream !== stream) throw internalError(`read thread: frame for stream ${f.stream} while reading ${stream}`);
        if (f.type === FRAME.data) {
          if (failing) return true; // draining what the thread sent before it saw the cancel
          try {
            onPlaintext(f.body);
          } catch (error) {
            failing = true;
            failed(error);
            this.consumer.cancel(stream);
          }
          return true;
        }
        if (f.type !== FRAME.finish) throw internalError(`read thread: unexpected frame type ${f.type}`);
        done(JSON.parse(f.body.toString("utf8")) as ReadOutcome);
        return false;
      },
      () => this.threadFailed(),
    );
  }

  private threadFailed(): never {
    const m = receiveMessageOnPort(this.port)?.message as { error?: ThreadError } | undefined;
    throw m?.error ? rebuildError(m.error) : internalError("read thread stopped without saying why");
  }

  terminate(): void {
    void this.worker.terminate();
  }
}

/** An object to post ahead of time (see ThreadedReader.read). */
export interface ReadAhead {
  key: string;
  ref: ObjectRef;
  label: string;
}

let current: ThreadedReader | undefined;

/** The read thread (a new one if the last read left the current one broken). */
export function readerFor(): ThreadedReader {
  if (!current || current.broken) {
    current?.terminate();
    current = new ThreadedReader();
  }
  return current;
}
