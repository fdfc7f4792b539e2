// Writes the README's screenshots to frontend/docs/ (npm run screenshots):
// the sign-in page (phone), and a room (with an edit and reactions), its
// members sheet, search results and the reconnecting bar at 1280×800 and
// 390×844, each in the light and dark scheme.
import { join } from "node:path";
process.env.CHATGATE_E2E_DB ||= "chatgate_e2e_web_shots";
const { apiCall, apiUser, contextFor, dropDatabase, FRONTEND, launch, sleep, startGateway, wsOpen } = await import("./lib.mjs");
dropDatabase();

const out = (n) => join(FRONTEND, "docs", n);
const gw = await startGateway();
const browser = await launch();
const written = [];
try {
  const ada = await apiUser(gw.url, "Ada");
  const bo = await apiUser(gw.url, "Bo");
  const cy = await apiUser(gw.url, "Cy");
  const room = await apiCall(gw.url, ada.token, "/api/rooms", { name: "General", is_private: false });
  const other = await apiCall(gw.url, bo.token, "/api/rooms", { name: "Design reviews", is_private: false });
  await apiCall(gw.url, ada.token, "/api/rooms", { name: "Ada's notes", is_private: true });
  await apiCall(gw.url, bo.token, "/api/rooms", { name: "Random", is_private: false });
  await apiCall(gw.url, bo.token, `/api/rooms/${room.id}/join`, {});
  await apiCall(gw.url, cy.token, `/api/rooms/${room.id}/join`, {});
  await apiCall(gw.url, ada.token, `/api/rooms/${other.id}/join`, {});
  const lines = [
    [ada, "Morning! The gateway build from last night is up on staging."],
    [bo, "Nice. Did the reconnect fix make it in?"],
    [ada, "It did: clients resume with `since` and resend unacked messages with the same cid, so nothing doubles."],
    [ada, "Notes are at https://example.com/chatgate/reconnect"],
    [bo, "Trying it now by killing the staging box mid-chat…"],
    [bo, "Back in two seconds, every message there exactly once."],
    [cy, "שלום! The right-to-left test message reads from the right."],
    [ada, "@Bo and the 100k-message archive room scrolls smoothly now, under 25 rows in the DOM."],
  ];
  for (const [u, body] of lines) await apiCall(gw.url, u.token, `/api/rooms/${room.id}/messages`, { body, cid: `shot-${Math.random()}` });
  for (let i = 1; i <= 3; i++) await apiCall(gw.url, bo.token, `/api/rooms/${other.id}/messages`, { body: `Review ${i} is ready`, cid: `shot-o-${i}` });
  // An edit and reactions, as people leave them (PATCH and PUT: apiCall
  // only POSTs).
  const write = async (method, u, path, body) => {
    const r = await fetch(gw.url + path, {
      method,
      headers: { Authorization: `Bearer ${u.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${path} ${r.status}: ${await r.text()}`);
  };
  await write("PATCH", bo, `/api/rooms/${room.id}/messages/2`, { body: "Nice. Did the reconnect fix make it into the build?", cid: "shot-edit" });
  for (const [u, e] of [[bo, "🎉"], [cy, "🎉"], [ada, "👍"]])
    await write("PUT", u, `/api/rooms/${room.id}/messages/6/reactions/${encodeURIComponent(e)}?cid=shot-r-${u.user.id}-${e.codePointAt(0)}`);

  // Sign-in screen, phone-sized.
  const anon = await browser.newContext({ viewport: { width: 390, height: 760 }, deviceScaleFactor: 1 });
  const p0 = await anon.newPage();
  await p0.goto(gw.url + "/login");
  await p0.getByRole("button", { name: "Sign in" }).waitFor();
  await p0.screenshot({ path: out("signin.png") });
  written.push("signin.png");
  await anon.close();

  // Bo stays in the room (online, typing now and then).
  const ctxB = await contextFor(browser, gw.url, bo);
  const pb = await ctxB.newPage();
  await pb.goto(`${gw.url}/rooms/${room.id}`);
  await wsOpen(pb);

  const configs = [];
  for (const [size, viewport] of [
    ["desktop", { width: 1280, height: 800 }],
    ["phone", { width: 390, height: 844 }],
  ])
    for (const scheme of ["light", "dark"]) configs.push({ size, viewport, scheme });

  const openAs = async ({ size, viewport, scheme }) => {
    const ctx = await contextFor(browser, gw.url, ada);
    const p = await ctx.newPage();
    await p.setViewportSize(viewport);
    await p.emulateMedia({ colorScheme: scheme });
    await p.goto(`${gw.url}/rooms/${room.id}`);
    await wsOpen(p);
    await p.getByRole("listitem").filter({ hasText: "archive room" }).waitFor();
    await p.evaluate(() => document.activeElement?.blur()); // no focus ring in the picture
    const shot = async (what) => {
      const name = `${what}-${size}-${scheme}.png`;
      await p.screenshot({ path: out(name) });
      written.push(name);
    };
    return { ctx, p, shot };
  };

  // The room (Bo typing) and the members sheet.
  for (const c of configs) {
    const { ctx, p, shot } = await openAs(c);
    await pb.getByLabel("Message General").pressSequentially("Ship", { delay: 40 });
    await p.getByText("Bo is typing…").waitFor({ timeout: 5000 }).catch(() => console.log(`no typing line (${c.size}, ${c.scheme})`));
    await shot("room");
    await pb.getByLabel("Message General").fill("");
    await p.getByRole("button", { name: "Members" }).click();
    await p.getByRole("dialog", { name: "Members" }).getByText("online").first().waitFor();
    await shot("members");
    await ctx.close();
  }

  // Search results: snippets with the matched words marked.
  for (const c of configs) {
    const { ctx, p, shot } = await openAs(c);
    await p.goto(`${gw.url}/search?q=${encodeURIComponent("reconnect")}`);
    await p.getByRole("list", { name: "Search results" }).getByRole("listitem").first().waitFor();
    await p.evaluate(() => document.activeElement?.blur());
    await shot("search");
    await ctx.close();
  }

  // The connection bar while the gateway is down, a message waiting in the outbox.
  for (const c of configs) {
    const { ctx, p, shot } = await openAs(c);
    await gw.stop("SIGKILL");
    await p.getByRole("status").filter({ hasText: "Reconnecting" }).waitFor({ timeout: 10000 });
    await p.getByLabel("Message General").fill(`Sent while the connection is down (${c.size}, ${c.scheme})`);
    await p.getByLabel("Message General").press("Enter");
    await p.evaluate(() => document.activeElement?.blur());
    await sleep(300);
    await shot("reconnecting");
    await gw.start();
    await wsOpen(p);
    await ctx.close();
  }
  console.log("screenshots written to docs/: " + written.join(" "));
} finally {
  await browser.close();
  await gw.stop();
}
