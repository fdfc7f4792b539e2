import { lazy, Suspense, useEffect, useMemo, useState } from "react";
import { api } from "../api";
import type { Route } from "../router";
import { navigate } from "../router";
import { Engine, unreadOf } from "../store/engine";
import { roomTitle, type User } from "../types";
import { ConnectionBanner, Notice } from "./Banner";
import { EngineContext, useEngine, useStore } from "./hooks";
import RoomList from "./RoomList";
import { NotifyToggle, ThemeToggle } from "./Toggles";

const RoomView = lazy(() => import("./RoomView"));
const SearchView = lazy(() => import("./SearchView"));
const AccountView = lazy(() => import("./AccountView"));

declare global {
  interface Window {
    __chatgate?: Engine;
  }
}

export default function ChatApp({ me, route, onSignedOut }: { me: User; route: Route; onSignedOut: () => void }) {
  const engine = useMemo(() => new Engine(me, { onUnauthorized: onSignedOut }), [me, onSignedOut]);
  useEffect(() => {
    engine.start();
    window.__chatgate = engine; // a handle for the browser tests and debugging
    return () => engine.stop();
  }, [engine]);

  const roomId = route.name === "room" ? route.id : null;
  return (
    <EngineContext.Provider value={engine}>
      <TabTitle roomId={roomId} />
      <div className={"app" + (roomId ? " in-room" : route.name === "search" ? " in-search" : route.name === "account" ? " in-account" : "")}>
        <SkipLink inRoom={roomId !== null} />
        <header className="topbar">
          <a
            href="/"
            className="brand-link"
            onClick={(e) => {
              e.preventDefault();
              navigate("/");
            }}
          >
            Chatgate
          </a>
          <span className="whoami">
            Signed in as{" "}
            <a
              href="/account"
              title="Your account: password, sessions"
              onClick={(e) => {
                e.preventDefault();
                navigate("/account");
              }}
            >
              <strong>{me.name}</strong>
            </a>{" "}
            <span className="user-id">(user id {me.id})</span>
          </span>
          <SearchForm q={route.name === "search" ? route.q : ""} />
          <ThemeToggle />
          <NotifyToggle currentRoom={roomId} />
          <button
            type="button"
            className="btn small"
            onClick={() => {
              engine.stop();
              api("/api/auth/logout", { body: {} }).finally(onSignedOut);
            }}
          >
            Sign out
          </button>
        </header>
        <ConnectionBanner />
        <Notice />
        <div className="panes">
          <RoomList current={roomId} />
          {roomId ? (
            <RoomPane roomId={roomId} />
          ) : route.name === "search" ? (
            <SuspenseMain>
              <SearchView q={route.q} />
            </SuspenseMain>
          ) : route.name === "account" ? (
            <SuspenseMain>
              <AccountView onSignedOut={onSignedOut} />
            </SuspenseMain>
          ) : (
            <Welcome />
          )}
        </div>
      </div>
    </EngineContext.Provider>
  );
}

/** Full-text search of the messages of our rooms: the results page is /search?q=. */
function SearchForm({ q }: { q: string }) {
  return (
    <form
      role="search"
      className="search-form"
      key={q}
      onSubmit={(e) => {
        e.preventDefault();
        const v = String(new FormData(e.currentTarget).get("q") ?? "").trim();
        if (v) navigate(`/search?q=${encodeURIComponent(v)}`);
      }}
    >
      <input type="search" name="q" defaultValue={q} aria-label="Search messages" placeholder="Search messages" maxLength={256} />
    </form>
  );
}

/** The first Tab stop: straight to the message box (or the page's main part). */
function SkipLink({ inRoom }: { inRoom: boolean }) {
  return (
    <a
      href={inRoom ? "#composer" : "#main"}
      className="skip-link"
      onClick={(e) => {
        e.preventDefault();
        (document.getElementById("composer") ?? document.getElementById("main"))?.focus();
      }}
    >
      {inRoom ? "Skip to message box" : "Skip to main content"}
    </a>
  );
}

/** "(3) General · Chatgate": unread messages in joined rooms, then the open room. */
function TabTitle({ roomId }: { roomId: number | null }) {
  const rooms = useStore((s) => s.rooms);
  const engine = useEngine();
  useEffect(() => {
    let unread = 0;
    let name = "";
    for (const r of rooms ?? []) {
      unread += unreadOf(r);
      if (r.id === roomId) name = roomTitle(r);
    }
    document.title = (unread ? `(${unread > 999 ? "999+" : unread}) ` : "") + (name ? `${name} · ` : "") + "Chatgate";
  }, [rooms, roomId, engine]);
  useEffect(() => () => void (document.title = "Chatgate"), []);
  return null;
}

function RoomPane({ roomId }: { roomId: number }) {
  // Suspense for the room chunk: only the first room visit waits for it.
  return (
    <SuspenseMain>
      <RoomView key={roomId} roomId={roomId} />
    </SuspenseMain>
  );
}

function SuspenseMain({ children }: { children: React.ReactNode }) {
  return (
    <Suspense
      fallback={
        <main className="room" aria-busy="true">
          <p className="placeholder">Opening room…</p>
        </main>
      }
    >
      {children}
    </Suspense>
  );
}

function Welcome() {
  const rooms = useStore((s) => s.rooms);
  const [hint] = useState(() => "Pick a room on the left, or create one.");
  return (
    <main className="room welcome" id="main" tabIndex={-1}>
      <h2>Welcome</h2>
      <p>{rooms && rooms.length === 0 ? "There are no rooms yet. Create the first one." : hint}</p>
    </main>
  );
}
