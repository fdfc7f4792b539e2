// Who does the invite field mean? A number is a user id (GET
// /api/users/{id}); anything else searches the member directory by name
// prefix (GET /api/users?q=), and the Invite dialog lists several hits to
// choose from.
import { api as defaultApi, ApiError } from "../api";

export interface UserHit {
  id: number;
  name: string;
}

export type Lookup = { hits: UserHit[] } | { error: string };

/** Whether the server can search by name (GET /api/users?q=, PROTOCOL.md: Finding people). */
export const NAME_SEARCH = true;

export async function findUsers(query: string, api = defaultApi): Promise<Lookup> {
  const q = query.trim().replace(/^#/, "");
  if (!q) return { error: "Enter a user id." };
  if (/^\d+$/.test(q)) {
    try {
      const u = await api<UserHit>(`/api/users/${q}`);
      return { hits: [{ id: u.id, name: u.name }] };
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return { error: `No user has the id ${q}.` };
      if (e instanceof ApiError && e.status === 400) return { error: "A user id is a positive number." };
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }
  if (!NAME_SEARCH) return { error: "Search by name is not available yet: enter their user id (a number; people see theirs at the top of the page)." };
  try {
    const res = await api<{ users: UserHit[]; next?: string }>(`/api/users?q=${encodeURIComponent(q)}&limit=10`);
    return res.users.length ? { hits: res.users } : { error: `Nobody matches “${q}”.` };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
