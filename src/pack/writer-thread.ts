/**
 * The pack writer thread: takes plaintext frames from the ring (pack/ring.ts) and runs each
 * object's compression, encryption, hashing and writing (pack/object-writer.ts), so that the main
 * thread only walks, reads and hashes files. While this thread is behind, the main thread
 * compresses some of a compressed pack itself and sends whole zstd frames (FRAME.zstd), which go
 * straight to encryption (pack/objects.ts, SharedCompression). Results (an object's id and size) and the one error
 * that stops it go back on a MessagePort; `RingConsumer.fail()` wakes a main thread that is
 * blocked waiting for ring space or a result. It never opens, closes or removes a file.
 */
import { fsync as fsyncCallback } from "node:fs";
import { promisify } from "node:util";
import { workerData, type MessagePort } from "node:worker_threads";
import { FRAME, RingConsumer } from "./ring.js";
import { describeError, type ThreadError } from "./threads.js";
import type { StagedObject } from "./object-writer.js";

export interface WriterThreadData {
  ring: SharedArrayBuffer;
  port: MessagePort;
}

/** Body of an open frame (JSON). The main thread made the age header and created the file. */
export interface OpenObject {
  file: string;
  fd: number;
  header: string; // base64
  fileKey: string; // base64
  compress: boolean;
}

export type WriterThreadMessage =
  | { stream: number; object: StagedObject }
  | { error: ThreadError };

const { ring, port } = workerData as WriterThreadData;
const fsync = promisify(fsyncCallback);
const consumer = new RingConsumer(ring);

try {
  // Loaded inside the try: a failure to load must reach the main thread as an error too.
  const { EncryptedObjectWriter, syncError } = await import("./object-writer.js");
  // The main thread created each staging file and closes it (after a result, or once this thread
  // has ended): this thread only writes and syncs, so it can stop at any point without cleanup.
  const objects = new Map<number, InstanceType<typeof EncryptedObjectWriter>>();
  // A finished object's fsync runs on libuv's pool while this thread goes on with the next one
  // (blocking the ring, it cost a 1 GiB first snapshot 2-4 %); its result is posted
  // once the sync is done, so the main thread never stores an object that is not durable.
  const syncs = new Set<Promise<void>>();
  let stopped = false;
  await consumer.runYielding((f) => {
    if (stopped) return false;
    switch (f.type) {
      case FRAME.data:
        objects.get(f.stream)!.write(f.body);
        return true;
      case FRAME.zstd:
        objects.get(f.stream)!.writeCompressed(f.body);
        return true;
      case FRAME.open: {
        const o = JSON.parse(f.body.toString("utf8")) as OpenObject;
        const key = Buffer.from(o.fileKey, "base64");
        objects.set(f.stream, new EncryptedObjectWriter(o.file, o.fd, Buffer.from(o.header, "base64"), key, { compress: o.compress, ownsFd: false }));
        key.fill(0);
        return true;
      }
      case FRAME.finish: {
        const w = objects.get(f.stream)!;
        objects.delete(f.stream);
        const object = w.complete();
        const stream = f.stream;
        const sync: Promise<void> = fsync(w.fd).then(
          () => {
            port.postMessage({ stream, object } satisfies WriterThreadMessage);
            consumer.resultPosted();
          },
          (e: unknown) => {
            stopped = true;
            port.postMessage({ error: describeError(syncError(w.file, e)) } satisfies WriterThreadMessage);
            consumer.fail();
          },
        );
        syncs.add(sync);
        void sync.finally(() => syncs.delete(sync));
        return true;
      }
      case FRAME.stop:
        return false;
      default:
        throw new Error(`writer thread: unknown frame type ${f.type}`);
    }
  }, () => syncs.size > 0);
  await Promise.all(syncs);
} catch (e) {
  port.postMessage({ error: describeError(e) } satisfies WriterThreadMessage);
  consumer.fail();
}
port.close();
