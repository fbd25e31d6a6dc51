-- The operators' list, newest first, without a state filter: without this
-- index it read and sorted the whole table (SQLite 28 ms, PostgreSQL 18 ms
-- at 50,000 rows, on the one SQLite connection every worker waits for);
-- with it, 0.03 and 0.07 ms. With a state filter the list uses
-- requests_state_created.
CREATE INDEX requests_created ON requests (created_at, request_id);
