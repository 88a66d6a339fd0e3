/**
 * The pack writer thread, driven frame by frame through a ring: a finished object is synced off
 * the thread's hot path and its result (id = SHA-256 of the ciphertext, size) is posted once the
 * sync is done; a sync that fails reaches the main thread as the thread's one error, with the
 * staging file's name, and wakes a main thread waiting for the result.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { afterAll, expect, it } from "vitest";
import { createAgeHeader } from "../../src/crypto/age.js";
import { generateIdentity } from "../../src/keys/identity.js";
import { createRing, FRAME, RingProducer } from "../../src/pack/ring.js";
import { threadUrl } from "../../src/pack/threads.js";
import type { OpenObject, WriterThreadMessage } from "../../src/pack/writer-thread.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-writer-thread-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes one object of `body` to `fd` through a fresh writer thread; returns what the thread posted. */
async function writeObject(file: string, fd: number, body: Buffer): Promise<WriterThreadMessage> {
  const { recipient } = await generateIdentity("classic");
  const sab = createRing(1 << 16);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(threadUrl("writer-thread"), { workerData: { ring: sab, port: port1 }, transferList: [port1] });
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  const ring = new RingProducer(sab, () => {
    throw new Error("the writer thread failed");
  });
  const { header, fileKey } = await createAgeHeader([recipient]);
  const open: OpenObject = { file, fd, header: header.toString("base64"), fileKey: fileKey.toString("base64"), compress: false };
  ring.control(FRAME.open, 1, Buffer.from(JSON.stringify(open)));
  ring.append(1, body);
  ring.control(FRAME.finish, 1);
  let failed = false;
  try {
    ring.waitForResults(0);
  } catch {
    failed = true;
  }
  // The message is posted just before the counter moves (or the ring fails): it may still be on its way.
  let m = receiveMessageOnPort(port2);
  for (let i = 0; !m && i < 200; i++) {
    await new Promise((r) => setTimeout(r, 10));
    m = receiveMessageOnPort(port2);
  }
  if (!failed) ring.control(FRAME.stop, 0);
  else await worker.terminate();
  await exited;
  port2.close();
  return m!.message as WriterThreadMessage;
}

it("posts a finished object's id and size once its file is complete", async () => {
  const file = path.join(dir, "object.tmp");
  const fd = fs.openSync(file, "wx", 0o600);
  const body = Buffer.alloc(300_000, "isnad ");
  const msg = await writeObject(file, fd, body);
  fs.closeSync(fd);
  expect("object" in msg && msg.object).toEqual({
    file,
    id: createHash("sha256").update(fs.readFileSync(file)).digest("hex"),
    size: fs.statSync(file).size,
  });
  expect(fs.statSync(file).size).toBeGreaterThan(body.length); // the age header and tags around it
});

it("a staging file that cannot be synced is the thread's error, naming the file", async () => {
  // fsync(2) of /dev/null fails with EINVAL, after every write to it has succeeded.
  const fd = fs.openSync("/dev/null", "w");
  const msg = await writeObject("/dev/null", fd, Buffer.from("some bytes"));
  fs.closeSync(fd);
  expect("error" in msg && msg.error).toMatchObject({ kind: "storage", message: expect.stringMatching(/^cannot sync staging file \/dev\/null: .*EINVAL/) });
});
