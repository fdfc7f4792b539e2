import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { api } from "../api";
import { navigate } from "../router";
import type { User } from "../types";

export default function AuthScreen({ mode, onSignedIn }: { mode: "login" | "signup"; onSignedIn: (u: User) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const signup = mode === "signup";
  const errorRef = useRef<HTMLParagraphElement>(null);
  // A refused sign-in moves focus to the reason (screen readers read it; Tab continues in the form).
  useEffect(() => {
    if (error) errorRef.current?.focus();
  }, [error]);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body: Record<string, string> = { email: String(f.get("email") ?? ""), password: String(f.get("password") ?? "") };
    if (signup) body.name = String(f.get("name") ?? "");
    setBusy(true);
    setError(null);
    try {
      const res = await api<{ user: User }>(signup ? "/api/auth/register" : "/api/auth/login", { body });
      onSignedIn(res.user);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  }

  return (
    <main className="auth">
      <h1 className="brand">Chatgate</h1>
      <form className="card" onSubmit={submit} aria-labelledby={id + "t"} noValidate={false}>
        <h2 id={id + "t"}>{signup ? "Create an account" : "Sign in"}</h2>
        {signup && (
          <div className="field">
            <label htmlFor={id + "n"}>Display name</label>
            <input id={id + "n"} name="name" autoComplete="nickname" required maxLength={64} />
          </div>
        )}
        <div className="field">
          <label htmlFor={id + "e"}>Email</label>
          <input id={id + "e"} name="email" type="email" autoComplete="email" required />
        </div>
        <div className="field">
          <label htmlFor={id + "p"}>Password</label>
          <input
            id={id + "p"}
            name="password"
            type="password"
            autoComplete={signup ? "new-password" : "current-password"}
            required
            minLength={signup ? 8 : undefined}
            aria-describedby={signup ? id + "h" : undefined}
          />
          {signup && (
            <p className="hint" id={id + "h"}>
              At least 8 characters.
            </p>
          )}
        </div>
        {error && (
          <p className="error" role="alert" tabIndex={-1} ref={errorRef}>
            {error}
          </p>
        )}
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? "Please wait…" : signup ? "Sign up" : "Sign in"}
        </button>
        <p className="switch">
          {signup ? "Have an account? " : "New here? "}
          <a
            href={signup ? "/login" : "/signup"}
            onClick={(e) => {
              e.preventDefault();
              setError(null);
              navigate(signup ? "/login" : "/signup");
            }}
          >
            {signup ? "Sign in" : "Create an account"}
          </a>
        </p>
      </form>
    </main>
  );
}
