import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Engine, unreadOf } from "../src/store/engine";
import { FakeWS } from "./fakeWebSocket";
import type { RoomInfo, WireMsg } from "../src/types";

const me = { id: 1, name: "me" };
const m = (seq: number, user = 2, cid?: string, room = 10): WireMsg => ({
  room,
  seq,
  user: { id: user, name: "u" + user },
  body: "hello " + seq,
  cid,
  ts: "2025-01-01T00:00:00.000000Z",
});

function setup(opts: { rooms?: RoomInfo[]; history?: (path: string) => unknown; members?: () => unknown[]; events?: { window?: EventTarget; document?: EventTarget & { hidden?: boolean } } } = {}) {
  FakeWS.all = [];
  const calls: string[] = [];
  const rooms: RoomInfo[] = opts.rooms ?? [
    { id: 10, name: "general", is_private: false, member_count: 2, last_seq: 5, joined: true, last_read_seq: 5 },
    { id: 11, name: "other", is_private: false, member_count: 1, last_seq: 3, joined: true, last_read_seq: 1 },
  ];
  const api = vi.fn(async (path: string) => {
    calls.push(path);
    if (path === "/api/rooms") return { rooms };
    if (path.includes("/members")) return { members: opts.members?.() ?? [] };
    if (path.includes("/presence")) return { room: 10, online: [2] };
    if (opts.history) return opts.history(path);
    if (path.startsWith("/api/rooms/10/messages?limit=")) return { messages: [5, 4, 3, 2, 1].map((s) => m(s)), has_more: false };
    return { messages: [], has_more: false };
  });
  const queue: (() => void)[] = [];
  const onUnauthorized = vi.fn();
  const e = new Engine(me, {
    api: api as any,
    WebSocket: FakeWS as any,
    url: "ws://test/ws",
    schedule: (fn) => queue.push(fn),
    random: () => 0.5,
    onUnauthorized,
    online: () => true,
    events: opts.events ?? {},
  });
  const flush = () => {
    while (queue.length) queue.shift()!();
  };
  return { e, api, calls, flush, queue, onUnauthorized, ws: () => FakeWS.all[FakeWS.all.length - 1] };
}

describe("Engine", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "setInterval", "clearTimeout", "clearInterval", "Date"] }));
  afterEach(() => vi.useRealTimers());

  it("applies a burst of frames in one flush and notifies once", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    await t.e.openRoom(10);
    t.flush();
    const notified = vi.fn();
    t.e.subscribe(notified);
    for (let s = 6; s <= 105; s++) t.ws().push({ type: "message", ...m(s) });
    t.ws().push([{ type: "message", ...m(106) }, { type: "message", ...m(107) }]); // a batched frame
    expect(notified).not.toHaveBeenCalled();
    expect(t.queue.length).toBe(1); // one flush scheduled for 102 frames
    t.flush();
    expect(notified).toHaveBeenCalledTimes(1);
    const chat = t.e.getState().chats[10];
    expect(chat.msgs.length).toBe(107);
    expect(chat.contigTo).toBe(107);
    expect(t.e.getState().rooms!.find((r) => r.id === 10)!.last_seq).toBe(107);
  });

  it("subscribes joined rooms on open and resumes with since after a reconnect", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.ws().frames("subscribe").length).toBe(2));
    // Never opened: live from the known count on.
    expect(t.ws().frames("subscribe")).toEqual([
      { type: "subscribe", room: 10, since: 5 },
      { type: "subscribe", room: 11, since: 3 },
    ]);
    await t.e.openRoom(10);
    t.ws().push({ type: "message", ...m(6) });
    t.flush();
    t.ws().drop(1006);
    t.flush();
    expect(t.e.getState().conn).toBe("reconnecting");
    vi.advanceTimersByTime(1000);
    t.ws().open();
    const subs = t.ws().frames("subscribe");
    expect(subs).toContainEqual({ type: "subscribe", room: 10, since: 6 });
  });

  it("resends unacked messages with the same cid and shows each once", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    await t.e.openRoom(10);
    t.e.send(10, "first");
    t.e.send(10, "second");
    t.flush();
    const sent = t.ws().frames("send");
    expect(sent.map((f) => f.body)).toEqual(["first", "second"]);
    const [c1, c2] = sent.map((f) => f.cid);
    // The first is stored but its ack is lost with the connection.
    t.ws().drop(1001);
    vi.advanceTimersByTime(1000);
    t.ws().open();
    const resent = t.ws().frames("send");
    expect(resent.map((f) => f.cid)).toEqual([c1, c2]);
    // Replay brings the stored first message; the server acks the resend as a duplicate.
    t.ws().push([
      { type: "subscribed", room: 10, last_seq: 6 },
      { type: "message", ...m(6, 1, c1), body: "first" },
      { type: "ack", cid: c1, room: 10, seq: 6, duplicate: true },
      { type: "ack", cid: c2, room: 10, seq: 7 },
      { type: "message", ...m(7, 1, c2), body: "second" },
    ]);
    t.flush();
    const chat = t.e.getState().chats[10];
    expect(chat.pending).toHaveLength(0);
    expect(chat.msgs.map((x) => x.body)).toEqual(["hello 1", "hello 2", "hello 3", "hello 4", "hello 5", "first", "second"]);
  });

  it("detects a seq gap and fetches the missing range", async () => {
    const t = setup({
      history: (path) => {
        if (path.startsWith("/api/rooms/10/messages?limit=")) return { messages: [5, 4, 3, 2, 1].map((s) => m(s)), has_more: false };
        if (path.startsWith("/api/rooms/10/messages?after=5")) return { messages: [6, 7, 8].map((s) => m(s)), has_more: false };
        return { messages: [], has_more: false };
      },
    });
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    await t.e.openRoom(10);
    t.ws().push({ type: "message", ...m(9) });
    t.flush();
    await vi.waitFor(() => expect(t.calls).toContain("/api/rooms/10/messages?after=5&limit=200"));
    await vi.waitFor(() => {
      t.flush();
      expect(t.e.getState().chats[10].msgs.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
    expect(t.e.getState().chats[10].contigTo).toBe(9);
  });

  it("a failed send can be retried with the same cid; rate limits resend by themselves", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    await t.e.openRoom(10);
    t.e.send(10, "x");
    const cid = t.ws().frames("send")[0].cid;
    t.ws().push({ type: "error", code: "rate_limited", message: "slow down", cid, room: 10 });
    t.flush();
    expect(t.e.getState().chats[10].pending[0].state).toBe("sending");
    vi.advanceTimersByTime(2100);
    expect(t.ws().frames("send").map((f) => f.cid)).toEqual([cid, cid]);
    t.ws().push({ type: "error", code: "too_large", message: "too big", cid, room: 10 });
    t.flush();
    expect(t.e.getState().chats[10].pending[0].state).toBe("failed");
    t.e.retry(10, "c" + cid);
    expect(t.ws().frames("send").map((f) => f.cid)).toEqual([cid, cid, cid]);
  });

  it("close 4401 signs out without reconnecting; 1001 reconnects at once", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    t.ws().drop(1001);
    vi.advanceTimersByTime(1000);
    expect(FakeWS.all.length).toBe(2);
    t.ws().open();
    t.ws().drop(4401);
    expect(t.onUnauthorized).toHaveBeenCalled();
    vi.advanceTimersByTime(60000);
    expect(FakeWS.all.length).toBe(2);
  });

  it("throttles typing frames and expires others' typing", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    for (let i = 0; i < 10; i++) {
      t.e.typing(10);
      vi.advanceTimersByTime(100);
    }
    expect(t.ws().frames("typing")).toHaveLength(1);
    vi.advanceTimersByTime(2500);
    t.e.typing(10);
    expect(t.ws().frames("typing")).toHaveLength(2);
    t.ws().push({ type: "typing", room: 10, user: 2 });
    t.flush();
    expect(Object.keys(t.e.getState().typing[10] ?? {})).toEqual(["2"]);
    vi.advanceTimersByTime(5000);
    t.flush();
    expect(t.e.getState().typing[10]).toBeUndefined();
  });

  it("counts unread from last_seq and last_read_seq; own messages are read", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    t.ws().push([{ type: "message", ...m(4, 2, undefined, 11) }, { type: "message", ...m(5, 2, undefined, 11) }]);
    t.flush();
    const r11 = () => t.e.getState().rooms!.find((r) => r.id === 11)!;
    expect(unreadOf(r11())).toBe(4);
    t.ws().push({ type: "message", ...m(6, 1, "z", 11) });
    t.flush();
    expect(unreadOf(r11())).toBe(0);
  });

  it("keeps the list's unread count (messages only) up with others' messages, not room events; own messages and reading clear it", async () => {
    const t = setup({
      rooms: [
        // Seqs 2..9 above the marker, of which the server counts 5 messages (3 were events).
        { id: 10, name: "general", is_private: false, member_count: 2, last_seq: 9, joined: true, last_read_seq: 1, unread: 5 },
        { id: 11, name: "other", is_private: false, member_count: 1, last_seq: 3, joined: true, last_read_seq: 1, unread: 2 },
      ],
    });
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    const r10 = () => t.e.getState().rooms!.find((r) => r.id === 10)!;
    expect(unreadOf(r10())).toBe(5);
    t.ws().push({ type: "message", ...m(10) });
    t.ws().push({ type: "reaction", room: 10, seq: 11, target: 10, user: { id: 2, name: "u2" }, emoji: "👍", op: "add", ts: "t" });
    t.ws().push({ type: "edit", room: 10, seq: 12, target: 10, user: { id: 2, name: "u2" }, body: "changed", ts: "t" });
    t.ws().push({ type: "message", ...m(9) }); // a replay of one already counted
    t.flush();
    expect(r10().last_seq).toBe(12);
    expect(unreadOf(r10())).toBe(6); // the reaction and the edit are not unread messages
    t.ws().push([{ type: "message", ...m(13, 1, "mine") }, { type: "message", ...m(14) }]);
    t.flush();
    expect(unreadOf(r10())).toBe(1); // ours read what came before it; 14 came after
    // A reload while the client is ahead of the listing keeps the client's count.
    await t.e.loadRooms();
    expect(unreadOf(r10())).toBe(1);
    await t.e.openRoom(10);
    t.flush();
    t.e.markRead(10);
    expect(unreadOf(r10())).toBe(0);
  });

  it("clears a sender's typing when their message arrives", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    t.ws().push([
      { type: "typing", room: 10, user: 2 },
      { type: "typing", room: 10, user: 3 },
    ]);
    t.flush();
    expect(Object.keys(t.e.getState().typing[10])).toEqual(["2", "3"]);
    t.ws().push({ type: "message", ...m(6, 2) });
    t.flush();
    expect(Object.keys(t.e.getState().typing[10])).toEqual(["3"]); // at once, not after 4 s
    t.ws().push({ type: "message", ...m(7, 3) });
    t.flush();
    expect(t.e.getState().typing[10]).toBeUndefined();
  });

  it("tracks presence and recounts members on presence and on messages from strangers", async () => {
    let members = [{ id: 1, name: "me", role: "owner" }];
    const t = setup({ members: () => members });
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    await t.e.openRoom(10);
    t.flush();
    await vi.waitFor(() => expect(t.e.getState().presence[10]).toEqual({ 2: true }));
    const room10 = () => t.e.getState().rooms!.find((r) => r.id === 10)!;
    expect(room10().member_count).toBe(1); // from the members list, not the listing's 2
    // User 3 joins and subscribes: presence says so, members are reloaded once.
    members = [...members, { id: 3, name: "u3", role: "member" }];
    t.ws().push([
      { type: "presence", room: 10, user: 3, online: true },
      { type: "presence", room: 10, user: 2, online: false },
    ]);
    t.flush();
    expect(t.e.getState().presence[10]).toEqual({ 3: true });
    const before = t.calls.filter((c) => c.endsWith("/members")).length;
    vi.advanceTimersByTime(400);
    await vi.waitFor(() => expect(room10().member_count).toBe(2));
    expect(t.calls.filter((c) => c.endsWith("/members")).length).toBe(before + 1);
    // A message from someone not listed (joined without subscribing): reload too.
    members = [...members, { id: 4, name: "u4", role: "member" }];
    t.ws().push({ type: "message", ...m(6, 4) });
    t.flush();
    vi.advanceTimersByTime(400);
    await vi.waitFor(() => expect(room10().member_count).toBe(3));
  });

  it("tells listeners about new messages from others only", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    const got: number[] = [];
    const off = t.e.onIncoming((_r, msg) => got.push(msg.seq));
    t.ws().push([
      { type: "message", ...m(5) }, // already counted in the listing (last_seq 5)
      { type: "message", ...m(6) },
      { type: "message", ...m(7, 1, "mine") },
    ]);
    t.flush();
    expect(got).toEqual([6]);
    off();
    t.ws().push({ type: "message", ...m(8) });
    t.flush();
    expect(got).toEqual([6]);
  });

  it("refreshes the room list on focus and every 30 s, and follows online/offline", async () => {
    const win = new EventTarget();
    const doc = Object.assign(new EventTarget(), { hidden: false });
    const t = setup({ events: { window: win, document: doc } });
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    const loads = () => t.calls.filter((c) => c === "/api/rooms").length;
    const n0 = loads();
    win.dispatchEvent(new Event("focus"));
    expect(loads()).toBe(n0); // just loaded: not again within 3 s
    vi.advanceTimersByTime(3000);
    win.dispatchEvent(new Event("focus"));
    expect(loads()).toBe(n0 + 1);
    vi.advanceTimersByTime(3000);
    doc.dispatchEvent(new Event("visibilitychange"));
    expect(loads()).toBe(n0 + 2);
    vi.advanceTimersByTime(30000);
    expect(loads()).toBe(n0 + 3);
    win.dispatchEvent(new Event("offline"));
    expect(t.e.getState().online).toBe(false);
    win.dispatchEvent(new Event("online"));
    expect(t.e.getState().online).toBe(true);
    t.e.stop();
    vi.advanceTimersByTime(60000);
    expect(loads()).toBe(n0 + 3);
  });

  it("reloads the room list on a rooms event, at most once a second for a burst, the last one always", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    const loads = () => t.calls.filter((c) => c === "/api/rooms").length;
    const n0 = loads();
    vi.advanceTimersByTime(2000);
    t.ws().push({ type: "rooms", room: 12, why: "dm" });
    t.flush();
    vi.advanceTimersByTime(0);
    expect(loads()).toBe(n0 + 1); // the last load was 2 s ago: at once
    for (let i = 0; i < 20; i++) t.ws().push({ type: "rooms", room: 11, why: "updated" });
    t.flush();
    vi.advanceTimersByTime(500);
    expect(loads()).toBe(n0 + 1); // a burst right after a load waits
    vi.advanceTimersByTime(500);
    expect(loads()).toBe(n0 + 2); // then one load for all twenty
    vi.advanceTimersByTime(5000);
    expect(loads()).toBe(n0 + 2);
    t.e.stop();
  });

  it("counts mention frames per room until it is read, tells the listeners, and keeps reactions out of the message listeners", async () => {
    const t = setup();
    t.e.start();
    t.ws().open();
    await vi.waitFor(() => expect(t.e.getState().rooms).not.toBeNull());
    await t.e.openRoom(10);
    t.flush();
    const mentions = vi.fn();
    const incoming = vi.fn();
    t.e.onMention(mentions);
    t.e.onIncoming(incoming);
    t.ws().push({ type: "message", ...m(6, 2) });
    t.ws().push({ type: "mention", room: 10, seq: 6, user: { id: 2, name: "u2" }, body: "@me hi", ts: "t" });
    t.ws().push({ type: "reaction", room: 10, seq: 7, target: 6, user: { id: 2, name: "u2" }, emoji: "👍", op: "add", ts: "t" });
    t.flush();
    expect(t.e.getState().rooms!.find((r) => r.id === 10)!.unread_mentions).toBe(1);
    expect(mentions).toHaveBeenCalledTimes(1);
    expect(mentions.mock.calls[0][1]).toMatchObject({ room: 10, seq: 6 });
    expect(incoming.mock.calls.map((c) => c[1].seq)).toEqual([6]);
    expect(t.e.getState().chats[10].msgs.find((x) => x.seq === 6)!.reactions).toEqual([{ emoji: "👍", users: [2] }]);
    t.e.markRead(10);
    expect(t.e.getState().rooms!.find((r) => r.id === 10)!.unread_mentions).toBe(0);
  });
});
