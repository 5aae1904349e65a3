"""Soft delete and the recycle bin (回收站): deleted records keep every row and link; the admin restores
them, or purges those deleted longer ago than the retention period."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

import duckdb
import polars as pl

from core import access, audit, db, settings
from core.context import Actor
from core.errors import NotFound, ValidationError

# entity -> (table, module for permissions, column that names the record)
ENTITIES: dict[str, tuple[str, str, str]] = {
    "customer": ("customers", "customers", "name"),
    "lead": ("leads", "leads", "name"),
    "contact": ("contacts", "customers", "name"),
    "activity": ("activities", "activities", "coalesce(subject, kind)"),
    "deal": ("deals", "deals", "name"),
    "order": ("orders", "orders", "coalesce(order_no, CAST(id AS VARCHAR))"),
    "task": ("tasks", "tasks", "title"),
    "ticket": ("tickets", "tickets", "subject"),
    "feedback": ("feedback", "feedback", "kind"),
    "segment": ("segments", "segments", "name"),
    "campaign": ("campaigns", "campaigns", "name"),
}


def _entity(entity: str) -> tuple[str, str, str]:
    if entity not in ENTITIES:
        raise ValidationError("error.invalid_value", value=entity)
    return ENTITIES[entity]


def delete(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str, ids: Iterable[int]) -> int:
    """Move records to the recycle bin. Only records the actor may delete are touched; returns how many."""
    table, module, _label = _entity(entity)
    where, params = access.predicate(con, actor, module, "delete")
    ids = [int(i) for i in ids]
    if not ids:
        return 0

    def work():
        done = con.execute(
            f"UPDATE {table} SET deleted_at = ?, deleted_by = ? WHERE id IN (SELECT unnest(?)) "  # sql-ok: fixed table
            f"AND deleted_at IS NULL AND {where} RETURNING id",
            [actor.now, actor.id, ids] + params,
        ).fetchall()
        done_ids = [r[0] for r in done]
        if len(done_ids) < len(ids) and len(ids) == 1:
            raise NotFound("error.not_found")
        audit.record_many(con, actor, "delete", entity, done_ids)
        return len(done_ids)

    return db.write(con, work)


def deleted(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str | None = None, limit: int = 500) -> pl.DataFrame:
    """What is in the recycle bin, newest first, with who deleted it and when it may be purged."""
    access.require(con, actor, "recycle", "view")
    retention = settings.get(con, "recycle.retention_days")
    parts, args = [], []
    for name, (table, _module, label) in ENTITIES.items():
        if entity and name != entity:
            continue
        parts.append(
            f"SELECT '{name}' AS entity, id, {label} AS label, deleted_at, deleted_by FROM {table} "
            f"WHERE deleted_at IS NOT NULL"
        )
    if not parts:
        raise ValidationError("error.invalid_value", value=entity)
    return db.frame(
        con,
        f"SELECT r.entity, r.id, r.label, r.deleted_at, u.name AS deleted_by_name, "
        f"r.deleted_at + to_days(?) AS purge_after FROM ({' UNION ALL '.join(parts)}) r "
        f"LEFT JOIN users u ON u.id = r.deleted_by ORDER BY r.deleted_at DESC LIMIT ?",
        args + [retention, limit],
    )


def restore(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str, ids: Iterable[int]) -> int:
    table, _module, _label = _entity(entity)
    access.require(con, actor, "recycle", "edit")
    ids = [int(i) for i in ids]

    def work():
        done = con.execute(
            f"UPDATE {table} SET deleted_at = NULL, deleted_by = NULL WHERE id IN (SELECT unnest(?)) "  # sql-ok
            f"AND deleted_at IS NOT NULL RETURNING id",
            [ids],
        ).fetchall()
        audit.record_many(con, actor, "restore", entity, [r[0] for r in done])
        return len(done)

    return db.write(con, work)


def purge(con: duckdb.DuckDBPyConnection, actor: Actor, now: dt.datetime | None = None) -> dict[str, int]:
    """Remove for good what was deleted longer ago than the retention period (default 30 days).
    Phone keys held by purged records are released. Every purge is in the audit log."""
    access.require(con, actor, "recycle", "delete")
    cutoff = (now or actor.now) - dt.timedelta(days=settings.get(con, "recycle.retention_days"))

    def work():
        counts = {}
        for name, (table, _module, _label) in ENTITIES.items():
            gone = con.execute(
                f"DELETE FROM {table} WHERE deleted_at IS NOT NULL AND deleted_at < ? RETURNING id", [cutoff]  # sql-ok
            ).fetchall()
            ids = [r[0] for r in gone]
            if ids and name in ("customer", "lead", "contact"):
                con.execute("DELETE FROM phone_keys WHERE entity = ? AND entity_id IN (SELECT unnest(?))", [name, ids])
            audit.record_many(con, actor, "purge", name, ids)
            counts[name] = len(ids)
        return counts

    return db.write(con, work)
