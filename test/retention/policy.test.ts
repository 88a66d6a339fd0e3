/**
 * The retention policy (src/retention/policy.ts): restic's `forget` semantics as a pure function
 * of seal times, hosts and source labels. Every table row gives snapshots (as times) and a policy,
 * and the exact set kept, with reasons. All times are UTC.
 */
import { describe, expect, it } from "vitest";
import { applyPolicy, isoWeek, parseWithin, withinCutoff, type Policy, type PolicyInput } from "../../src/retention/policy.js";

/** One snapshot per time, ids s00, s01, … in the order given; host h, source "docs". */
const snaps = (times: string[], host = "h", sources = ["docs"]): PolicyInput[] =>
  times.map((time, i) => ({ id: `${host}-${String(i).padStart(2, "0")}`, time, host, sources }));

/** `days` days ending 2024-05-10, `perDay` snapshots a day at 06:00, 12:00, 18:00 (…). */
function daily(days: number, perDay: number): string[] {
  const out: string[] = [];
  for (let d = 0; d < days; d++) for (let k = 0; k < perDay; k++) out.push(new Date(Date.UTC(2024, 4, 10 - days + 1 + d, 6 + 6 * k)).toISOString());
  return out;
}

/** ids kept → reasons, for a single group */
function kept(input: PolicyInput[], policy: Policy): Record<string, string[]> {
  const groups = applyPolicy(input, policy);
  expect(groups).toHaveLength(1);
  const g = groups[0]!;
  expect(g.keep.length + g.remove.length).toBe(input.length);
  return Object.fromEntries(g.keep.map((d) => [d.id, d.reasons]));
}

const idAt = (input: PolicyInput[], time: string): string => input.find((s) => s.time === time)!.id;

describe("applyPolicy", () => {
  it("keep-daily 7 over 10 days with 3 snapshots a day keeps the last (18:00) snapshot of each of the 7 newest days", () => {
    const input = snaps(daily(10, 3));
    const k = kept(input, { daily: 7 });
    const expected = [4, 5, 6, 7, 8, 9, 10].map((d) => idAt(input, `2024-05-${String(d).padStart(2, "0")}T18:00:00.000Z`));
    expect(Object.keys(k).sort()).toEqual(expected.sort());
    for (const id of expected) expect(k[id]).toEqual(["daily snapshot"]);
  });

  const table: Array<[name: string, times: string[], policy: Policy, keep: Record<string, string[]>]> = [
    [
      "keep-last 2 keeps the two newest, whatever their time",
      ["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-06-01T00:00:00Z"],
      { last: 2 },
      { "h-02": ["last snapshot"], "h-01": ["last snapshot"] },
    ],
    [
      "keep-hourly 2: the newest of each of the two most recent hours that have snapshots (gaps do not count)",
      ["2024-01-01T08:10:00Z", "2024-01-01T08:50:00Z", "2024-01-01T10:05:00Z", "2024-01-01T13:01:00Z", "2024-01-01T13:59:59Z"],
      { hourly: 2 },
      { "h-04": ["hourly snapshot"], "h-02": ["hourly snapshot"] },
    ],
    [
      "days are UTC days: 23:30Z and 00:30Z the next day are two days",
      ["2024-03-01T23:30:00Z", "2024-03-02T00:30:00Z"],
      { daily: 2 },
      { "h-01": ["daily snapshot"], "h-00": ["daily snapshot"] },
    ],
    [
      "keep-weekly uses ISO weeks (Monday to Sunday): Sunday 2024-01-07 and Monday 2024-01-08 are two weeks",
      ["2024-01-01T12:00:00Z", "2024-01-07T12:00:00Z", "2024-01-08T12:00:00Z", "2024-01-14T12:00:00Z"],
      { weekly: 2 },
      { "h-03": ["weekly snapshot"], "h-01": ["weekly snapshot"] },
    ],
    [
      "ISO weeks cross years: Thu 2020-12-31 and Sun 2021-01-03 are both 2020-W53",
      ["2020-12-31T12:00:00Z", "2021-01-03T12:00:00Z", "2021-01-04T12:00:00Z"],
      { weekly: 3 },
      { "h-02": ["weekly snapshot"], "h-01": ["weekly snapshot"], "h-00": ["oldest weekly snapshot"] },
    ],
    [
      "keep-monthly 3 and keep-yearly 2 together; reasons add up",
      ["2022-12-31T00:00:00Z", "2023-11-15T00:00:00Z", "2023-12-01T00:00:00Z", "2023-12-20T00:00:00Z", "2024-01-02T00:00:00Z"],
      { monthly: 3, yearly: 2 },
      { "h-04": ["monthly snapshot", "yearly snapshot"], "h-03": ["monthly snapshot", "yearly snapshot"], "h-01": ["monthly snapshot"] },
    ],
    [
      "when a period rule has count left, the oldest snapshot is kept too (restic 0.17)",
      ["2024-05-01T01:00:00Z", "2024-05-01T02:00:00Z", "2024-05-02T01:00:00Z", "2024-05-03T01:00:00Z"],
      { daily: 7 },
      { "h-03": ["daily snapshot"], "h-02": ["daily snapshot"], "h-01": ["daily snapshot"], "h-00": ["oldest daily snapshot"] },
    ],
    [
      "keep-within 2d is relative to the newest snapshot, not to now, and strictly newer",
      ["2020-01-01T00:00:00Z", "2020-01-08T00:00:00Z", "2020-01-08T00:00:01Z", "2020-01-09T12:00:00Z", "2020-01-10T00:00:00Z"],
      { within: { years: 0, months: 0, days: 2, hours: 0 } },
      { "h-04": ["within 2d"], "h-03": ["within 2d"], "h-02": ["within 2d"] },
    ],
    [
      "every rule a snapshot satisfies is listed",
      ["2024-05-09T10:00:00Z", "2024-05-10T10:00:00Z"],
      { last: 1, daily: 1, monthly: 1, within: { years: 0, months: 0, days: 0, hours: 1 } },
      { "h-01": ["last snapshot", "daily snapshot", "monthly snapshot", "within 1h"] },
    ],
  ];

  it.each(table)("%s", (_name, times, policy, keep) => {
    expect(kept(snaps(times), policy)).toEqual(keep);
  });

  it("groups by host and sorted source labels; each group keeps its own", () => {
    const input: PolicyInput[] = [
      ...snaps(["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"], "web", ["site", "db"]),
      { id: "web-xx", time: "2024-01-03T00:00:00Z", host: "web", sources: ["db", "site"] }, // same group: order of labels does not matter
      ...snaps(["2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z"], "mail", ["maildir"]),
    ];
    const groups = applyPolicy(input, { last: 1 });
    expect(groups.map((g) => [g.host, g.sources, g.keep.map((d) => d.id), g.remove.map((d) => d.id)])).toEqual([
      ["mail", ["maildir"], ["mail-01"], ["mail-00"]],
      ["web", ["db", "site"], ["web-xx"], ["web-01", "web-00"]],
    ]);
  });

  it("the result does not depend on the input order", () => {
    const input = snaps(daily(10, 3));
    const shuffled = [...input].reverse();
    expect(applyPolicy(shuffled, { daily: 4, weekly: 2 })).toEqual(applyPolicy(input, { daily: 4, weekly: 2 }));
  });

  it("any non-empty policy keeps the newest snapshot of every group", () => {
    const input = snaps(daily(40, 2));
    for (const p of [{ last: 1 }, { hourly: 1 }, { daily: 1 }, { weekly: 1 }, { monthly: 1 }, { yearly: 1 }, { within: { years: 0, months: 0, days: 0, hours: 1 } }] as Policy[]) {
      expect(applyPolicy(input, p)[0]!.keep[0]!.id, JSON.stringify(p)).toBe(input.at(-1)!.id);
    }
  });
});

describe("keep-within durations", () => {
  it.each([
    ["2y5m7d3h", { years: 2, months: 5, days: 7, hours: 3 }],
    ["1y", { years: 1, months: 0, days: 0, hours: 0 }],
    ["36h", { years: 0, months: 0, days: 0, hours: 36 }],
    ["5m", { years: 0, months: 5, days: 0, hours: 0 }],
  ])("%s parses", (s, w) => expect(parseWithin(s)).toEqual(w));

  it.each(["", "1w", "1d2y", "h", "1.5d", "-1d", "1 d", "1D", "1y1y"])("%j is refused", (s) => expect(parseWithin(s)).toBeUndefined());

  it("years and months go by the calendar (UTC), then days, then hours", () => {
    const at = (s: string) => Date.parse(s);
    expect(new Date(withinCutoff(at("2024-05-10T12:00:00Z"), { years: 1, months: 2, days: 3, hours: 4 })).toISOString()).toBe("2023-03-07T08:00:00.000Z");
    // 2024-03-31 minus one month: "February 31" overflows to March 2 (as Go's AddDate does)
    expect(new Date(withinCutoff(at("2024-03-31T00:00:00Z"), { years: 0, months: 1, days: 0, hours: 0 })).toISOString()).toBe("2024-03-02T00:00:00.000Z");
  });
});

describe("isoWeek", () => {
  it.each([
    ["2021-01-03", 2020, 53],
    ["2021-01-04", 2021, 1],
    ["2024-12-30", 2025, 1],
    ["2024-01-01", 2024, 1],
    ["2026-11-28", 2026, 48],
  ])("%s is %i-W%i", (d, year, week) => expect(isoWeek(new Date(`${d}T12:00:00Z`))).toEqual({ year, week }));
});
