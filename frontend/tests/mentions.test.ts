import { describe, expect, it } from "vitest";
import { mentions } from "../src/store/mentions";
import { shouldNotify } from "../src/chat/notify";
import type { Item, RoomInfo } from "../src/types";

describe("mentions", () => {
  it("matches @name as a word, any case", () => {
    expect(mentions("hey @alice, look", "Alice")).toBe(true);
    expect(mentions("@ALICE", "Alice")).toBe(true);
    expect(mentions("hey @alicex", "Alice")).toBe(false);
    expect(mentions("mail alice@alice.test", "Alice")).toBe(false);
    expect(mentions("alice without at", "Alice")).toBe(false);
  });
  it("handles names with spaces and special characters", () => {
    expect(mentions("ping @Ada Lovelace", "Ada Lovelace")).toBe(true);
    expect(mentions("ping @ada", "Ada Lovelace")).toBe(true);
    expect(mentions("ping @a.b", "a.b")).toBe(true);
    expect(mentions("ping @aXb", "a.b")).toBe(false);
    expect(mentions("שלום @דנה!", "דנה")).toBe(true);
  });
});

describe("shouldNotify", () => {
  const room = (p: Partial<RoomInfo> = {}): RoomInfo => ({ id: 1, name: "r", is_private: false, member_count: 5, last_seq: 1, joined: true, ...p });
  const msg = (body: string): Item => ({ room: 1, seq: 2, user: { id: 2, name: "Bob" }, body, ts: "", key: "s2" });
  it("notifies a mention unless the room is open in a visible tab", () => {
    expect(shouldNotify(msg("@Alice hi"), "Alice", room(), 2, false)).toBe("mention");
    expect(shouldNotify(msg("@Alice hi"), "Alice", room(), 1, true)).toBe("mention");
    expect(shouldNotify(msg("@Alice hi"), "Alice", room(), 1, false)).toBeNull();
    expect(shouldNotify(msg("hi all"), "Alice", room(), 2, true)).toBeNull();
  });
  it("notifies anything in a two-person private room while the tab is hidden", () => {
    const dm = room({ is_private: true, member_count: 2 });
    expect(shouldNotify(msg("hi"), "Alice", dm, null, true)).toBe("hidden");
    expect(shouldNotify(msg("hi"), "Alice", dm, null, false)).toBeNull();
  });
});
