"""Option lists the admin edits: lead and customer sources, disqualify reasons, customer levels (客户级别),
lost reasons of deals (输单原因), ticket categories and their sub-categories (a sub-category names its
category in `parent`).

Each option has a code (what records store), names in both languages, a position and an active flag.
A code in use is never removed, only deactivated: old records keep a value the lists still name.
"""
from __future__ import annotations

import re

import duckdb

from core import access, audit, db
from core.context import Actor
from core.errors import NotFound, ValidationError
from core.fields import Field, clean_text

LISTS = ("source", "disqualify_reason", "level", "lost_reason", "ticket_category", "ticket_subcategory")
# lists whose options hang under an option of another list: list -> parent list
PARENT_LIST = {"ticket_subcategory": "ticket_category"}
_CODE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$", re.I)
_NAME_EN = Field("name_en", "text", "options.name_en", max_len=60)
_NAME_ZH = Field("name_zh", "text", "options.name_zh", max_len=60)


def _check_list(name: str) -> None:
    if name not in LISTS:
        raise ValidationError("error.invalid_value", value=str(name)[:40])


def options(con: duckdb.DuckDBPyConnection, name: str, include_inactive: bool = False) -> list[dict]:
    """code, name_en, name_zh, position, active, parent of one list (reference data: anyone may read it)."""
    _check_list(name)
    if name == "level":
        return db.rows(con, "SELECT code, name_en, name_zh, position, TRUE AS active, NULL AS parent "
                            "FROM customer_levels ORDER BY position")
    return db.rows(con, "SELECT code, name_en, name_zh, position, active, parent FROM option_lists WHERE list = ? "
                        "AND (active OR ?) ORDER BY parent NULLS FIRST, position, code", [name, include_inactive])


def codes(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """Every code of a list, inactive ones included (stored values stay valid)."""
    return [r["code"] for r in options(con, name, include_inactive=True)]


def save_option(con: duckdb.DuckDBPyConnection, actor: Actor, name: str, code: str, name_en: str, name_zh: str,
                active: bool = True, parent: str | None = None) -> None:
    """Add an option or rename / (de)activate one. Admins (settings edit) only. An option of a list with a
    parent list (a ticket sub-category) names an existing option of that list as its parent."""
    access.require(con, actor, "settings", "edit")
    _check_list(name)
    if name in PARENT_LIST:
        parent = (parent or "").strip()
        if parent not in codes(con, PARENT_LIST[name]):
            raise ValidationError("field.required", field="options.parent")
    else:
        parent = None
    code = (code or "").strip()
    if not _CODE.match(code):
        raise ValidationError("options.bad_code")
    en = clean_text(_NAME_EN, name_en)
    zh = clean_text(_NAME_ZH, name_zh)
    if not en or not zh:
        raise ValidationError("field.required", field="options.name_en" if not en else "options.name_zh")

    def work():
        table = "customer_levels" if name == "level" else "option_lists"
        where = "code = ?" if name == "level" else "list = ? AND code = ?"
        key = [code] if name == "level" else [name, code]
        old = db.one(con, f"SELECT name_en, name_zh FROM {table} WHERE {where}", key)  # sql-ok: fixed names
        if old is None:
            position = db.scalar(con, f"SELECT coalesce(max(position), 0) + 1 FROM {table}"  # sql-ok
                                 + ("" if name == "level" else " WHERE list = ?"), [] if name == "level" else [name])
            if name == "level":
                con.execute("INSERT INTO customer_levels (code, name_en, name_zh, position) VALUES (?, ?, ?, ?)",
                            [code, en, zh, position])
            else:
                con.execute("INSERT INTO option_lists (list, code, name_en, name_zh, position, active, parent) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", [name, code, en, zh, position, active, parent])
            audit.record(con, actor, "create", "option", None, {f"{name}.{code}": (None, f"{en} / {zh}")})
            return
        if name == "level":
            con.execute("UPDATE customer_levels SET name_en = ?, name_zh = ? WHERE code = ?", [en, zh, code])
        else:
            con.execute("UPDATE option_lists SET name_en = ?, name_zh = ?, active = ?, parent = ? "
                        "WHERE list = ? AND code = ?", [en, zh, bool(active), parent, name, code])
        audit.record(con, actor, "update", "option", None,
                     {f"{name}.{code}": (f"{old['name_en']} / {old['name_zh']}", f"{en} / {zh}"
                                         + ("" if active else " (inactive)"))})

    db.write(con, work)


def move_option(con: duckdb.DuckDBPyConnection, actor: Actor, name: str, code: str, step: int) -> None:
    """Move an option up (-1) or down (+1) in its list."""
    access.require(con, actor, "settings", "edit")
    _check_list(name)

    def work():
        rows = options(con, name, include_inactive=True)
        order = [r["code"] for r in rows]
        if code not in order:
            raise NotFound("error.not_found")
        i = order.index(code)
        j = max(0, min(len(order) - 1, i + step))
        order[i], order[j] = order[j], order[i]
        for position, c in enumerate(order, 1):
            if name == "level":
                con.execute("UPDATE customer_levels SET position = ? WHERE code = ?", [position, c])
            else:
                con.execute("UPDATE option_lists SET position = ? WHERE list = ? AND code = ?", [position, name, c])
        audit.record(con, actor, "update", "option", None, {f"{name}.order": (None, ", ".join(order))})

    db.write(con, work)
