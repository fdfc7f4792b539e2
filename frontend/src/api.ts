// REST calls to the gateway. The session is the HttpOnly cookie
// chatgate_token set by login/register, so no token is handled here.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init?: { method?: string; body?: unknown; signal?: AbortSignal }): Promise<T> {
  let res: Response;
  try {
    const method = init?.method ?? (init?.body === undefined ? "GET" : "POST");
    res = await fetch(path, {
      method,
      // Every write with the session cookie must say application/json, body or not (SECURITY.md: 415).
      headers: init?.body === undefined && method === "GET" ? undefined : { "Content-Type": "application/json" },
      body: init?.body === undefined ? undefined : JSON.stringify(init.body),
      credentials: "same-origin",
      signal: init?.signal,
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
  }
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? "http_" + res.status, err?.message ?? `Request failed (${res.status})`);
  }
  return data as T;
}

/** A hint (not a secret) that this browser has a session: lets the first
 *  visit skip GET /api/me, which would only answer 401. */
const HINT = "chatgate_user";
export const sessionHint = {
  get(): boolean {
    try {
      return localStorage.getItem(HINT) !== null;
    } catch {
      return true; // no storage: ask the server
    }
  },
  set(on: boolean) {
    try {
      if (on) localStorage.setItem(HINT, "1");
      else localStorage.removeItem(HINT);
    } catch {
      /* storage disabled: every load asks /api/me */
    }
  },
};
