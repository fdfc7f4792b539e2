// The list's keyboard: PageUp/PageDown scroll by 90 % of the view, Home shows
// the oldest loaded message, End the newest, ↑/↓ move focus between messages
// (starting from the edge of the view), Esc hands focus back to the list.
import { useEffect, useState, type FocusEvent, type KeyboardEvent, type RefObject } from "react";
import type { ListImperativeAPI } from "react-window";

export type KeyCommand = "pageUp" | "pageDown" | "home" | "end" | "up" | "down" | "escape";

const COMMANDS: Record<string, KeyCommand> = {
  PageUp: "pageUp",
  PageDown: "pageDown",
  Home: "home",
  End: "end",
  ArrowUp: "up",
  ArrowDown: "down",
  Escape: "escape",
};

/** The command a key press means to the list; null for other keys and any Alt/Ctrl/Meta chord. */
export function keyCommand(e: { key: string; altKey: boolean; ctrlKey: boolean; metaKey: boolean }): KeyCommand | null {
  if (e.altKey || e.ctrlKey || e.metaKey) return null;
  return COMMANDS[e.key] ?? null;
}

/** PageUp/PageDown distance: 90 % of the view, at least 40 px. */
export function pageSize(clientHeight: number): number {
  return Math.max(40, clientHeight * 0.9);
}

/**
 * The row ↑/↓ focuses next. `focused`: the focused row's index (-1: none,
 * then it starts from the row at the edge of the view: the bottom one for ↑,
 * the top one for ↓). Clamped to the rows.
 */
export function nextFocus(focused: number, viewTop: number, viewBottom: number, dir: -1 | 1, count: number): number {
  const i = focused >= 0 ? focused : dir < 0 ? viewBottom + 1 : viewTop - 1;
  return Math.max(0, Math.min(count - 1, i + dir));
}

/** Focuses the row with this key, trying again on the next frames (up to
 *  `frames`) until react-window has rendered it; returns the cancel. */
export function focusRowWhenRendered(listRef: RefObject<ListImperativeAPI | null>, key: string, frames: number): () => void {
  let tries = 0;
  let raf = 0;
  const tryFocus = () => {
    const el = listRef.current?.element?.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`);
    if (el) el.focus({ preventScroll: true });
    else if (tries++ < frames) raf = requestAnimationFrame(tryFocus);
  };
  tryFocus();
  return () => cancelAnimationFrame(raf);
}

export function useListKeyboard(o: {
  listRef: RefObject<ListImperativeAPI | null>;
  /** Row keys in display order (the window). */
  keys: string[];
  /** The row covering offset y. */
  indexAt: (y: number) => number;
  userScrolled: (el: HTMLElement) => void;
  jumpToTop: () => void;
  jumpToBottom: () => void;
}) {
  const { listRef, keys } = o;
  const [focusKey, setFocusKey] = useState<string | null>(null);

  // Move focus to the focused message once its row is rendered.
  useEffect(() => (focusKey ? focusRowWhenRendered(listRef, focusKey, 5) : undefined), [focusKey, listRef]);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const el = listRef.current?.element;
    if (!el) return;
    // Keys typed in a row's menu, editor or buttons are theirs.
    const target = e.target as HTMLElement;
    if (target !== el && !target.classList.contains("msg")) return;
    if (e.key === "Enter" && target !== el) {
      // A focused message: Enter opens its actions menu.
      target.querySelector<HTMLButtonElement>(".msg-actions-btn")?.click();
      e.preventDefault();
      return;
    }
    const cmd = keyCommand(e);
    if (!cmd) return;
    if (cmd === "pageUp" || cmd === "pageDown" || cmd === "home" || cmd === "end") {
      // Scrolling commands hand focus back to the list: a focused message
      // scrolled out of the window would take the focus with it.
      setFocusKey(null);
      if (document.activeElement !== el) el.focus({ preventScroll: true });
    }
    switch (cmd) {
      case "pageUp":
        el.scrollTop -= pageSize(el.clientHeight);
        o.userScrolled(el); // before any commit can re-anchor to the old place
        break;
      case "pageDown":
        el.scrollTop += pageSize(el.clientHeight);
        o.userScrolled(el);
        break;
      case "home":
        o.jumpToTop();
        break;
      case "end":
        o.jumpToBottom();
        break;
      case "up":
      case "down": {
        if (keys.length === 0) return;
        const focused = focusKey ? keys.indexOf(focusKey) : -1;
        const next = nextFocus(focused, o.indexAt(el.scrollTop), o.indexAt(el.scrollTop + el.clientHeight - 1), cmd === "up" ? -1 : 1, keys.length);
        setFocusKey(keys[next]);
        listRef.current?.scrollToRow({ index: next, align: "auto" });
        o.userScrolled(el);
        break;
      }
      case "escape":
        setFocusKey(null);
        el.focus();
        break;
    }
    e.preventDefault();
  };

  const onFocus = (e: FocusEvent<HTMLDivElement>) => {
    if (e.target === e.currentTarget) setFocusKey(null);
  };

  const onBlur = (e: FocusEvent<HTMLDivElement>) => {
    // A focused message that scrolls out of the window is unmounted:
    // keep the focus in the list instead of losing it to the page.
    const row = e.target;
    const list = e.currentTarget;
    if (row === list || e.relatedTarget) return;
    requestAnimationFrame(() => {
      if (!row.isConnected && (document.activeElement === document.body || document.activeElement === null)) {
        list.focus({ preventScroll: true });
      }
    });
  };

  return { onKeyDown, onFocus, onBlur };
}
