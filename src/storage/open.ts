/**
 * Picks the backend for a repository location. A plain path is a local folder; `sftp://` is the
 * SFTP backend, loaded only when used (ssh2 costs ~220 ms to load). Other URL schemes (s3://,
 * rclone:) are refused until those backends exist.
 */
import path from "node:path";
import { configError } from "../errors.js";
import { LocalStorage } from "./local.js";
import type { Storage, StorageOptions } from "./storage.js";

export const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/** Whether a repository location is a URL (sftp://, s3://, rclone:) rather than a local path. */
export function hasScheme(location: string): boolean {
  const scheme = SCHEME.exec(location)?.[1];
  return scheme !== undefined && scheme.length > 1;
}

export async function openStorage(location: string, opts: StorageOptions = {}, cwd = process.cwd()): Promise<Storage> {
  const scheme = SCHEME.exec(location)?.[1];
  if (scheme && scheme.length > 1) {
    if (scheme.toLowerCase() === "sftp") {
      const { SftpStorage } = await import("./sftp.js");
      return SftpStorage.open(location, opts.sftp ?? {}, opts.onWarning);
    }
    throw configError(`repository "${location}": the ${scheme} backend is not available in this version`, {
      hint: "use a local folder path or sftp://user@host/path",
    });
  }
  return new LocalStorage(path.resolve(cwd, location));
}
