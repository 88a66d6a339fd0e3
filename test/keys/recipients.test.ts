import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { generateIdentity, parseRecipient, readRecipientsFile } from "../../src/keys/index.js";
import { rejection, tempDir } from "./helpers.js";

// Key generation and scrypt are CPU-bound, and other suites run in parallel: allow for a slow machine.
vi.setConfig({ testTimeout: 30_000 });

const dir = tempDir();
let n = 0;
const fresh = (name: string) => join(dir, `${n++}-${name}`);

/** Changes one data character so the bech32 checksum no longer matches. */
function typo(s: string, at: number): string {
  const c = s[at] === "q" ? "p" : "q";
  return s.slice(0, at) + c + s.slice(at + 1);
}

describe("parseRecipient", () => {
  it("accepts classic, hybrid and tag recipients unchanged", async () => {
    const classic = (await generateIdentity("classic")).recipient;
    const hybrid = (await generateIdentity("hybrid")).recipient;
    expect(hybrid.length).toBe(1959);
    expect(await parseRecipient(classic, "--recipient")).toBe(classic);
    expect(await parseRecipient(hybrid, "--recipient")).toBe(hybrid);
    // a p256tag recipient (33-byte compressed P-256 point), as typage's test suite uses
    const tag = "age1tag1qwe0kafsjrar4txm6heqnhpfuggzr0gvznz7fvygxrlq90u5mq2pysxtw6h";
    expect(await parseRecipient(tag, "isnad.json")).toBe(tag);
    await expect(parseRecipient(typo(tag, 30), "isnad.json")).rejects.toThrow(/bad checksum/);
  });

  it("rejects garbage, bad checksums and wrong kinds, naming the source", async () => {
    const classic = (await generateIdentity("classic")).recipient;
    const hybrid = (await generateIdentity("hybrid")).recipient;
    const { identity } = await generateIdentity("classic");
    const cases: [string, RegExp][] = [
      ["age1xyz", /^unknown recipient "age1xyz" from --recipient: wrong length; expected an age1… or age1pq1… public key$/],
      [typo(classic, 20), /from --recipient: bad checksum/],
      [typo(hybrid, 1000), /from --recipient: bad checksum/],
      [classic.toUpperCase(), /lower case/],
      [`${classic} `, /spaces around the key/],
      ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq", /SSH keys are not supported/],
      ["age1yubikey1qwertyqwertyqwertyqwerty", /plugin recipients are not supported/],
      ["hello", /^unknown recipient "hello" from --recipient: unknown recipient type; expected/],
      ["", /empty/],
      [identity, /secret key \(identity\)/],
    ];
    for (const [s, want] of cases) {
      const err = await rejection(parseRecipient(s, "--recipient"));
      expect(err.kind).toBe("config");
      expect(err.message).toMatch(want);
      expect(err.message).toContain("from --recipient: ");
    }
  });

  it("quotes at most ~20 characters, and never a secret key", async () => {
    const hybrid = (await generateIdentity("hybrid")).recipient;
    const err = await rejection(parseRecipient(typo(hybrid, 500), "recipients.txt line 3"));
    expect(err.message).toContain(`unknown recipient "${hybrid.slice(0, 20)}…" from recipients.txt line 3: `);
    expect(err.message.length).toBeLessThan(200);
    const { identity } = await generateIdentity("classic");
    const err2 = await rejection(parseRecipient(identity, "--recipient"));
    expect(err2.message).not.toContain(identity.slice(16, 30));
  });
});

describe("readRecipientsFile", () => {
  it("reads one per line, skipping comments and blank lines; drops duplicates", async () => {
    const a = (await generateIdentity("classic")).recipient;
    const b = (await generateIdentity("hybrid")).recipient;
    const p = fresh("recipients.txt");
    writeFileSync(p, `# the office laptop\n${a}\n\n   \n# the offline key\r\n${b}\r\n${a}\n`);
    expect(await readRecipientsFile(p)).toEqual([a, b]);
  });

  it("errors name the file and line", async () => {
    const a = (await generateIdentity("classic")).recipient;
    const p = fresh("bad.txt");
    writeFileSync(p, `# ok\n${a}\n${typo(a, 30)}\n`);
    let err = await rejection(readRecipientsFile(p));
    expect(err.kind).toBe("config");
    expect(err.message).toMatch(new RegExp(`from ${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} line 3: bad checksum`));

    const indented = fresh("indented.txt");
    writeFileSync(indented, `${a}\n  # note\n`);
    err = await rejection(readRecipientsFile(indented));
    expect(err.message).toBe(`${indented} line 2: an indented comment; only lines with # in the first column are comments`);

    const empty = fresh("empty.txt");
    writeFileSync(empty, "# nobody\n");
    err = await rejection(readRecipientsFile(empty));
    expect(err.message).toContain(empty);

    const missing = join(dir, "missing.txt");
    err = await rejection(readRecipientsFile(missing));
    expect(err.kind).toBe("config");
    expect(err.message).toContain(missing);
  });

  it("an identity file given by mistake is refused without printing the secret", async () => {
    const { identity, recipient } = await generateIdentity("classic");
    const p = fresh("oops-key.txt");
    writeFileSync(p, `# public key: ${recipient}\n${identity}\n`);
    const err = await rejection(readRecipientsFile(p));
    expect(err.message).toMatch(/line 2: this is a secret key/);
    expect(err.message).not.toContain(identity.slice(16));
    expect(err.message).not.toContain(identity.slice(16, 26));
  });
});
