// Desktop notifications (Notification API), loaded only once the user has
// turned them on with the bell: a message that mentions us ("@name"), or
// any message in a room while we are not looking at it (the tab hidden, or
// another room open). Direct messages are not a room kind the protocol has
// yet; when they are, they belong in the second case.
import type { Engine } from "../store/engine";
import { mentions } from "../store/mentions";
import type { Item, RoomInfo } from "../types";

export interface NotifyDeps {
  engine: Engine;
  meName: string;
  /** The open room, if any. */
  currentRoom: () => number | null;
  hidden: () => boolean;
  show: (title: string, body: string, tag: string, onClick: () => void) => void;
  open: (room: number) => void;
}

/** Whether m, arriving in room, is worth a desktop notification. */
export function shouldNotify(m: Item, meName: string, room: RoomInfo, current: number | null, hidden: boolean): "mention" | "hidden" | null {
  if (!room.joined) return null;
  if (mentions(m.body, meName) && (hidden || current !== room.id)) return "mention";
  if (hidden && room.is_private && room.member_count === 2) return "hidden"; // a two-person private room is a conversation
  return null;
}

export function startNotifier(d: NotifyDeps): () => void {
  return d.engine.onIncoming((room, m) => {
    const why = shouldNotify(m, d.meName, room, d.currentRoom(), d.hidden());
    if (!why) return;
    const title = why === "mention" ? `${m.user.name} mentioned you in ${room.name}` : `${m.user.name} in ${room.name}`;
    d.show(title, m.body.slice(0, 200), `room-${room.id}`, () => d.open(room.id));
  });
}

export function browserShow(title: string, body: string, tag: string, onClick: () => void) {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  const n = new Notification(title, { body, tag });
  n.onclick = () => {
    window.focus();
    onClick();
    n.close();
  };
}
