/**
 * Reading tar: a push parser. Plaintext chunks of any size go in with push(); each member's header
 * goes to the visitor, which returns a sink for its bytes (or nothing, to skip them). Data reaches
 * the sink as views into the pushed chunks: no copies, no promise or stream per member, which is
 * what reading 50 000 small files in a few seconds needs. Pure and synchronous: the caller feeds
 * it from whatever source (a decrypting pipeline, a test buffer).
 *
 * It reads what any pack could contain, including hostile ones: ustar and old-style headers, pax
 * extended headers (path, linkpath, size, mtime), GNU long names, base-256 numbers. It refuses a
 * bad header checksum, a member cut short, data after the end of the archive, and oversized
 * extended headers. Which member types and names are acceptable is the caller's decision.
 */
import { TAR_BLOCK } from "./tar.js";

export type TarEntryType =
  | "file"
  | "link"
  | "symlink"
  | "character-device"
  | "block-device"
  | "directory"
  | "fifo"
  | "contiguous-file";

export interface TarMemberHeader {
  name: string;
  type: TarEntryType;
  size: number;
  mode: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname: string;
}

export interface TarMemberSink {
  data(chunk: Buffer): void;
  end(): void;
}

/** Called for each member; returns where its bytes go, or undefined to skip them. */
export type TarVisitor = (header: TarMemberHeader) => TarMemberSink | undefined;

/** A malformed archive; the message says where. */
export class TarFormatError extends Error {}

/** Extended headers larger than this are refused: real ones hold a few names. */
const MAX_EXTENDED_HEADER = 1 << 20;

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "\0": "file",
  "1": "link",
  "2": "symlink",
  "3": "character-device",
  "4": "block-device",
  "5": "directory",
  "6": "fifo",
  "7": "contiguous-file",
};

type State = "header" | "data" | "padding" | "extended" | "end";

export class TarReader {
  private state: State = "header";
  private readonly block = Buffer.alloc(TAR_BLOCK);
  private blockFill = 0;
  /** Bytes of the current member (or extended header) still to come, then its padding. */
  private left = 0;
  private padLeft = 0;
  private sink: TarMemberSink | undefined;
  /** An extended header being collected: its kind and bytes. */
  private ext: { kind: "x" | "g" | "L" | "K"; buf: Buffer; fill: number } | undefined;
  /** Overrides from the pax header / GNU long names that apply to the next member. */
  private pending: { path?: string; linkpath?: string; size?: number; mtime?: number } = {};
  private offset = 0;
  members = 0;

  constructor(private readonly visitor: TarVisitor) {}

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.state) {
        case "header": {
          const n = Math.min(TAR_BLOCK - this.blockFill, chunk.length - pos);
          if (this.blockFill === 0 && n === TAR_BLOCK) {
            this.header(chunk.subarray(pos, pos + TAR_BLOCK));
          } else {
            chunk.copy(this.block, this.blockFill, pos, pos + n);
            this.blockFill += n;
            if (this.blockFill === TAR_BLOCK) {
              this.blockFill = 0;
              this.header(this.block);
            }
          }
          pos += n;
          this.offset += n;
          break;
        }
        case "data": {
          const n = Math.min(this.left, chunk.length - pos);
          this.sink?.data(chunk.subarray(pos, pos + n));
          this.left -= n;
          pos += n;
          this.offset += n;
          if (this.left === 0) this.endMember();
          break;
        }
        case "extended": {
          const ext = this.ext!;
          const n = Math.min(this.left, chunk.length - pos);
          chunk.copy(ext.buf, ext.fill, pos, pos + n);
          ext.fill += n;
          this.left -= n;
          pos += n;
          this.offset += n;
          if (this.left === 0) {
            this.applyExtended(ext);
            this.ext = undefined;
            this.state = this.padLeft > 0 ? "padding" : "header";
          }
          break;
        }
        case "padding": {
          const n = Math.min(this.padLeft, chunk.length - pos);
          this.padLeft -= n;
          pos += n;
          this.offset += n;
          if (this.padLeft === 0) this.state = "header";
          break;
        }
        case "end": {
          // After the end-of-archive block only zeros may follow (the second block, record padding).
          const rest = chunk.subarray(pos);
          for (let i = 0; i < rest.length; i++) {
            if (rest[i] !== 0) throw new TarFormatError(`data after the end of the archive (at byte ${this.offset + i})`);
          }
          this.offset += rest.length;
          pos = chunk.length;
          break;
        }
      }
    }
  }

  /** Call once the input is over: refuses an archive cut short. */
  end(): void {
    if (this.state === "end" && this.blockFill === 0) return;
    if (this.state === "header" && this.blockFill === 0 && this.members === 0 && this.offset === 0) {
      throw new TarFormatError("empty archive (no end-of-archive block)");
    }
    if (this.state === "header" && this.blockFill === 0) throw new TarFormatError(`archive ends without its end-of-archive block (at byte ${this.offset})`);
    throw new TarFormatError(`archive cut short at byte ${this.offset} (inside a ${this.state === "header" ? "header" : "member"})`);
  }

  private header(b: Buffer): void {
    if (isZeroBlock(b)) {
      if (this.ext || Object.keys(this.pending).length > 0) throw new TarFormatError(`extended header without a member before the end of the archive`);
      this.state = "end";
      return;
    }
    checkChecksum(b, this.offset);
    const typeflag = String.fromCharCode(b[156]!);
    const size = readNumber(b, 124, 12, "size", this.offset);
    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      if (size > MAX_EXTENDED_HEADER) throw new TarFormatError(`extended header of ${size} bytes at byte ${this.offset} (more than ${MAX_EXTENDED_HEADER})`);
      this.ext = { kind: typeflag, buf: Buffer.allocUnsafe(size), fill: 0 };
      this.left = size;
      this.padLeft = (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
      if (size === 0) {
        this.applyExtended(this.ext);
        this.ext = undefined;
      } else this.state = "extended";
      return;
    }
    const type = TYPES[typeflag];
    if (!type) throw new TarFormatError(`unknown member type ${JSON.stringify(typeflag)} at byte ${this.offset}`);
    const ustar = b.toString("latin1", 257, 262) === "ustar";
    let name = cstring(b, 0, 100);
    if (ustar) {
      const prefix = cstring(b, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const p = this.pending;
    this.pending = {};
    const header: TarMemberHeader = {
      name: p.path ?? name,
      type,
      size: p.size ?? size,
      mode: readNumber(b, 100, 8, "mode", this.offset),
      mtime: p.mtime ?? readNumber(b, 136, 12, "mtime", this.offset),
      linkname: p.linkpath ?? cstring(b, 157, 100),
    };
    // Only these carry data in the archive; for the others a size field is ignored (as GNU tar does).
    const dataSize = type === "file" || type === "contiguous-file" ? header.size : 0;
    if (dataSize !== header.size) header.size = 0;
    this.members++;
    this.sink = this.visitor(header);
    this.left = dataSize;
    this.padLeft = (TAR_BLOCK - (dataSize % TAR_BLOCK)) % TAR_BLOCK;
    if (dataSize === 0) this.endMember();
    else this.state = "data";
  }

  private endMember(): void {
    const sink = this.sink;
    this.sink = undefined;
    this.state = this.padLeft > 0 ? "padding" : "header";
    sink?.end();
  }

  private applyExtended(ext: { kind: "x" | "g" | "L" | "K"; buf: Buffer }): void {
    if (ext.kind === "g") return; // global pax headers: nothing in them applies to packs
    if (ext.kind === "L" || ext.kind === "K") {
      const nul = ext.buf.indexOf(0);
      const value = ext.buf.toString("utf8", 0, nul < 0 ? ext.buf.length : nul);
      if (ext.kind === "L") this.pending.path = value;
      else this.pending.linkpath = value;
      return;
    }
    for (const [key, value] of parsePax(ext.buf, this.offset)) {
      if (key === "path") this.pending.path = value;
      else if (key === "linkpath") this.pending.linkpath = value;
      else if (key === "size") {
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new TarFormatError(`pax size ${JSON.stringify(value)} is not a whole number`);
        this.pending.size = Number(value);
      } else if (key === "mtime") {
        const t = Number(value);
        if (Number.isFinite(t)) this.pending.mtime = Math.floor(t);
      }
    }
  }
}

/** pax records: "<len> <key>=<value>\n", <len> counting the whole record. */
function parsePax(buf: Buffer, offset: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // NUL padding inside the declared size
    const space = buf.indexOf(0x20, pos);
    const len = space < 0 ? NaN : Number(buf.toString("latin1", pos, space));
    if (!Number.isSafeInteger(len) || len <= space - pos + 1 || pos + len > buf.length || buf[pos + len - 1] !== 0x0a) {
      throw new TarFormatError(`malformed pax record near byte ${offset}`);
    }
    const record = buf.toString("utf8", space + 1, pos + len - 1);
    const eq = record.indexOf("=");
    if (eq <= 0) throw new TarFormatError(`malformed pax record near byte ${offset}`);
    out.push([record.slice(0, eq), record.slice(eq + 1)]);
    pos += len;
  }
  return out;
}

function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < TAR_BLOCK; i += 8) if (b.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

function checkChecksum(b: Buffer, offset: number): void {
  const want = readNumber(b, 148, 8, "checksum", offset);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  if (want !== unsigned && want !== signed) throw new TarFormatError(`bad header checksum at byte ${offset}`);
}

/** An octal field (NUL or space terminated), or GNU base-256 when the top bit is set. */
function readNumber(b: Buffer, off: number, len: number, what: string, at: number): number {
  if (b[off]! & 0x80) {
    if (b[off] === 0xff) throw new TarFormatError(`negative ${what} at byte ${at}`);
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    if (!Number.isSafeInteger(v)) throw new TarFormatError(`${what} too large at byte ${at}`);
    return v;
  }
  const s = b.toString("latin1", off, off + len).replace(/[\0 ]+$/, "").replace(/^[ ]+/, "").replace(/\0.*$/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad ${what} field ${JSON.stringify(s)} at byte ${at}`);
  return parseInt(s, 8);
}

function cstring(b: Buffer, off: number, len: number): string {
  const field = b.subarray(off, off + len);
  const nul = field.indexOf(0);
  return field.toString("utf8", 0, nul < 0 ? len : nul);
}
