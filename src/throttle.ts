/**
 * Pacing for progress events: core modules report progress at most this often, so a renderer
 * (a terminal bar, a log) is never flooded, whatever the number of files.
 */

/** Progress events come at most this often (10 a second: as fast as a bar is worth redrawing). */
export const PROGRESS_INTERVAL_MS = 100;

/** Returns a function that answers true at most once per intervalMs (the first call: true). */
export function throttle(intervalMs: number = PROGRESS_INTERVAL_MS, now: () => number = Date.now): () => boolean {
  let last = -Infinity;
  return () => {
    const t = now();
    if (t - last < intervalMs) return false;
    last = t;
    return true;
  };
}
