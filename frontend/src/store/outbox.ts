// Our sends until the server acks them. A send is a pending row keyed
// "c<cid>" in its room's chat (chat.ts turns it into a stored row under the
// same key on the ack or on its echo). Every socket that opens gets the
// unacked ones again with the same cid, so a send whose ack was lost is
// answered duplicate:true instead of being stored twice. rate_limited resends
// by itself after 1-2 s; any other refusal marks the row failed (Retry/Discard).
import type { FileInfo, Item } from "../types";
import { ackPending, emptyChat, setPending, type Chat } from "./chat";
import type { Store } from "./state";

export interface SendFrame {
  type: "send";
  room: number;
  body: string;
  cid: string;
  files?: number[];
}

export function sendFrameOf(p: Pick<Item, "room" | "body" | "cid" | "files">): SendFrame {
  const f: SendFrame = { type: "send", room: p.room, body: p.body, cid: p.cid! };
  if (p.files?.length) f.files = p.files.map((x) => x.id);
  return f;
}

/** The frames that go out again on a new socket: every unacked send not marked failed, in room and send order. */
export function resendFrames(chats: Readonly<Record<number, Chat>>): SendFrame[] {
  const out: SendFrame[] = [];
  for (const chat of Object.values(chats)) {
    for (const p of chat.pending) if (p.state === "sending") out.push(sendFrameOf(p));
  }
  return out;
}

let cidCounter = 0;
export function newCid(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  return Date.now().toString(36) + "-" + (++cidCounter).toString(36) + "-" + Math.random().toString(36).slice(2, 10);
}

export interface OutboxDeps {
  store: Store;
  /** Sends a frame on the open socket; false when there is none (the next open resends). */
  send: (f: object) => boolean;
  now: () => number;
  random: () => number;
  newCid?: () => string;
}

export class Outbox {
  private newCid: () => string;

  constructor(private d: OutboxDeps) {
    this.newCid = d.newCid ?? newCid;
  }

  private pendingOf(room: number, key: string): Item | undefined {
    return this.d.store.getState().chats[room]?.pending.find((x) => x.key === key);
  }

  /** Sends body with uploads attached (files: the upload answers); the body may be empty then. */
  send(room: number, body: string, files?: FileInfo[]) {
    const text = body.trim() ? body : "";
    if (!text && !files?.length) return;
    const store = this.d.store;
    const me = store.getState().me;
    const cid = this.newCid();
    const item: Item = {
      room,
      seq: 0,
      user: { id: me.id, name: me.name },
      body: text,
      cid,
      ts: new Date(this.d.now()).toISOString(),
      key: "c" + cid,
      state: "sending",
    };
    if (files?.length) item.files = files;
    if (!store.getState().chats[room]) store.set({ chats: { ...store.getState().chats, [room]: emptyChat(room) } });
    store.setChat(room, (c) => ({ ...c, pending: [...c.pending, item] }));
    this.d.send(sendFrameOf(item));
  }

  /** A new socket is open: everything unacked goes out again, same cid. */
  resendAll() {
    for (const f of resendFrames(this.d.store.getState().chats)) this.d.send(f);
  }

  /** The server stored our send as seq (duplicate acks change nothing). */
  ack(room: number, cid: string, seq: number) {
    this.d.store.setChat(room, (c) => ackPending(c, cid, seq));
  }

  /** The server refused a send. */
  refused(room: number, cid: string, code: string, message: string) {
    const key = "c" + cid;
    if (code === "rate_limited") {
      // Still pending: send it again shortly, same cid.
      setTimeout(() => {
        const p = this.pendingOf(room, key);
        if (p && p.state === "sending") this.d.send(sendFrameOf(p));
      }, 1000 + this.d.random() * 1000);
      return;
    }
    this.d.store.setChat(room, (c) => setPending(c, key, { state: "failed", error: message }));
  }

  retry(room: number, key: string) {
    const p = this.pendingOf(room, key);
    if (!p) return;
    this.d.store.setChat(room, (c) => setPending(c, key, { state: "sending", error: undefined }));
    this.d.send(sendFrameOf(p));
  }

  discard(room: number, key: string) {
    this.d.store.setChat(room, (c) => ({ ...c, pending: c.pending.filter((p) => p.key !== key) }));
  }
}
