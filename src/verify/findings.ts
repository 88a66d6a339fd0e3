/**
 * Integrity findings are values, not exceptions: verify, diff and restore collect them, the CLI
 * renders them and exits 3 when one is an error.
 */

export type FindingCode =
  | "seal-unreadable"
  | "seal-signature"
  | "seal-signer"
  | "chain-gap"
  | "chain-parent"
  | "chain-fork"
  | "chain-head-missing"
  | "snapshot-removed-by-policy"
  | "removal-unreadable"
  | "removal-signature"
  | "removal-chain-gap"
  | "removal-chain-parent"
  | "removal-chain-fork"
  | "removal-mismatch"
  | "object-missing"
  | "object-size"
  | "object-hash"
  | "object-unreadable"
  | "manifest-invalid"
  | "manifest-mismatch"
  | "pack-invalid"
  | "member-missing"
  | "member-unexpected"
  | "member-hash"
  | "member-size"
  | "member-duplicate"
  | "member-type"
  | "pack-checksums"
  | "entry-refused"
  | "entry-unreadable"
  | "restore-failed";

export interface Finding {
  /** error: integrity failure (exit 3); warning: worth a look; info: a fact, e.g. a removal by policy. */
  severity: "error" | "warning" | "info";
  code: FindingCode;
  message: string;
  snapshot?: string;
  object?: string;
  path?: string;
}

export const isError = (f: Finding): boolean => f.severity === "error";
