/**
 * What commands share: finding the config and repository, and loading keys, with the one rule
 * for each (explicit option, then config file, then default).
 */
import path from "node:path";
import { loadConfig, type Config } from "../config/index.js";
import type { AgeIdentities } from "../crypto/age.js";
import { usageError } from "../errors.js";
import { defaultSigningKeyPath } from "../keys/paths.js";
import { loadSigner, type Signer } from "../keys/signer.js";
import { openRepository, type OpenOptions, type Repository } from "../repo/repository.js";
import { locationScheme, openStorage } from "../storage/open.js";
import type { Storage } from "../storage/storage.js";
import type { Logger } from "./output/log.js";
import type { Out } from "./output/print.js";

export interface GlobalOptions {
  config?: string;
  repo?: string;
  json: boolean;
  quiet: boolean;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
}

export interface Context {
  globals: GlobalOptions;
  log: Logger;
  out: Out;
  /** Set by a command to the exit code it wants when it returns normally. */
  exitCode: number;
  /** Run by the CLI when the command ends, however it ends (closes storage connections). */
  cleanups: Array<() => Promise<void>>;
}

/** The config file, if one is named or found (./isnad.yaml, then the user's config dir). */
export async function findConfig(ctx: Context): Promise<Config | undefined> {
  return loadConfig(ctx.globals.config);
}

/** --repo, else the config's repository, else a usage error. */
export function repoLocation(ctx: Context, config: Config | undefined): string {
  if (ctx.globals.repo) return locationScheme(ctx.globals.repo) ? ctx.globals.repo : path.resolve(ctx.globals.repo);
  if (config) return config.repository;
  throw usageError("no repository given", "pass --repo PATH, or run where an isnad.yaml names one (or give --config)");
}

/** Opens the repository's storage (options from the config's `storage:` block); closed when the command ends. */
export async function openRepoStorage(ctx: Context, config: Config | undefined): Promise<Storage> {
  const storage = await openStorage(repoLocation(ctx, config), { ...config?.storage, onWarning: (m) => ctx.log.warn(m) });
  if (storage.close) ctx.cleanups.push(() => storage.close!());
  return storage;
}

/** Opens the repository; a command that will encrypt passes { encrypting: true } (see OpenOptions). */
export async function openRepo(ctx: Context, config?: Config, opts?: OpenOptions): Promise<Repository> {
  return openRepository(await openRepoStorage(ctx, config), opts);
}

/** --signing-key, else the config's signing_key, else the default for this repository id. */
export async function signerFor(repo: Repository, explicit: string | undefined, config: Config | undefined): Promise<Signer> {
  const p = explicit ? path.resolve(explicit) : (config?.signingKey ?? defaultSigningKeyPath(repo.config.id));
  return loadSigner(p);
}

/** -i, else the config's identity, else a usage error saying the key is needed for this. */
export async function identitiesFor(explicit: string | undefined, config: Config | undefined, purpose: string): Promise<AgeIdentities> {
  const p = explicit ? path.resolve(explicit) : config?.identity;
  if (!p) throw usageError(`${purpose} needs the identity (private key)`, "pass -i KEYFILE, or set identity: in the config");
  // typage and its post-quantum code load only for a command that decrypts (~0.2 s).
  const [{ AgeIdentities }, { loadIdentities, readPassphrase }] = await Promise.all([import("../crypto/age.js"), import("../keys/index.js")]);
  const ids = await loadIdentities(p, () => readPassphrase(`identity file ${p}`));
  return new AgeIdentities(ids, p);
}
