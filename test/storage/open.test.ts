/** openStorage picks the backend from the location, and loads an off-site backend only when used. */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.js";
import { locationScheme, openStorage } from "../../src/storage/open.js";
import { LocalStorage } from "../../src/storage/local.js";
import { tempDir } from "./conformance.js";

describe("openStorage", () => {
  it("tells URLs from paths", () => {
    expect(locationScheme("s3://b/p")).toBe("s3");
    expect(locationScheme("rclone:remote:path")).toBe("rclone");
    expect(locationScheme("/backup/repo")).toBeUndefined();
    expect(locationScheme("./odd:name")).toBeUndefined();
    expect(locationScheme("C:/x")).toBeUndefined(); // one letter: a drive, not a scheme
  });

  it("a plain path is a local folder; an unknown scheme is a config error", async () => {
    expect(await openStorage(tempDir("isnad-open-"))).toBeInstanceOf(LocalStorage);
    await expect(openStorage("ftp://host/x")).rejects.toThrow(/the ftp backend is not available/);
  });

  it("a local repository never loads the AWS SDK (it costs half a second)", () => {
    const script = `
      import { createRequire } from "node:module";
      const { openStorage } = await import("./dist/src/storage/open.js");
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes("@aws-sdk"));
      await openStorage(${JSON.stringify(tempDir("isnad-open-"))});
      const afterLocal = loaded();
      await import("./dist/src/storage/s3.js").then((m) => m.parseS3Location("s3://some-bucket/x"));
      await import("@aws-sdk/client-s3");
      console.log(JSON.stringify({ afterLocal, afterS3: loaded() }));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ afterLocal: false, afterS3: true });
  });
});
