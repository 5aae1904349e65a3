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

# ---------------------------------------------------------------- labels of what the log holds
# every action and entity the services write (catalogue keys audit.action_<a>, entity.<e>)
ACTIONS = ("create", "update", "delete", "restore", "purge", "lock", "logout", "reset_password",
           "merge", "unmerge", "handover", "submit", "approve", "return", "reopen", "reassign", "export")
ENTITIES = ("customer", "lead", "contact", "activity", "deal", "order", "task", "ticket", "feedback", "user", "team",
            "setting", "permission", "handoff", "target", "pipeline", "product", "option")
# field -> label key, per entity, where the field's name is not `<entity>.<field>` of the catalogue
_FIELD_KEYS: dict[str, dict[str, str]] = {
    "customer": {"owner_id": "customer.owner", "team_id": "customer.team"},
    "lead": {"owner_id": "lead.owner"},
    "user": {"username": "users.username", "name": "users.name", "email": "users.email", "role": "users.role",
             "team_id": "users.team", "manager_id": "users.manager", "is_new_hire": "users.new_hire",
             "language": "users.language", "active": "users.active", "locked_until": "users.locked_until",
             "must_change_password": "users.must_change", "password": "auth.password",
             "last_login_at": "users.last_login"},
    "team": {"name": "teams.name", "parent_id": "teams.parent", "region": "teams.region",
             "new_hire_pool": "teams.new_hire_pool"},
}
# fields holding a user id or a team id (shown by name)
USER_ID_FIELDS = ("owner_id", "manager_id", "user_id", "assignee_id")
TEAM_ID_FIELDS = ("team_id", "parent_id")


def field_label_keys(entity: str | None, field: str | None) -> list[str] | None:
    """The catalogue keys naming a logged field, read together (a permission cell is role · module ·
    action); None when the catalogue has no name for it (show the field as it is)."""
    from core.i18n import catalogue

    if not field:
        return None
    known = catalogue("en")
    if entity == "permission":
        parts = field.split(".")
        keys = [f"role.{parts[0]}", f"module.{parts[1]}", f"action.{parts[2]}"] if len(parts) == 3 else []
        return keys if keys and all(k in known for k in keys) else None
    if entity == "setting":
        key = f"setting.{field}"
    else:
        key = _FIELD_KEYS.get(entity or "", {}).get(field) or f"{entity}.{field}"
    return [key] if key in known else None


def value_label_key(entity: str | None, field: str | None, value: str | None) -> str | None:
    """The catalogue key naming a logged value (a role, a scope, yes/no), or None to show it as it is."""
    from core.i18n import catalogue

    if value is None:
        return None
    if value in ("True", "False"):
        return "audit.yes" if value == "True" else "audit.no"
    key = None
    if entity == "permission":
        key = f"scope.{value}"
    elif field == "role":
        key = f"role.{value}"
    elif field == "kind" and entity == "customer":
        key = f"customer.kind_{value}"
    elif field == "gender":
        key = f"customer.gender_{value}"
    return key if key and key in catalogue("en") else None


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
