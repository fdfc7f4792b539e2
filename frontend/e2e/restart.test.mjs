// The gateway dies mid-chat (SIGKILL) and later drains (SIGTERM, close 1001):
// the pages reconnect, resume each room with `since`, resend what was not
// acked with the same cid, and end up showing every message exactly once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { apiCall, apiUser, contextFor, launch, pageMessages, sleep, startGateway, watchErrors, wsOpen } from "./lib.mjs";

let gw, browser;
before(async () => {
  gw = await startGateway();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await gw?.stop();
});

test("server restarts mid-chat: reconnect, resume, every message once", async () => {
  const A = await apiUser(gw.url, "Ana");
  const B = await apiUser(gw.url, "Ben");
  const room = await apiCall(gw.url, A.token, "/api/rooms", { name: "Resilience", is_private: false });
  await apiCall(gw.url, B.token, `/api/rooms/${room.id}/join`, {});
  const pages = [];
  for (const u of [A, B]) {
    const ctx = await contextFor(browser, gw.url, u);
    const p = await ctx.newPage();
    p.errors = [];
    p.on("pageerror", (e) => p.errors.push(e.message));
    await p.goto(`${gw.url}/rooms/${room.id}`);
    await wsOpen(p);
    await p.getByText("No messages yet").waitFor();
    pages.push(p);
  }
  const [a, b] = pages;
  const boxA = a.getByLabel("Message Resilience");
  const boxB = b.getByLabel("Message Resilience");
  const say = async (box, text) => {
    await box.fill(text);
    await box.press("Enter");
  };
  const expected = [];
  for (let i = 1; i <= 5; i++) {
    await say(boxA, `before ${i}`);
    expected.push(`before ${i}`);
  }
  await b.getByRole("listitem").filter({ hasText: "before 5" }).waitFor();

  // 1. Crash: a message goes out as the process dies (stored or not, unknown),
  //    two more are typed while it is down.
  await say(boxA, "as it dies");
  expected.push("as it dies");
  await gw.stop("SIGKILL");
  await a.waitForSelector('body[data-ws="closed"]');
  await a.getByRole("status").filter({ hasText: /Reconnecting|Connection lost/ }).waitFor({ timeout: 10000 });
  await say(boxA, "while down 1");
  await say(boxB, "while down 2");
  expected.push("while down 1", "while down 2");
  await sleep(1500);
  const tRestart = Date.now();
  await gw.start();
  await Promise.all([wsOpen(a), wsOpen(b)]);
  const reconnectMs = Date.now() - tRestart;
  await say(boxB, "after restart");
  expected.push("after restart");

  // 2. Drain: a graceful stop closes sockets with 1001; B keeps typing through it.
  await gw.stop("SIGTERM");
  await say(boxB, "during drain");
  expected.push("during drain");
  await gw.start();
  await Promise.all([wsOpen(a), wsOpen(b)]);
  await say(boxA, "the end");
  expected.push("the end");

  // Both pages converge on the same history: every message once, in seq order, nothing pending.
  for (const p of [a, b]) {
    await p.waitForFunction(
      ({ room, n }) => {
        const c = window.__chatgate.getState().chats[room];
        return c && c.pending.length === 0 && c.msgs.length >= n;
      },
      { room: room.id, n: expected.length },
      { timeout: 20000 },
    );
  }
  const server = await apiCall(gw.url, A.token, `/api/rooms/${room.id}/messages?limit=200`);
  const serverBodies = server.messages.map((m) => m.body).reverse();
  assert.deepEqual([...serverBodies].sort(), [...expected].sort(), "the server stored each message once");
  for (const p of [a, b]) {
    const got = await pageMessages(p, room.id);
    assert.equal(got.pending, 0);
    assert.deepEqual(got.bodies, serverBodies, "the page shows the server's history, once each, in order");
    assert.deepEqual(got.seqs, got.seqs.map((_, i) => i + 1));
    // The list shows it too: the newest row is on screen, and no key appears twice.
    await p.getByRole("listitem").filter({ hasText: "the end" }).waitFor();
    const keys = await p.$$eval('[aria-label="Messages"] [role="listitem"]', (els) => els.map((e) => e.dataset.key));
    assert.equal(new Set(keys).size, keys.length);
    assert.deepEqual(p.errors, []);
  }
  console.log(`restart: ${expected.length} messages, each shown once on both pages; reconnected ${reconnectMs} ms after the gateway came back`);
});
