import { describe, expect, it } from "vitest";
import {
  capWin,
  EDGE_PX,
  headWin,
  MAX_WINDOW,
  NEAR_TOP_PX,
  seqIndex,
  shouldLoadOlder,
  slideWin,
  STEP,
  storedCount,
  tailWin,
  WINDOW,
  winBounds,
} from "../src/list/usePaging";
import type { Item } from "../src/types";

const stored = (seq: number): Item => ({ room: 1, seq, user: { id: 2, name: "u" }, body: "", ts: "", key: "s" + seq });
const pending = (cid: string): Item => ({ room: 1, seq: 0, user: { id: 1, name: "me" }, body: "", ts: "", key: "c" + cid, state: "sending" });
/** Stored seq 1..n (with a hole after 10 to check seq lookups), then pending rows. */
function rows(n: number, pend = 0): Item[] {
  const out: Item[] = [];
  for (let i = 1; i <= n; i++) out.push(stored(i <= 10 ? i : i + 5));
  for (let i = 0; i < pend; i++) out.push(pending("p" + i));
  return out;
}
const box = (scrollTop: number, scrollHeight = 1e6, clientHeight = 800) => ({ scrollTop, scrollHeight, clientHeight });

describe("window arithmetic", () => {
  it("counts stored rows and finds seqs by binary search", () => {
    const all = rows(20, 2);
    expect(storedCount(all)).toBe(20);
    expect(storedCount([pending("a")])).toBe(0);
    expect(seqIndex(all, 20, 1)).toBe(0);
    expect(seqIndex(all, 20, 11)).toBe(10); // seq 11..15 are a hole: the next held one is seq 16 at index 10
    expect(seqIndex(all, 20, 16)).toBe(10);
    expect(seqIndex(all, 20, 999)).toBe(20);
  });

  it("the tail window holds the newest WINDOW stored rows and every pending one", () => {
    const all = rows(3000, 2);
    const w = tailWin(all);
    expect(w).toEqual({ startSeq: all[2000].seq, endSeq: null });
    expect(winBounds(all, w)).toEqual([2000, 3002]);
    expect(tailWin(rows(10))).toEqual({ startSeq: 0, endSeq: null });
  });

  it("the head window holds the oldest WINDOW rows", () => {
    const all = rows(3000);
    expect(headWin(all)).toEqual({ startSeq: 0, endSeq: all[WINDOW - 1].seq });
    expect(winBounds(all, headWin(all))).toEqual([0, WINDOW]);
    expect(headWin(rows(10, 1))).toEqual({ startSeq: 0, endSeq: null });
  });

  it("bounds follow seqs, so a prepended page keeps the same rows in the window", () => {
    const all = rows(3000);
    const w = { startSeq: all[1000].seq, endSeq: all[1999].seq };
    expect(winBounds(all, w)).toEqual([1000, 2000]);
    const older: Item[] = Array.from({ length: 100 }, (_, i) => stored(-100 + i)).concat(all);
    expect(winBounds(older, w)).toEqual([1100, 2100]);
  });
});

describe("capWin", () => {
  it("leaves a window of up to MAX_WINDOW rows alone", () => {
    const all = rows(5000);
    expect(capWin(all, { startSeq: 0, endSeq: null }, 3000, 5000, true, -1)).toBeNull();
  });

  it("a pinned reader at the tail keeps the newest rows", () => {
    const all = rows(5000);
    expect(capWin(all, { startSeq: 0, endSeq: null }, 0, 5000, true, -1)).toEqual(tailWin(all));
  });

  it("else MAX_WINDOW rows centred on the anchor, clamped to the history", () => {
    const all = rows(5000);
    const w = capWin(all, { startSeq: 0, endSeq: null }, 0, 5000, false, 2500)!;
    expect(winBounds(all, w)).toEqual([1500, 3500]);
    const low = capWin(all, { startSeq: 0, endSeq: null }, 0, 5000, false, 10)!;
    expect(low).toEqual({ startSeq: 0, endSeq: all[MAX_WINDOW - 1].seq });
    const high = capWin(all, { startSeq: 0, endSeq: null }, 0, 5000, false, 4990)!;
    expect(high).toEqual({ startSeq: all[5000 - MAX_WINDOW].seq, endSeq: null });
    const none = capWin(all, { startSeq: 0, endSeq: null }, 0, 5000, false, -1)!; // no anchor: from the window's start
    expect(winBounds(all, none)).toEqual([0, MAX_WINDOW]);
  });
});

describe("slideWin", () => {
  const all = rows(10000, 1);
  it("slides STEP rows up near the top of a window that does not start at the oldest row", () => {
    const w = slideWin(all, 4000, 6000, box(EDGE_PX - 1))!;
    expect(winBounds(all, w)).toEqual([4000 - STEP, 6000 - STEP]);
    expect(slideWin(all, 0, 2000, box(0))).toBeNull();
  });
  it("sliding up from the tail keeps the window open-ended while it still reaches the end", () => {
    const w = slideWin(all, 9000, 10001, box(0))!;
    expect(w).toEqual({ startSeq: all[9000 - STEP].seq, endSeq: null });
  });
  it("slides STEP rows down near the bottom of a window that does not end with the newest row", () => {
    const w = slideWin(all, 4000, 6000, box(1e6 - 800 - EDGE_PX + 1))!;
    expect(winBounds(all, w)).toEqual([4000 + STEP, 6000 + STEP]); // still MAX_WINDOW rows
    const tail = slideWin(all, 8000, 9800, box(1e6 - 800))!;
    expect(tail).toEqual({ startSeq: all[all.length - MAX_WINDOW].seq, endSeq: null }); // reaches the end: open-ended again
  });
  it("stays away from the edges", () => {
    expect(slideWin(all, 4000, 6000, box(EDGE_PX))).toBeNull();
    expect(slideWin(all, 9000, 10001, box(1e6 - 800))).toBeNull();
  });
});

describe("shouldLoadOlder", () => {
  it("only near the top of a window starting at the oldest cached row, when there is more and nothing loading", () => {
    expect(shouldLoadOlder(NEAR_TOP_PX - 1, 0, true, false)).toBe(true);
    expect(shouldLoadOlder(NEAR_TOP_PX, 0, true, false)).toBe(false);
    expect(shouldLoadOlder(0, 500, true, false)).toBe(false);
    expect(shouldLoadOlder(0, 0, false, false)).toBe(false);
    expect(shouldLoadOlder(0, 0, true, true)).toBe(false);
  });
});
