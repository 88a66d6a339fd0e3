/**
 * Writes one encrypted object (a pack or a manifest) to a staging file: plaintext in, age out,
 * SHA-256 of the ciphertext computed on the way (it becomes the object's id). Synchronous on
 * purpose: it sits on the hot path and Node's stream plumbing costs more than the work itself.
 */
import { createHash, type Hash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { AgeEncryptor, createAgeHeader } from "../crypto/age.js";

export interface StagedObject {
  /** Local file holding the ciphertext, to hand to Storage.putFile. */
  file: string;
  /** SHA-256 of the ciphertext: the object id. */
  id: string;
  size: number;
  plaintextSize: number;
}

export class EncryptedObjectWriter {
  private readonly hash: Hash = createHash("sha256");
  private readonly enc: AgeEncryptor;
  private size = 0;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly fd: number,
    header: Buffer,
    fileKey: Buffer,
  ) {
    this.enc = new AgeEncryptor(header, fileKey, (chunk) => {
      this.hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off);
      this.size += chunk.length;
    });
  }

  static async create(stagingDir: string, prefix: string, recipients: readonly string[]): Promise<EncryptedObjectWriter> {
    const { header, fileKey } = await createAgeHeader(recipients);
    const file = path.join(stagingDir, `${prefix}-${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
    const fd = fs.openSync(file, "wx", 0o600);
    return new EncryptedObjectWriter(file, fd, header, fileKey);
  }

  write(data: Uint8Array): void {
    this.enc.write(data);
  }

  get plaintextBytes(): number {
    return this.enc.plaintextBytes;
  }

  /** Seals the age stream, fsyncs and closes the staging file. */
  finish(): StagedObject {
    this.enc.end();
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.closed = true;
    return { file: this.file, id: this.hash.digest("hex"), size: this.size, plaintextSize: this.enc.plaintextBytes };
  }

  /** Drops the staging file (after an error). Safe to call twice. */
  abort(): void {
    if (!this.closed) {
      this.closed = true;
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
    }
    fs.rmSync(this.file, { force: true });
  }
}
