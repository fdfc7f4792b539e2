// A handful of common emoji to react with, loaded the first time a picker
// opens. A menu of menuitemcheckbox: ←/→ move, Enter or a click toggles our
// reaction, Escape closes (focus goes back to the message).
import { useEffect, useRef, type KeyboardEvent } from "react";
import { menuKey } from "./rowActions";

export const EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];
const NAMES: Record<string, string> = {
  "👍": "thumbs up",
  "❤️": "heart",
  "😂": "laughing",
  "🎉": "party",
  "😮": "surprised",
  "😢": "sad",
  "🙏": "thanks",
  "👀": "eyes",
};

export default function ReactionPicker({ mine, onPick, onClose }: { mine: ReadonlySet<string>; onPick: (emoji: string, on: boolean) => void; onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLElement>("[role=menuitemcheckbox]")?.focus();
  }, []);
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!menuKey(e.key, ref.current, "[role=menuitemcheckbox]", onClose)) return;
    e.preventDefault();
    e.stopPropagation();
  };
  return (
    <div ref={ref} className="picker" role="menu" aria-label="Reactions" aria-orientation="horizontal" onKeyDown={onKey}>
      {EMOJI.map((emoji) => (
        <button
          key={emoji}
          type="button"
          role="menuitemcheckbox"
          aria-checked={mine.has(emoji)}
          aria-label={`React with ${NAMES[emoji]}`}
          tabIndex={-1}
          onClick={() => onPick(emoji, !mine.has(emoji))}
        >
          {emoji}
        </button>
      ))}
    </div>
  );
}
