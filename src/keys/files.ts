/**
 * Reading and writing key files: the few lines of file handling every key kind shares (size cap,
 * missing-file message, create-only writes with owner-only permissions). Private to src/keys.
 */
import { constants } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { configError, errnoCode, IsnadError, messageOf } from "../errors.js";

/** Key files are tiny (a hybrid identity line is 77 bytes). Go age caps identity files at 16 MiB. */
export const MAX_KEY_FILE_BYTES = 1 << 24;

/**
 * Reads a whole key file. `what` names it in messages ("identity file", "signing key", ...).
 * Missing, unreadable, a folder, or over the size cap: config error naming the path.
 */
export async function readKeyFile(path: string, what: string, hint?: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT") throw configError(`${what} ${path} does not exist`, { cause: err, hint });
    if (code === "EACCES") throw configError(`${what} ${path} cannot be read: permission denied`, { cause: err });
    throw configError(`${what} ${path} cannot be opened: ${messageOf(err)}`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw configError(`${what} ${path} is not a regular file`);
    if (st.size > MAX_KEY_FILE_BYTES) {
      throw configError(`${what} ${path} is ${st.size} bytes; a key file is never that large`);
    }
    const bytes = await fh.readFile();
    if (bytes.length > MAX_KEY_FILE_BYTES) throw configError(`${what} ${path} grew while being read`);
    return bytes;
  } catch (err) {
    if (err instanceof IsnadError) throw err;
    throw configError(`${what} ${path} cannot be read: ${messageOf(err)}`, { cause: err });
  } finally {
    await fh.close();
  }
}

/**
 * Writes a new key file: never overwrites (O_EXCL, which also refuses a dangling symlink), mode
 * 0600 whatever the umask, missing parent folders made 0700, data and folder entry fsynced. A
 * failed write removes the half-written file so the next attempt is not refused.
 */
export async function writeNewKeyFile(path: string, content: string): Promise<void> {
  const dir = dirname(resolve(path));
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw configError(`cannot create folder ${dir} for key file ${path}: ${messageOf(err)}`, { cause: err });
  }
  let fh;
  try {
    fh = await open(path, "wx", 0o600);
  } catch (err) {
    if (errnoCode(err) === "EEXIST") {
      throw new IsnadError("usage", `${path} already exists; refusing to overwrite a key file`, { cause: err });
    }
    throw configError(`cannot create key file ${path}: ${messageOf(err)}`, { cause: err });
  }
  try {
    await fh.chmod(0o600); // open's mode is filtered by the umask; a key file must not depend on it
    await fh.writeFile(content, "utf8");
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined);
    throw configError(`cannot write key file ${path}: ${messageOf(err)}`, { cause: err });
  }
  await fh.close();
  await fsyncDir(dir);
}

/** Makes a new directory entry durable. Best effort: some file systems refuse fsync on a folder. */
async function fsyncDir(dir: string): Promise<void> {
  let dh;
  try {
    dh = await open(dir, constants.O_RDONLY);
    await dh.sync();
  } catch {
    // not fatal: the file's own data was fsynced
  } finally {
    await dh?.close().catch(() => undefined);
  }
}

/**
 * Turns a bech32/typage error message into a short reason that never quotes the input: @scure/base
 * puts the whole string into "Invalid checksum in <string>", which for an identity is the secret.
 */
export function bech32Reason(message: string): string {
  if (/checksum/i.test(message)) return "bad checksum: a character is wrong or missing";
  if (/length/i.test(message)) return "wrong length";
  if (/mixed-case/i.test(message)) return "mixes upper and lower case";
  if (/unknown letter/i.test(message)) return "has a character that bech32 keys never contain";
  if (/printable ASCII/i.test(message)) return "has spaces, control or non-ASCII characters";
  if (/separator/i.test(message)) return "has no '1' separator";
  if (/unrecognized/i.test(message)) return "unknown key type";
  if (/invalid (identity|recipient)/i.test(message)) return "wrong type or size for this kind of key";
  return "malformed";
}
