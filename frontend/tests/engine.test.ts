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

function setup(opts: { rooms?: RoomInfo[]; history?: (path: string) => unknown } = {}) {
  FakeWS.all = [];
  const calls: string[] = [];
  const rooms: RoomInfo[] = opts.rooms ?? [
    { id: 10, name: "general", is_private: false, member_count: 2, last_seq: 5, joined: true, last_read_seq: 5 },
    { id: 11, name: "other", is_private: false, member_count: 1, last_seq: 3, joined: true, last_read_seq: 1 },
  ];
  const api = vi.fn(async (path: string) => {
    calls.push(path);
    if (path === "/api/rooms") return { rooms };
    if (path.includes("/members")) return { members: [] };
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
});
