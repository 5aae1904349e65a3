"""Customers (客户): list with filters under the viewer's scope, open one, create, edit.

Uniqueness by phone: the normalised phone is a key in phone_keys, checked in the same transaction.
Every value goes through core.fields; an edit carries the version the user saw (updated_at) and a
record changed since is a Conflict, never a silent overwrite.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import polars as pl

from core import access, audit, db, dedup, fields, listing, options, pool, pool_mask, records, search
from core.context import Actor
from core.errors import DuplicateError, PermissionDenied, ValidationError
from core.fields import Field

KINDS = ("company", "person")


def _stage_codes(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT code FROM customer_stages").fetchall()]


def _level_codes(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT code FROM customer_levels").fetchall()]


# the editable fields of a customer: kind, limits and label (core.fields validates every write)
FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("name", "text", "customer.name", required=True, max_len=200, tier="required"),
    Field("kind", "choice", "customer.kind", options=KINDS, nullable=False),
    Field("phone", "phone", "customer.phone", max_len=40),
    Field("email", "email", "customer.email", max_len=254),
    Field("gender", "choice", "customer.gender", options=("male", "female", "other"), tier="extra"),
    Field("industry", "text", "customer.industry", max_len=100),
    Field("country", "text", "customer.country", max_len=100, tier="extra"),
    Field("province", "text", "customer.province", max_len=50),
    Field("city", "text", "customer.city", max_len=50),
    Field("district", "text", "customer.district", max_len=50, tier="extra"),
    Field("address", "text", "customer.address", max_len=300, tier="extra"),
    Field("postal_code", "text", "customer.postal_code", max_len=20, tier="extra"),
    Field("source", "choice", "customer.source", options_from=lambda con: options.codes(con, "source")),
    Field("stage", "choice", "customer.stage", options_from=_stage_codes, nullable=False),
    Field("level", "choice", "customer.level", options_from=_level_codes),
    Field("employees", "int", "customer.employees", min=0, max=10_000_000, tier="extra"),
    Field("annual_revenue", "number", "customer.annual_revenue", min=0, max=1e15, tier="extra"),
    Field("year_established", "int", "customer.year_established", min=1800, max=2100, tier="extra"),
    Field("next_followup_at", "datetime", "customer.next_followup_at"),
)}
LIST = listing.ListSpec(
    module="customers", table="customers",
    columns="x.id, x.name, x.kind, x.phone, x.email, x.stage, x.level, x.province, x.city, x.industry, x.source, "
            "x.owner_id, o.name AS owner_name, x.team_id, t.name AS team_name, (x.owner_id IS NULL) AS in_pool, "
            "x.last_activity_at, x.next_followup_at, x.created_at, x.updated_at",
    joins="LEFT JOIN users o ON o.id = x.owner_id LEFT JOIN teams t ON t.id = x.team_id",
    sorts={**{s: (f"x.{s}", "") for s in ("updated_at", "created_at", "name", "stage", "level", "province",
                                           "last_activity_at", "next_followup_at")},
           "owner_name": ("o.name", "LEFT JOIN users o ON o.id = x.owner_id")},
)
SORTS = tuple(LIST.sorts)
_FILTER_KEYS = {"q", "stage", "level", "province", "source", "industry", "kind", "owner_id", "team_id", "in_pool",
                "followup_due_by", "followup_from", "created_from", "created_to", "holder", "mine"}


# ---------------------------------------------------------------------------------------- reading
def record_id(value: Any) -> int:
    """A customer id from a link, a form or a caller; anything else is NotFound."""
    return records.record_id(value, "customer.not_found")


def _moment(value: Any, label: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError("field.bad_date", field=label, min=fields.DATE_MIN.year, max=fields.DATE_MAX.year - 1)


def _values(value: Any, label: str) -> list[str]:
    items = list(value) if isinstance(value, (list, tuple, set)) else [value]
    if len(items) > 1000 or not all(isinstance(v, str) and len(v) <= 200 for v in items):
        raise ValidationError("field.bad_choice", field=label, value=fields.short(value))
    return [fields.search_text(v) for v in items]


def _filters(con, filters: Any, actor: Actor) -> tuple[list[str], list]:
    """The user's filters as plain AND clauses on alias x, every value checked and bound; the search box
    by key (core.search) where the keys answer it exactly."""
    if filters is None:
        return [], []
    if not isinstance(filters, dict) or not set(filters) <= _FILTER_KEYS:
        raise ValidationError("list.bad_filter")
    clauses, args = [], []
    # a field hidden in a pool never finds a record of that pool (core.pool_mask)
    found, found_args = search.text_clause(con, "customer", filters.get("q"),
                                           guards=pool_mask.search_guards(con, actor, "x"))
    clauses += found
    args += found_args
    for col in ("stage", "level", "province", "source", "industry", "kind"):
        value = filters.get(col)
        if value in (None, "", [], ()):
            continue
        items = _values(value, f"customer.{col}")
        clauses.append(f"x.{col} IN ({', '.join('?' for _ in items)})")
        args += items
    for col in ("owner_id", "team_id"):
        value = filters.get(col)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError("list.bad_filter")
            clauses.append(f"x.{col} = ?")
            args.append(value)
    holder = filters.get("holder")
    in_pool = filters.get("in_pool")
    if holder not in (None, "all"):
        if holder not in ("mine", "team", "owned", "pool"):
            raise ValidationError("list.bad_filter")
        if holder == "mine":
            clauses.append("x.owner_id = ?")
            args.append(actor.id)
        elif holder == "team":
            clauses.append("x.owner_id IS NOT NULL")
        in_pool = {"owned": False, "pool": True}.get(holder, in_pool)
    if in_pool is True:
        clauses.append("x.owner_id IS NULL")
    elif in_pool is False:
        clauses.append("x.owner_id IS NOT NULL")
    if filters.get("followup_from"):
        clauses.append("x.next_followup_at >= ?")
        args.append(_moment(filters["followup_from"], "customer.next_followup_at"))
    if filters.get("followup_due_by"):
        clauses.append("x.owner_id IS NOT NULL AND x.next_followup_at < ?")
        args.append(_moment(filters["followup_due_by"], "customer.next_followup_at"))
    if filters.get("created_from"):
        clauses.append("x.created_at >= ?")
        args.append(_moment(filters["created_from"], "customer.created_at"))
    if filters.get("created_to"):
        clauses.append("x.created_at < ?")
        args.append(_moment(filters["created_to"], "customer.created_at"))
    return clauses, args


def list_customers(
    con: duckdb.DuckDBPyConnection,
    actor: Actor,
    filters: dict[str, Any] | None = None,
    sort: str = "updated_at",
    desc: bool = True,
    page: int = 0,
    page_size: int = 50,
) -> tuple[pl.DataFrame, int]:
    """One page of the customers the actor may see, and how many there are in all (core.listing)."""
    where, args = _filters(con, filters, actor)
    # a search the keys cannot answer is a scan of every name: then one scan for a rep (core.listing)
    searching = bool(where) and any("LIKE" in w for w in where)
    df, total = listing.fetch_page(con, actor, LIST, where, args, sort, desc, page, page_size, one_scan=searching)
    return pool_mask.mask_frame(con, actor, df), total


def count_customers(con: duckdb.DuckDBPyConnection, actor: Actor, filters: dict[str, Any] | None = None) -> int:
    where, args = _filters(con, filters, actor)
    return listing.count(con, actor, LIST, where, args)


SPEC = records.Spec(entity="customer", obj="customer", table="customers", module="customers",
                    not_found="customer.not_found")


def get_customer(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, action: str = "view") -> dict:
    """One customer the actor may `action`, as the actor's role may read it (custom fields unpacked,
    fields the role may not see left out); NotFound when it is not theirs to see (no leak of existence)."""
    row = records.load(con, actor, SPEC, customer_id, action)
    return pool_mask.mask_record(con, actor, fields.mask(fields.definitions(con, "customer"), actor.role, row))


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, action: str) -> bool:
    """Whether the actor may `action` (edit, delete...) this customer: the page shows a form or a
    read-only view, a delete button or none."""
    return records.allowed(con, actor, SPEC, customer_id, action)


# ---------------------------------------------------------------------------------------- phones
_HOLDER_SQL = {
    "customer": "SELECT x.deleted_at, x.owner_id, o.name AS owner, tm.name AS team FROM customers x "
                "LEFT JOIN users o ON o.id = x.owner_id LEFT JOIN teams tm ON tm.id = x.team_id WHERE x.id = ?",
    "lead": "SELECT x.deleted_at, x.owner_id, o.name AS owner, tm.name AS team FROM leads x "
            "LEFT JOIN users o ON o.id = x.owner_id LEFT JOIN teams tm ON tm.id = x.team_id WHERE x.id = ?",
    "contact": "SELECT coalesce(x.deleted_at, c.deleted_at) AS deleted_at, c.owner_id, o.name AS owner, "
               "tm.name AS team FROM contacts x LEFT JOIN customers c ON c.id = x.customer_id "
               "LEFT JOIN users o ON o.id = c.owner_id LEFT JOIN teams tm ON tm.id = c.team_id WHERE x.id = ?",
}


def phone_taken(con: duckdb.DuckDBPyConnection, entity: str, entity_id: int) -> DuplicateError:
    """The error for a phone already held by another record: who holds it (name and team), the shared
    pool, or the recycle bin, and nothing more: no id, no field the asker may not open."""
    holder = db.one(con, _HOLDER_SQL[entity], [entity_id]) if entity in _HOLDER_SQL else None
    what = f"entity.{entity}"
    if holder is None or holder["deleted_at"] is not None:
        return DuplicateError("phone.held_in_bin", entity=what)
    if holder["owner_id"] is None:
        return DuplicateError("phone.held_in_pool", entity=what, team=holder["team"] or "—")
    return DuplicateError("phone.held_by", entity=what, owner=holder["owner"] or "—", team=holder["team"] or "—")


def claim_phone(con, phone_norm: str | None, entity: str, entity_id: int) -> None:
    """Reserve a normalised phone for a record (inside its unit of work), or DuplicateError."""
    if not phone_norm:
        return
    holder = db.one(con, "SELECT entity, entity_id FROM phone_keys WHERE phone_norm = ?", [phone_norm])
    if holder and not (holder["entity"] == entity and holder["entity_id"] == entity_id):
        raise phone_taken(con, holder["entity"], holder["entity_id"])
    if not holder:
        con.execute("INSERT INTO phone_keys VALUES (?, ?, ?)", [phone_norm, entity, entity_id])


def release_phone(con, phone_norm: str | None, entity: str, entity_id: int) -> None:
    if phone_norm:
        con.execute("DELETE FROM phone_keys WHERE phone_norm = ? AND entity = ? AND entity_id = ?",
                    [phone_norm, entity, entity_id])


# ---------------------------------------------------------------------------------------- writing
def create_customer(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict[str, Any],
                    owner_id: int | None | str = "me", team_id: int | None = None, confirmed: bool = False,
                    exclude=None) -> int:
    """A new customer; the phone must be valid and not held by another customer, lead or contact.
    The duplicate guard (core.dedup) runs first: DuplicateError for a match its rules block, or warn
    about unless `confirmed` (the user's "save anyway"); `exclude`: ("lead", id) when converting it.

    A rep's new customer is the rep's own, or sits in the rep's team pool. Giving it to someone else or
    to another team's pool needs the `assign` scope over that team (core.access.check_holder)."""
    access.require(con, actor, "customers", "create")
    _defs, own, custom = records.prepare(con, actor, SPEC, values, creating=True)
    if owner_id == "me":
        owner_id = actor.id
    if owner_id is not None and (isinstance(owner_id, bool) or not isinstance(owner_id, int)):
        raise ValidationError("assign.bad_owner")
    if team_id is not None and (isinstance(team_id, bool) or not isinstance(team_id, int)):
        raise ValidationError("assign.bad_team")

    def work():
        owner, team = access.check_holder(con, actor, "customers", owner_id, team_id)
        if (own.get("stage") or "raw") not in ("won", "upgrade"):
            pool.check_room(con, owner, 1)  # a rep holds at most the cap of customers not won
        customer_id = db.next_id(con, "customers")
        dedup.check_new(con, actor, "customer", customer_id, {**own, "kind": own.get("kind") or "company"}, confirmed,
                        exclude)
        claim_phone(con, own.get("phone_norm"), "customer", customer_id)
        records.insert(con, "customers", {
            **own, "id": customer_id, "stage": own.get("stage") or "raw", "kind": own.get("kind") or "company",
            "owner_id": owner, "team_id": team, "assigned_at": actor.now if owner else None,
            "pool_since": None if owner else actor.now,
            "won_at": actor.now if own.get("stage") in ("won", "upgrade") else None,
            "custom": json.dumps(custom, ensure_ascii=False) if custom else None,
            "created_by": actor.id, "created_at": actor.now, "updated_at": actor.now})
        search.refresh(con, "customer", [customer_id], new=True)
        audit.record(con, actor, "create", "customer", customer_id,
                     {k: (None, v) for k, v in {**own, **custom}.items() if v is not None and k != "phone_norm"})
        return customer_id

    return db.write(con, work)


def update_customer(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, changes: dict[str, Any],
                    seen: dict | None = None, confirmed: bool = False) -> dict:
    """Edit fields of a customer the actor may edit; every changed field goes to the audit log.

    `seen` is the record as the user saw it (from get_customer): when the record changed since, the
    edit is refused with Conflict naming the fields that changed (and who changed them), so nothing the
    others saved is overwritten. Only the fields in `changes` are written, and only where they differ."""
    access.require(con, actor, "customers", "edit")
    customer_id = record_id(customer_id)
    defs, own, custom = records.prepare(con, actor, SPEC, changes, creating=False)

    def work():
        old = records.load(con, actor, SPEC, customer_id, "edit")
        hidden = pool_mask.is_masked(con, actor, old)
        shown = seen
        if seen is not None and hidden and isinstance(seen, dict):  # the form showed the masked values
            shown = {k: v for k, v in seen.items() if k not in hidden}
        records.refuse_stale(con, SPEC, defs, old, shown, actor.role)
        diff, new_custom = records.changes(old, own, custom)
        touched = sorted(k for k in diff if k in hidden or (k == "phone_norm" and "phone" in hidden))
        if touched:  # a field hidden in the pool is not the actor's to read, nor to overwrite
            raise ValidationError("pool.field_hidden", field=defs["phone" if touched[0] == "phone_norm" else
                                                                   touched[0]].label)
        if not diff:
            return {}
        dedup.check_edit(con, actor, "customer", customer_id, old, {k: v for k, (_o, v) in diff.items()}, confirmed)
        if "phone_norm" in diff:
            release_phone(con, old.get("phone_norm"), "customer", customer_id)
            claim_phone(con, diff["phone_norm"][1], "customer", customer_id)
        if "stage" in diff and diff["stage"][1] in ("won", "upgrade") and not old.get("won_at"):
            diff["won_at"] = (None, actor.now)
        records.write_changes(con, actor, SPEC, old, diff, new_custom, set(old) - {"custom"})
        if diff.keys() & {"name", "email", "phone_norm"}:
            search.refresh(con, "customer", [customer_id], old=old)
        return diff

    return db.write(con, work)


def stages(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return db.rows(con, "SELECT code, name_en, name_zh FROM customer_stages ORDER BY position")


def levels(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return db.rows(con, "SELECT code, name_en, name_zh FROM customer_levels ORDER BY position")


def provinces(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[str]:
    """Distinct provinces among the customers the actor may see (for the filter)."""
    where, params = access.predicate(con, actor, "customers", "view", "c")
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT province FROM customers c WHERE c.deleted_at IS NULL AND province IS NOT NULL AND {where} "
        f"ORDER BY 1 LIMIT 200", params).fetchall()]


fields.register("customer", FIELDS)


# ---------------------------------------------------------------------------------------- bulk actions
BULK_MAX = 500


def _bulk_ids(ids: Any) -> list[int]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, set)) or not 0 < len(ids) <= BULK_MAX:
        raise ValidationError("bulk.bad_selection", max=BULK_MAX)
    return sorted({record_id(i) for i in ids})


def _in_scope(con, actor: Actor, ids: list[int], action: str) -> list[dict]:
    """The selected customers the actor may `action`, checked one by one in one query."""
    where, params = access.predicate(con, actor, "customers", action, "x")
    return db.rows(con, f"SELECT x.id, x.stage, x.level, x.owner_id, x.team_id FROM customers x "
                        f"WHERE x.id IN (SELECT unnest(?)) AND x.deleted_at IS NULL AND {where}", [ids] + params)


def bulk_update(con: duckdb.DuckDBPyConnection, actor: Actor, ids: Any, changes: dict[str, Any]) -> dict:
    """Change stage and/or level of the selected customers. Each record is checked: those the actor may
    not edit are skipped and counted. Returns {"done": n, "skipped": m}."""
    access.require(con, actor, "customers", "edit")
    ids = _bulk_ids(ids)
    if not isinstance(changes, dict) or not changes or not set(changes) <= {"stage", "level"}:
        raise ValidationError("bulk.bad_change")
    _defs, own, _custom = records.prepare(con, actor, SPEC, changes, creating=False)

    def work():
        rows = _in_scope(con, actor, ids, "edit")
        for col, value in own.items():
            targets = [r["id"] for r in rows if r[col] != value]
            if not targets:
                continue
            extra = ", won_at = coalesce(won_at, ?)" if col == "stage" and value in ("won", "upgrade") else ""
            con.execute(f"UPDATE customers SET {col} = ?{extra}, updated_at = greatest(updated_at + "  # sql-ok: col
                        f"INTERVAL 1 MICROSECOND, ?) WHERE id IN (SELECT unnest(?))",
                        [value] + ([actor.now] if extra else []) + [actor.now, targets])
            for old_value in {r[col] for r in rows if r["id"] in targets}:
                audit.record_many(con, actor, "update", "customer",
                                  [r["id"] for r in rows if r["id"] in targets and r[col] == old_value],
                                  field=col, old=old_value, new=value)
        return {"done": len(rows), "skipped": len(ids) - len(rows)}

    return db.write(con, work)


def bulk_release(con: duckdb.DuckDBPyConnection, actor: Actor, ids: Any) -> dict:
    """Release the selected customers to their team's shared pool (本组共享). A rep releases only own
    customers; won customers stay with their owner. Each move is recorded with its reason."""
    access.require(con, actor, "customers", "assign")
    ids = _bulk_ids(ids)

    def work():
        rows = [r for r in _in_scope(con, actor, ids, "assign") if r["owner_id"] is not None
                and r["stage"] not in ("won", "upgrade") and (r["owner_id"] == actor.id or access.scope_of(
                    con, actor, "customers", "assign") != "own")]
        moved = [r["id"] for r in rows]
        if moved:
            con.execute("UPDATE customers SET owner_id = NULL, pool_since = ?, pool_reason = 'release', pool_rank = NULL, "
                        "locked_at = NULL, locked_by = NULL, updated_at = greatest(updated_at + "
                        "INTERVAL 1 MICROSECOND, ?) WHERE id IN (SELECT unnest(?))", [actor.now, actor.now, moved])
            con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, "
                        "reason, moved_by, moved_at) SELECT nextval('seq_pool_moves'), id, owner_id, NULL, team_id, team_id, "
                        "'release', ?, ? FROM (SELECT unnest(?) AS id, unnest(?) AS owner_id, unnest(?) AS team_id)",
                        [actor.id, actor.now, moved, [r["owner_id"] for r in rows], [r["team_id"] for r in rows]])
            for owner in {r["owner_id"] for r in rows}:
                audit.record_many(con, actor, "release", "customer", [r["id"] for r in rows if r["owner_id"] == owner],
                                  field="owner_id", old=owner, new=None)
        return {"done": len(moved), "skipped": len(ids) - len(moved)}

    return db.write(con, work)


def bulk_reassign(con: duckdb.DuckDBPyConnection, actor: Actor, ids: Any, owner_id: Any) -> dict:
    """Give the selected customers to another user (managers and admins: the assign scope over the
    target team, core.access.check_holder). Reps never move records rep to rep."""
    access.require(con, actor, "customers", "assign")
    if access.scope_of(con, actor, "customers", "assign") == "own":
        raise PermissionDenied("bulk.reps_cannot_reassign")
    ids = _bulk_ids(ids)
    if isinstance(owner_id, bool) or not isinstance(owner_id, int):
        raise ValidationError("assign.bad_owner")

    def work():
        owner, team = access.check_holder(con, actor, "customers", owner_id, None)
        rows = [r for r in _in_scope(con, actor, ids, "assign") if r["owner_id"] != owner]
        moved = [r["id"] for r in rows]
        pool.check_room(con, owner, sum(r["stage"] not in ("won", "upgrade") for r in rows))
        if moved:
            con.execute("UPDATE customers SET owner_id = ?, team_id = ?, assigned_at = ?, pool_since = NULL, "
                        "updated_at = greatest(updated_at + INTERVAL 1 MICROSECOND, ?) WHERE id IN (SELECT unnest(?))",
                        [owner, team, actor.now, actor.now, moved])
            con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, "
                        "reason, moved_by, moved_at) SELECT nextval('seq_pool_moves'), id, owner_id, ?, team_id, ?, "
                        "'assign', ?, ? FROM (SELECT unnest(?) AS id, unnest(?) AS owner_id, unnest(?) AS team_id)",
                        [owner, team, actor.id, actor.now, moved, [r["owner_id"] for r in rows],
                         [r["team_id"] for r in rows]])
            for old in {r["owner_id"] for r in rows}:
                audit.record_many(con, actor, "reassign", "customer", [r["id"] for r in rows if r["owner_id"] == old],
                                  field="owner_id", old=old, new=owner)
            from core import contacts  # contacts build on customers

            contacts.sync_holders(con, moved)
        return {"done": len(moved), "skipped": len(ids) - len(moved)}

    return db.write(con, work)


def bulk_task(con: duckdb.DuckDBPyConnection, actor: Actor, ids: Any, title: Any, due_at: Any) -> dict:
    """A follow-up task per selected customer, for its owner (the actor for pool customers)."""
    access.require(con, actor, "tasks", "create")
    ids = _bulk_ids(ids)
    clean = fields.clean(con, _TASK_FIELDS, {"title": title, "due_at": due_at}, creating=True)

    def work():
        rows = _in_scope(con, actor, ids, "view")
        if rows:
            con.execute(
                "INSERT INTO tasks (id, title, kind, due_at, status, assignee_id, team_id, customer_id, created_by, "
                "created_at) SELECT nextval('seq_tasks'), ?, 'task', ?, 'open', coalesce(o, ?), t, c, ?, ? "
                "FROM (SELECT unnest(?) AS c, unnest(?) AS o, unnest(?) AS t)",
                [clean["title"], clean["due_at"], actor.id, actor.id, actor.now, [r["id"] for r in rows],
                 [r["owner_id"] for r in rows], [r["team_id"] for r in rows]])
            audit.record_many(con, actor, "task", "customer", [r["id"] for r in rows], field="task",
                              new=clean["title"])
        return {"done": len(rows), "skipped": len(ids) - len(rows)}

    return db.write(con, work)


_TASK_FIELDS = {f.name: f for f in (
    Field("title", "text", "bulk.task_title", required=True, max_len=200),
    Field("due_at", "datetime", "bulk.task_due", required=True),
)}
