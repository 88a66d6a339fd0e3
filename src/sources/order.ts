/**
 * The one order of entries isnad uses everywhere: the order a source is walked in, the order of
 * entries in a manifest, the order diff compares in. Owns nothing else.
 *
 * A walk is pre-order depth-first with the children of a folder sorted by `compareNames`, so a
 * folder comes right before its own contents and "a" < "a/b" < "a.txt". Plain string order would
 * put "a.txt" before "a/b" ("." is 0x2E, "/" is 0x2F); `comparePaths` therefore compares segment
 * by segment, which is the same as comparing code units with "/" ranked below every other unit.
 */

const SLASH = 0x2f;

/** Orders two names (one path segment each) by UTF-16 code units, as `Array.prototype.sort` does. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders two relative "/"-separated paths ("" is the root) in walk order: segment by segment,
 * each segment by `compareNames`, an ancestor before its descendants.
 */
export function comparePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // The segment that ends here is a prefix of the other one's segment, so it sorts first.
    if (ca === SLASH) return -1;
    if (cb === SLASH) return 1;
    return ca < cb ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
