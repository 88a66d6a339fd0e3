/**
 * Where a passphrase comes from. Never a command-line argument (it would show in `ps` and shell
 * history): either the file named by ISNAD_PASSPHRASE_FILE (for cron and scripts), or a prompt on
 * the controlling terminal, read with echo off. With no terminal we fail at once rather than
 * hang, so an unattended run reports what to set.
 *
 * The prompt uses /dev/tty, not stdin/stdout, so it works while those are redirected (as with
 * `age -p`). It is written and erased on the terminal, so it never mixes with program output.
 */
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { isatty, ReadStream } from "node:tty";
import { configError, errnoCode, IsnadError, messageOf, usageError } from "../errors.js";

export const PASSPHRASE_FILE_ENV = "ISNAD_PASSPHRASE_FILE";

/** Passphrases longer than this are refused (a runaway paste, or the wrong file). */
const MAX_PASSPHRASE_CHARS = 4096;

/**
 * A passphrase for `purpose` (e.g. "identity file /home/a/key.txt"): the first line of the file
 * named by ISNAD_PASSPHRASE_FILE (trailing \r?\n stripped), else a prompt on the terminal. With
 * `confirm` the prompt asks twice and refuses a mismatch. No terminal → config error with a hint.
 */
export async function readPassphrase(purpose: string, opts?: { confirm?: boolean }): Promise<string> {
  const file = process.env[PASSPHRASE_FILE_ENV];
  if (file !== undefined && file !== "") return readPassphraseFile(file);
  return promptOnTerminal(purpose, opts?.confirm === true);
}

function readPassphraseFile(file: string): string {
  let text: string;
  try {
    const fd = openSync(file, "r");
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw configError(`${PASSPHRASE_FILE_ENV} names ${file}, which is not a regular file`);
      if (st.size > 64 * 1024) throw configError(`${PASSPHRASE_FILE_ENV} names ${file}, which is too large for a passphrase file`);
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof IsnadError) throw err;
    const code = errnoCode(err);
    const what = code === "ENOENT" ? "which does not exist" : `which cannot be read (${messageOf(err)})`;
    throw configError(`${PASSPHRASE_FILE_ENV} names ${file}, ${what}`, { cause: err });
  }
  const nl = text.indexOf("\n");
  let line = nl === -1 ? text : text.slice(0, nl);
  if (nl !== -1 && line.endsWith("\r")) line = line.slice(0, -1);
  if (line === "") throw configError(`passphrase file ${file} (${PASSPHRASE_FILE_ENV}) is empty; its first line is the passphrase`);
  return line;
}

function noTerminal(purpose: string): IsnadError {
  return configError(
    `a passphrase is needed for ${purpose} but there is no terminal; set ${PASSPHRASE_FILE_ENV} to a file holding it`,
  );
}

async function promptOnTerminal(purpose: string, confirm: boolean): Promise<string> {
  let fd: number;
  try {
    // Fails with ENXIO when the process has no controlling terminal (cron, setsid, CI).
    fd = openSync("/dev/tty", "r+");
  } catch {
    throw noTerminal(purpose);
  }
  if (!isatty(fd)) {
    closeSync(fd);
    throw noTerminal(purpose);
  }
  try {
    const first = await readHidden(fd, `Enter passphrase for ${purpose}: `);
    if (first === "") throw usageError("empty passphrase; nothing was entered");
    if (confirm) {
      const second = await readHidden(fd, `Confirm passphrase for ${purpose}: `);
      if (second !== first) throw usageError("the two passphrases did not match");
    }
    return first;
  } finally {
    closeSync(fd);
  }
}

/**
 * Shows prompt on the terminal (written to fd), reads one line with echo off (raw mode), then
 * erases the prompt. Handles backspace, Ctrl-U (clear), Enter; Ctrl-C and Ctrl-D cancel with a
 * usage error. The terminal mode is restored on every path, including process exit mid-prompt.
 */
async function readHidden(fd: number, prompt: string): Promise<string> {
  // A read fd of its own for the tty handle. libuv normally reopens the tty for its handle (so
  // O_NONBLOCK does not leak to other users) and closes only that copy on destroy; if it could
  // not, the handle owns rfd and closes it itself. Look at which fd the handle uses to know.
  const rfd = openSync("/dev/tty", "r");
  let input: ReadStream;
  try {
    input = new ReadStream(rfd);
  } catch (err) {
    closeSync(rfd);
    throw configError(`cannot read the terminal: ${messageOf(err)}`, { cause: err });
  }
  const handleFd = (input as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  const restore = (): void => {
    try {
      input.setRawMode(false);
    } catch {
      // the handle is already gone
    }
  };
  process.once("exit", restore);
  const write = (s: string): void => {
    try {
      writeSync(fd, s);
    } catch {
      // the terminal went away; reading will end too
    }
  };
  try {
    input.setRawMode(true);
    write(prompt);
    return await new Promise<string>((resolve, reject) => {
      const decoder = new StringDecoder("utf8");
      let typed = "";
      const finish = (err: Error | undefined): void => {
        input.off("data", onData);
        input.off("end", onEnd);
        input.off("error", onError);
        input.pause();
        if (err === undefined) resolve(typed);
        else reject(err);
      };
      const onData = (chunk: Buffer): void => {
        for (const ch of decoder.write(chunk)) {
          if (ch === "\r" || ch === "\n") return finish(undefined);
          if (ch === "\u0003" || ch === "\u0004") return finish(usageError("passphrase entry cancelled"));
          if (ch === "\u007f" || ch === "\b") typed = Array.from(typed).slice(0, -1).join("");
          else if (ch === "\u0015") typed = "";
          else if (ch >= " " || ch === "\t") typed += ch;
          if (typed.length > MAX_PASSPHRASE_CHARS) return finish(usageError("passphrase too long"));
        }
      };
      const onEnd = (): void => finish(usageError("passphrase entry cancelled: the terminal closed"));
      const onError = (err: Error): void =>
        finish(configError(`cannot read the terminal: ${err.message}`, { cause: err }));
      input.on("data", onData);
      input.on("end", onEnd);
      input.on("error", onError);
      input.resume();
    });
  } finally {
    restore();
    process.off("exit", restore);
    // Erase the prompt line: nothing typed was echoed, so one line holds all of it.
    write("\r\u001b[2K");
    await new Promise<void>((resolve) => {
      input.once("close", () => resolve());
      input.destroy();
    });
    // Close rfd only when the handle used a copy of it (handleFd a number other than rfd); if
    // unknown, leaking one fd is better than closing a number that may have been reused.
    if (typeof handleFd === "number" && handleFd !== rfd) closeSync(rfd);
  }
}
