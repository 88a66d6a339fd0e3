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
  const plain = Buffer.allocUnsafe(TAR_BLOCK);
  if (writePlainHeader(h, plain, 0)) return plain;
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

/**
 * encodeFileHeader's output written into `dest` at `at`, when it is one plain ustar block (a
 * printable ASCII name of up to 100 bytes, a size that fits 11 octal digits): returns false, and
 * writes nothing, otherwise. The same bytes as ustarBlock (test/format/tar.test.ts compares them
 * over many headers), made without building strings: packs hold a header per file, and a tree of
 * small files spent more on formatting them than on their content.
 */
export function writePlainHeader(h: TarFileHeader, dest: Uint8Array, at: number): boolean {
  const name = h.name;
  if (name.length > 100 || !Number.isSafeInteger(h.size) || h.size < 0 || h.size > MAX_OCTAL_11) return false;
  if (!Number.isInteger(h.mode) || !Number.isInteger(h.mtime)) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  dest.set(PLAIN_TEMPLATE, at);
  let sum = PLAIN_TEMPLATE_SUM;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    dest[at + i] = c;
    sum += c;
  }
  sum += putOctal(dest, at + 100, 7, h.mode & 0o7777);
  sum += putOctal(dest, at + 124, 11, h.size);
  sum += putOctal(dest, at + 136, 11, Math.max(0, Math.min(h.mtime, MAX_OCTAL_11)));
  // Checksum: six octal digits, NUL, space (the template held eight spaces there, counted in its sum).
  putOctal(dest, at + 148, 6, sum);
  dest[at + 154] = 0;
  dest[at + 155] = 0x20;
  return true;
}

/** Writes `value` as `digits` octal digits (zero-padded; the caller checked it fits) and returns their byte sum. */
function putOctal(dest: Uint8Array, at: number, digits: number, value: number): number {
  let sum = 0;
  let v = value;
  for (let i = digits - 1; i >= 0; i--) {
    const d = 0x30 + (v % 8);
    dest[at + i] = d;
    sum += d;
    v = Math.floor(v / 8);
  }
  return sum;
}

/** A plain header's constant bytes: uid and gid 0, type '0', ustar magic, checksum field as spaces. */
const PLAIN_TEMPLATE = ((): Buffer => {
  const b = Buffer.alloc(TAR_BLOCK);
  b.write("0000000\u0000", 108, 8, "ascii");
  b.write("0000000\u0000", 116, 8, "ascii");
  b.write("0", 156, 1, "ascii");
  b.write("ustar\u000000", 257, 8, "ascii");
  b.fill(0x20, 148, 156);
  return b;
})();
const PLAIN_TEMPLATE_SUM = PLAIN_TEMPLATE.reduce((a, c) => a + c, 0);

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
