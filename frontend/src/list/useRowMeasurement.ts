// Row measurement: heights measured as rows render (one ResizeObserver,
// IdHeights) and cached by message key per room, so they survive prepended
// pages, window slides and room switches.
import { useEffect, useMemo, type RefObject } from "react";
import type { DynamicRowHeight } from "react-window";
import type { Item } from "../types";
import { IdHeights } from "./heights";
import { useIdRowHeight } from "./useIdRowHeight";

const DEFAULT_ROW = 56;

// Per room, kept across switches.
const heightsByRoom = new Map<number, IdHeights>();

export function heightsFor(room: number): IdHeights {
  let h = heightsByRoom.get(room);
  if (!h) {
    h = new IdHeights(DEFAULT_ROW);
    heightsByRoom.set(room, h);
  }
  return h;
}

/** Keys the heights by the rows shown; the row-height object react-window measures into. */
export function useRowMeasurement(heights: IdHeights, items: Item[]): { keys: string[]; rowHeight: DynamicRowHeight } {
  const keys = useMemo(() => items.map((m) => m.key), [items]);
  heights.setKeys(keys); // idempotent: same array, no work
  const rowHeight = useIdRowHeight(heights);
  return { keys, rowHeight };
}

/**
 * Rows measured after a commit of the list change its height without another
 * commit (react-window keeps the sizes): calls onResize when react-window's
 * sizer inside `container` resizes, so the view can be put back.
 */
export function useSizerResize(container: RefObject<HTMLElement | null>, onResize: () => void, roomId: number) {
  useEffect(() => {
    const sizer = container.current?.querySelector("[data-react-window-sizer]");
    if (!sizer || typeof ResizeObserver === "undefined") return;
    const ro = new ResizeObserver(() => onResize());
    ro.observe(sizer);
    return () => ro.disconnect();
  }, [container, onResize, roomId]);
}
