import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { addMessages, emptyChat, toItem } from "../src/store/chat";
import { olderBefore, replayShortfall, RoomCache, sinceFor } from "../src/store/roomCache";
import { initialState, Store } from "../src/store/state";
import type { RoomInfo, WireMsg } from "../src/types";

const ME = { id: 1, name: "me" };
const w = (seq: number, room = 10): WireMsg => ({ room, seq, user: { id: 2, name: "u2" }, body: "m" + seq, ts: "2025-01-01T00:00:00Z" });
const it_ = (seq: number, room = 10) => toItem(w(seq, room), ME.id);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const room = (id: number, last_seq: number, joined = true): RoomInfo => ({ id, name: "r" + id, is_private: false, member_count: 1, last_seq, joined });

/** A server holding seq 1..`last` of room 10. */
function setup(last = 300) {
  const store = new Store(initialState(ME), () => {}, () => {});
  store.set({ rooms: [room(10, last), room(11, 3), room(12, 9, false)] });
  const calls: string[] = [];
  const api = vi.fn(async (path: string) => {
    calls.push(path);
    const u = new URL(path, "http://x");
    const limit = Number(u.searchParams.get("limit"));
    const after = u.searchParams.get("after");
    const before = u.searchParams.get("before");
    let seqs: number[];
    let more: boolean;
    if (after !== null) {
      seqs = range(Number(after) + 1, Math.min(last, Number(after) + limit));
      more = seqs.length > 0 && seqs[seqs.length - 1] < last;
    } else {
      const top = before !== null ? Number(before) - 1 : last;
      seqs = range(Math.max(1, top - limit + 1), top).reverse(); // newest first, as the server sends
      more = seqs.length > 0 && seqs[seqs.length - 1] > 1;
    }
    return { messages: seqs.map((s) => w(s)), has_more: more };
  });
  const sent: any[] = [];
  const notify = vi.fn();
  const cache = new RoomCache({ store, api: api as any, send: (f) => (sent.push(f), true), apiFailed: (e) => (e instanceof Error ? e.message : String(e)), notify });
  const chat = () => store.getState().chats[10];
  const seqs = () => chat().msgs.map((m) => m.seq);
  return { store, cache, calls, sent, chat, seqs, notify };
}

describe("sinceFor", () => {
  it("resumes after the contiguous run, from 0 for a loaded empty room, else from the count shown", () => {
    const c = addMessages(emptyChat(10), [it_(4), it_(5), it_(6), it_(9)]);
    expect(sinceFor(c, { last_seq: 20 })).toBe(6);
    expect(sinceFor({ ...emptyChat(10), loaded: true }, { last_seq: 20 })).toBe(0);
    expect(sinceFor(emptyChat(10), { last_seq: 20 })).toBe(20); // opened, first page not here yet
    expect(sinceFor(undefined, { last_seq: 20 })).toBe(20);
  });
});

describe("replayShortfall", () => {
  it("asks for what the replay did not bring", () => {
    const c = { ...addMessages(emptyChat(10), [it_(1), it_(2), it_(3), it_(6)]), loaded: true };
    expect(replayShortfall(c, 8)).toEqual({ after: 3, upTo: 8 });
    expect(replayShortfall(c, 6)).toBeNull();
    expect(replayShortfall({ ...c, loaded: false }, 8)).toBeNull();
    expect(replayShortfall(undefined, 8)).toBeNull();
    expect(replayShortfall({ ...emptyChat(10), loaded: true }, 2)).toEqual({ after: 0, upTo: 2 });
  });
});

describe("RoomCache", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
  afterEach(() => vi.useRealTimers());

  it("subscribes each joined room once per socket, with since", async () => {
    const s = setup(5);
    s.cache.resubscribe();
    s.cache.resubscribe();
    expect(s.sent).toEqual([
      { type: "subscribe", room: 10, since: 5 },
      { type: "subscribe", room: 11, since: 3 },
    ]);
    await s.cache.open(10); // already subscribed on this socket: no second frame
    expect(s.sent).toHaveLength(2);
    s.cache.forget(11);
    s.cache.resubscribe();
    expect(s.sent[2]).toEqual({ type: "subscribe", room: 11, since: 3 });
    s.cache.resetSubscriptions(); // a new socket
    s.cache.resubscribe();
    expect(s.sent.slice(3)).toEqual([
      { type: "subscribe", room: 10, since: 5 },
      { type: "subscribe", room: 11, since: 3 },
    ]);
  });

  it("opens a room with the newest page once and subscribes it when joined", async () => {
    const s = setup(300);
    await s.cache.open(10);
    expect(s.calls).toEqual(["/api/rooms/10/messages?limit=50"]);
    expect(s.seqs()).toEqual(range(251, 300));
    expect(s.chat()).toMatchObject({ loaded: true, hasMore: true, contigTo: 300 });
    expect(s.sent).toEqual([{ type: "subscribe", room: 10, since: 300 }]);
    await s.cache.open(10);
    expect(s.calls).toHaveLength(1);
  });

  it("a seq jump fetches the hole in pages of 200", async () => {
    const s = setup(600);
    s.store.set({ chats: { 10: { ...addMessages(emptyChat(10), range(1, 50).map((x) => it_(x))), loaded: true } } });
    s.cache.add(10, [it_(51)]); // contiguous: nothing to fetch
    expect(s.calls).toHaveLength(0);
    s.cache.add(10, [it_(600)]);
    await vi.waitFor(() => expect(s.seqs()).toEqual(range(1, 600)));
    expect(s.calls).toEqual([
      "/api/rooms/10/messages?after=51&limit=200",
      "/api/rooms/10/messages?after=251&limit=200",
      "/api/rooms/10/messages?after=451&limit=200",
    ]);
    expect(s.chat().contigTo).toBe(600);
  });

  it("a replay short of subscribed.last_seq is fetched after a grace period", async () => {
    const s = setup(60);
    s.store.set({ chats: { 10: { ...addMessages(emptyChat(10), range(1, 50).map((x) => it_(x))), loaded: true } } });
    s.cache.subscribed(10, 60);
    s.cache.add(10, range(51, 55).map((x) => it_(x))); // part of the replay arrives
    vi.advanceTimersByTime(1499);
    expect(s.calls).toHaveLength(0);
    vi.advanceTimersByTime(1);
    await vi.waitFor(() => expect(s.seqs()).toEqual(range(1, 60)));
    expect(s.calls).toEqual(["/api/rooms/10/messages?after=55&limit=200"]);
    // A room not loaded yet waits for its first page instead.
    s.cache.subscribed(11, 3);
    vi.advanceTimersByTime(2000);
    expect(s.calls).toHaveLength(1);
  });

  it("ignores messages for rooms it holds no cache of", () => {
    const s = setup();
    s.cache.add(11, [it_(1, 11)]);
    expect(s.store.getState().chats[11]).toBeUndefined();
  });

  it("loads older pages one at a time and the whole history at once", async () => {
    const s = setup(300);
    await s.cache.open(10);
    const a = s.cache.loadOlder(10);
    const b = s.cache.loadOlder(10); // already loading
    expect(s.chat().loadingOlder).toBe(true);
    await Promise.all([a, b]);
    expect(s.calls.slice(1)).toEqual(["/api/rooms/10/messages?before=251&limit=100"]);
    expect(s.seqs()).toEqual(range(151, 300));
    expect(s.chat()).toMatchObject({ loadingOlder: false, hasMore: true, contigTo: 300 });
    expect(await s.cache.loadAll(10)).toBe(300);
    expect(s.calls.slice(2)).toEqual(["/api/rooms/10/messages?before=151&limit=200"]);
    expect(s.seqs()).toEqual(range(1, 300));
    expect(s.chat().hasMore).toBe(false);
    await s.cache.loadOlder(10); // nothing older
    expect(s.calls).toHaveLength(3);
  });

  it("asks for older pages on aligned boundaries, whatever the newest seq", async () => {
    const s = setup(317);
    await s.cache.open(10); // 268..317
    await s.cache.loadOlder(10);
    // 268 rounded up to a multiple of 50, plus one: the page every client
    // asks for; the overlap (268..300) merges away.
    expect(s.calls.slice(1)).toEqual(["/api/rooms/10/messages?before=301&limit=100"]);
    expect(s.seqs()).toEqual(range(201, 317));
    await s.cache.loadOlder(10);
    expect(s.calls.slice(2)).toEqual(["/api/rooms/10/messages?before=201&limit=100"]);
    expect(s.seqs()).toEqual(range(101, 317));
    expect(olderBefore(1)).toBe(1);
    expect(olderBefore(2)).toBe(51);
    expect(olderBefore(51)).toBe(51);
    expect(olderBefore(52)).toBe(101);
  });

  it("reports a failed older page and clears its flag", async () => {
    const s = setup(300);
    await s.cache.open(10);
    const api = (s.cache as any).d.api as ReturnType<typeof vi.fn>;
    api.mockRejectedValueOnce(new Error("boom"));
    await s.cache.loadOlder(10);
    expect(s.chat().loadingOlder).toBe(false);
    expect(s.notify).toHaveBeenCalledWith("Could not load older messages: boom");
  });

  it("drop forgets a room's messages", async () => {
    const s = setup(10);
    await s.cache.open(10);
    s.cache.drop(10);
    expect(s.store.getState().chats[10]).toBeUndefined();
  });
});
