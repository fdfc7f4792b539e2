import { useEffect, useMemo, useState } from "react";
import type { DynamicRowHeight } from "react-window";
import type { IdHeights } from "./heights";

/** A DynamicRowHeight for react-window backed by an IdHeights; a new object
 *  per measurement batch so the list recomputes its row offsets. */
export function useIdRowHeight(heights: IdHeights): DynamicRowHeight {
  const [version, setVersion] = useState(heights.version);
  useEffect(() => {
    setVersion(heights.version);
    return heights.subscribe(() => setVersion(heights.version));
  }, [heights]);
  return useMemo<DynamicRowHeight>(
    () => ({
      getAverageRowHeight: () => heights.average(),
      getRowHeight: (i: number) => heights.heightAt(i),
      setRowHeight: (i: number, px: number) => {
        const k = heights.keyAt(i);
        if (k !== undefined) heights.set(k, px);
      },
      observeRowElements: (els) => heights.observe(els),
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [heights, version],
  );
}
