#!/usr/bin/env -S node --max-semi-space-size=2 --expose-gc
// 2 MiB semi-spaces (V8's default grows to 16): the pipeline allocates many short-lived objects
// per file, and the smaller nursery (in every thread) keeps peak memory ~40 MiB lower at the same
// CPU cost (4 MiB: ~12 MiB more, no faster, on the benchmark's corpora).
// --expose-gc: encryption and decryption free their per-chunk buffers early (crypto/chunk-garbage.ts).
import { main } from "../src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
