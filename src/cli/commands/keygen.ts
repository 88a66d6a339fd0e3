/** isnad keygen: writes a new age identity file and prints its recipient. */
import path from "node:path";
import { encryptIdentityFile, formatIdentityFile, generateIdentity, readPassphrase, writeKeyFile } from "../../keys/index.js";
import type { Context } from "../context.js";

/** As parsed by its command line in ../program.ts. */
export interface KeygenOptions {
  output: string;
  classic?: boolean;
  passphrase?: boolean;
}

export async function action(ctx: Context, opts: KeygenOptions): Promise<void> {
  const kind = opts.classic ? "classic" : "hybrid";
  const { identity, recipient } = await generateIdentity(kind);
  let text = formatIdentityFile(identity, recipient, new Date());
  if (opts.passphrase) {
    const pass = await readPassphrase(`new identity file ${opts.output}`, { confirm: true });
    text = await encryptIdentityFile(text, pass);
  }
  const file = path.resolve(opts.output);
  await writeKeyFile(file, text);
  ctx.log.info({ file, kind, recipient: recipient.slice(0, 24) + "…" }, "identity written");
  ctx.out.result({ file, kind, recipient, passphrase: !!opts.passphrase });
  ctx.out.line(`identity written to ${file} (${kind}${opts.passphrase ? ", passphrase-protected" : ""})`);
  ctx.out.line(`keep it OFF the backed-up server; give isnad init this recipient:`);
  if (!ctx.out.json) process.stdout.write(`${recipient}\n`);
}
