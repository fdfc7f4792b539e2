// The top bar's two toggles: the colour scheme and desktop notifications.
import { useEffect, useState } from "react";
import { navigate } from "../router";
import { setTheme, storedTheme, systemTheme, type Theme } from "../theme";
import { useEngine, useStore } from "./hooks";

const SUN = "M12 7a5 5 0 1 0 0 10 5 5 0 0 0 0-10ZM12 1v3M12 20v3M1 12h3M20 12h3M4.2 4.2l2.1 2.1M17.7 17.7l2.1 2.1M4.2 19.8l2.1-2.1M17.7 6.3l2.1-2.1";
const MOON = "M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8Z";
const BELL = "M18 8a6 6 0 1 0-12 0c0 7-3 9-3 9h18s-3-2-3-9M13.7 21a2 2 0 0 1-3.4 0";
const BELL_OFF = BELL + "M2 2l20 20";

function Icon({ d }: { d: string }) {
  return (
    <svg aria-hidden="true" width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
      <path d={d} />
    </svg>
  );
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
      <Icon d={theme === "dark" ? MOON : SUN} />
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
        meName: me.name,
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
      <Icon d={on ? BELL : BELL_OFF} />
      <span className="sr-only">Notifications</span>
    </button>
  );
}
