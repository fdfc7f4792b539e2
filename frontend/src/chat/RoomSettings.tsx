// The owner's room settings: rename, set the topic (PATCH /api/rooms/{id}),
// or delete the room (DELETE, after typing nothing more than a second
// click). A modal <dialog>: Escape closes it, focus returns to Settings.
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { navigate } from "../router";
import type { RoomInfo } from "../types";
import { DialogFooter } from "./DialogFooter";
import { useAction, useEngine } from "./hooks";

export default function RoomSettings({ room, onClose }: { room: RoomInfo; onClose: () => void }) {
  const engine = useEngine();
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  const { busy, error, run: act } = useAction();
  const [done, setDone] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);

  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);

  function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const name = String(f.get("name") ?? "").trim();
    const topic = String(f.get("topic") ?? "").trim();
    const patch: { name?: string; topic?: string } = {};
    if (name !== room.name) patch.name = name;
    if (topic !== (room.topic ?? "")) patch.topic = topic;
    if (!Object.keys(patch).length) return setDone("Nothing changed.");
    setDone(null);
    void act(async () => {
      await engine.updateRoom(room.id, patch);
      setDone("Saved.");
    });
  }

  return (
    <dialog ref={ref} className="dialog" aria-labelledby={id + "t"} onClose={onClose}>
      <form onSubmit={save}>
        <h2 id={id + "t"}>Room settings</h2>
        <div className="field">
          <label htmlFor={id + "n"}>Room name</label>
          <input id={id + "n"} name="name" defaultValue={room.name} maxLength={100} required />
        </div>
        <div className="field">
          <label htmlFor={id + "p"}>Topic</label>
          <input id={id + "p"} name="topic" defaultValue={room.topic ?? ""} maxLength={250} />
        </div>
        <DialogFooter dialog={ref} error={error} done={done} busy={busy} submit="Save" />
      </form>
      <div className="danger-zone">
        {!confirming ? (
          <button type="button" className="btn danger" onClick={() => setConfirming(true)}>
            Delete room…
          </button>
        ) : (
          <div role="group" aria-label="Delete this room?">
            <p>Delete {room.name} with all its messages, for everyone?</p>
            <button
              type="button"
              className="btn danger"
              disabled={busy}
              onClick={() =>
                void act(async () => {
                  await engine.deleteRoom(room.id);
                  navigate("/", true);
                })
              }
            >
              Delete {room.name}
            </button>{" "}
            <button type="button" className="btn" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        )}
      </div>
    </dialog>
  );
}
