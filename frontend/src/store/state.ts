// The store: one immutable State read with useSyncExternalStore
// (subscribe + getState as the snapshot). Every change schedules one flush;
// incoming frames are queued and applied in that flush, so a burst of 500
// messages costs one merge and one render per animation frame.
import type { Member, RoomInfo, ServerEvent, User } from "../types";
import type { Chat } from "./chat";

export type ConnState = "connecting" | "open" | "reconnecting" | "offline";

export interface State {
  me: User;
  conn: ConnState;
  /** The browser's own idea (navigator.onLine and its events): false says "offline" even while a socket looks open. */
  online: boolean;
  /** When the next reconnect attempt starts (ms epoch), while not open. */
  retryAt: number | null;
  rooms: RoomInfo[] | null;
  roomsError: string | null;
  chats: Readonly<Record<number, Chat>>;
  members: Readonly<Record<number, Member[]>>;
  /** room → user id → until (ms epoch). */
  typing: Readonly<Record<number, Readonly<Record<number, number>>>>;
  /** room → ids of members with a live subscription (presence events and GET …/presence). */
  presence: Readonly<Record<number, Readonly<Record<number, true>>>>;
  notice: { id: number; text: string } | null;
}

export function initialState(me: User): State {
  return {
    me,
    conn: "connecting",
    online: true,
    retryAt: null,
    rooms: null,
    roomsError: null,
    chats: {},
    members: {},
    typing: {},
    presence: {},
    notice: null,
  };
}

/** requestAnimationFrame, with a timer fallback: hidden tabs get no animation frames. */
export function defaultSchedule(fn: () => void) {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    fn();
  };
  if (typeof requestAnimationFrame === "function" && !document.hidden) requestAnimationFrame(run);
  setTimeout(run, 100);
}

export class Store {
  private state: State;
  private listeners = new Set<() => void>();
  private scheduled = false;
  private flushing = false;
  private inbox: ServerEvent[] = [];

  /**
   * @param schedule runs a flush later (once per frame)
   * @param apply applies queued server events inside a flush
   */
  constructor(
    initial: State,
    private schedule: (fn: () => void) => void,
    private apply: (events: ServerEvent[]) => void,
  ) {
    this.state = initial;
  }

  // ---- useSyncExternalStore -------------------------------------------

  getState = (): State => this.state;

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  // ---- updates ---------------------------------------------------------

  set(patch: Partial<State>) {
    this.state = { ...this.state, ...patch };
    this.request();
  }

  /** Updates a cached room's chat; no-op for rooms without one or when f changes nothing. */
  setChat(room: number, f: (c: Chat) => Chat) {
    const old = this.state.chats[room];
    if (!old) return;
    const next = f(old);
    if (next !== old) this.set({ chats: { ...this.state.chats, [room]: next } });
  }

  /** Patches one entry of the room list, if listed. */
  setRoom(id: number, patch: Partial<RoomInfo>) {
    const rooms = this.state.rooms;
    if (!rooms) return;
    const i = rooms.findIndex((r) => r.id === id);
    if (i < 0) return;
    const next = rooms.slice();
    next[i] = { ...rooms[i], ...patch };
    this.set({ rooms: next });
  }

  room(id: number): RoomInfo | undefined {
    return this.state.rooms?.find((x) => x.id === id);
  }

  // ---- batching --------------------------------------------------------

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
    this.request();
  }

  private request() {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    this.schedule(this.flush);
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
}
