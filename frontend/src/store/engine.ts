// The client's state lives outside React and is read with
// useSyncExternalStore. The Engine is the facade the UI talks to; it wires
//   state.ts      the store: State, subscribe/getState, per-frame batching
//   transport.ts  the WebSocket: reconnect with backoff + jitter, close codes
//   outbox.ts     unacked sends: resend with the same cid, rate_limited
//   roomCache.ts  per-room message caches: pages, since, gap fetches
//   chat.ts       the pure reducers of a room's messages (the model)
// and keeps the rest itself: the room list and unread counts, members,
// typing, read markers, and dispatching each server event to its owner.
import { api, ApiError } from "../api";
import type { FileInfo, Item, Member, RoomInfo, ServerEvent, User, WireMsg } from "../types";
import { isEvent, lastSeq, toItem } from "./chat";
import { newCid, Outbox } from "./outbox";
import { RoomCache } from "./roomCache";
import { defaultSchedule, initialState, Store, type State } from "./state";
import { Transport } from "./transport";

export type { ConnState, State } from "./state";

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
  /** Where to listen for online/offline, focus and visibility; default window/document (none in tests). */
  events?: { window?: EventTarget; document?: EventTarget & { hidden?: boolean } };
}

/** A message from someone else that arrived live (not in a page or a replay the list already counted). */
export type IncomingListener = (room: RoomInfo, m: Item) => void;

/** The server's `mention` frame: someone mentioned us in message seq of room. */
export interface Mention {
  room: number;
  seq: number;
  user: { id: number; name: string };
  body: string;
  ts: string;
}
export type MentionListener = (room: RoomInfo, m: Mention) => void;

const TYPING_MS = 4000;
const TYPING_SEND_EVERY = 2500;
/** The room list is refreshed (cached GET /api/rooms) this often, and on focus or when the tab shows again. */
export const ROOMS_REFRESH_MS = 30_000;
/** …but never more often than this. */
const ROOMS_REFRESH_MIN_MS = 3_000;
/** Rooms events reload the list at most this often (the last one always does: a trailing load). */
const ROOMS_EVENT_MIN_MS = 1_000;
/** Presence events in a room reload its members once after this quiet time. */
const MEMBERS_RELOAD_MS = 300;

export class Engine {
  private store: Store;
  private transport: Transport;
  private outbox: Outbox;
  private cache: RoomCache;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private lastTypingSent = new Map<number, number>();
  private readTimers = new Map<number, ReturnType<typeof setTimeout>>();
  private noticeId = 0;
  private api: Api;
  private now: () => number;
  private onUnauthorized?: () => void;
  private incoming = new Set<IncomingListener>();
  private mentioned = new Set<MentionListener>();
  private memberTimers = new Map<number, ReturnType<typeof setTimeout>>();
  private roomsTimer: ReturnType<typeof setInterval> | null = null;
  private roomsLoadedAt = 0;
  private roomsEventTimer: ReturnType<typeof setTimeout> | null = null;
  private win?: EventTarget;
  private doc?: EventTarget & { hidden?: boolean };

  constructor(me: User, deps: EngineDeps = {}) {
    this.api = deps.api ?? api;
    this.now = deps.now ?? Date.now;
    this.onUnauthorized = deps.onUnauthorized;
    const random = deps.random ?? Math.random;
    this.win = deps.events ? deps.events.window : typeof window === "undefined" ? undefined : window;
    this.doc = deps.events ? deps.events.document : typeof document === "undefined" ? undefined : document;
    const store = (this.store = new Store(initialState(me), deps.schedule ?? defaultSchedule, (events) => this.apply(events)));
    this.transport = new Transport({
      WebSocket: deps.WebSocket ?? WebSocket,
      url: deps.url ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
      now: this.now,
      random,
      online: deps.online ?? (() => (typeof navigator === "undefined" ? true : navigator.onLine !== false)),
      onStatus: (conn, retryAt) => store.set({ conn, retryAt }),
      onOpen: this.onOpen,
      onFrame: (data) => store.receive(data),
      onUnauthorized: () => this.onUnauthorized?.(),
    });
    const send = (f: object) => this.transport.send(f);
    this.outbox = new Outbox({ store, send, now: this.now, random });
    this.cache = new RoomCache({
      store,
      api: this.api,
      send,
      apiFailed: (e) => this.apiFailed(e),
      notify: (text) => this.notify(text),
    });
  }

  // ---- store API -------------------------------------------------------

  getState = (): State => this.store.getState();

  subscribe = (l: () => void): (() => void) => this.store.subscribe(l);

  /** Applies queued frames and notifies subscribers: at most once per frame. */
  flush = () => this.store.flush();

  /** Queues a frame (one event or an array of events); applied on the next flush. */
  receive(data: string) {
    this.store.receive(data);
  }

  notify(text: string) {
    this.store.set({ notice: { id: ++this.noticeId, text } });
  }

  dismissNotice = () => this.store.set({ notice: null });

  // ---- connection ------------------------------------------------------

  start() {
    this.transport.start();
    void this.loadRooms();
    this.store.set({ online: typeof navigator === "undefined" || navigator.onLine !== false });
    this.win?.addEventListener("online", this.onOnline);
    this.win?.addEventListener("offline", this.onOffline);
    // No server event announces new public rooms (PROTOCOL.md): the list
    // is refreshed when the user comes back to the tab, and every 30 s.
    this.win?.addEventListener("focus", this.refreshRooms);
    this.doc?.addEventListener("visibilitychange", this.onVisibility);
    this.roomsTimer = setInterval(this.refreshRooms, ROOMS_REFRESH_MS);
  }

  stop() {
    this.transport.stop();
    this.win?.removeEventListener("online", this.onOnline);
    this.win?.removeEventListener("offline", this.onOffline);
    this.win?.removeEventListener("focus", this.refreshRooms);
    this.doc?.removeEventListener("visibilitychange", this.onVisibility);
    if (this.roomsTimer) clearInterval(this.roomsTimer);
    this.roomsTimer = null;
    if (this.roomsEventTimer) clearTimeout(this.roomsEventTimer);
    this.roomsEventTimer = null;
    for (const t of this.memberTimers.values()) clearTimeout(t);
    this.memberTimers.clear();
  }

  private onOnline = () => this.store.set({ online: true });
  private onOffline = () => this.store.set({ online: false });
  private onVisibility = () => {
    if (!this.doc?.hidden) this.refreshRooms();
  };

  /** Reloads the room list unless it was loaded moments ago. */
  refreshRooms = () => {
    if (this.now() - this.roomsLoadedAt < ROOMS_REFRESH_MIN_MS) return;
    void this.loadRooms();
  };

  /** A rooms event: reload the list now, or once when ROOMS_EVENT_MIN_MS has passed since the last load,
   *  so a burst of renames costs one load a second, not one per event. */
  private onRoomsEvent() {
    if (this.roomsEventTimer) return;
    const wait = Math.max(0, this.roomsLoadedAt + ROOMS_EVENT_MIN_MS - this.now());
    this.roomsEventTimer = setTimeout(() => {
      this.roomsEventTimer = null;
      void this.loadRooms();
    }, wait);
  }

  /** Calls l for each live message from someone else (notifications); returns the unsubscribe. */
  onIncoming(l: IncomingListener): () => void {
    this.incoming.add(l);
    return () => this.incoming.delete(l);
  }

  /** Calls l for each `mention` frame (notifications); returns the unsubscribe. */
  onMention(l: MentionListener): () => void {
    this.mentioned.add(l);
    return () => this.mentioned.delete(l);
  }

  /** Reconnect now (the banner's "Retry now"). */
  retryNow = () => this.transport.retryNow();

  /** A socket opened: resume every joined room, then resend what is unacked. */
  private onOpen = () => {
    this.cache.resetSubscriptions();
    this.cache.resubscribe();
    this.outbox.resendAll();
    if (this.store.getState().rooms) void this.loadRooms(); // pick up rooms and counts missed while away
  };

  private apiFailed(e: unknown): string {
    if (e instanceof ApiError && e.status === 401) {
      this.transport.halt();
      this.onUnauthorized?.();
    }
    return e instanceof Error ? e.message : String(e);
  }

  // ---- incoming --------------------------------------------------------

  /** One flush's events, in order; runs of messages are merged per room at once. */
  private apply(events: ServerEvent[]) {
    const me = this.store.getState().me.id;
    let byRoom: Map<number, Item[]> | null = null;
    const flushMessages = () => {
      if (!byRoom) return;
      for (const [room, items] of byRoom) this.addToRoom(room, items);
      byRoom = null;
    };
    for (const e of events) {
      switch (e.type) {
        case "message":
        case "edit":
        case "delete":
        case "reaction": {
          byRoom ??= new Map();
          const list = byRoom.get(e.room);
          const item = toItem(e as WireMsg, me);
          if (list) list.push(item);
          else byRoom.set(e.room, [item]);
          break;
        }
        case "ack":
          flushMessages();
          this.outbox.ack(e.room, e.cid, e.seq);
          this.bumpRoomSeq(e.room, e.seq, true);
          break;
        case "error":
          flushMessages();
          this.onServerError(e);
          break;
        case "subscribed":
          flushMessages();
          this.bumpRoomSeq(e.room, e.last_seq, false);
          this.cache.subscribed(e.room, e.last_seq);
          break;
        case "typing":
          if (e.user !== me) this.onTyping(e.room, e.user);
          break;
        case "presence":
          this.onPresence(e.room, e.user, e.online);
          break;
        case "mention":
          this.onMentionFrame(e);
          break;
        case "rooms":
          // Our room list changed by someone else's hand (a DM opened with
          // us, an invitation, a rename): the list says how.
          this.onRoomsEvent();
          break;
        case "unsubscribed":
          // Not asked for (a leave drops the room first): we left on another
          // device, were removed, or the room was deleted. The list says which.
          flushMessages();
          if (this.store.room(e.room)?.joined) {
            this.cache.forget(e.room);
            this.store.setRoom(e.room, { joined: false });
            void this.loadRooms();
          }
          break;
        default:
          break;
      }
    }
    flushMessages();
  }

  private addToRoom(room: number, items: Item[]) {
    const state = this.store.getState();
    const me = state.me.id;
    const before = this.store.room(room);
    const known = state.members[room];
    let maxSeq = 0;
    let ownMax = 0;
    let stranger = false;
    const senders = new Set<number>();
    // Others' messages the room's counts have not seen (room events are not unread messages).
    const fresh: number[] = [];
    for (const m of items) {
      if (m.seq > maxSeq) maxSeq = m.seq;
      if (m.user.id === me && m.seq > ownMax) ownMax = m.seq;
      if (m.user.id !== me) senders.add(m.user.id);
      if (known && !known.some((x) => x.id === m.user.id)) stranger = true;
      if (before && m.user.id !== me && m.seq > before.last_seq && !isEvent(m)) {
        fresh.push(m.seq);
        for (const l of this.incoming) l(before, m);
      }
    }
    // Our own message reads everything before it.
    if (before?.unread !== undefined && (fresh.length || ownMax)) {
      const unread = ownMax ? fresh.filter((s) => s > ownMax).length : before.unread + fresh.length;
      if (unread !== before.unread) this.store.setRoom(room, { unread });
    }
    // A message ends its sender's "typing…" at once, not 4 s later.
    this.clearTyping(room, senders);
    // Someone we do not list as a member wrote: they joined since.
    if (stranger) this.reloadMembersSoon(room);
    this.cache.add(room, items);
    this.bumpRoomSeq(room, maxSeq, false);
    if (ownMax) this.bumpRead(room, ownMax);
  }

  private bumpRoomSeq(room: number, seq: number, own: boolean) {
    const r = this.store.room(room);
    if (!r) return;
    const patch: Partial<RoomInfo> = {};
    if (seq > r.last_seq) patch.last_seq = seq;
    if (own && seq > (r.last_read_seq ?? 0)) patch.last_read_seq = seq;
    if (Object.keys(patch).length) this.store.setRoom(room, patch);
  }

  private bumpRead(room: number, seq: number) {
    const r = this.store.room(room);
    if (r && seq > (r.last_read_seq ?? 0)) this.store.setRoom(room, { last_read_seq: seq });
  }

  private onServerError(e: { code: string; message: string; cid?: string; room?: number }) {
    if (e.cid && e.room) {
      this.outbox.refused(e.room, e.cid, e.code, e.message);
      return;
    }
    if (e.room && (e.code === "forbidden" || e.code === "not_found")) {
      this.cache.forget(e.room);
      this.store.setRoom(e.room, { joined: false });
    }
    this.notify(e.message);
  }

  /** A mention above our read marker counts in the room list until the room is read. */
  private onMentionFrame(m: Mention) {
    const r = this.store.room(m.room);
    if (!r) {
      void this.loadRooms(); // a room we do not list yet (just invited): its count comes with it
      return;
    }
    if (m.seq > (r.last_read_seq ?? 0)) this.store.setRoom(m.room, { unread_mentions: (r.unread_mentions ?? 0) + 1 });
    const now = this.store.room(m.room) ?? r;
    for (const l of this.mentioned) l(now, m);
  }

  private onTyping(room: number, user: number) {
    const until = this.now() + TYPING_MS;
    const t = this.store.getState().typing;
    this.store.set({ typing: { ...t, [room]: { ...(t[room] ?? {}), [user]: until } } });
    if (!this.typingTimer) this.typingTimer = setTimeout(this.pruneTyping, 1000);
  }

  private clearTyping(room: number, users: Set<number>) {
    const t = this.store.getState().typing;
    const cur = t[room];
    if (!cur || users.size === 0) return;
    let changed = false;
    const kept: Record<number, number> = {};
    for (const [u, until] of Object.entries(cur)) {
      if (users.has(Number(u))) changed = true;
      else kept[Number(u)] = until;
    }
    if (!changed) return;
    const next = { ...t };
    if (Object.keys(kept).length) next[room] = kept;
    else delete next[room];
    this.store.set({ typing: next });
  }

  private onPresence(room: number, user: number, online: boolean) {
    const all = this.store.getState().presence;
    const cur = { ...(all[room] ?? {}) };
    if (online) cur[user] = true;
    else delete cur[user];
    this.store.set({ presence: { ...all, [room]: cur } });
    // Presence is the only live sign of joins and leaves: recount the members.
    this.reloadMembersSoon(room);
  }

  private reloadMembersSoon(room: number) {
    if (this.memberTimers.has(room)) return;
    this.memberTimers.set(
      room,
      setTimeout(() => {
        this.memberTimers.delete(room);
        void this.loadMembers(room);
      }, MEMBERS_RELOAD_MS),
    );
  }

  private pruneTyping = () => {
    this.typingTimer = null;
    const now = this.now();
    let changed = false;
    let any = false;
    const next: Record<number, Record<number, number>> = {};
    for (const [room, users] of Object.entries(this.store.getState().typing)) {
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
    if (changed) this.store.set({ typing: next });
    if (any) this.typingTimer = setTimeout(this.pruneTyping, 1000);
  };

  // ---- actions ---------------------------------------------------------

  async loadRooms() {
    this.roomsLoadedAt = this.now();
    try {
      const res = await this.api<{ rooms: RoomInfo[] }>("/api/rooms");
      // Keep counts that live events already moved past the listing.
      const old = new Map((this.store.getState().rooms ?? []).map((r) => [r.id, r]));
      const rooms = res.rooms.map((r) => {
        const o = old.get(r.id);
        if (!o) return r;
        const next = { ...r, last_seq: Math.max(r.last_seq, o.last_seq), last_read_seq: Math.max(r.last_read_seq ?? 0, o.last_read_seq ?? 0) };
        // Live messages or a read here that the listing has not seen yet: our unread count is newer.
        if (o.unread !== undefined && (o.last_seq > r.last_seq || (o.last_read_seq ?? 0) > (r.last_read_seq ?? 0))) next.unread = o.unread;
        if (o.peer && !next.peer) next.peer = o.peer;
        // Read here further than the server knows yet (the read post is debounced): our mention count is newer.
        if ((o.last_read_seq ?? 0) > (r.last_read_seq ?? 0)) next.unread_mentions = o.unread_mentions;
        // Unchanged rooms keep their object: a periodic refresh re-renders nothing.
        return sameRoom(o, next) ? o : next;
      });
      this.store.set({ rooms, roomsError: null });
      this.cache.resubscribe();
      if (rooms.some((r) => r.kind === "dm" && !r.peer)) void this.loadDms();
    } catch (e) {
      this.store.set({ roomsError: this.apiFailed(e) });
    }
  }

  /** Opens a room: the cached messages show at once; the first visit loads the newest page. */
  async openRoom(room: number) {
    void this.loadMembers(room);
    void this.loadPresence(room);
    await this.cache.open(room);
  }

  loadOlder(room: number, limit?: number): Promise<void> {
    return this.cache.loadOlder(room, limit);
  }

  /** Loads the whole history (tests and "jump to the beginning"): pages of 200, merged once. */
  loadAll(room: number): Promise<number> {
    return this.cache.loadAll(room);
  }

  /** Who each direct message is with (GET /api/dms): the room list names them by their peer. */
  async loadDms() {
    try {
      const res = await this.api<{ dms: { room: number; peer: { id: number; name: string } }[] }>("/api/dms");
      for (const d of res.dms) {
        const r = this.store.room(d.room);
        if (r && (r.peer?.id !== d.peer.id || r.peer.name !== d.peer.name)) this.store.setRoom(d.room, { peer: d.peer });
      }
    } catch {
      /* the room's own name stands in */
    }
  }

  /** Our direct message with a user (created on first use); it joins the room list and is subscribed. */
  async openDm(userId: number): Promise<RoomInfo> {
    const r = await this.api<RoomInfo>("/api/dms", { body: { user_id: userId } });
    const info: RoomInfo = { ...r, kind: "dm", joined: true, last_read_seq: this.store.room(r.id)?.last_read_seq ?? r.last_read_seq ?? 0 };
    const rooms = this.store.getState().rooms ?? [];
    if (rooms.some((x) => x.id === r.id)) this.store.setRoom(r.id, { peer: r.peer, joined: true });
    else {
      this.store.set({ rooms: [...rooms, info] });
      this.cache.subscribe(info);
    }
    return info;
  }

  /** The owner renames the room and/or sets its topic (PATCH /api/rooms/{id}). */
  async updateRoom(room: number, patch: { name?: string; topic?: string }) {
    const r = await this.api<RoomInfo>(`/api/rooms/${room}`, { method: "PATCH", body: patch });
    this.store.setRoom(room, { name: r.name, topic: r.topic ?? "" });
  }

  /** The owner deletes the room: it leaves the list and its caches. */
  async deleteRoom(room: number) {
    await this.api(`/api/rooms/${room}`, { method: "DELETE" });
    this.dropRoom(room);
  }

  /** A room we are no longer in (deleted, or we were removed): forget it and reload the list. */
  private dropRoom(room: number) {
    this.cache.forget(room);
    this.cache.drop(room);
    this.store.set({ rooms: (this.store.getState().rooms ?? []).filter((x) => x.id !== room) });
  }

  /** Loads a room's history back to message seq (a search result); false when the room does not hold it. */
  async reveal(room: number, seq: number): Promise<boolean> {
    if (!this.store.room(room)) await this.loadRooms(); // a room joined since the list was loaded
    await this.openRoom(room);
    for (let oldest = Infinity; ; ) {
      const c = this.store.getState().chats[room];
      if (!c || c.msgs.length === 0) return false;
      if (c.msgs[0].seq <= seq) return true;
      if (!c.hasMore || c.msgs[0].seq >= oldest) return false; // nothing older, or no progress
      oldest = c.msgs[0].seq;
      await this.cache.loadOlder(room, 200);
    }
  }

  async loadMembers(room: number) {
    try {
      const res = await this.api<{ members: Member[] }>(`/api/rooms/${room}/members`);
      this.store.set({ members: { ...this.store.getState().members, [room]: res.members } });
      const r = this.store.room(room);
      if (r && r.member_count !== res.members.length) this.store.setRoom(room, { member_count: res.members.length });
    } catch {
      /* members are optional decoration */
    }
  }

  async loadPresence(room: number) {
    try {
      const res = await this.api<{ online: number[] | null }>(`/api/rooms/${room}/presence`);
      const set: Record<number, true> = {};
      for (const id of res.online ?? []) set[id] = true;
      this.store.set({ presence: { ...this.store.getState().presence, [room]: set } });
    } catch {
      /* presence is decoration too */
    }
  }

  /** Adds a user to the room (the only way into a private one); members are reloaded. */
  async invite(room: number, userId: number) {
    await this.api(`/api/rooms/${room}/members`, { body: { user_id: userId } });
    await this.loadMembers(room);
  }

  send(room: number, body: string, files?: FileInfo[]) {
    this.outbox.send(room, body, files);
  }

  retry(room: number, key: string) {
    this.outbox.retry(room, key);
  }

  discard(room: number, key: string) {
    this.outbox.discard(room, key);
  }

  /** Throttled: at most one typing frame per room every 2.5 s. */
  typing(room: number) {
    const now = this.now();
    if (now - (this.lastTypingSent.get(room) ?? -Infinity) < TYPING_SEND_EVERY) return;
    if (this.transport.send({ type: "typing", room })) this.lastTypingSent.set(room, now);
  }

  /** Marks the room read up to its newest stored message (debounced). */
  markRead(room: number) {
    const c = this.store.getState().chats[room];
    const r = this.store.room(room);
    if (!c || !r || !r.joined) return;
    const seq = Math.max(lastSeq(c), r.last_seq);
    if (seq <= (r.last_read_seq ?? 0)) return;
    this.store.setRoom(room, r.unread_mentions ? { last_read_seq: seq, unread_mentions: 0, unread: 0 } : { last_read_seq: seq, unread: 0 });
    const old = this.readTimers.get(room);
    if (old) clearTimeout(old);
    this.readTimers.set(
      room,
      setTimeout(() => {
        this.readTimers.delete(room);
        this.api(`/api/rooms/${room}/read`, { body: { seq } }).catch(() => {});
      }, 400),
    );
  }

  // ---- room events (PROTOCOL.md: edit, delete, react) ------------------
  // Over REST, so the UI gets each refusal as an error to show; the event
  // itself comes back on the socket like anyone else's and is applied by rev.

  async edit(room: number, seq: number, body: string) {
    await this.api(`/api/rooms/${room}/messages/${seq}`, { method: "PATCH", body: { body, cid: newCid() } });
  }

  async deleteMessage(room: number, seq: number) {
    await this.api(`/api/rooms/${room}/messages/${seq}?cid=${encodeURIComponent(newCid())}`, { method: "DELETE" });
  }

  /** Adds (on) or removes our reaction emoji on message seq. */
  async react(room: number, seq: number, emoji: string, on: boolean) {
    const path = `/api/rooms/${room}/messages/${seq}/reactions/${encodeURIComponent(emoji)}?cid=${encodeURIComponent(newCid())}`;
    await this.api(path, { method: on ? "PUT" : "DELETE" });
  }

  async createRoom(name: string, isPrivate: boolean): Promise<RoomInfo> {
    const r = await this.api<RoomInfo>("/api/rooms", { body: { name, is_private: isPrivate } });
    const info: RoomInfo = { ...r, joined: true, last_read_seq: r.last_seq ?? 0, unread: 0 };
    this.store.set({ rooms: [...(this.store.getState().rooms ?? []), info] });
    this.cache.subscribe(info);
    return info;
  }

  async join(room: number) {
    await this.api(`/api/rooms/${room}/join`, { body: {} });
    const r = this.store.room(room);
    this.store.setRoom(room, { joined: true, member_count: (r?.member_count ?? 0) + 1, last_read_seq: r?.last_seq ?? 0, unread: 0 });
    const info = this.store.room(room);
    if (info) this.cache.subscribe(info);
    await this.openRoom(room);
  }

  async leave(room: number) {
    await this.api(`/api/rooms/${room}/leave`, { body: {} });
    this.transport.send({ type: "unsubscribe", room });
    this.cache.forget(room);
    const r = this.store.room(room);
    this.cache.drop(room);
    if (r?.is_private) this.store.set({ rooms: (this.store.getState().rooms ?? []).filter((x) => x.id !== room) });
    else this.store.setRoom(room, { joined: false, member_count: Math.max(0, (r?.member_count ?? 1) - 1) });
  }
}

function sameRoom(a: RoomInfo, b: RoomInfo): boolean {
  return (Object.keys(b) as (keyof RoomInfo)[]).every((k) => a[k] === b[k]) && Object.keys(a).length === Object.keys(b).length;
}

/** Unread messages: the room list's count kept up by live messages; without one, seqs above the read marker. */
export function unreadOf(r: RoomInfo): number {
  if (!r.joined) return 0;
  return r.unread ?? Math.max(0, r.last_seq - (r.last_read_seq ?? 0));
}
