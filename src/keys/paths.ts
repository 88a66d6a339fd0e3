/**
 * Where isnad keeps per-user files: the config folder (signing keys) and the cache folder. Follows
 * the XDG base directory rules; a relative XDG_* value is ignored, as the spec requires.
 */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { configError } from "../errors.js";

/** $HOME, else the account's home folder. */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = env["HOME"];
  return home !== undefined && home !== "" ? home : homedir();
}

function xdgDir(envName: string, fallback: string[], env: NodeJS.ProcessEnv): string {
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== "" && isAbsolute(fromEnv)) return join(fromEnv, "isnad");
  const home = homeDir(env);
  if (home === "") throw configError(`cannot find the home folder; set ${envName} or HOME`);
  return join(home, ...fallback, "isnad");
}

/** $XDG_CONFIG_HOME/isnad or ~/.config/isnad */
export function userConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return xdgDir("XDG_CONFIG_HOME", [".config"], env);
}

/** $XDG_CACHE_HOME/isnad or ~/.cache/isnad */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return xdgDir("XDG_CACHE_HOME", [".cache"], env);
}

/** Default signing key location for a repository id: <configDir>/signing/<repoId>.key */
export function defaultSigningKeyPath(repoId: string): string {
  // The id becomes a file name: refuse anything that could climb out of the folder.
  if (!/^[A-Za-z0-9_-]+$/.test(repoId)) {
    throw configError(`repository id ${JSON.stringify(repoId)} cannot name a key file`);
  }
  return join(userConfigDir(), "signing", `${repoId}.key`);
}
