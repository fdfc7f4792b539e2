import { useEffect, useState } from "react";
import { useEngine, useStore } from "./hooks";

/**
 * Connecting / reconnecting / offline, with a countdown and "Retry now": one
 * line in the page flow under the header, so it never covers navigation.
 * Offline is the browser's word (navigator.onLine), shown even while the
 * socket has not noticed yet.
 */
export function ConnectionBanner() {
  const engine = useEngine();
  const conn = useStore((s) => s.conn);
  const online = useStore((s) => s.online);
  const retryAt = useStore((s) => s.retryAt);
  const [now, setNow] = useState(() => Date.now());
  // Show "connecting" only if it takes a moment: no flash on a fast start.
  const [late, setLate] = useState(false);
  useEffect(() => {
    if (conn === "open") {
      setLate(false);
      return;
    }
    const t = setTimeout(() => setLate(true), conn === "connecting" ? 600 : 0);
    return () => clearTimeout(t);
  }, [conn]);
  useEffect(() => {
    if (!retryAt) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [retryAt]);

  const offline = !online || conn === "offline";
  const show = offline || (conn !== "open" && late);
  let text = "";
  let long = "";
  if (offline) {
    text = "You are offline.";
    long = " Messages you send go out when you are back.";
  } else if (conn === "connecting") text = "Connecting…";
  else if (conn === "reconnecting") {
    const s = retryAt ? Math.ceil((retryAt - now) / 1000) : 0;
    text = s > 0 ? `Reconnecting in ${s} s…` : "Reconnecting…";
    long = "Connection lost. ";
  }
  return (
    <div className={"banner" + (show ? " show" : "") + (offline ? " offline" : "")} role="status" aria-live="polite">
      {show && (
        <>
          <span className="banner-text">
            {conn === "reconnecting" && !offline && <span className="wide-only">{long}</span>}
            {text}
            {offline && <span className="wide-only">{long}</span>}
          </span>
          {conn !== "connecting" && !offline && (
            <button type="button" className="btn small" onClick={engine.retryNow}>
              Retry now
            </button>
          )}
        </>
      )}
    </div>
  );
}

export function Notice() {
  const engine = useEngine();
  const notice = useStore((s) => s.notice);
  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(engine.dismissNotice, 8000);
    return () => clearTimeout(t);
  }, [notice, engine]);
  if (!notice) return null;
  return (
    <div className="notice" role="alert">
      <span>{notice.text}</span>
      <button type="button" className="btn small" onClick={engine.dismissNotice} aria-label="Dismiss">
        ×
      </button>
    </div>
  );
}
