-- 0005: room events (edits, deletes, reactions) and mentions (issue 15).
--
-- An event is a row of messages, like a message: it takes the room's next
-- seq under the rooms row lock, so subscribe-with-since, ?after= and the
-- hub's gap fill replay events in order, exactly once, with no new path.
-- kind: 0 a message, 1 an edit, 2 a delete, 3 a reaction added, 4 a
-- reaction removed. target_seq is the message an event is about; body is
-- the edit's new text or the reaction's emoji. rev on a message is the seq
-- of the last event applied to it (NULL: none), so a reader can tell
-- which events its current state already shows (PROTOCOL.md, Room events).
-- Adding columns with constant defaults rewrites nothing (Postgres 11+),
-- and the send path's INSERT does not name them.
ALTER TABLE messages
    ADD COLUMN kind       smallint NOT NULL DEFAULT 0,
    ADD COLUMN target_seq bigint,
    ADD COLUMN rev        bigint;

-- A delete blanks the earlier edits' text too; partial, so plain messages
-- never pay for it.
CREATE INDEX idx_messages_target ON messages (room_id, target_seq) WHERE target_seq IS NOT NULL;

-- One row per (message, emoji, user): the current reactions, aggregated on
-- read. No foreign keys, like messages.
CREATE TABLE message_reactions (
    room_id    bigint      NOT NULL,
    seq        bigint      NOT NULL,
    emoji      text        NOT NULL,
    user_id    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, seq, emoji, user_id)
);

-- Mentions of a user: unread ones are those above the user's read marker.
CREATE TABLE mentions (
    user_id bigint NOT NULL,
    room_id bigint NOT NULL,
    seq     bigint NOT NULL,
    PRIMARY KEY (user_id, room_id, seq)
);
