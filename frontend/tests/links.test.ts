import { describe, expect, it } from "vitest";
import { imageAlt, parseLinks, safeHref } from "../src/list/links";

describe("parseLinks", () => {
  it("finds http and https links between text", () => {
    expect(parseLinks("see https://example.com/a?b=1#c and http://x.test")).toEqual([
      { text: "see " },
      { text: "https://example.com/a?b=1#c", href: "https://example.com/a?b=1#c" },
      { text: " and " },
      { text: "http://x.test", href: "http://x.test/" },
    ]);
  });
  it("leaves sentence punctuation out, keeps balanced parentheses", () => {
    expect(parseLinks("Look: https://example.com/x.")).toEqual([{ text: "Look: " }, { text: "https://example.com/x", href: "https://example.com/x" }, { text: "." }]);
    expect(parseLinks("(https://example.com)")[1]).toEqual({ text: "https://example.com", href: "https://example.com/" });
    expect(parseLinks("https://en.wikipedia.org/wiki/Foo_(bar)")[0].href).toBe("https://en.wikipedia.org/wiki/Foo_(bar)");
  });
  it("never links other schemes", () => {
    for (const body of ["javascript:alert(1)", "JaVaScRiPt:alert(1)//http://x", "data:text/html,<b>x</b>", "ftp://example.com", "vbscript:msgbox", "mailto:a@b.c"]) {
      expect(parseLinks(body).every((p) => !p.href || /^https?:\/\//.test(p.href))).toBe(true);
    }
    expect(parseLinks("javascript:alert(1)")).toEqual([{ text: "javascript:alert(1)" }]);
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref("https://")).toBeNull();
  });
  it("is case-insensitive on the scheme and handles several links and plain text", () => {
    expect(parseLinks("HTTPS://EXAMPLE.COM")[0].href).toBe("https://example.com/");
    expect(parseLinks("no links here")).toEqual([{ text: "no links here" }]);
    expect(parseLinks("")).toEqual([]);
  });
});

describe("imageAlt", () => {
  it("names the file and the sender", () => {
    expect(imageAlt("https://cdn.test/img/cat%20photo.png?x=1", "Bob")).toBe("Image from Bob: cat photo.png");
    expect(imageAlt("https://cdn.test/", "Bob")).toBe("Image from Bob");
  });
});
