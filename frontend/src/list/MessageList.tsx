// The message log: react-window v2's List made to behave as a chat log,
// composed of
//   useRowMeasurement  heights measured as rendered, keyed by message (IdHeights)
//   usePaging          a window of at most 2,000 cached rows; older pages at the top
//   usePinnedToBottom  follow new messages while at the bottom, else keep an anchor
//   useListKeyboard    PageUp/PageDown/Home/End scroll, ↑/↓ move a focused message
// and viewState (where the reader was, per room).
import { useEffect, useMemo, useRef } from "react";
import { List, useListRef } from "react-window";
import type { Item } from "../types";
import type { RowActions, RowOpen } from "./rowActions";
import { Row, rowKey, type RowData } from "./MessageRow";
import { focusRowWhenRendered, useListKeyboard } from "./useListKeyboard";
import { usePaging } from "./usePaging";
import { usePinnedToBottom } from "./usePinnedToBottom";
import { heightsFor, useRowMeasurement, useSizerResize } from "./useRowMeasurement";
import { useViewState } from "./viewState";

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
  actions?: RowActions;
  open?: RowOpen | null;
  /** A message to mark and focus (opened from a search result). */
  highlight?: string | null;
}

export default function MessageList(props: MessageListProps) {
  const { roomId, items: all, meId, hasMore, loadingOlder, onNearTop, onAtBottom, onRetry, onDiscard, actions, open, highlight } = props;
  const heights = heightsFor(roomId);
  const view = useViewState(roomId);
  const paging = usePaging({ all, heights, view, hasMore, loadingOlder, onNearTop });
  const { items } = paging;
  const { keys, rowHeight } = useRowMeasurement(heights, items);
  const listRef = useListRef(null);
  const logRef = useRef<HTMLDivElement>(null);
  const pin = usePinnedToBottom({ all, meId, heights, view, listRef, paging, onAtBottom });
  useSizerResize(logRef, pin.reposition, roomId);

  /** The reader moved the view: (un)pin, take a new anchor, slide the window or load older. */
  const userScrolled = (el: HTMLElement) => {
    pin.userScrolled(el, paging.atTail());
    paging.userScrolled(el);
  };

  /** Home: the oldest loaded message, at the top. */
  const jumpToTop = () => {
    if (all.length === 0) return;
    pin.anchorTo(all[0].key);
    if (!paging.toHead()) {
      const el = listRef.current?.element;
      if (el) {
        el.scrollTop = 0;
        userScrolled(el);
      }
    }
    paging.loadOlder();
  };

  const keyboard = useListKeyboard({
    listRef,
    keys,
    indexAt: (y) => heights.indexAt(y),
    userScrolled,
    jumpToTop,
    jumpToBottom: pin.jumpToBottom,
  });

  const rowProps = useMemo<RowData>(() => ({ items, meId, onRetry, onDiscard, actions, open, highlight }), [items, meId, onRetry, onDiscard, actions, open, highlight]);
  // Opened from a search result: focus that message once it is rendered.
  useEffect(() => (highlight ? focusRowWhenRendered(listRef, highlight, 30) : undefined), [listRef, highlight]);

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
        overscanCount={4}
        onResize={pin.reposition}
        onScroll={(e) => {
          if (!pin.isOwnScroll(e.currentTarget)) userScrolled(e.currentTarget);
        }}
        onKeyDown={keyboard.onKeyDown}
        onFocus={keyboard.onFocus}
        onBlur={keyboard.onBlur}
        tabIndex={0}
        aria-label="Messages"
        aria-describedby="log-keys"
        aria-busy={loadingOlder || undefined}
        style={{ height: "100%" }}
      />
      <p id="log-keys" className="sr-only">
        ↑ and ↓ move between messages; Enter opens a message's actions.
      </p>
      {pin.newBelow && (
        <button type="button" className="new-below" onClick={pin.jumpToBottom}>
          New messages ↓
        </button>
      )}
    </div>
  );
}

