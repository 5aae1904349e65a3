"""The audit log: who, when, entity, id, field, old value, new value. Written by every service in the
same transaction as the change it records."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import duckdb
import polars as pl

from core import db
from core.context import Actor


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def record(
    con: duckdb.DuckDBPyConnection,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: int | None,
    changes: dict[str, tuple[Any, Any]] | None = None,
) -> None:
    """One row per changed field (or one row without a field for create/delete/restore)."""
    items = list((changes or {}).items()) or [(None, (None, None))]
    ids = db.next_ids(con, "audit_log", len(items))
    con.execute(
        "INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, new_value) "
        "SELECT unnest(?), ?, ?, ?, ?, ?, unnest(?), unnest(?), unnest(?)",
        [
            ids,
            actor.now,
            actor.id,
            action,
            entity,
            entity_id,
            [f for f, _ in items],
            [_text(o) for _, (o, _n) in items],
            [_text(n) for _, (_o, n) in items],
        ],
    )


def record_many(
    con: duckdb.DuckDBPyConnection, actor: Actor, action: str, entity: str, entity_ids: Iterable[int],
    field: str | None = None, old: Any = None, new: Any = None,
) -> None:
    """One row per entity for a bulk action (delete, restore, reassign...), in one statement."""
    ids = list(entity_ids)
    if not ids:
        return
    con.execute(
        "INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, new_value) "
        "SELECT nextval('seq_audit_log'), ?, ?, ?, ?, e, ?, ?, ? FROM (SELECT unnest(?) AS e)",
        [actor.now, actor.id, action, entity, field, _text(old), _text(new), ids],
    )


FILTERABLE = ("user_id", "entity", "action", "entity_id")


def search(
    con: duckdb.DuckDBPyConnection,
    actor: Actor,
    user_id: int | None = None,
    entity: str | None = None,
    action: str | None = None,
    entity_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[pl.DataFrame, int]:
    """The audit log viewer: newest first, filtered; only for who may view the audit module."""
    from core import access

    where, params = access.predicate(con, actor, "audit", "view", "a")
    clauses, args = [where], list(params)
    for col, value in (("a.user_id", user_id), ("a.entity", entity), ("a.action", action), ("a.entity_id", entity_id)):
        if value not in (None, ""):
            clauses.append(f"{col} = ?")
            args.append(value)
    if since:
        clauses.append("a.logged_at >= ?")
        args.append(since)
    if until:
        clauses.append("a.logged_at < ?")
        args.append(until)
    cond = " AND ".join(clauses)
    total = db.scalar(con, f"SELECT count(*) FROM audit_log a WHERE {cond}", args)
    df = db.frame(
        con,
        f"SELECT a.id, a.logged_at, a.user_id, u.name AS user_name, a.action, a.entity, a.entity_id, a.field, "
        f"a.old_value, a.new_value FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
        f"WHERE {cond} ORDER BY a.logged_at DESC, a.id DESC LIMIT ? OFFSET ?",
        args + [limit, offset],
    )
    return df, total
