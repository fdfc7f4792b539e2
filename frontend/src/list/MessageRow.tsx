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

export interface RowData {
  items: Item[];
  meId: number;
  onRetry: (key: string) => void;
  onDiscard: (key: string) => void;
}

// Formatted by hand: building an Intl.DateTimeFormat costs tens of ms on a slow phone.
const pad = (n: number) => (n < 10 ? "0" : "") + n;
const timeOf = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
const dateOf = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${timeOf(d)}`;
const IMAGE_URL = /^https?:\/\/\S+\.(?:png|jpe?g|gif|webp|avif|svg)(?:\?\S*)?$/i;

const Body = memo(function Body({ body, sender }: { body: string; sender: string }) {
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
      {parts.length === 1 && !parts[0].href
        ? body
        : parts.map((p, i) =>
            p.href ? (
              <a key={i} href={p.href} target="_blank" rel="noopener noreferrer">
                {p.text}
              </a>
            ) : (
              p.text
            ),
          )}
    </p>
  );
});

const MessageView = memo(function MessageView({
  m,
  mine,
  head,
  day,
  onRetry,
  onDiscard,
}: {
  m: Item;
  mine: boolean;
  /** First of a sender's run: show name and time. */
  head: boolean;
  /** First of a day: the separator's label. */
  day: string | null;
  onRetry: (key: string) => void;
  onDiscard: (key: string) => void;
}) {
  const d = new Date(m.ts);
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
      </div>
      {m.deleted ? (
        <p className="msg-body msg-deleted">message deleted</p>
      ) : (
        <Body body={m.body} sender={mine ? "you" : m.user.name} />
      )}
    </>
  );
});

export function Row({ index, style, ariaAttributes, items, meId, onRetry, onDiscard }: RowComponentProps<RowData>) {
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
      className={"msg" + (mine ? " mine" : "") + (m.state ? " pending" : "") + (head ? "" : " cont")}
    >
      <MessageView m={m} mine={mine} head={head} day={day} onRetry={onRetry} onDiscard={onDiscard} />
    </div>
  );
}

export const rowKey = (i: number, p: RowData) => p.items[i].key;
