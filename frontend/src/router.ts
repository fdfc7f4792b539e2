// A tiny history router read through useSyncExternalStore.
import { useSyncExternalStore } from "react";

const listeners = new Set<() => void>();
const emit = () => listeners.forEach((l) => l());
if (typeof window !== "undefined") window.addEventListener("popstate", emit);

export function navigate(path: string, replace = false) {
  if (path === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  emit();
}

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** The path with its query (the search page keeps its words there). */
export function usePath(): string {
  return useSyncExternalStore(subscribe, () => location.pathname + location.search);
}

export type Route =
  | { name: "login" }
  | { name: "signup" }
  | { name: "home" }
  | { name: "room"; id: number }
  | { name: "search"; q: string }
  | { name: "account" };

export function parseRoute(full: string): Route {
  const [path, query = ""] = full.split("?", 2);
  if (path === "/search") return { name: "search", q: new URLSearchParams(query).get("q") ?? "" };
  if (path === "/login") return { name: "login" };
  if (path === "/signup") return { name: "signup" };
  if (path === "/account") return { name: "account" };
  const m = /^\/rooms\/(\d+)\/?$/.exec(path);
  if (m) return { name: "room", id: Number(m[1]) };
  return { name: "home" };
}
