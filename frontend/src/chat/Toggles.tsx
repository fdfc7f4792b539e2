// The top bar's two toggles: the colour scheme and desktop notifications.
import { useEffect, useState } from "react";
import { navigate } from "../router";
import { setTheme, storedTheme, systemTheme, type Theme } from "../theme";
import { useEngine, useStore } from "./hooks";

// Icons are files (public/icons/) drawn as CSS masks in the text colour:
// no inline SVG in the DOM.
function Icon({ name }: { name: "sun" | "moon" | "bell" | "bell-off" }) {
  return <span aria-hidden="true" className={"icon icon-" + name} />;
}

export function ThemeToggle() {
  const [theme, set] = useState<Theme>(() => storedTheme() ?? systemTheme());
  return (
    <button
      type="button"
      className="btn small icon"
      aria-pressed={theme === "dark"}
      title={theme === "dark" ? "Dark theme is on" : "Dark theme is off"}
      onClick={() => {
        const next = theme === "dark" ? "light" : "dark";
        setTheme(next);
        set(next);
      }}
    >
      <Icon name={theme === "dark" ? "moon" : "sun"} />
      <span className="sr-only">Dark theme</span>
    </button>
  );
}

const NOTIFY_KEY = "chatgate_notify";
const notifySupported = () => typeof Notification !== "undefined";
function notifyWanted(): boolean {
  try {
    return localStorage.getItem(NOTIFY_KEY) === "on";
  } catch {
    return false;
  }
}

/** The bell: permission is asked for only when it is pressed (a user action). */
export function NotifyToggle({ currentRoom }: { currentRoom: number | null }) {
  const engine = useEngine();
  const me = useStore((s) => s.me);
  const [on, setOn] = useState(() => notifySupported() && notifyWanted() && Notification.permission === "granted");
  const [denied, setDenied] = useState(() => notifySupported() && Notification.permission === "denied");
  const [current] = useState(() => ({ room: currentRoom }));
  current.room = currentRoom;

  useEffect(() => {
    if (!on) return;
    let stop: (() => void) | null = null;
    let cancelled = false;
    void import("./notify").then((n) => {
      if (cancelled) return;
      stop = n.startNotifier({
        engine,
        currentRoom: () => current.room,
        hidden: () => document.hidden,
        show: n.browserShow,
        open: (room) => navigate(`/rooms/${room}`),
      });
    });
    return () => {
      cancelled = true;
      stop?.();
    };
  }, [on, engine, me.name, current]);

  if (!notifySupported()) return null;
  return (
    <button
      type="button"
      className="btn small icon"
      aria-pressed={on}
      title={denied ? "Notifications are blocked in the browser's site settings" : on ? "Notifications are on" : "Notify me of mentions"}
      onClick={async () => {
        let next = !on;
        if (next && Notification.permission !== "granted") {
          const p = await Notification.requestPermission();
          setDenied(p === "denied");
          next = p === "granted";
        }
        try {
          localStorage.setItem(NOTIFY_KEY, next ? "on" : "off");
        } catch {
          /* not remembered */
        }
        setOn(next);
      }}
    >
      <Icon name={on ? "bell" : "bell-off"} />
      <span className="sr-only">Notifications</span>
    </button>
  );
}
