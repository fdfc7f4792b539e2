import { describe, expect, it } from "vitest";
import { membersText, rovingTarget } from "../src/chat/RoomList";

describe("room list", () => {
  it("moves focus with arrows, Home and End, and stops at the ends", () => {
    expect(rovingTarget("ArrowDown", 0, 3)).toBe(1);
    expect(rovingTarget("ArrowDown", 2, 3)).toBe(2);
    expect(rovingTarget("ArrowUp", 0, 3)).toBe(0);
    expect(rovingTarget("Home", 2, 3)).toBe(0);
    expect(rovingTarget("End", 0, 3)).toBe(2);
    expect(rovingTarget("Tab", 0, 3)).toBeNull();
  });
  it("says 1 member, 2 members", () => {
    expect(membersText(1)).toBe("1 member");
    expect(membersText(0)).toBe("0 members");
    expect(membersText(2)).toBe("2 members");
  });
});
