/** isnad init: creates a repository and the snapshot-signing key kept outside it. */
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
import { findConfig, openRepoStorage, type Context } from "../context.js";

/** As parsed by its command line in ../program.ts. */
export interface InitOptions {
  recipient: string[];
  recipientsFile?: string;
  signingKey?: string;
}

export async function action(ctx: Context, opts: InitOptions): Promise<void> {
  const config = await findConfig(ctx);
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
  const storage = await openRepoStorage(ctx, config);
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
}
