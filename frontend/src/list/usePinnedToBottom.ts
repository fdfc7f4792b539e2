// Pinning: while the reader is at the bottom (within STICK_PX) the view
// follows new messages; otherwise a scroll anchor (first visible message +
// offset into it) is put back after every commit and every measurement, so a
// prepended page, rows measured above the view or a window slide move the
// view by 0 px. Scrolls the list makes itself never (un)pin. Our own send
// re-pins; others' messages arriving while scrolled up show "New messages ↓".
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type RefObject } from "react";
import type { ListImperativeAPI } from "react-window";
import type { Item } from "../types";
import type { Paging, ScrollBox } from "./usePaging";
import type { Anchor, ViewState } from "./viewState";

export const STICK_PX = 40;

/** The row positions the anchor arithmetic needs (IdHeights). */
export interface RowOffsets {
  indexOf(key: string): number;
  keyAt(i: number): string | undefined;
  offsetOf(i: number): number;
  indexAt(y: number): number;
}

/** Pinned: within STICK_PX of the bottom of a window that ends with the newest row. */
export function isAtBottom(box: ScrollBox, atTail: boolean): boolean {
  return box.scrollHeight - box.scrollTop - box.clientHeight < STICK_PX && atTail;
}

/** The message at the top of the view and how far into it the view starts. */
export function anchorAt(rows: RowOffsets, scrollTop: number): Anchor | null {
  const i = rows.indexAt(scrollTop);
  const key = i >= 0 ? rows.keyAt(i) : undefined;
  return key === undefined ? null : { key, delta: scrollTop - rows.offsetOf(i) };
}

/** Where the view must be put back to (the bottom, or the anchor); null when it is there (within 1 px) or unknown. */
export function restoreTop(view: Pick<ViewState, "pinned" | "anchor">, rows: RowOffsets, box: ScrollBox): number | null {
  let top: number;
  if (view.pinned) top = box.scrollHeight - box.clientHeight;
  else {
    const a = view.anchor;
    if (!a) return null;
    const i = rows.indexOf(a.key);
    if (i < 0) return null;
    top = rows.offsetOf(i) + a.delta;
  }
  return Math.abs(box.scrollTop - top) >= 1 ? top : null;
}

/**
 * A scroll event at a position we set ourselves. It may report more than one
 * scroll event (react-window and layout both react to it): it stays ours
 * until the view is somewhere else.
 */
export function scrolledByUs(setByUs: number | null, scrollTop: number): boolean {
  return setByUs !== null && Math.abs(scrollTop - setByUs) < 1;
}

/** What a new last row asks for: follow our own send, or offer "New messages ↓" to a reader scrolled up. */
export function newLastAction(last: Item | undefined, prevKey: string | undefined, meId: number, pinned: boolean): "follow" | "newBelow" | null {
  if (last?.key === prevKey) return null;
  if (last && last.user.id === meId && last.state === "sending") return "follow";
  if (!pinned && last && prevKey !== undefined) return "newBelow";
  return null;
}

export function usePinnedToBottom(o: {
  all: Item[];
  meId: number;
  heights: RowOffsets;
  view: ViewState;
  listRef: RefObject<ListImperativeAPI | null>;
  paging: Paging;
  onAtBottom: () => void;
}) {
  const { all, meId, heights, view, listRef, paging } = o;
  const setByUs = useRef<number | null>(null);
  const lastKey = useRef<string | undefined>(all[all.length - 1]?.key);
  const [newBelow, setNewBelow] = useState(false);
  const onAtBottom = useRef(o.onAtBottom);
  onAtBottom.current = o.onAtBottom;

  const setTop = (el: HTMLElement, top: number) => {
    el.scrollTop = top;
    setByUs.current = el.scrollTop;
  };

  /** Puts the view back where the reader left it: the bottom, or the anchor. */
  const reposition = useCallback(() => {
    const el = listRef.current?.element;
    if (!el) return;
    const top = restoreTop(view, heights, el);
    if (top !== null) setTop(el, top);
    // Already there: the position is still ours. The browser may have moved
    // it (clamped when the estimate shrank the list) and report that scroll
    // only after rows measured taller; taken for the reader's, it would unpin.
    else setByUs.current = el.scrollTop;
  }, [heights, listRef, view]);

  // After every commit of the list (new items, new measurements).
  useLayoutEffect(() => {
    const last = all[all.length - 1];
    const action = newLastAction(last, lastKey.current, meId, view.pinned);
    if (action === "follow") {
      // We just sent: follow it.
      view.pinned = true;
      if (paging.end() < all.length - 1) paging.toTail();
    } else if (action === "newBelow") setNewBelow(true);
    lastKey.current = last?.key;
    reposition();
  });

  useEffect(() => {
    if (view.pinned && all.length) onAtBottom.current();
  }, [all, view]);

  return {
    reposition,
    newBelow,
    /** True for a scroll event caused by our own positioning (ignore it). */
    isOwnScroll(el: HTMLElement): boolean {
      if (scrolledByUs(setByUs.current, el.scrollTop)) return true;
      setByUs.current = null;
      return false;
    },
    /** The reader moved the view: (un)pin and take a new anchor. */
    userScrolled(el: HTMLElement, atTail: boolean) {
      setByUs.current = null;
      const wasPinned = view.pinned;
      view.pinned = isAtBottom(el, atTail);
      view.anchor = anchorAt(heights, el.scrollTop);
      if (view.pinned) {
        setNewBelow(false);
        if (!wasPinned) onAtBottom.current();
      }
    },
    /** Unpins and anchors the top of the view on a message. */
    anchorTo(key: string) {
      view.pinned = false;
      view.anchor = { key, delta: 0 };
    },
    /** End and "New messages ↓": the newest messages, pinned. */
    jumpToBottom() {
      const el = listRef.current?.element;
      view.pinned = true;
      setNewBelow(false);
      if (!paging.atTail()) paging.toTail();
      else if (el) setTop(el, el.scrollHeight);
      onAtBottom.current();
    },
  };
}
