/** isnad keygen: writes a new age identity file and prints its recipient. */
import { Command } from "@commander-js/extra-typings";
import path from "node:path";
import { encryptIdentityFile, formatIdentityFile, generateIdentity, readPassphrase, writeKeyFile } from "../../keys/index.js";
import type { Context } from "../context.js";

export function keygenCommand(run: (fn: (ctx: Context) => Promise<void>) => Promise<void>) {
  return new Command("keygen")
    .description("create an age identity (private key) file and print its recipient (public key)")
    .requiredOption("-o, --output <file>", "where to write the identity file (refuses to overwrite)")
    .option("--classic", "X25519 key readable by any age (default: hybrid post-quantum ML-KEM-768 + X25519)")
    .option("--passphrase", "encrypt the identity file with a passphrase, as `age -p` would")
    .action((opts) =>
      run(async (ctx) => {
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
      }),
    );
}
