// A room with 100,000 messages: bounded DOM, smooth scrolling, older pages
// that keep the view still, keyboard navigation, and fast room switches.
// Run alone (the runner uses --test-concurrency=1): frame times need the CPU.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

// Timings are measured and printed on every run; they are asserted only
// when CHATGATE_E2E_TIMING=enforce (`make bench-web`, run alone on a quiet
// machine): on a shared 2-core box a frame-time threshold in `make test`
// would measure the neighbours, not the client.
const enforceTiming = process.env.CHATGATE_E2E_TIMING === "enforce";
const timing = (ok, msg) => {
  if (enforceTiming) assert.ok(ok, msg);
  else if (!ok) console.log(`timing (not enforced): ${msg}`);
};
import { loadavg } from "node:os";
import { apiCall, apiUser, contextFor, launch, percentile, seedMessages, startGateway, watchErrors, wsOpen } from "./lib.mjs";

const N = 100_000;
let gw, browser, ctx, page, owner, big, small;
const errors = [];
const list = () => page.getByRole("list", { name: "Messages" });

before(async () => {
  gw = await startGateway();
  owner = await apiUser(gw.url, "Olga");
  big = await apiCall(gw.url, owner.token, "/api/rooms", { name: "Archive 100k", is_private: false });
  const t = Date.now();
  seedMessages(big.id, owner.user.id, N, gw.url + "/favicon.svg");
  console.log(`seeded ${N} messages in ${Date.now() - t} ms`);
  small = await apiCall(gw.url, owner.token, "/api/rooms", { name: "Small talk", is_private: false });
  for (let i = 1; i <= 30; i++) await apiCall(gw.url, owner.token, `/api/rooms/${small.id}/messages`, { body: `small ${i}`, cid: `seed-${i}` });
  browser = await launch();
  ctx = await contextFor(browser, gw.url, owner);
  await ctx.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((l) => window.__longTasks.push(...l.getEntries().map((e) => e.duration))).observe({ type: "longtask", buffered: true });
  });
  page = await ctx.newPage();
  watchErrors(page, errors);
  await page.goto(`${gw.url}/rooms/${big.id}`);
  await wsOpen(page);
  await list().getByRole("listitem").filter({ hasText: `Message ${N}` }).waitFor();
});

after(async () => {
  await browser?.close();
  await gw?.stop();
});

/** Distance from the bottom of the scroller, and the number of message rows in the DOM. */
const atBottom = () =>
  page.waitForFunction(() => {
    const el = document.querySelector('[aria-label="Messages"]');
    return el.scrollHeight - el.scrollTop - el.clientHeight < 2;
  }, null, { timeout: 5000 });
const geometry = () =>
  page.evaluate(() => {
    const el = document.querySelector('[aria-label="Messages"]');
    return { gap: el.scrollHeight - el.scrollTop - el.clientHeight, rows: el.querySelectorAll('[role="listitem"]').length, top: el.scrollTop };
  });

test("opens at the newest message, pinned to the bottom", async () => {
  await page.waitForTimeout(300);
  const g = await geometry();
  assert.ok(g.gap < 2, `gap to bottom ${g.gap}`);
  assert.ok(g.rows < 100, `rows ${g.rows}`);
});

test("loading older pages keeps the view still (0 px jump)", async () => {
  const jumps = [];
  for (let i = 0; i < 5; i++) {
    const r = await page.evaluate(async () => {
      const el = document.querySelector('[aria-label="Messages"]');
      const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
      const before = window.__chatgate.getState().chats[Number(location.pathname.split("/").pop())].msgs.length;
      el.scrollTop = 250; // a reader scrolling up near the top: the next page loads
      await frame();
      await frame();
      // The message at the middle of the view and where it is on screen.
      const box = el.getBoundingClientRect();
      const probe = document.elementFromPoint(box.left + 40, box.top + box.height / 2).closest('[role="listitem"]');
      const key = probe.dataset.key;
      const y0 = probe.getBoundingClientRect().top;
      const room = Number(location.pathname.split("/").pop());
      const t0 = performance.now();
      while (window.__chatgate.getState().chats[room].msgs.length === before) {
        if (performance.now() - t0 > 10000) throw new Error("no older page");
        await frame();
      }
      for (let k = 0; k < 10; k++) await frame(); // prepended rows render and get measured
      const now = el.querySelector(`[data-key="${key}"]`);
      return { jump: now.getBoundingClientRect().top - y0, loaded: window.__chatgate.getState().chats[room].msgs.length - before };
    });
    jumps.push(r.jump);
    assert.ok(r.loaded > 0);
  }
  console.log(`older pages: view moved by ${jumps.map((j) => j.toFixed(1)).join(", ")} px`);
  for (const j of jumps) assert.ok(Math.abs(j) < 1, `view jumped ${j} px`);
});

test(`the whole ${N.toLocaleString("en")}-message history in the list: bounded DOM, p95 frame ≤ 20 ms`, async () => {
  const t = Date.now();
  const count = await page.evaluate((room) => window.__chatgate.loadAll(room), big.id);
  assert.equal(count, N);
  console.log(`loaded all ${count} messages over REST in ${Date.now() - t} ms`);
  await page.waitForTimeout(500);
  await page.evaluate(() => (window.__longTasks.length = 0));
  const r = await page.evaluate(async () => {
    const el = document.querySelector('[aria-label="Messages"]');
    const frame = () => new Promise((res) => requestAnimationFrame((ts) => res(ts)));
    const deltas = [];
    let maxRows = 0;
    let maxNodes = 0;
    let last = await frame();
    // 300 frames of steady scrolling through unmeasured rows (200 up, 100 down),
    // then 100 random jumps (scrollbar drags).
    for (let i = 0; i < 400; i++) {
      if (i < 200) el.scrollTop -= 150;
      else if (i < 300) el.scrollTop += 150;
      else el.scrollTop = Math.floor(Math.random() * (el.scrollHeight - el.clientHeight));
      const ts = await frame();
      deltas.push(ts - last);
      last = ts;
      maxRows = Math.max(maxRows, el.querySelectorAll('[role="listitem"]').length);
      maxNodes = Math.max(maxNodes, el.getElementsByTagName("*").length);
    }
    return { deltas, maxRows, maxNodes, longTasks: window.__longTasks.slice() };
  });
  const p50 = percentile(r.deltas.slice(0, 300), 50);
  const steady = r.deltas.slice(0, 300);
  const p95steady = percentile(steady, 95);
  const p95jumps = percentile(r.deltas.slice(300), 95);
  console.log(
    `scroll ${N} msgs: max rows in DOM ${r.maxRows}, max elements in the list ${r.maxNodes}; steady scrolling frame p50 ${p50.toFixed(1)} ms, ` +
      `p95 ${p95steady.toFixed(1)} ms, max ${Math.max(...steady).toFixed(1)} ms; random jumps p95 ${p95jumps.toFixed(1)} ms; ` +
      `long tasks ${r.longTasks.length}; machine load average ${loadavg()[0].toFixed(1)} on ${(await import("node:os")).cpus().length} CPUs`,
  );
  assert.ok(r.maxRows <= 25, `rows in DOM ${r.maxRows}`);
  timing(p95steady <= 20, `p95 frame while scrolling ${p95steady} ms`);
});

test("keyboard: End, arrows move a focused message, PageUp, Home", async () => {
  await list().focus();
  await page.keyboard.press("End");
  await atBottom();
  await page.keyboard.press("ArrowUp");
  await page.waitForFunction(() => document.activeElement?.getAttribute("role") === "listitem");
  const first = await page.evaluate(() => document.activeElement.dataset.seq);
  await page.keyboard.press("ArrowUp");
  await page.waitForFunction((s) => document.activeElement?.dataset.seq === String(Number(s) - 1), first);
  await page.keyboard.press("ArrowDown");
  await page.waitForFunction((s) => document.activeElement?.dataset.seq === s, first);
  const before = (await geometry()).top;
  await page.keyboard.press("PageUp");
  await page.waitForTimeout(100);
  const after1 = (await geometry()).top;
  assert.ok(before - after1 > 200, `PageUp moved ${before - after1}px`);
  await page.keyboard.press("Home");
  await page.waitForFunction(() => document.querySelector('[aria-label="Messages"]').scrollTop === 0);
  await list().getByRole("listitem").filter({ hasText: /^.*Message 1 / }).first().waitFor();
  await page.keyboard.press("End");
  await atBottom();
});

test("room switch ≤ 200 ms, both ways, with 100,000 messages cached", async () => {
  const sw = (room, text) =>
    page.evaluate(
      async ({ room, text }) => {
        const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
        const t0 = performance.now();
        document.querySelector(`nav a[href="/rooms/${room}"]`).click();
        for (;;) {
          const rows = document.querySelectorAll('[aria-label="Messages"] [role="listitem"]');
          if ([...rows].some((r) => r.textContent.includes(text)) && location.pathname === `/rooms/${room}`) break;
          if (performance.now() - t0 > 5000) throw new Error("switch timed out");
          await new Promise((r) => setTimeout(r, 0));
        }
        await frame(); // painted
        return performance.now() - t0;
      },
      { room, text },
    );
  const cold = await sw(small.id, "small 30");
  const times = { toSmall: [], toBig: [] };
  for (let i = 0; i < 5; i++) {
    times.toBig.push(await sw(big.id, `Message ${N}`));
    times.toSmall.push(await sw(small.id, "small 30"));
  }
  const fmt = (xs) => `median ${percentile(xs, 50).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`;
  console.log(`room switch: first visit ${cold.toFixed(0)} ms; to the 100k room ${fmt(times.toBig)}; to the small room ${fmt(times.toSmall)}`);
  timing(cold <= 200, `first visit ${cold} ms`);
  for (const t of [...times.toBig, ...times.toSmall]) timing(t <= 200, `switch ${t} ms`);
});

test("no errors in the page", () => {
  assert.deepEqual(errors, []);
});
