// The end of a modal form dialog: its error (an alert), its outcome (a
// status), Close (closes the <dialog>, whose onClose returns focus) and the
// submit button.
import type { RefObject } from "react";

export function DialogFooter({ dialog, error, done, busy, submit }: { dialog: RefObject<HTMLDialogElement | null>; error: string | null; done: string | null; busy: boolean; submit: string }) {
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p className="ok" role="status">
          {done}
        </p>
      )}
      <div className="dialog-actions">
        <button type="button" className="btn" onClick={() => dialog.current?.close()}>
          Close
        </button>
        <button type="submit" className="btn primary" disabled={busy}>
          {submit}
        </button>
      </div>
    </>
  );
}
