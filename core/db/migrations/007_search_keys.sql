-- 007: keys of the search box (core.search): the customers list finds typed text by key, not by a LIKE
-- over every name. One narrow table, like dedup_keys (004), never an index on customers.
--   entity     customer
--   part       'n': two characters of the name in lower case, 'e': two of the e-mail,
--              'p': four of the normalised phone
--   gram       those characters; pos where they start (from 1): '星河科技' is 星河 at p and 科技 at p + 2
-- Kept by the services in the unit of work that writes the record; rows sorted by (part, gram) when
-- built in bulk, so a lookup reads only the row groups of its key.
CREATE TABLE search_keys (
    entity        VARCHAR NOT NULL,
    part          VARCHAR NOT NULL,
    gram          VARCHAR NOT NULL,
    entity_id     BIGINT NOT NULL,
    pos           INTEGER NOT NULL
);

-- filled once by core.search.backfill when core.setup.prepare opens the store (and by the demo's rebuild)
CREATE TABLE search_pending (
    what          VARCHAR PRIMARY KEY
);
INSERT INTO search_pending VALUES ('customers');
