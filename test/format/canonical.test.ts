/**
 * canonicalJson: the bytes isnad signs and hashes. It must equal RFC 8785 (JCS) for every value
 * isnad writes (strings, safe integers, booleans, null, arrays, plain objects) and refuse the rest.
 */
import { describe, expect, it } from "vitest";
import { canonicalJson, type CanonicalValue } from "../../src/format/canonical.js";

/** Parses JSON text the way a second implementation would receive it, then canonicalises it. */
const jcs = (jsonText: string): string => canonicalJson(JSON.parse(jsonText) as CanonicalValue);

describe("canonicalJson: key order", () => {
  it("sorts keys by UTF-16 code units, uppercase before lowercase", () => {
    expect(canonicalJson({ b: 1, a: 2, B: 3, A: 4, _: 5, "0": 6 })).toBe('{"0":6,"A":4,"B":3,"_":5,"a":2,"b":1}');
  });

  it("puts a key before every longer key it is a prefix of", () => {
    expect(canonicalJson({ ab: 1, a: 2, "": 3, abc: 4 })).toBe('{"":3,"a":2,"ab":1,"abc":4}');
  });

  it("sorts non-ASCII keys by code unit, not by locale or by code point", () => {
    // U+00E9 é (0x00E9) < U+20AC € (0x20AC) < U+1F600 😀 (surrogates 0xD83D…) < U+FB33 (0xFB33):
    // by code point the emoji would come last; UTF-16 code units put it before U+FB33.
    const value = { "\uFB33": 1, "😀": 2, "€": 3, "é": 4, z: 5 };
    expect(canonicalJson(value)).toBe('{"z":5,"é":4,"€":3,"😀":2,"\uFB33":1}');
    // Locale order would put "péché" after "pêche" in French; JCS ignores locale (RFC 8785 french.json).
    expect(jcs('{"peach":1,"péché":2,"pêche":3,"sin":4}')).toBe('{"peach":1,"péché":2,"pêche":3,"sin":4}');
  });

  it("gives the same bytes whatever the insertion order", () => {
    const a = { z: 1, m: { y: [1, { q: 2, p: 3 }], x: null }, a: "s" };
    const b = { a: "s", m: { x: null, y: [1, { p: 3, q: 2 }] }, z: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":"s","m":{"x":null,"y":[1,{"p":3,"q":2}]},"z":1}');
  });
});

describe("canonicalJson: structure", () => {
  it("encodes nested objects and arrays with no whitespace, arrays in order", () => {
    expect(canonicalJson({ list: [3, 1, 2], nested: { deeper: { deepest: [[], {}, [true, false, null]] } } })).toBe(
      '{"list":[3,1,2],"nested":{"deeper":{"deepest":[[],{},[true,false,null]]}}}',
    );
    expect(canonicalJson([])).toBe("[]");
    expect(canonicalJson({})).toBe("{}");
    expect(canonicalJson("")).toBe('""');
    expect(canonicalJson(null)).toBe("null");
  });

  it("drops undefined object fields, as JSON.stringify does", () => {
    expect(canonicalJson({ a: 1, b: undefined, c: { d: undefined } })).toBe('{"a":1,"c":{}}');
  });

  it("keeps false, 0, empty string and null fields (only undefined is dropped)", () => {
    expect(canonicalJson({ f: false, z: 0, e: "", n: null })).toBe('{"e":"","f":false,"n":null,"z":0}');
  });
});

describe("canonicalJson: numbers", () => {
  it("writes safe integers, and -0 as 0 (RFC 8785 number vectors 0000… and 8000…)", () => {
    expect(canonicalJson([0, -0, 1, -1, 42, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER])).toBe(
      "[0,0,1,-1,42,9007199254740991,-9007199254740991]",
    );
  });

  it.each([
    ["a fraction", 1.5],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY],
    ["2^53 (RFC 8785 vector 4340000000000000, an integer but not a safe one)", 2 ** 53],
    ["1e21 (JSON.stringify would write 1e+21)", 1e21],
    ["a small float", 5e-324],
  ])("refuses %s", (_what, n) => {
    expect(() => canonicalJson(n)).toThrow(/not a safe integer/);
    expect(() => canonicalJson({ nested: [n] })).toThrow(/not a safe integer/);
  });

  it("refuses bigint, even a small one", () => {
    expect(() => canonicalJson(1n as unknown as CanonicalValue)).toThrow(/cannot encode a bigint/);
    expect(() => canonicalJson({ n: 1n } as unknown as CanonicalValue)).toThrow(/bigint/);
  });

  it("refuses functions and symbols, and undefined where it cannot be dropped", () => {
    expect(() => canonicalJson((() => 1) as unknown as CanonicalValue)).toThrow(/cannot encode/);
    expect(() => canonicalJson(Symbol("s") as unknown as CanonicalValue)).toThrow(/cannot encode/);
    expect(() => canonicalJson(undefined)).toThrow(/cannot encode/);
    // JSON.stringify would write null for an undefined array element; a signed form must not guess.
    expect(() => canonicalJson([1, undefined] as unknown as CanonicalValue)).toThrow(/cannot encode/);
  });
});

describe("canonicalJson: strings", () => {
  const samples = [
    "plain",
    'quote " and backslash \\',
    "controls \u0000\u0001\u0008\t\n\u000b\f\r\u001f",
    "DEL \u007f and C1 \u0080\u009f",
    "slash / is not escaped",
    "</script>",
    "line separators \u2028 \u2029",
    "Arabic وثائق, emoji 😀, CJK 漢字",
    "combining A\u030a stays unnormalised",
  ];
  it.each(samples)("escapes %j exactly as JSON.stringify does", (s) => {
    expect(canonicalJson(s)).toBe(JSON.stringify(s));
    expect(canonicalJson({ [s]: s })).toBe(`{${JSON.stringify(s)}:${JSON.stringify(s)}}`);
  });

  it("uses the short escapes and lower-case \\u00XX for the other controls", () => {
    expect(canonicalJson("\b\t\n\f\r\u0000\u001f")).toBe('"\\b\\t\\n\\f\\r\\u0000\\u001f"');
  });
});

/**
 * The JCS test data published with RFC 8785 (github.com/cyberphone/json-canonicalization,
 * testdata/input and testdata/output), restricted to what isnad writes: values.json loses its
 * "numbers" row (floats), the others are unchanged (structures.json's 56.0 parses to the integer 56).
 */
describe("canonicalJson equals RFC 8785 on its published examples (integers and strings only)", () => {
  const cases: Array<[name: string, input: string, output: string]> = [
    ["arrays.json", '[\n  56,\n  {\n    "d": true,\n    "10": null,\n    "1": [ ]\n  }\n]', '[56,{"1":[],"10":null,"d":true}]'],
    [
      "french.json",
      '{\n  "peach": "This sorting order",\n  "péché": "is wrong according to French",\n  "pêche": "but canonicalization MUST",\n  "sin":   "ignore locale"\n}',
      '{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ignore locale"}',
    ],
    [
      "structures.json",
      '{\n  "1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},\n  "10": { },\n  "": "empty",\n  "a": { },\n  "111": [ {"e": "yes","E": "no" } ],\n  "A": { }\n}',
      '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}',
    ],
    ["unicode.json", '{\n  "Unnormalized Unicode":"A\\u030a"\n}', '{"Unnormalized Unicode":"A\u030a"}'],
    [
      "values.json without numbers",
      '{\n  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n  "literals": [null, true, false]\n}',
      '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    ],
    [
      "weird.json",
      '{\n  "\\u20ac": "Euro Sign",\n  "\\r": "Carriage Return",\n  "\\u000a": "Newline",\n  "1": "One",\n  "\\u0080": "Control\\u007f",\n  "\\ud83d\\ude02": "Smiley",\n  "\\u00f6": "Latin Small Letter O With Diaeresis",\n  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n  "</script>": "Browser Challenge"\n}',
      '{"\\n":"Newline","\\r":"Carriage Return","1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😂":"Smiley","\uFB33":"Hebrew Letter Dalet With Dagesh"}',
    ],
  ];
  it.each(cases)("%s", (_name, input, output) => {
    expect(jcs(input)).toBe(output);
  });

  it("weird.json as UTF-8 bytes: U+0080 and U+007F are written raw, not escaped", () => {
    const bytes = Buffer.from(jcs('{"\\u0080":"Control\\u007f"}'), "utf8");
    expect(bytes.toString("hex")).toBe("7b22c280223a22436f6e74726f6c7f227d");
  });
});
