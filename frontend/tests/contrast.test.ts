// Every text colour in styles.css against the backgrounds it is used on,
// in both schemes: WCAG AA (4.5:1 for text, 3:1 for the online dot and borders of fields).
/// <reference types="node" />
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

// Read from disk: vitest hands CSS imports (even ?raw) over empty.
const css = readFileSync(new URL("../src/styles.css", import.meta.url), "utf8");
const vars = new Map<string, [string, string]>();
for (const m of css.matchAll(/--([\w-]+):\s*light-dark\((#[0-9a-f]{6}),\s*(#[0-9a-f]{6})\)/gi)) vars.set(m[1], [m[2], m[3]]);

const lum = (hex: string) => {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
};
const ratio = (a: string, b: string) => {
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};

const TEXT: [string, string][] = [
  ["fg", "bg"], ["fg", "panel"], ["fg", "mine"], ["fg", "hover"], ["fg", "current"], ["fg", "focus-bg"],
  ["muted", "bg"], ["muted", "panel"], ["muted", "mine"], ["muted", "current"],
  ["brand", "bg"], ["brand", "panel"], ["accent", "bg"], ["accent", "panel"], ["accent", "mine"],
  ["danger", "bg"], ["danger", "panel"], ["danger", "mine"], ["ok", "bg"],
  ["primary-fg", "primary"], ["accent-bg-fg", "accent-bg"], ["badge-fg", "badge"],
  ["warn-fg", "warn-bg"], ["bad-fg", "bad-bg"], ["toast-fg", "toast-bg"],
];
const NON_TEXT: [string, string][] = [["online", "panel"], ["field-line", "bg"], ["muted", "panel"]];

describe("colour contrast (WCAG AA)", () => {
  it("reads the palette", () => expect(vars.size).toBeGreaterThan(20));
  for (const [scheme, i] of [["light", 0], ["dark", 1]] as const) {
    it(`text in the ${scheme} scheme is at least 4.5:1`, () => {
      for (const [fg, bg] of TEXT) {
        const r = ratio(vars.get(fg)![i], vars.get(bg)![i]);
        expect.soft(r, `${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
      }
    });
    it(`non-text in the ${scheme} scheme is at least 3:1`, () => {
      for (const [fg, bg] of NON_TEXT) expect.soft(ratio(vars.get(fg)![i], vars.get(bg)![i]), `${fg} on ${bg}`).toBeGreaterThanOrEqual(3);
    });
  }
});
