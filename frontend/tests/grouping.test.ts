import { describe, expect, it } from "vitest";
import { dayLabel, isNewDay, startsGroup } from "../src/list/grouping";
import type { Item } from "../src/types";

const at = (y: number, mo: number, d: number, h = 12, mi = 0) => new Date(y, mo - 1, d, h, mi).toISOString();
const item = (user: number, ts: string, state?: Item["state"]): Item => ({ room: 1, seq: 1, user: { id: user, name: "u" + user }, body: "x", ts, key: ts + user, state });

describe("grouping", () => {
  it("groups a run from one sender within 5 minutes", () => {
    const a = item(1, at(2026, 12, 4, 10, 0));
    const b = item(1, at(2026, 12, 4, 10, 4));
    const c = item(1, at(2026, 12, 4, 10, 10));
    expect(startsGroup(undefined, a)).toBe(true);
    expect(startsGroup(a, b)).toBe(false);
    expect(startsGroup(b, item(1, at(2026, 12, 4, 10, 9)))).toBe(true); // exactly 5 min
    expect(startsGroup(b, c)).toBe(true);
  });
  it("starts a group for another sender, a new day, or a failed send", () => {
    const a = item(1, at(2026, 12, 4, 23, 58));
    expect(startsGroup(a, item(2, at(2026, 12, 4, 23, 59)))).toBe(true);
    expect(startsGroup(a, item(1, at(2026, 12, 5, 0, 1)))).toBe(true);
    expect(startsGroup(a, item(1, at(2026, 12, 4, 23, 59), "failed"))).toBe(true);
    expect(startsGroup(a, item(1, at(2026, 12, 4, 23, 59), "sending"))).toBe(false);
  });
  it("puts a day separator before the first message of each local day", () => {
    const a = item(1, at(2026, 12, 4, 23, 59));
    expect(isNewDay(undefined, a)).toBe(true);
    expect(isNewDay(a, item(2, at(2026, 12, 4, 0, 0)))).toBe(false);
    expect(isNewDay(a, item(1, at(2026, 12, 5, 0, 0)))).toBe(true);
  });
  it("labels days: Today, Yesterday, weekday and date, the year when not this one", () => {
    const now = new Date(2026, 11, 4, 9, 0); // Friday 4 December 2026
    expect(dayLabel(new Date(2026, 11, 4, 23, 0), now)).toBe("Today");
    expect(dayLabel(new Date(2026, 11, 3, 0, 0), now)).toBe("Yesterday");
    expect(dayLabel(new Date(2026, 11, 1), now)).toBe("Tuesday, 1 December");
    expect(dayLabel(new Date(2025, 11, 31), now)).toBe("Wednesday, 31 December 2025");
    expect(dayLabel(new Date(2026, 0, 1), new Date(2026, 0, 2))).toBe("Yesterday"); // across a month
    expect(dayLabel(new Date(2025, 11, 31), new Date(2026, 0, 1))).toBe("Yesterday"); // across a year
  });
});
