"""Soft delete and the recycle bin (回收站): deleted records keep every row and link; the admin restores
them, or purges those deleted longer ago than the retention period."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

import duckdb
import polars as pl

from core import access, audit, db, search, settings
from core.context import Actor
from core.errors import DuplicateError, NotFound, ValidationError

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


def _ids(ids) -> list[int]:
    """Record ids as given by a page or a caller: whole numbers only (1.9 is not record 1, "12" is
    not records 1 and 2)."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, set)) or len(ids) > 100_000:
        raise ValidationError("recycle.bad_ids")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValidationError("recycle.bad_ids")
    return list(ids)


def _entity(entity: str) -> tuple[str, str, str]:
    if not isinstance(entity, str) or entity not in ENTITIES:
        raise ValidationError("error.invalid_value", value=str(entity)[:40])
    return ENTITIES[entity]


# entities whose phone is a key in phone_keys (held while the record is in the bin)
_PHONE_ENTITIES = {"customer", "lead", "contact"}


def _bin_filter(con, actor: Actor, entity: str, bin_action: str) -> tuple[str, list] | None:
    """The condition on `entity`'s table selecting the binned records the actor may `bin_action`
    (view, edit = restore, delete = purge): within the module's view and delete scopes, and within
    the actor's recycle scope (records the actor deleted, or whose owner and team lie in that scope).
    None when the module is out of the actor's reach."""
    _table, module, _label = _entity(entity)
    bin_scope = access.scope_of(con, actor, "recycle", bin_action)
    scopes = [access.scope_of(con, actor, module, a) for a in ("view", "delete")]
    if bin_scope == "none" or "none" in scopes:
        return None
    parts, params = [], []
    for scope in scopes:
        where, args = access.predicate_for_scope(actor, module, scope)
        parts.append(f"({where})")
        params += args
    where, args = access.predicate_for_scope(actor, module, bin_scope)
    parts.append(f"(deleted_by = ? OR {where})" if where != "TRUE" else "TRUE")
    params += ([actor.id] + args) if where != "TRUE" else []
    return " AND ".join(parts), params


def delete(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str, ids: Iterable[int]) -> int:
    """Move records to the recycle bin. Only records the actor may delete are touched; returns how many.
    Their phone keys stay held while they are in the bin."""
    table, module, _label = _entity(entity)
    where, params = access.predicate(con, actor, module, "delete")
    ids = _ids(ids)
    if not ids:
        return 0

    def work():
        # select under the scope first, then update by id: an update that hands rows back undoes
        # concurrent edits of other columns on duckdb 2.0.0 (FACTS.md)
        done_ids = [r[0] for r in con.execute(
            f"SELECT id FROM {table} WHERE id IN (SELECT unnest(?)) AND deleted_at IS NULL AND {where}",  # sql-ok
            [ids] + params,
        ).fetchall()]
        if not done_ids:
            if len(ids) == 1:
                raise NotFound("error.not_found")
            return 0
        con.execute(
            f"UPDATE {table} SET deleted_at = ?, deleted_by = ? WHERE id IN (SELECT unnest(?)) "  # sql-ok: fixed table
            f"AND deleted_at IS NULL",
            [actor.now, actor.id, done_ids],
        )
        audit.record_many(con, actor, "delete", entity, done_ids)
        return len(done_ids)

    return db.write(con, work)


def deleted(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str | None = None, limit: int = 500) -> pl.DataFrame:
    """What is in the recycle bin and within the actor's reach (see `_bin_filter`), newest first, with
    who deleted it and when it may be purged."""
    access.require(con, actor, "recycle", "view")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
        raise ValidationError("list.bad_page_size", max=5000)
    if entity is not None:
        _entity(entity)
    retention = settings.get(con, "recycle.retention_days")
    parts, args = [], []
    for name, (table, _module, label) in ENTITIES.items():
        if entity and name != entity:
            continue
        found = _bin_filter(con, actor, name, "view")
        where, params = found if found else ("FALSE", [])
        parts.append(
            f"SELECT '{name}' AS entity, id, {label} AS label, deleted_at, deleted_by FROM {table} "
            f"WHERE deleted_at IS NOT NULL AND {where}"
        )
        args += params
    return db.frame(
        con,
        f"SELECT r.entity, r.id, r.label, r.deleted_at, u.name AS deleted_by_name, "
        f"r.deleted_at + to_days(?) AS purge_after FROM ({' UNION ALL '.join(parts)}) r "
        f"LEFT JOIN users u ON u.id = r.deleted_by ORDER BY r.deleted_at DESC LIMIT ?",
        args + [retention, limit],
    )


_LIVE_HOLDER = (
    "CASE k.entity "
    "WHEN 'customer' THEN EXISTS (SELECT 1 FROM customers x WHERE x.id = k.entity_id AND x.deleted_at IS NULL) "
    "WHEN 'lead' THEN EXISTS (SELECT 1 FROM leads x WHERE x.id = k.entity_id AND x.deleted_at IS NULL) "
    "WHEN 'contact' THEN EXISTS (SELECT 1 FROM contacts x WHERE x.id = k.entity_id AND x.deleted_at IS NULL) "
    "ELSE FALSE END"
)


def _keep_phone_keys(con, entity: str, records: list[dict]) -> None:
    """Before records come back from the bin: each phone key points at its restored record. A key
    held by another live record refuses the restore; a key left by a record no longer live (or a
    missing key) is taken over."""
    wanted = [r for r in records if r.get("phone_norm")]
    if not wanted:
        return
    holders = {
        r["phone_norm"]: r for r in db.rows(
            con, f"SELECT k.phone_norm, k.entity, k.entity_id, {_LIVE_HOLDER} AS live FROM phone_keys k "  # sql-ok
                 f"WHERE k.phone_norm IN (SELECT unnest(?))", [[r["phone_norm"] for r in wanted]])
    }
    claimed: dict[str, int] = {}
    take_over, insert = [], []
    for r in wanted:
        phone, holder = r["phone_norm"], holders.get(r["phone_norm"])
        if phone in claimed or (holder and holder["live"] and (holder["entity"], holder["entity_id"]) != (entity, r["id"])):
            raise DuplicateError("recycle.phone_taken", label=r["label"], phone=phone)
        claimed[phone] = r["id"]
        if holder is None:
            insert.append(r)
        elif (holder["entity"], holder["entity_id"]) != (entity, r["id"]):
            take_over.append(r)
    for r in take_over:  # non-key columns only: no delete+insert of the primary key
        con.execute("UPDATE phone_keys SET entity = ?, entity_id = ? WHERE phone_norm = ?", [entity, r["id"], r["phone_norm"]])
    if insert:
        con.execute("INSERT INTO phone_keys SELECT unnest(?), ?, unnest(?)",
                    [[r["phone_norm"] for r in insert], entity, [r["id"] for r in insert]])


def restore(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str, ids: Iterable[int]) -> int:
    """Bring records back from the bin: only those within the actor's reach (see `_bin_filter`); one
    record asked for and out of reach is not found. Returns how many came back."""
    table, _module, label = _entity(entity)
    access.require(con, actor, "recycle", "edit")
    ids = _ids(ids)
    if not ids:
        return 0
    phones = entity in _PHONE_ENTITIES

    def work():
        found = _bin_filter(con, actor, entity, "edit")
        records = [] if found is None else db.rows(
            con,
            f"SELECT id, {label} AS label{', phone_norm' if phones else ''} FROM {table} "  # sql-ok: fixed lists
            f"WHERE id IN (SELECT unnest(?)) AND deleted_at IS NOT NULL AND {found[0]}",
            [ids] + found[1],
        )
        if not records:
            if len(ids) == 1:
                raise NotFound("error.not_found")
            return 0
        if phones:
            _keep_phone_keys(con, entity, records)
        done_ids = [r["id"] for r in records]
        if entity == "customer":  # a restored customer goes back to its owner: within the owner's cap
            from core import pool

            for owner, n in con.execute(
                    "SELECT owner_id, count(*) FROM customers WHERE id IN (SELECT unnest(?)) AND owner_id IS NOT NULL "
                    "AND stage NOT IN ('won', 'upgrade') AND merged_into_id IS NULL GROUP BY owner_id ORDER BY owner_id",
                    [done_ids]).fetchall():
                pool.check_room(con, owner, n)
        con.execute(
            f"UPDATE {table} SET deleted_at = NULL, deleted_by = NULL WHERE id IN (SELECT unnest(?)) "  # sql-ok
            f"AND deleted_at IS NOT NULL",
            [done_ids],
        )
        audit.record_many(con, actor, "restore", entity, done_ids)
        return len(done_ids)

    return db.write(con, work)


def purge(con: duckdb.DuckDBPyConnection, actor: Actor, now: dt.datetime | None = None) -> dict[str, int]:
    """Remove for good what was deleted longer ago than the retention period (default 30 days), among
    the records within the actor's reach (see `_bin_filter`). Phone keys held by purged records are
    released. Every purge is in the audit log."""
    access.require(con, actor, "recycle", "delete")
    cutoff = (now or actor.now) - dt.timedelta(days=settings.get(con, "recycle.retention_days"))

    def work():
        counts = {}
        for name, (table, _module, _label) in ENTITIES.items():
            found = _bin_filter(con, actor, name, "delete")
            ids = [] if found is None else [r[0] for r in con.execute(
                f"SELECT id FROM {table} WHERE deleted_at IS NOT NULL AND deleted_at < ? AND {found[0]}",  # sql-ok
                [cutoff] + found[1]).fetchall()]
            if ids:
                # claim the rows first: a restore running beside the purge then conflicts (and is retried)
                # instead of its record vanishing; a bare DELETE would not see it. The claim must change a
                # value: DuckDB skips an UPDATE that writes the value already stored (no claim at all).
                con.execute(f"UPDATE {table} SET deleted_at = deleted_at + INTERVAL 1 MICROSECOND "  # sql-ok
                            "WHERE id IN (SELECT unnest(?))", [ids])
                con.execute(f"DELETE FROM {table} WHERE id IN (SELECT unnest(?)) AND deleted_at IS NOT NULL", [ids])  # sql-ok
                if name in _PHONE_ENTITIES:
                    con.execute("DELETE FROM phone_keys WHERE entity = ? AND entity_id IN (SELECT unnest(?))", [name, ids])
                if name in search.ENTITIES:
                    search.forget(con, name, ids)
            audit.record_many(con, actor, "purge", name, ids)
            counts[name] = len(ids)
        return counts

    return db.write(con, work)
