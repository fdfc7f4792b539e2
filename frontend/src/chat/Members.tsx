import type { Member } from "../types";

export default function Members({ members, meId }: { members: Member[]; meId: number }) {
  return (
    <aside className="members" id="members" aria-label="Members">
      <h3>Members ({members.length})</h3>
      <ul>
        {members.map((m) => (
          <li key={m.id}>
            {m.name}
            {m.id === meId ? " (you)" : ""}
            {m.role !== "member" && <span className="meta"> · {m.role}</span>}
          </li>
        ))}
      </ul>
    </aside>
  );
}
