/**
 * The pack writer thread: takes plaintext frames from the ring (pack/ring.ts) and runs each
 * object's compression, encryption, hashing and writing (pack/object-writer.ts), so that the main
 * thread only walks, reads and hashes files. While this thread is behind, the main thread
 * compresses some of a compressed pack itself and sends whole zstd frames (FRAME.zstd), which go
 * straight to encryption (pack/objects.ts, SharedCompression). Results (an object's id and size) and the one error
 * that stops it go back on a MessagePort; `RingConsumer.fail()` wakes a main thread that is
 * blocked waiting for ring space or a result. It never opens, closes or removes a file.
 */
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
const consumer = new RingConsumer(ring);

try {
  // Loaded inside the try: a failure to load must reach the main thread as an error too.
  const { EncryptedObjectWriter } = await import("./object-writer.js");
  // The main thread created each staging file and closes it (after a result, or once this thread
  // has ended): this thread only writes and syncs, so it can stop at any point without cleanup.
  const objects = new Map<number, InstanceType<typeof EncryptedObjectWriter>>();
  consumer.run((f) => {
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
        port.postMessage({ stream: f.stream, object: w.finish() } satisfies WriterThreadMessage);
        consumer.resultPosted();
        return true;
      }
      case FRAME.stop:
        return false;
      default:
        throw new Error(`writer thread: unknown frame type ${f.type}`);
    }
  });
} catch (e) {
  port.postMessage({ error: describeError(e) } satisfies WriterThreadMessage);
  consumer.fail();
}
port.close();
