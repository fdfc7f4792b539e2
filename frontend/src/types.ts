// The wire types of PROTOCOL.md that the client uses.

export interface User {
  id: number;
  name: string;
  email?: string;
}

export interface RoomInfo {
  id: number;
  name: string;
  is_private: boolean;
  member_count: number;
  last_seq: number;
  joined: boolean;
  last_read_seq?: number;
  /** The caller's mentions above last_read_seq (GET /api/rooms only). */
  unread_mentions?: number;
  /** The caller's messages above last_read_seq, room events not counted (GET /api/rooms only). */
  unread?: number;
  /** "dm": a direct message (two members, no owner); else "room". */
  kind?: string;
  topic?: string;
  /** A direct message's other member (POST/GET /api/dms). */
  peer?: { id: number; name: string };
}

/** What the room list and the header call a room: a direct message by its peer. */
export const roomTitle = (r: RoomInfo) => (r.kind === "dm" && r.peer ? r.peer.name : r.name);

export interface Member {
  id: number;
  name: string;
  role: string;
}

/** MSG of PROTOCOL.md, or a room event (EVENT: type edit, delete or
 *  reaction, about the message target): entries of one stream. */
export interface WireMsg {
  type?: string;
  room: number;
  seq: number;
  user: { id: number; name: string };
  body: string;
  cid?: string;
  ts: string;
  edited_at?: string;
  deleted?: boolean;
  /** Seq of the last room event this message's state shows. */
  rev?: number;
  target?: number;
  /** Attached uploads, in upload order (PROTOCOL.md: Files). */
  files?: FileInfo[];
  /** Reactions in order of first reaction: user ids, oldest first. */
  reactions?: Reaction[];
  /** A reaction event: the emoji and whether it was added or removed. */
  emoji?: string;
  op?: "add" | "remove";
}

/** FILE of PROTOCOL.md: width and height for images only; url relative to the site. */
export interface FileInfo {
  id: number;
  name: string;
  type: string;
  size: number;
  width?: number;
  height?: number;
  url: string;
}

export interface Reaction {
  emoji: string;
  users: number[];
}

/** A message as the list shows it: a stored one or one of ours not yet acked. */
export interface Item extends WireMsg {
  /** Stable row key: "c<cid>" for our own messages (same before and after
   *  the ack, so the row keeps its measured height), else "s<seq>". */
  key: string;
  /** Only on our unacked messages. */
  state?: "sending" | "failed";
  error?: string;
}

export type ServerEvent =
  | ({ type: "message" | "edit" | "delete" | "reaction" } & WireMsg)
  | { type: "ack"; cid: string; room: number; seq: number; duplicate?: boolean; target?: number; noop?: boolean }
  | { type: "mention"; room: number; seq: number; user: { id: number; name: string }; body: string; ts: string }
  | { type: "error"; code: string; message: string; cid?: string; room?: number }
  | { type: "subscribed"; room: number; last_seq: number }
  | { type: "unsubscribed"; room: number }
  | { type: "rooms"; room: number; why: "dm" | "invited" | "updated" }
  | { type: "typing"; room: number; user: number }
  | { type: "presence"; room: number; user: number; online: boolean }
  | { type: "pong" };
