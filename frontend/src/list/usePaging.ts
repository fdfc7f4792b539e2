// Paging: react-window lays out a window of the cached history, at most
// MAX_WINDOW rows; it slides by STEP rows as the reader nears an edge (newer
// or older rows already cached), and when the window reaches the oldest
// cached message near the top, the next older page is loaded from the server.
// The scroll anchor (usePinnedToBottom) keeps the view still through both.
// A new row-height object makes react-window re-walk its offsets up to the
// visible row, so a 100,000-row window would cost ~30 ms per measured batch;
// a 2,000-row window costs well under 1 ms.
import { useEffect, useMemo, useRef, useState } from "react";
import type { Item } from "../types";
import type { IdHeights } from "./heights";
import type { ViewState, Win } from "./viewState";

export const WINDOW = 1000;
export const STEP = 500;
export const MAX_WINDOW = 2000;
/** Slide when the view is this close to an edge of the window. */
export const EDGE_PX = 1200;
/** Load an older page when the view is this close to the oldest cached message. */
export const NEAR_TOP_PX = 600;

/** Scroll metrics of the list element. */
export interface ScrollBox {
  scrollTop: number;
  scrollHeight: number;
  clientHeight: number;
}

/** Stored messages come first (seq > 0, ascending), our unacked ones last. */
export function storedCount(items: Item[]): number {
  let n = items.length;
  while (n > 0 && items[n - 1].state) n--;
  return n;
}

/** First index in items[0, n) with seq >= seq. */
export function seqIndex(items: Item[], n: number, seq: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The newest WINDOW stored rows and everything pending. */
export function tailWin(items: Item[]): Win {
  const n = storedCount(items);
  const s = Math.max(0, n - WINDOW);
  return { startSeq: s === 0 ? 0 : items[s].seq, endSeq: null };
}

/** The oldest WINDOW rows. */
export function headWin(items: Item[]): Win {
  const n = storedCount(items);
  const e = Math.min(items.length, WINDOW);
  return { startSeq: 0, endSeq: e >= n ? null : items[e - 1].seq };
}

/** The window as indexes [start, end) into items. */
export function winBounds(items: Item[], win: Win): [number, number] {
  const n = storedCount(items);
  const s = win.startSeq === 0 ? 0 : seqIndex(items, n, win.startSeq);
  const e = win.endSeq === null ? items.length : Math.max(s, seqIndex(items, n, win.endSeq + 1));
  return [s, e];
}

/**
 * A window grown past MAX_WINDOW (new messages, older pages, a whole history
 * loaded at once) shrinks back: to the tail while the reader is pinned there,
 * else around the anchor row (anchorAt: its index inside the window, -1: none).
 * null: it is small enough.
 */
export function capWin(items: Item[], win: Win, ws: number, we: number, pinned: boolean, anchorAt: number): Win | null {
  if (we - ws <= MAX_WINDOW) return null;
  if (pinned && win.endSeq === null) return tailWin(items);
  const i = anchorAt >= 0 ? ws + anchorAt : ws;
  const n = storedCount(items);
  const ns = Math.max(0, Math.min(i - MAX_WINDOW / 2, n - MAX_WINDOW));
  const ne = Math.min(items.length, ns + MAX_WINDOW);
  return { startSeq: ns === 0 ? 0 : items[ns].seq, endSeq: ne >= n ? null : items[ne - 1].seq };
}

/** The window slid STEP rows towards the edge the view is near; null when it stays. */
export function slideWin(items: Item[], ws: number, we: number, box: ScrollBox): Win | null {
  const n = storedCount(items);
  if (box.scrollTop < EDGE_PX && ws > 0) {
    const ns = Math.max(0, ws - STEP);
    const ne = Math.min(we, ns + MAX_WINDOW);
    return { startSeq: ns === 0 ? 0 : items[ns].seq, endSeq: ne >= n ? (we >= items.length ? null : items[ne - 1].seq) : items[ne - 1].seq };
  }
  if (box.scrollHeight - box.scrollTop - box.clientHeight < EDGE_PX && we < items.length) {
    const ne = Math.min(items.length, we + STEP);
    const ns = Math.max(ws, ne - MAX_WINDOW);
    return { startSeq: ns === 0 ? 0 : items[ns].seq, endSeq: ne >= n ? null : items[ne - 1].seq };
  }
  return null;
}

/** Whether to ask the server for an older page: near the top of a window that starts at the oldest cached message. */
export function shouldLoadOlder(scrollTop: number, ws: number, hasMore: boolean, loadingOlder: boolean): boolean {
  return scrollTop < NEAR_TOP_PX && ws === 0 && hasMore && !loadingOlder;
}

export interface Paging {
  /** The rows react-window lays out. */
  items: Item[];
  /** The window ends with the newest row. */
  atTail(): boolean;
  /** Index (into all rows) after the window's last row. */
  end(): number;
  /** Shows the newest rows. */
  toTail(): void;
  /** Shows the oldest cached rows; false when the window already starts there. */
  toHead(): boolean;
  /** The reader scrolled: slide the window, else load an older page near the top. */
  userScrolled(box: ScrollBox): void;
  /** Loads an older page unless there is none or one is loading. */
  loadOlder(): void;
}

export function usePaging(o: {
  all: Item[];
  heights: IdHeights;
  view: ViewState;
  hasMore: boolean;
  loadingOlder: boolean;
  onNearTop: () => void;
}): Paging {
  const { all, heights, view } = o;
  // A reader who left at the bottom comes back to the newest messages,
  // whatever window was saved (it may end short of the tail).
  const [win, setWin] = useState<Win>(() => (!view.pinned && view.win ? view.win : tailWin(all)));
  view.win = win;
  const [ws, we] = winBounds(all, win);
  const items = useMemo(() => (ws === 0 && we === all.length ? all : all.slice(ws, we)), [all, ws, we]);
  const cur = useRef(o);
  cur.current = o;
  const bounds = useRef({ ws, we });
  bounds.current = { ws, we };

  useEffect(() => {
    const a = view.anchor;
    const next = capWin(all, win, ws, we, view.pinned, a ? heights.indexOf(a.key) : -1);
    if (next) setWin(next);
  }, [all, win, ws, we, heights, view]);

  return {
    items,
    atTail: () => bounds.current.we === cur.current.all.length,
    end: () => bounds.current.we,
    toTail: () => setWin(tailWin(cur.current.all)),
    toHead: () => {
      if (bounds.current.ws === 0) return false;
      setWin(headWin(cur.current.all));
      return true;
    },
    userScrolled: (box) => {
      const next = slideWin(cur.current.all, bounds.current.ws, bounds.current.we, box);
      if (next) {
        setWin(next);
        return;
      }
      const l = cur.current;
      if (shouldLoadOlder(box.scrollTop, bounds.current.ws, l.hasMore, l.loadingOlder)) l.onNearTop();
    },
    loadOlder: () => {
      const l = cur.current;
      if (l.hasMore && !l.loadingOlder) l.onNearTop();
    },
  };
}
