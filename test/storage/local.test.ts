/** The local-folder backend against the shared storage contract. */
import * as fs from "node:fs";
import { LocalStorage } from "../../src/storage/local.js";
import { storageConformance, tempDir } from "./conformance.js";

storageConformance("local folder", async () => {
  const root = tempDir("isnad-local-");
  return {
    storage: new LocalStorage(root),
    cleanup: async () => fs.rmSync(root, { recursive: true, force: true }),
  };
});
