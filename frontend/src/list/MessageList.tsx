// The message log: react-window v2's List made to behave as a chat log.
// - heights measured as rendered, cached by message key (IdHeights);
// - pinned to the bottom while the reader is there, else a scroll anchor
//   (first visible message + offset into it) is restored after every commit,
//   so a prepended page or a row measured above the viewport moves nothing;
// - scrolls we cause ourselves never (un)pin;
// - PageUp/PageDown/Home/End scroll, arrows move a focused message.
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { List, useListRef, type RowComponentProps } from "react-window";
import type { Item } from "../types";
import { IdHeights } from "./heights";
import { useIdRowHeight } from "./useIdRowHeight";

const STICK_PX = 40;
const NEAR_TOP_PX = 600;
const EDGE_PX = 1200;
const DEFAULT_ROW = 56;
// react-window lays out a window of the cached history, at most MAX_WINDOW
// rows; it slides by STEP rows as the reader nears an edge, kept still by the
// same anchor as an older page. A new row-height object makes react-window
// re-walk its offsets up to the visible row, so a 100,000-row window would
// cost ~30 ms per measured batch; a 2,000-row window costs well under 1 ms.
const WINDOW = 1000;
const STEP = 500;
const MAX_WINDOW = 2000;

interface Anchor {
  key: string;
  delta: number;
}
/** The window: from startSeq (0: the oldest loaded) to endSeq (null: the newest). */
interface Win {
  startSeq: number;
  endSeq: number | null;
}
interface View {
  pinned: boolean;
  anchor: Anchor | null;
  win: Win;
}

/** Stored messages come first (seq > 0, ascending), our unacked ones last. */
function storedCount(items: Item[]): number {
  let n = items.length;
  while (n > 0 && items[n - 1].state) n--;
  return n;
}
/** First index in items[0, n) with seq >= seq. */
function seqIndex(items: Item[], n: number, seq: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
function tailWin(items: Item[]): Win {
  const n = storedCount(items);
  const s = Math.max(0, n - WINDOW);
  return { startSeq: s === 0 ? 0 : items[s].seq, endSeq: null };
}
function winBounds(items: Item[], win: Win): [number, number] {
  const n = storedCount(items);
  const s = win.startSeq === 0 ? 0 : seqIndex(items, n, win.startSeq);
  const e = win.endSeq === null ? items.length : Math.max(s, seqIndex(items, n, win.endSeq + 1));
  return [s, e];
}

// Per room, kept across switches: measured heights and where the reader was.
const heightsByRoom = new Map<number, IdHeights>();
const viewByRoom = new Map<number, View>();

export function heightsFor(room: number): IdHeights {
  let h = heightsByRoom.get(room);
  if (!h) {
    h = new IdHeights(DEFAULT_ROW);
    heightsByRoom.set(room, h);
  }
  return h;
}

export interface MessageListProps {
  roomId: number;
  items: Item[];
  meId: number;
  hasMore: boolean;
  loadingOlder: boolean;
  onNearTop: () => void;
  onAtBottom: () => void;
  onRetry: (key: string) => void;
  onDiscard: (key: string) => void;
}

interface RowData {
  items: Item[];
  meId: number;
  onRetry: (key: string) => void;
  onDiscard: (key: string) => void;
}

// Formatted by hand: building an Intl.DateTimeFormat costs tens of ms on a slow phone.
const pad = (n: number) => (n < 10 ? "0" : "") + n;
const timeOf = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
const dateOf = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${timeOf(d)}`;
const IMAGE_URL = /^https?:\/\/\S+\.(?:png|jpe?g|gif|webp|avif|svg)(?:\?\S*)?$/i;

const Body = memo(function Body({ body }: { body: string }) {
  const text = body.trim();
  if (IMAGE_URL.test(text)) {
    // Lazy, with its box reserved up front: loading it never changes the row height.
    return (
      <span className="msg-image">
        <img src={text} alt="Shared image" loading="lazy" decoding="async" width={240} height={160} />
      </span>
    );
  }
  return <p className="msg-body">{body}</p>;
});

const MessageView = memo(function MessageView({
  m,
  mine,
  onRetry,
  onDiscard,
}: {
  m: Item;
  mine: boolean;
  onRetry: (key: string) => void;
  onDiscard: (key: string) => void;
}) {
  const d = new Date(m.ts);
  return (
    <>
      <div className="msg-head">
        <span className="msg-author">{mine ? "You" : m.user.name}</span>
        <time dateTime={m.ts} title={dateOf(d)}>
          {timeOf(d)}
        </time>
        {m.state === "sending" && <span className="msg-state">sending…</span>}
        {m.state === "failed" && (
          <span className="msg-state msg-failed">
            not sent{m.error ? `: ${m.error}` : ""}{" "}
            <button type="button" className="link" onClick={() => onRetry(m.key)}>
              Retry
            </button>{" "}
            <button type="button" className="link" onClick={() => onDiscard(m.key)}>
              Discard
            </button>
          </span>
        )}
      </div>
      <Body body={m.body} />
    </>
  );
});

function Row({ index, style, ariaAttributes, items, meId, onRetry, onDiscard }: RowComponentProps<RowData>) {
  const m = items[index];
  const mine = m.user.id === meId;
  return (
    <div
      style={style}
      {...ariaAttributes}
      data-key={m.key}
      data-seq={m.seq || undefined}
      tabIndex={-1}
      className={"msg" + (mine ? " mine" : "") + (m.state ? " pending" : "")}
    >
      <MessageView m={m} mine={mine} onRetry={onRetry} onDiscard={onDiscard} />
    </div>
  );
}

const rowKey = (i: number, p: RowData) => p.items[i].key;

export default function MessageList(props: MessageListProps) {
  const { roomId, items: all, meId, hasMore, loadingOlder, onNearTop, onAtBottom, onRetry, onDiscard } = props;
  const heights = heightsFor(roomId);
  const saved = viewByRoom.get(roomId);
  // A reader who left at the bottom comes back to the newest messages,
  // whatever window was saved (it may end short of the tail).
  const [win, setWin] = useState<Win>(() => (saved && !saved.pinned ? saved.win : tailWin(all)));
  const [ws, we] = winBounds(all, win);
  const items = useMemo(() => (ws === 0 && we === all.length ? all : all.slice(ws, we)), [all, ws, we]);
  const keys = useMemo(() => items.map((m) => m.key), [items]);
  heights.setKeys(keys); // idempotent: same array, no work
  const rowHeight = useIdRowHeight(heights);
  const listRef = useListRef(null);

  const pinned = useRef(saved?.pinned ?? true);
  const anchor = useRef<Anchor | null>(saved?.anchor ?? null);
  const programmatic = useRef<number | null>(null);
  const lastKey = useRef<string | undefined>(all[all.length - 1]?.key);
  const [newBelow, setNewBelow] = useState(false);
  const [focusKey, setFocusKey] = useState<string | null>(null);
  const winRef = useRef({ win, ws, we, all });
  winRef.current = { win, ws, we, all };

  const latest = useRef({ onNearTop, onAtBottom, hasMore, loadingOlder });
  latest.current = { onNearTop, onAtBottom, hasMore, loadingOlder };

  const setTop = (el: HTMLElement, top: number) => {
    el.scrollTop = top;
    programmatic.current = el.scrollTop;
  };

  const remember = (el: HTMLElement) => {
    const i = heights.indexAt(el.scrollTop);
    const key = i >= 0 ? heights.keyAt(i) : undefined;
    anchor.current = key === undefined ? null : { key, delta: el.scrollTop - heights.offsetOf(i) };
  };

  /** Puts the view back where the reader left it: the bottom, or the anchor. */
  const reposition = useCallback(() => {
    const el = listRef.current?.element;
    if (!el) return;
    if (pinned.current) {
      const bottom = el.scrollHeight - el.clientHeight;
      if (Math.abs(el.scrollTop - bottom) >= 1) setTop(el, bottom);
      return;
    }
    const a = anchor.current;
    if (!a) return;
    const i = heights.indexOf(a.key);
    if (i < 0) return;
    const top = heights.offsetOf(i) + a.delta;
    if (Math.abs(el.scrollTop - top) >= 1) setTop(el, top);
  }, [heights, listRef]);

  // After every commit of this component (new items, new measurements).
  useLayoutEffect(() => {
    const last = all[all.length - 1]?.key;
    if (last !== lastKey.current) {
      const m = all[all.length - 1];
      if (m && m.user.id === meId && m.state === "sending") {
        // We just sent: follow it.
        pinned.current = true;
        if (winRef.current.we < all.length - 1) setWin(tailWin(all));
      }
      else if (!pinned.current && m && lastKey.current !== undefined) setNewBelow(true);
      lastKey.current = last;
    }
    reposition();
  });

  useEffect(() => {
    if (pinned.current && all.length) latest.current.onAtBottom();
  }, [all]);

  // Rows measured after our commit change the list's height without another
  // commit of ours (react-window keeps the sizes): follow its sizer, so a
  // pinned view stays at the bottom and an anchored one on its message.
  const logRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const sizer = logRef.current?.querySelector("[data-react-window-sizer]");
    if (!sizer || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => reposition());
    ro.observe(sizer);
    return () => ro.disconnect();
  }, [reposition, roomId]);

  // Keep where the reader was for the next visit to this room.
  useEffect(
    () => () => {
      viewByRoom.set(roomId, { pinned: pinned.current, anchor: anchor.current, win: winRef.current.win });
    },
    [roomId],
  );

  // Keep the window at most MAX_WINDOW rows (new messages, older pages or a
  // whole history loaded at once grow it): the newest rows while the reader
  // is at the bottom, else the rows around the anchor.
  useEffect(() => {
    if (we - ws <= MAX_WINDOW) return;
    if (pinned.current && win.endSeq === null) {
      setWin(tailWin(all));
      return;
    }
    const a = anchor.current;
    const wi = a ? heights.indexOf(a.key) : -1;
    const i = wi >= 0 ? ws + wi : ws;
    const n = storedCount(all);
    const ns = Math.max(0, Math.min(i - MAX_WINDOW / 2, n - MAX_WINDOW));
    const ne = Math.min(all.length, ns + MAX_WINDOW);
    setWin({ startSeq: ns === 0 ? 0 : all[ns].seq, endSeq: ne >= n ? null : all[ne - 1].seq });
  }, [all, win, ws, we, heights]);

  /** Slides the window when the reader nears one of its edges. */
  const slide = (el: HTMLElement): boolean => {
    const { ws: s, we: e, all: a } = winRef.current;
    const n = storedCount(a);
    if (el.scrollTop < EDGE_PX && s > 0) {
      const ns = Math.max(0, s - STEP);
      const ne = Math.min(e, ns + MAX_WINDOW);
      setWin({ startSeq: ns === 0 ? 0 : a[ns].seq, endSeq: ne >= n ? (e >= a.length ? null : a[ne - 1].seq) : a[ne - 1].seq });
      return true;
    }
    if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX && e < a.length) {
      const ne = Math.min(a.length, e + STEP);
      const ns = Math.max(s, ne - MAX_WINDOW);
      setWin({ startSeq: ns === 0 ? 0 : a[ns].seq, endSeq: ne >= n ? null : a[ne - 1].seq });
      return true;
    }
    return false;
  };

  /** The reader moved the view: (un)pin, take a new anchor, slide the window or load older. */
  const userScrolled = (el: HTMLElement) => {
    programmatic.current = null;
    const wasPinned = pinned.current;
    pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX && winRef.current.we === winRef.current.all.length;
    remember(el);
    if (pinned.current) {
      setNewBelow(false);
      if (!wasPinned) latest.current.onAtBottom();
    }
    if (slide(el)) return;
    const l = latest.current;
    if (el.scrollTop < NEAR_TOP_PX && winRef.current.ws === 0 && l.hasMore && !l.loadingOlder) l.onNearTop();
  };

  const onScroll = (e: React.UIEvent<HTMLDivElement>) => {
    const el = e.currentTarget;
    // Our own scroll must not (un)pin. A position we set may report more
    // than one scroll event (react-window and layout both react to it):
    // it stays ours until the view is somewhere else.
    if (programmatic.current !== null && Math.abs(el.scrollTop - programmatic.current) < 1) return;
    programmatic.current = null;
    userScrolled(el);
  };

  const jumpToBottom = useCallback(() => {
    const el = listRef.current?.element;
    pinned.current = true;
    setNewBelow(false);
    if (winRef.current.we < winRef.current.all.length) setWin(tailWin(winRef.current.all));
    else if (el) setTop(el, el.scrollHeight);
    latest.current.onAtBottom();
  }, [listRef]);

  /** The oldest loaded message, at the top. */
  const jumpToTop = () => {
    const a = winRef.current.all;
    if (a.length === 0) return;
    pinned.current = false;
    anchor.current = { key: a[0].key, delta: 0 };
    const n = storedCount(a);
    const e = Math.min(a.length, WINDOW);
    if (winRef.current.ws > 0) setWin({ startSeq: 0, endSeq: e >= n ? null : a[e - 1].seq });
    else {
      const el = listRef.current?.element;
      if (el) {
        el.scrollTop = 0;
        userScrolled(el);
      }
    }
    const l = latest.current;
    if (l.hasMore && !l.loadingOlder) l.onNearTop();
  };

  // Move focus to the focused message once its row is rendered.
  useEffect(() => {
    if (!focusKey) return;
    let tries = 0;
    let raf = 0;
    const tryFocus = () => {
      const el = listRef.current?.element?.querySelector<HTMLElement>(`[data-key="${CSS.escape(focusKey)}"]`);
      if (el) el.focus({ preventScroll: true });
      else if (tries++ < 5) raf = requestAnimationFrame(tryFocus);
    };
    tryFocus();
    return () => cancelAnimationFrame(raf);
  }, [focusKey, listRef]);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const el = listRef.current?.element;
    if (!el || e.altKey || e.ctrlKey || e.metaKey) return;
    const page = Math.max(40, el.clientHeight * 0.9);
    if (e.key === "PageUp" || e.key === "PageDown" || e.key === "Home" || e.key === "End") {
      // Scrolling commands hand focus back to the list: a focused message
      // scrolled out of the window would take the focus with it.
      setFocusKey(null);
      if (document.activeElement !== el) el.focus({ preventScroll: true });
    }
    switch (e.key) {
      case "PageUp":
        el.scrollTop -= page;
        userScrolled(el); // before any commit can re-anchor to the old place
        break;
      case "PageDown":
        el.scrollTop += page;
        userScrolled(el);
        break;
      case "Home":
        jumpToTop();
        break;
      case "End":
        jumpToBottom();
        break;
      case "ArrowUp":
      case "ArrowDown": {
        if (items.length === 0) return;
        const dir = e.key === "ArrowUp" ? -1 : 1;
        let i = focusKey ? keys.indexOf(focusKey) : -1;
        if (i < 0) {
          // Start from the message at the edge of the view.
          const top = heights.indexAt(el.scrollTop);
          const bottom = heights.indexAt(el.scrollTop + el.clientHeight - 1);
          i = dir < 0 ? bottom + 1 : top - 1;
        }
        const next = Math.max(0, Math.min(items.length - 1, i + dir));
        setFocusKey(keys[next]);
        listRef.current?.scrollToRow({ index: next, align: "auto" });
        userScrolled(el);
        break;
      }
      case "Escape":
        setFocusKey(null);
        el.focus();
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const rowProps = useMemo<RowData>(() => ({ items, meId, onRetry, onDiscard }), [items, meId, onRetry, onDiscard]);

  return (
    <div className="log" ref={logRef}>
      {loadingOlder && (
        <div className="log-status" role="status">
          Loading older messages…
        </div>
      )}
      <List
        listRef={listRef}
        className="log-list"
        rowComponent={Row}
        rowProps={rowProps}
        rowCount={items.length}
        rowHeight={rowHeight}
        rowKey={rowKey}
        overscanCount={6}
        onResize={reposition}
        onScroll={onScroll}
        onKeyDown={onKeyDown}
        onFocus={(e) => {
          if (e.target === e.currentTarget) setFocusKey(null);
        }}
        onBlur={(e) => {
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
        }}
        tabIndex={0}
        aria-label="Messages"
        aria-busy={loadingOlder || undefined}
        style={{ height: "100%" }}
      />
      {newBelow && (
        <button type="button" className="new-below" onClick={jumpToBottom}>
          New messages ↓
        </button>
      )}
    </div>
  );
}
