// Security headers and inert user content (docs/security-headers.md):
// (a) the CSP and friends are on the client's HTML, its assets and the API,
//     including answers served from chat_cache;
// (b) loading the app, signing in and opening a room breaks no CSP rule
//     (and the rule is live: an injected inline script is refused);
// (c) message bodies, a display name and a room name that look like HTML or
//     script go through the REST API verbatim and render as plain text.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { apiCall, apiUser, launch, startGateway, watchErrors, wsOpen } from "./lib.mjs";

let gw;
let browser;
before(async () => {
  gw = await startGateway();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

const PAYLOADS = [
  `<img src=x onerror="window.__xss=1">`,
  `<script>window.__xss=2</script>`,
  `"><svg onload=window.__xss=3>`,
  `javascript:alert(1)`,
  `'; DROP TABLE messages; --`,
];
const EVIL_NAME = `<img src=x onerror="window.__xss=4">`;
const EVIL_ROOM = `<svg onload=window.__xss=5> room ${Date.now() % 100000}`;

/** Parses a CSP header into { directive: [sources] }. */
function csp(value) {
  assert.ok(value, "Content-Security-Policy is missing");
  const out = {};
  for (const part of value.split(";")) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name && !(name in out)) out[name.toLowerCase()] = sources;
  }
  return out;
}

function assertCommon(res, what) {
  const h = res.headers;
  assert.equal(h.get("x-content-type-options"), "nosniff", `${what}: X-Content-Type-Options`);
  assert.equal(h.get("referrer-policy"), "same-origin", `${what}: Referrer-Policy`);
  assert.equal(h.get("x-frame-options"), "DENY", `${what}: X-Frame-Options`);
}

function assertClientCsp(res, what) {
  assertCommon(res, what);
  const p = csp(res.headers.get("content-security-policy"));
  for (const d of ["default-src", "script-src", "style-src", "img-src", "connect-src"]) {
    assert.ok(p[d]?.includes("'self'"), `${what}: ${d} allows 'self': ${JSON.stringify(p[d])}`);
  }
  for (const d of ["default-src", "script-src", "style-src"]) {
    for (const bad of ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:", "https:"]) {
      assert.ok(!p[d].includes(bad), `${what}: ${d} must not allow ${bad}`);
    }
  }
  assert.deepEqual(p["object-src"], ["'none'"], `${what}: object-src`);
  assert.deepEqual(p["frame-ancestors"], ["'none'"], `${what}: frame-ancestors`);
  assert.deepEqual(p["base-uri"], ["'none'"], `${what}: base-uri`);
  assert.deepEqual(p["form-action"], ["'self'"], `${what}: form-action`);
  const host = new URL(gw.url).host;
  assert.ok(p["connect-src"].includes(`ws://${host}`), `${what}: connect-src names ws://${host}`);
}

function assertApi(res, what) {
  assertCommon(res, what);
  assert.deepEqual(csp(res.headers.get("content-security-policy")), { "default-src": ["'none'"], "frame-ancestors": ["'none'"] }, what);
}

/** Waits until the message list shows a row per payload (the assertions then say what differs). */
const allRows = (page) =>
  page.waitForFunction((n) => document.querySelectorAll('[aria-label="Messages"] [role="listitem"]').length >= n, PAYLOADS.length, { timeout: 10000 });

test("security headers on the client, its assets and the API", async () => {
  const t0 = Date.now();
  const home = await fetch(gw.url + "/");
  assert.equal(home.status, 200);
  assertClientCsp(home, "/");
  const html = await home.text();
  // Nothing inline that the CSP would have to allow.
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "index.html has an inline script");
  assert.doesNotMatch(html, /<style\b|\sstyle=|\son[a-z]+=/i, "index.html has inline style or an event handler");

  const js = html.match(/<script[^>]+src="([^"]+\.js)"/)?.[1];
  assert.ok(js, "index.html loads a script");
  const css = html.match(/<link[^>]+rel="stylesheet"[^>]+href="([^"]+\.css)"/)?.[1];
  for (const path of [js, css, "/rooms/1", "/favicon.svg"]) {
    const r = await fetch(gw.url + path, { headers: { "Accept-Encoding": "br, gzip" } });
    assert.equal(r.status, 200, path);
    assertClientCsp(r, path);
    await r.arrayBuffer();
  }

  const u = await apiUser(gw.url, "Headers");
  const auth = { headers: { Authorization: `Bearer ${u.token}` } };
  const me = await fetch(gw.url + "/api/me", auth);
  assert.equal(me.status, 200);
  assert.match(me.headers.get("content-type"), /^application\/json/);
  assertApi(me, "/api/me");
  await me.text();
  // The second read of /api/rooms comes from chat_cache: same headers. (The
  // list's stored part is one entry for every user, so another user's read
  // may have filled it already.)
  for (const want of [["MISS", "HIT"], ["HIT"]]) {
    const r = await fetch(gw.url + "/api/rooms", auth);
    assert.equal(r.status, 200);
    assert.ok(want.includes(r.headers.get("x-cache")), `/api/rooms X-Cache ${r.headers.get("x-cache")}`);
    assertApi(r, `/api/rooms (${want.join("|")})`);
    await r.text();
  }
  const denied = await fetch(gw.url + "/api/me");
  assert.equal(denied.status, 401);
  assertApi(denied, "/api/me without a token");
  await denied.text();
  const health = await fetch(gw.url + "/healthz");
  assertApi(health, "/healthz");
  await health.text();
  console.log(`security headers: checked in ${Date.now() - t0} ms`);
});

test("sign-in and a room full of HTML-looking text: no CSP violation, nothing executes", async () => {
  const t0 = Date.now();
  const owner = await apiUser(gw.url, EVIL_NAME);
  const reader = await apiUser(gw.url, "Reader");
  const room = await apiCall(gw.url, owner.token, "/api/rooms", { name: EVIL_ROOM, is_private: false });
  assert.equal(room.name, EVIL_ROOM);
  await apiCall(gw.url, reader.token, `/api/rooms/${room.id}/join`, {});
  const sent = [];
  for (const [i, body] of PAYLOADS.entries()) {
    sent.push(await apiCall(gw.url, owner.token, `/api/rooms/${room.id}/messages`, { body, cid: `xss-${i}-${Date.now()}` }));
  }
  assert.deepEqual(sent.map((m) => m.body), PAYLOADS, "POST answers the bodies verbatim");
  const page1 = await apiCall(gw.url, reader.token, `/api/rooms/${room.id}/messages?limit=50`);
  assert.deepEqual(page1.messages.map((m) => m.body).reverse(), PAYLOADS, "GET returns the bodies verbatim");
  assert.ok(page1.messages.every((m) => m.user.name === EVIL_NAME), "and the author's name verbatim");

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const violations = [];
  const dialogs = [];
  const errors = watchErrors(page);
  page.on("dialog", (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  // Survives full page loads: the listener reports through a binding.
  await page.exposeFunction("__reportCsp", (v) => violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__reportCsp(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });

  // Load the app and sign in through the form.
  await page.goto(gw.url + "/");
  await page.waitForURL(/\/login$/);
  await page.getByLabel("Email").fill(reader.email);
  await page.getByLabel("Password").fill(reader.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await wsOpen(page);
  // Open the room from the room list.
  await page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: EVIL_ROOM }).click();
  await page.waitForURL(new RegExp(`/rooms/${room.id}$`));
  await page.getByRole("heading", { name: EVIL_ROOM }).waitFor();
  await allRows(page);
  const shownAt = Date.now();

  // Each body is shown exactly, as text, under the author's name as text.
  const shown = await page.$$eval(".msg .msg-body", (els) => els.map((e) => e.textContent));
  assert.deepEqual(shown, PAYLOADS, "message bodies rendered verbatim");
  const authors = await page.$$eval(".msg .msg-author", (els) => els.map((e) => e.textContent));
  // One sender's run: the name heads it once (the log groups runs), verbatim.
  assert.deepEqual(authors, [EVIL_NAME]);
  // A failed image would fire onerror at once; give handlers a moment anyway.
  await page.waitForTimeout(500);
  const dom = await page.evaluate(() => ({
    xss: window.__xss,
    injected: [...document.querySelectorAll('img[src="x"], svg, script:not([src]), iframe, object, embed, [onerror], [onload]')].map((e) => e.outerHTML),
    jsLinks: [...document.querySelectorAll("a[href]")].filter((a) => a.protocol === "javascript:").map((a) => a.outerHTML),
    inList: [...document.querySelectorAll('[aria-label="Messages"] *')].filter((e) => !["DIV", "SPAN", "P", "TIME", "BUTTON"].includes(e.tagName)).map((e) => e.tagName),
  }));
  assert.equal(dom.xss, undefined, "window.__xss is set: something executed");
  assert.deepEqual(dom.injected, [], "elements from message text exist in the DOM");
  assert.deepEqual(dom.jsLinks, [], "javascript: links");
  assert.deepEqual(dom.inList, [], "unexpected elements in the message list");
  // A reload (the room URL straight from the server) is just as quiet.
  await page.reload();
  await wsOpen(page);
  await allRows(page);
  assert.deepEqual(await page.$$eval(".msg .msg-body", (els) => els.map((e) => e.textContent)), PAYLOADS, "after a reload");
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(dialogs, [], "a dialog opened");
  assert.deepEqual(violations, [], "CSP violations");
  assert.deepEqual(errors, [], "page or console errors");

  // The policy is enforced, and the listener above would have seen a breach:
  // an inline script added at run time is refused and reported.
  await page.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.__inline = 1";
    document.head.appendChild(s);
  });
  for (let i = 0; i < 50 && violations.length === 0; i++) await page.waitForTimeout(20);
  assert.equal(await page.evaluate(() => window.__inline), undefined, "an inline script ran");
  assert.equal(violations.length, 1, `one violation for the injected script: ${violations}`);
  assert.match(violations[0], /^script-src/);
  console.log(`inert content: ${PAYLOADS.length} messages shown as text ${shownAt - t0} ms after the first POST; whole test ${Date.now() - t0} ms`);
  await ctx.close();
});
