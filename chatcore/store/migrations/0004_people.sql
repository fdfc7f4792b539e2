-- 0004: finding people, direct messages, room administration (issue 15).

-- name_fold is the user's name case-folded (Unicode full case folding) and
-- in NFC, as store.FoldName computes it: the member directory matches
-- prefixes of it. The "C" collation makes one btree serve both the prefix
-- match (LIKE 'abc%' is a range scan under "C") and the keyset order
-- (name_fold, id) of its pages. Rows from before this migration get it
-- from the store right after the migrations run (Store.backfillNameFold),
-- since the fold is Go's, not the database locale's.
ALTER TABLE users ADD COLUMN name_fold text COLLATE "C";
CREATE INDEX idx_users_name_fold ON users (name_fold, id);

-- kind tells a room from a direct message (a private room of exactly two
-- members). dm_key is "<lower id>:<higher id>" for a direct message, NULL
-- for a room: its unique index makes "the DM of a pair" one row however
-- many instances create it at once. topic is the room's subject line.
ALTER TABLE rooms
    ADD COLUMN kind   text NOT NULL DEFAULT 'room' CHECK (kind IN ('room', 'dm')),
    ADD COLUMN topic  text NOT NULL DEFAULT '',
    ADD COLUMN dm_key text,
    ADD CONSTRAINT rooms_dm_key_kind CHECK ((kind = 'dm') = (dm_key IS NOT NULL));
CREATE UNIQUE INDEX idx_rooms_dm_key ON rooms (dm_key);
