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

/** Runs an async action with busy set meanwhile and its failure as error. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run(f: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run };
}
