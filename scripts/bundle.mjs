/**
 * The second step of `npm run build`, after tsc: bundles the CLI (bin/isnad.ts and everything it
 * imports) with esbuild into dist/bin/, replacing tsc's dist/bin/isnad.js.
 *
 * Why: every command pays for loading its modules. Node 20 reads, compiles and links each file
 * of the ~130-220 a command loads (95 of them zod's) one by one; one bundle costs less.
 *
 * Layout:
 *   dist/bin/isnad.js      the entry (package.json "bin", test/helpers/cli.ts, bench); the shebang
 *                          line of bin/isnad.ts is kept as its first line.
 *   dist/bin/chunk-*.js    modules loaded with `await import()` (each command, typage, the off-site
 *                          backends...) and code they share: lazy loading works as before.
 *   dist/bin/<name>.js     each src/**\/<name>-thread.ts, bundled as its own entry, for worker
 *                          threads. Every output file is in dist/bin/, so from any of them
 *                          `new Worker(new URL("./<name>-thread.js", import.meta.url))` finds the
 *                          thread's file, as it does next to the module in tsc's dist/src/. Names
 *                          of thread files must therefore be unique across src/.
 * tsc's dist/src/ and dist/bench/ stay as they are: tests import dist/src/ modules directly, and
 * `tsc` alone still gives a working (unbundled) dist/bin/isnad.js.
 *
 * Left out of the bundle and loaded from node_modules at run time: packages with native code or
 * loaded only for one backend (zstd-napi, ssh2-sftp-client, @aws-sdk/*), and pino-pretty, which
 * log.ts loads with require() only on a terminal.
 */
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist/bin");

const threads = readdirSync(path.join(root, "src"), { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith("-thread.ts"))
  .map((f) => path.join("src", f));
const names = threads.map((f) => path.basename(f, ".ts"));
const twice = names.find((n, i) => names.indexOf(n) !== i);
if (twice) throw new Error(`two worker thread files are named ${twice}.ts: they would both be dist/bin/${twice}.js`);

// dist/bin/ holds the bundle alone (tsc's unbundled isnad.js and older chunks go); the rest of dist/ is tsc's.
rmSync(outdir, { recursive: true, force: true });

await esbuild.build({
  absWorkingDir: root,
  entryPoints: ["bin/isnad.ts", ...threads],
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  external: ["zstd-napi", "ssh2-sftp-client", "@aws-sdk/*", "pino-pretty"],
  // Bundled CommonJS packages (pino, yaml, commander) call require() for Node's own modules.
  banner: { js: 'import { createRequire as __isnadCreateRequire } from "node:module"; const require = __isnadCreateRequire(import.meta.url);' },
  sourcemap: "linked",
  logLevel: "warning",
});
