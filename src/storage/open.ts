/**
 * Picks the backend for a repository location. A plain path is a local folder; URL schemes for
 * off-site backends (sftp://, s3://, rclone:) are refused until those backends exist.
 */
import path from "node:path";
import { configError } from "../errors.js";
import { LocalStorage } from "./local.js";
import type { Storage } from "./storage.js";

export function openStorage(location: string, cwd = process.cwd()): Storage {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(location)?.[1];
  if (scheme && scheme.length > 1) {
    throw configError(`repository "${location}": the ${scheme} backend is not available in this version`, {
      hint: "use a local folder path",
    });
  }
  return new LocalStorage(path.resolve(cwd, location));
}
