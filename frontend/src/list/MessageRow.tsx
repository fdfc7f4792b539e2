// One message row of the log: author, time, state of our unacked sends
// (Retry/Discard), the body or a lazily loaded image in a reserved box.
import { memo } from "react";
import type { RowComponentProps } from "react-window";
import type { Item } from "../types";

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

const Body = memo(function Body({ body }: { body: string }) {
  const text = body.trim();
  if (IMAGE_URL.test(text)) {
    // Lazy, with its box reserved up front: loading it never changes the row height.
    return (
      <span className="msg-image">
        <img src={text} alt="Shared image" loading="lazy" decoding="async" width={240} height={160} />
      </span>
    );
  }
  return <p className="msg-body">{body}</p>;
});

const MessageView = memo(function MessageView({
  m,
  mine,
  onRetry,
  onDiscard,
}: {
  m: Item;
  mine: boolean;
  onRetry: (key: string) => void;
  onDiscard: (key: string) => void;
}) {
  const d = new Date(m.ts);
  return (
    <>
      <div className="msg-head">
        <span className="msg-author">{mine ? "You" : m.user.name}</span>
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
      {m.deleted ? <p className="msg-body msg-deleted">message deleted</p> : <Body body={m.body} />}
    </>
  );
});

export function Row({ index, style, ariaAttributes, items, meId, onRetry, onDiscard }: RowComponentProps<RowData>) {
  const m = items[index];
  const mine = m.user.id === meId;
  return (
    <div
      style={style}
      {...ariaAttributes}
      data-key={m.key}
      data-seq={m.seq || undefined}
      tabIndex={-1}
      className={"msg" + (mine ? " mine" : "") + (m.state ? " pending" : "")}
    >
      <MessageView m={m} mine={mine} onRetry={onRetry} onDiscard={onDiscard} />
    </div>
  );
}

export const rowKey = (i: number, p: RowData) => p.items[i].key;
