import { createContext, useContext, useEffect, useState, useSyncExternalStore } from "react";
import type { Engine, State } from "../store/engine";

export const EngineContext = createContext<Engine | null>(null);

export function useEngine(): Engine {
  const e = useContext(EngineContext);
  if (!e) throw new Error("no engine");
  return e;
}

/** Reads a slice of the store; the selector must return a stored reference
 *  (not a new object), so unrelated updates don't re-render. */
export function useStore<T>(select: (s: State) => T): T {
  const e = useEngine();
  return useSyncExternalStore(e.subscribe, () => select(e.getState()));
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
