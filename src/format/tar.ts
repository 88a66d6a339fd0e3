/**
 * The tar framing of packs: POSIX ustar headers with a pax extended header when a name is longer
 * than 100 bytes or not plain ASCII, or a size does not fit 11 octal digits. Packs hold only
 * regular files, so this writes only regular-file headers. Pure: bytes in, bytes out; with the
 * push reader (tar-reader.ts) it keeps per-file cost at a few µs each way.
 */

export const TAR_BLOCK = 512;
/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(2 * TAR_BLOCK);

export interface TarFileHeader {
  name: string;
  size: number;
  mode: number;
  /** Whole seconds since the epoch (ustar keeps seconds; the manifest keeps nanoseconds). */
  mtime: number;
}

const MAX_OCTAL_11 = 0o77777777777;

/** Header bytes (512, or more with a pax header) for one regular file. */
export function encodeFileHeader(h: TarFileHeader): Buffer {
  const nameBytes = Buffer.from(h.name, "utf8");
  const needsPaxName = nameBytes.length > 100 || !/^[\x20-\x7e]*$/.test(h.name);
  const needsPaxSize = h.size > MAX_OCTAL_11;
  const mtime = Math.max(0, Math.min(h.mtime, MAX_OCTAL_11));
  const main = ustarBlock({
    name: needsPaxName ? asciiFallbackName(h.name) : h.name,
    size: needsPaxSize ? 0 : h.size,
    mode: h.mode & 0o7777,
    mtime,
    type: "0",
  });
  if (!needsPaxName && !needsPaxSize) return main;
  const records: string[] = [];
  if (needsPaxName) records.push(paxRecord("path", h.name));
  if (needsPaxSize) records.push(paxRecord("size", String(h.size)));
  const body = Buffer.from(records.join(""), "utf8");
  const pax = ustarBlock({ name: "PaxHeaders/entry", size: body.length, mode: 0o644, mtime, type: "x" });
  return Buffer.concat([pax, body, Buffer.alloc(paddingFor(body.length)), main]);
}

/** Zero bytes needed after `size` bytes of data to reach the next block. */
export function paddingFor(size: number): number {
  const rest = size % TAR_BLOCK;
  return rest === 0 ? 0 : TAR_BLOCK - rest;
}

/** A pax record is "<len> <key>=<value>\n" where <len> counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const payload = ` ${key}=${value}\n`;
  const payloadLen = Buffer.byteLength(payload, "utf8");
  let len = payloadLen;
  for (;;) {
    const total = payloadLen + String(len).length;
    if (total === len) return `${len}${payload}`;
    len = total;
  }
}

/** What a reader without pax support sees: the name cut to ASCII and 100 bytes. */
function asciiFallbackName(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, "_").slice(-100);
}

function ustarBlock(f: { name: string; size: number; mode: number; mtime: number; type: string }): Buffer {
  const b = Buffer.alloc(TAR_BLOCK);
  b.write(f.name, 0, 100, "utf8");
  writeOctal(b, f.mode, 100, 8);
  writeOctal(b, 0, 108, 8); // uid: ownership lives in the manifest
  writeOctal(b, 0, 116, 8); // gid
  writeOctal(b, f.size, 124, 12);
  writeOctal(b, f.mtime, 136, 12);
  b.write(f.type, 156, 1, "ascii");
  b.write("ustar\u000000", 257, 8, "ascii");
  // Checksum: sum of all bytes with the checksum field taken as eight spaces.
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, "0") + "\u0000 ", 148, 8, "ascii");
  return b;
}

function writeOctal(b: Buffer, value: number, offset: number, width: number): void {
  b.write(value.toString(8).padStart(width - 1, "0") + "\u0000", offset, width, "ascii");
}
