// What a message row can do besides showing itself: its actions menu, the
// inline editor, the delete confirmation and the reaction picker. One row at a
// time has one of them open (RowOpen, kept per room by the room view); the
// callbacks are stable, so opening a row's menu re-renders that row only.
import type { Item } from "../types";

export type RowMode = "menu" | "edit" | "delete" | "react";
export interface RowOpen {
  key: string;
  mode: RowMode;
}

export interface RowActions {
  /** Our own messages, within the server's edit window. */
  canEdit: (m: Item) => boolean;
  /** Our own messages; any message for the room's owner. */
  canDelete: (m: Item) => boolean;
  setOpen: (o: RowOpen | null) => void;
  edit: (m: Item, body: string) => Promise<void>;
  remove: (m: Item) => Promise<void>;
  /** Adds (on) or removes our reaction. */
  react: (m: Item, emoji: string, on: boolean) => void;
  /** Lower-cased member names without spaces, for highlighting @mentions. */
  names: ReadonlySet<string>;
  /** Ours, the same way. */
  meName: string;
}

/** The server's default edit_window (PROTOCOL.md): the editor is offered only within it. */
export const EDIT_WINDOW_MS = 60 * 60 * 1000;

export function editable(m: Item, me: number, now: number): boolean {
  return m.user.id === me && !m.deleted && !m.state && m.seq > 0 && now - Date.parse(m.ts) < EDIT_WINDOW_MS;
}

/** "Ann Smith" → "annsmith": how the server matches "@annsmith" (PROTOCOL.md, Mentions). */
export const mentionKey = (name: string) => name.replace(/\s+/g, "").toLowerCase();

export type BodyPart = { text: string; href?: string; mention?: "me" | "other" };

/** Splits text into plain runs and @mentions of the given names (trailing punctuation is not part of the name). */
export function splitMentions(text: string, names: ReadonlySet<string>, me: string): BodyPart[] {
  if (!text.includes("@") || names.size === 0) return [{ text }];
  const out: BodyPart[] = [];
  let last = 0;
  for (const m of text.matchAll(/(^|[^\p{L}\p{N}_])@([\p{L}\p{N}_.\-]+)/gu)) {
    const name = m[2].replace(/[.\-]+$/, "");
    const key = name.toLowerCase();
    if (!names.has(key)) continue;
    const start = m.index + m[1].length;
    if (start > last) out.push({ text: text.slice(last, start) });
    out.push({ text: "@" + name, mention: key === me ? "me" : "other" });
    last = start + 1 + name.length;
  }
  if (last === 0) return [{ text }];
  if (last < text.length) out.push({ text: text.slice(last) });
  return out;
}

/** The ARIA menu keys in a row's menu or picker: arrows, Home and End move
 *  focus among items (wrapping), Escape (and Tab, leaving) closes. True when
 *  the key was the menu's. */
export function menuKey(key: string, menu: HTMLElement | null, itemSelector: string, onClose: () => void): boolean {
  const items = [...(menu?.querySelectorAll<HTMLElement>(itemSelector) ?? [])];
  const i = items.indexOf(document.activeElement as HTMLElement);
  const go = (j: number) => items[(j + items.length) % items.length]?.focus();
  if (key === "ArrowDown" || key === "ArrowRight") go(i + 1);
  else if (key === "ArrowUp" || key === "ArrowLeft") go(i - 1);
  else if (key === "Home") go(0);
  else if (key === "End") go(items.length - 1);
  else if (key === "Escape" || key === "Tab") onClose();
  else return false;
  return true;
}
