// Splits a message body into text and http(s) links. Only http: and https:
// become links: a "javascript:" or "data:" text stays text, whatever its case.
export type Part = { text: string; href?: undefined } | { text: string; href: string };

// A URL runs to the next white space; the scheme is matched case-insensitively.
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;
// Punctuation that usually ends the sentence, not the URL.
const TRAILING = /[.,;:!?'")\]}]+$/;

export function parseLinks(body: string): Part[] {
  const out: Part[] = [];
  let last = 0;
  for (const m of body.matchAll(URL_RE)) {
    let url = m[0];
    const start = m.index;
    const trail = TRAILING.exec(url);
    if (trail) {
      // Keep a closing parenthesis that has its opening one inside the URL (wikipedia links).
      let cut = trail[0];
      if (cut.startsWith(")") && url.includes("(")) cut = cut.slice(1);
      url = url.slice(0, url.length - cut.length);
    }
    const href = safeHref(url);
    if (!href) continue;
    if (start > last) out.push({ text: body.slice(last, start) });
    out.push({ text: url, href });
    last = start + url.length;
  }
  if (last < body.length) out.push({ text: body.slice(last) });
  return out;
}

/** The URL as an href when it parses as http(s) with a host, else null. */
export function safeHref(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || !u.hostname) return null;
  return u.href;
}

/** The alt text of an image-only message: the file name from the URL, and who shared it. */
export function imageAlt(url: string, sender: string): string {
  let name = "";
  try {
    const path = new URL(url).pathname;
    name = decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
  } catch {
    /* keep it generic */
  }
  return name ? `Image from ${sender}: ${name}` : `Image from ${sender}`;
}
