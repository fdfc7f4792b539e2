// Full-text search results (GET /api/search): newest first, each a snippet
// whose parts are rendered as text (matches in <mark>), linking to the message
// in its room. Following one loads the room's history back to it and opens
// the room with that message at the top of the view, marked and focused.
import { useEffect, useState } from "react";
import { api } from "../api";
import { itemsOf } from "../store/chat";
import { navigate } from "../router";
import type { WireMsg } from "../types";
import { jumpTo } from "../list/viewState";
import { useEngine, useStore } from "./hooks";

interface Part {
  text: string;
  match?: boolean;
}
interface Result {
  message: WireMsg;
  snippet: Part[];
}
interface Page {
  results: Result[];
  next?: string;
}

const when = (ts: string) => new Date(ts).toLocaleString();

export default function SearchView({ q }: { q: string }) {
  const engine = useEngine();
  const rooms = useStore((s) => s.rooms);
  const [results, setResults] = useState<Result[] | null>(null);
  const [next, setNext] = useState<string | undefined>();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function load(before?: string) {
    setBusy(true);
    setError(null);
    try {
      const page = await api<Page>(`/api/search?q=${encodeURIComponent(q)}${before ? `&before=${encodeURIComponent(before)}` : ""}`);
      setResults((r) => (before && r ? r.concat(page.results) : page.results));
      setNext(page.next);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    setResults(null);
    if (q.trim()) void load();
  }, [q]); // eslint-disable-line react-hooks/exhaustive-deps

  /** Loads the history back to the message, then opens its room there. */
  async function open(m: WireMsg) {
    setBusy(true);
    try {
      if (!(await engine.reveal(m.room, m.seq))) {
        setError("That message is no longer in the room's history.");
        return;
      }
      const chat = engine.getState().chats[m.room];
      const items = chat ? itemsOf(chat) : [];
      const i = items.findIndex((x) => x.seq === m.seq);
      if (i < 0) {
        setError("That message is no longer in the room's history.");
        return;
      }
      const from = Math.max(0, i - 500);
      jumpTo(m.room, items[i].key, { startSeq: from === 0 ? 0 : items[from].seq, endSeq: null });
      navigate(`/rooms/${m.room}`);
    } finally {
      setBusy(false);
    }
  }

  const roomName = (id: number) => rooms?.find((r) => r.id === id)?.name ?? `Room ${id}`;
  return (
    <main className="room search" id="main" tabIndex={-1} aria-labelledby="search-title" aria-busy={busy || undefined}>
      <h2 id="search-title">Results for “{q}”</h2>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {results && results.length === 0 && <p>No messages match.</p>}
      {results && results.length > 0 && (
        <ol className="results" aria-label="Search results">
          {results.map((r) => (
            <li key={`${r.message.room}-${r.message.seq}`}>
              <p className="result-meta">
                {r.message.user.name} in {roomName(r.message.room)} · <time dateTime={r.message.ts}>{when(r.message.ts)}</time>
              </p>
              <a
                href={`/rooms/${r.message.room}`}
                className="result-snippet"
                dir="auto"
                onClick={(e) => {
                  e.preventDefault();
                  void open(r.message);
                }}
              >
                {r.snippet.map((p, i) => (p.match ? <mark key={i}>{p.text}</mark> : p.text))}
              </a>
            </li>
          ))}
        </ol>
      )}
      {next && (
        <button type="button" className="btn" disabled={busy} onClick={() => void load(next)}>
          More results
        </button>
      )}
    </main>
  );
}
