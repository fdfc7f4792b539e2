import { describe, expect, it } from "vitest";
import { keyCommand, nextFocus, pageSize } from "../src/list/useListKeyboard";

const key = (k: string, mods: Partial<{ altKey: boolean; ctrlKey: boolean; metaKey: boolean }> = {}) => ({
  key: k,
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  ...mods,
});

describe("keyCommand", () => {
  it("maps the list's keys and leaves everything else to the browser", () => {
    expect(["PageUp", "PageDown", "Home", "End", "ArrowUp", "ArrowDown", "Escape"].map((k) => keyCommand(key(k)))).toEqual([
      "pageUp",
      "pageDown",
      "home",
      "end",
      "up",
      "down",
      "escape",
    ]);
    expect(keyCommand(key("a"))).toBeNull();
    expect(keyCommand(key("Enter"))).toBeNull();
    expect(keyCommand(key("Home", { ctrlKey: true }))).toBeNull();
    expect(keyCommand(key("ArrowUp", { altKey: true }))).toBeNull();
    expect(keyCommand(key("End", { metaKey: true }))).toBeNull();
  });
});

describe("pageSize", () => {
  it("is 90 % of the view, at least 40 px", () => {
    expect(pageSize(1000)).toBe(900);
    expect(pageSize(10)).toBe(40);
  });
});

describe("nextFocus", () => {
  it("moves from the focused row, clamped", () => {
    expect(nextFocus(5, 0, 0, -1, 10)).toBe(4);
    expect(nextFocus(5, 0, 0, 1, 10)).toBe(6);
    expect(nextFocus(0, 0, 0, -1, 10)).toBe(0);
    expect(nextFocus(9, 0, 0, 1, 10)).toBe(9);
  });
  it("without a focused row, starts at the edge of the view: ↑ the bottom row, ↓ the top row", () => {
    expect(nextFocus(-1, 3, 7, -1, 10)).toBe(7);
    expect(nextFocus(-1, 3, 7, 1, 10)).toBe(3);
  });
});
