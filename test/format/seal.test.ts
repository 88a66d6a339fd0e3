/**
 * Seals (src/format/seal.ts): the only encoding a reader accepts is canonicalJson({seal, signature})
 * plus one newline, and the signature covers canonicalJson(seal body) exactly.
 *
 * Golden vectors in test/vectors/seal/: valid.seal.json is BODY below signed with the test key
 * signer.key.pem (PKCS#8; its 32-byte seed is SHA-256 of SEED_TEXT, so anyone can re-derive it;
 * never use it for real data). signer.pub.pem is its SPKI public key. Ed25519 is deterministic,
 * so re-signing BODY must give the committed file byte for byte. The other files there are one
 * failure each, named for what is wrong; SEAL_VECTORS below maps each to the expected error.
 *
 * An auditor can check a seal with standard tools only. This command line is run by the test
 * below (jq 1.6 and OpenSSL 3.0 here), from test/vectors/seal/:
 *
 *   jq -cjS .seal valid.seal.json > body &&
 *   jq -r .signature valid.seal.json | base64 -d > sig &&
 *   openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in body -sigfile sig
 *     → "Signature Verified Successfully", exit status 0
 *
 * (`jq -cS .seal valid.seal.json | tr -d '\n'` gives the same bytes as `jq -cjS`.) And the
 * fingerprint in the seal ("signer") is: openssl pkey -pubin -in signer.pub.pem -outform DER |
 * tail -c 32 | sha256sum.
 *
 * Limits of jq as a canonicaliser (observed with jq 1.6): it reproduces canonicalJson only for
 * what seals hold in practice: ASCII strings without DEL and integers below 1e17. jq 1.6 writes
 * 100000000000000000 as 1e+17, escapes U+007F as \u007f (JSON.stringify does not), and sorts keys
 * by code point/UTF-8 rather than UTF-16 code units (differs only for keys mixing U+E000–U+FFFF
 * with astral characters; seal keys are ASCII). For other input, extract the signed bytes with a
 * JCS implementation instead, or take them from between `{"seal":` and `,"signature":`.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/format/canonical.js";
import { decodeSeal, encodeSeal, SEAL_FORMAT, sealSignedBytes, sha256Hex, type SealBody } from "../../src/format/seal.js";
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

const BODY: SealBody = {
  format: "isnad-seal/1",
  repository: "3f2a9c1e5b7d40a8b6c2e9f10d4a7b35",
  snapshot: "5e0c2b9a7f314d68",
  seq: 2,
  parent: sha("isnad test vector: the previous seal"),
  time: "2024-05-01T12:00:00.000Z",
  host: "archive-01.example.org",
  sources: ["documents", "database"],
  manifest: { id: sha("isnad test vector: manifest"), size: 4821 },
  packs: [
    { id: sha("isnad test vector: pack 1"), size: 1048576 },
    { id: sha("isnad test vector: pack 2"), size: 73211 },
  ],
  stats: { files: 128, dirs: 14, symlinks: 2, bytes: 1234567, new_bytes: 1121787, missing: 1, skipped: 0, changed: 0 },
  signer: FINGERPRINT,
  isnad: "0.1.0",
};

const signBody = (body: SealBody): Buffer => sign(null, sealSignedBytes(body), privateKey);
const VALID = encodeSeal(BODY, signBody(BODY));
const VALID_TEXT = VALID.toString("utf8");

/** valid.seal.json with one thing changed in its text (the result is still JSON unless noted). */
const edit = (from: string, to: string): Buffer => {
  expect(VALID_TEXT.includes(from), from).toBe(true);
  return Buffer.from(VALID_TEXT.replace(from, to), "utf8");
};
/** A seal file re-encoded canonically from a modified object (so only the named change is wrong). */
const withFile = (mutate: (file: { seal: Record<string, unknown>; signature: unknown } & Record<string, unknown>) => void): Buffer => {
  const file = JSON.parse(VALID_TEXT) as { seal: Record<string, unknown>; signature: unknown } & Record<string, unknown>;
  mutate(file);
  return Buffer.from(canonicalJson(file as never) + "\n", "utf8");
};

// ---- the failure vectors: file name says what is wrong; expected error substring ----
const SEAL_VECTORS: Array<[file: string, make: () => Buffer, error: RegExp]> = [
  ["extra_space.seal.json", () => edit('{"seal":{', '{"seal": {'), /not in canonical form/],
  ["reordered_keys.seal.json", () => Buffer.from(JSON.stringify({ signature: JSON.parse(VALID_TEXT).signature, seal: BODY }) + "\n"), /not in canonical form/],
  ["missing_trailing_newline.seal.json", () => VALID.subarray(0, VALID.length - 1), /not in canonical form/],
  ["crlf.seal.json", () => Buffer.concat([VALID.subarray(0, VALID.length - 1), Buffer.from("\r\n")]), /not in canonical form/],
  ["unknown_key_in_seal.seal.json", () => withFile((f) => (f.seal["comment"] = "added later")), /seal\..*Unrecognized key/],
  ["unknown_key_at_top.seal.json", () => withFile((f) => (f["timestamp"] = "2024-05-01")), /not a seal/],
  ["seq_is_a_string.seal.json", () => withFile((f) => (f.seal["seq"] = "2")), /seal\.seq/],
  ["parent_uppercase_hex.seal.json", () => withFile((f) => (f.seal["parent"] = (BODY.parent as string).toUpperCase())), /seal\.parent/],
  ["manifest_id_short.seal.json", () => withFile((f) => ((f.seal["manifest"] as { id: string }).id = BODY.manifest.id.slice(1))), /seal\.manifest\.id/],
  ["signature_base64url.seal.json", () => withFile((f) => (f.signature = signBody(BODY).toString("base64url"))), /not in canonical form/],
];

/** Decodes without complaint; only the signature check can tell. */
const BAD_SIGNATURE = (): Buffer => edit('"host":"archive-01.example.org"', '"host":"archive-02.example.org"');

describe("golden vector test/vectors/seal/valid.seal.json", () => {
  maybeWriteVector(privateKey.export({ type: "pkcs8", format: "pem" }) as string, "seal", "signer.key.pem");
  maybeWriteVector(publicKey.export({ type: "spki", format: "pem" }) as string, "seal", "signer.pub.pem");
  maybeWriteVector(VALID, "seal", "valid.seal.json");
  maybeWriteVector(BAD_SIGNATURE(), "seal", "bad_signature.seal.json");
  for (const [file, make] of SEAL_VECTORS) maybeWriteVector(make(), "seal", file);

  it("the committed key is the one derived from SEED_TEXT", () => {
    expect(readVector("seal", "signer.key.pem").toString()).toBe(privateKey.export({ type: "pkcs8", format: "pem" }));
    const committedPub = createPublicKey(readVector("seal", "signer.pub.pem"));
    expect(Buffer.from(committedPub.export({ format: "jwk" }).x!, "base64url").equals(rawPublicKey)).toBe(true);
  });

  it("decodes to BODY, and re-signing BODY gives the committed file byte for byte", () => {
    const bytes = readVector("seal", "valid.seal.json");
    const d = decodeSeal(bytes);
    expect(d.body).toEqual(BODY);
    expect(d.body.signer).toBe(FINGERPRINT);
    expect(d.signedBytes.equals(Buffer.from(canonicalJson(BODY)))).toBe(true);
    expect(d.hash).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(bytes.equals(VALID)).toBe(true);
  });

  it("its signature verifies with node:crypto under the committed public key, and only over the signed bytes", () => {
    const d = decodeSeal(readVector("seal", "valid.seal.json"));
    const pub = createPublicKey(readVector("seal", "signer.pub.pem"));
    expect(d.signature.length).toBe(64);
    expect(verify(null, d.signedBytes, pub, d.signature)).toBe(true);
    expect(verify(null, Buffer.concat([d.signedBytes, Buffer.from("\n")]), pub, d.signature)).toBe(false);
    expect(verify(null, readVector("seal", "valid.seal.json"), pub, d.signature)).toBe(false);
  });

  it("bad_signature.seal.json decodes (it is canonical) but its signature does not verify", () => {
    const d = decodeSeal(readVector("seal", "bad_signature.seal.json"));
    expect(d.body.host).toBe("archive-02.example.org");
    expect(verify(null, d.signedBytes, createPublicKey(readVector("seal", "signer.pub.pem")), d.signature)).toBe(false);
  });

  it.each(SEAL_VECTORS)("%s is refused", (file, make, error) => {
    expect(vectorExists("seal", file), "missing vector; run with ISNAD_WRITE_VECTORS=1").toBe(true);
    const bytes = readVector("seal", file);
    expect(bytes.equals(make()), `${file} no longer matches how the test makes it`).toBe(true);
    expect(() => decodeSeal(bytes)).toThrow(error);
  });

  const itTools = itWithTools(["jq", "openssl", "base64", "sh"]);

  itTools("standard tools: jq extracts the signed bytes exactly, openssl verifies the signature", () => {
    const t = tempDir("seal");
    try {
      const dir = vectorPath("seal");
      const d = decodeSeal(readVector("seal", "valid.seal.json"));
      const body = path.join(t.dir, "body");
      const sig = path.join(t.dir, "sig");
      const sh = (script: string) => run("sh", ["-c", script], { cwd: dir });

      sh(`jq -cjS .seal valid.seal.json > '${body}'`);
      expect(readFileSync(body).equals(d.signedBytes)).toBe(true);
      // The tr variant gives the same bytes.
      expect(sh("jq -cS .seal valid.seal.json | tr -d '\\n'").stdout.equals(d.signedBytes)).toBe(true);

      sh(`jq -r .signature valid.seal.json | base64 -d > '${sig}'`);
      const ok = sh(`openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in '${body}' -sigfile '${sig}'`);
      expect(ok.stdout.toString()).toMatch(/Signature Verified Successfully/);

      // The fingerprint recorded in the seal, from the PEM with standard tools.
      const fp = sh("openssl pkey -pubin -in signer.pub.pem -outform DER | tail -c 32 | sha256sum").stdout.toString();
      expect(fp.slice(0, 64)).toBe(d.body.signer);

      // And openssl does say no: the signature of valid.seal.json over bad_signature's body.
      sh(`jq -cjS .seal bad_signature.seal.json > '${body}'`);
      expect(() => sh(`openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in '${body}' -sigfile '${sig}'`)).toThrow(
        /Signature Verification Failure/,
      );
    } finally {
      t.cleanup();
    }
  });
});

describe("encodeSeal / decodeSeal", () => {
  it("round trip: decode(encode(body, sig)) gives body, sig, the signed bytes and the file hash", () => {
    const signature = signBody(BODY);
    const file = encodeSeal(BODY, signature);
    const d = decodeSeal(file);
    expect(d.body).toEqual(BODY);
    expect(d.signature.equals(signature)).toBe(true);
    expect(d.signedBytes.equals(sealSignedBytes(BODY))).toBe(true);
    expect(d.hash).toBe(sha256Hex(file));
    expect(encodeSeal(d.body, d.signature).equals(file)).toBe(true);
  });

  it("round trip of a first seal (parent null, seq 1, no packs) and of non-ASCII strings", () => {
    const first: SealBody = { ...BODY, seq: 1, parent: null, packs: [], host: "أرشيف-01", sources: ["وثائق", "😀"] };
    const file = encodeSeal(first, Buffer.alloc(64, 7));
    expect(decodeSeal(file).body).toEqual(first);
    expect(file.toString("utf8")).toContain('"parent":null');
    expect(file.toString("utf8")).toContain('"host":"أرشيف-01"'); // raw UTF-8, not \u escapes
  });

  it("the file is canonicalJson({seal, signature}) and one newline, seal first", () => {
    const sig = signBody(BODY);
    const text = encodeSeal(BODY, sig).toString("utf8");
    expect(text).toBe(`{"seal":${canonicalJson(BODY)},"signature":"${sig.toString("base64")}"}\n`);
  });

  it("sealSignedBytes is exactly canonicalJson(body) in UTF-8, the bytes between '{\"seal\":' and ',\"signature\":'", () => {
    expect(sealSignedBytes(BODY).equals(Buffer.from(canonicalJson(BODY), "utf8"))).toBe(true);
    const text = VALID_TEXT;
    const inner = text.slice('{"seal":'.length, text.lastIndexOf(',"signature":'));
    expect(Buffer.from(inner, "utf8").equals(sealSignedBytes(BODY))).toBe(true);
    const shuffled = Object.fromEntries(Object.entries(BODY).reverse()) as SealBody;
    expect(sealSignedBytes(shuffled).equals(sealSignedBytes(BODY))).toBe(true);
  });

  it("SEAL_FORMAT is isnad-seal/1", () => {
    expect(SEAL_FORMAT).toBe("isnad-seal/1");
  });
});

describe("decodeSeal refuses", () => {
  const cases: Array<[what: string, bytes: () => Buffer, error: RegExp]> = [
    // Not the canonical bytes, though the same JSON value.
    ["an extra space", () => edit('"seq":2', '"seq": 2'), /not in canonical form/],
    ["reordered keys inside the body", () => Buffer.from(JSON.stringify({ seal: BODY, signature: signBody(BODY).toString("base64") }) + "\n"), /not in canonical form/],
    ["signature before seal", () => Buffer.from(`{"signature":"${signBody(BODY).toString("base64")}","seal":${canonicalJson(BODY)}}\n`), /not in canonical form/],
    ["a missing trailing newline", () => VALID.subarray(0, VALID.length - 1), /not in canonical form/],
    ["\\r\\n at the end", () => Buffer.from(VALID_TEXT.slice(0, -1) + "\r\n"), /not in canonical form/],
    ["two trailing newlines", () => Buffer.from(VALID_TEXT + "\n"), /not in canonical form/],
    ["a leading space", () => Buffer.from(" " + VALID_TEXT), /not in canonical form/],
    ["pretty-printing", () => Buffer.from(JSON.stringify(JSON.parse(VALID_TEXT), null, 2) + "\n"), /not in canonical form/],
    ["an ASCII letter written as \\u0061", () => edit('"host":"archive', '"host":"\\u0061rchive'), /not in canonical form/],
    ["an escaped slash \\/", () => edit('"time":"2024-05-01', '"time":"2024\\/05-01'), /not in canonical form|seal\./],
    ["an integer written as 2.0", () => edit('"seq":2', '"seq":2.0'), /not in canonical form/],
    ["an integer written as 2e0", () => edit('"seq":2', '"seq":2e0'), /not in canonical form/],
    ["a duplicate key (JSON.parse keeps the last)", () => edit('"seq":2', '"seq":3,"seq":2'), /not in canonical form/],
    ["a UTF-8 BOM", () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), VALID]), /not valid JSON|not in canonical form/],
    ["invalid UTF-8 in a string", () => Buffer.from(VALID_TEXT.replace("archive-01", "archive\u00ff01"), "latin1"), /not in canonical form/],
    ["not JSON", () => Buffer.from("seal\n"), /not valid JSON/],
    ["an empty file", () => Buffer.alloc(0), /not valid JSON/],
    // Unknown keys.
    ["an unknown top-level key", () => withFile((f) => (f["note"] = "x")), /not a seal/],
    ["an unknown body key", () => withFile((f) => (f.seal["extra"] = 1)), /Unrecognized key/],
    ["an unknown key in stats", () => withFile((f) => ((f.seal["stats"] as Record<string, number>)["deleted"] = 0)), /seal\.stats.*Unrecognized key/],
    ["an unknown key in a pack reference", () => withFile((f) => ((f.seal["packs"] as Array<Record<string, unknown>>)[0]!["kind"] = "pack")), /seal\.packs\.0.*Unrecognized key/],
    ["a missing body key", () => withFile((f) => delete f.seal["host"]), /seal\.host/],
    ["a missing signature", () => withFile((f) => delete f["signature"]), /not a seal/],
    // Wrong types and values.
    ["seq as a string", () => withFile((f) => (f.seal["seq"] = "2")), /seal\.seq/],
    ["seq 0", () => withFile((f) => (f.seal["seq"] = 0)), /seal\.seq/],
    ["a negative size", () => withFile((f) => ((f.seal["manifest"] as { size: number }).size = -1)), /seal\.manifest\.size/],
    ["an unsafe integer", () => edit('"bytes":1234567', '"bytes":9007199254740993'), /seal\.stats\.bytes|safe integer/],
    ["sources not an array", () => withFile((f) => (f.seal["sources"] = "documents")), /seal\.sources/],
    ["parent as a number", () => withFile((f) => (f.seal["parent"] = 0)), /seal\.parent/],
    ["signature as a number", () => withFile((f) => (f.signature = 12)), /not a seal/],
    ["seal as an array", () => withFile((f) => (f.seal = [] as never)), /seal\./],
    ["another format", () => withFile((f) => (f.seal["format"] = "isnad-seal/2")), /seal\.format/],
    // Bad hex and ids.
    ["an upper-case parent", () => withFile((f) => (f.seal["parent"] = (BODY.parent as string).toUpperCase())), /seal\.parent/],
    ["a 63-digit parent", () => withFile((f) => (f.seal["parent"] = (BODY.parent as string).slice(1))), /seal\.parent/],
    ["a non-hex manifest id", () => withFile((f) => ((f.seal["manifest"] as { id: string }).id = "g" + BODY.manifest.id.slice(1))), /seal\.manifest\.id/],
    ["a non-hex pack id", () => withFile((f) => ((f.seal["packs"] as Array<{ id: string }>)[1]!.id = BODY.manifest.id.slice(2) + "zz")), /seal\.packs\.1\.id/],
    ["an upper-case signer", () => withFile((f) => (f.seal["signer"] = FINGERPRINT.toUpperCase())), /seal\.signer/],
    ["a 15-digit snapshot id", () => withFile((f) => (f.seal["snapshot"] = "5e0c2b9a7f314d6")), /seal\.snapshot/],
    ["a snapshot id with upper case", () => withFile((f) => (f.seal["snapshot"] = "5E0C2B9A7F314D68")), /seal\.snapshot/],
    // Non-canonical base64 in the signature.
    ["base64url in the signature", () => withFile((f) => (f.signature = signBody(BODY).toString("base64url"))), /not in canonical form/],
    ["a signature without padding", () => withFile((f) => (f.signature = signBody(BODY).toString("base64").replace(/=+$/, ""))), /not in canonical form/],
    ["a signature with a space inside", () => withFile((f) => (f.signature = signBody(BODY).toString("base64").replace(/^(.{10})/, "$1 "))), /not in canonical form/],
    ["a signature that is not base64", () => withFile((f) => (f.signature = "!!!!")), /not in canonical form/],
    ["non-zero padding bits in the signature's last character", () => withFile((f) => {
      const b64 = signBody(BODY).toString("base64"); // 64 bytes: 86 characters + "==", the last carries 4 unused bits
      const last = b64[85]!;
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      f.signature = b64.slice(0, 85) + alphabet[alphabet.indexOf(last) | 1] + "==";
    }), /not in canonical form/],
  ];
  it.each(cases)("%s", (_what, bytes, error) => {
    expect(() => decodeSeal(bytes())).toThrow(error);
  });

  it("(and the unchanged file decodes, so each refusal above is about its one change)", () => {
    expect(decodeSeal(VALID).body).toEqual(BODY);
  });
});
