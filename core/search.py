"""The search box's keys: a customer search is an equality lookup in a narrow key table, not a LIKE
over a million names.

`search_keys` (migration 007) holds, for every customer, each pair of characters of its name in lower
case (part 'n'), each pair of characters of its e-mail (part 'e') and each run of four characters of
its normalised phone (part 'p'), with the position where it starts. The search box (core.listing.
text_search: name ILIKE / LIKE '%q%', e-mail LIKE, phone LIKE on the digits) is answered by joining
the keys of the typed text on record and position: '星河科技' is 星河 at p and 科技 at p + 2, so the
lookup finds exactly the names that contain the text (the pairs cover every character, in order),
and the results are those of the substring search, only found by key. Text the keys cannot answer
exactly falls back to that scan: one character (no pair), LIKE wildcards (% and _ are wildcards for
LIKE), very long text, or text whose lower case DuckDB would change while LIKE compares it as typed.

Why exact: DuckDB's ILIKE compares lower(name) with lower(text), and its lower() maps each character
to one character (checked over every code point: never to a character without case), so "name ILIKE
'%q%'" is "lower(name) contains lower(q)"; for text without case (Chinese, digits) LIKE is the same
test, since lower() leaves such characters alone.

The keys are kept in the unit of work of every write of a name, e-mail or phone (`refresh`:
core.customers create and edit, hence merge, its undo and lead conversion); `backfill` fills them
once for a store migrated to 007 (core.setup.prepare), `rebuild` after a bulk load (the demo, an
import). A key table, not an index on customers: an indexed column of a hot table loses concurrent
updates of the same row in DuckDB 2.0 (see core.dedup); this table is written by delete + insert.
"""
from __future__ import annotations

import unicodedata
from typing import Any

import duckdb

from core import db

ENTITIES = {"customer": "customers"}     # entity -> table (fixed names)
MAX_PAIRS = 12                           # longer text (over 24 characters) is searched by scan
PHONE_RUN = 4                            # the phone is searched from 4 digits on (core.listing)
GUARD_IDS = 2000                         # at most this many ids of a guarded part checked as a list (`clause`)

_TABLE_SQL = ("CREATE TABLE search_keys (entity VARCHAR NOT NULL, part VARCHAR NOT NULL, gram VARCHAR NOT NULL, "
              "entity_id BIGINT NOT NULL, pos INTEGER NOT NULL)")  # as in migration 007

# every key of the rows of {table} that match {where}: pairs of the lower-case name and of the e-mail,
# runs of four of the normalised phone; positions count characters from 1. Each record's keys come from
# one list per part, unnested with its positions (a lateral join on range() made the same rows 5-10x slower)
_KEYS_SQL = """
WITH src AS (SELECT id, lower(name) AS n, email AS e, phone_norm AS p FROM {table} WHERE {where}),
ent AS (SELECT ?::VARCHAR AS entity)
SELECT ent.entity, k.part, k.gram, k.entity_id, k.pos FROM ent, (
    SELECT 'n' AS part, unnest(list_transform(range(1, length(n)), lambda i: substr(n, i::INTEGER, 2))) AS gram,
           id AS entity_id, unnest(range(1, length(n)))::INTEGER AS pos FROM src WHERE length(n) > 1
    UNION ALL
    SELECT 'e', unnest(list_transform(range(1, length(e)), lambda i: substr(e, i::INTEGER, 2))), id,
           unnest(range(1, length(e)))::INTEGER FROM src WHERE length(e) > 1
    UNION ALL
    SELECT 'p', unnest(list_transform(range(1, length(p) - 2), lambda i: substr(p, i::INTEGER, 4))), id,
           unnest(range(1, length(p) - 2))::INTEGER FROM src WHERE length(p) > 3
) k
"""


def _keys_sql(entity: str, where: str) -> str:
    return _KEYS_SQL.format(table=ENTITIES[entity], where=where)  # fixed names, a fixed condition


_SOURCES = {"n": "name", "e": "email", "p": "phone_norm"}   # part -> the column it is made of


def _grams(part: str, text: str | None) -> list[str]:
    """The keys of one part of a record as the SQL above makes them (`text` already in lower case for
    names: DuckDB's lower()); characters are code points on both sides."""
    size = 4 if part == "p" else 2
    return [text[i:i + size] for i in range(len(text) - size + 1)] if text else []


def refresh(con: duckdb.DuckDBPyConnection, entity: str, ids: list[int], new: bool = False,
            old: dict | None = None) -> None:
    """The keys of these records again from their current values, inside the unit of work that wrote
    them (it sees its own rows). `new`: records just created, which have no keys yet. `old`: the one
    record as it was before this write (name, email, phone_norm): only the parts that changed are
    replaced, their old keys found by key (a few row groups) instead of a scan of the whole table."""
    ids = [int(i) for i in ids]
    if not ids:
        return
    parts = list(_SOURCES)
    if old is not None and len(ids) == 1:
        now = db.one(con, f"SELECT name, email, phone_norm FROM {ENTITIES[entity]} WHERE id = ?", ids)  # sql-ok
        parts = [p for p, col in _SOURCES.items() if (now or {}).get(col) != old.get(col)]
        if not parts:
            return
        for part in parts:  # the old keys of this record, found by key (DuckDB skips the other row groups)
            text = old.get(_SOURCES[part])
            if part == "n" and text:
                text = db.scalar(con, "SELECT lower(?)", [text])
            grams = sorted(set(_grams(part, text)))
            if grams:
                con.execute(f"DELETE FROM search_keys WHERE part = ? AND gram IN ({', '.join('?' for _ in grams)}) "  # sql-ok
                            f"AND entity_id = ? AND entity = ?", [part, *grams, ids[0], entity])
    elif not new:
        forget(con, entity, ids)
    con.execute(f"INSERT INTO search_keys SELECT * FROM ({_keys_sql(entity, 'id IN (SELECT unnest(?))')}) "  # sql-ok
                f"WHERE part IN (SELECT unnest(?))", [ids, entity, parts])


def add_keys(con: duckdb.DuckDBPyConnection, entity: str, where: str, params: list) -> None:
    """The keys of many new records at once (an import: `where` = "import_id = ?"), set-based, inside
    the unit of work that created them. `where` is a fixed condition of the caller; values are bound."""
    con.execute(f"INSERT INTO search_keys SELECT * FROM ({_keys_sql(entity, where)})", list(params) + [entity])  # sql-ok


def forget(con: duckdb.DuckDBPyConnection, entity: str, ids: list[int]) -> None:
    ids = [int(i) for i in ids]
    if ids:
        con.execute("DELETE FROM search_keys WHERE entity = ? AND entity_id IN (SELECT unnest(?))", [entity, ids])


def rebuild(con: duckdb.DuckDBPyConnection) -> int:
    """Every key again from the records, sorted by key (so a lookup reads only the row groups of its
    key: DuckDB skips the others by their min/max), after a bulk load. Joins the caller's unit of
    work; returns how many keys there are."""
    def work():
        # a new table: deleting tens of millions of rows costs more than writing them again
        con.execute("DROP TABLE IF EXISTS search_keys")
        con.execute(_TABLE_SQL)
        for entity in ENTITIES:
            con.execute(f"INSERT INTO search_keys SELECT * FROM ({_keys_sql(entity, 'TRUE')}) "  # sql-ok: fixed
                        f"ORDER BY part, gram, entity_id, pos", [entity])
        con.execute("DELETE FROM search_pending")
        return db.scalar(con, "SELECT count(*) FROM search_keys")

    return db.write(con, work, retries=1)


def backfill(con: duckdb.DuckDBPyConnection) -> bool:
    """The keys of the records that existed when migration 007 ran; once, from core.setup.prepare.
    True when it did work."""
    if not db.scalar(con, "SELECT count(*) FROM search_pending"):
        return False
    rebuild(con)
    return True


# ------------------------------------------------------------------------------------- searching
def _runs(text: str, size: int) -> list[tuple[int, str]]:
    """(offset, run of `size` characters) covering every character of the text, in order."""
    offsets = list(range(0, len(text) - size + 1, size))
    if offsets[-1] != len(text) - size:
        offsets.append(len(text) - size)
    return [(o, text[o:o + size]) for o in offsets]


def _lookup(entity: str, part: str, runs: list[tuple[int, str]]) -> tuple[str, list]:
    """The ids whose `part` holds the runs at their offsets from one start."""
    sql = "SELECT k0.entity_id FROM search_keys k0"
    where, args = ["k0.entity = ? AND k0.part = ? AND k0.gram = ?"], [entity, part, runs[0][1]]
    for n, (offset, gram) in enumerate(runs[1:], 1):
        sql += (f" JOIN search_keys k{n} ON k{n}.entity_id = k0.entity_id "
                f"AND k{n}.pos = k0.pos + {int(offset)}")  # sql-ok: ints
        where.append(f"k{n}.entity = ? AND k{n}.part = ? AND k{n}.gram = ?")
        args += [entity, part, gram]
    return f"{sql} WHERE {' AND '.join(where)}", args


def clause(con: duckdb.DuckDBPyConnection, entity: str, q: str, like: str,
           guards: dict[str, tuple[str, list]] | None = None) -> tuple[list[str], list] | None:
    """The search of core.listing.text_search over the name, the e-mail and the phone of `entity` as
    a key lookup: (["x.id IN (…)"], args), or None when the keys cannot answer it exactly (then the
    caller scans). `q` is the checked, stripped text; `like` the operator the scan would use on names.
    `guards`: as in core.listing.text_search (a record found by its e-mail or phone must also meet it)."""
    if entity not in ENTITIES or len(q) < 2 or "%" in q or "_" in q or len(q) > 2 * MAX_PAIRS:
        return None
    lower = db.scalar(con, "SELECT lower(?)", [q])
    if like == "LIKE" and lower != q:
        return None
    parts = [_lookup(entity, "n", _runs(lower, 2))]
    kinds = ["name"]
    if q.isascii():
        parts.append(_lookup(entity, "e", _runs(q.lower(), 2)))
        kinds.append("email")
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", q) if ch.isdigit())
    if len(digits) >= PHONE_RUN:
        if len(digits) > PHONE_RUN * MAX_PAIRS:
            return None
        parts.append(_lookup(entity, "p", _runs(digits, PHONE_RUN)))
        kinds.append("phone")
    guards = {k: g for k, g in (guards or {}).items() if k in kinds}
    if not guards:
        sql = " UNION ".join(p[0] for p in parts)
        return [f"x.id IN ({sql})"], [a for p in parts for a in p[1]]
    # a part with a guard: its ids count only for records that meet it (a hidden field finds nothing).
    # The key finds few ids: they are read first and the guard checked on that list; measured at 1M
    # customers, a guard inside the lookup or an OR outside it costs up to twice the search's time.
    sqls, args = [], []
    for k, p in zip(kinds, parts):
        if k not in guards:
            sqls.append(p[0])
            args += p[1]
            continue
        ids = [r[0] for r in con.execute(f"{p[0]} LIMIT {GUARD_IDS + 1}", p[1]).fetchall()]  # sql-ok: int
        cond, cargs = guards[k]
        if len(ids) > GUARD_IDS:  # too many to list: the guard inside the lookup
            sqls.append(f"SELECT x.id FROM {ENTITIES[entity]} x WHERE x.id IN ({p[0]}) AND {cond}")  # sql-ok
            args += p[1] + list(cargs)
        elif ids:
            kept = [r[0] for r in con.execute(f"SELECT x.id FROM {ENTITIES[entity]} x "  # sql-ok: fixed name
                                              f"WHERE x.id IN (SELECT unnest(?)) AND {cond}", [ids] + list(cargs)
                                              ).fetchall()]
            if kept:
                sqls.append("SELECT unnest(?::BIGINT[])")
                args.append(kept)
    if not sqls:
        return ["FALSE"], []
    return [f"x.id IN ({' UNION '.join(sqls)})"], args


def covers(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the keys are there (not waiting for their backfill)."""
    return not db.scalar(con, "SELECT count(*) FROM search_pending")


def text_clause(con: duckdb.DuckDBPyConnection, entity: str, q: Any,
                names: tuple[str, ...] = ("x.name",),
                guards: dict[str, tuple[str, list]] | None = None) -> tuple[list[str], list]:
    """The search box for a list of `entity`: by key when the keys answer it exactly, else the scan
    of core.listing.text_search (same results either way)."""
    from core import fields, listing

    scan = listing.text_search(q, names, guards=guards)
    if not scan[0] or names != ("x.name",):
        return scan
    text = fields.search_text(q)
    like = "ILIKE" if text.lower() != text.upper() else "LIKE"
    found = clause(con, entity, text, like, guards) if covers(con) else None
    return found or scan
