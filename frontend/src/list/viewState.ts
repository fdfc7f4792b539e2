// Where the reader is in a room's log, shared by the list's hooks and kept
// per room across visits: pinned to the bottom or anchored on a message, and
// which window of the cached history react-window lays out.
import { useEffect, useRef } from "react";

/** A scroll position that survives rows added or measured above it: a message and the offset into it. */
export interface Anchor {
  key: string;
  delta: number;
}

/** The window: from startSeq (0: the oldest loaded) to endSeq (null: the newest). */
export interface Win {
  startSeq: number;
  endSeq: number | null;
}

/** Mutable, one object per mounted list: usePinnedToBottom writes pinned and anchor, usePaging win. */
export interface ViewState {
  pinned: boolean;
  anchor: Anchor | null;
  /** The window of the last render; null before the first (then usePaging starts at the tail). */
  win: Win | null;
}

const viewByRoom = new Map<number, { pinned: boolean; anchor: Anchor | null; win: Win | null }>();

/** The view of a room as the reader left it (pinned at the bottom on a first visit); saved again on unmount. */
export function useViewState(roomId: number): ViewState {
  const ref = useRef<ViewState | null>(null);
  if (ref.current === null) {
    const saved = viewByRoom.get(roomId);
    ref.current = { pinned: saved?.pinned ?? true, anchor: saved?.anchor ?? null, win: saved?.win ?? null };
  }
  const view = ref.current;
  useEffect(
    () => () => {
      viewByRoom.set(roomId, { pinned: view.pinned, anchor: view.anchor, win: view.win });
    },
    [roomId, view],
  );
  return view;
}

const jumps = new Map<number, string>();

/** A search result opened: the room's next list shows the message with this
 *  key at the top of the view (win: a window of rows that holds it), marked. */
export function jumpTo(roomId: number, key: string, win: Win) {
  viewByRoom.set(roomId, { pinned: false, anchor: { key, delta: 0 }, win });
  jumps.set(roomId, key);
}

/** The message a jump into this room is for, else null. */
export function jumpOf(roomId: number): string | null {
  return jumps.get(roomId) ?? null;
}

/** The jump was shown (called after the commit: a render may be thrown away). */
export function jumpDone(roomId: number) {
  jumps.delete(roomId);
}
