-- 0008: fresh planner statistics for messages.
--
-- 0005 added kind (and 0006 the search columns) to a table that may hold
-- millions of rows; ALTER TABLE leaves no statistics for new columns and
-- autovacuum analyzes only after enough rows change. Until then the planner
-- takes the default selectivity for `kind = 0` (half a percent, where it is
-- nearly every row), and search's plan choice, fed by the planner's own
-- estimates, went wrong: measured on 1,000,000 messages, p95 220-270 ms for
-- common words before this ANALYZE, 2-12 ms after.
ANALYZE messages;
