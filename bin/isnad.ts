#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=1048576 node --max-semi-space-size=2 --initial-old-space-size=4 --heap-growing-percent=25 --expose-gc
// 2 MiB semi-spaces (V8's default grows to 16): the pipeline allocates many short-lived objects
// per file, and the smaller nursery (in every thread) keeps peak memory ~40 MiB lower at the same
// CPU cost (4 MiB: ~12 MiB more, no faster, on the benchmark's corpora). A 4 MiB first old-space
// limit: V8 otherwise lets tens of MiB of promoted garbage pile up before its first full GC
// (verify of 84 000 files: 142-147 MiB peak against 157-185). --heap-growing-percent=25: after a
// full GC, the next one comes once the old space has grown by a quarter, not by V8's default
// factor (up to 4x on a small heap): a first snapshot of the benchmark's 1 GiB docs corpus ran
// its last full GC a third of the way in and ended with ~20 MiB of promoted garbage; with it,
// 133-137 MiB peak against 147-153, in the same time.
// Not --single-threaded-gc, although V8's GC helper threads compete with isnad's two threads on
// two cores (without them: 1-5 % faster, less CPU): it raised the 4 GiB corpus's peak by 3-9 MiB
// (verify 137-138 against 128-129), too close to the 150 MiB target.
// --expose-gc: encryption and decryption free their per-chunk buffers early (crypto/chunk-garbage.ts).
// MALLOC_TRIM_THRESHOLD_ (glibc; ignored elsewhere): a fixed threshold also fixes the mmap
// threshold at 128 KiB, so native blocks that large (zstd contexts and buffers, in two threads)
// are mapped and unmapped, not left in malloc's arenas; glibc's sliding threshold let them
// fragment: a first snapshot of the 4 GiB corpus peaked 136-138 MiB with it, 146-148 without.
import { main } from "../src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
