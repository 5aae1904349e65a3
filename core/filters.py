"""The filter builder: conditions over any field of an object, custom fields included, turned into
plain AND clauses with bound values. Field names come from the object's definitions (a fixed list),
operators from a fixed table; nothing the user types becomes SQL text.

A condition is {"field": name, "op": op, "value": value}:
  text, longtext, phone, email: contains | equals | empty | not_empty
  int, number:                  eq | gte | lte | empty | not_empty
  date, datetime:               on | after | before | empty | not_empty   (dates are company days)
  choice:                       in (value: list of codes) | empty | not_empty
  multichoice:                  has (value: one code) | empty | not_empty
  bool:                         is (value: true/false)
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from core import fields
from core.errors import ValidationError
from core.fields import Field

OPS = {
    "text": ("contains", "equals", "empty", "not_empty"),
    "longtext": ("contains", "empty", "not_empty"),
    "phone": ("contains", "equals", "empty", "not_empty"),
    "email": ("contains", "equals", "empty", "not_empty"),
    "int": ("eq", "gte", "lte", "empty", "not_empty"),
    "number": ("eq", "gte", "lte", "empty", "not_empty"),
    "date": ("on", "after", "before", "empty", "not_empty"),
    "datetime": ("on", "after", "before", "empty", "not_empty"),
    "choice": ("in", "empty", "not_empty"),
    "multichoice": ("has", "empty", "not_empty"),
    "bool": ("is",),
}
MAX_CONDITIONS = 20


def _column(f: Field, alias: str) -> str:
    """The SQL expression of a field: its column, or its value in the custom JSON (name checked)."""
    if not f.custom:
        return f"{alias}.{f.name}"
    if not f.name.replace("_", "").isalnum():
        raise ValidationError("list.bad_filter")
    path = f"'$.{f.name}'"
    if f.kind in ("int", "number"):
        return f"TRY_CAST(json_extract_string({alias}.custom, {path}) AS DOUBLE)"
    if f.kind == "bool":
        return f"TRY_CAST(json_extract_string({alias}.custom, {path}) AS BOOLEAN)"
    if f.kind in ("date", "datetime"):
        return f"TRY_CAST(json_extract_string({alias}.custom, {path}) AS TIMESTAMP)"
    if f.kind == "multichoice":
        return f"json_extract({alias}.custom, {path})"
    return f"json_extract_string({alias}.custom, {path})"


def conditions_sql(con, defs: dict[str, Field], conditions: Any, role: str, alias: str = "x"
                   ) -> tuple[list[str], list]:
    """The conditions as (clauses, params). Only fields the role may see can be filtered on."""
    if conditions in (None, []):
        return [], []
    if not isinstance(conditions, (list, tuple)) or len(conditions) > MAX_CONDITIONS:
        raise ValidationError("list.bad_filter")
    clauses, args = [], []
    for cond in conditions:
        if not isinstance(cond, dict) or not isinstance(cond.get("field"), str):
            raise ValidationError("list.bad_filter")
        f = defs.get(cond["field"])
        op = cond.get("op")
        if f is None or not f.visible_to(role) or op not in OPS.get(f.kind, ()):
            raise ValidationError("list.bad_filter")
        col, value = _column(f, alias), cond.get("value")
        if op == "empty":
            clauses.append(f"({col} IS NULL)" if f.kind not in ("text", "longtext", "phone", "email")
                           else f"coalesce({col}, '') = ''")
            continue
        if op == "not_empty":
            clauses.append(f"({col} IS NOT NULL)" if f.kind not in ("text", "longtext", "phone", "email")
                           else f"coalesce({col}, '') <> ''")
            continue
        if f.kind in ("text", "longtext", "phone", "email"):
            text = fields.clean_text(Field(f.name, "text", f.label), value) if isinstance(value, str) else None
            if text is None:
                raise ValidationError("list.bad_filter")
            if op == "contains":
                clauses.append(f"{col} ILIKE ?")
                args.append(f"%{text}%")
            else:
                clauses.append(f"lower({col}) = lower(?)")
                args.append(text)
        elif f.kind in ("int", "number"):
            number = fields.clean_number(Field(f.name, "number", f.label), value)
            clauses.append(f"{col} {'=' if op == 'eq' else '>=' if op == 'gte' else '<='} ?")
            args.append(number)
        elif f.kind in ("date", "datetime"):
            day = fields.clean_value(con, Field(f.name, "date", f.label), value)
            from core import clock

            start, end = clock.day_bounds_utc(con, day) if f.kind == "datetime" else (
                dt.datetime.combine(day, dt.time()), dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))
            if op == "on":
                clauses.append(f"{col} >= ? AND {col} < ?")
                args += [start, end]
            elif op == "after":
                clauses.append(f"{col} >= ?")
                args.append(end)
            else:
                clauses.append(f"{col} < ?")
                args.append(start)
        elif f.kind == "choice":
            items = value if isinstance(value, (list, tuple)) else [value]
            options = f.options if f.options is not None else tuple(f.options_from(con)) if f.options_from else ()
            if not items or not all(isinstance(v, str) and v in options for v in items):
                raise ValidationError("list.bad_filter")
            clauses.append(f"{col} IN ({', '.join('?' for _ in items)})")
            args += list(items)
        elif f.kind == "multichoice":
            if not isinstance(value, str) or value not in (f.options or ()):
                raise ValidationError("list.bad_filter")
            clauses.append(f"list_contains(CAST({col} AS VARCHAR[]), ?)")
            args.append(value)
        elif f.kind == "bool":
            if not isinstance(value, bool):
                raise ValidationError("list.bad_filter")
            clauses.append(f"{col} = ?")
            args.append(value)
    return clauses, args
