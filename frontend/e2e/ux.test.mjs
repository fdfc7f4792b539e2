// Issue 16: what users noticed, one test per item, written the way a user
// meets the page (roles, labels, accessible names). Users are made over REST
// and signed in by cookie (contextFor); the UI does the rest. Where an item is
// about other people, each person has their own browser context.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { apiCall, apiUser, contextFor, launch, sleep, startGateway, watchErrors, wsOpen } from "./lib.mjs";

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

const uniq = (s) => `${s} ${Date.now() % 1000000}${Math.floor(Math.random() * 100)}`;

/** A person: an API user with a signed-in browser page at path (errors collected). */
async function person(name, { path = "/", viewport, colorScheme, init } = {}) {
  const u = await apiUser(gw.url, name);
  const ctx = await contextFor(browser, gw.url, u);
  if (init) await ctx.addInitScript(init);
  const page = await ctx.newPage();
  if (viewport) await page.setViewportSize(viewport);
  if (colorScheme) await page.emulateMedia({ colorScheme });
  const errors = watchErrors(page);
  await page.goto(gw.url + path);
  await wsOpen(page);
  return { ...u, ctx, page, errors, call: (p, body, method) => apiCall(gw.url, u.token, p, body, method) };
}

async function roomWith(owner, name, others = [], isPrivate = false) {
  const room = await owner.call("/api/rooms", { name, is_private: isPrivate });
  for (const o of others) await apiCall(gw.url, o.token, `/api/rooms/${room.id}/join`, {});
  return room;
}

async function open(p, room) {
  await p.page.goto(`${gw.url}/rooms/${room.id}`);
  await wsOpen(p.page);
  await p.page.getByLabel(`Message ${room.name}`).waitFor();
}

async function say(p, room, text) {
  const box = p.page.getByLabel(`Message ${room.name}`);
  await box.fill(text);
  await box.press("Enter");
}

const log = (page) => page.getByRole("list", { name: "Messages" });
const row = (page, text) => log(page).getByRole("listitem").filter({ hasText: text });
const focused = (locator) => locator.evaluate((el) => el === document.activeElement);
const activeName = (page) => page.evaluate(() => {
  const el = document.activeElement;
  return el ? `${el.tagName.toLowerCase()}:${el.getAttribute("aria-label") ?? el.textContent?.trim().slice(0, 40) ?? ""}` : "";
});
async function until(f, ms = 5000, what = "condition") {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
/** The user comes back to the tab (a window focus event; no server event announces a new public room).
 *  The list reloads at most every 3 s, so this comes 3 s after the page's last load. */
async function comeBack(page) {
  await sleep(3100);
  await page.evaluate(() => window.dispatchEvent(new Event("focus")));
}
const close = async (...ps) => {
  for (const p of ps) await p.ctx.close();
};

test("1. 'X is typing…' clears when X's message arrives", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Typing"), [b]);
  await open(a, room);
  await open(b, room);
  await b.page.getByLabel(`Message ${room.name}`).pressSequentially("on my w", { delay: 30 });
  await a.page.getByText("Bob is typing…").waitFor({ timeout: 5000 });
  await b.page.getByLabel(`Message ${room.name}`).pressSequentially("ay", { delay: 10 });
  await b.page.getByLabel(`Message ${room.name}`).press("Enter");
  await row(a.page, "on my way").waitFor({ timeout: 5000 });
  const t0 = Date.now();
  await a.page.getByText("Bob is typing…").waitFor({ state: "hidden", timeout: 2000 });
  const ms = Date.now() - t0;
  console.log(`typing indicator gone ${ms} ms after the message showed`);
  assert.ok(ms < 500, `typing still shown ${ms} ms after the message`);
  assert.deepEqual([...a.errors, ...b.errors], []);
  await close(a, b);
});

test("2. the browser going offline says so", async () => {
  const a = await person("Alice");
  const room = await roomWith(a, uniq("Offline"));
  await open(a, room);
  await a.ctx.setOffline(true);
  await a.page.getByRole("status").filter({ hasText: "You are offline" }).waitFor({ timeout: 5000 });
  await a.ctx.setOffline(false);
  await a.page.getByRole("status").filter({ hasText: "offline" }).waitFor({ state: "detached", timeout: 10000 });
  await close(a);
});

test("3. a sender's run shows the name once, with one day separator", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Runs"), [b]);
  for (let i = 1; i <= 4; i++) await b.call(`/api/rooms/${room.id}/messages`, { body: `run ${i}`, cid: `run-${i}` });
  await a.call(`/api/rooms/${room.id}/messages`, { body: "reply from Alice", cid: "run-a" });
  await b.call(`/api/rooms/${room.id}/messages`, { body: "and Bob again", cid: "run-b" });
  await open(a, room);
  await row(a.page, "and Bob again").waitFor();
  assert.equal(await log(a.page).getByText("Bob", { exact: true }).count(), 2, "Bob's name: once per run (two runs)");
  assert.equal(await log(a.page).getByText("You", { exact: true }).count(), 1);
  assert.equal(await log(a.page).getByRole("separator", { name: "Today" }).count(), 1);
  await close(a, b);
});

test("4. a skip link reaches the composer; the room list is one Tab stop with arrow keys", async () => {
  const a = await person("Alice");
  const rooms = [];
  for (let i = 0; i < 5; i++) rooms.push(await roomWith(a, uniq(`Tabs ${i}`)));
  await open(a, rooms[0]);
  const p = a.page;
  // The skip link is the page's first Tab stop: right before the brand link.
  await p.getByRole("link", { name: "Chatgate" }).focus();
  await p.keyboard.press("Shift+Tab");
  assert.equal(await activeName(p), "a:Skip to message box");
  await p.keyboard.press("Enter");
  assert.ok(await focused(p.getByLabel(`Message ${rooms[0].name}`)), `Enter on the skip link focuses the composer (at ${await activeName(p)})`);
  // From the room filter, one Tab reaches the room list and the next leaves it.
  const nav = p.getByRole("navigation", { name: "Rooms" });
  await nav.getByLabel("Find a room").focus();
  await p.keyboard.press("Tab");
  assert.ok(await focused(nav.getByRole("link", { name: rooms[0].name })), `the current room is the list's Tab stop (at ${await activeName(p)})`);
  await p.keyboard.press("ArrowDown");
  assert.ok(await focused(nav.getByRole("link", { name: rooms[1].name })), `ArrowDown moves to the next room (at ${await activeName(p)})`);
  await p.keyboard.press("End");
  assert.ok(await focused(nav.getByRole("link").last()), "End: the last room (public rooms of other tests follow ours)");
  await p.keyboard.press("Home");
  assert.ok(await focused(nav.getByRole("link", { name: rooms[0].name })), "Home: the first room");
  await p.keyboard.press("Tab");
  assert.ok(await focused(nav.getByLabel("Room name")), `one Tab leaves the list (at ${await activeName(p)})`);
  assert.deepEqual(a.errors, []);
  await close(a);
});

test("5. a message that starts in Hebrew reads right to left", async () => {
  const a = await person("Alice");
  const room = await roomWith(a, uniq("Dir"));
  await open(a, room);
  await say(a, room, "שלום לכולם, hello");
  await say(a, room, "hello, שלום");
  const dir = (t) => log(a.page).getByText(t).evaluate((el) => getComputedStyle(el).direction);
  await row(a.page, "hello, שלום").waitFor();
  assert.equal(await dir("שלום לכולם, hello"), "rtl");
  assert.equal(await dir("hello, שלום"), "ltr");
  await close(a);
});

test("6. one member is '1 member'", async () => {
  const a = await person("Alice");
  const room = await roomWith(a, uniq("Solo"));
  const b = await person("Bob");
  const link = b.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: room.name });
  await link.getByText("1 member", { exact: true }).waitFor();
  await close(a, b);
});

test("7. a new public room shows up in another user's list without a reload", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const name = uniq("Fresh");
  await a.page.getByLabel("Room name").fill(name);
  await a.page.getByRole("button", { name: "Create room" }).click();
  await a.page.getByRole("heading", { name }).waitFor();
  const link = b.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name });
  await comeBack(b.page);
  await link.waitFor({ timeout: 5000 });
  await close(a, b);
});

test("8. the member count in the header follows joins live (three users)", async () => {
  const a = await person("Alice");
  const room = await roomWith(a, uniq("Count"));
  const b = await person("Bob");
  const c = await person("Carol");
  await open(a, room);
  const head = a.page.getByRole("main");
  await head.getByText("1 member", { exact: true }).waitFor();
  for (const p of [b, c]) {
    await p.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: room.name }).click();
    await p.page.getByRole("button", { name: `Join ${room.name}` }).click();
    await p.page.getByLabel(`Message ${room.name}`).waitFor();
  }
  await head.getByText("3 members", { exact: true }).waitFor({ timeout: 5000 });
  await close(a, b, c);
});

test("9. focus lands on the composer after Join and after opening a room, on the error after a failed sign-in", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const first = await roomWith(a, uniq("Focus one"), [b]);
  const second = await roomWith(a, uniq("Focus two"));
  await comeBack(b.page);
  const nav = b.page.getByRole("navigation", { name: "Rooms" });
  await nav.getByRole("link", { name: second.name }).click();
  const join = b.page.getByRole("button", { name: `Join ${second.name}` });
  await until(() => focused(join), 3000, "focus on the Join button");
  await join.click();
  await until(() => focused(b.page.getByLabel(`Message ${second.name}`)), 3000, "focus on the composer after Join");
  await nav.getByRole("link", { name: first.name }).click();
  await until(() => focused(b.page.getByLabel(`Message ${first.name}`)), 3000, "focus on the composer after opening a room");
  // Keyboard: Enter on a room link too.
  await nav.getByRole("link", { name: second.name }).focus();
  await b.page.keyboard.press("Enter");
  await until(() => focused(b.page.getByLabel(`Message ${second.name}`)), 3000, "focus on the composer after Enter on a room");

  const anon = await browser.newContext();
  const p = await anon.newPage();
  await p.goto(gw.url + "/login");
  await p.getByLabel("Email").fill("nobody@example.test");
  await p.getByLabel("Password").fill("not the password");
  await p.getByRole("button", { name: "Sign in" }).click();
  const alert = p.getByRole("alert").filter({ hasText: "wrong email or password" });
  await alert.waitFor();
  await until(() => focused(alert), 3000, "focus on the sign-in error");
  await anon.close();
  assert.deepEqual([...a.errors, ...b.errors], []);
  await close(a, b);
});

test("10. the tab title counts unread messages in other rooms", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const here = await roomWith(a, uniq("Here"), [b]);
  const there = await roomWith(a, uniq("There"), [b]);
  await open(a, here);
  await until(async () => (await a.page.title()) === `${here.name} · Chatgate`, 3000, "the room's title");
  const one = await b.call(`/api/rooms/${there.id}/messages`, { body: "one", cid: "t1" });
  const two = await b.call(`/api/rooms/${there.id}/messages`, { body: "two", cid: "t2" });
  await until(async () => (await a.page.title()) === `(2) ${here.name} · Chatgate`, 5000, "(2) in the title");
  // A reaction and an edit take seqs but are not unread messages: live, and in the server's count after a reload.
  await b.call(`/api/rooms/${there.id}/messages/${one.seq}/reactions/${encodeURIComponent("👍")}?cid=t3`, undefined, "PUT");
  await b.call(`/api/rooms/${there.id}/messages/${two.seq}`, { body: "two, edited", cid: "t4" }, "PATCH");
  const lastSeq = () => a.page.evaluate((id) => window.__chatgate.getState().rooms.find((r) => r.id === id).last_seq, there.id);
  await until(async () => (await lastSeq()) === two.seq + 2, 5000, "the events reached Alice");
  assert.equal(await a.page.title(), `(2) ${here.name} · Chatgate`);
  await a.page.reload();
  await until(async () => (await a.page.title()) === `(2) ${here.name} · Chatgate`, 5000, "(2) after a reload");
  await a.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: there.name }).click();
  await until(async () => (await a.page.title()) === `${there.name} · Chatgate`, 5000, "the count cleared once read");
  await close(a, b);
});

test("11. the members list shows who is online, live", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Presence"), [b]);
  await open(b, room);
  await open(a, room);
  await a.page.getByRole("button", { name: "Members" }).click();
  const members = a.page.getByRole("dialog", { name: "Members" });
  const bob = members.getByRole("listitem").filter({ hasText: "Bob" });
  await bob.getByText("online", { exact: true }).waitFor();
  await b.ctx.close();
  await bob.getByText("offline", { exact: true }).waitFor({ timeout: 15000 });
  await close(a);
});

test("12. Invite adds someone to a private room by user id; they find it and read along", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Secret"), [], true);
  await open(a, room);
  await say(a, room, "welcome to the secret room");
  await a.page.getByRole("button", { name: "Invite" }).click();
  const dlg = a.page.getByRole("dialog", { name: `Invite to ${room.name}` });
  await dlg.getByLabel("Name or user id").fill("999999999");
  await dlg.getByRole("button", { name: "Invite" }).click();
  await dlg.getByRole("alert").filter({ hasText: "No user has the id 999999999" }).waitFor();
  await dlg.getByLabel("Name or user id").fill(String(b.user.id));
  await dlg.getByRole("button", { name: "Invite" }).click();
  await dlg.getByRole("status").filter({ hasText: `Bob is now a member of ${room.name}` }).waitFor();
  await a.page.keyboard.press("Escape");
  await dlg.waitFor({ state: "hidden" });
  await a.page.getByRole("main").getByText("2 members", { exact: true }).waitFor();
  assert.ok(await focused(a.page.getByRole("button", { name: "Invite" })), "focus returns to Invite");
  // The invitation reaches Bob's open page as a rooms event: no reload.
  await b.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: room.name }).click({ timeout: 5000 });
  await row(b.page, "welcome to the secret room").waitFor();
  // The one console line allowed: the browser logging the 404 of the unknown id's lookup.
  assert.deepEqual([...a.errors.filter((e) => !e.includes("404")), ...b.errors], []);
  await close(a, b);
});

test("links are clickable (http/https only, new tab, no referrer); an image says what it is", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Links"), [b]);
  await b.call(`/api/rooms/${room.id}/messages`, { body: "docs at https://example.com/guide?x=1. not javascript:alert(1) nor data:text/html,hi", cid: "l1" });
  await b.call(`/api/rooms/${room.id}/messages`, { body: `${gw.url}/favicon.svg`, cid: "l2" });
  await open(a, room);
  const msg = row(a.page, "docs at");
  await msg.waitFor();
  const link = msg.getByRole("link", { name: "https://example.com/guide?x=1" });
  assert.equal(await link.getAttribute("href"), "https://example.com/guide?x=1");
  assert.equal(await link.getAttribute("target"), "_blank");
  assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
  assert.equal(await msg.getByRole("link").count(), 1, "javascript: and data: stay text");
  await log(a.page).getByRole("img", { name: "Image from Bob: favicon.svg" }).waitFor();
  await close(a, b);
});

test("dark mode follows the system, and the toggle is remembered", async () => {
  const a = await person("Alice", { colorScheme: "dark" });
  const bg = () => a.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(await bg(), "rgb(15, 20, 25)");
  const toggle = a.page.getByRole("button", { name: "Dark theme" });
  assert.equal(await toggle.getAttribute("aria-pressed"), "true");
  await toggle.click();
  assert.equal(await bg(), "rgb(255, 255, 255)");
  await a.page.reload();
  await wsOpen(a.page);
  assert.equal(await bg(), "rgb(255, 255, 255)", "the choice survives a reload");
  assert.equal(await a.page.getByRole("button", { name: "Dark theme" }).getAttribute("aria-pressed"), "false");
  await close(a);
});

test("notifications: asked for by the bell, shown for a mention in another room", async () => {
  const a = await person("Alice", {
    init: () => {
      window.__notes = [];
      window.__asked = 0;
      class FakeNotification {
        static permission = "default";
        static async requestPermission() {
          window.__asked++;
          FakeNotification.permission = "granted";
          return "granted";
        }
        constructor(title, opts) {
          window.__notes.push({ title, body: opts?.body });
        }
        close() {}
      }
      window.Notification = FakeNotification;
    },
  });
  const b = await person("Bob");
  const here = await roomWith(a, uniq("Reading"), [b]);
  const there = await roomWith(a, uniq("Elsewhere"), [b]);
  await open(a, here);
  assert.equal(await a.page.evaluate(() => window.__asked), 0, "no permission prompt before the user asks");
  const bell = a.page.getByRole("button", { name: "Notifications" });
  await bell.click();
  await until(async () => (await bell.getAttribute("aria-pressed")) === "true", 3000, "the bell on");
  assert.equal(await a.page.evaluate(() => window.__asked), 1);
  await b.call(`/api/rooms/${there.id}/messages`, { body: "no mention here", cid: "n0" });
  await b.call(`/api/rooms/${there.id}/messages`, { body: "@Alice can you look?", cid: "n1" });
  const notes = await until(async () => {
    const n = await a.page.evaluate(() => window.__notes);
    return n.length ? n : null;
  }, 5000, "a notification");
  assert.deepEqual(notes, [{ title: `Bob mentioned you in ${there.name}`, body: "@Alice can you look?" }]);
  await close(a, b);
});

test("phone: compact header, members sheet with backdrop, Close and Escape, a one-line connection bar", async () => {
  const phone = { width: 390, height: 844 };
  const a = await person("Alice", { viewport: phone });
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Phone"), [b]);
  await b.call(`/api/rooms/${room.id}/messages`, { body: "hello phone", cid: "p1" });
  await open(a, room);
  await row(a.page, "hello phone").waitFor();
  const box = await log(a.page).boundingBox();
  console.log(`phone: messages start at ${box.y.toFixed(0)} px of 844 (${((box.y / 844) * 100).toFixed(1)}%)`);
  assert.ok(box.y <= 0.12 * 844, `header takes ${box.y} px`);

  const membersBtn = a.page.getByRole("button", { name: "Members" });
  await membersBtn.click();
  const sheet = a.page.getByRole("dialog", { name: "Members" });
  await sheet.getByRole("listitem").filter({ hasText: "Bob" }).waitFor();
  const s = await sheet.boundingBox();
  assert.ok(s.width >= 389 && s.y > 844 * 0.25, `a bottom sheet across the width (${JSON.stringify(s)})`);
  await a.page.keyboard.press("Escape");
  await sheet.waitFor({ state: "detached" });
  assert.ok(await focused(membersBtn), "Escape closes and focus returns to Members");
  await membersBtn.click();
  await sheet.getByRole("button", { name: "Close" }).click();
  await sheet.waitFor({ state: "detached" });
  assert.ok(await focused(membersBtn));
  await membersBtn.click();
  await a.page.mouse.click(200, 100); // the backdrop above the sheet
  await sheet.waitFor({ state: "detached" });

  // The connection bar sits in the flow: one line, nothing of the header under it.
  await gw.stop("SIGKILL");
  const bar = a.page.getByRole("status").filter({ hasText: "Reconnecting" });
  await bar.waitFor({ timeout: 10000 });
  const bb = await bar.boundingBox();
  const title = await a.page.getByRole("heading", { name: room.name }).boundingBox();
  const mb = await membersBtn.boundingBox();
  assert.ok(bb.height <= 48, `the bar is one line (${bb.height} px)`);
  for (const [what, r] of [["title", title], ["Members", mb]]) {
    const overlap = !(bb.y + bb.height <= r.y || r.y + r.height <= bb.y || bb.x + bb.width <= r.x || r.x + r.width <= bb.x);
    assert.ok(!overlap, `the bar covers the ${what}`);
  }
  await gw.start();
  await bar.waitFor({ state: "detached", timeout: 20000 });
  await close(a, b);
});

// Issue 16, "every verb of the server in the client": room events and mentions.
const menuOf = (page, text, sender) => row(page, text).getByRole("button", { name: `Actions for message from ${sender}` });

test("edit and delete: keyboard menu, inline editor, (edited) for others; the owner deletes anyone's", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Edits"), [b]);
  await open(a, room);
  await open(b, room);
  await say(a, room, "teh typo");
  await say(b, room, "bob was here");
  await row(a.page, "bob was here").waitFor();

  // Keyboard: focus the message, Enter opens its menu, → to Edit, Enter opens the editor.
  await row(a.page, "teh typo").focus();
  await a.page.keyboard.press("Enter");
  const menu = a.page.getByRole("menu", { name: "Message actions" });
  await menu.waitFor();
  assert.ok(await focused(menu.getByRole("menuitem", { name: "React" })), `the menu's first item has focus (at ${await activeName(a.page)})`);
  await a.page.keyboard.press("ArrowRight");
  assert.ok(await focused(menu.getByRole("menuitem", { name: "Edit" })));
  await a.page.keyboard.press("Enter");
  const editor = a.page.getByRole("textbox", { name: "Edit message" });
  assert.ok(await focused(editor), "the editor takes focus");
  await editor.fill("the typo, fixed");
  await editor.press("Enter");
  await editor.waitFor({ state: "detached" });
  await row(b.page, "the typo, fixed").getByText("(edited)").waitFor({ timeout: 5000 });
  await row(a.page, "the typo, fixed").getByText("(edited)").waitFor();
  assert.equal(await row(b.page, "teh typo").count(), 0);

  // Bob may only react to Alice's message; Escape closes and focus goes back to the message.
  await menuOf(b.page, "the typo, fixed", "Alice").click();
  const bmenu = b.page.getByRole("menu", { name: "Message actions" });
  assert.deepEqual(await bmenu.getByRole("menuitem").allTextContents(), ["React"]);
  await b.page.keyboard.press("Escape");
  await bmenu.waitFor({ state: "detached" });
  await until(() => focused(row(b.page, "the typo, fixed")), 2000, "focus back on the message");

  // The owner deletes Bob's message, after a confirmation.
  await menuOf(a.page, "bob was here", "Bob").click();
  await a.page.getByRole("menu", { name: "Message actions" }).getByRole("menuitem", { name: "Delete" }).click();
  await a.page.getByRole("group", { name: "Delete this message?" }).getByRole("button", { name: "Delete message" }).click();
  await log(b.page).getByText("message deleted").waitFor({ timeout: 5000 });
  assert.equal(await row(b.page, "bob was here").count(), 0);
  await log(a.page).getByText("message deleted").waitFor();
  // After a reload the history (not the live events) says the same.
  await b.page.reload();
  await wsOpen(b.page);
  await row(b.page, "the typo, fixed").getByText("(edited)").waitFor();
  await log(b.page).getByText("message deleted").waitFor();
  assert.deepEqual([...a.errors, ...b.errors], []);
  await close(a, b);
});

test("reactions: picker, counts per emoji, own highlighted, a click toggles", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Reactions"), [b]);
  await open(a, room);
  await open(b, room);
  await say(a, room, "lunch at noon?");
  await menuOf(b.page, "lunch at noon?", "Alice").click();
  await b.page.getByRole("menuitem", { name: "React" }).click();
  const picker = b.page.getByRole("menu", { name: "Reactions" });
  await picker.getByRole("menuitemcheckbox", { name: "React with thumbs up" }).click();
  await picker.waitFor({ state: "detached" });

  const chip = (p, n, pressed) => row(p.page, "lunch at noon?").getByRole("button", { name: `👍 ${n}`, pressed });
  await chip(a, 1, false).waitFor({ timeout: 5000 });
  await chip(b, 1, true).waitFor();
  await chip(a, 1, false).click(); // Alice joins in
  await chip(a, 2, true).waitFor({ timeout: 5000 });
  await chip(b, 2, true).waitFor({ timeout: 5000 });
  await chip(b, 2, true).click(); // Bob takes his back
  await chip(b, 1, false).waitFor({ timeout: 5000 });
  await chip(a, 1, true).waitFor({ timeout: 5000 });
  // The history's reactions (user ids) say the same after a reload.
  await a.page.reload();
  await wsOpen(a.page);
  await chip(a, 1, true).waitFor();
  assert.deepEqual([...a.errors, ...b.errors], []);
  await close(a, b);
});

test("mentions: a badge in the room list until read, the name highlighted (ours stronger)", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const here = await roomWith(a, uniq("Quiet"), [b]);
  const there = await roomWith(a, uniq("Busy"), [b]);
  await open(a, here);
  await open(b, there);
  await say(b, there, "@Alice and @Bob: standup?");
  const link = a.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: new RegExp(there.name) });
  await link.getByLabel("1 mention").waitFor({ timeout: 5000 });
  await link.click();
  const r = row(a.page, "standup?");
  await r.waitFor();
  assert.equal(await r.locator("strong.mention.me").textContent(), "@Alice");
  assert.equal(await r.locator("strong.mention:not(.me)").textContent(), "@Bob");
  await link.getByLabel("1 mention").waitFor({ state: "detached", timeout: 5000 });
  // Read on the server too (the read marker is posted after 400 ms): a reload shows no badge.
  await until(async () => (await a.call("/api/rooms")).rooms.find((x) => x.id === there.id).unread_mentions === 0, 5000, "the mention read on the server");
  await a.page.reload();
  await wsOpen(a.page);
  await a.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: new RegExp(here.name) }).waitFor();
  assert.equal(await link.getByLabel(/mention/).count(), 0);
  await close(a, b);
});

test("mentions: @ in the composer completes a member's name from a listbox, by keyboard", async () => {
  const a = await person("Alice");
  const b = await person("Bob Stone");
  const c = await person("Bea");
  const room = await roomWith(a, uniq("Complete"), [b, c]);
  await open(a, room);
  const box = a.page.getByLabel(`Message ${room.name}`);
  await box.pressSequentially("hi @b", { delay: 20 });
  const list = a.page.getByRole("listbox", { name: "Members to mention" });
  await list.waitFor({ timeout: 5000 });
  assert.deepEqual((await list.getByRole("option").allTextContents()).sort(), ["Bea", "Bob Stone"]);
  await box.pressSequentially("o", { delay: 20 });
  // The list narrows on the next render; allTextContents does not wait for it.
  await until(async () => (await list.getByRole("option").count()) === 1, 5000, "the list narrowed to Bob");
  assert.deepEqual(await list.getByRole("option").allTextContents(), ["Bob Stone"]);
  assert.equal(await list.getByRole("option", { selected: true }).textContent(), "Bob Stone");
  await box.press("Enter"); // picks, does not send
  await list.waitFor({ state: "detached" });
  assert.equal(await box.inputValue(), "hi @BobStone ");
  await box.pressSequentially("lunch?", { delay: 10 });
  await box.press("Enter");
  // The server resolves the mention: Bob gets the badge.
  await until(async () => (await b.call("/api/rooms")).rooms.find((x) => x.id === room.id).unread_mentions === 1, 5000, "Bob's mention counted");
  // Escape dismisses the list; Enter then sends as usual.
  await box.pressSequentially("@be", { delay: 20 });
  await list.waitFor();
  await box.press("Escape");
  await list.waitFor({ state: "detached" });
  await close(a, b, c);
});

test("search: snippets with marked matches; a result opens its room at the message, loaded from history", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Recipes"), [b]);
  const other = await roomWith(b, uniq("Not Alice's")); // Alice is not in it: never found
  await b.call(`/api/rooms/${other.id}/messages`, { body: "apple secrets", cid: "s-x" });
  await b.call(`/api/rooms/${room.id}/messages`, { body: "grandma's <b>apple</b> pie recipe", cid: "s-0" });
  // Enough newer messages that the first page of the room does not hold it.
  for (let i = 1; i <= 80; i++) await (i % 2 ? a : b).call(`/api/rooms/${room.id}/messages`, { body: `filler ${i}`, cid: `s-${i}` });
  await a.page.getByRole("searchbox", { name: "Search messages" }).fill("apples");
  await a.page.getByRole("searchbox", { name: "Search messages" }).press("Enter");
  const results = a.page.getByRole("list", { name: "Search results" });
  await results.waitFor({ timeout: 5000 });
  assert.equal(await results.getByRole("listitem").count(), 1, "only rooms Alice is in");
  const hit = results.getByRole("link", { name: /apple pie recipe/ });
  assert.deepEqual(await hit.locator("mark").allTextContents(), ["apple"]);
  assert.equal(await hit.locator("b").count(), 0, "snippet parts are text, never HTML");
  await hit.click();
  await a.page.waitForURL(`**/rooms/${room.id}`);
  const target = row(a.page, "pie recipe");
  await target.waitFor({ timeout: 10000 });
  await until(() => focused(target), 3000, "the found message focused");
  const tb = await target.boundingBox();
  const lb = await log(a.page).boundingBox();
  assert.ok(tb.y >= lb.y - 1 && tb.y + tb.height <= lb.y + lb.height + 1, `the message is in view (${JSON.stringify(tb)} in ${JSON.stringify(lb)})`);
  // The rest of the room is still there below it, down to the newest.
  await a.page.keyboard.press("End");
  await row(a.page, "filler 80").waitFor();
  assert.deepEqual([...a.errors, ...b.errors], []);
  await close(a, b);
});

test("files: attach (progress bar), drop and paste; images with their box reserved and alt text, other files as downloads", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Files"), [b]);
  await open(a, room);
  await open(b, room);
  // A 640×480 PNG drawn by the browser, and a text file.
  const png = Buffer.from(
    await a.page.evaluate(() => {
      const c = document.createElement("canvas");
      c.width = 640;
      c.height = 480;
      const g = c.getContext("2d");
      g.fillStyle = "#c33";
      g.fillRect(0, 0, 640, 480);
      return c.toDataURL("image/png").split(",")[1];
    }),
    "base64",
  );
  const attach = a.page.getByLabel("Attach files");
  await attach.setInputFiles([
    { name: "cat.png", mimeType: "image/png", buffer: png },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello notes\n") },
  ]);
  const chips = a.page.getByRole("list", { name: "Attachments" });
  await chips.getByRole("listitem").filter({ hasText: "notes.txt" }).getByText(/\d+ B/).waitFor({ timeout: 10000 });
  await chips.getByRole("listitem").filter({ hasText: "cat.png" }).getByText(/KB|B$/).waitFor({ timeout: 10000 });
  await say(a, room, "the cat, and my notes");
  await chips.waitFor({ state: "detached" });

  const r = row(b.page, "the cat, and my notes");
  const img = r.getByRole("img", { name: "Image from Alice: cat.png" });
  await img.waitFor({ timeout: 5000 });
  assert.deepEqual(await img.evaluate((el) => [el.getAttribute("width"), el.getAttribute("height"), el.loading]), ["320", "240", "lazy"]);
  await until(() => img.evaluate((el) => el.complete && el.naturalWidth === 640), 5000, "the image loaded for another member");
  const dl = r.getByRole("link", { name: /notes\.txt/ });
  assert.equal(await dl.getAttribute("download"), "notes.txt");

  // A slow upload shows its progress bar; Send waits for it.
  const cdp = await a.ctx.newCDPSession(a.page);
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  await attach.setInputFiles([{ name: "big.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(768 * 1024, 7) }]);
  const bar = a.page.getByRole("progressbar", { name: "Uploading big.bin" });
  await bar.waitFor({ timeout: 5000 });
  assert.ok(await a.page.getByRole("button", { name: "Send" }).isDisabled(), "Send waits for the upload");
  await bar.waitFor({ state: "detached", timeout: 20000 });
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await a.page.getByRole("button", { name: "Remove big.bin" }).click();

  // Dropped on the room, and pasted into the message box.
  await a.page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(["dropped text\n"], "drop.txt", { type: "text/plain" }));
    document.getElementById("main").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await a.page.getByLabel(`Message ${room.name}`).evaluate((el) => {
    const dt = new DataTransfer();
    dt.items.add(new File(["pasted text\n"], "paste.txt", { type: "text/plain" }));
    el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  await chips.getByRole("listitem").filter({ hasText: "paste.txt" }).getByText(/\d+ B/).waitFor({ timeout: 10000 });
  await chips.getByRole("listitem").filter({ hasText: "drop.txt" }).getByText(/\d+ B/).waitFor({ timeout: 10000 });
  await a.page.getByRole("button", { name: "Send" }).click(); // files alone, no text
  await log(b.page).getByRole("link", { name: /paste\.txt/ }).waitFor({ timeout: 5000 });
  await log(b.page).getByRole("link", { name: /drop\.txt/ }).waitFor();
  assert.deepEqual([...a.errors, ...b.errors], []);
  await close(a, b);
});

test("invite by name: the directory's hits to choose from, then the invitee is a member", async () => {
  const a = await person("Alice");
  const tag = `Zed${Date.now() % 100000}`;
  const z1 = await apiUser(gw.url, `${tag} Ames`);
  const z2 = await apiUser(gw.url, `${tag} Amos`);
  const room = await roomWith(a, uniq("By name"), [], true);
  await open(a, room);
  await a.page.getByRole("button", { name: "Invite" }).click();
  const dlg = a.page.getByRole("dialog", { name: `Invite to ${room.name}` });
  await dlg.getByLabel("Name or user id").fill(`${tag.toLowerCase()} am`);
  await dlg.getByRole("button", { name: "Invite", exact: true }).click();
  const hits = dlg.getByRole("list", { name: "People found" });
  // The hits arrive with the directory's answer; allTextContents does not wait for them.
  const found = await until(async () => {
    const t = await hits.getByRole("button").allTextContents();
    return t.length >= 2 ? t : null;
  }, 5000, "the directory's hits");
  assert.deepEqual(found, [`Invite ${tag} Ames`, `Invite ${tag} Amos`]);
  await hits.getByRole("button", { name: `Invite ${tag} Amos` }).click();
  await dlg.getByRole("status").filter({ hasText: `${tag} Amos is now a member of ${room.name}` }).waitFor();
  const members = (await a.call(`/api/rooms/${room.id}/members`)).members.map((m) => m.id).sort();
  assert.deepEqual(members, [a.user.id, z2.user.id].sort());
  void z1;
  await dlg.getByLabel("Name or user id").fill("nobody-has-this-name");
  await dlg.getByRole("button", { name: "Invite", exact: true }).click();
  await dlg.getByRole("alert").filter({ hasText: "Nobody matches" }).waitFor();
  await close(a);
});

test("direct messages: started from a member's entry, listed under Direct messages by the peer's name, notified as a DM", async () => {
  const a = await person("Alice");
  const b = await person("Bob", {
    init: () => {
      window.__notes = [];
      class FakeNotification {
        static permission = "granted";
        static async requestPermission() {
          return "granted";
        }
        constructor(title, opts) {
          window.__notes.push({ title, body: opts?.body });
        }
        close() {}
      }
      window.Notification = FakeNotification;
      localStorage.setItem("chatgate_notify", "on");
    },
  });
  const room = await roomWith(a, uniq("Lobby"), [b]);
  await open(a, room);
  await open(b, room);
  const bell = b.page.getByRole("button", { name: "Notifications" });
  if ((await bell.getAttribute("aria-pressed")) !== "true") await bell.click();
  await a.page.getByRole("button", { name: "Members" }).click();
  await a.page.getByRole("button", { name: "Message Bob" }).click();
  await a.page.getByRole("heading", { name: "Bob", exact: true }).waitFor({ timeout: 5000 });
  const head = a.page.getByRole("main");
  await head.getByText("Direct message", { exact: true }).waitFor();
  assert.equal(await head.getByRole("button", { name: "Invite" }).count(), 0, "no invitations into a DM");
  assert.equal(await head.getByRole("button", { name: "Leave" }).count(), 0, "a DM cannot be left");
  const dmLink = (p, name) => p.page.getByRole("list", { name: "Direct messages" }).getByRole("link", { name: new RegExp(`^${name}`) });
  await dmLink(a, "Bob").waitFor();
  await a.page.getByLabel("Message Bob").fill("psst, Bob");
  await a.page.getByLabel("Message Bob").press("Enter");
  // Bob learns of the new room at once, from a rooms event.
  await dmLink(b, "Alice").waitFor({ timeout: 5000 });
  await a.page.getByLabel("Message Bob").fill("are you there?");
  await a.page.getByLabel("Message Bob").press("Enter");
  const notes = await until(async () => {
    const n = await b.page.evaluate(() => window.__notes);
    return n.some((x) => x.body === "are you there?") ? n : null;
  }, 5000, "a DM notification");
  assert.ok(notes.some((x) => x.title === "Alice (direct message)" && x.body === "are you there?"), JSON.stringify(notes));
  await dmLink(b, "Alice").click();
  await row(b.page, "psst, Bob").waitFor();
  await row(b.page, "are you there?").waitFor();
  // Asking again opens the same room.
  await a.page.goto(`${gw.url}/rooms/${room.id}`);
  await wsOpen(a.page);
  await a.page.getByRole("button", { name: "Members" }).click();
  await a.page.getByRole("button", { name: "Message Bob" }).click();
  await row(a.page, "are you there?").waitFor();
  assert.equal(await a.page.getByRole("list", { name: "Direct messages" }).getByRole("link").count(), 1);
  assert.deepEqual([...a.errors, ...b.errors], []);
  await close(a, b);
});

test("room settings: the owner renames, sets the topic and deletes; members see it", async () => {
  const a = await person("Alice");
  const b = await person("Bob");
  const room = await roomWith(a, uniq("Old name"), [b]);
  await open(a, room);
  await open(b, room);
  assert.equal(await b.page.getByRole("button", { name: "Settings" }).count(), 0, "only the owner has Settings");
  const settingsBtn = a.page.getByRole("button", { name: "Settings" });
  await settingsBtn.click();
  const dlg = a.page.getByRole("dialog", { name: "Room settings" });
  const newName = uniq("New name");
  await dlg.getByLabel("Room name").fill(newName);
  await dlg.getByLabel("Topic").fill("weekly sync");
  await dlg.getByRole("button", { name: "Save" }).click();
  await dlg.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  await a.page.keyboard.press("Escape");
  await dlg.waitFor({ state: "hidden" });
  assert.ok(await focused(settingsBtn), "focus returns to Settings");
  await a.page.getByRole("heading", { name: newName }).waitFor();
  await a.page.getByRole("main").getByText("weekly sync").waitFor();
  // The rename reaches Bob's open page as a rooms event: no reload.
  await b.page.getByRole("heading", { name: newName }).waitFor({ timeout: 5000 });
  await b.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: new RegExp(newName) }).waitFor();

  await settingsBtn.click();
  await dlg.getByRole("button", { name: "Delete room…" }).click();
  await dlg.getByRole("group", { name: "Delete this room?" }).getByRole("button", { name: `Delete ${newName}` }).click();
  await a.page.waitForURL(`${gw.url}/`);
  assert.equal(await a.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: new RegExp(newName) }).count(), 0);
  // Bob's subscription ends (unsubscribed): the room leaves his list at once.
  await b.page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: new RegExp(newName) }).waitFor({ state: "detached", timeout: 5000 });
  await b.page.getByRole("heading", { name: "Room not found" }).waitFor();
  assert.deepEqual([...a.errors, ...b.errors], []);
  await close(a, b);
});

test("account: a password change keeps this tab signed in and signs every other one out; then sign out everywhere", async () => {
  const a = await person("Alice");
  // The same account in a second browser.
  const login = await fetch(gw.url + "/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: a.email, password: a.password }),
  }).then((r) => r.json());
  const ctx2 = await contextFor(browser, gw.url, login);
  const other = await ctx2.newPage();
  const otherErrors = watchErrors(other);
  await other.goto(gw.url + "/");
  await wsOpen(other);

  await a.page.getByRole("banner").getByRole("link", { name: "Alice" }).click();
  await a.page.getByRole("heading", { name: "Your account" }).waitFor();
  await a.page.getByLabel("Current password").fill("not the password");
  await a.page.getByLabel("New password").fill("a brand new password");
  await a.page.getByRole("button", { name: "Change password" }).click();
  await a.page.getByRole("alert").filter({ hasText: "The current password is wrong." }).waitFor();
  assert.equal(await other.evaluate(() => fetch("/api/me").then((r) => r.status)), 200, "a refused change ends nothing");

  await a.page.getByLabel("Current password").fill(a.password);
  await a.page.getByRole("button", { name: "Change password" }).click();
  await a.page.getByRole("status").filter({ hasText: "Password changed." }).waitFor();
  // The other browser's socket is closed 4401: it is on the sign-in screen.
  await other.getByRole("heading", { name: "Sign in" }).waitFor({ timeout: 10000 });
  // This tab reconnected with the new session and stays signed in.
  await until(async () => (await a.page.evaluate(() => document.body.dataset.ws)) === "open", 10000, "this tab reconnected");
  await sleep(500);
  assert.equal(await a.page.evaluate(() => document.body.dataset.ws), "open");
  assert.equal(await a.page.evaluate(() => fetch("/api/me").then((r) => r.status)), 200);
  assert.equal(await a.page.getByRole("heading", { name: "Sign in" }).count(), 0);

  await a.page.getByRole("button", { name: "Sign out everywhere" }).click();
  await a.page.getByRole("heading", { name: "Sign in" }).waitFor();
  // The session's token is dead on the server, not only forgotten here.
  const status = await fetch(gw.url + "/api/me", { headers: { Authorization: `Bearer ${login.token}` } }).then((r) => r.status);
  assert.equal(status, 401);
  // The refused change (403) and the ended sessions (401) log failed requests; nothing else may.
  assert.deepEqual([...a.errors, ...otherErrors].filter((e) => !/status of (401|403)/.test(e)), []);
  await ctx2.close();
  await close(a);
});
