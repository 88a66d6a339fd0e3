/** isnad init: creates a repository and the snapshot-signing key kept outside it. */
import { Command } from "@commander-js/extra-typings";
import path from "node:path";
import {
  defaultSigningKeyPath,
  generateSignerPem,
  loadSigner,
  parseRecipient,
  publicKeyPem,
  readRecipientsFile,
  signerFingerprint,
  writeKeyFile,
} from "../../keys/index.js";
import { usageError } from "../../errors.js";
import { initRepository } from "../../repo/repository.js";
import { findConfig, openStorageFor, repoLocation, type Context } from "../context.js";

const collect = (v: string, prev: string[]) => [...prev, v];

export function initCommand(run: (fn: (ctx: Context) => Promise<void>) => Promise<void>) {
  return new Command("init")
    .description("create a repository; needs only public keys")
    .option("-r, --recipient <age1…>", "age recipient to encrypt to (repeatable)", collect, [] as string[])
    .option("-R, --recipients-file <file>", "file of recipients, one per line (as age -R)")
    .option("--signing-key <file>", "where to write the snapshot-signing key (default: user config dir)")
    .action((opts) =>
      run(async (ctx) => {
        const config = await findConfig(ctx);
        const location = repoLocation(ctx, config);
        const recipients: string[] = [];
        for (const r of opts.recipient) recipients.push(await parseRecipient(r, "--recipient"));
        const rfile = opts.recipientsFile ? path.resolve(opts.recipientsFile) : config?.recipientsFile;
        if (rfile) recipients.push(...(await readRecipientsFile(rfile)));
        if (recipients.length === 0) {
          throw usageError("init needs at least one recipient", "pass --recipient age1… (from isnad keygen) or --recipients-file FILE");
        }
        const unique = [...new Set(recipients)];
        if (!unique.some((r) => !r.startsWith("age1pq1"))) {
          ctx.log.warn("no classic X25519 recipient: Go age 1.1 (Debian's) cannot open packs encrypted only to post-quantum recipients");
        }
        const storage = await openStorageFor(ctx, location, config);
        const { privatePem, publicKey } = generateSignerPem();
        const fingerprint = signerFingerprint(publicKey);
        const repo = await initRepository(storage, { recipients: unique, signerPublicKey: publicKey, signerFingerprint: fingerprint });
        const keyPath = opts.signingKey ? path.resolve(opts.signingKey) : (config?.signingKey ?? defaultSigningKeyPath(repo.config.id));
        try {
          await writeKeyFile(keyPath, privatePem);
        } catch (e) {
          await storage.delete("isnad.json"); // leave no repository whose signing key was never saved
          throw e;
        }
        await loadSigner(keyPath);
        const result = { repository: storage.location, id: repo.config.id, recipients: unique, signer: { fingerprint, key: keyPath, publicKeyPem: publicKeyPem(publicKey) } };
        ctx.log.info({ repository: storage.location, id: repo.config.id, signer: fingerprint }, "repository created");
        ctx.out.result(result);
        ctx.out.line(`repository created at ${storage.location} (id ${repo.config.id})`);
        ctx.out.line(`encrypting to ${unique.length} recipient${unique.length > 1 ? "s" : ""}`);
        ctx.out.line(`snapshot-signing key: ${keyPath}  (keep it; it never goes in the repository)`);
        ctx.out.line(`signer fingerprint:   ${fingerprint}`);
        ctx.out.line(`record the fingerprint somewhere safe: isnad verify --signer ${fingerprint} proves seals came from this key`);
      }),
    );
}
