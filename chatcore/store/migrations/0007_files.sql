-- 0007: uploaded files (issue 15). The bytes live in a filestore.Storage
-- under storage_key; this row says whose upload it is, to which room, what
-- it is, and which message (room_id, message_seq) it is attached to: NULL
-- until a send attaches it, set in the same transaction as the message.
CREATE TABLE files (
    id           bigserial   PRIMARY KEY,
    room_id      bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    storage_key  text        NOT NULL,
    name         text        NOT NULL,
    content_type text        NOT NULL,
    size         bigint      NOT NULL,
    -- Images only (png, jpeg, gif, webp), so clients can reserve space.
    width        integer,
    height       integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    message_seq  bigint
);
-- History pages fetch the files of a seq range of one room.
CREATE INDEX idx_files_message ON files (room_id, message_seq) WHERE message_seq IS NOT NULL;
-- The sweep finds unattached uploads past their bound.
CREATE INDEX idx_files_unattached ON files (created_at) WHERE message_seq IS NULL;

-- attach_files attaches the files of a flush's messages in the flush's own
-- transaction (the batcher queues it after the insert, in the same implicit
-- transaction): file i goes to room rooms[i], seq = the room's bumped
-- last_seq + offs[i], and must be user uids[i]'s unattached upload to that
-- room. If any is not (another send attached it first, the sweep took it),
-- it raises CG409, which rolls the whole flush back: no message is stored
-- without its files, no seq is used.
CREATE FUNCTION attach_files(p_files bigint[], p_rooms bigint[], p_offs bigint[], p_uids bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE files f SET message_seq = r.last_seq + a.off
    FROM unnest(p_files, p_rooms, p_offs, p_uids) AS a(file, room, off, uid)
    JOIN rooms r ON r.id = a.room
    WHERE f.id = a.file AND f.room_id = a.room AND f.user_id = a.uid AND f.message_seq IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(p_files) THEN
        RAISE EXCEPTION 'a file is not the sender''s unattached upload to this room' USING ERRCODE = 'CG409';
    END IF;
END
$$;
