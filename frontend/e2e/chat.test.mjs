// Two users in two browser contexts sign up through the UI and chat live.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, startGateway, watchErrors, wsOpen } from "./lib.mjs";

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

async function signUp(page, name) {
  await page.goto(gw.url + "/");
  await page.waitForURL(/\/login$/);
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Email").fill(`${name.toLowerCase()}.${Date.now()}@example.test`);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Sign up" }).click();
  await wsOpen(page);
}

const row = (page, text) => page.getByRole("list", { name: "Messages" }).getByRole("listitem").filter({ hasText: text });

test("two users chat live, with typing and unread marks", async () => {
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();
  const errors = [];
  watchErrors(a, errors);
  watchErrors(b, errors);
  const t0 = Date.now();

  await signUp(a, "Alice");
  const lobby = `Lobby ${Date.now() % 100000}`;
  await a.getByLabel("Room name").fill(lobby);
  await a.getByRole("button", { name: "Create room" }).click();
  await a.waitForURL(/\/rooms\/\d+$/);
  const lobbyUrl = new URL(a.url()).pathname;
  await a.getByRole("heading", { name: lobby }).waitFor();
  await a.getByText("No messages yet").waitFor();
  // A second room for the unread check.
  const side = `Side ${Date.now() % 100000}`;
  await a.getByLabel("Room name").fill(side);
  await a.getByRole("button", { name: "Create room" }).click();
  await a.getByRole("heading", { name: side }).waitFor();
  const sideUrl = new URL(a.url()).pathname;

  await signUp(b, "Bob");
  const rooms = b.getByRole("navigation", { name: "Rooms" });
  await rooms.getByRole("link", { name: side }).click();
  await b.getByRole("button", { name: `Join ${side}` }).click();
  await b.getByLabel(`Message ${side}`).waitFor();
  await rooms.getByRole("link", { name: lobby }).click();
  await b.getByRole("button", { name: `Join ${lobby}` }).click();
  const boxB = b.getByLabel(`Message ${lobby}`);
  await boxB.waitFor();

  await a.goto(gw.url + lobbyUrl);
  await wsOpen(a);
  const boxA = a.getByLabel(`Message ${lobby}`);
  await boxA.fill("Hello Bob, this is Alice");
  await boxA.press("Enter");
  await row(a, "Hello Bob, this is Alice").waitFor();
  const sentAt = Date.now();
  await row(b, "Hello Bob, this is Alice").waitFor({ timeout: 5000 });
  const deliveryMs = Date.now() - sentAt;

  // Bob types: Alice sees it, then his reply.
  await boxB.pressSequentially("Hi Al", { delay: 30 });
  await a.getByText("Bob is typing…").waitFor({ timeout: 5000 });
  await boxB.pressSequentially("ice!", { delay: 10 });
  await b.getByRole("button", { name: "Send" }).click();
  await row(a, "Hi Alice!").waitFor({ timeout: 5000 });
  await a.getByText("Bob is typing…").waitFor({ state: "hidden", timeout: 8000 });

  // A burst in both directions arrives complete and in order.
  for (let i = 1; i <= 15; i++) {
    await boxA.fill(`a-${i}`);
    await boxA.press("Enter");
  }
  await row(b, /^.*a-15$/).waitFor({ timeout: 10000 });
  const bodiesB = await b.evaluate(() => Object.values(window.__chatgate.getState().chats).flatMap((c) => c.msgs.map((m) => m.body)));
  const burst = bodiesB.filter((x) => /^a-\d+$/.test(x));
  assert.deepEqual(burst, Array.from({ length: 15 }, (_, i) => `a-${i + 1}`));

  // Alice posts in the side room while Bob reads the lobby: Bob's list marks it unread.
  await a.goto(gw.url + sideUrl);
  await wsOpen(a);
  const sideBox = a.getByLabel(`Message ${side}`);
  await sideBox.fill("psst, over here");
  await sideBox.press("Enter");
  await rooms.getByRole("link", { name: new RegExp(side) }).getByLabel("1 unread").waitFor({ timeout: 5000 });
  // Opening it clears the mark and shows the message.
  await rooms.getByRole("link", { name: new RegExp(side) }).click();
  await row(b, "psst, over here").waitFor();
  await rooms.getByRole("link", { name: new RegExp(side) }).getByLabel("1 unread").waitFor({ state: "detached", timeout: 5000 });

  // Leaving moves the room back to the public list.
  await b.getByRole("button", { name: "Leave" }).click();
  await b.getByRole("button", { name: `Join ${side}` }).waitFor();

  console.log(`two-user chat: live delivery ${deliveryMs} ms, whole scenario ${Date.now() - t0} ms`);
  assert.deepEqual(errors, []);
  await ctxA.close();
  await ctxB.close();
});

test("wrong password and bad sign-up input show clear errors", async () => {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  await p.goto(gw.url + "/login");
  await p.getByLabel("Email").fill("nobody@example.test");
  await p.getByLabel("Password").fill("not the password");
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("alert").filter({ hasText: "wrong email or password" }).waitFor();
  await ctx.close();
});
