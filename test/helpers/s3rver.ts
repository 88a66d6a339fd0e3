/**
 * A real S3-protocol server for tests: s3rver (LIBRARIES.md §8) run as a subprocess on
 * 127.0.0.1, so a test can kill it mid-upload and start it again on the same port and folder.
 * s3rver has no authentication, no Object Lock and no conditional writes: tests assert what the
 * client SENDS for those through a recording proxy (startRecorder below).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { ROOT } from "./cli.js";

/** s3rver's own example credentials; s3rver accepts any. */
export const S3RVER_ENV = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };

const SERVER_SCRIPT = `
import S3rver from "s3rver";
const [dir, port, buckets] = process.argv.slice(1);
const server = new S3rver({ address: "127.0.0.1", port: Number(port), silent: true, directory: dir,
  configureBuckets: buckets ? buckets.split(",").map((name) => ({ name, configs: [] })) : [] });
const { port: bound } = await server.run();
process.stdout.write(JSON.stringify({ port: bound }) + "\\n");
process.on("SIGTERM", () => server.close().finally(() => process.exit(0)));
`;

export interface S3rverHandle {
  port: number;
  endpoint: string;
  dir: string;
  /** Kills the server at once (SIGKILL), as a crash or a dropped link would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder (after kill). */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

async function launch(dir: string, port: number, buckets: string[]): Promise<{ child: ChildProcess; port: number }> {
  // s3rver makes ListObjectsV2 continuation tokens with DES, which Node 20's OpenSSL 3 only has in its legacy provider.
  const child = spawn(process.execPath, ["--openssl-legacy-provider", "--input-type=module", "-e", SERVER_SCRIPT, dir, String(port), buckets.join(",")], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const lines = createInterface({ input: child.stdout! });
  const bound = await new Promise<number>((resolve, reject) => {
    lines.once("line", (l) => resolve((JSON.parse(l) as { port: number }).port));
    child.once("exit", (code) => reject(new Error(`s3rver exited (${code}) before listening: ${stderr}`)));
  });
  return { child, port: bound };
}

export async function startS3rver(opts: { buckets?: string[] } = {}): Promise<S3rverHandle> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "isnad-s3rver-"));
  const buckets = opts.buckets ?? [];
  let { child, port } = await launch(dir, 0, buckets);
  const dead = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
  const killNow = async () => {
    if (dead(child)) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
  };
  return {
    get port() {
      return port;
    },
    get endpoint() {
      return `http://127.0.0.1:${port}`;
    },
    dir,
    kill: killNow,
    restart: async () => {
      await killNow();
      ({ child, port } = await launch(dir, port, []));
    },
    stop: async () => {
      await killNow();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface Recorder {
  port: number;
  endpoint: string;
  requests: RecordedRequest[];
  /** Bytes of request bodies forwarded so far. */
  bytesUp(): number;
  /** Called with the running total after each forwarded request-body chunk. */
  onBytes?: (total: number) => void;
  /** Answers a request itself instead of forwarding it (to play a server refusing credentials). */
  intercept?: (req: RecordedRequest) => { status: number; body?: string } | undefined;
  close(): Promise<void>;
}

/** A loopback HTTP proxy in front of the server: records every request line and header. */
export async function startRecorder(targetPort: number): Promise<Recorder> {
  let total = 0;
  const rec: Recorder = {
    port: 0,
    endpoint: "",
    requests: [],
    bytesUp: () => total,
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = http.createServer((req, res) => {
    const recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
    rec.requests.push(recorded);
    const canned = rec.intercept?.(recorded);
    if (canned) {
      req.resume();
      res.writeHead(canned.status, { "content-type": "application/xml" });
      res.end(req.method === "HEAD" ? undefined : canned.body);
      return;
    }
    const up = http.request(
      { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.on("data", (c: Buffer) => {
      total += c.length;
      rec.onBytes?.(total);
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  rec.port = (server.address() as { port: number }).port;
  rec.endpoint = `http://127.0.0.1:${rec.port}`;
  const close = rec.close;
  rec.close = async () => {
    server.closeAllConnections();
    await close();
  };
  return rec;
}
