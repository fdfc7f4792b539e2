// One message row of the log: a day separator above the day's first
// message, author and time at the start of a sender's run (grouping.ts),
// state of our unacked sends (Retry/Discard), the body with http(s) links,
// or a lazily loaded image in a reserved box. Bodies get dir="auto", so a
// message that starts in Hebrew or Arabic reads right to left.
import { memo } from "react";
import type { RowComponentProps } from "react-window";
import type { Item } from "../types";
import { dayLabel, isNewDay, startsGroup } from "./grouping";
import { imageAlt, parseLinks } from "./links";
import { imageBox, sizeText } from "../chat/upload";
import type { FileInfo } from "../types";
import { ActionsButton, Reactions, RowPanel } from "./MessageActions";
import { splitMentions, type RowActions, type RowMode, type RowOpen } from "./rowActions";

export interface RowData {
  items: Item[];
  meId: number;
  onRetry: (key: string) => void;
  onDiscard: (key: string) => void;
  /** Edit, delete, react and mention highlighting; absent: a read-only log. */
  actions?: RowActions;
  open?: RowOpen | null;
  highlight?: string | null;
}

// Formatted by hand: building an Intl.DateTimeFormat costs tens of ms on a slow phone.
const pad = (n: number) => (n < 10 ? "0" : "") + n;
const timeOf = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
const dateOf = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${timeOf(d)}`;
const IMAGE_URL = /^https?:\/\/\S+\.(?:png|jpe?g|gif|webp|avif|svg)(?:\?\S*)?$/i;

/** Text with its @mentions of members marked (ours stronger). */
function Mentioned({ text, actions }: { text: string; actions?: RowActions }) {
  if (!actions) return text;
  const parts = splitMentions(text, actions.names, actions.meName);
  if (parts.length === 1 && !parts[0].mention) return text;
  return parts.map((p, i) =>
    p.mention ? (
      <strong key={i} className={"mention" + (p.mention === "me" ? " me" : "")}>
        {p.text}
      </strong>
    ) : (
      p.text
    ),
  );
}

const Body = memo(function Body({ body, sender, actions }: { body: string; sender: string; actions?: RowActions }) {
  const text = body.trim();
  if (IMAGE_URL.test(text)) {
    // Lazy, with its box reserved up front: loading it never changes the row height.
    return (
      <span className="msg-image">
        <img src={text} alt={imageAlt(text, sender)} loading="lazy" decoding="async" width={240} height={160} />
      </span>
    );
  }
  const parts = parseLinks(body);
  return (
    <p className="msg-body" dir="auto">
      {parts.length === 1 && !parts[0].href ? (
        <Mentioned text={body} actions={actions} />
      ) : (
        parts.map((p, i) =>
          p.href ? (
            <a key={i} href={p.href} target="_blank" rel="noopener noreferrer">
              {p.text}
            </a>
          ) : (
            <Mentioned key={i} text={p.text} actions={actions} />
          ),
        )
      )}
    </p>
  );
});

/** Attachments: images in a box reserved from their width and height, lazily loaded; other files as downloads. */
const Files = memo(function Files({ files, sender }: { files: FileInfo[]; sender: string }) {
  return (
    <div className="msg-files">
      {files.map((f) =>
        f.width && f.height ? (
          <a key={f.id} href={f.url} target="_blank" rel="noopener noreferrer" className="msg-file-image">
            <img src={f.url} alt={`Image from ${sender}: ${f.name}`} loading="lazy" decoding="async" {...imageBox(f.width, f.height)} />
          </a>
        ) : (
          <a key={f.id} href={f.url} download={f.name} className="msg-file">
            <span aria-hidden="true">📄 </span>
            {f.name} <span className="meta">({sizeText(f.size)})</span>
          </a>
        ),
      )}
    </div>
  );
});

const MessageView = memo(function MessageView({
  m,
  mine,
  head,
  day,
  onRetry,
  onDiscard,
  actions,
  mode,
  meId,
}: {
  m: Item;
  mine: boolean;
  /** First of a sender's run: show name and time. */
  head: boolean;
  /** First of a day: the separator's label. */
  day: string | null;
  onRetry: (key: string) => void;
  onDiscard: (key: string) => void;
  actions?: RowActions;
  /** This row's open panel (menu, picker, editor, confirmation), if any. */
  mode: RowMode | null;
  meId: number;
}) {
  const d = new Date(m.ts);
  const sender = mine ? "you" : m.user.name;
  return (
    <>
      {day && (
        <div className="day-sep" role="separator" aria-label={day}>
          <span aria-hidden="true">{day}</span>
        </div>
      )}
      {/* Inside a run the time sits at the right, shown on hover or focus; a send's state keeps the head in the flow. */}
      <div className={head || m.state ? "msg-head" : "msg-head cont"}>
        {head && <span className="msg-author">{mine ? "You" : m.user.name}</span>}
        <time dateTime={m.ts} title={dateOf(d)}>
          {timeOf(d)}
        </time>
        {m.edited_at && !m.deleted && mode !== "edit" && <span className="msg-edited">(edited)</span>}
        {m.state === "sending" && <span className="msg-state">sending…</span>}
        {m.state === "failed" && (
          <span className="msg-state msg-failed">
            not sent{m.error ? `: ${m.error}` : ""}{" "}
            <button type="button" className="link" onClick={() => onRetry(m.key)}>
              Retry
            </button>{" "}
            <button type="button" className="link" onClick={() => onDiscard(m.key)}>
              Discard
            </button>
          </span>
        )}
        {actions && <ActionsButton m={m} mode={mode} actions={actions} sender={sender} />}
      </div>
      {actions && mode && mode !== "edit" && <RowPanel m={m} mode={mode} actions={actions} meId={meId} />}
      {m.deleted ? (
        <p className="msg-body msg-deleted">message deleted</p>
      ) : actions && mode === "edit" ? (
        <RowPanel m={m} mode={mode} actions={actions} meId={meId} />
      ) : (
        (m.body || !m.files) && <Body body={m.body} sender={sender} actions={actions} />
      )}
      {m.files && !m.deleted && <Files files={m.files} sender={sender} />}
      {actions && !m.deleted && <Reactions m={m} meId={meId} actions={actions} />}
    </>
  );
});

export function Row({ index, style, ariaAttributes, items, meId, onRetry, onDiscard, actions, open, highlight }: RowComponentProps<RowData>) {
  const m = items[index];
  const prev = index > 0 ? items[index - 1] : undefined;
  const mine = m.user.id === meId;
  const head = startsGroup(prev, m);
  const day = isNewDay(prev, m) ? dayLabel(new Date(m.ts), new Date()) : null;
  return (
    <div
      style={style}
      {...ariaAttributes}
      data-key={m.key}
      data-seq={m.seq || undefined}
      tabIndex={-1}
      className={"msg" + (mine ? " mine" : "") + (m.state ? " pending" : "") + (head ? "" : " cont") + (highlight === m.key ? " hit" : "")}
    >
      <MessageView
        m={m}
        mine={mine}
        head={head}
        day={day}
        onRetry={onRetry}
        onDiscard={onDiscard}
        actions={actions}
        mode={open && open.key === m.key ? open.mode : null}
        meId={meId}
      />
    </div>
  );
}

export const rowKey = (i: number, p: RowData) => p.items[i].key;
