/**
 * PackWriter.addFile against a file that is not what the walk saw: it stores exactly the size
 * its tar header announced, hashes what it stored, and flags the file as changed, whether it
 * learns so from the head read (one byte more than the size), the probe read or fstat.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/keys/identity.js";
import { PackWriter, type FileIdentity } from "../../src/pack/writer.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "isnad-writer-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Adds `content` (written to a file) as if the walk had seen it with `seenSize` bytes. */
async function add(content: Buffer, seenSize: number, head: "none" | "as snapshot reads it") {
  const { recipient } = await generateIdentity("classic");
  const w = await PackWriter.open(dir, [recipient], false);
  const f = path.join(dir, `f-${Math.random()}`);
  fs.writeFileSync(f, content);
  const fd = fs.openSync(f, "r");
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    const seen: FileIdentity = { size: BigInt(seenSize), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino };
    if (head === "none") return w.addFile("f", fd, seen, 0o644);
    const want = seenSize + 1;
    const buf = Buffer.alloc(want);
    const n = fs.readSync(fd, buf, 0, want, null);
    return w.addFile("f", fd, seen, 0o644, buf.subarray(0, n), n === seenSize ? sha(buf.subarray(0, n)) : undefined, n < want);
  } finally {
    fs.closeSync(fd);
    w.abort();
  }
}

describe.each(["none", "as snapshot reads it"] as const)("addFile (head: %s)", (head) => {
  const content = Buffer.from("0123456789".repeat(100));

  it("a file as the walk saw it is stored whole and not flagged", async () => {
    expect(await add(content, content.length, head)).toEqual({ sha256: sha(content), size: content.length, changed: false });
  });

  it("a file that grew is cut at the announced size and flagged", async () => {
    expect(await add(content, 600, head)).toEqual({ sha256: sha(content.subarray(0, 600)), size: 600, changed: true });
  });

  it("a file that shrank is padded with zeros to the announced size and flagged", async () => {
    const want = Buffer.concat([content, Buffer.alloc(24)]);
    expect(await add(content, 1024, head)).toEqual({ sha256: sha(want), size: 1024, changed: true });
  });

  it("a file whose size says 0 but that has content (as in /proc) is flagged", async () => {
    expect(await add(content, 0, head)).toEqual({ sha256: sha(Buffer.alloc(0)), size: 0, changed: true });
  });
});
