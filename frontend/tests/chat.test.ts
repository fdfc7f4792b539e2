import { describe, expect, it } from "vitest";
import { ackPending, addMessages, advanceContig, emptyChat, gapOf, itemsOf, keyFor, mergeSorted, toItem } from "../src/store/chat";
import type { Item } from "../src/types";

const ME = 1;
const msg = (seq: number, user = 2, cid?: string): Item =>
  toItem({ room: 7, seq, user: { id: user, name: "u" + user }, body: "m" + seq, cid, ts: "2025-01-01T00:00:00.000000Z" }, ME);
const seqs = (l: Item[]) => l.map((m) => m.seq);

describe("mergeSorted", () => {
  it("appends, prepends and interleaves without duplicates", () => {
    const a = [msg(3), msg(4)];
    expect(seqs(mergeSorted(a, [msg(5), msg(6)]))).toEqual([3, 4, 5, 6]);
    expect(seqs(mergeSorted(a, [msg(1), msg(2)]))).toEqual([1, 2, 3, 4]);
    expect(seqs(mergeSorted([msg(1), msg(4)], [msg(3), msg(2), msg(4), msg(2)]))).toEqual([1, 2, 3, 4]);
  });
  it("returns the same array when nothing is new", () => {
    const a = [msg(1), msg(2)];
    expect(mergeSorted(a, [msg(2), msg(1)])).toBe(a);
    expect(mergeSorted(a, [])).toBe(a);
  });
  it("dedupes within an appended batch", () => {
    expect(seqs(mergeSorted([msg(1)], [msg(2), msg(2), msg(3)]))).toEqual([1, 2, 3]);
  });
});

describe("keys", () => {
  it("keys our messages by cid and others by seq", () => {
    expect(keyFor({ seq: 5, cid: "x", user: { id: ME } }, ME)).toBe("cx");
    expect(keyFor({ seq: 5, cid: "x", user: { id: 2 } }, ME)).toBe("s5");
    expect(keyFor({ seq: 5, user: { id: ME } }, ME)).toBe("s5");
  });
});

describe("gaps", () => {
  it("tracks the contiguous run and reports the first hole", () => {
    let c = addMessages(emptyChat(7), [msg(10), msg(11), msg(12)]);
    expect(c.contigTo).toBe(12);
    expect(gapOf(c)).toBeNull();
    c = addMessages(c, [msg(15), msg(16)]);
    expect(c.contigTo).toBe(12);
    expect(gapOf(c)).toEqual({ after: 12, upTo: 14 });
    c = addMessages(c, [msg(13), msg(14)]);
    expect(c.contigTo).toBe(16);
    expect(gapOf(c)).toBeNull();
  });
  it("an older page extends the run downwards", () => {
    let c = addMessages(emptyChat(7), [msg(51), msg(52)]);
    c = addMessages(c, Array.from({ length: 50 }, (_, i) => msg(50 - i)));
    expect(c.msgs[0].seq).toBe(1);
    expect(c.contigTo).toBe(52);
  });
  it("advanceContig scans forward only from the old end", () => {
    const l = [msg(1), msg(2), msg(3), msg(5)];
    expect(advanceContig(l, 0)).toBe(3);
    expect(advanceContig(l, 3)).toBe(3);
  });
});

describe("pending and acks", () => {
  const pending = (cid: string): Item => ({ ...msg(0, ME, cid), seq: 0, key: "c" + cid, state: "sending" });
  it("an ack turns the pending row into a stored one under the same key", () => {
    let c = { ...addMessages(emptyChat(7), [msg(1)]), pending: [pending("a"), pending("b")] };
    expect(itemsOf(c).map((m) => m.key)).toEqual(["s1", "ca", "cb"]);
    c = ackPending(c, "a", 2);
    expect(c.pending.map((p) => p.key)).toEqual(["cb"]);
    expect(itemsOf(c).map((m) => m.key)).toEqual(["s1", "ca", "cb"]);
    expect(c.msgs[1].seq).toBe(2);
    // The echo of the same message arrives afterwards: nothing doubles.
    c = addMessages(c, [msg(2, ME, "a")]);
    expect(itemsOf(c).map((m) => m.key)).toEqual(["s1", "ca", "cb"]);
  });
  it("the echo before the ack also confirms, and a duplicate ack is harmless", () => {
    let c = { ...emptyChat(7), loaded: true, pending: [pending("a")] };
    c = addMessages(c, [msg(1, ME, "a")]);
    expect(c.pending).toHaveLength(0);
    expect(itemsOf(c).map((m) => m.key)).toEqual(["ca"]);
    expect(ackPending(c, "a", 1)).toBe(c);
  });
});

describe("room events", () => {
  const ev = (seq: number, type: string, target: number, body = ""): Item =>
    toItem({ type, room: 7, seq, target, user: { id: 2, name: "u2" }, body, ts: "2025-01-01T00:00:01.000000Z" }, ME);
  it("applies edits and deletes to their targets, hides the events, keeps seqs contiguous", () => {
    let c = addMessages(emptyChat(7), [msg(1), msg(2), msg(3)]);
    c = addMessages(c, [ev(4, "edit", 1, "new text"), ev(5, "reaction", 2), ev(6, "delete", 3)]);
    expect(c.contigTo).toBe(6);
    expect(gapOf(c)).toBeNull();
    const shown = itemsOf(c);
    expect(seqs(shown)).toEqual([1, 2, 3]);
    expect(shown[0].body).toBe("new text");
    expect(shown[0].edited_at).toBeTruthy();
    expect(shown[2].deleted).toBe(true);
    expect(shown[2].body).toBe("");
  });
  it("skips an event its target's state already shows (rev)", () => {
    const current = toItem({ room: 7, seq: 1, user: { id: 2, name: "u2" }, body: "v2", rev: 3, edited_at: "t", ts: "t0" }, ME);
    const c = addMessages(emptyChat(7), [current, ev(2, "edit", 1, "v1"), ev(3, "edit", 1, "v2")]);
    expect(itemsOf(c)[0].body).toBe("v2");
    const replayed = addMessages(addMessages(emptyChat(7), [current]), [ev(2, "edit", 1, "v1")]);
    expect(itemsOf(replayed)[0].body).toBe("v2");
  });
  it("counts reactions per emoji by user, once each, and a delete drops them", () => {
    const r = (seq: number, target: number, user: number, emoji: string, op: "add" | "remove"): Item =>
      toItem({ type: "reaction", room: 7, seq, target, user: { id: user, name: "u" + user }, body: "", emoji, op, ts: "t" }, ME);
    let c = addMessages(emptyChat(7), [msg(1), msg(2)]);
    c = addMessages(c, [r(3, 1, 2, "👍", "add"), r(4, 1, ME, "👍", "add"), r(5, 1, 2, "🎉", "add"), r(6, 1, 2, "👍", "remove")]);
    expect(itemsOf(c)[0].reactions).toEqual([
      { emoji: "👍", users: [ME] },
      { emoji: "🎉", users: [2] },
    ]);
    // A replayed event the state already shows counts nothing twice.
    const snap = toItem({ room: 7, seq: 1, user: { id: 2, name: "u2" }, body: "b", rev: 4, reactions: [{ emoji: "👍", users: [2, ME] }], ts: "t0" }, ME);
    const again = addMessages(emptyChat(7), [snap, r(3, 1, 2, "👍", "add"), r(4, 1, ME, "👍", "add"), r(5, 1, 2, "🎉", "add")]);
    expect(itemsOf(again)[0].reactions).toEqual([
      { emoji: "👍", users: [2, ME] },
      { emoji: "🎉", users: [2] },
    ]);
    c = addMessages(c, [toItem({ type: "delete", room: 7, seq: 7, target: 1, user: { id: 2, name: "u2" }, body: "", ts: "t" }, ME)]);
    expect(itemsOf(c)[0].reactions).toBeUndefined();
  });
});
