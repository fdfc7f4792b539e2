-- 0003: drop idx_messages_room_created.
--
-- No query reads messages by time: history, catch-up and resume are keyset
-- reads on the primary key (room_id, seq). The index only cost every message
-- insert a third B-tree insertion and its WAL (issue 14: Postgres CPU per
-- message is most of what separates the durable send from an in-memory one).
DROP INDEX IF EXISTS idx_messages_room_created;
