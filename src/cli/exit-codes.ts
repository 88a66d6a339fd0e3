/** Exit codes: the one place they are defined (docs: README "Exit codes"). */
import { IsnadError, type ErrorKind } from "../errors.js";

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  /** Integrity failure, or differences found by diff. */
  integrity: 3,
  /** A snapshot was written but some files could not be read (they are recorded as missing). */
  incomplete: 4,
  /** The snapshot was saved (and is complete), but the `after` hook failed. */
  hookFailed: 5,
  /** The repository is locked by another run (EX_TEMPFAIL). */
  locked: 75,
} as const;

export function exitCodeFor(kind: ErrorKind): number {
  switch (kind) {
    case "usage":
    case "config":
      return EXIT.usage;
    case "integrity":
      return EXIT.integrity;
    case "locked":
      return EXIT.locked;
    default:
      return EXIT.error;
  }
}

/** The exit code an error thrown out of a command ends in. */
export function exitCodeOfError(err: unknown): number {
  return err instanceof IsnadError ? exitCodeFor(err.kind) : EXIT.error;
}
