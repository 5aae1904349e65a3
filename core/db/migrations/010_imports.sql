-- 010: import, export and backup (issue 9). Every imported row carries its batch (import_id); an
-- update made by an import keeps the old value in import_updates so "undo" restores it exactly.
ALTER TABLE imports ADD COLUMN options JSON;          -- on_duplicate, owners, pool, date order ...
ALTER TABLE imports ADD COLUMN counts JSON;           -- rows, created, updated, dup_in_file, dup_in_store, rejected, exact_dup ...
ALTER TABLE imports ADD COLUMN delimiter VARCHAR;
ALTER TABLE imports ADD COLUMN sheet VARCHAR;
ALTER TABLE imports ADD COLUMN error_file VARCHAR;    -- path of the rejected rows with their reasons
ALTER TABLE imports ADD COLUMN source VARCHAR;        -- wizard | cli

ALTER TABLE import_mappings ADD COLUMN name VARCHAR;  -- a saved mapping (--mapping NAME); NULL = remembered layout only
ALTER TABLE import_mappings ADD COLUMN value_map JSON;  -- per field: the file's value -> our code
ALTER TABLE import_mappings ADD COLUMN options JSON;
ALTER TABLE import_mappings ADD COLUMN created_by BIGINT;

CREATE TABLE import_updates (
    import_id     BIGINT NOT NULL,
    entity        VARCHAR NOT NULL,           -- customer | lead | contact | deal | order | ticket | user ...
    entity_id     BIGINT NOT NULL,
    field         VARCHAR NOT NULL,           -- a column, or custom.<name> for a custom field
    old_value     JSON,
    new_value     JSON
);

ALTER TABLE users ADD COLUMN import_id BIGINT;
ALTER TABLE teams ADD COLUMN import_id BIGINT;
ALTER TABLE order_lines ADD COLUMN import_id BIGINT;
ALTER TABLE activities ADD COLUMN import_id BIGINT;
ALTER TABLE products ADD COLUMN import_id BIGINT;
