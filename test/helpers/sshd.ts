/**
 * A throw-away OpenSSH sshd on 127.0.0.1 for the SFTP tests (LIBRARIES.md §9): its own host key,
 * a client key authorised for the current user, key-only login, internal-sftp. It listens on two
 * free ports: `port` is a normal account, `appendPort` the same user through
 * `ForceCommand internal-sftp -P remove,rmdir,rename,posix-rename,setstat,fsetstat` (an
 * append-only account: create and write, never delete, rename or chmod). `knownHosts` holds the
 * host key for both ports.
 *
 * If sshd is missing the tests that need it skip loudly, and fail when CI=true (.ci/run installs
 * openssh-server).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const SSHD = "/usr/sbin/sshd";

/** Whether sshd exists; warns loudly when it does not. */
export function haveSshd(): boolean {
  const ok = existsSync(SSHD) && spawnSync("ssh-keygen", ["-?"], { stdio: "ignore" }).error === undefined;
  if (!ok) {
    console.warn(
      `!!! ${SSHD} (openssh-server) is not installed: SFTP tests ${process.env["CI"] === "true" ? "FAIL (CI=true)" : "are SKIPPED"}; .ci/run installs it`,
    );
  }
  return ok;
}

/** For describe.skipIf: skip only outside CI; in CI the tests run and fail on the missing sshd. */
export const skipWithoutSshd = (): boolean => !haveSshd() && process.env["CI"] !== "true";

export const APPEND_ONLY_FLAGS = "remove,rmdir,rename,posix-rename,setstat,fsetstat";

export class TestSshd {
  readonly user = os.userInfo().username;
  port = 0;
  appendPort = 0;
  private pid = 0;

  private constructor(readonly dir: string) {}

  get hostKeyFile(): string {
    return path.join(this.dir, "host_ed25519");
  }
  get clientKey(): string {
    return path.join(this.dir, "client_ed25519");
  }
  get knownHosts(): string {
    return path.join(this.dir, "known_hosts");
  }
  get log(): string {
    return path.join(this.dir, "sshd.log");
  }

  /** sftp://user@127.0.0.1:port/<remotePath> (remotePath absolute). */
  url(remotePath: string, opts?: { appendOnly?: boolean }): string {
    return `sftp://${this.user}@127.0.0.1:${opts?.appendOnly ? this.appendPort : this.port}${remotePath}`;
  }

  static async start(): Promise<TestSshd> {
    const dir = mkdtempSync(path.join(os.tmpdir(), "isnad-sshd-"));
    const s = new TestSshd(dir);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "isnad-test-host", "-f", s.hostKeyFile]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "isnad-test-client", "-f", s.clientKey]);
    writeFileSync(path.join(dir, "authorized_keys"), readFileSync(`${s.clientKey}.pub`), { mode: 0o600 });
    s.port = await freePort();
    s.appendPort = await freePort();
    while (s.appendPort === s.port) s.appendPort = await freePort();
    s.writeKnownHosts();
    await s.launch();
    return s;
  }

  writeKnownHosts(hostKeyPub = readFileSync(`${this.hostKeyFile}.pub`, "utf8")): void {
    const [type, b64] = hostKeyPub.trim().split(/\s+/);
    writeFileSync(this.knownHosts, `[127.0.0.1]:${this.port} ${type} ${b64}\n[127.0.0.1]:${this.appendPort} ${type} ${b64}\n`);
  }

  private async launch(): Promise<void> {
    try {
      mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // the privilege-separation folder sshd insists on
    } catch {
      /* not root: sshd then runs without privilege separation */
    }
    const config = path.join(this.dir, "sshd_config");
    writeFileSync(
      config,
      [
        `Port ${this.port}`,
        `Port ${this.appendPort}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${this.hostKeyFile}`,
        `PidFile ${path.join(this.dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${path.join(this.dir, "authorized_keys")}`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "UsePAM no",
        "StrictModes no",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        `Match LocalPort ${this.appendPort}`,
        `  ForceCommand internal-sftp -P ${APPEND_ONLY_FLAGS}`,
        "",
      ].join("\n"),
    );
    execFileSync(SSHD, ["-t", "-f", config]);
    // -D: stay in the foreground as our child, so its pid is known without a pid file race.
    const { spawn } = await import("node:child_process");
    const child = spawn(SSHD, ["-D", "-f", config, "-E", this.log], { stdio: "ignore", detached: false });
    this.pid = child.pid!;
    child.unref();
    await waitForPort(this.port);
    await waitForPort(this.appendPort);
  }

  /** SIGKILLs sshd and every session process under it: every connection drops at once. */
  kill(): void {
    if (this.pid === 0) return;
    for (const pid of [...descendants(this.pid), this.pid]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    this.pid = 0;
  }

  /** Starts sshd again on the same ports with the same keys. */
  async restart(): Promise<void> {
    this.kill();
    await waitForPortClosed(this.port);
    await this.launch();
  }

  stop(): void {
    this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await tryConnect(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not start listening on 127.0.0.1:${port}`);
}

async function waitForPortClosed(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (!(await tryConnect(port))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every process below `pid`, from /proc (sshd forks one or two per connection). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}
