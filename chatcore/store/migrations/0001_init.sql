-- 0001: Chatgate's initial schema.

CREATE TABLE users (
    id            bigserial   PRIMARY KEY,
    name          text        NOT NULL,
    -- Stored lowercased by the store; uniqueness is enforced by
    -- idx_users_email below (one index serves both the constraint and the
    -- login lookup instead of a UNIQUE constraint plus a duplicate index).
    email         text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_users_email ON users (email);

CREATE TABLE rooms (
    id           bigserial   PRIMARY KEY,
    name         text        NOT NULL,
    is_private   boolean     NOT NULL DEFAULT false,
    created_by   bigint      REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- last_seq is the per-room message sequence: the batcher bumps it by n and
    -- takes the row lock, which makes seq gap-free and commit order seq order.
    last_seq     bigint      NOT NULL DEFAULT 0,
    -- member_count is kept in the same statement as join/leave so room lists
    -- never need COUNT(*).
    member_count bigint      NOT NULL DEFAULT 0
);

CREATE TABLE room_users (
    room_id       bigint      NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text        NOT NULL DEFAULT 'member',
    joined_at     timestamptz NOT NULL DEFAULT now(),
    last_read_seq bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX idx_room_users_lookup ON room_users (user_id, room_id);

-- messages has no foreign keys on purpose: it is the hot insert path (tens of
-- thousands of rows/s) and each FK costs a trigger and a lookup per row. The
-- batcher only inserts rows for rooms whose last_seq it has just locked, and
-- users and rooms are never hard-deleted.
CREATE TABLE messages (
    room_id    bigint      NOT NULL,
    seq        bigint      NOT NULL,
    user_id    bigint      NOT NULL,
    body       text        NOT NULL,
    client_id  text,
    created_at timestamptz NOT NULL,
    edited_at  timestamptz,
    deleted_at timestamptz,
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX idx_messages_room_created ON messages (room_id, created_at DESC);
-- Makes sends idempotent per (author, client id); NULL client ids never clash.
CREATE UNIQUE INDEX idx_messages_user_client ON messages (user_id, client_id);
