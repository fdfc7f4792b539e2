-- 0006: full-text search over messages (issue 15, store/search.go).
--
-- Every message carries the text search configuration it is analysed with
-- (search_config) and its tsvector (search_tsv), generated from body, so an
-- edit that rewrites body re-indexes the message by itself. The column
-- default is the configured `search_language`: the store sets it at start
-- (Store.SetSearchLanguage), so the batcher's INSERT needs no new column
-- and a change of language applies to new messages at once, with no table
-- rewrite; older messages keep their analysis and are still found, since a
-- search runs the query in every configuration listed in search_configs.
--
-- Adding a stored generated column rewrites messages once, under an
-- ACCESS EXCLUSIVE lock (about 10 s per million messages here): plan the
-- upgrade of a large database accordingly.
CREATE TABLE search_configs (
    cfg      regconfig   PRIMARY KEY,
    added_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO search_configs (cfg) VALUES ('english');

ALTER TABLE messages
    ADD COLUMN search_config regconfig NOT NULL DEFAULT 'english',
    ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (to_tsvector(search_config, body)) STORED;

-- fastupdate stays on (the default): an insert appends its entries to the
-- pending list instead of updating a posting tree per lexeme (measured on
-- the batcher: about 20 us of Postgres CPU per message less than with
-- fastupdate off). The list is merged by the gateway's cleaner every second
-- (store.IndexCleaner), off the batcher's path, so neither a flush nor a
-- search meets a long list; autovacuum and the 4 MB gin_pending_list_limit
-- remain the backstops. BENCHMARKS.md, "Search", has the figures.
CREATE INDEX idx_messages_search ON messages USING gin (search_tsv);

-- A search for a common word walks each of the caller's rooms newest first
-- (store/search.go, byTime): this is the index it walks. It is 0001's
-- idx_messages_room_created, which 0003 dropped when no query read it; it
-- costs every insert a B-tree insertion, a small part of what the search
-- column and its GIN index cost (BENCHMARKS.md, "Search").
CREATE INDEX idx_messages_search_time ON messages (room_id, created_at DESC);
