/**
 * Repository layout (src/format/layout.ts): which key each object gets, and reading ids back from
 * keys. A key that does not have exactly the shape the writer gives is not recognised.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  isObjectId,
  isSnapshotId,
  LOCKS_PREFIX,
  MANIFESTS_PREFIX,
  manifestKey,
  objectIdOfKey,
  PACKS_PREFIX,
  packKey,
  REPO_CONFIG_KEY,
  SEALS_PREFIX,
  sealKey,
  snapshotIdOfKey,
} from "../../src/format/layout.js";

const ids = ["0", "1", "2", "ff", "a5"].map((s) => createHash("sha256").update(s).digest("hex"));
const ID = ids[0]!;
const SNAP = "5e0c2b9a7f314d68";

describe("constants", () => {
  it("name the folders of docs/FORMAT.md", () => {
    expect([REPO_CONFIG_KEY, SEALS_PREFIX, MANIFESTS_PREFIX, PACKS_PREFIX, LOCKS_PREFIX]).toEqual([
      "isnad.json",
      "snapshots/",
      "manifests/",
      "packs/",
      "locks/",
    ]);
  });
});

describe("ids", () => {
  it("an object id is 64 lower-case hex digits", () => {
    expect(isObjectId(ID)).toBe(true);
    for (const bad of [ID.toUpperCase(), ID.slice(1), `${ID}0`, `${ID.slice(1)}g`, "", ` ${ID.slice(1)}`, `${ID}\n`]) {
      expect(isObjectId(bad), JSON.stringify(bad)).toBe(false);
    }
  });
  it("a snapshot id is 16 lower-case hex digits", () => {
    expect(isSnapshotId(SNAP)).toBe(true);
    for (const bad of [SNAP.toUpperCase(), SNAP.slice(1), `${SNAP}0`, "5e0c2b9a7f314d6g", "", `${SNAP}\n`]) {
      expect(isSnapshotId(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe("seal keys", () => {
  it("sealKey and snapshotIdOfKey round trip", () => {
    expect(sealKey(SNAP)).toBe(`snapshots/${SNAP}.seal.json`);
    expect(snapshotIdOfKey(sealKey(SNAP))).toBe(SNAP);
    for (let i = 0; i < 20; i++) {
      const id = createHash("sha256").update(String(i)).digest("hex").slice(0, 16);
      expect(snapshotIdOfKey(sealKey(id))).toBe(id);
    }
  });

  it.each([
    `snapshots/${SNAP.toUpperCase()}.seal.json`,
    `snapshots/${SNAP.slice(1)}.seal.json`,
    `snapshots/${SNAP}0.seal.json`,
    `snapshots/${SNAP}.seal.json.tmp`,
    `snapshots/${SNAP}.seal`,
    `snapshots/x/${SNAP}.seal.json`,
    `/snapshots/${SNAP}.seal.json`,
    `x/snapshots/${SNAP}.seal.json`,
    `manifests/${SNAP}.seal.json`,
    `snapshots/${SNAP}.seal.json\n`,
  ])("snapshotIdOfKey(%j) is undefined", (key) => {
    expect(snapshotIdOfKey(key)).toBeUndefined();
  });
});

describe("manifest and pack keys", () => {
  it("manifestKey round trips through objectIdOfKey", () => {
    for (const id of ids) {
      expect(manifestKey(id)).toBe(`manifests/${id}.age`);
      expect(objectIdOfKey(manifestKey(id))).toEqual({ kind: "manifest", id });
    }
  });

  it("packKey fans out by the first two hex digits and round trips through objectIdOfKey", () => {
    for (const id of ids) {
      expect(packKey(id)).toBe(`packs/${id.slice(0, 2)}/${id}.age`);
      expect(objectIdOfKey(packKey(id))).toEqual({ kind: "pack", id });
    }
  });

  it("objectIdOfKey rejects a pack in the wrong fan-out folder", () => {
    const wrong = ID.startsWith("00") ? "01" : "00";
    expect(objectIdOfKey(`packs/${wrong}/${ID}.age`)).toBeUndefined();
    // The right folder name, reversed, is still wrong.
    const reversed = `${ID[1]}${ID[0]}`;
    if (reversed !== ID.slice(0, 2)) expect(objectIdOfKey(`packs/${reversed}/${ID}.age`)).toBeUndefined();
    // Moving a pack into another pack's folder is detected for every id.
    for (const id of ids) {
      for (const other of ids) {
        if (other.slice(0, 2) === id.slice(0, 2)) continue;
        expect(objectIdOfKey(`packs/${other.slice(0, 2)}/${id}.age`)).toBeUndefined();
      }
    }
  });

  it.each([
    ["a pack without its fan-out folder", `packs/${ID}.age`],
    ["a pack in a three-digit folder", `packs/${ID.slice(0, 3)}/${ID}.age`],
    ["a pack in an upper-case folder", `packs/${ID.slice(0, 2).toUpperCase()}/${ID}.age`],
    ["an upper-case pack id", `packs/${ID.slice(0, 2)}/${ID.toUpperCase()}.age`],
    ["a short pack id", `packs/${ID.slice(0, 2)}/${ID.slice(0, 63)}.age`],
    ["a pack without .age", `packs/${ID.slice(0, 2)}/${ID}`],
    ["a partial upload", `packs/${ID.slice(0, 2)}/${ID}.age.tmp`],
    ["a manifest in a fan-out folder", `manifests/${ID.slice(0, 2)}/${ID}.age`],
    ["a manifest with an upper-case id", `manifests/${ID.toUpperCase()}.age`],
    ["a manifest without .age", `manifests/${ID}`],
    ["a leading slash", `/manifests/${ID}.age`],
    ["a seal", sealKey(SNAP)],
    ["the config", REPO_CONFIG_KEY],
    ["a lock", `${LOCKS_PREFIX}${ID}`],
    ["a trailing newline", `manifests/${ID}.age\n`],
  ])("objectIdOfKey rejects %s", (_what, key) => {
    expect(objectIdOfKey(key)).toBeUndefined();
  });
});
