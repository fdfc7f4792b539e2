// Invite someone into the room: a modal <dialog> (Escape closes it, focus
// is trapped and returns to the Invite button). The field takes a user id
// today; findUsers (userLookup.ts) is where a name search drops in, and the
// hits list below already lets the user choose among several.
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { findUsers, NAME_SEARCH, type UserHit } from "./userLookup";
import { DialogFooter } from "./DialogFooter";
import { useEngine } from "./hooks";

export default function InviteDialog({ roomId, roomName, onClose }: { roomId: number; roomName: string; onClose: () => void }) {
  const engine = useEngine();
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [hits, setHits] = useState<UserHit[]>([]);

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);

  async function invite(u: UserHit) {
    setBusy(true);
    try {
      await engine.invite(roomId, u.id);
      setHits([]);
      setError(null);
      setDone(`${u.name} is now a member of ${roomName}.`);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const q = String(new FormData(e.currentTarget).get("who") ?? "");
    setDone(null);
    setError(null);
    setBusy(true);
    const res = await findUsers(q);
    setBusy(false);
    if ("error" in res) setError(res.error);
    else if (res.hits.length === 1) await invite(res.hits[0]);
    else setHits(res.hits);
  }

  return (
    <dialog ref={ref} className="dialog" aria-labelledby={id + "t"} onClose={onClose}>
      <form onSubmit={submit}>
        <h2 id={id + "t"}>Invite to {roomName}</h2>
        <div className="field">
          <label htmlFor={id + "w"}>{NAME_SEARCH ? "Name or user id" : "User id"}</label>
          <input id={id + "w"} name="who" inputMode={NAME_SEARCH ? "text" : "numeric"} autoComplete="off" required aria-describedby={id + "h"} />
          <p className="hint" id={id + "h"}>
            {NAME_SEARCH ? "Type a name, or a user id." : "Ask them for their user id: it is shown next to their name at the top of the page."}
          </p>
        </div>
        {hits.length > 1 && (
          <ul className="hits" aria-label="People found">
            {hits.map((u) => (
              <li key={u.id}>
                <button type="button" className="btn small" disabled={busy} onClick={() => void invite(u)}>
                  Invite {u.name}
                </button>
              </li>
            ))}
          </ul>
        )}
        <DialogFooter dialog={ref} error={error} done={done} busy={busy} submit="Invite" />
      </form>
    </dialog>
  );
}
