import { lazy, memo, Suspense, useCallback, useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { itemsOf } from "../store/chat";
import type { Item, Member } from "../types";
import { useAction, useEngine, useStore } from "./hooks";
import { membersText } from "./RoomList";
import { editable, mentionKey, type RowActions, type RowOpen } from "../list/rowActions";
import { jumpDone, jumpOf } from "../list/viewState";
import { roomTitle, type FileInfo } from "../types";
import { navigate } from "../router";
import { sizeText, uploadFile } from "./upload";

const MessageList = lazy(() => import("../list/MessageList"));
const Members = lazy(() => import("./Members"));
const InviteDialog = lazy(() => import("./InviteDialog"));
const RoomSettings = lazy(() => import("./RoomSettings"));

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
  const [settings, setSettings] = useState(false);
  const settingsBtn = useRef<HTMLButtonElement>(null);
  const membersBtn = useRef<HTMLButtonElement>(null);
  const inviteBtn = useRef<HTMLButtonElement>(null);
  const joinBtn = useRef<HTMLButtonElement>(null);
  const titleRef = useRef<HTMLHeadingElement>(null);
  const { busy, error, run: act } = useAction();
  const joined = room?.joined ?? false;
  const dm = room?.kind === "dm";
  // Opened from a search result: that message is shown, marked and focused.
  const [hit] = useState(() => jumpOf(roomId));
  useEffect(() => jumpDone(roomId), [roomId]);

  useEffect(() => {
    if (joined) void engine.openRoom(roomId);
  }, [engine, roomId, joined]);

  // Focus follows the user into the room: the message box once joined (the
  // title on touch screens), else the Join button; never the page body.
  const found = room !== undefined;
  useEffect(() => {
    if (!found) return;
    if (!joined) joinBtn.current?.focus();
    else if (hit) return; // the list focuses the message
    else if (coarse()) titleRef.current?.focus();
    else document.getElementById("composer")?.focus();
  }, [found, joined, hit]);

  const closeMembers = useCallback(() => {
    setShowMembers(false);
    membersBtn.current?.focus();
  }, []);
  const closeInvite = useCallback(() => {
    setInviting(false);
    inviteBtn.current?.focus();
  }, []);
  const closeSettings = useCallback(() => {
    setSettings(false);
    settingsBtn.current?.focus();
  }, []);
  /** A member's "Message" button: our direct message with them. */
  const messageMember = useCallback(
    (m: Member) =>
      void engine.openDm(m.id).then(
        (r) => navigate(`/rooms/${r.id}`),
        (e: unknown) => engine.notify(e instanceof Error ? e.message : String(e)),
      ),
    [engine],
  );

  const msgs = chat?.msgs;
  const pending = chat?.pending;
  const items = useMemo(() => (chat ? itemsOf(chat) : EMPTY), [msgs, pending]); // eslint-disable-line react-hooks/exhaustive-deps

  const onNearTop = useCallback(() => void engine.loadOlder(roomId), [engine, roomId]);
  const onAtBottom = useCallback(() => engine.markRead(roomId), [engine, roomId]);
  const onRetry = useCallback((key: string) => engine.retry(roomId, key), [engine, roomId]);
  const onDiscard = useCallback((key: string) => engine.discard(roomId, key), [engine, roomId]);

  // One row at a time has its menu, picker, editor or confirmation open.
  const [open, setOpen] = useState<RowOpen | null>(null);
  const owner = members.some((m) => m.id === me.id && m.role === "owner");
  const actions = useMemo<RowActions>(() => {
    const failed = (e: unknown) => {
      engine.notify(e instanceof Error ? e.message : String(e));
      throw e;
    };
    return {
      canEdit: (m) => editable(m, me.id, Date.now()),
      canDelete: (m) => !m.deleted && (m.user.id === me.id || owner),
      setOpen,
      edit: (m, body) => engine.edit(roomId, m.seq, body).catch(failed),
      remove: (m) => engine.deleteMessage(roomId, m.seq).catch(failed),
      react: (m, emoji, on) => void engine.react(roomId, m.seq, emoji, on).catch((e) => engine.notify(e instanceof Error ? e.message : String(e))),
      names: new Set(members.map((m) => mentionKey(m.name))),
      meName: mentionKey(me.name),
    };
  }, [engine, roomId, me, owner, members]);


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
          <h2 id="room-title" ref={titleRef} tabIndex={-1}>{roomTitle(room)}</h2>
          <span className="meta">
            {dm ? "Direct message" : <>{room.is_private ? "Private · " : ""}<span>{membersText(count)}</span></>}
            {room.topic ? <span className="topic"> · {room.topic}</span> : null}
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
            {!dm && (
              <button type="button" ref={inviteBtn} className="btn small" aria-haspopup="dialog" onClick={() => setInviting(true)}>
                Invite
              </button>
            )}
            {owner && !dm && (
              <button type="button" ref={settingsBtn} className="btn small" aria-haspopup="dialog" onClick={() => setSettings(true)}>
                Settings
              </button>
            )}
            {!dm && (
              <button type="button" className="btn small" disabled={busy} onClick={() => act(() => engine.leave(roomId))}>
                Leave
              </button>
            )}
          </div>
        )}
      </header>
      {inviting && (
        <Suspense fallback={null}>
          <InviteDialog roomId={roomId} roomName={room.name} onClose={closeInvite} />
        </Suspense>
      )}
      {settings && (
        <Suspense fallback={null}>
          <RoomSettings room={room} onClose={closeSettings} />
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
                  actions={actions}
                  open={open}
                  highlight={hit}
                />
              </Suspense>
            )}
            <LatestAnnouncer items={items} meId={me.id} />
          </section>
          {showMembers && (
            <Suspense fallback={<div className="members" id="members">Loading members…</div>}>
              <Members members={members} meId={me.id} online={online} onClose={closeMembers} onMessage={dm ? undefined : messageMember} />
            </Suspense>
          )}
        </div>
      )}
      {joined && <Typing roomId={roomId} members={members} items={items} />}
      {joined && <Composer roomId={roomId} roomName={roomTitle(room)} members={members} meId={me.id} />}
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

/** The @name being typed just before the caret, if any: its start and what is typed so far. */
export function mentionQuery(text: string, caret: number): { start: number; q: string } | null {
  const m = /(^|\s)@([\p{L}\p{N}_.-]*)$/u.exec(text.slice(0, caret));
  return m ? { start: m.index + m[1].length, q: m[2].toLowerCase() } : null;
}

function Composer({ roomId, roomName, members, meId }: { roomId: number; roomName: string; members: Member[]; meId: number }) {
  const engine = useEngine();
  const [text, setText] = useState("");
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const id = useId();
  const tooLong = new TextEncoder().encode(text).length > 4096;
  const { uploads, addFiles, removeUpload, clearUploads } = useUploads(roomId);
  const ready = uploads.filter((u) => u.file).map((u) => u.file!);
  const uploading = uploads.some((u) => !u.file && !u.error);
  // @-autocomplete of the room's members (the combobox/listbox pattern).
  const query = mentionQuery(text, caret);
  const hits = useMemo(() => {
    if (!query || dismissed === query.start) return [];
    return members.filter((m) => m.id !== meId && mentionKey(m.name).startsWith(query.q)).slice(0, 6);
  }, [members, meId, query?.q, query?.start, dismissed]); // eslint-disable-line react-hooks/exhaustive-deps
  const listOpen = hits.length > 0;
  const sel = Math.min(active, hits.length - 1);
  const complete = (m: Member) => {
    if (!query) return;
    const insert = "@" + m.name.replace(/\s+/g, "") + " ";
    const next = text.slice(0, query.start) + insert + text.slice(caret);
    const at = query.start + insert.length;
    setText(next);
    setCaret(at);
    setActive(0);
    requestAnimationFrame(() => {
      const el = document.getElementById("composer") as HTMLTextAreaElement | null;
      el?.setSelectionRange(at, at);
    });
  };
  const canSend = (text.trim() !== "" || ready.length > 0) && !tooLong && !uploading;
  const send = () => {
    if (!canSend) return;
    engine.send(roomId, text, ready);
    setText("");
    setCaret(0);
    clearUploads();
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (listOpen) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        setActive((sel + (e.key === "ArrowDown" ? 1 : hits.length - 1)) % hits.length);
        return;
      }
      if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey && !e.nativeEvent.isComposing) {
        e.preventDefault();
        complete(hits[sel]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setDismissed(query?.start ?? null);
        return;
      }
    }
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
      {listOpen && (
        <ul className="mention-list" id={id + "l"} role="listbox" aria-label="Members to mention">
          {hits.map((m, i) => (
            <li
              key={m.id}
              id={`${id}o${m.id}`}
              role="option"
              aria-selected={i === sel}
              onMouseDown={(e) => {
                e.preventDefault(); // keep focus in the message box
                complete(m);
              }}
            >
              {m.name}
            </li>
          ))}
        </ul>
      )}
      <textarea
        id="composer"
        rows={1}
        value={text}
        placeholder={`Message ${roomName}`}
        aria-autocomplete="list"
        aria-controls={listOpen ? id + "l" : undefined}
        aria-activedescendant={listOpen ? `${id}o${hits[sel].id}` : undefined}
        aria-describedby={tooLong ? id + "e" : undefined}
        aria-invalid={tooLong || undefined}
        onChange={(e) => {
          setText(e.target.value);
          setCaret(e.target.selectionStart ?? e.target.value.length);
          setActive(0);
          if (e.target.value) engine.typing(roomId);
        }}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
        onKeyDown={onKey}
        onPaste={(e) => {
          if (e.clipboardData.files.length === 0) return;
          e.preventDefault();
          addFiles(e.clipboardData.files);
        }}
      />
      <label className="btn attach" title="Attach files">
        <input
          type="file"
          multiple
          className="sr-only"
          onChange={(e) => {
            if (e.target.files) addFiles(e.target.files);
            e.target.value = "";
          }}
        />
        <span aria-hidden="true">📎</span>
        <span className="sr-only">Attach files</span>
      </label>
      <button type="submit" className="btn primary" disabled={!canSend}>
        Send
      </button>
      {uploads.length > 0 && (
        <ul className="uploads" aria-label="Attachments">
          {uploads.map((u) => (
            <li key={u.key}>
              <span>{u.name}</span>
              {u.error ? (
                <span className="error">{u.error}</span>
              ) : u.file ? (
                <span className="meta">{sizeText(u.file.size)}</span>
              ) : (
                <progress value={u.loaded} max={u.total || 1} aria-label={`Uploading ${u.name}`} />
              )}
              <button type="button" className="link" aria-label={`Remove ${u.name}`} onClick={() => removeUpload(u.key)}>
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      {tooLong && (
        <p className="error" id={id + "e"}>
          Too long: messages are limited to 4 KiB.
        </p>
      )}
    </form>
  );
}

interface Upload {
  key: number;
  name: string;
  loaded: number;
  total: number;
  file?: FileInfo;
  error?: string;
}

let uploadKey = 0;

/** Files being uploaded to the room and the ones ready to attach to the next send. Dropping files anywhere on the room adds them too. */
function useUploads(roomId: number) {
  const [uploads, setUploads] = useState<Upload[]>([]);
  const patch = (key: number, p: Partial<Upload>) => setUploads((us) => us.map((u) => (u.key === key ? { ...u, ...p } : u)));
  const addFiles = useCallback((files: FileList | File[]) => {
    for (const f of Array.from(files)) {
      const key = ++uploadKey;
      setUploads((us) => [...us, { key, name: f.name, loaded: 0, total: f.size }]);
      uploadFile(roomId, f, (loaded, total) => patch(key, { loaded, total })).then(
        (file) => patch(key, { file, loaded: file.size }),
        (e: unknown) => patch(key, { error: e instanceof Error ? e.message : String(e) }),
      );
    }
  }, [roomId]);
  useEffect(() => {
    const main = document.getElementById("main");
    if (!main) return;
    const over = (e: DragEvent) => {
      if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
    };
    const drop = (e: DragEvent) => {
      if (!e.dataTransfer?.files.length) return;
      e.preventDefault();
      addFiles(e.dataTransfer.files);
    };
    main.addEventListener("dragover", over);
    main.addEventListener("drop", drop);
    return () => {
      main.removeEventListener("dragover", over);
      main.removeEventListener("drop", drop);
    };
  }, [addFiles]);
  return {
    uploads,
    addFiles,
    removeUpload: (key: number) => setUploads((us) => us.filter((u) => u.key !== key)),
    clearUploads: () => setUploads([]),
  };
}
