/**
 * node:crypto's ChaCha20-Poly1305 has no "update into this buffer": every 64 KiB chunk sealed or
 * opened allocates a fresh 64 KiB ArrayBuffer, dead a moment later. V8 frees such buffers only at
 * a garbage collection, and a chunk leaves so little on the JS heap that none comes until ~32 MiB
 * of dead chunks have piled up off-heap (measured), per thread. A minor GC (a scavenge of a young
 * generation that holds almost nothing: well under a millisecond) every CHUNKS chunks frees them
 * while they are few, so peak memory stays flat; the reused memory is also faster than fresh.
 *
 * It needs `gc`, which `--expose-gc` provides (bin/isnad.ts's shebang passes it; V8 flags are
 * process-wide, so worker threads have it too). Without it this does nothing: correct, just
 * ~30 MiB more peak memory per thread that encrypts or decrypts.
 */

/** Chunks between two collections: 4 MiB of garbage at most. */
const CHUNKS = 64;

type MinorGc = (options: { type: "minor" }) => void;
const gc = (globalThis as { gc?: MinorGc }).gc;
let count = 0;

/** Call once per chunk sealed or opened. */
export function chunkDone(): void {
  if (gc === undefined || ++count < CHUNKS) return;
  count = 0;
  gc({ type: "minor" });
}
