/**
 * Removal records (src/format/removal.ts): like seals, the only encoding a reader accepts is
 * canonicalJson({removal, signature}) plus one newline, and the signature covers
 * canonicalJson(removal body) exactly.
 *
 * Golden vectors in test/vectors/removal/: valid.removal.json is BODY below signed with the same
 * public test key as the seal vectors (seed: SHA-256 of SEED_TEXT; never use it for real data);
 * signer.pub.pem is a copy of its SPKI public key so the auditor's command line below runs from
 * that folder. Ed25519 is deterministic: re-signing BODY must give the committed file byte for
 * byte. The other files are one failure each; REMOVAL_VECTORS maps each to the expected error.
 *
 * An auditor checks a record with standard tools (run by the test below, from test/vectors/removal/):
 *
 *   jq -cjS .removal valid.removal.json > body &&
 *   jq -r .signature valid.removal.json | base64 -d > sig &&
 *   openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in body -sigfile sig
 *
 * and that a removed seal is the one named: `sha256sum` of a kept copy of the seal file equals
 * the stub's `seal_sha256` (jq -r '.removal.removed[] | "\(.seal_sha256)  \(.snapshot).seal.json"').
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/format/canonical.js";
import { removalKey, removalSeqOfKey } from "../../src/format/layout.js";
import { decodeRemoval, encodeRemoval, REMOVAL_FORMAT, removalSignedBytes, type RemovalBody } from "../../src/format/removal.js";
import { sha256Hex } from "../../src/format/seal.js";
import { itWithTools, maybeWriteVector, readVector, run, tempDir, vectorExists, vectorPath } from "./helpers.js";

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

const SEED_TEXT = "isnad test vector: seal signer (never use for real data)";
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const privateKey = createPrivateKey({
  key: Buffer.concat([PKCS8_ED25519_PREFIX, createHash("sha256").update(SEED_TEXT).digest()]),
  format: "der",
  type: "pkcs8",
});
const publicKey = createPublicKey(privateKey);
const rawPublicKey = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
const FINGERPRINT = createHash("sha256").update(rawPublicKey).digest("hex");

const BODY: RemovalBody = {
  format: "isnad-removal/1",
  repository: "3f2a9c1e5b7d40a8b6c2e9f10d4a7b35",
  seq: 2,
  parent: sha("isnad test vector: the previous removal record"),
  time: "2024-06-01T03:00:00.000Z",
  host: "archive-01.example.org",
  policy: { "keep-daily": 7, "keep-weekly": 5, "keep-within": "1m" },
  removed: [
    { snapshot: "1a2b3c4d5e6f7081", seq: 4, seal_sha256: sha("isnad test vector: seal 4"), parent: sha("isnad test vector: seal 3"), time: "2024-04-02T01:00:00.000Z" },
    { snapshot: "5e0c2b9a7f314d68", seq: 5, seal_sha256: sha("isnad test vector: seal 5"), parent: sha("isnad test vector: seal 4"), time: "2024-04-02T13:00:00.000Z" },
  ],
  signer: FINGERPRINT,
  isnad: "0.1.0",
};

const signBody = (body: RemovalBody): Buffer => sign(null, removalSignedBytes(body), privateKey);
const VALID = encodeRemoval(BODY, signBody(BODY));
const VALID_TEXT = VALID.toString("utf8");

const edit = (from: string, to: string): Buffer => {
  expect(VALID_TEXT.includes(from), from).toBe(true);
  return Buffer.from(VALID_TEXT.replace(from, to), "utf8");
};
type File = { removal: Record<string, unknown>; signature: unknown } & Record<string, unknown>;
const withFile = (mutate: (file: File) => void): Buffer => {
  const file = JSON.parse(VALID_TEXT) as File;
  mutate(file);
  return Buffer.from(canonicalJson(file as never) + "\n", "utf8");
};
const stubs = (f: File) => f.removal["removed"] as Array<Record<string, unknown>>;

const REMOVAL_VECTORS: Array<[file: string, make: () => Buffer, error: RegExp]> = [
  ["extra_space.removal.json", () => edit('{"removal":{', '{"removal": {'), /not in canonical form/],
  ["missing_trailing_newline.removal.json", () => VALID.subarray(0, VALID.length - 1), /not in canonical form/],
  ["unknown_key_in_removal.removal.json", () => withFile((f) => (f.removal["comment"] = "x")), /removal\..*Unrecognized key/],
  ["unknown_key_in_stub.removal.json", () => withFile((f) => (stubs(f)[0]!["size"] = 1)), /removal\.removed\.0.*Unrecognized key/],
  ["no_removed_seals.removal.json", () => withFile((f) => (f.removal["removed"] = [])), /removal\.removed/],
  ["stubs_out_of_order.removal.json", () => withFile((f) => f.removal["removed"] = [stubs(f)[1], stubs(f)[0]]), /removal\.removed\.1\.seq: .*ascending/],
  ["stub_twice.removal.json", () => withFile((f) => f.removal["removed"] = [stubs(f)[0], stubs(f)[0]]), /removal\.removed\.1\.seq: seq 4 is removed twice/],
  ["seal_sha256_uppercase.removal.json", () => withFile((f) => (stubs(f)[0]!["seal_sha256"] = (stubs(f)[0]!["seal_sha256"] as string).toUpperCase())), /removal\.removed\.0\.seal_sha256/],
  ["seal_format.removal.json", () => withFile((f) => (f.removal["format"] = "isnad-seal/1")), /removal\.format/],
  ["wrapped_as_seal.removal.json", () => withFile((f) => { f["seal"] = f.removal; delete (f as Record<string, unknown>)["removal"]; }), /not a removal record/],
];

const BAD_SIGNATURE = (): Buffer => edit('"keep-daily":7', '"keep-daily":8');

describe("golden vector test/vectors/removal/valid.removal.json", () => {
  maybeWriteVector(publicKey.export({ type: "spki", format: "pem" }) as string, "removal", "signer.pub.pem");
  maybeWriteVector(VALID, "removal", "valid.removal.json");
  maybeWriteVector(BAD_SIGNATURE(), "removal", "bad_signature.removal.json");
  for (const [file, make] of REMOVAL_VECTORS) maybeWriteVector(make(), "removal", file);

  it("decodes to BODY, and re-signing BODY gives the committed file byte for byte", () => {
    const bytes = readVector("removal", "valid.removal.json");
    const d = decodeRemoval(bytes);
    expect(d.body).toEqual(BODY);
    expect(d.signedBytes.equals(Buffer.from(canonicalJson(BODY as never)))).toBe(true);
    expect(d.hash).toBe(sha256Hex(bytes));
    expect(bytes.equals(VALID)).toBe(true);
    expect(readVector("removal", "signer.pub.pem").equals(readVector("seal", "signer.pub.pem"))).toBe(true);
  });

  it("its signature verifies under the test key, only over the signed bytes", () => {
    const d = decodeRemoval(readVector("removal", "valid.removal.json"));
    const pub = createPublicKey(readVector("removal", "signer.pub.pem"));
    expect(verify(null, d.signedBytes, pub, d.signature)).toBe(true);
    expect(verify(null, readVector("removal", "valid.removal.json"), pub, d.signature)).toBe(false);
  });

  it("bad_signature.removal.json decodes (it is canonical) but its signature does not verify", () => {
    const d = decodeRemoval(readVector("removal", "bad_signature.removal.json"));
    expect(d.body.policy["keep-daily"]).toBe(8);
    expect(verify(null, d.signedBytes, publicKey, d.signature)).toBe(false);
  });

  it.each(REMOVAL_VECTORS)("%s is refused", (file, make, error) => {
    expect(vectorExists("removal", file), "missing vector; run with ISNAD_WRITE_VECTORS=1").toBe(true);
    const bytes = readVector("removal", file);
    expect(bytes.equals(make()), `${file} no longer matches how the test makes it`).toBe(true);
    expect(() => decodeRemoval(bytes)).toThrow(error);
  });

  const itTools = itWithTools(["jq", "openssl", "base64", "sh"]);

  itTools("standard tools: jq extracts the signed bytes exactly, openssl verifies the signature", () => {
    const t = tempDir("removal");
    try {
      const dir = vectorPath("removal");
      const d = decodeRemoval(readVector("removal", "valid.removal.json"));
      const body = path.join(t.dir, "body");
      const sig = path.join(t.dir, "sig");
      const sh = (script: string) => run("sh", ["-c", script], { cwd: dir });
      sh(`jq -cjS .removal valid.removal.json > '${body}'`);
      expect(readFileSync(body).equals(d.signedBytes)).toBe(true);
      sh(`jq -r .signature valid.removal.json | base64 -d > '${sig}'`);
      expect(sh(`openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in '${body}' -sigfile '${sig}'`).stdout.toString()).toMatch(/Signature Verified Successfully/);
      sh(`jq -cjS .removal bad_signature.removal.json > '${body}'`);
      expect(() => sh(`openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in '${body}' -sigfile '${sig}'`)).toThrow(/Signature Verification Failure/);
    } finally {
      t.cleanup();
    }
  });
});

describe("encodeRemoval / decodeRemoval", () => {
  it("round trip of a first record (seq 1, parent null), and the file layout", () => {
    const first: RemovalBody = { ...BODY, seq: 1, parent: null, policy: { snapshots: ["1a2b3c4d"] }, removed: [{ ...BODY.removed[0]!, seq: 1, parent: null }] };
    const sig = signBody(first);
    const file = encodeRemoval(first, sig);
    expect(decodeRemoval(file).body).toEqual(first);
    expect(file.toString("utf8")).toBe(`{"removal":${canonicalJson(first as never)},"signature":"${sig.toString("base64")}"}\n`);
  });

  it.each<[string, () => Buffer, RegExp]>([
    ["reordered keys", () => Buffer.from(JSON.stringify({ removal: BODY, signature: signBody(BODY).toString("base64") }) + "\n"), /not in canonical form/],
    ["pretty-printing", () => Buffer.from(JSON.stringify(JSON.parse(VALID_TEXT), null, 2) + "\n"), /not in canonical form/],
    ["a float in the policy", () => edit('"keep-daily":7', '"keep-daily":7.5'), /removal\.policy/],
    ["a policy key with capitals", () => withFile((f) => ((f.removal["policy"] as Record<string, unknown>)["KeepDaily"] = 1)), /removal\.policy/],
    ["seq 0", () => withFile((f) => (f.removal["seq"] = 0)), /removal\.seq/],
    ["a short snapshot id", () => withFile((f) => (stubs(f)[0]!["snapshot"] = "1a2b")), /removal\.removed\.0\.snapshot/],
    ["not JSON", () => Buffer.from("removal\n"), /not valid JSON/],
  ])("decodeRemoval refuses %s", (_w, make, error) => {
    expect(() => decodeRemoval(make())).toThrow(error);
  });

  it(`REMOVAL_FORMAT is ${REMOVAL_FORMAT}; records live at removals/<seq, 10 digits>.json`, () => {
    expect(REMOVAL_FORMAT).toBe("isnad-removal/1");
    expect(removalKey(12)).toBe("removals/0000000012.json");
    expect(removalSeqOfKey("removals/0000000012.json")).toBe(12);
    for (const k of ["removals/12.json", "removals/0000000000.json", "removals/0000000012.json.tmp", "snapshots/0000000012.json"]) expect(removalSeqOfKey(k)).toBeUndefined();
  });
});
