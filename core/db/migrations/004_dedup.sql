-- 004: keys of the duplicate guard (core.dedup).
-- One narrow table, like phone_keys, instead of key columns on customers, leads and contacts: the big
-- tables keep no extra index (an UPDATE of an indexed column is a delete + insert in DuckDB), and a
-- check reads a handful of rows by key.
--   key     'e:' + e-mail (trimmed, lower case)
--           'p:' + a person's name in pinyin ('p:zhangwei' for 张伟, 章伟 and Zhang Wei)
--           'c:' + a company's brand in pinyin, its name without legal form, place and industry words
--           ('c:xinghe' for 上海星河科技有限公司, 星河科技 and Xinghe Technology Co., Ltd.)
--   chars   the name as compared by characters, pinyin the whole name in pinyin (for scoring)
-- A record in the recycle bin keeps its keys (it still holds them); a purge drops them.

CREATE TABLE dedup_keys (
    key           VARCHAR NOT NULL,
    entity        VARCHAR NOT NULL,           -- customer | lead | contact
    entity_id     BIGINT NOT NULL,
    chars         VARCHAR,
    pinyin        VARCHAR
);

-- e-mail keys of the rows already there, in key order (the index loads faster, a key's rows sit together)
INSERT INTO dedup_keys
SELECT key, entity, entity_id, NULL, NULL FROM (
    SELECT 'e:' || lower(trim(email)) AS key, 'customer' AS entity, id AS entity_id FROM customers
    WHERE nullif(trim(email), '') IS NOT NULL
    UNION ALL
    SELECT 'e:' || lower(trim(email)), 'lead', id FROM leads WHERE nullif(trim(email), '') IS NOT NULL
    UNION ALL
    SELECT 'e:' || lower(trim(email)), 'contact', id FROM contacts WHERE nullif(trim(email), '') IS NOT NULL
) ORDER BY key;

-- name keys need pinyin (Python): core.dedup.backfill fills them once, when core.setup.prepare opens
-- the store after this migration (vectorised with Polars: pinyin once per distinct character)
CREATE TABLE dedup_pending (
    what          VARCHAR PRIMARY KEY
);
INSERT INTO dedup_pending VALUES ('names');

CREATE INDEX dedup_keys_key ON dedup_keys (key);
