import { describe, expect, it } from "vitest";
import { compareNames, comparePaths } from "../../src/sources/order.js";

/** Reference walk: build a tree from the paths, then walk it pre-order with sorted children. */
function walkOrder(paths: string[]): string[] {
  interface Node { children: Map<string, Node> }
  const root: Node = { children: new Map() };
  for (const p of paths) {
    let node = root;
    for (const seg of p === "" ? [] : p.split("/")) {
      let next = node.children.get(seg);
      if (next === undefined) {
        next = { children: new Map() };
        node.children.set(seg, next);
      }
      node = next;
    }
  }
  const out: string[] = [];
  const visit = (node: Node, rel: string) => {
    out.push(rel);
    for (const name of [...node.children.keys()].sort(compareNames)) {
      visit(node.children.get(name)!, rel === "" ? name : `${rel}/${name}`);
    }
  };
  visit(root, "");
  return out;
}

/** Every prefix of every path, so the set is closed under "parent of" like a real tree. */
function closeUnderParents(paths: string[]): string[] {
  const all = new Set<string>([""]);
  for (const p of paths) {
    const segs = p.split("/");
    for (let i = 1; i <= segs.length; i++) all.add(segs.slice(0, i).join("/"));
  }
  return [...all];
}

describe("compareNames", () => {
  it("orders by UTF-16 code units, like Array.prototype.sort", () => {
    const names = ["b", "a", "B", "a.txt", "a b", "-x", "#", "é", "日本", "🎉", "\uff5a", "a\nb", ""];
    expect([...names].sort(compareNames)).toEqual([...names].sort());
    // Code units, not code points: U+1F389 (D83C DF89) sorts before U+FF5A.
    expect(compareNames("🎉", "\uff5a")).toBeLessThan(0);
    expect(compareNames("x", "x")).toBe(0);
  });
});

describe("comparePaths", () => {
  it("puts a folder before its contents and compares segment by segment", () => {
    expect(comparePaths("", "a")).toBeLessThan(0);
    expect(comparePaths("a", "a/b")).toBeLessThan(0);
    expect(comparePaths("a/b", "a.txt")).toBeLessThan(0); // plain string order says the opposite
    expect("a/b" < "a.txt").toBe(false);
    expect(comparePaths("a/b/c", "a/b.d")).toBeLessThan(0);
    expect(comparePaths("a/z", "a b")).toBeLessThan(0);
    expect(comparePaths("a/b", "a/b")).toBe(0);
    expect(comparePaths("b", "a/z")).toBeGreaterThan(0);
  });

  it("equals the pre-order walk order on fixed odd names", () => {
    const paths = closeUnderParents([
      "a/b/c", "a.txt", "a-b", "a b/x", "a/b.d", "a/b/c.d/e", "A", "-dash", "#hash", "é/x", "🎉", "\uff5a",
      "nl\nname/f", "x".repeat(255), "a/\u0000odd", "a!/b", "a/.hidden",
    ]);
    expect([...paths].sort(comparePaths)).toEqual(walkOrder(paths));
  });

  it("equals the pre-order walk order on random trees", () => {
    // A small alphabet makes shared prefixes (a vs a.b vs a/b) common.
    const alphabet = ["a", "b", ".", "-", " ", "A", "é", "🎉", "/"];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const raw: string[] = [];
      for (let i = 0; i < 30; i++) {
        let s = "";
        const len = 1 + rand(8);
        for (let j = 0; j < len; j++) s += alphabet[rand(alphabet.length)];
        const clean = s.split("/").filter((x) => x !== "").join("/");
        if (clean !== "") raw.push(clean);
      }
      const paths = closeUnderParents(raw);
      const shuffled = [...paths].sort(() => rand(3) - 1);
      expect(shuffled.sort(comparePaths)).toEqual(walkOrder(paths));
    }
  });
});
