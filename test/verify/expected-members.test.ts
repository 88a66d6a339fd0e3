/** ExpectedMembers keeps verify's expectations in columns: what goes in comes back, per pack. */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ExpectedMembers, type Expected } from "../../src/verify/expected-members.js";

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");
const exp = (i: number, path = `m/${i}`): Expected => ({ sha256: sha(String(i)), size: i * 7, path, snapshot: `snap${i % 4}` });

describe("ExpectedMembers", () => {
  it("gives back each member's expectation, by pack, after growing", () => {
    const t = new ExpectedMembers();
    for (let i = 0; i < 3000; i++) t.set(`pack${i % 2}`, `m/${i}`, exp(i, i % 10 === 0 ? `renamed/${i}` : `m/${i}`));
    expect(t.get("pack0", "m/0")).toEqual(exp(0, "renamed/0"));
    expect(t.get("pack1", "m/2999")).toEqual(exp(2999));
    expect(t.get("pack0", "m/2999")).toBeUndefined();
    expect(t.get("none", "m/1")).toBeUndefined();
    const inPack1 = t.inPack("pack1");
    expect(inPack1("m/1025")).toEqual(exp(1025));
    expect(inPack1("m/1024")).toBeUndefined();
    expect([...t.membersOf("pack1")].length).toBe(1500);
    expect([...t.membersOf("none")]).toEqual([]);
  });
});
