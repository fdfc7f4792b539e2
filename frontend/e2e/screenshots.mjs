// Writes the README's screenshots to frontend/docs/ (npm run screenshots).
import { join } from "node:path";
process.env.CHATGATE_E2E_DB ||= "chatgate_e2e_web_shots";
const { apiCall, apiUser, contextFor, dropDatabase, FRONTEND, launch, sleep, startGateway, wsOpen } = await import("./lib.mjs");
dropDatabase();

const out = (n) => join(FRONTEND, "docs", n);
const gw = await startGateway();
const browser = await launch();
try {
  const ada = await apiUser(gw.url, "Ada");
  const bo = await apiUser(gw.url, "Bo");
  const room = await apiCall(gw.url, ada.token, "/api/rooms", { name: "General", is_private: false });
  const other = await apiCall(gw.url, bo.token, "/api/rooms", { name: "Design reviews", is_private: false });
  await apiCall(gw.url, ada.token, "/api/rooms", { name: "Ada's notes", is_private: true });
  await apiCall(gw.url, bo.token, "/api/rooms", { name: "Random", is_private: false });
  await apiCall(gw.url, bo.token, `/api/rooms/${room.id}/join`, {});
  await apiCall(gw.url, ada.token, `/api/rooms/${other.id}/join`, {});
  const lines = [
    [ada, "Morning! The gateway build from last night is up on staging."],
    [bo, "Nice. Did the reconnect fix make it in?"],
    [ada, "It did: clients resume with `since` and resend unacked messages with the same cid, so nothing doubles."],
    [bo, "Trying it now by killing the staging box mid-chat…"],
    [bo, "Back in two seconds, every message there exactly once."],
    [ada, "And the 100k-message archive room scrolls smoothly now, under 30 rows in the DOM."],
  ];
  for (const [u, body] of lines) await apiCall(gw.url, u.token, `/api/rooms/${room.id}/messages`, { body, cid: `shot-${Math.random()}` });
  for (let i = 1; i <= 3; i++) await apiCall(gw.url, bo.token, `/api/rooms/${other.id}/messages`, { body: `Review ${i} is ready`, cid: `shot-o-${i}` });

  // Sign-in screen, phone-sized.
  const anon = await browser.newContext({ viewport: { width: 390, height: 760 }, deviceScaleFactor: 1 });
  const p0 = await anon.newPage();
  await p0.goto(gw.url + "/login");
  await p0.getByRole("button", { name: "Sign in" }).waitFor();
  await p0.screenshot({ path: out("signin.png") });
  await anon.close();

  // The chat, desktop-sized, with Bo typing.
  const ctx = await contextFor(browser, gw.url, ada);
  const p = await ctx.newPage();
  await p.setViewportSize({ width: 1200, height: 720 });
  await p.goto(`${gw.url}/rooms/${room.id}`);
  await wsOpen(p);
  await p.getByRole("listitem").filter({ hasText: "archive room" }).waitFor();
  const ctxB = await contextFor(browser, gw.url, bo);
  const pb = await ctxB.newPage();
  await pb.goto(`${gw.url}/rooms/${room.id}`);
  await wsOpen(pb);
  await pb.getByLabel("Message General").pressSequentially("Ship it", { delay: 40 });
  await p.getByText("Bo is typing…").waitFor();
  await p.getByRole("button", { name: "Members" }).click();
  await p.getByRole("complementary", { name: "Members" }).waitFor();
  await p.screenshot({ path: out("chat.png") });

  // The connection banner while the gateway is down.
  await p.getByRole("button", { name: "Members" }).click();
  await gw.stop("SIGKILL");
  await p.getByRole("status").filter({ hasText: "Reconnecting" }).waitFor({ timeout: 10000 });
  await p.getByLabel("Message General").fill("Sent while offline: goes out on reconnect");
  await p.getByLabel("Message General").press("Enter");
  await sleep(300);
  await p.screenshot({ path: out("reconnecting.png") });
  await gw.start();
  await wsOpen(p);
  console.log("screenshots written to docs/: signin.png chat.png reconnecting.png");
} finally {
  await browser.close();
  await gw.stop();
}
