import { lazy, memo, Suspense, useCallback, useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { itemsOf } from "../store/chat";
import type { Item, Member } from "../types";
import { useEngine, useStore } from "./hooks";
import { membersText } from "./RoomList";

const MessageList = lazy(() => import("../list/MessageList"));
const Members = lazy(() => import("./Members"));
const InviteDialog = lazy(() => import("./InviteDialog"));

const EMPTY: Item[] = [];
const NO_MEMBERS: Member[] = [];
const NOBODY: Readonly<Record<number, true>> = {};

/** Phones and tablets: moving focus into a text box would open the keyboard over the room. */
const coarse = () => typeof matchMedia === "function" && matchMedia("(pointer: coarse)").matches;

export default function RoomView({ roomId }: { roomId: number }) {
  const engine = useEngine();
  const me = useStore((s) => s.me);
  const rooms = useStore((s) => s.rooms);
  const room = useMemo(() => rooms?.find((r) => r.id === roomId), [rooms, roomId]);
  const chat = useStore((s) => s.chats[roomId]);
  const loadedMembers = useStore((s) => s.members[roomId]);
  const members = loadedMembers ?? NO_MEMBERS;
  const online = useStore((s) => s.presence[roomId]) ?? NOBODY;
  const [showMembers, setShowMembers] = useState(false);
  const [inviting, setInviting] = useState(false);
  const membersBtn = useRef<HTMLButtonElement>(null);
  const inviteBtn = useRef<HTMLButtonElement>(null);
  const joinBtn = useRef<HTMLButtonElement>(null);
  const titleRef = useRef<HTMLHeadingElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const joined = room?.joined ?? false;

  useEffect(() => {
    if (joined) void engine.openRoom(roomId);
  }, [engine, roomId, joined]);

  // Focus follows the user into the room: the message box once joined (the
  // title on touch screens), else the Join button; never the page body.
  const found = room !== undefined;
  useEffect(() => {
    if (!found) return;
    if (!joined) joinBtn.current?.focus();
    else if (coarse()) titleRef.current?.focus();
    else document.getElementById("composer")?.focus();
  }, [found, joined]);

  const closeMembers = useCallback(() => {
    setShowMembers(false);
    membersBtn.current?.focus();
  }, []);
  const closeInvite = useCallback(() => {
    setInviting(false);
    inviteBtn.current?.focus();
  }, []);

  const msgs = chat?.msgs;
  const pending = chat?.pending;
  const items = useMemo(() => (chat ? itemsOf(chat) : EMPTY), [msgs, pending]); // eslint-disable-line react-hooks/exhaustive-deps

  const onNearTop = useCallback(() => void engine.loadOlder(roomId), [engine, roomId]);
  const onAtBottom = useCallback(() => engine.markRead(roomId), [engine, roomId]);
  const onRetry = useCallback((key: string) => engine.retry(roomId, key), [engine, roomId]);
  const onDiscard = useCallback((key: string) => engine.discard(roomId, key), [engine, roomId]);

  async function act(f: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  const count = loadedMembers ? loadedMembers.length : (room?.member_count ?? 0);
  if (!rooms) return <main className="room" aria-busy="true"><p className="placeholder">Loading…</p></main>;
  if (!room)
    return (
      <main className="room">
        <h2>Room not found</h2>
        <p>It does not exist, or it is private and you are not a member.</p>
      </main>
    );

  return (
    <main className="room" aria-labelledby="room-title" id="main">
      <header className="room-head">
        <a href="/" className="back" aria-label="Rooms" onClick={(e) => { e.preventDefault(); history.back(); }}>
          <span aria-hidden="true">←</span>
          <span className="wide-only"> Rooms</span>
        </a>
        <div className="room-title">
          <h2 id="room-title" ref={titleRef} tabIndex={-1}>{room.name}</h2>
          <span className="meta">
            {room.is_private ? "Private · " : ""}
            <span>{membersText(count)}</span>
          </span>
        </div>
        {joined && (
          <div className="room-actions">
            <button
              type="button"
              ref={membersBtn}
              className="btn small"
              aria-expanded={showMembers}
              aria-controls={showMembers ? "members" : undefined}
              onClick={() => (showMembers ? closeMembers() : setShowMembers(true))}
            >
              Members
            </button>
            <button type="button" ref={inviteBtn} className="btn small" aria-haspopup="dialog" onClick={() => setInviting(true)}>
              Invite
            </button>
            <button type="button" className="btn small" disabled={busy} onClick={() => act(() => engine.leave(roomId))}>
              Leave
            </button>
          </div>
        )}
      </header>
      {inviting && (
        <Suspense fallback={null}>
          <InviteDialog roomId={roomId} roomName={room.name} onClose={closeInvite} />
        </Suspense>
      )}
      {error && <p className="error" role="alert">{error}</p>}
      {!joined ? (
        <div className="join-card">
          <p>You are not in this room yet.</p>
          <button type="button" ref={joinBtn} className="btn primary" disabled={busy} onClick={() => act(() => engine.join(roomId))}>
            Join {room.name}
          </button>
        </div>
      ) : (
        <div className="room-body">
          <section className="log-wrap" aria-label="Conversation">
            {chat?.error && !chat.loaded ? (
              <div className="placeholder">
                <p role="alert">Could not load messages: {chat.error}</p>
                <button type="button" className="btn" onClick={() => void engine.openRoom(roomId)}>Try again</button>
              </div>
            ) : !chat?.loaded && items.length === 0 ? (
              <p className="placeholder" aria-busy="true">Loading messages…</p>
            ) : items.length === 0 ? (
              <p className="placeholder">No messages yet. Say hello!</p>
            ) : (
              <Suspense fallback={<p className="placeholder">Loading messages…</p>}>
                <MessageList
                  roomId={roomId}
                  items={items}
                  meId={me.id}
                  hasMore={chat?.hasMore ?? false}
                  loadingOlder={chat?.loadingOlder ?? false}
                  onNearTop={onNearTop}
                  onAtBottom={onAtBottom}
                  onRetry={onRetry}
                  onDiscard={onDiscard}
                />
              </Suspense>
            )}
            <LatestAnnouncer items={items} meId={me.id} />
          </section>
          {showMembers && (
            <Suspense fallback={<div className="members" id="members">Loading members…</div>}>
              <Members members={members} meId={me.id} online={online} onClose={closeMembers} />
            </Suspense>
          )}
        </div>
      )}
      {joined && <Typing roomId={roomId} members={members} items={items} />}
      {joined && <Composer roomId={roomId} roomName={room.name} />}
    </main>
  );
}

/** Screen readers hear others' new messages; the log itself is not a live region. */
const LatestAnnouncer = memo(function LatestAnnouncer({ items, meId }: { items: Item[]; meId: number }) {
  const last = items[items.length - 1];
  const first = useRef(last?.key);
  const text = last && last.key !== first.current && last.user.id !== meId ? `${last.user.name}: ${last.body.slice(0, 200)}` : "";
  return <div className="sr-only" aria-live="polite">{text}</div>;
});

function Typing({ roomId, members, items }: { roomId: number; members: Member[]; items: Item[] }) {
  const typing = useStore((s) => s.typing[roomId]);
  const names = useMemo(() => {
    if (!typing) return [];
    const byId = new Map<number, string>(members.map((m) => [m.id, m.name]));
    const out: string[] = [];
    for (const uid of Object.keys(typing)) {
      const id = Number(uid);
      let name = byId.get(id);
      if (!name) {
        for (let i = items.length - 1; i >= 0 && i >= items.length - 500; i--) {
          if (items[i].user.id === id) {
            name = items[i].user.name;
            break;
          }
        }
      }
      out.push(name ?? "Someone");
    }
    return out;
  }, [typing, members, items]);
  const text =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
  return (
    <div className="typing" aria-live="polite">
      {text}
    </div>
  );
}

function Composer({ roomId, roomName }: { roomId: number; roomName: string }) {
  const engine = useEngine();
  const [text, setText] = useState("");
  const id = useId();
  const tooLong = new TextEncoder().encode(text).length > 4096;
  const send = () => {
    if (!text.trim() || tooLong) return;
    engine.send(roomId, text);
    setText("");
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };
  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label htmlFor="composer" className="sr-only">
        Message {roomName}
      </label>
      <textarea
        id="composer"
        rows={1}
        value={text}
        placeholder={`Message ${roomName}`}
        aria-describedby={tooLong ? id + "e" : undefined}
        aria-invalid={tooLong || undefined}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value) engine.typing(roomId);
        }}
        onKeyDown={onKey}
      />
      <button type="submit" className="btn primary" disabled={!text.trim() || tooLong}>
        Send
      </button>
      {tooLong && (
        <p className="error" id={id + "e"}>
          Too long: messages are limited to 4 KiB.
        </p>
      )}
    </form>
  );
}
