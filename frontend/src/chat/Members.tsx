// The members of a room with their online state (presence), as a panel
// beside the log on wide screens and a sheet over a backdrop on phones.
// Close button, Escape and the backdrop close it; RoomView returns focus to
// the Members button.
import { useEffect, useRef } from "react";
import type { Member } from "../types";

export default function Members({
  members,
  meId,
  online,
  onClose,
  onMessage,
}: {
  members: Member[];
  meId: number;
  online: Readonly<Record<number, true>>;
  onClose: () => void;
  /** Starts (or opens) a direct message with a member; absent in a direct message. */
  onMessage?: (m: Member) => void;
}) {
  const closeRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    closeRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        onClose();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onClose]);
  // Online first, then by name.
  const sorted = [...members].sort((a, b) => Number(!isOnline(a.id)) - Number(!isOnline(b.id)) || a.name.localeCompare(b.name));
  function isOnline(id: number) {
    return id === meId || online[id] === true;
  }
  return (
    <>
      <div className="backdrop" aria-hidden="true" onClick={onClose} />
      <div className="members" id="members" role="dialog" aria-labelledby="members-title">
        <div className="members-head">
          <h3 id="members-title">Members</h3>
          <span className="meta">{members.length}</span>
          <button type="button" ref={closeRef} className="btn small" onClick={onClose}>
            Close
          </button>
        </div>
        <ul>
          {sorted.map((m) => {
            const on = isOnline(m.id);
            return (
              <li key={m.id}>
                <span className={"dot" + (on ? " on" : "")} aria-hidden="true" />
                <span className="member-name">
                  {m.name}
                  {m.id === meId ? " (you)" : ""}
                </span>
                <span className="meta">
                  {on ? "online" : "offline"}
                  {m.role !== "member" ? ` · ${m.role}` : ""}
                </span>
                {onMessage && m.id !== meId && (
                  <button type="button" className="btn small" aria-label={`Message ${m.name}`} onClick={() => onMessage(m)}>
                    Message
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      </div>
    </>
  );
}
