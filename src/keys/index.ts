/**
 * src/keys: the only code that reads or writes key files — age identities and recipients, the
 * passphrase that protects an identity file, and the Ed25519 snapshot-signing key.
 */
export type { KeyKind, EncryptIdentityOptions } from "./identity.js";
export {
  encryptIdentityFile,
  formatIdentityFile,
  generateIdentity,
  loadIdentities,
  recipientOf,
  writeKeyFile,
} from "./identity.js";
export { PASSPHRASE_FILE_ENV, readPassphrase } from "./passphrase.js";
export { parseRecipient, readRecipientsFile } from "./recipients.js";
export type { Signer } from "./signer.js";
export { generateSignerPem, loadSigner, publicKeyPem, signerFingerprint, verifyEd25519 } from "./signer.js";
export { defaultSigningKeyPath, userCacheDir, userConfigDir } from "./paths.js";
