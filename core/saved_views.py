"""Saved views of a list (a name for a set of filters), per user, optionally shared with everyone.

A shared view carries filters, never rows: whoever opens it sees only what their own scope allows.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import duckdb

from core import audit, db
from core.context import Actor
from core.errors import NotFound, ValidationError
from core.fields import Field, clean_text

OBJECTS = ("lead", "customer")
_NAME = Field("name", "text", "views.name", required=True, max_len=60)


def save_view(con: duckdb.DuckDBPyConnection, actor: Actor, obj: str, name: str, filters: dict, shared: bool = False,
              check: Callable[[dict], Any] | None = None) -> int:
    """Save (or overwrite, by name) one of the actor's views. `check(filters)` validates the filters
    the way the list will use them (the list service's own filter parser)."""
    if obj not in OBJECTS:
        raise ValidationError("error.invalid_value", value=str(obj)[:20])
    name = clean_text(_NAME, name if isinstance(name, str) else "")
    if not name:
        raise ValidationError("field.required", field="views.name")
    if not isinstance(filters, dict):
        raise ValidationError("list.bad_filter")
    text = json.dumps(filters, ensure_ascii=False, default=str)
    if len(text) > 20_000:
        raise ValidationError("list.bad_filter")
    if check:
        check(filters)

    def work():
        old = db.scalar(con, "SELECT id FROM saved_views WHERE user_id = ? AND object = ? AND name = ?",
                        [actor.id, obj, name])
        if old:
            con.execute("UPDATE saved_views SET filters = ?, shared = ? WHERE id = ?", [text, bool(shared), old])
            audit.record(con, actor, "update", "view", old, {"filters": (None, text)})
            return old
        view_id = db.next_id(con, "saved_views")
        con.execute("INSERT INTO saved_views VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [view_id, actor.id, obj, name, text, bool(shared), actor.now])
        audit.record(con, actor, "create", "view", view_id, {"name": (None, name), "shared": (None, bool(shared))})
        return view_id

    return db.write(con, work)


def views(con: duckdb.DuckDBPyConnection, actor: Actor, obj: str) -> list[dict]:
    """The actor's own views and those others shared, own first; filters decoded."""
    rows = db.rows(con, "SELECT v.id, v.name, v.filters, v.shared, v.user_id, u.name AS owner_name FROM saved_views v "
                        "LEFT JOIN users u ON u.id = v.user_id WHERE v.object = ? AND (v.user_id = ? OR v.shared) "
                        "ORDER BY v.user_id <> ?, v.name", [obj, actor.id, actor.id])
    for r in rows:
        r["filters"] = json.loads(r["filters"])
        r["mine"] = r["user_id"] == actor.id
    return rows


def delete_view(con: duckdb.DuckDBPyConnection, actor: Actor, view_id: Any) -> None:
    """Remove one of the actor's views (an admin may remove any shared one)."""
    def work():
        row = db.one(con, "SELECT id, user_id, name, filters FROM saved_views WHERE id = ?", [view_id])
        if row is None or (row["user_id"] != actor.id and not actor.is_admin):
            raise NotFound("error.not_found")
        con.execute("DELETE FROM saved_views WHERE id = ?", [row["id"]])
        # a preference, not a business record: removed, with its name and filters kept in the audit log
        audit.record(con, actor, "delete", "view", row["id"], {"name": (row["name"], None),
                                                                "filters": (row["filters"], None)})

    if isinstance(view_id, bool) or not isinstance(view_id, int):
        raise NotFound("error.not_found")
    db.write(con, work)
