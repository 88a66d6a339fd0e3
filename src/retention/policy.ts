/**
 * The retention policy: which snapshots `isnad forget` keeps, with restic's semantics, as a pure
 * function of the seals' plaintext (time, host, sources). No key, no storage.
 *
 * - Snapshots are grouped by host and sorted source labels; each group is decided on its own.
 * - Within a group, newest first: `last N` keeps the N newest; `hourly|daily|weekly|monthly|yearly N`
 *   keeps the newest snapshot of each of the N most recent such periods that have a snapshot
 *   (weeks are ISO 8601 weeks, Monday to Sunday); `within D` keeps every snapshot newer than the
 *   group's newest snapshot minus D (strictly newer). All periods are UTC.
 * - As restic (0.17+) does: when a period rule still has count left after the whole group, the
 *   oldest snapshot of the group is kept too ("oldest daily" …), so a young repository keeps its
 *   full history.
 * - A snapshot kept by several rules lists every reason; a snapshot no rule keeps is removed.
 */

export interface PolicyInput {
  id: string;
  /** ISO 8601 time from the seal. */
  time: string;
  host: string;
  sources: string[];
}

/** `--keep-within`: years, months, days and hours, as in 2y5m7d3h. */
export interface Within {
  years: number;
  months: number;
  days: number;
  hours: number;
}

export interface Policy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  within?: Within;
}

export interface Decision {
  id: string;
  time: string;
  /** Why it is kept ("last snapshot", "daily snapshot", …); empty when it is removed. */
  reasons: string[];
}

export interface GroupDecision {
  host: string;
  sources: string[];
  /** Newest first. */
  keep: Decision[];
  /** Newest first. */
  remove: Decision[];
}

const PERIODS = ["hourly", "daily", "weekly", "monthly", "yearly"] as const;
type Period = (typeof PERIODS)[number];

export function isEmptyPolicy(p: Policy): boolean {
  return p.last === undefined && p.within === undefined && PERIODS.every((k) => p[k] === undefined);
}

/** Applies the policy to every group. Groups are returned in order of their newest snapshot, newest first. */
export function applyPolicy(snapshots: PolicyInput[], policy: Policy): GroupDecision[] {
  const groups = new Map<string, PolicyInput[]>();
  for (const s of snapshots) {
    const sources = [...s.sources].sort();
    const key = JSON.stringify([s.host, sources]);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(s);
  }
  const out: GroupDecision[] = [];
  for (const list of groups.values()) out.push(applyToGroup(list, policy));
  return out.sort((a, b) => compareTime(b.keep[0] ?? b.remove[0]!, a.keep[0] ?? a.remove[0]!));
}

function applyToGroup(list: PolicyInput[], policy: Policy): GroupDecision {
  // Newest first; equal times by id so the result never depends on input order.
  const sorted = [...list].sort((a, b) => compareTime(b, a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const first = sorted[0]!;
  const decision: GroupDecision = { host: first.host, sources: [...first.sources].sort(), keep: [], remove: [] };
  const left: Record<Period | "last", number> = {
    last: policy.last ?? 0,
    hourly: policy.hourly ?? 0,
    daily: policy.daily ?? 0,
    weekly: policy.weekly ?? 0,
    monthly: policy.monthly ?? 0,
    yearly: policy.yearly ?? 0,
  };
  const lastPeriod = new Map<Period, string>();
  const cutoff = policy.within ? withinCutoff(Date.parse(first.time), policy.within) : undefined;

  sorted.forEach((s, i) => {
    const t = new Date(Date.parse(s.time));
    const reasons: string[] = [];
    if (left.last > 0) {
      reasons.push("last snapshot");
      left.last--;
    }
    const isOldest = i === sorted.length - 1;
    for (const p of PERIODS) {
      if (left[p] <= 0) continue;
      const k = periodKey(t, p);
      if (k !== lastPeriod.get(p)) {
        lastPeriod.set(p, k);
        reasons.push(`${p} snapshot`);
        left[p]--;
      } else if (isOldest) {
        reasons.push(`oldest ${p} snapshot`);
      }
    }
    if (cutoff !== undefined && t.getTime() > cutoff) reasons.push(`within ${formatWithin(policy.within!)}`);
    (reasons.length ? decision.keep : decision.remove).push({ id: s.id, time: s.time, reasons });
  });
  return decision;
}

/** The period a time falls in, in UTC: equal keys = same hour/day/ISO week/month/year. */
export function periodKey(t: Date, p: Period): string {
  const y = t.getUTCFullYear();
  const m = t.getUTCMonth() + 1;
  const d = t.getUTCDate();
  switch (p) {
    case "yearly":
      return `${y}`;
    case "monthly":
      return `${y}-${m}`;
    case "daily":
      return `${y}-${m}-${d}`;
    case "hourly":
      return `${y}-${m}-${d}T${t.getUTCHours()}`;
    case "weekly": {
      const w = isoWeek(t);
      return `${w.year}-W${w.week}`;
    }
  }
}

/** ISO 8601 week: weeks start on Monday; week 1 is the one holding the year's first Thursday. */
export function isoWeek(t: Date): { year: number; week: number } {
  const day = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  const dow = day.getUTCDay() || 7; // Monday 1 … Sunday 7
  day.setUTCDate(day.getUTCDate() + 4 - dow); // the Thursday of this week decides the year
  const year = day.getUTCFullYear();
  const week = Math.ceil(((day.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return { year, week };
}

/**
 * newest - D: years and months by the calendar (day of month kept, overflowing into the next
 * month as JavaScript's Date and Go's AddDate both do), then days, then hours, all in UTC.
 */
export function withinCutoff(newestMs: number, w: Within): number {
  const t = new Date(newestMs);
  t.setUTCFullYear(t.getUTCFullYear() - w.years, t.getUTCMonth() - w.months, t.getUTCDate() - w.days);
  return t.getTime() - w.hours * 3_600_000;
}

/** "2y5m7d3h" (any of the parts, in this order, at least one; whole numbers) -> Within. */
export function parseWithin(s: string): Within | undefined {
  const m = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$/.exec(s);
  if (!m || s === "") return undefined;
  const n = (x: string | undefined) => (x === undefined ? 0 : Number(x));
  const w = { years: n(m[1]), months: n(m[2]), days: n(m[3]), hours: n(m[4]) };
  if (![w.years, w.months, w.days, w.hours].every(Number.isSafeInteger)) return undefined;
  return w;
}

export function formatWithin(w: Within): string {
  const s = `${w.years ? `${w.years}y` : ""}${w.months ? `${w.months}m` : ""}${w.days ? `${w.days}d` : ""}${w.hours ? `${w.hours}h` : ""}`;
  return s || "0h";
}

function compareTime(a: { time: string }, b: { time: string }): number {
  return Date.parse(a.time) - Date.parse(b.time);
}
