/**
 * Pack writer: regular files framed as tar into an encrypted object (optionally zstd-compressed,
 * see pack/objects.ts). Each file is read straight into the object's buffer (ring memory when the
 * writer thread runs) and hashed as it is framed, so memory stays flat for any file size. The pack ends with .isnad/manifest-sha256.txt, the
 * sha256sum list of its own members.
 */
import { createHash, type Hash } from "node:crypto";
import * as fs from "node:fs";
import { withRoom } from "../columns.js";
import { encodeFileHeader, paddingFor, TAR_BLOCK, TAR_END, writePlainHeader, type TarFileHeader } from "../format/tar.js";
import { PACK_CHECKSUMS_MEMBER, sha256sumLine } from "../format/sha256sum.js";
import type { StagedObject } from "./object-writer.js";
import { InlineObjects, type ObjectOutput } from "./objects.js";

/** 1 MiB reads: large enough to amortise syscalls, small enough to stay in cache. */
export const READ_BUFFER_BYTES = 1 << 20;
const ZEROS = Buffer.alloc(READ_BUFFER_BYTES);
/** Files up to this size (tar header and padding included) go into the output as one piece. */
const WHOLE_MAX = 256 << 10;

export interface AddedFile {
  sha256: string;
  /** Bytes stored: the size announced in the tar header. */
  size: number;
  /** The file's size or times moved while it was read, or it did not hold `size` bytes. */
  changed: boolean;
}

export interface FileIdentity {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

export class PackWriter {
  private readonly probe = Buffer.allocUnsafe(1);
  /**
   * The pack's sha256sum list so far, as UTF-8 bytes: kept as strings, a pack's lines (each
   * holding its hash and name) lived just long enough to be promoted and die in V8's old space.
   */
  private checksums = Buffer.allocUnsafe(64 << 10);
  private checksumBytes = 0;
  files = 0;
  /** Tar bytes written so far (before compression): what restoring this pack has to read. */
  tarBytes = 0;

  /** `out` must compress if and only if `compressed` (the seal marks compressed packs). */
  constructor(
    private readonly out: ObjectOutput,
    readonly compressed: boolean,
  ) {}

  /** A pack written on this thread (tests, tools). */
  static async open(stagingDir: string, recipients: readonly string[], compressed: boolean): Promise<PackWriter> {
    return new PackWriter(await new InlineObjects(stagingDir, recipients).create("pack", { compress: compressed }), compressed);
  }

  private emit(data: Uint8Array): void {
    this.tarBytes += data.length;
    this.out.write(data);
  }

  /**
   * Adds the open file `fd` as member `name`. `head` holds the file's first bytes if the caller
   * already read them (the fd's position is then just after them). The header announces
   * `expected.size`; if the file shrank the member is padded with zeros, if it grew it is cut,
   * and either way it is flagged as changed. The hash is of the bytes stored, so restore and
   * verify agree with the manifest. `headSha256`, when `head` is the whole file, is its SHA-256
   * (the caller hashed it already), so small files are hashed once. `headAtEnd`: the read that
   * gave `head` returned fewer bytes than it asked for, so the file ended there (no need to try
   * one more read to see whether it grew).
   */
  addFile(name: string, fd: number, expected: FileIdentity, mode: number, head?: Buffer, headSha256?: string, headAtEnd = false): AddedFile {
    const size = Number(expected.size);
    const header = { name, size, mode, mtime: Number(expected.mtimeNs / 1_000_000_000n) };
    const known = headSha256 !== undefined && head !== undefined && head.length === size ? headSha256 : undefined;
    const hash = known === undefined ? createHash("sha256") : undefined;
    if (head && head.length >= size && this.addWhole(header, head.subarray(0, size))) {
      hash?.update(head.subarray(0, size));
      return this.added(name, fd, expected, size, hash, known, head, headAtEnd, false);
    }
    this.emit(encodeFileHeader(header));
    let done = 0;
    let short = false;
    if (head && head.length > 0) {
      const take = head.subarray(0, Math.min(head.length, size));
      hash?.update(take);
      this.emit(take);
      done = take.length;
      short = head.length < Math.min(size, READ_BUFFER_BYTES);
    }
    while (done < size) {
      const want = Math.min(READ_BUFFER_BYTES, size - done);
      if (short) {
        const pad = ZEROS.subarray(0, want);
        hash!.update(pad);
        this.emit(pad);
        done += want;
        continue;
      }
      const buf = this.out.reserve(want);
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      hash!.update(buf.subarray(0, n));
      this.out.commit(n);
      this.tarBytes += n;
      done += n;
      if (n === 0) short = true;
    }
    const pad = paddingFor(size);
    if (pad) this.emit(ZEROS.subarray(0, pad));
    return this.added(name, fd, expected, size, hash, known, head, headAtEnd, short);
  }

  /**
   * A file held whole in memory (`content`, its announced size): header, content and padding
   * written into the output as one piece, with the header made in place: most files of a tree
   * are this small, and this saves them two trips through the output and a header buffer each.
   * False (and nothing written) when the header needs pax or the output cannot give one piece
   * that large.
   */
  private addWhole(header: TarFileHeader, content: Buffer): boolean {
    const total = TAR_BLOCK + content.length + paddingFor(content.length);
    if (total > WHOLE_MAX) return false;
    const piece = this.out.reserve(total);
    if (piece.length < total || !writePlainHeader(header, piece, 0)) return false; // an uncommitted piece is simply dropped
    piece.set(content, TAR_BLOCK);
    piece.fill(0, TAR_BLOCK + content.length);
    this.out.commit(total);
    this.tarBytes += total;
    return true;
  }

  /** After a file's content: did it change while read? Its hash and checksum line. */
  private added(name: string, fd: number, expected: FileIdentity, size: number, hash: Hash | undefined, known: string | undefined, head: Buffer | undefined, headAtEnd: boolean, short: boolean): AddedFile {
    const endSeen = headAtEnd && head!.length === size;
    const grew = (head?.length ?? 0) > size || (!short && !endSeen && fs.readSync(fd, this.probe, 0, 1, null) > 0);
    const after = fs.fstatSync(fd, { bigint: true });
    const changed =
      short || grew || after.size !== expected.size || after.mtimeNs !== expected.mtimeNs || after.ctimeNs !== expected.ctimeNs;
    const sha256 = known ?? hash!.digest("hex");
    this.addChecksumLine(sha256sumLine(sha256, name));
    this.files++;
    return { sha256, size, changed };
  }

  /**
   * Writes the checksum member and the tar end, and ends the object (zstd frame, age stream):
   * result() then gives the staged pack, once the writer thread has completed it.
   */
  end(): void {
    const list = this.checksums.subarray(0, this.checksumBytes);
    const mtime = Math.floor(Date.now() / 1000);
    this.emit(encodeFileHeader({ name: PACK_CHECKSUMS_MEMBER, size: list.length, mode: 0o644, mtime }));
    this.emit(list);
    const pad = paddingFor(list.length);
    if (pad) this.emit(ZEROS.subarray(0, pad));
    this.emit(TAR_END);
    this.checksumBytes = 0;
    this.out.end();
  }

  private addChecksumLine(line: string): void {
    const room = line.length * 3; // a UTF-16 unit is at most 3 bytes of UTF-8
    if (this.checksumBytes + room > this.checksums.length) {
      this.checksums = withRoom(this.checksums, Math.max(this.checksums.length * 2, this.checksumBytes + room));
    }
    this.checksumBytes += this.checksums.write(line, this.checksumBytes, "utf8");
  }

  result(wait: boolean): StagedObject | undefined {
    return this.out.result(wait);
  }

  /** end(), then waits for the staged pack. */
  finish(): StagedObject {
    this.end();
    return this.out.result(true)!;
  }

  abort(): void {
    this.out.abort();
  }
}
