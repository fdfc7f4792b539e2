import { describe, expect, it } from "vitest";
import { shouldNotify, shouldNotifyMention } from "../src/chat/notify";
import { editable, mentionKey, splitMentions } from "../src/list/rowActions";
import type { Item, RoomInfo } from "../src/types";

describe("splitMentions", () => {
  const names = new Set(["alice", "annsmith", "bob", "דנה"]);
  it("marks @name of members the way the server matches them (no spaces, any case)", () => {
    expect(mentionKey("Ann Smith")).toBe("annsmith");
    expect(splitMentions("hey @Alice, look", names, "bob")).toEqual([{ text: "hey " }, { text: "@Alice", mention: "other" }, { text: ", look" }]);
    expect(splitMentions("@bob.", names, "bob")).toEqual([{ text: "@bob", mention: "me" }, { text: "." }]);
    expect(splitMentions("ping @AnnSmith and @nobody", names, "bob")).toEqual([{ text: "ping " }, { text: "@AnnSmith", mention: "other" }, { text: " and @nobody" }]);
    expect(splitMentions("שלום @דנה!", names, "bob")).toEqual([{ text: "שלום " }, { text: "@דנה", mention: "other" }, { text: "!" }]);
  });
  it("leaves e-mail addresses and unknown names alone", () => {
    expect(splitMentions("mail alice@alice.test", names, "bob")).toEqual([{ text: "mail alice@alice.test" }]);
    expect(splitMentions("hey @alicex", names, "bob")).toEqual([{ text: "hey @alicex" }]);
  });
});

describe("editable", () => {
  const m = (p: Partial<Item>): Item => ({ room: 1, seq: 2, user: { id: 1, name: "A" }, body: "x", ts: new Date(1_000_000).toISOString(), key: "s2", ...p });
  it("own stored messages within the hour", () => {
    expect(editable(m({}), 1, 1_000_000 + 59 * 60_000)).toBe(true);
    expect(editable(m({}), 1, 1_000_000 + 61 * 60_000)).toBe(false);
    expect(editable(m({}), 2, 1_000_000)).toBe(false);
    expect(editable(m({ deleted: true }), 1, 1_000_000)).toBe(false);
    expect(editable(m({ state: "sending" }), 1, 1_000_000)).toBe(false);
  });
});

describe("notifications", () => {
  const room = (p: Partial<RoomInfo> = {}): RoomInfo => ({ id: 1, name: "r", is_private: false, member_count: 5, last_seq: 1, joined: true, ...p });
  const msg = (body: string): Item => ({ room: 1, seq: 2, user: { id: 2, name: "Bob" }, body, ts: "", key: "s2" });
  it("a mention frame notifies unless the room is open in a visible tab", () => {
    expect(shouldNotifyMention(room(), 2, false)).toBe(true);
    expect(shouldNotifyMention(room(), 1, true)).toBe(true);
    expect(shouldNotifyMention(room(), 1, false)).toBe(false);
    expect(shouldNotifyMention(room({ joined: false }), 2, false)).toBe(false);
  });
  it("messages: only direct messages, unless that one is open in a visible tab (mentions are the server's)", () => {
    const dm = room({ is_private: true, member_count: 2, kind: "dm" });
    expect(shouldNotify(msg("hi"), dm, null, true)).toBe("dm");
    expect(shouldNotify(msg("hi"), dm, 2, false)).toBe("dm");
    expect(shouldNotify(msg("hi"), dm, 1, false)).toBeNull();
    expect(shouldNotify(msg("hi"), dm, 1, true)).toBe("dm");
    expect(shouldNotify(msg("hi"), room({ is_private: true, member_count: 2 }), null, true)).toBeNull();
    expect(shouldNotify(msg("@Alice hi"), room(), null, true)).toBeNull();
  });
});
