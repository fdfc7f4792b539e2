// A message's own controls: the actions button and its menu (React, Edit,
// Delete), the inline editor, the delete confirmation, the reaction picker
// (a lazy chunk) and the reaction counts under the body. Menus follow the
// ARIA menu pattern: ↑/↓ (←/→) move, Enter picks, Escape closes and focus
// goes back to the message row.
import { lazy, Suspense, useEffect, useRef, useState, type KeyboardEvent } from "react";
import type { Item } from "../types";
import { menuKey, type RowActions, type RowMode } from "./rowActions";

const ReactionPicker = lazy(() => import("./ReactionPicker"));

/** Focus back on the row (the list's ↑/↓ continue from there). */
const focusRow = (key: string) => {
  requestAnimationFrame(() => document.querySelector<HTMLElement>(`.msg[data-key="${CSS.escape(key)}"]`)?.focus({ preventScroll: true }));
};

export function ActionsButton({ m, mode, actions, sender }: { m: Item; mode: RowMode | null; actions: RowActions; sender: string }) {
  if (m.state || m.deleted || m.seq === 0) return null;
  return (
    <button
      type="button"
      className="msg-actions-btn"
      tabIndex={-1}
      aria-label={`Actions for message from ${sender}`}
      aria-haspopup="menu"
      aria-expanded={mode === "menu"}
      onClick={() => actions.setOpen(mode === "menu" ? null : { key: m.key, mode: "menu" })}
    >
      <span aria-hidden="true">⋯</span>
    </button>
  );
}

/** What opens below the head: the menu, the picker, the editor or the confirmation. */
export function RowPanel({ m, mode, actions, meId }: { m: Item; mode: RowMode; actions: RowActions; meId: number }) {
  const close = () => {
    actions.setOpen(null);
    focusRow(m.key);
  };
  if (mode === "menu") return <ActionsMenu m={m} actions={actions} onClose={close} />;
  if (mode === "react") {
    const mine = new Set((m.reactions ?? []).filter((r) => r.users.includes(meId)).map((r) => r.emoji));
    return (
      <Suspense fallback={null}>
        <ReactionPicker
          mine={mine}
          onPick={(emoji, on) => {
            actions.react(m, emoji, on);
            close();
          }}
          onClose={close}
        />
      </Suspense>
    );
  }
  if (mode === "edit") return <Editor m={m} actions={actions} onClose={close} />;
  return <ConfirmDelete m={m} actions={actions} onClose={close} />;
}

function ActionsMenu({ m, actions, onClose }: { m: Item; actions: RowActions; onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>("[role=menuitem]")?.focus();
  }, []);
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!menuKey(e.key, ref.current, "[role=menuitem]", onClose)) return;
    e.preventDefault();
    e.stopPropagation();
  };
  const item = (label: string, mode: RowMode) => (
    <button type="button" role="menuitem" tabIndex={-1} onClick={() => actions.setOpen({ key: m.key, mode })}>
      {label}
    </button>
  );
  return (
    <div ref={ref} className="msg-menu" role="menu" aria-label="Message actions" aria-orientation="horizontal" onKeyDown={onKey}>
      {item("React", "react")}
      {actions.canEdit(m) && item("Edit", "edit")}
      {actions.canDelete(m) && item("Delete", "delete")}
    </div>
  );
}

function Editor({ m, actions, onClose }: { m: Item; actions: RowActions; onClose: () => void }) {
  const [text, setText] = useState(m.body);
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);
  const save = async () => {
    if (!text.trim() || busy) return;
    if (text === m.body) return onClose();
    setBusy(true);
    try {
      await actions.edit(m, text);
      onClose();
    } catch {
      setBusy(false); // the error is shown by the room's notice
    }
  };
  return (
    <form
      className="msg-editor"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      onKeyDown={(e) => e.stopPropagation()}
    >
      <textarea
        ref={ref}
        aria-label="Edit message"
        value={text}
        rows={Math.min(6, text.split("\n").length)}
        dir="auto"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            void save();
          } else if (e.key === "Escape") {
            e.preventDefault();
            onClose();
          }
        }}
      />
      <div className="msg-editor-actions">
        <button type="submit" className="btn small primary" disabled={busy || !text.trim()}>
          Save
        </button>
        <button type="button" className="btn small" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function ConfirmDelete({ m, actions, onClose }: { m: Item; actions: RowActions; onClose: () => void }) {
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <div
      className="msg-confirm"
      role="group"
      aria-label="Delete this message?"
      onKeyDown={(e) => {
        e.stopPropagation();
        if (e.key === "Escape") onClose();
      }}
    >
      <span>Delete this message for everyone?</span>
      <button
        ref={ref}
        type="button"
        className="btn small danger"
        onClick={() => {
          void actions.remove(m).catch(() => {});
          onClose();
        }}
      >
        Delete message
      </button>
      <button type="button" className="btn small" onClick={onClose}>
        Cancel
      </button>
    </div>
  );
}

/** Counts per emoji; ours pressed. A click toggles our reaction. */
export function Reactions({ m, meId, actions }: { m: Item; meId: number; actions: RowActions }) {
  if (!m.reactions?.length) return null;
  return (
    <div className="reactions" role="group" aria-label="Reactions">
      {m.reactions.map((r) => {
        const mine = r.users.includes(meId);
        return (
          <button
            key={r.emoji}
            type="button"
            className={"reaction" + (mine ? " mine" : "")}
            aria-pressed={mine}
            aria-label={`${r.emoji} ${r.users.length}`}
            onClick={() => actions.react(m, r.emoji, !mine)}
          >
            {r.emoji} <span>{r.users.length}</span>
          </button>
        );
      })}
    </div>
  );
}
