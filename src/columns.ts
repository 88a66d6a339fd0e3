/**
 * Columns of per-entry numbers kept in typed arrays (cache/content-index.ts, restore's plan,
 * verify's expectations): far smaller than an object per entry, and invisible to the GC.
 */

type Column = Int32Array | Uint32Array | Float64Array | BigInt64Array | Buffer;

/** A copy of `a` with room for `n` elements (at least a.length), the new ones zero. */
export function withRoom<T extends Column>(a: T, n: number): T {
  const b = (Buffer.isBuffer(a) ? Buffer.alloc(n) : new (a.constructor as new (length: number) => T)(n)) as T;
  b.set(a as never);
  return b;
}
