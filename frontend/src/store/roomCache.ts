// Per-room message caches (state.chats, merged by the reducers of chat.ts):
// the first page, older pages, the whole history; which seq a room resumes
// from when it is subscribed on a socket; holes in the seq run (a live jump,
// or a replay that falls short of subscribed.last_seq) fetched over REST.
import type { api } from "../api";
import type { Item, RoomInfo, WireMsg } from "../types";
import { addMessages, emptyChat, gapOf, lastSeq, toItem, type Chat } from "./chat";
import type { Store } from "./state";

const OLDER_PAGE = 100;
const FIRST_PAGE = 50;
/** Older pages end on multiples of this (see olderBefore); at most FIRST_PAGE, so the page is complete. */
const PAGE_ALIGN = 50;

/**
 * The `before` of the next older page for a chat whose oldest message is
 * `oldest`: rounded up to a multiple of the alignment, plus one. Every
 * client then asks for the same few pages of a room (one shared cache entry
 * each, never changing once below the newest message) instead of one set of
 * pages per moment it opened the room; the overlap with what it holds
 * (under `align` messages) merges away. `align` must not exceed the page
 * size (progress) nor what the client holds above `oldest` (the page exists
 * in full).
 */
export function olderBefore(oldest: number, align = PAGE_ALIGN): number {
  if (oldest <= 1) return 1;
  return Math.ceil((oldest - 1) / align) * align + 1;
}
const GAP_PAGE = 200;
/** How long the replay after `subscribed` gets before what it missed is fetched. */
const REPLAY_GRACE_MS = 1500;
const GAP_RETRY_MS = 500;

/**
 * The since of a subscribe frame: a room with messages resumes after its last
 * contiguous one (which also fills any hole above it); a loaded empty room
 * wants everything; a room never opened only what comes after the count shown.
 */
export function sinceFor(chat: Chat | undefined, r: Pick<RoomInfo, "last_seq">): number {
  return chat && chat.msgs.length ? chat.contigTo : chat?.loaded ? 0 : r.last_seq;
}

/** What to fetch when the replay after `subscribed` did not reach its last_seq (`want`). */
export function replayShortfall(chat: Chat | undefined, want: number): { after: number; upTo: number } | null {
  if (!chat || !chat.loaded || lastSeq(chat) >= want) return null;
  return { after: chat.contigTo || lastSeq(chat), upTo: want };
}

type Page = { messages: WireMsg[]; has_more: boolean };

export interface RoomCacheDeps {
  store: Store;
  api: typeof api;
  /** Sends a frame on the open socket; false when there is none. */
  send: (f: object) => boolean;
  /** Reports a failed API call (signs out on 401); returns its message. */
  apiFailed: (e: unknown) => string;
  notify: (text: string) => void;
}

export class RoomCache {
  private loading = new Set<number>();
  private gapFetching = new Set<number>();
  private expectSeq = new Map<number, number>();
  /** Rooms subscribed on the current socket. */
  private subscribedOn = new Set<number>();

  constructor(private d: RoomCacheDeps) {}

  private chat(room: number): Chat | undefined {
    return this.d.store.getState().chats[room];
  }

  private items(msgs: WireMsg[]): Item[] {
    const me = this.d.store.getState().me.id;
    return msgs.map((m) => toItem(m, me));
  }

  // ---- subscriptions ---------------------------------------------------

  /** A new socket: nothing is subscribed on it yet. */
  resetSubscriptions() {
    this.subscribedOn = new Set();
  }

  /** Subscribes every joined room this socket has not subscribed yet, resuming with since. */
  resubscribe() {
    const rooms = this.d.store.getState().rooms;
    if (!rooms) return;
    for (const r of rooms) {
      if (!r.joined || this.subscribedOn.has(r.id)) continue;
      if (!this.subscribe(r)) return; // no open socket: the next open resubscribes
    }
  }

  subscribe(r: RoomInfo): boolean {
    const ok = this.d.send({ type: "subscribe", room: r.id, since: sinceFor(this.chat(r.id), r) });
    if (ok) this.subscribedOn.add(r.id);
    return ok;
  }

  /** Not subscribed any more (left, or refused by the server). */
  forget(room: number) {
    this.subscribedOn.delete(room);
  }

  // ---- incoming --------------------------------------------------------

  /** Merges live or replayed messages into a cached room and fetches any hole they open. */
  add(room: number, items: Item[]) {
    if (!this.chat(room)) return;
    this.d.store.setChat(room, (c) => addMessages(c, items));
    this.checkGap(room);
  }

  /** `subscribed`: the replay follows; if it still falls short of last, fetch the rest. */
  subscribed(room: number, last: number) {
    const chat = this.chat(room);
    if (!chat || !chat.loaded) return;
    this.expectSeq.set(room, last);
    setTimeout(() => {
      const gap = replayShortfall(this.chat(room), this.expectSeq.get(room) ?? 0);
      if (gap) void this.fillGap(room, gap.after, gap.upTo);
    }, REPLAY_GRACE_MS);
  }

  private checkGap(room: number) {
    const c = this.chat(room);
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
        const res = await this.d.api<Page>(`/api/rooms/${room}/messages?after=${from}&limit=${GAP_PAGE}`);
        const items = this.items(res.messages);
        this.d.store.setChat(room, (c) => addMessages(c, items));
        if (!res.has_more || items.length === 0) break;
        from = items[items.length - 1].seq;
      }
    } catch (e) {
      this.d.apiFailed(e);
    } finally {
      this.gapFetching.delete(room);
    }
    const c = this.chat(room);
    if (c && gapOf(c)) setTimeout(() => this.checkGap(room), GAP_RETRY_MS);
  }

  // ---- loading ---------------------------------------------------------

  /** The first visit loads the newest page (later visits show the cache at once). */
  async open(room: number) {
    const store = this.d.store;
    const existing = this.chat(room);
    if (existing?.loaded || this.loading.has(room)) return;
    this.loading.add(room);
    store.set({ chats: { ...store.getState().chats, [room]: existing ? { ...existing, error: null } : emptyChat(room) } });
    try {
      const res = await this.d.api<Page>(`/api/rooms/${room}/messages?limit=${FIRST_PAGE}`);
      const items = this.items(res.messages);
      store.setChat(room, (c) => ({ ...addMessages(c, items), loaded: true, hasMore: res.has_more }));
      this.checkGap(room);
      const r = store.room(room);
      if (r && r.joined && !this.subscribedOn.has(room)) this.subscribe(r);
    } catch (e) {
      const msg = this.d.apiFailed(e);
      store.setChat(room, (c) => ({ ...c, error: msg }));
    } finally {
      this.loading.delete(room);
    }
  }

  async loadOlder(room: number, limit = OLDER_PAGE): Promise<void> {
    const store = this.d.store;
    const c = this.chat(room);
    if (!c || !c.loaded || !c.hasMore || c.loadingOlder || c.msgs.length === 0) return;
    store.setChat(room, (x) => ({ ...x, loadingOlder: true }));
    try {
      const before = olderBefore(c.msgs[0].seq, Math.min(PAGE_ALIGN, limit));
      const res = await this.d.api<Page>(`/api/rooms/${room}/messages?before=${before}&limit=${limit}`);
      const items = this.items(res.messages);
      store.setChat(room, (x) => ({ ...addMessages(x, items), hasMore: res.has_more, loadingOlder: false }));
    } catch (e) {
      const msg = this.d.apiFailed(e);
      store.setChat(room, (x) => ({ ...x, loadingOlder: false }));
      this.d.notify("Could not load older messages: " + msg);
    }
  }

  /** Loads the whole history (tests and "jump to the beginning"): pages of 200, merged once. */
  async loadAll(room: number): Promise<number> {
    const c = this.chat(room);
    if (!c || !c.loaded) return 0;
    let before = c.msgs.length ? c.msgs[0].seq : 0;
    let more = c.hasMore;
    const got: Item[] = [];
    while (more && before > 1) {
      const res = await this.d.api<Page>(`/api/rooms/${room}/messages?before=${before}&limit=200`);
      for (const m of this.items(res.messages)) got.push(m);
      more = res.has_more && res.messages.length > 0;
      if (res.messages.length) before = res.messages[res.messages.length - 1].seq;
    }
    this.d.store.setChat(room, (x) => ({ ...addMessages(x, got), hasMore: more }));
    return this.chat(room)?.msgs.length ?? 0;
  }

  /** Drops a room's cache (left). */
  drop(room: number) {
    const store = this.d.store;
    const { [room]: _drop, ...rest } = store.getState().chats;
    void _drop;
    store.set({ chats: rest });
  }
}
