/** Taking the repository lock from a command, with what happens meanwhile in the log. */
import { acquireLock, describeHolder, type RepositoryLock } from "../repo/lock.js";
import type { Repository } from "../repo/repository.js";
import type { Context } from "./context.js";

export function takeLock(ctx: Context, repo: Repository, command: string, waitMs: number): Promise<RepositoryLock> {
  return acquireLock(repo, {
    command,
    waitMs,
    onEvent: (e) => {
      if (e.type === "waiting") ctx.log.info({ holder: e.holder }, `waiting for ${describeHolder(e.holder)}`);
      else if (e.type === "host-local") {
        ctx.log.warn({ folder: e.folder }, `the repository is append-only: locking in ${e.folder} on this host only; runs on other hosts are not excluded`);
      } else ctx.log.warn({ holder: e.holder }, `took over a stale lock: ${e.why}`);
    },
  });
}
