/**
 * Picks the backend for a repository location: a plain path is a local folder;
 * `sftp://user@host/path` is SFTP (src/storage/sftp.ts), `s3://bucket/prefix` is S3
 * (src/storage/s3.ts) and `rclone:remote:path` goes through the rclone binary
 * (src/storage/rclone.ts). Off-site backends are loaded with `await import()` only when used: the
 * AWS SDK alone costs half a second to load and ssh2 a quarter, which a local repository never pays.
 */
import path from "node:path";
import { configError } from "../errors.js";
import { LocalStorage } from "./local.js";
import type { RcloneOptions } from "./rclone.js";
import type { S3Options } from "./s3.js";
import type { SftpOptions, Storage } from "./storage.js";

/** Backend options from the config file's `storage:` block (URL query parameters add to them). */
export interface StorageOptions {
  sftp?: SftpOptions;
  s3?: S3Options;
  rclone?: RcloneOptions;
  /** Non-fatal notices (e.g. a host key accepted with strict_host_key off); the CLI logs them. */
  onWarning?: (message: string) => void;
}

/** The URL scheme of a location ("sftp", "s3", "rclone", ...), or undefined for a local path. */
export function locationScheme(location: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(location)?.[1];
  return scheme && scheme.length > 1 ? scheme.toLowerCase() : undefined;
}

/** Whether a repository location is a URL (sftp://, s3://, rclone:) rather than a local path. */
export function hasScheme(location: string): boolean {
  return locationScheme(location) !== undefined;
}

export async function openStorage(location: string, opts: StorageOptions = {}, cwd = process.cwd()): Promise<Storage> {
  const scheme = locationScheme(location);
  if (scheme === undefined) return new LocalStorage(path.resolve(cwd, location));
  if (scheme === "sftp") {
    const { SftpStorage } = await import("./sftp.js");
    return SftpStorage.open(location, opts.sftp ?? {}, opts.onWarning);
  }
  if (scheme === "s3") {
    const { openS3Storage } = await import("./s3.js");
    return openS3Storage(location, opts.s3);
  }
  if (scheme === "rclone") {
    const { openRcloneStorage } = await import("./rclone.js");
    return openRcloneStorage(location, opts.rclone);
  }
  throw configError(`repository "${location}": the ${scheme} backend is not available in this version`, {
    hint: "use a local folder path, sftp://user@host/path, s3://bucket/prefix or rclone:remote:path",
  });
}
