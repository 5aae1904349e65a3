"""Customers (客户): list with filters under the viewer's scope, open one, create, edit.

Uniqueness by phone: the normalised phone is a key in phone_keys, checked in the same transaction.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb
import polars as pl

from core import access, audit, db, phones
from core.context import Actor
from core.errors import DuplicateError, NotFound, ValidationError

KINDS = ("company", "person")
# editable columns and their kind of value
FIELDS: dict[str, str] = {
    "name": "text", "kind": "choice", "phone": "phone", "email": "email", "gender": "text",
    "industry": "text", "country": "text", "province": "text", "city": "text", "district": "text",
    "address": "text", "postal_code": "text", "source": "text", "stage": "stage", "level": "level",
    "employees": "int", "annual_revenue": "number", "year_established": "int",
    "next_followup_at": "datetime",
}
SORTS = ("updated_at", "created_at", "name", "stage", "level", "province", "last_activity_at",
         "next_followup_at", "owner_name")
LIST_COLUMNS = (
    "c.id, c.name, c.kind, c.phone, c.email, c.stage, c.level, c.province, c.city, c.industry, c.source, "
    "c.owner_id, o.name AS owner_name, c.team_id, t.name AS team_name, (c.owner_id IS NULL) AS in_pool, "
    "c.last_activity_at, c.next_followup_at, c.created_at, c.updated_at"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _filters(filters: dict[str, Any]) -> tuple[list[str], list]:
    clauses, args = [], []
    q = (filters.get("q") or "").strip()
    if q:
        digits = re.sub(r"\D", "", q)
        cond = "(c.name ILIKE ? OR c.email ILIKE ?"
        args += [f"%{q}%", f"%{q}%"]
        if len(digits) >= 4:
            cond += " OR c.phone_norm LIKE ?"
            args.append(f"%{digits}%")
        clauses.append(cond + ")")
    for col in ("stage", "level", "province", "source", "industry", "kind"):
        value = filters.get(col)
        if isinstance(value, (list, tuple)) and value:
            clauses.append(f"c.{col} IN ({', '.join('?' for _ in value)})")
            args += list(value)
        elif value and not isinstance(value, (list, tuple)):
            clauses.append(f"c.{col} = ?")
            args.append(value)
    if filters.get("owner_id") is not None:
        clauses.append("c.owner_id = ?")
        args.append(filters["owner_id"])
    if filters.get("team_id") is not None:
        clauses.append("c.team_id = ?")
        args.append(filters["team_id"])
    if filters.get("in_pool") is True:
        clauses.append("c.owner_id IS NULL")
    elif filters.get("in_pool") is False:
        clauses.append("c.owner_id IS NOT NULL")
    if filters.get("followup_due_by"):
        clauses.append("c.next_followup_at <= ?")
        args.append(filters["followup_due_by"])
    if filters.get("created_from"):
        clauses.append("c.created_at >= ?")
        args.append(filters["created_from"])
    if filters.get("created_to"):
        clauses.append("c.created_at < ?")
        args.append(filters["created_to"])
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
    """One page of the customers the actor may see, and how many there are in all."""
    where, params = access.predicate(con, actor, "customers", "view", "c")
    extra, args = _filters(filters or {})
    cond = " AND ".join(["c.deleted_at IS NULL", where] + extra)
    if sort not in SORTS:
        raise ValidationError("error.invalid_value", value=sort)
    order = f"{'o.name' if sort == 'owner_name' else 'c.' + sort} {'DESC' if desc else 'ASC'} NULLS LAST, c.id DESC"
    page_size = max(1, min(int(page_size), 500))
    total = db.scalar(con, f"SELECT count(*) FROM customers c WHERE {cond}", params + args)
    df = db.frame(
        con,
        f"SELECT {LIST_COLUMNS} FROM customers c LEFT JOIN users o ON o.id = c.owner_id "
        f"LEFT JOIN teams t ON t.id = c.team_id WHERE {cond} ORDER BY {order} LIMIT ? OFFSET ?",
        params + args + [page_size, max(0, int(page)) * page_size],
    )
    return df, total


def count_customers(con: duckdb.DuckDBPyConnection, actor: Actor, filters: dict[str, Any] | None = None) -> int:
    where, params = access.predicate(con, actor, "customers", "view", "c")
    extra, args = _filters(filters or {})
    cond = " AND ".join(["c.deleted_at IS NULL", where] + extra)
    return db.scalar(con, f"SELECT count(*) FROM customers c WHERE {cond}", params + args)


def get_customer(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: int, action: str = "view") -> dict:
    """One customer the actor may `action`; NotFound when it is not theirs to see (no leak of existence)."""
    where, params = access.predicate(con, actor, "customers", action, "c")
    found = db.one(
        con,
        f"SELECT c.*, o.name AS owner_name, t.name AS team_name FROM customers c "
        f"LEFT JOIN users o ON o.id = c.owner_id LEFT JOIN teams t ON t.id = c.team_id "
        f"WHERE c.id = ? AND c.deleted_at IS NULL AND {where}",
        [customer_id] + params,
    )
    if found is None:
        raise NotFound("customer.not_found")
    return found


def _clean(con: duckdb.DuckDBPyConnection, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in FIELDS:
            raise ValidationError("error.invalid_value", value=key)
        kind = FIELDS[key]
        if isinstance(value, str):
            value = value.strip() or None
        if kind == "phone":
            out["phone_norm"] = phones.normalise(value)
        elif kind == "email" and value:
            value = value.lower()
            if not _EMAIL.match(value):
                raise ValidationError("error.bad_email", value=value)
        elif kind == "choice" and value is not None and value not in KINDS:
            raise ValidationError("error.invalid_value", value=value)
        elif kind == "stage" and value is not None and not db.scalar(
            con, "SELECT count(*) FROM customer_stages WHERE code = ?", [value]
        ):
            raise ValidationError("error.invalid_value", value=value)
        elif kind == "level" and value is not None and not db.scalar(
            con, "SELECT count(*) FROM customer_levels WHERE code = ?", [value]
        ):
            raise ValidationError("error.invalid_value", value=value)
        elif kind in ("int", "number") and value is not None:
            try:
                value = int(value) if kind == "int" else float(value)
            except (TypeError, ValueError):
                raise ValidationError("error.not_a_number", field=key, value=value) from None
            if value < 0:
                raise ValidationError("error.negative", field=key)
        elif kind == "datetime" and value is not None and not isinstance(value, dt.datetime):
            if isinstance(value, dt.date):
                value = dt.datetime.combine(value, dt.time(9))
            else:
                raise ValidationError("error.invalid_value", value=value)
        out[key] = value
    if "name" in out and not out["name"]:
        raise ValidationError("error.required", field="name")
    return out


def _claim_phone(con, phone_norm: str | None, entity_id: int, entity: str = "customer") -> None:
    if not phone_norm:
        return
    holder = db.one(con, "SELECT entity, entity_id FROM phone_keys WHERE phone_norm = ?", [phone_norm])
    if holder and not (holder["entity"] == entity and holder["entity_id"] == entity_id):
        raise DuplicateError("customer.duplicate_phone", phone=phone_norm, entity=holder["entity"], id=holder["entity_id"])
    if not holder:
        con.execute("INSERT INTO phone_keys VALUES (?, ?, ?)", [phone_norm, entity, entity_id])


def create_customer(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict[str, Any],
                    owner_id: int | None | str = "me", team_id: int | None = None) -> int:
    """A new customer; the phone must be valid and not held by another customer, lead or contact.
    A rep's new customer is theirs; a manager or admin may give it to another user, or put it in a
    team's shared pool (owner_id None, team_id that team)."""
    access.require(con, actor, "customers", "create")
    clean = _clean(con, values)
    if not clean.get("name"):
        raise ValidationError("error.required", field="name")
    owner = actor.id if owner_id == "me" else owner_id
    if owner != actor.id:
        access.require(con, actor, "customers", "assign")

    def work():
        team = team_id if team_id is not None else actor.team_id
        if owner is not None and owner != actor.id:
            team = db.scalar(con, "SELECT team_id FROM users WHERE id = ? AND active", [owner])
            if team is None:
                raise NotFound("org.user_not_found")
        customer_id = db.next_id(con, "customers")
        _claim_phone(con, clean.get("phone_norm"), customer_id)
        cols = {**clean, "id": customer_id, "stage": clean.get("stage") or "raw", "kind": clean.get("kind") or "company",
                "owner_id": owner, "team_id": team, "assigned_at": actor.now if owner else None,
                "pool_since": None if owner else actor.now, "created_by": actor.id,
                "created_at": actor.now, "updated_at": actor.now}
        names = list(cols)
        con.execute(
            f"INSERT INTO customers ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",  # sql-ok: fixed keys
            [cols[n] for n in names],
        )
        audit.record(con, actor, "create", "customer", customer_id,
                     {k: (None, v) for k, v in clean.items() if v is not None})
        return customer_id

    return db.write(con, work)


def update_customer(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: int, changes: dict[str, Any]) -> dict:
    """Edit fields of a customer the actor may edit; every changed field goes to the audit log."""
    access.require(con, actor, "customers", "edit")
    clean = _clean(con, changes)

    def work():
        old = get_customer(con, actor, customer_id, "edit")
        diff = {k: (old.get(k), v) for k, v in clean.items() if old.get(k) != v and k in old}
        if not diff:
            return {}
        if "phone_norm" in diff:
            if old.get("phone_norm"):
                con.execute("DELETE FROM phone_keys WHERE phone_norm = ? AND entity = 'customer' AND entity_id = ?",
                            [old["phone_norm"], customer_id])
            _claim_phone(con, diff["phone_norm"][1], customer_id)
        if "stage" in diff and diff["stage"][1] == "won" and not old.get("won_at"):
            diff["won_at"] = (None, actor.now)
        sets = ", ".join(f"{k} = ?" for k in diff)  # keys from FIELDS only
        con.execute(f"UPDATE customers SET {sets}, updated_at = ? WHERE id = ?",  # sql-ok: fixed keys
                    [v for _o, v in diff.values()] + [actor.now, customer_id])
        audit.record(con, actor, "update", "customer", customer_id, diff)
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
