// The account page (/account): change the password, sign out everywhere.
// Both end every other session on the server (PROTOCOL.md, Authentication),
// this tab's socket included, so the engine is stopped around the request:
// a 4401 on the old socket must not read as "signed out" here.
import { useId, useState } from "react";
import { api, ApiError } from "../api";
import { useEngine } from "./hooks";

export default function AccountView({ onSignedOut }: { onSignedOut: () => void }) {
  const engine = useEngine();
  const id = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);

  async function changePassword(form: HTMLFormElement) {
    const data = new FormData(form);
    setBusy(true);
    setError(null);
    setDone(false);
    engine.stop();
    try {
      // The answer sets the new session's cookie; the engine reconnects with it.
      await api("/api/auth/password", { body: { password: data.get("password"), new_password: data.get("new_password") } });
      form.reset();
      setDone(true);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 403 ? "The current password is wrong." : e instanceof Error ? e.message : String(e));
    } finally {
      engine.start();
      setBusy(false);
    }
  }

  async function signOutEverywhere() {
    setBusy(true);
    engine.stop();
    try {
      await api("/api/auth/sessions/end", { body: {} });
    } finally {
      onSignedOut();
    }
  }

  return (
    <main className="room account" id="main" tabIndex={-1}>
      <h2>Your account</h2>
      <form
        className="account-form"
        aria-labelledby={id + "h"}
        onSubmit={(e) => {
          e.preventDefault();
          void changePassword(e.currentTarget);
        }}
      >
        <h3 id={id + "h"}>Change the password</h3>
        <div className="field">
          <label htmlFor={id + "c"}>Current password</label>
          <input id={id + "c"} name="password" type="password" autoComplete="current-password" required />
        </div>
        <div className="field">
          <label htmlFor={id + "n"}>New password</label>
          <input id={id + "n"} name="new_password" type="password" autoComplete="new-password" minLength={8} maxLength={1024} required />
        </div>
        <p className="hint">Every other browser and app signed in as you is signed out.</p>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {done && <p role="status">Password changed.</p>}
        <button type="submit" className="btn" disabled={busy}>
          Change password
        </button>
      </form>
      <section aria-labelledby={id + "s"}>
        <h3 id={id + "s"}>Sessions</h3>
        <p className="hint">Signs you out here and in every other browser and app, at once.</p>
        <button type="button" className="btn" disabled={busy} onClick={() => void signOutEverywhere()}>
          Sign out everywhere
        </button>
      </section>
    </main>
  );
}
