/** Seeded xorshift32: the same seed gives the same names, sizes and bytes on every machine. */

/** FNV-1a over a string, never 0 (xorshift's one fixed point). */
export function seedOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 0x9e3779b9 : h;
}

export class Xorshift32 {
  private x: number;

  constructor(seed: number | string) {
    const s = typeof seed === "string" ? seedOf(seed) : seed >>> 0;
    this.x = s === 0 ? 0x9e3779b9 : s;
    for (let i = 0; i < 8; i++) this.next(); // spread a weak seed
  }

  /** Next 32-bit unsigned value. */
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** Fills buf with pseudo-random bytes (incompressible for lz4/zstd). */
  fill(buf: Uint8Array): void {
    const words = buf.length >>> 2;
    if (buf.byteOffset % 4 === 0) {
      const u32 = new Uint32Array(buf.buffer, buf.byteOffset, words);
      let x = this.x;
      for (let i = 0; i < words; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        u32[i] = x;
      }
      this.x = x >>> 0;
    } else {
      for (let i = 0; i < words * 4; i += 4) {
        const v = this.next();
        buf[i] = v & 0xff;
        buf[i + 1] = (v >>> 8) & 0xff;
        buf[i + 2] = (v >>> 16) & 0xff;
        buf[i + 3] = v >>> 24;
      }
    }
    for (let i = words * 4; i < buf.length; i++) buf[i] = this.next() & 0xff;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}
