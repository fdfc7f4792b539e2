// How the log groups rows: a run of messages from one sender within a few
// minutes of each other shows the name and time once; a new calendar day
// (local time) gets a separator above its first message.
import type { Item } from "../types";

/** Messages closer than this to the previous one from the same sender join its group. */
export const GROUP_GAP_MS = 5 * 60 * 1000;

const dayKey = (d: Date) => d.getFullYear() * 10000 + d.getMonth() * 100 + d.getDate();

export function isNewDay(prev: Item | undefined, cur: Item): boolean {
  return !prev || dayKey(new Date(prev.ts)) !== dayKey(new Date(cur.ts));
}

/** True when cur starts a new group: another sender, a gap, a new day, or a failed send. */
export function startsGroup(prev: Item | undefined, cur: Item): boolean {
  if (!prev || prev.user.id !== cur.user.id || isNewDay(prev, cur)) return true;
  if (cur.state === "failed" || prev.state === "failed") return true;
  const gap = Date.parse(cur.ts) - Date.parse(prev.ts);
  return !(gap >= 0 && gap < GROUP_GAP_MS);
}

// By hand, as in MessageRow: an Intl.DateTimeFormat costs tens of ms on a slow phone.
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** "Today", "Yesterday", "Friday, 4 December" (this year) or "Friday, 4 December 2025". */
export function dayLabel(d: Date, now: Date): string {
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return "Today";
  if (dayKey(d) === dayKey(yesterday)) return "Yesterday";
  const base = `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]}`;
  return d.getFullYear() === now.getFullYear() ? base : `${base} ${d.getFullYear()}`;
}
