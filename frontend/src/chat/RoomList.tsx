import { memo, useId, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { navigate } from "../router";
import { unreadOf } from "../store/engine";
import { roomTitle, type RoomInfo } from "../types";
import { useDebounced, useEngine, useStore } from "./hooks";

export const membersText = (n: number) => `${n} ${n === 1 ? "member" : "members"}`;

const RoomLink = memo(function RoomLink({ room, current, tabbable }: { room: RoomInfo; current: boolean; tabbable: boolean }) {
  const unread = unreadOf(room);
  const mentions = room.joined ? (room.unread_mentions ?? 0) : 0;
  return (
    <li>
      <a
        href={`/rooms/${room.id}`}
        className={"room-link" + (current ? " current" : "") + (unread ? " unread" : "")}
        aria-current={current ? "page" : undefined}
        tabIndex={tabbable ? 0 : -1}
        data-room={room.id}
        onClick={(e) => {
          e.preventDefault();
          navigate(`/rooms/${room.id}`);
        }}
      >
        <span className="room-name">{roomTitle(room)}</span>
        {room.is_private && room.kind !== "dm" && <span className="tag">private</span>}
        {mentions > 0 && (
          <span className="badge mentions" aria-label={mentions === 1 ? "1 mention" : `${mentions} mentions`}>
            @{mentions > 99 ? "99+" : mentions}
          </span>
        )}
        {unread > 0 && (
          <span className="badge" aria-label={`${unread} unread`}>
            {unread > 999 ? "999+" : unread}
          </span>
        )}
        {!room.joined && <span className="meta">{membersText(room.member_count)}</span>}
      </a>
    </li>
  );
});

export default function RoomList({ current }: { current: number | null }) {
  const rooms = useStore((s) => s.rooms);
  const error = useStore((s) => s.roomsError);
  const engine = useEngine();
  const [filter, setFilter] = useState("");
  const q = useDebounced(filter.trim().toLowerCase(), 150);
  const id = useId();
  const listsRef = useRef<HTMLDivElement>(null);
  // Roving tabindex: the room links are one Tab stop; arrows, Home and End move within.
  const [focused, setFocused] = useState<number | null>(null);

  const { mine, dms, others } = useMemo(() => {
    const list = (rooms ?? []).filter((r) => !q || roomTitle(r).toLowerCase().includes(q));
    return {
      mine: list.filter((r) => r.joined && r.kind !== "dm"),
      dms: list.filter((r) => r.kind === "dm"),
      others: list.filter((r) => !r.joined && r.kind !== "dm"),
    };
  }, [rooms, q]);
  const ids = useMemo(() => [...mine, ...dms, ...others].map((r) => r.id), [mine, dms, others]);
  const tabbable = focused !== null && ids.includes(focused) ? focused : current !== null && ids.includes(current) ? current : ids[0];

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const links = [...(listsRef.current?.querySelectorAll<HTMLAnchorElement>("a[data-room]") ?? [])];
    const at = links.indexOf(document.activeElement as HTMLAnchorElement);
    if (at < 0 || links.length === 0) return;
    const to = rovingTarget(e.key, at, links.length);
    if (to === null) return;
    e.preventDefault();
    links[to].focus();
    setFocused(Number(links[to].dataset.room));
  };

  return (
    <nav className="sidebar" aria-label="Rooms">
      <div className="field">
        <label htmlFor={id + "f"}>Find a room</label>
        <input id={id + "f"} type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="Room name" />
      </div>
      {error && (
        <p className="error" role="alert">
          Could not load rooms: {error}{" "}
          <button type="button" className="link" onClick={() => void engine.loadRooms()}>
            Retry
          </button>
        </p>
      )}
      {!rooms && !error && <p className="placeholder">Loading rooms…</p>}
      {rooms && (
        <div ref={listsRef} onKeyDown={onKeyDown}>
          <h2 className="section">Your rooms</h2>
          {mine.length ? (
            <ul className="rooms">
              {mine.map((r) => (
                <RoomLink key={r.id} room={r} current={r.id === current} tabbable={r.id === tabbable} />
              ))}
            </ul>
          ) : (
            <p className="placeholder">{q ? "No match." : "You have not joined any room yet."}</p>
          )}
          {dms.length > 0 && (
            <>
              <h2 className="section">Direct messages</h2>
              <ul className="rooms" aria-label="Direct messages">
                {dms.map((r) => (
                  <RoomLink key={r.id} room={r} current={r.id === current} tabbable={r.id === tabbable} />
                ))}
              </ul>
            </>
          )}
          <h2 className="section">Public rooms</h2>
          {others.length ? (
            <ul className="rooms">
              {others.map((r) => (
                <RoomLink key={r.id} room={r} current={r.id === current} tabbable={r.id === tabbable} />
              ))}
            </ul>
          ) : (
            <p className="placeholder">{q ? "No match." : "No other public rooms."}</p>
          )}
        </div>
      )}
      <CreateRoom />
    </nav>
  );
}

function CreateRoom() {
  const engine = useEngine();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const name = String(f.get("name") ?? "").trim();
    if (!name) {
      setError("Give the room a name.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const room = await engine.createRoom(name, f.get("private") === "on");
      form.reset();
      navigate(`/rooms/${room.id}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="create" onSubmit={submit} aria-labelledby={id + "t"}>
      <h2 className="section" id={id + "t"}>
        New room
      </h2>
      <div className="field">
        <label htmlFor={id + "n"}>Room name</label>
        <input id={id + "n"} name="name" maxLength={100} required />
      </div>
      <div className="check">
        <input id={id + "p"} name="private" type="checkbox" />
        <label htmlFor={id + "p"}>Private (invite only)</label>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="btn primary" disabled={busy}>
        Create room
      </button>
    </form>
  );
}

/** Where a key moves focus in a list of n (roving tabindex), or null for other keys. */
export function rovingTarget(key: string, at: number, n: number): number | null {
  switch (key) {
    case "ArrowDown":
      return Math.min(n - 1, at + 1);
    case "ArrowUp":
      return Math.max(0, at - 1);
    case "Home":
      return 0;
    case "End":
      return n - 1;
    default:
      return null;
  }
}
