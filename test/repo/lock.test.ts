import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/repo/lock.js";

describe("parseDuration (--wait)", () => {
  it.each([
    ["90s", 90_000],
    ["10m", 600_000],
    ["2h", 7_200_000],
    ["1h30m", 5_400_000],
    ["0s", 0],
  ])("%s = %d ms", (s, ms) => expect(parseDuration(s)).toBe(ms));
  it.each(["", "soon", "10", "5 m", "-1s", "1.5h", "m"])("refuses %j", (s) => expect(parseDuration(s)).toBeUndefined());
});
