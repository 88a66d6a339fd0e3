/**
 * What the pack writer thread and the read thread share with the main thread: where a thread's
 * file is, and how an error crosses between threads (as plain data: only its kind, message, hint
 * and whether it says "not found" survive postMessage usefully).
 */
import { IsnadError, type ErrorKind } from "../errors.js";
import { StorageError } from "../storage/storage.js";

/**
 * The file of worker thread `name` (src/pack/<name>.ts), next to this module: in the bundle every
 * file is in dist/bin/ (scripts/bundle.mjs), in tsc's output in dist/src/pack/. Under vitest
 * this module is TypeScript, which a Worker cannot load, so the build's copy is used (`npm test`
 * builds first).
 */
export function threadUrl(name: "writer-thread" | "read-thread"): URL {
  const here = import.meta.url;
  return here.endsWith(".ts") ? new URL(`../../dist/src/pack/${name}.js`, here) : new URL(`./${name}.js`, here);
}

export interface ThreadError {
  kind?: string;
  message: string;
  hint?: string;
  notFound?: boolean;
}

/** An error thrown in a thread, as data to post to the main thread. */
export function describeError(e: unknown): ThreadError {
  const err = e as { kind?: string; message?: string; hint?: string; notFound?: boolean };
  return { kind: err.kind, message: err.message ?? String(e), hint: err.hint, notFound: err.notFound };
}

/** The main thread's IsnadError for a thread's error, its message after `prefix` if given. */
export function rebuildError(e: ThreadError, prefix = ""): IsnadError {
  const message = prefix + e.message;
  if (e.notFound || e.kind === "storage") return new StorageError(message, { notFound: e.notFound, hint: e.hint });
  return new IsnadError((e.kind as ErrorKind | undefined) ?? "internal", message, { hint: e.hint });
}
