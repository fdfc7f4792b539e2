// Desktop notifications (Notification API), loaded only once the user has
// turned them on with the bell: the server's `mention` frame (it resolves
// "@name" against the room's members, PROTOCOL.md: Mentions) unless we are
// looking at that room, and any message of a direct message (kind "dm")
// unless we are looking at it.
import type { Engine, Mention } from "../store/engine";
import { roomTitle, type Item, type RoomInfo } from "../types";

const bodyText = (body: string, files: number) => body.slice(0, 200) || (files === 1 ? "sent a file" : `sent ${files} files`);

export interface NotifyDeps {
  engine: Engine;
  /** The open room, if any. */
  currentRoom: () => number | null;
  hidden: () => boolean;
  show: (title: string, body: string, tag: string, onClick: () => void) => void;
  open: (room: number) => void;
}

/** Whether a message (not a mention: those come as their own frame), arriving in room, is worth a desktop notification. */
export function shouldNotify(_m: Item, room: RoomInfo, current: number | null, hidden: boolean): "dm" | null {
  if (!room.joined) return null;
  if (room.kind === "dm" && (hidden || current !== room.id)) return "dm";
  return null;
}

/** Whether a mention frame is worth one: not while we look at its room. */
export function shouldNotifyMention(room: RoomInfo, current: number | null, hidden: boolean): boolean {
  return room.joined && (hidden || current !== room.id);
}

export function startNotifier(d: NotifyDeps): () => void {
  const offMessages = d.engine.onIncoming((room, m) => {
    if (!shouldNotify(m, room, d.currentRoom(), d.hidden())) return;
    d.show(`${m.user.name} (direct message)`, bodyText(m.body, m.files?.length ?? 0), `room-${room.id}`, () => d.open(room.id));
  });
  const offMentions = d.engine.onMention((room, m: Mention) => {
    if (!shouldNotifyMention(room, d.currentRoom(), d.hidden())) return;
    d.show(`${m.user.name} mentioned you in ${roomTitle(room)}`, m.body.slice(0, 200), `mention-${room.id}-${m.seq}`, () => d.open(room.id));
  });
  return () => {
    offMessages();
    offMentions();
  };
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
