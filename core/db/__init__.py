"""The DuckDB store: connection, numbered migrations, units of work with retry, id sequences, queries.

One process opens the database file once (`connect`) and gives each thread or unit of work its own
`cursor()`. Every write runs through `write()`, which wraps it in one transaction and retries it when
DuckDB reports a write-write conflict.
"""
from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import duckdb
import polars as pl

from core.errors import Conflict, DatabaseBusy

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")

# tables whose ids come from seq_<table>
ID_TABLES = (
    "teams users field_defs leads customers contacts activities products deals deal_stage_history "
    "orders order_lines payments targets tasks tickets ticket_events feedback segments campaigns "
    "workflow_rules workflow_runs outbox imports import_mappings pool_moves audit_log api_keys "
    "saved_views login_attempts reports webhooks pipelines deal_lines payment_plans handoffs notifications reclaim_rules assignment_runs"
).split()


def connect(path: str | Path = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the database file (creating its folder), translating a lock held by another process."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DatabaseBusy("error.db_busy", path=str(path)) from exc
        raise


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the numbered *.sql files not applied yet, each in its own transaction. Idempotent."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for file in sorted(MIGRATIONS.glob("*.sql")):
        m = re.match(r"(\d+)_", file.name)
        if not m or int(m.group(1)) in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(file.read_text(encoding="utf-8"))
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now()::TIMESTAMP)",
                [int(m.group(1)), file.name],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(file.name)
    return applied


# Retryable failures: a write-write conflict, and a uniqueness key (phone_keys...) taken by a unit of
# work that committed first. The retry runs the whole unit again, so it sees the committed row and
# raises the service's own typed error (DuplicateError...) instead of DuckDB's.
_RETRYABLE = ("conflict", "duplicate key", "constraint violation")


def _is_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (duckdb.TransactionException, duckdb.ConstraintException)) and any(
        word in text for word in _RETRYABLE)


class _Unit:
    """The open unit of work of one cursor: how deep the nesting is, and whether an inner unit
    failed (then the whole unit must roll back, even if the outer code caught the error)."""

    __slots__ = ("depth", "failed")

    def __init__(self) -> None:
        self.depth = 0
        self.failed: BaseException | None = None


# open units of work, per thread and per cursor (a cursor is used by one thread at a time)
_local = threading.local()


def _units() -> dict[int, _Unit]:
    found = getattr(_local, "units", None)
    if found is None:
        found = _local.units = {}
    return found


def in_unit(con: duckdb.DuckDBPyConnection) -> bool:
    """True while `con` runs a unit of work opened by `write()` in this thread."""
    unit = _units().get(id(con))
    return unit is not None and unit.depth > 0


def write(con: duckdb.DuckDBPyConnection, work: Callable[[], T], retries: int = 6) -> T:
    """Run `work()` as one unit of work: all of it commits or none of it does.

    A unit knows it is open: called inside another unit on the same cursor, it joins it (no second
    BEGIN: on duckdb 2.0.0 a failed BEGIN aborts the open transaction and the later COMMIT silently
    writes nothing). An exception in an inner unit dooms the outer one, even if the outer code catches
    it. A write-write conflict (or a key taken meanwhile) rolls back and runs the whole outer unit again
    with back-off; after `retries` attempts the caller gets `Conflict` ("this record changed, reload").
    """
    units = _units()
    unit = units.get(id(con))
    if unit is not None and unit.depth > 0:  # join the open unit
        unit.depth += 1
        try:
            return work()
        except BaseException as exc:
            if unit.failed is None:
                unit.failed = exc
            raise
        finally:
            unit.depth -= 1
    unit = units[id(con)] = _Unit()
    try:
        for attempt in range(retries):
            unit.depth, unit.failed = 1, None
            con.execute("BEGIN TRANSACTION")
            try:
                result = work()
                if unit.failed is not None:  # an inner unit failed and the error was swallowed
                    raise unit.failed
                con.execute("COMMIT")
                return result
            except BaseException as exc:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                if _is_conflict(exc) and attempt < retries - 1:
                    time.sleep(0.005 * (2**attempt) * (1 + random.random()))
                    continue
                if _is_conflict(exc):
                    raise Conflict("error.conflict") from exc
                raise
        raise Conflict("error.conflict")  # pragma: no cover - the loop returns or raises
    finally:
        units.pop(id(con), None)


def next_id(con: duckdb.DuckDBPyConnection, table: str) -> int:
    if table not in ID_TABLES:
        raise ValueError(table)
    return con.execute(f"SELECT nextval('seq_{table}')").fetchall()[0][0]  # sql-ok: fixed list


def next_ids(con: duckdb.DuckDBPyConnection, table: str, n: int) -> list[int]:
    if table not in ID_TABLES:
        raise ValueError(table)
    if n <= 0:
        return []
    rows = con.execute(f"SELECT nextval('seq_{table}') FROM range(?)", [n]).fetchall()  # sql-ok
    return [r[0] for r in rows]


def reset_sequences(con: duckdb.DuckDBPyConnection, tables: Iterable[str] = ID_TABLES) -> None:
    """After a bulk load with explicit ids, move each sequence past the table's highest id."""
    for table in tables:
        if table not in ID_TABLES:
            raise ValueError(table)
        top = con.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchall()[0][0]  # sql-ok
        current = con.execute(
            "SELECT coalesce(max(last_value), 0) FROM duckdb_sequences() WHERE sequence_name = ?",
            [f"seq_{table}"],
        ).fetchall()[0][0]
        if top >= (current or 0):
            con.execute(f"DROP SEQUENCE IF EXISTS seq_{table}")  # sql-ok: fixed list
            con.execute(f"CREATE SEQUENCE seq_{table} START {int(top) + 1}")  # sql-ok: int


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pl.DataFrame:
    """Run a query and return a Polars frame."""
    return con.sql(sql, params=params or None).pl()


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> dict | None:
    found = rows(con, sql, params)
    return found[0] if found else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    found = con.execute(sql, params or []).fetchall()
    return found[0][0] if found else None


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CHECKPOINT")
