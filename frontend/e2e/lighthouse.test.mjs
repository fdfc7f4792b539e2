// Lighthouse 12.2.3 (default mobile profile, simulated throttling) on the
// served build: performance, accessibility and best practices ≥ 95 each,
// median of 3 runs, with LCP, CLS and TBT printed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";
import { apiCall, apiUser, CHROMIUM, CHROME_ARGS, startGateway } from "./lib.mjs";

const RUNS = Number(process.env.LIGHTHOUSE_RUNS || 3);
let gw;
before(async () => {
  gw = await startGateway();
});
after(async () => {
  await gw?.stop();
});

async function audit(url, extraHeaders) {
  const results = [];
  for (let i = 0; i < RUNS; i++) {
    const chrome = await chromeLauncher.launch({ chromePath: CHROMIUM, chromeFlags: [...CHROME_ARGS, "--headless=new"] });
    try {
      const { lhr } = await lighthouse(
        url,
        { port: chrome.port, output: "json", logLevel: "error", onlyCategories: ["performance", "accessibility", "best-practices"], extraHeaders },
      );
      if (lhr.runtimeError) throw new Error(`lighthouse: ${lhr.runtimeError.code} ${lhr.runtimeError.message}`);
      results.push(lhr);
    } finally {
      await chrome.kill();
    }
  }
  const med = (f) => {
    const xs = results.map(f).sort((a, b) => a - b);
    return xs[xs.length >> 1];
  };
  const r = {
    performance: med((l) => l.categories.performance.score),
    accessibility: med((l) => l.categories.accessibility.score),
    bestPractices: med((l) => l.categories["best-practices"].score),
    fcp: med((l) => l.audits["first-contentful-paint"].numericValue),
    lcp: med((l) => l.audits["largest-contentful-paint"].numericValue),
    cls: med((l) => l.audits["cumulative-layout-shift"].numericValue),
    tbt: med((l) => l.audits["total-blocking-time"].numericValue),
    tti: med((l) => l.audits.interactive.numericValue),
  };
  const failed = results.flatMap((l) =>
    ["accessibility", "best-practices"].flatMap((c) =>
      l.categories[c].auditRefs
        .filter((a) => a.weight > 0 && l.audits[a.id].score !== null && l.audits[a.id].score < 1)
        .map((a) => `${c}: ${a.id}`),
    ),
  );
  return { ...r, failed: [...new Set(failed)] };
}

const show = (name, r) =>
  console.log(
    `lighthouse ${name} (median of ${RUNS}): performance ${Math.round(r.performance * 100)}, accessibility ${Math.round(r.accessibility * 100)}, ` +
      `best practices ${Math.round(r.bestPractices * 100)}; FCP ${Math.round(r.fcp)} ms, LCP ${Math.round(r.lcp)} ms, CLS ${r.cls.toFixed(3)}, ` +
      `TBT ${Math.round(r.tbt)} ms, TTI ${Math.round(r.tti)} ms` + (r.failed.length ? `; audits not passed: ${r.failed.join(", ")}` : ""),
  );

const check = (r) => {
  // Performance is a timing: asserted only with CHATGATE_E2E_TIMING=enforce
  // (`make bench-web`, alone on a quiet machine); always printed.
  if (process.env.CHATGATE_E2E_TIMING === "enforce") assert.ok(r.performance >= 0.95, `performance ${r.performance}`);
  else if (r.performance < 0.95) console.log(`timing (not enforced): performance ${r.performance}`);
  assert.ok(r.accessibility >= 0.95, `accessibility ${r.accessibility}`);
  assert.ok(r.bestPractices >= 0.95, `best practices ${r.bestPractices}`);
};

test("sign-in page (first visit): Lighthouse ≥ 95 in performance, accessibility, best practices", async () => {
  const r = await audit(gw.url + "/");
  show("/ (sign in)", r);
  check(r);
});

// The chat screen loads four more chunks and renders the log: its performance
// score is printed (it swings with CPU contention on a shared machine), its
// accessibility and best practices must be ≥ 95 too.
test("a room with messages (signed in): accessibility and best practices ≥ 95, performance printed", async () => {
  const u = await apiUser(gw.url, "Lia");
  const room = await apiCall(gw.url, u.token, "/api/rooms", { name: "Lighthouse", is_private: false });
  for (let i = 1; i <= 40; i++) await apiCall(gw.url, u.token, `/api/rooms/${room.id}/messages`, { body: `message ${i} ` + "text ".repeat(i % 9), cid: `lh-${i}` });
  // The session cookie, and the hint that lets the page ask /api/me.
  const r = await audit(`${gw.url}/rooms/${room.id}`, { Cookie: `chatgate_token=${u.token}` });
  show(`/rooms/${room.id} (chat)`, r);
  assert.ok(r.accessibility >= 0.95, `accessibility ${r.accessibility}`);
  assert.ok(r.bestPractices >= 0.95, `best practices ${r.bestPractices}`);
});
