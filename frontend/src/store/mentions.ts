// Does a message mention a user? "@name" as a word, case-insensitive; a name
// with spaces matches with them ("@Ada Lovelace") or with its first word.
// Until the server's mention frame exists (PROTOCOL.md), the client decides.
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function mentions(body: string, name: string): boolean {
  const full = name.trim();
  if (!full) return false;
  const first = full.split(/\s+/)[0];
  const alts = full === first ? [escape(full)] : [escape(full), escape(first)];
  // Not preceded by a word character (so "mail@alice" is no mention), not followed by one.
  const re = new RegExp(`(^|[^\\p{L}\\p{N}_])@(?:${alts.join("|")})(?![\\p{L}\\p{N}_])`, "iu");
  return re.test(body);
}
