/**
 * The one storage interface every repository backend implements (local folder now; SFTP, S3 and
 * rclone later). Keys are "/"-separated paths from src/format/layout.ts.
 *
 * Contract:
 * - put* never overwrites: if the key exists it returns "exists" and leaves the old object alone.
 *   An object is never half-visible: it appears complete or not at all. When put* resolves the
 *   object is durable (fsynced, or the remote confirmed it).
 * - get of a missing key throws a StorageError with notFound = true.
 * - list yields every key under a prefix, in no particular order.
 * - delete of a missing key is not an error.
 * - A backend that holds a connection has close(); the CLI calls it when a command ends.
 * - appendOnly: the account may create objects but not delete, rename or replace them (an
 *   append-only SFTP account). Snapshot needs nothing more; the repository lock then falls back
 *   to a host-local lock file (src/repo/lock.ts), and replaceBytes/delete fail with a StorageError.
 */
import type { Readable } from "node:stream";
import { IsnadError } from "../errors.js";

export interface ObjectInfo {
  key: string;
  size: number;
}

export type PutResult = "created" | "exists";

export interface Storage {
  /** Where the repository is, for messages (never includes a secret). */
  readonly location: string;
  /** The folder holding the repository when it is on this machine (a snapshot never backs it up). */
  readonly localRoot?: string;
  /** A local folder for temporary files that putFile moves into place cheaply. */
  stagingDir(): Promise<string>;
  /** Moves (or uploads, then deletes) a finished local file to `key`. */
  putFile(key: string, localPath: string): Promise<PutResult>;
  putBytes(key: string, data: Uint8Array): Promise<PutResult>;
  /** Replaces an existing object atomically (only for isnad.json rewrites and locks). */
  replaceBytes(key: string, data: Uint8Array): Promise<void>;
  get(key: string): Promise<Readable>;
  /** Reads a whole small object; refuses one larger than maxBytes. */
  readBytes(key: string, maxBytes: number): Promise<Buffer>;
  stat(key: string): Promise<ObjectInfo | undefined>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
  /** True when the storage refuses delete, rename and replace (see the contract above). */
  readonly appendOnly?: boolean;
  /** Ends the connection, if any. Safe to call twice. */
  close?(): Promise<void>;
}

/** `storage.sftp` in isnad.yaml; paths are absolute once the config is loaded. */
export interface SftpOptions {
  /** Private key file; default: ssh-agent (SSH_AUTH_SOCK), then ~/.ssh/id_ed25519, ~/.ssh/id_rsa. */
  identity_file?: string;
  /** Default ~/.ssh/known_hosts. */
  known_hosts?: string;
  /** Default true: an unknown host key is an error. false: an unknown key is accepted (a changed one never is). */
  strict_host_key?: boolean;
  /** Treat the account as append-only without probing it (the probe is one harmless rename of a missing file). */
  append_only?: boolean;
  /** Bound on the total time spent retrying transient network errors, in seconds (default 60). */
  retry_seconds?: number;
  /** Connect (TCP + SSH handshake) timeout in seconds (default 20). */
  connect_timeout?: number;
}

export class StorageError extends IsnadError {
  readonly notFound: boolean;
  /** delete refused because the object is still under retention (S3 Object Lock): prune skips it. */
  readonly locked: boolean;
  /** When `locked`, the end of the retention, if the backend knows it. */
  readonly lockedUntil: Date | undefined;
  constructor(message: string, opts?: { cause?: unknown; notFound?: boolean; locked?: boolean; lockedUntil?: Date; hint?: string }) {
    super("storage", message, opts);
    this.notFound = opts?.notFound ?? false;
    this.locked = opts?.locked ?? false;
    this.lockedUntil = opts?.lockedUntil;
  }
}
