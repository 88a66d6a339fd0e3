import { homedir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultSigningKeyPath, userCacheDir, userConfigDir } from "../../src/keys/index.js";

const saved = { config: process.env.XDG_CONFIG_HOME, cache: process.env.XDG_CACHE_HOME };
function restore(name: string, v: string | undefined): void {
  if (v === undefined) delete process.env[name];
  else process.env[name] = v;
}
afterEach(() => {
  restore("XDG_CONFIG_HOME", saved.config);
  restore("XDG_CACHE_HOME", saved.cache);
});

describe("paths", () => {
  it("follows XDG_CONFIG_HOME and XDG_CACHE_HOME", () => {
    process.env.XDG_CONFIG_HOME = "/x/conf";
    process.env.XDG_CACHE_HOME = "/x/cache";
    expect(userConfigDir()).toBe("/x/conf/isnad");
    expect(userCacheDir()).toBe("/x/cache/isnad");
    expect(defaultSigningKeyPath("0123456789abcdef0123456789abcdef")).toBe(
      "/x/conf/isnad/signing/0123456789abcdef0123456789abcdef.key",
    );
  });

  it("falls back to ~/.config and ~/.cache when unset, empty or relative", () => {
    for (const v of [undefined, "", "relative/dir"]) {
      restore("XDG_CONFIG_HOME", v);
      restore("XDG_CACHE_HOME", v);
      expect(userConfigDir()).toBe(join(homedir(), ".config", "isnad"));
      expect(userCacheDir()).toBe(join(homedir(), ".cache", "isnad"));
    }
  });

  it("refuses a repository id that could leave the folder", () => {
    expect(() => defaultSigningKeyPath("../../etc/passwd")).toThrow(/cannot name a key file/);
    expect(() => defaultSigningKeyPath("")).toThrow(/cannot name a key file/);
  });
});
