import { describe, expect, it } from "vitest";
import { IdHeights } from "../src/list/heights";
import { anchorAt, isAtBottom, newLastAction, restoreTop, scrolledByUs, STICK_PX } from "../src/list/usePinnedToBottom";
import type { Item } from "../src/types";

const ME = 1;
const msg = (key: string, user = 2, state?: Item["state"]): Item => ({ room: 1, seq: 1, user: { id: user, name: "u" }, body: "", ts: "", key, state });
const box = (scrollTop: number, scrollHeight = 1000, clientHeight = 200) => ({ scrollTop, scrollHeight, clientHeight });

function rowsOf(...hs: number[]) {
  const h = new IdHeights(50);
  h.setKeys(hs.map((_, i) => "k" + i));
  hs.forEach((px, i) => h.set("k" + i, px));
  return h;
}

describe("isAtBottom", () => {
  it("pins within STICK_PX of the bottom, only when the window ends with the newest row", () => {
    expect(isAtBottom(box(800), true)).toBe(true);
    expect(isAtBottom(box(800 - STICK_PX + 1), true)).toBe(true);
    expect(isAtBottom(box(800 - STICK_PX), true)).toBe(false);
    expect(isAtBottom(box(800), false)).toBe(false);
  });
});

describe("anchorAt", () => {
  it("takes the row at the top of the view and the offset into it", () => {
    const rows = rowsOf(100, 40, 60);
    expect(anchorAt(rows, 0)).toEqual({ key: "k0", delta: 0 });
    expect(anchorAt(rows, 120)).toEqual({ key: "k1", delta: 20 });
    expect(anchorAt(rows, 150)).toEqual({ key: "k2", delta: 10 });
    expect(anchorAt(new IdHeights(50), 0)).toBeNull();
  });
});

describe("restoreTop", () => {
  it("pinned: the bottom, unless already within 1 px", () => {
    const rows = rowsOf(100);
    expect(restoreTop({ pinned: true, anchor: null }, rows, box(500))).toBe(800);
    expect(restoreTop({ pinned: true, anchor: null }, rows, box(799.5))).toBeNull();
  });
  it("anchored: the anchor row's top plus the offset, wherever rows above were added or measured", () => {
    const rows = rowsOf(100, 40, 60);
    const a = anchorAt(rows, 120)!;
    expect(restoreTop({ pinned: false, anchor: a }, rows, box(120))).toBeNull();
    // An older page of three rows and a re-measured row above the anchor.
    rows.setKeys(["o1", "o2", "o3", "k0", "k1", "k2"]);
    rows.measure([["o1", 30], ["o2", 30], ["o3", 30]]);
    rows.set("k0", 110);
    expect(restoreTop({ pinned: false, anchor: a }, rows, box(120))).toBe(90 + 110 + 20);
  });
  it("nothing to restore without an anchor or when its row left the window", () => {
    const rows = rowsOf(100);
    expect(restoreTop({ pinned: false, anchor: null }, rows, box(10))).toBeNull();
    expect(restoreTop({ pinned: false, anchor: { key: "gone", delta: 0 } }, rows, box(10))).toBeNull();
  });
});

describe("scrolledByUs", () => {
  it("a scroll event at the position we set (within 1 px) is ours", () => {
    expect(scrolledByUs(500, 500)).toBe(true);
    expect(scrolledByUs(500, 500.6)).toBe(true);
    expect(scrolledByUs(500, 501)).toBe(false);
    expect(scrolledByUs(null, 0)).toBe(false);
  });
});

describe("newLastAction", () => {
  it("follows our own send, even when scrolled up", () => {
    expect(newLastAction(msg("ca", ME, "sending"), "s1", ME, false)).toBe("follow");
  });
  it("offers New messages to a reader scrolled up, not to a pinned one", () => {
    expect(newLastAction(msg("s2"), "s1", ME, false)).toBe("newBelow");
    expect(newLastAction(msg("s2"), "s1", ME, true)).toBeNull();
    expect(newLastAction(msg("cb", ME), "s1", ME, false)).toBe("newBelow"); // our message stored elsewhere (not a send of this page)
  });
  it("nothing when the last row is the same, or on the first rows", () => {
    expect(newLastAction(msg("s1"), "s1", ME, false)).toBeNull();
    expect(newLastAction(msg("s1"), undefined, ME, false)).toBeNull();
    expect(newLastAction(undefined, "s1", ME, false)).toBeNull();
  });
});
