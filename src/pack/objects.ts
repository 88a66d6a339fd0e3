/**
 * Where a snapshot's encrypted objects are written: on this thread (InlineObjects), or in the
 * pack writer thread (ThreadedObjects) so that compression, encryption, the ciphertext hash and
 * the writes run on the second core while this thread reads and hashes files (and takes a share
 * of the compression while the writer thread is behind, pack/shared-compression.ts). Either way the
 * age header is made here (typage stays on the main thread) and the staging file is created
 * here, so a bad staging folder fails at once with its name.
 */
import * as fs from "node:fs";
import { receiveMessageOnPort, MessageChannel, Worker } from "node:worker_threads";
import { createAgeHeader } from "../crypto/age.js";
import { internalError, type IsnadError } from "../errors.js";
import { createStagingFile, EncryptedObjectWriter, stagingPath, type StagedObject } from "./object-writer.js";
import { createRing, FRAME, RingProducer } from "./ring.js";
import { SharedCompression, type ShareThresholds } from "./shared-compression.js";
import { rebuildError, threadUrl } from "./threads.js";
import type { OpenObject, WriterThreadData, WriterThreadMessage } from "./writer-thread.js";

/** One object being written: plaintext in, a staged file out. */
export interface ObjectOutput {
  write(data: Uint8Array): void;
  /** Memory for `max` bytes of plaintext, or fewer (read a file into it); commit(n) takes the first n. */
  reserve(max: number): Buffer;
  commit(n: number): void;
  /** Ends the object. Its staging file may still be being completed (in the writer thread). */
  end(): void;
  /**
   * After end(): the staged object once its file is complete and synced. With `wait` false it
   * does not block and is undefined while the object is still being written, so this thread can
   * go on reading files meanwhile.
   */
  result(wait: boolean): StagedObject | undefined;
  /** Drops the object and its staging file. */
  abort(): void;
}

/** Ends `out` and waits for its staged file. */
export function finishObject(out: ObjectOutput): StagedObject {
  out.end();
  return out.result(true)!;
}

/**
 * Text (manifest lines) into an object, gathered in one reused buffer: a tree of small files
 * gives a line per file, and handing each over on its own would cost a copy and a call apiece.
 */
export class TextOutput {
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private used = 0;

  constructor(readonly out: ObjectOutput) {}

  write(text: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8, so this much room is always enough.
    if (this.used + text.length * 3 > this.buf.length) {
      this.flush();
      if (text.length * 3 > this.buf.length) {
        this.out.write(Buffer.from(text, "utf8"));
        return;
      }
    }
    this.used += this.buf.write(text, this.used, "utf8");
  }

  /** Hands what is gathered to the object; call before end(). */
  flush(): void {
    if (this.used === 0) return;
    this.out.write(this.buf.subarray(0, this.used));
    this.used = 0;
  }
}

export interface ObjectFactory {
  create(prefix: string, opts: { compress: boolean }): Promise<ObjectOutput>;
  /** Stops what is still running and drops unfinished objects. Safe to call twice. */
  close(): Promise<void>;
}

export class InlineObjects implements ObjectFactory {
  constructor(
    private readonly stagingDir: string,
    private readonly recipients: readonly string[],
  ) {}

  async create(prefix: string, opts: { compress: boolean }): Promise<ObjectOutput> {
    const { header, fileKey } = await createAgeHeader(this.recipients);
    const file = stagingPath(this.stagingDir, prefix);
    return new EncryptedObjectWriter(file, createStagingFile(file), header, fileKey, { ...opts, ownsFd: true });
  }

  async close(): Promise<void> {}
}

export class ThreadedObjects implements ObjectFactory {
  private readonly worker: Worker;
  private readonly port: MessageChannel["port2"];
  private readonly ring: RingProducer;
  private nextStream = 1;
  private resultsSeen = 0;
  private readonly results = new Map<number, StagedObject>();
  /** Objects opened and not finished: their staging files, which this thread created and closes. */
  private readonly live = new Map<number, { file: string; fd: number }>();
  private readonly aborted = new Set<number>();
  private error: IsnadError | undefined;
  private closed = false;
  private readonly exited: Promise<void>;

  private readonly share: ShareThresholds | undefined;

  /**
   * `ringBytes`: the ring's size (tests make it tiny to exercise wrapping and waiting); `share`:
   * when this thread takes a share of compression (tests force it on, or make it switch often).
   */
  constructor(
    private readonly stagingDir: string,
    private readonly recipients: readonly string[],
    opts: { ringBytes?: number; share?: ShareThresholds } = {},
  ) {
    this.share = opts.share;
    const sab = createRing(opts.ringBytes);
    const { port1, port2 } = new MessageChannel();
    this.port = port2;
    this.ring = new RingProducer(sab, () => this.rethrow());
    this.worker = new Worker(threadUrl("writer-thread"), { workerData: { ring: sab, port: port1 } satisfies WriterThreadData, transferList: [port1], trackUnmanagedFds: false });
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
    // Errors reach us through the port; an error event (e.g. the file cannot load) still must not crash.
    this.worker.on("error", () => undefined);
  }

  async create(prefix: string, opts: { compress: boolean }): Promise<ObjectOutput> {
    const { header, fileKey } = await createAgeHeader(this.recipients);
    const file = stagingPath(this.stagingDir, prefix);
    const fd = createStagingFile(file);
    const stream = this.nextStream++;
    const open: OpenObject = { file, fd, header: header.toString("base64"), fileKey: fileKey.toString("base64"), compress: opts.compress };
    fileKey.fill(0);
    this.live.set(stream, { file, fd });
    this.ring.control(FRAME.open, stream, Buffer.from(JSON.stringify(open)));
    const ring = this.ring;
    const shared = opts.compress ? new SharedCompression(ring, stream, this.share) : undefined;
    if (shared) {
      return {
        write: (data) => shared.write(data),
        reserve: (max) => shared.reserve(max),
        commit: (n) => shared.commit(n),
        end: () => {
          shared.end();
          ring.control(FRAME.finish, stream);
        },
        result: (wait) => this.result(stream, wait),
        abort: () => {
          shared.release();
          this.abort(stream);
        },
      };
    }
    return {
      write: (data) => ring.append(stream, data),
      reserve: (max) => ring.reserve(stream, max),
      commit: (n) => ring.commit(n),
      end: () => ring.control(FRAME.finish, stream),
      result: (wait) => this.result(stream, wait),
      abort: () => this.abort(stream),
    };
  }

  private result(stream: number, wait: boolean): StagedObject | undefined {
    for (;;) {
      // Checking the shared counter first keeps the no-result case to one atomic load.
      if (this.ring.resultsPosted() !== this.resultsSeen || this.error) this.receive();
      const r = this.results.get(stream);
      if (r) {
        this.results.delete(stream);
        fs.closeSync(this.live.get(stream)!.fd);
        this.live.delete(stream);
        return r;
      }
      if (!wait) return undefined;
      this.ring.waitForResults(this.resultsSeen);
    }
  }

  /** The thread may still be writing this object: its file is closed and removed by close(), after the thread has ended. */
  private abort(stream: number): void {
    this.aborted.add(stream);
  }

  private receive(): void {
    // Read the counter before draining: a result posted meanwhile is seen on the next check.
    this.resultsSeen = this.ring.resultsPosted();
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const msg = m.message as WriterThreadMessage;
      if ("error" in msg) {
        this.error ??= rebuildError(msg.error, "pack writer thread: ");
      } else {
        this.results.set(msg.stream, msg.object);
      }
    }
    if (this.error) throw this.error;
  }

  /** Called when the thread has failed: throws its error. */
  private rethrow(): never {
    this.receive();
    throw this.error ?? internalError("pack writer thread stopped without saying why");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.ring.control(FRAME.stop, 0);
    } catch {
      await this.worker.terminate(); // it failed (and is ending), or the ring is stuck
    }
    this.worker.ref(); // an unref'd worker would let the process end while we wait for it
    await this.exited;
    this.port.close();
    // Only now, with the thread gone, can no write land in a closed (and perhaps reused) fd.
    for (const { file, fd } of this.live.values()) {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    }
    this.live.clear();
  }
}
