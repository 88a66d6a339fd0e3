/**
 * The local-folder backend. Writes go to <repo>/tmp/ first, are fsynced, then hard-linked to their
 * final name: link(2) fails if the name exists, which gives "never overwrite" atomically, and the
 * folder is fsynced so the new name survives a crash.
 */
import * as fs from "node:fs/promises";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { errnoCode } from "../errors.js";
import { type ObjectInfo, type PutResult, type Storage, StorageError } from "./storage.js";

export const LOCAL_STAGING = "tmp";

export class LocalStorage implements Storage {
  readonly location: string;
  readonly localRoot: string;

  constructor(readonly root: string) {
    this.location = root;
    this.localRoot = root;
  }

  private abs(key: string): string {
    if (key.split("/").some((s) => s === ".." || s === "") || path.isAbsolute(key))
      throw new StorageError(`internal: bad storage key ${JSON.stringify(key)}`);
    return path.join(this.root, ...key.split("/"));
  }

  async stagingDir(): Promise<string> {
    const dir = path.join(this.root, LOCAL_STAGING);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async putFile(key: string, localPath: string): Promise<PutResult> {
    const dest = this.abs(key);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    try {
      await fs.link(localPath, dest);
    } catch (e) {
      if (errnoCode(e) === "EEXIST") {
        await fs.rm(localPath, { force: true });
        return "exists";
      }
      if (errnoCode(e) === "EXDEV") return this.copyIn(localPath, dest);
      throw new StorageError(`cannot write ${dest}: ${(e as Error).message}`, { cause: e });
    }
    await fs.rm(localPath, { force: true });
    await fsyncDir(path.dirname(dest));
    return "created";
  }

  /** Fallback when the staging file lives on another file system. */
  private async copyIn(localPath: string, dest: string): Promise<PutResult> {
    const tmp = await this.tempName();
    await fs.copyFile(localPath, tmp);
    await fsyncFile(tmp);
    await fs.rm(localPath, { force: true });
    return this.putFile(path.relative(this.root, dest).split(path.sep).join("/"), tmp);
  }

  private async tempName(): Promise<string> {
    return path.join(await this.stagingDir(), `put-${process.pid}-${randomBytes(6).toString("hex")}`);
  }

  async putBytes(key: string, data: Uint8Array): Promise<PutResult> {
    const tmp = await this.tempName();
    await writeDurably(tmp, data);
    return this.putFile(key, tmp);
  }

  async replaceBytes(key: string, data: Uint8Array): Promise<void> {
    const dest = this.abs(key);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    const tmp = await this.tempName();
    await writeDurably(tmp, data);
    await fs.rename(tmp, dest);
    await fsyncDir(path.dirname(dest));
  }

  async get(key: string): Promise<Readable> {
    const p = this.abs(key);
    // Open first so a missing object fails here rather than later inside a pipeline.
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(p, "r");
    } catch (e) {
      throw this.wrap(e, key);
    }
    return fh.createReadStream({ highWaterMark: 1 << 20 });
  }

  async readBytes(key: string, maxBytes: number): Promise<Buffer> {
    const p = this.abs(key);
    try {
      const st = await fs.stat(p);
      if (st.size > maxBytes) throw new StorageError(`${key} is ${st.size} bytes, more than the ${maxBytes} expected`);
      return await fs.readFile(p);
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw this.wrap(e, key);
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fs.stat(this.abs(key));
      return st.isFile() ? { key, size: st.size } : undefined;
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw this.wrap(e, key);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const trimmed = prefix.replace(/\/+$/, "");
    const base = trimmed === "" ? this.root : this.abs(trimmed);
    let dirents;
    try {
      dirents = await fs.readdir(base, { recursive: true, withFileTypes: true });
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw this.wrap(e, prefix);
    }
    for (const d of dirents) {
      if (!d.isFile()) continue;
      const abs = path.join(d.parentPath, d.name);
      const key = path.relative(this.root, abs).split(path.sep).join("/");
      const st = await fs.stat(abs).catch(() => undefined);
      if (st) yield { key, size: st.size };
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.abs(key), { force: true });
  }

  private wrap(e: unknown, key: string): StorageError {
    const code = errnoCode(e);
    if (code === "ENOENT") return new StorageError(`${key} is missing from ${this.root}`, { cause: e, notFound: true });
    return new StorageError(`cannot read ${key} in ${this.root}: ${(e as Error).message}`, { cause: e });
  }
}

export async function writeDurably(file: string, data: Uint8Array): Promise<void> {
  const fh = await fs.open(file, "wx", 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await fs.open(file, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
