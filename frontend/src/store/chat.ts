// Pure per-room message logic: merging, dedupe, acks and gap detection.
// No I/O here, so tests/chat.test.ts can drive it directly.
import type { Item, Reaction, WireMsg } from "../types";

export interface Chat {
  room: number;
  /** Stored messages, ascending seq, no duplicates. */
  msgs: Item[];
  /** Our own messages without an ack yet, in send order. */
  pending: Item[];
  /** The server has messages older than msgs[0]. */
  hasMore: boolean;
  /** The newest page has arrived. */
  loaded: boolean;
  loadingOlder: boolean;
  error: string | null;
  /** Every seq from msgs[0].seq up to contigTo is in msgs (0: none). */
  contigTo: number;
  /** msgs holds room events (hidden by itemsOf). */
  events?: boolean;
}

export function emptyChat(room: number): Chat {
  return { room, msgs: [], pending: [], hasMore: false, loaded: false, loadingOlder: false, error: null, contigTo: 0 };
}

export function keyFor(m: { seq: number; cid?: string; user: { id: number } }, me: number): string {
  return m.cid && m.user.id === me ? "c" + m.cid : "s" + m.seq;
}

export function toItem(m: WireMsg, me: number): Item {
  const it: Item = { room: m.room, seq: m.seq, user: m.user, body: m.body, cid: m.cid, ts: m.ts, key: keyFor(m, me) };
  if (m.files?.length) it.files = m.files;
  if (m.type && m.type !== "message") {
    it.type = m.type;
    it.target = m.target;
    if (m.emoji) it.emoji = m.emoji;
    if (m.op) it.op = m.op;
  } else if (m.rev) {
    it.rev = m.rev;
    if (m.edited_at) it.edited_at = m.edited_at;
    if (m.deleted) it.deleted = true;
    if (m.reactions?.length) it.reactions = m.reactions;
  }
  return it;
}

/** A room event (edit, delete, reaction): kept in msgs so seqs stay
 *  contiguous, applied to its target, never shown. */
export function isEvent(m: WireMsg): boolean {
  return m.type !== undefined && m.type !== "message";
}

/** A message's reactions with user added to or removed from emoji. */
export function react(list: Reaction[] | undefined, emoji: string, user: number, add: boolean): Reaction[] | undefined {
  const cur = list ?? [];
  const i = cur.findIndex((r) => r.emoji === emoji);
  if (add) {
    if (i < 0) return [...cur, { emoji, users: [user] }];
    if (cur[i].users.includes(user)) return list;
    return cur.map((r, j) => (j === i ? { emoji, users: [...r.users, user] } : r));
  }
  if (i < 0 || !cur[i].users.includes(user)) return list;
  const users = cur[i].users.filter((u) => u !== user);
  const next = users.length ? cur.map((r, j) => (j === i ? { emoji, users } : r)) : cur.filter((_, j) => j !== i);
  return next.length ? next : undefined;
}

/** One room event applied to its target's state. */
function applyEvent(t: Item, e: Item): Item {
  if (e.type === "edit") return { ...t, body: e.body, edited_at: e.ts, rev: e.seq };
  if (e.type === "delete") return { ...t, body: "", deleted: true, reactions: undefined, files: undefined, rev: e.seq };
  return { ...t, reactions: react(t.reactions, e.emoji ?? "", e.user.id, e.op !== "remove"), rev: e.seq };
}

/** Applies the edits, deletes and reactions among items to their targets in
 *  msgs (PROTOCOL.md, Room events: skipped when the target's rev shows it). */
function applyEvents(msgs: Item[], items: Item[]): Item[] {
  let out = msgs;
  for (const e of items) {
    if (e.type !== "edit" && e.type !== "delete" && e.type !== "reaction") continue;
    const i = lowerBound(out, e.target ?? 0);
    const t = out[i];
    if (!t || t.seq !== e.target || isEvent(t) || (t.rev ?? 0) >= e.seq) continue;
    const next = applyEvent(t, e);
    if (out === msgs) out = msgs.slice();
    out[i] = next;
  }
  return out;
}

/** Merges items into a sorted list. Returns the same array when nothing is new. */
export function mergeSorted(list: Item[], incoming: Item[]): Item[] {
  if (incoming.length === 0) return list;
  let inc = incoming;
  for (let i = 1; i < inc.length; i++) {
    if (inc[i].seq <= inc[i - 1].seq) {
      inc = [...incoming].sort((a, b) => a.seq - b.seq);
      break;
    }
  }
  const last = list.length ? list[list.length - 1].seq : -Infinity;
  const first = list.length ? list[0].seq : Infinity;
  // Fast paths: a live append or an older page.
  if (inc[0].seq > last) return list.concat(dedupe(inc));
  if (inc[inc.length - 1].seq < first) return dedupe(inc).concat(list);
  const out: Item[] = [];
  let i = 0;
  let j = 0;
  let added = false;
  while (i < list.length || j < inc.length) {
    const a = list[i];
    const b = inc[j];
    if (b === undefined || (a !== undefined && a.seq < b.seq)) {
      out.push(a);
      i++;
    } else if (a === undefined || b.seq < a.seq) {
      if (out.length === 0 || out[out.length - 1].seq !== b.seq) {
        out.push(b);
        added = true;
      }
      j++;
    } else {
      out.push(a); // already have it
      i++;
      j++;
    }
  }
  return added ? out : list;
}

function dedupe(sorted: Item[]): Item[] {
  let ok = true;
  for (let i = 1; i < sorted.length; i++) if (sorted[i].seq === sorted[i - 1].seq) ok = false;
  if (ok) return sorted;
  return sorted.filter((m, i) => i === 0 || m.seq !== sorted[i - 1].seq);
}

/** Index of the first item with seq >= seq (binary search). */
export function lowerBound(list: Item[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Advances contigTo over the messages present. */
export function advanceContig(msgs: Item[], contigTo: number): number {
  if (msgs.length === 0) return 0;
  let c = contigTo < msgs[0].seq ? msgs[0].seq : contigTo;
  let i = lowerBound(msgs, c);
  if (i >= msgs.length || msgs[i].seq !== c) return msgs[0].seq; // should not happen
  while (i + 1 < msgs.length && msgs[i + 1].seq === c + 1) {
    i++;
    c++;
  }
  return c;
}

/** The first hole above contigTo: fetch seq after `after` up to `upTo`. */
export function gapOf(chat: Chat): { after: number; upTo: number } | null {
  const n = chat.msgs.length;
  if (n === 0 || chat.msgs[n - 1].seq === chat.contigTo) return null;
  const i = lowerBound(chat.msgs, chat.contigTo + 1);
  return { after: chat.contigTo, upTo: chat.msgs[i].seq - 1 };
}

/** Adds stored messages (live, replayed or fetched); drops pending ones they confirm. */
export function addMessages(chat: Chat, items: Item[]): Chat {
  let msgs = mergeSorted(chat.msgs, items);
  const events = chat.events || items.some(isEvent);
  if (events && msgs !== chat.msgs) msgs = applyEvents(msgs, items);
  let pending = chat.pending;
  if (pending.length) {
    const keys = new Set(items.map((m) => m.key));
    if (pending.some((p) => keys.has(p.key))) pending = pending.filter((p) => !keys.has(p.key));
  }
  if (msgs === chat.msgs && pending === chat.pending) return chat;
  const olderPrepended = msgs.length && chat.msgs.length && msgs[0].seq < chat.msgs[0].seq;
  const contigTo = advanceContig(msgs, olderPrepended ? msgs[0].seq : chat.contigTo);
  return { ...chat, msgs, pending, contigTo, events };
}

/** Our send was stored as seq: the pending item becomes a stored one. */
export function ackPending(chat: Chat, cid: string, seq: number): Chat {
  const key = "c" + cid;
  const p = chat.pending.find((x) => x.key === key);
  if (!p) return chat;
  const stored: Item = { room: p.room, seq, user: p.user, body: p.body, cid: p.cid, ts: p.ts, key };
  if (p.files) stored.files = p.files;
  return addMessages({ ...chat, pending: chat.pending.filter((x) => x !== p) }, [stored]);
}

export function setPending(chat: Chat, key: string, patch: Partial<Item>): Chat {
  let changed = false;
  const pending = chat.pending.map((p) => {
    if (p.key !== key) return p;
    changed = true;
    return { ...p, ...patch };
  });
  return changed ? { ...chat, pending } : chat;
}

/** What the list shows: stored messages, then ours in flight. */
export function itemsOf(chat: Chat): Item[] {
  const msgs = chat.events ? chat.msgs.filter((m) => !isEvent(m)) : chat.msgs;
  return chat.pending.length ? msgs.concat(chat.pending) : msgs;
}

export function lastSeq(chat: Chat): number {
  return chat.msgs.length ? chat.msgs[chat.msgs.length - 1].seq : 0;
}
