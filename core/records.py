"""What every record service (customers, leads, contacts…) does the same way: read one record under
the scope, validate values against the object's fields (built-in and custom, with per-role edit
rights), refuse an edit from a stale form, write only what changed with a version that moves forward,
and audit it. The services keep their own rules (phones, owners, stages) around these steps.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

import duckdb

from core import access, audit, db, fields
from core.context import Actor
from core.errors import Conflict, NotFound, ValidationError


_ID = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Spec:
    entity: str          # audit entity and phone_keys entity: customer | lead | contact
    obj: str             # core.fields object
    table: str
    module: str          # permission module
    not_found: str       # message key


def record_id(value: Any, not_found: str = "error.not_found") -> int:
    """A record id from a link, a form or a caller; anything else is NotFound (nothing to leak)."""
    if isinstance(value, bool):
        raise NotFound(not_found)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _ID.fullmatch(value.strip()):  # ASCII digits only: "²".isdigit() is True
        return int(value.strip())
    raise NotFound(not_found)


def load(con: duckdb.DuckDBPyConnection, actor: Actor, spec: Spec, rid: Any, action: str = "view") -> dict:
    """The raw row (custom JSON packed) of a live record the actor may `action`, with owner and team
    names; NotFound otherwise."""
    rid = record_id(rid, spec.not_found)
    where, params = access.predicate(con, actor, spec.module, action, "x")
    found = db.one(
        con,
        f"SELECT x.*, o.name AS owner_name, t.name AS team_name FROM {spec.table} x "  # sql-ok: fixed table
        f"LEFT JOIN users o ON o.id = x.owner_id LEFT JOIN teams t ON t.id = x.team_id "
        f"WHERE x.id = ? AND x.deleted_at IS NULL AND {where}",
        [rid] + params,
    )
    if found is None:
        raise NotFound(spec.not_found)
    return found


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor, spec: Spec, rid: Any, action: str) -> bool:
    """Whether the actor may `action` this record (a page shows a form or a read-only view)."""
    if not access.can(con, actor, spec.module, action):
        return False
    try:
        load(con, actor, spec, rid, action)
    except NotFound:
        return False
    return True


def prepare(con: duckdb.DuckDBPyConnection, actor: Actor, spec: Spec, values: Any, creating: bool
            ) -> tuple[dict[str, fields.Field], dict[str, Any], dict[str, Any]]:
    """(definitions, built-in column values, custom values) of a write, validated, with the actor's
    right to edit each field checked."""
    defs = fields.definitions(con, spec.obj)
    clean = fields.clean(con, defs, values, creating=creating)
    fields.check_editable(defs, actor.role, [k for k in values if k in defs])
    own, custom = fields.split(defs, clean)
    return defs, own, custom


def custom_of(row: dict) -> dict:
    raw = row.get("custom")
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def refuse_stale(con: duckdb.DuckDBPyConnection, spec: Spec, defs: dict, old: dict, seen: Any, role: str) -> None:
    """An edit from a form opened before the record last changed is a Conflict naming what changed."""
    refuse_stale_labels(con, spec.entity, fields.mask(defs, role, old) | {"id": old["id"], "updated_at": old["updated_at"]},
                        seen, {k: f.label for k, f in defs.items()})


def refuse_stale_labels(con: duckdb.DuckDBPyConnection, entity: str, old: dict, seen: Any,
                        labels: dict[str, str]) -> None:
    """`refuse_stale` for records without field definitions: `labels` maps the fields a form shows to their
    label keys. Conflict("<entity>.changed_since", the labels of what changed, by whom) when `seen` (the
    record as the form was opened) has another version than `old`."""
    if seen is None:
        return
    if not isinstance(seen, dict):
        raise ValidationError("field.bad_values")
    if seen.get("updated_at") == old["updated_at"]:
        return
    changed = [label for k, label in labels.items() if k in seen and seen[k] != old.get(k)]
    who = db.scalar(con, "SELECT u.name FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
                         "WHERE a.entity = ? AND a.entity_id = ? ORDER BY a.id DESC LIMIT 1", [entity, old["id"]])
    raise Conflict(f"{entity}.changed_since", fields=changed or [f"{entity}.updated_at"], by=who or "—")


def visible_customer(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> dict:
    """A live customer the actor may view (id, name, level, owner_id, team_id), or NotFound — for a customer
    out of scope as for one that does not exist, so nothing leaks (the customer of a new deal, ticket or
    feedback)."""
    cid = record_id(customer_id, "customer.not_found")
    if not access.can(con, actor, "customers", "view"):
        raise NotFound("customer.not_found")
    where, params = access.predicate(con, actor, "customers", "view", "c")
    found = db.one(con, f"SELECT c.id, c.name, c.level, c.owner_id, c.team_id FROM customers c "
                        f"WHERE c.id = ? AND c.deleted_at IS NULL AND {where}", [cid] + params)
    if found is None:
        raise NotFound("customer.not_found")
    return found


def changes(old: dict, own: dict, custom: dict) -> tuple[dict, dict | None]:
    """(column -> (old, new)) for built-in columns that differ, and the new custom JSON (None when
    unchanged); custom differences are added to the first as `name -> (old, new)` for the audit."""
    diff = {k: (old.get(k), v) for k, v in own.items() if k in old and old.get(k) != v}
    before = custom_of(old)
    after = dict(before)
    for k, v in custom.items():
        if before.get(k) != v:
            diff[k] = (before.get(k), v)
            if v is None:
                after.pop(k, None)
            else:
                after[k] = v
    return diff, (after if after != before else None)


def write_changes(con: duckdb.DuckDBPyConnection, actor: Actor, spec: Spec, old: dict, diff: dict,
                  new_custom: dict | None, columns: set[str]) -> None:
    """UPDATE the changed columns (and custom JSON) with a version that only moves forward; audit."""
    sets = {k: v for k, (_o, v) in diff.items() if k in columns}
    if new_custom is not None:
        sets["custom"] = json.dumps(new_custom, ensure_ascii=False, default=str)
    version = max(actor.now, old["updated_at"] + dt.timedelta(microseconds=1))
    assignments = ", ".join(f"{k} = ?" for k in sets)  # keys: the table's own column names
    con.execute(f"UPDATE {spec.table} SET {assignments}, updated_at = ? WHERE id = ?",  # sql-ok: fixed keys
                list(sets.values()) + [version, old["id"]])
    audit.record(con, actor, "update", spec.entity, old["id"],
                 {k: v for k, v in diff.items() if not k.endswith("_norm")})


def insert(con: duckdb.DuckDBPyConnection, table: str, cols: dict[str, Any]) -> None:
    names = list(cols)
    con.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",  # sql-ok
                [cols[n] for n in names])


def columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
