/**
 * Error kinds shared by every module. Core code throws an IsnadError of a kind; only the CLI
 * (src/cli/main.ts) turns kinds into exit codes, so the mapping lives in one place.
 */

export type ErrorKind =
  | "usage" // bad command line
  | "config" // bad config file, recipient string, key file, repository config
  | "integrity" // something stored does not match what was signed or hashed
  | "locked" // repository locked by another run
  | "storage" // I/O against the repository failed
  | "source" // a source could not be read as a whole
  | "hook" // a hook command of the config failed (the `before` hook stops the snapshot)
  | "internal"; // a broken invariant: a bug

export class IsnadError extends Error {
  readonly kind: ErrorKind;
  /** A short hint on how to fix it, printed after the message. */
  readonly hint: string | undefined;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "IsnadError";
    this.kind = kind;
    this.hint = options?.hint;
  }
}

export const usageError = (msg: string, hint?: string) => new IsnadError("usage", msg, { hint });
export const configError = (msg: string, opts?: { cause?: unknown; hint?: string }) =>
  new IsnadError("config", msg, opts);
export const integrityError = (msg: string, opts?: { cause?: unknown; hint?: string }) =>
  new IsnadError("integrity", msg, opts);
export const storageError = (msg: string, opts?: { cause?: unknown; hint?: string }) =>
  new IsnadError("storage", msg, opts);
export const internalError = (msg: string) => new IsnadError("internal", `internal: ${msg}`);

/** Node's errno code of an error, if any (ENOENT, EACCES, ...). */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
