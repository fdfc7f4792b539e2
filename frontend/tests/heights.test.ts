import { describe, expect, it } from "vitest";
import { IdHeights } from "../src/list/heights";

describe("IdHeights", () => {
  it("keeps heights on their message when rows are prepended", () => {
    const h = new IdHeights(50);
    h.setKeys(["a", "b", "c"]);
    h.set("a", 20);
    h.set("b", 40);
    h.set("c", 60);
    expect(h.offsetOf(2)).toBe(60);
    const before = h.offsetOf(h.indexOf("c"));
    h.setKeys(["x", "y", "a", "b", "c"]);
    h.set("x", 10);
    h.set("y", 30);
    // "c" moved down by exactly the prepended heights.
    expect(h.offsetOf(h.indexOf("c")) - before).toBe(40);
    expect(h.heightAt(4)).toBe(60);
  });
  it("unmeasured rows use an estimate learned once from the first measurements", () => {
    const h = new IdHeights(50);
    h.setKeys(["a", "b", "c", "d", "e"]);
    expect(h.total()).toBe(250);
    h.measure([["a", 20], ["b", 40], ["c", 40]]);
    expect(h.average()).toBe(40); // median of the first batch, then frozen
    expect(h.total()).toBe(20 + 40 + 40 + 40 + 40);
    h.measure([["d", 100]]);
    expect(h.average()).toBe(40);
    expect(h.total()).toBe(20 + 40 + 40 + 100 + 40);
  });
  it("a row measuring exactly the estimate moves nothing and bumps no version", () => {
    const h = new IdHeights(50);
    h.setKeys(["a", "b", "c"]);
    h.measure([["a", 50], ["b", 50], ["c", 50]]);
    const v = h.version;
    h.setKeys(["a", "b", "c", "d"]);
    h.measure([["d", 50]]);
    expect(h.version).toBe(v);
    h.measure([["d", 70]]);
    expect(h.version).toBe(v + 1);
    expect(h.offsetOf(4)).toBe(220);
  });
  it("patches offsets in place when a row above changes", () => {
    const h = new IdHeights(10);
    h.setKeys(["a", "b", "c", "d"]);
    expect(h.offsetOf(3)).toBe(30);
    h.set("b", 25);
    expect(h.offsetOf(3)).toBe(45);
    expect(h.offsetOf(2)).toBe(35);
    expect(h.offsetOf(1)).toBe(10);
  });
  it("indexAt finds the row covering an offset", () => {
    const h = new IdHeights(10);
    h.setKeys(["a", "b", "c"]);
    h.set("a", 10);
    h.set("b", 20);
    h.set("c", 30);
    expect(h.indexAt(0)).toBe(0);
    expect(h.indexAt(9.9)).toBe(0);
    expect(h.indexAt(10)).toBe(1);
    expect(h.indexAt(29)).toBe(1);
    expect(h.indexAt(30)).toBe(2);
    expect(h.indexAt(1e9)).toBe(2);
  });
  it("ignores sub-pixel jitter and bad values", () => {
    const h = new IdHeights(10);
    h.setKeys(["a"]);
    expect(h.set("a", 20)).toBe(true);
    expect(h.set("a", 20.2)).toBe(false);
    expect(h.set("a", 0)).toBe(false);
  });
  it("handles 100,000 rows quickly", () => {
    const h = new IdHeights(50);
    const keys = Array.from({ length: 100_000 }, (_, i) => "s" + i);
    h.setKeys(keys);
    for (let i = 0; i < 100_000; i += 3) h.set(keys[i], 40 + (i % 7) * 10);
    const t = performance.now();
    const y = h.offsetOf(99_999);
    expect(h.indexAt(y)).toBe(99_999);
    expect(h.indexAt(h.offsetOf(54_321) + 1)).toBe(54_321);
    expect(performance.now() - t).toBeLessThan(100);
  });
});
