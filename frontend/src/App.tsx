// The shell: decides between the sign-in screens and the chat, both loaded
// on demand (React.lazy), so the first paint needs only React and this file.
import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import { api, ApiError, sessionHint } from "./api";
import { navigate, parseRoute, usePath } from "./router";
import type { User } from "./types";

const loadChat = () => import("./chat/ChatApp");
const loadAuth = () => import("./auth/AuthScreen");
const ChatApp = lazy(loadChat);
const AuthScreen = lazy(loadAuth);

type Session = { state: "checking" } | { state: "anon" } | { state: "user"; user: User } | { state: "error"; message: string };

export function Boot({ text = "Loading…" }: { text?: string }) {
  return (
    <div className="boot" aria-busy="true">
      <h1 className="brand">Chatgate</h1>
      <p>{text}</p>
    </div>
  );
}

export default function App() {
  const route = parseRoute(usePath());
  // Ask the server only when a session is likely: the hint from an earlier
  // sign-in, or a deep link into a room. A first visit shows the form at once.
  const [session, setSession] = useState<Session>(() =>
    sessionHint.get() || route.name === "room" ? { state: "checking" } : { state: "anon" },
  );

  const check = useCallback(() => {
    setSession({ state: "checking" });
    // Fetch the chat chunks while /api/me is in flight.
    void loadChat();
    if (parseRoute(location.pathname).name === "room") {
      void import("./chat/RoomView");
      void import("./list/MessageList");
    }
    api<User>("/api/me").then(
      (user) => setSession({ state: "user", user }),
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 401) {
          sessionHint.set(false);
          setSession({ state: "anon" });
        } else setSession({ state: "error", message: e instanceof Error ? e.message : String(e) });
      },
    );
  }, []);

  useEffect(() => {
    if (session.state === "checking") check();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const signedIn = useCallback((user: User) => {
    sessionHint.set(true);
    setSession({ state: "user", user });
    const next = parseRoute(location.pathname);
    if (next.name === "login" || next.name === "signup") navigate("/", true);
  }, []);

  const signedOut = useCallback(() => {
    sessionHint.set(false);
    setSession({ state: "anon" });
    navigate("/login", true);
  }, []);

  useEffect(() => {
    if (session.state === "anon" && route.name !== "login" && route.name !== "signup") navigate("/login", true);
    if (session.state === "user" && (route.name === "login" || route.name === "signup")) navigate("/", true);
  }, [session.state, route.name]);

  if (session.state === "checking") return <Boot />;
  if (session.state === "error")
    return (
      <div className="boot">
        <h1 className="brand">Chatgate</h1>
        <p role="alert">{session.message}</p>
        <button type="button" className="btn" onClick={check}>
          Try again
        </button>
      </div>
    );
  return (
    <Suspense fallback={<Boot />}>
      {session.state === "anon" ? (
        <AuthScreen mode={route.name === "signup" ? "signup" : "login"} onSignedIn={signedIn} />
      ) : (
        <ChatApp me={session.user} route={route} onSignedOut={signedOut} />
      )}
    </Suspense>
  );
}
