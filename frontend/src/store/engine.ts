// The client's state lives here, outside React: a WebSocket-fed store read
// with useSyncExternalStore. Incoming frames are queued and applied once per
// animation frame, so a burst of 500 messages costs one merge and one render.
import { api, ApiError } from "../api";
import type { Item, Member, RoomInfo, ServerEvent, User, WireMsg } from "../types";
import { ackPending, addMessages, emptyChat, gapOf, lastSeq, setPending, toItem, type Chat } from "./chat";

export type ConnState = "connecting" | "open" | "reconnecting" | "offline";

export interface State {
  me: User;
  conn: ConnState;
  /** When the next reconnect attempt starts (ms epoch), while not open. */
  retryAt: number | null;
  rooms: RoomInfo[] | null;
  roomsError: string | null;
  chats: Readonly<Record<number, Chat>>;
  members: Readonly<Record<number, Member[]>>;
  /** room → user id → until (ms epoch). */
  typing: Readonly<Record<number, Readonly<Record<number, number>>>>;
  notice: { id: number; text: string } | null;
}

type Api = typeof api;

export interface EngineDeps {
  api?: Api;
  WebSocket?: { new (url: string): WebSocket };
  url?: string;
  /** Schedules a flush; default requestAnimationFrame with a timer fallback for hidden tabs. */
  schedule?: (fn: () => void) => void;
  now?: () => number;
  random?: () => number;
  onUnauthorized?: () => void;
  online?: () => boolean;
}

const OLDER_PAGE = 100;
const FIRST_PAGE = 50;
const TYPING_MS = 4000;
const TYPING_SEND_EVERY = 2500;
const PING_EVERY = 20000;
const DEAD_AFTER = 50000;

/** Exponential backoff with jitter in [0.5, 1) of the step: 0.5 s, 1 s, 2 s … 15 s. */
export function backoff(attempt: number, random: () => number): number {
  const step = Math.min(15000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(step * (0.5 + random() * 0.5));
}

function defaultSchedule(fn: () => void) {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    fn();
  };
  if (typeof requestAnimationFrame === "function" && !document.hidden) requestAnimationFrame(run);
  setTimeout(run, 100); // hidden tabs get no animation frames
}

let cidCounter = 0;
function newCid(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  return Date.now().toString(36) + "-" + (++cidCounter).toString(36) + "-" + Math.random().toString(36).slice(2, 10);
}

export class Engine {
  private state: State;
  private listeners = new Set<() => void>();
  private scheduled = false;
  private flushing = false;
  private loadingRooms = new Set<number>();
  private inbox: ServerEvent[] = [];
  private ws: WebSocket | null = null;
  private subscribedOn = new Set<number>();
  private attempt = 0;
  private everOpen = false;
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private lastTypingSent = new Map<number, number>();
  private gapFetching = new Set<number>();
  private readTimers = new Map<number, ReturnType<typeof setTimeout>>();
  private expectSeq = new Map<number, number>();
  private noticeId = 0;
  private deps: Required<Omit<EngineDeps, "onUnauthorized">> & Pick<EngineDeps, "onUnauthorized">;

  constructor(me: User, deps: EngineDeps = {}) {
    this.deps = {
      api: deps.api ?? api,
      WebSocket: deps.WebSocket ?? WebSocket,
      url: deps.url ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
      schedule: deps.schedule ?? defaultSchedule,
      now: deps.now ?? Date.now,
      random: deps.random ?? Math.random,
      onUnauthorized: deps.onUnauthorized,
      online: deps.online ?? (() => (typeof navigator === "undefined" ? true : navigator.onLine !== false)),
    };
    this.state = { me, conn: "connecting", retryAt: null, rooms: null, roomsError: null, chats: {}, members: {}, typing: {}, notice: null };
  }

  // ---- store API -------------------------------------------------------

  getState = (): State => this.state;

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  private set(patch: Partial<State>) {
    this.state = { ...this.state, ...patch };
    this.schedule();
  }

  private setChat(room: number, f: (c: Chat) => Chat) {
    const old = this.state.chats[room];
    if (!old) return;
    const next = f(old);
    if (next !== old) this.set({ chats: { ...this.state.chats, [room]: next } });
  }

  private setRoom(id: number, patch: Partial<RoomInfo>) {
    const rooms = this.state.rooms;
    if (!rooms) return;
    const i = rooms.findIndex((r) => r.id === id);
    if (i < 0) return;
    const next = rooms.slice();
    next[i] = { ...rooms[i], ...patch };
    this.set({ rooms: next });
  }

  private schedule() {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    this.deps.schedule(this.flush);
  }

  /** Applies queued frames and notifies subscribers: at most once per frame. */
  flush = () => {
    this.flushing = true;
    try {
      if (this.inbox.length) {
        const events = this.inbox;
        this.inbox = [];
        this.apply(events);
      }
    } finally {
      this.flushing = false;
      this.scheduled = false;
    }
    for (const l of this.listeners) l();
  };

  notify(text: string) {
    this.set({ notice: { id: ++this.noticeId, text } });
  }

  dismissNotice = () => this.set({ notice: null });

  // ---- connection ------------------------------------------------------

  start() {
    this.stopped = false;
    this.connect();
    if (typeof window !== "undefined") {
      window.addEventListener("online", this.onOnline);
      window.addEventListener("offline", this.onOffline);
    }
    void this.loadRooms();
  }

  stop() {
    this.stopped = true;
    if (typeof window !== "undefined") {
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
    }
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "bye");
    this.marker("closed");
  }

  private onOnline = () => {
    if (this.state.conn !== "open") this.reconnectSoon(0);
  };

  private onOffline = () => {
    if (this.state.conn !== "open") this.set({ conn: "offline", retryAt: null });
  };

  private marker(v: string) {
    if (typeof document !== "undefined") document.body.dataset.ws = v;
  }

  private connect() {
    if (this.stopped) return;
    this.reconnectTimer = null;
    this.set({ conn: this.everOpen ? "reconnecting" : "connecting", retryAt: null });
    let ws: WebSocket;
    try {
      ws = new this.deps.WebSocket(this.deps.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.subscribedOn = new Set();
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.everOpen = true;
      this.lastFrameAt = this.deps.now();
      this.set({ conn: "open", retryAt: null });
      this.marker("open");
      this.resubscribe();
      this.resendPending();
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = setInterval(this.heartbeat, PING_EVERY);
      if (this.state.rooms) void this.loadRooms(); // pick up rooms and counts missed while away
    };
    ws.onmessage = (e: MessageEvent) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = this.deps.now();
      this.receive(String(e.data));
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      this.marker("closed");
      this.onClosed(e.code);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private heartbeat = () => {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return;
    if (this.deps.now() - this.lastFrameAt > DEAD_AFTER) {
      ws.close(4000, "no answer"); // onclose reconnects
      return;
    }
    this.sendFrame({ type: "ping" });
  };

  private onClosed(code: number) {
    if (this.stopped) return;
    switch (code) {
      case 4401:
        this.stopped = true;
        this.set({ conn: "offline", retryAt: null });
        this.deps.onUnauthorized?.();
        return;
      case 1001: // the instance drains: reconnect elsewhere and resume
      case 4408: // too slow: reconnect and resume
        this.attempt = 0;
        this.reconnectSoon(this.deps.random() * 1000);
        return;
      case 4429: // rate limited: back off harder
        this.attempt = Math.max(this.attempt, 4);
        this.scheduleReconnect();
        return;
      default:
        this.scheduleReconnect();
    }
  }

  private scheduleReconnect() {
    if (!this.deps.online()) {
      this.set({ conn: "offline", retryAt: null });
      return; // the online event reconnects
    }
    this.reconnectSoon(backoff(this.attempt++, this.deps.random));
  }

  private reconnectSoon(ms: number) {
    if (this.stopped) return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.set({ conn: this.everOpen ? "reconnecting" : "connecting", retryAt: this.deps.now() + ms });
    this.reconnectTimer = setTimeout(() => this.connect(), ms);
  }

  /** Reconnect now (the banner's "Retry now"). */
  retryNow = () => {
    if (this.state.conn === "open") return;
    this.attempt = 0;
    this.reconnectSoon(0);
  };

  private sendFrame(f: object): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(f));
    return true;
  }

  /** Subscribes every joined room this socket has not subscribed yet, resuming with since. */
  private resubscribe() {
    const rooms = this.state.rooms;
    if (!rooms || !this.ws || this.ws.readyState !== 1) return;
    for (const r of rooms) {
      if (!r.joined || this.subscribedOn.has(r.id)) continue;
      this.subscribeRoom(r);
    }
  }

  private subscribeRoom(r: RoomInfo) {
    const chat = this.state.chats[r.id];
    // A loaded room resumes after its last contiguous message (this also
    // fills any hole); a room never opened only needs what comes after the
    // count we already show.
    const since = chat && chat.msgs.length ? chat.contigTo : chat?.loaded ? 0 : r.last_seq;
    if (this.sendFrame({ type: "subscribe", room: r.id, since })) this.subscribedOn.add(r.id);
  }

  private resendPending() {
    for (const chat of Object.values(this.state.chats)) {
      for (const p of chat.pending) {
        if (p.state === "sending") this.sendFrame({ type: "send", room: p.room, body: p.body, cid: p.cid });
      }
    }
  }

  // ---- incoming --------------------------------------------------------

  /** Queues a frame (one event or an array of events); applied on the next flush. */
  receive(data: string) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    if (Array.isArray(parsed)) for (const e of parsed) this.inbox.push(e as ServerEvent);
    else this.inbox.push(parsed as ServerEvent);
    this.schedule();
  }

  private apply(events: ServerEvent[]) {
    const me = this.state.me.id;
    let byRoom: Map<number, Item[]> | null = null;
    const flushMessages = () => {
      if (!byRoom) return;
      for (const [room, items] of byRoom) this.addToRoom(room, items);
      byRoom = null;
    };
    for (const e of events) {
      switch (e.type) {
        case "message": {
          byRoom ??= new Map();
          const list = byRoom.get(e.room);
          const item = toItem(e as WireMsg, me);
          if (list) list.push(item);
          else byRoom.set(e.room, [item]);
          break;
        }
        case "ack":
          flushMessages();
          this.setChat(e.room, (c) => ackPending(c, e.cid, e.seq));
          this.bumpRoomSeq(e.room, e.seq, true);
          break;
        case "error":
          flushMessages();
          this.onServerError(e);
          break;
        case "subscribed":
          flushMessages();
          this.onSubscribed(e.room, e.last_seq);
          break;
        case "typing":
          if (e.user !== me) this.onTyping(e.room, e.user);
          break;
        default:
          break;
      }
    }
    flushMessages();
  }

  private addToRoom(room: number, items: Item[]) {
    const me = this.state.me.id;
    let maxSeq = 0;
    let ownMax = 0;
    for (const m of items) {
      if (m.seq > maxSeq) maxSeq = m.seq;
      if (m.user.id === me && m.seq > ownMax) ownMax = m.seq;
    }
    if (this.state.chats[room]) {
      this.setChat(room, (c) => addMessages(c, items));
      this.checkGap(room);
    }
    this.bumpRoomSeq(room, maxSeq, false);
    if (ownMax) this.bumpRead(room, ownMax);
  }

  private bumpRoomSeq(room: number, seq: number, own: boolean) {
    const r = this.state.rooms?.find((x) => x.id === room);
    if (!r) return;
    const patch: Partial<RoomInfo> = {};
    if (seq > r.last_seq) patch.last_seq = seq;
    if (own && seq > (r.last_read_seq ?? 0)) patch.last_read_seq = seq;
    if (Object.keys(patch).length) this.setRoom(room, patch);
  }

  private bumpRead(room: number, seq: number) {
    const r = this.state.rooms?.find((x) => x.id === room);
    if (r && seq > (r.last_read_seq ?? 0)) this.setRoom(room, { last_read_seq: seq });
  }

  private onSubscribed(room: number, last: number) {
    this.bumpRoomSeq(room, last, false);
    const chat = this.state.chats[room];
    if (!chat || !chat.loaded) return;
    // Replay follows this event; if it still falls short, fetch the rest.
    this.expectSeq.set(room, last);
    setTimeout(() => {
      const c = this.state.chats[room];
      const want = this.expectSeq.get(room) ?? 0;
      if (c && c.loaded && lastSeq(c) < want) void this.fillGap(room, c.contigTo || lastSeq(c), want);
    }, 1500);
  }

  private onServerError(e: { code: string; message: string; cid?: string; room?: number }) {
    if (e.cid && e.room) {
      const key = "c" + e.cid;
      if (e.code === "rate_limited") {
        // Still pending: send it again shortly, same cid.
        const room = e.room;
        setTimeout(() => {
          const p = this.state.chats[room]?.pending.find((x) => x.key === key);
          if (p && p.state === "sending") this.sendFrame({ type: "send", room, body: p.body, cid: p.cid });
        }, 1000 + this.deps.random() * 1000);
        return;
      }
      this.setChat(e.room, (c) => setPending(c, key, { state: "failed", error: e.message }));
      return;
    }
    if (e.room && (e.code === "forbidden" || e.code === "not_found")) {
      this.subscribedOn.delete(e.room);
      this.setRoom(e.room, { joined: false });
    }
    this.notify(e.message);
  }

  private onTyping(room: number, user: number) {
    const until = this.deps.now() + TYPING_MS;
    const t = this.state.typing;
    this.set({ typing: { ...t, [room]: { ...(t[room] ?? {}), [user]: until } } });
    if (!this.typingTimer) this.typingTimer = setTimeout(this.pruneTyping, 1000);
  }

  private pruneTyping = () => {
    this.typingTimer = null;
    const now = this.deps.now();
    let changed = false;
    let any = false;
    const next: Record<number, Record<number, number>> = {};
    for (const [room, users] of Object.entries(this.state.typing)) {
      const kept: Record<number, number> = {};
      let n = 0;
      for (const [u, until] of Object.entries(users)) {
        if (until > now) {
          kept[Number(u)] = until;
          n++;
        } else changed = true;
      }
      if (n) {
        next[Number(room)] = kept;
        any = true;
      }
    }
    if (changed) this.set({ typing: next });
    if (any) this.typingTimer = setTimeout(this.pruneTyping, 1000);
  };

  private checkGap(room: number) {
    const c = this.state.chats[room];
    if (!c || !c.loaded) return;
    const gap = gapOf(c);
    if (gap) void this.fillGap(room, gap.after, gap.upTo);
  }

  /** Fetches seq (after, upTo] over REST; one fetch per room at a time. */
  private async fillGap(room: number, after: number, upTo: number) {
    if (this.gapFetching.has(room)) return;
    this.gapFetching.add(room);
    try {
      let from = after;
      while (from < upTo) {
        const res = await this.deps.api<{ messages: WireMsg[]; has_more: boolean }>(
          `/api/rooms/${room}/messages?after=${from}&limit=200`,
        );
        const items = res.messages.map((m) => toItem(m, this.state.me.id));
        this.setChat(room, (c) => addMessages(c, items));
        if (!res.has_more || items.length === 0) break;
        from = items[items.length - 1].seq;
      }
    } catch (e) {
      this.apiFailed(e);
    } finally {
      this.gapFetching.delete(room);
    }
    const c = this.state.chats[room];
    if (c && gapOf(c)) setTimeout(() => this.checkGap(room), 500);
  }

  private apiFailed(e: unknown): string {
    if (e instanceof ApiError && e.status === 401) {
      this.stopped = true;
      this.deps.onUnauthorized?.();
    }
    return e instanceof Error ? e.message : String(e);
  }

  // ---- actions ---------------------------------------------------------

  async loadRooms() {
    try {
      const res = await this.deps.api<{ rooms: RoomInfo[] }>("/api/rooms");
      // Keep counts that live events already moved past the listing.
      const old = new Map((this.state.rooms ?? []).map((r) => [r.id, r]));
      const rooms = res.rooms.map((r) => {
        const o = old.get(r.id);
        return o
          ? { ...r, last_seq: Math.max(r.last_seq, o.last_seq), last_read_seq: Math.max(r.last_read_seq ?? 0, o.last_read_seq ?? 0) }
          : r;
      });
      this.set({ rooms, roomsError: null });
      this.resubscribe();
    } catch (e) {
      this.set({ roomsError: this.apiFailed(e) });
    }
  }

  /** Opens a room: the cached messages show at once; the first visit loads the newest page. */
  async openRoom(room: number) {
    void this.loadMembers(room);
    const existing = this.state.chats[room];
    if (existing?.loaded || this.loadingRooms.has(room)) return;
    this.loadingRooms.add(room);
    this.set({ chats: { ...this.state.chats, [room]: existing ? { ...existing, error: null } : emptyChat(room) } });
    try {
      const res = await this.deps.api<{ messages: WireMsg[]; has_more: boolean }>(
        `/api/rooms/${room}/messages?limit=${FIRST_PAGE}`,
      );
      const items = res.messages.map((m) => toItem(m, this.state.me.id));
      this.setChat(room, (c) => ({ ...addMessages(c, items), loaded: true, hasMore: res.has_more }));
      this.checkGap(room);
      const r = this.state.rooms?.find((x) => x.id === room);
      if (r && r.joined && !this.subscribedOn.has(room)) this.subscribeRoom(r);
    } catch (e) {
      const msg = this.apiFailed(e);
      this.setChat(room, (c) => ({ ...c, error: msg }));
    } finally {
      this.loadingRooms.delete(room);
    }
  }

  async loadOlder(room: number, limit = OLDER_PAGE): Promise<void> {
    const c = this.state.chats[room];
    if (!c || !c.loaded || !c.hasMore || c.loadingOlder || c.msgs.length === 0) return;
    this.setChat(room, (x) => ({ ...x, loadingOlder: true }));
    try {
      const before = c.msgs[0].seq;
      const res = await this.deps.api<{ messages: WireMsg[]; has_more: boolean }>(
        `/api/rooms/${room}/messages?before=${before}&limit=${limit}`,
      );
      const items = res.messages.map((m) => toItem(m, this.state.me.id));
      this.setChat(room, (x) => ({ ...addMessages(x, items), hasMore: res.has_more, loadingOlder: false }));
    } catch (e) {
      const msg = this.apiFailed(e);
      this.setChat(room, (x) => ({ ...x, loadingOlder: false }));
      this.notify("Could not load older messages: " + msg);
    }
  }

  /** Loads the whole history (tests and "jump to the beginning"): pages of 200, merged once. */
  async loadAll(room: number): Promise<number> {
    const c = this.state.chats[room];
    if (!c || !c.loaded) return 0;
    let before = c.msgs.length ? c.msgs[0].seq : 0;
    let more = c.hasMore;
    const got: Item[] = [];
    while (more && before > 1) {
      const res = await this.deps.api<{ messages: WireMsg[]; has_more: boolean }>(
        `/api/rooms/${room}/messages?before=${before}&limit=200`,
      );
      for (const m of res.messages) got.push(toItem(m, this.state.me.id));
      more = res.has_more && res.messages.length > 0;
      if (res.messages.length) before = res.messages[res.messages.length - 1].seq;
    }
    this.setChat(room, (x) => ({ ...addMessages(x, got), hasMore: more }));
    return this.state.chats[room]?.msgs.length ?? 0;
  }

  async loadMembers(room: number) {
    try {
      const res = await this.deps.api<{ members: Member[] }>(`/api/rooms/${room}/members`);
      this.set({ members: { ...this.state.members, [room]: res.members } });
    } catch {
      /* members are optional decoration */
    }
  }

  send(room: number, body: string) {
    const text = body.trim() ? body : "";
    if (!text) return;
    const me = this.state.me;
    const cid = newCid();
    const item: Item = {
      room,
      seq: 0,
      user: { id: me.id, name: me.name },
      body: text,
      cid,
      ts: new Date(this.deps.now()).toISOString(),
      key: "c" + cid,
      state: "sending",
    };
    if (!this.state.chats[room]) this.set({ chats: { ...this.state.chats, [room]: emptyChat(room) } });
    this.setChat(room, (c) => ({ ...c, pending: [...c.pending, item] }));
    this.sendFrame({ type: "send", room, body: text, cid });
  }

  retry(room: number, key: string) {
    const p = this.state.chats[room]?.pending.find((x) => x.key === key);
    if (!p) return;
    this.setChat(room, (c) => setPending(c, key, { state: "sending", error: undefined }));
    this.sendFrame({ type: "send", room, body: p.body, cid: p.cid });
  }

  discard(room: number, key: string) {
    this.setChat(room, (c) => ({ ...c, pending: c.pending.filter((p) => p.key !== key) }));
  }

  /** Throttled: at most one typing frame per room every 2.5 s. */
  typing(room: number) {
    const now = this.deps.now();
    if (now - (this.lastTypingSent.get(room) ?? -Infinity) < TYPING_SEND_EVERY) return;
    if (this.sendFrame({ type: "typing", room })) this.lastTypingSent.set(room, now);
  }

  /** Marks the room read up to its newest stored message (debounced). */
  markRead(room: number) {
    const c = this.state.chats[room];
    const r = this.state.rooms?.find((x) => x.id === room);
    if (!c || !r || !r.joined) return;
    const seq = Math.max(lastSeq(c), r.last_seq);
    if (seq <= (r.last_read_seq ?? 0)) return;
    this.setRoom(room, { last_read_seq: seq });
    const old = this.readTimers.get(room);
    if (old) clearTimeout(old);
    this.readTimers.set(
      room,
      setTimeout(() => {
        this.readTimers.delete(room);
        this.deps.api(`/api/rooms/${room}/read`, { body: { seq } }).catch(() => {});
      }, 400),
    );
  }

  async createRoom(name: string, isPrivate: boolean): Promise<RoomInfo> {
    const r = await this.deps.api<RoomInfo>("/api/rooms", { body: { name, is_private: isPrivate } });
    const info: RoomInfo = { ...r, joined: true, last_read_seq: r.last_seq ?? 0 };
    this.set({ rooms: [...(this.state.rooms ?? []), info] });
    this.subscribeRoom(info);
    return info;
  }

  async join(room: number) {
    await this.deps.api(`/api/rooms/${room}/join`, { body: {} });
    const r = this.state.rooms?.find((x) => x.id === room);
    this.setRoom(room, { joined: true, member_count: (r?.member_count ?? 0) + 1, last_read_seq: r?.last_seq ?? 0 });
    const info = this.state.rooms?.find((x) => x.id === room);
    if (info) this.subscribeRoom(info);
    await this.openRoom(room);
  }

  async leave(room: number) {
    await this.deps.api(`/api/rooms/${room}/leave`, { body: {} });
    this.sendFrame({ type: "unsubscribe", room });
    this.subscribedOn.delete(room);
    const r = this.state.rooms?.find((x) => x.id === room);
    const { [room]: _drop, ...rest } = this.state.chats;
    void _drop;
    this.set({ chats: rest });
    if (r?.is_private) this.set({ rooms: (this.state.rooms ?? []).filter((x) => x.id !== room) });
    else this.setRoom(room, { joined: false, member_count: Math.max(0, (r?.member_count ?? 1) - 1) });
  }
}

export function unreadOf(r: RoomInfo): number {
  return r.joined ? Math.max(0, r.last_seq - (r.last_read_seq ?? 0)) : 0;
}
