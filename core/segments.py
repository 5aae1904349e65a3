"""Segments (客户细分) as records: a rule over customers, kept dynamic (re-evaluated on every use) or as a
dated snapshot (segment_members), private, shared with the creator's team or with everyone; members
listed page by page, exported (core.export), added to a campaign.

The rule is JSON: ``{"op": "and"|"or", "items": [condition | group, ...]}``; groups nest at most
MAX_DEPTH levels and a rule holds at most MAX_CONDITIONS conditions. A condition is
``{"field", "op", "value"}`` over a fixed list of fields:

- every customer field the viewer's role may see, custom fields included (core.filters: its
  operators and value checks), e.g. stage, level, source (``in``), province, industry (``contains``...);
- ``region``: ``in`` the regions of the customer's team (teams.region);
- ``owner``: ``in`` user ids; ``team``: ``in`` team ids (a team and the teams below it);
- ``last_activity_days``: ``gte`` N (no activity in the last N days, never included) or ``lte`` N
  (an activity within the last N days);
- ``orders_count`` / ``orders_sum``: ``gte``/``lte`` a value, over the orders of the last ``days``
  days (status not cancelled, refunded or draft, amount > 0); a customer without orders counts 0;
- ``rfm_segment``: ``in`` codes of core.analytics.rfm.SEGMENTS (optional ``asof`` ISO day, ``months``,
  ``method``; the defaults are today and the analytics settings).

Nothing the user types becomes SQL text: field names are looked up in the fixed list (an unknown name
is refused with ``segment.bad_field``), operators come from fixed tables and every value is bound.
The rule is always evaluated under the viewer's customer scope (core.access.branches), so a segment
shared with everyone still shows a manager only the team tree's customers; costly parts (orders, RFM)
are computed once per statement in materialised CTEs, not once per scope branch.

Who sees a segment: anyone with `segments` view sees their own segments, those shared with everyone,
and those shared with a team the viewer belongs to (the creator's team, or a team above the viewer's).
Editing or deleting needs the `segments` edit/delete permission and the segment being the actor's own,
or a scope of "all" for that action (marketing). Deletes go to the recycle bin (core.recycle).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from dataclasses import replace
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, customers, db, export as export_service, fields, filters, options, pool_mask
from core import recycle, settings
from core.context import Actor
from core.errors import NotFound, PermissionDenied, ValidationError
from core.fields import Field, clean_text

KINDS = ("dynamic", "snapshot")
SHARES = ("private", "team", "all")
SOURCES = ("rule", "rfm", "drill")
MAX_DEPTH = 3
MAX_CONDITIONS = 20
MAX_DAYS = 3650
MAX_IDS = 1_000_000
MAX_VALUES = 500
_NAME = Field("name", "text", "segment.name", required=True, max_len=100)
# fields of the rule beyond the customer's own (name -> kind, label key, operators)
SPECIAL: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "region": ("choice", "segment.field.region", ("in",)),
    "owner": ("choice", "customer.owner", ("in",)),
    "team": ("choice", "customer.team", ("in",)),
    "last_activity_days": ("int", "segment.field.last_activity_days", ("gte", "lte")),
    "orders_count": ("orders", "segment.field.orders_count", ("gte", "lte")),
    "orders_sum": ("orders", "segment.field.orders_sum", ("gte", "lte")),
    "rfm_segment": ("choice", "segment.field.rfm_segment", ("in",)),
}
# orders that count: not cancelled, refunded or draft, a positive amount, not in the bin
_ORDERS = ("SELECT customer_id FROM orders WHERE deleted_at IS NULL AND customer_id IS NOT NULL "
           "AND status NOT IN ('cancelled', 'refunded', 'draft') AND amount > 0 AND ordered_at > ? "
           "GROUP BY customer_id HAVING {agg} {op} ?")
# what a members table and its export show (columns of core.customers.LIST)
COLUMNS = {"name": "customer.name", "phone": "customer.phone", "email": "customer.email", "stage": "customer.stage",
           "level": "customer.level", "province": "customer.province", "city": "customer.city",
           "source": "customer.source", "owner_name": "customer.owner", "team_name": "customer.team",
           "last_activity_at": "customer.last_activity_at"}
MAILING_COLUMNS = {"name": "customer.name", "email": "customer.email", "phone": "customer.phone",
                   "province": "customer.province", "city": "customer.city"}


# ------------------------------------------------------------------------------------------ the rule
def _rfm():
    try:
        from core.analytics import rfm
    except ImportError as exc:  # engineer A's module not there yet
        raise ValidationError("segment.rfm_unavailable") from exc
    return rfm


def _regions(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT region FROM teams WHERE deleted_at IS NULL "
                                      "AND region IS NOT NULL ORDER BY 1").fetchall()]


def _teams(con) -> list[dict]:
    return db.rows(con, "SELECT id, name FROM teams WHERE deleted_at IS NULL ORDER BY name")


def _owners(con, actor: Actor) -> list[dict]:
    """The people who may hold customers the actor sees (a manager: the team tree's)."""
    where, params = "TRUE", []
    if access.scope_of(con, actor, "customers", "view") in ("own", "team", "team_tree") and not actor.is_admin:
        teams = list(actor.team_tree or (actor.team_id,))
        where = f"(u.id = ? OR u.team_id IN ({', '.join('?' for _ in teams)}))"
        params = [actor.id] + teams
    return db.rows(con, f"SELECT u.id, u.name FROM users u WHERE u.active AND u.role IN ('admin', 'manager', 'sales') "
                        f"AND {where} ORDER BY u.name", params)  # sql-ok: fixed condition, bound values


def rule_fields(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """The fields a rule may use, for the editor: name, kind (text, int, number, date, datetime, choice,
    multichoice, bool, orders), ops, label (catalogue key) or labels (en, zh) of a custom field, and
    for choices `options`: [{"code", "key"} | {"code", "en", "zh"} | {"code", "text"}]."""
    access.require(con, actor, "segments", "view")
    defs = fields.definitions(con, "customer", actor.role)
    stage = {r["code"]: (r["name_en"], r["name_zh"]) for r in customers.stages(con)}
    level = {r["code"]: (r["name_en"], r["name_zh"]) for r in customers.levels(con)}
    source = {o["code"]: (o.get("name_en") or o["code"], o.get("name_zh") or o.get("name_en") or o["code"])
              for o in options.options(con, "source", include_inactive=True)}
    named = {"stage": stage, "level": level, "source": source}
    out = []
    for name, f in defs.items():
        if f.kind not in filters.OPS:
            continue
        item = {"name": name, "kind": f.kind, "ops": filters.OPS[f.kind], "label": f.label,
                "labels": f.labels, "custom": f.custom}
        if f.kind in ("choice", "multichoice"):
            codes = list(f.options if f.options is not None else f.options_from(con) if f.options_from else ())
            custom = {c: (en, zh) for c, en, zh in (f.option_labels or ())}
            known = named.get(name, custom)
            item["options"] = [{"code": c, "en": known[c][0], "zh": known[c][1]} if c in known
                               else {"code": c, "key": f"{f.label}_{c}" if name in ("kind", "gender") else None,
                                     "text": c} for c in codes]
        out.append(item)
    special_options = {
        "region": [{"code": r, "text": r} for r in _regions(con)],
        "owner": [{"code": u["id"], "text": u["name"]} for u in _owners(con, actor)],
        "team": [{"code": t["id"], "text": t["name"]} for t in _teams(con)],
        "rfm_segment": [{"code": s, "key": f"rfm.segment.{s}"} for s in _rfm_codes()],
    }
    for name, (kind, label, ops) in SPECIAL.items():
        if name == "rfm_segment" and not special_options["rfm_segment"]:
            continue
        item = {"name": name, "kind": kind, "ops": ops, "label": label, "labels": None, "custom": False}
        if name in special_options:
            item["options"] = special_options[name]
        out.append(item)
    return out


def _rfm_codes() -> tuple[str, ...]:
    try:
        return tuple(_rfm().SEGMENTS)
    except ValidationError:
        return ()


class _Compiled:
    """A rule as SQL over the customers alias `x`: the CTEs it needs (computed once per statement), the
    condition, and their bound values in the order they appear."""

    def __init__(self, con, actor: Actor):
        self.con, self.actor = con, actor
        self.defs = fields.definitions(con, "customer")
        self.ctes: list[tuple[str, str]] = []
        self.cte_params: list = []
        self.conditions = 0
        self.masked = None
        self.frames: dict[str, pl.DataFrame] = {}

    def cte(self, sql: str, params: list) -> str:
        name = f"seg_c{len(self.ctes)}"
        self.ctes.append((name, sql))
        self.cte_params += params
        return name

    def group(self, node: Any, depth: int) -> tuple[str, list]:
        if not isinstance(node, dict) or node.get("op") not in ("and", "or") or not isinstance(node.get("items"), list):
            raise ValidationError("segment.bad_rule")
        if depth > MAX_DEPTH:
            raise ValidationError("segment.too_deep", max=MAX_DEPTH)
        parts, params = [], []
        for item in node["items"]:
            sql, args = self.group(item, depth + 1) if isinstance(item, dict) and "items" in item \
                else self.condition(item)
            parts.append(sql)
            params += args
        if not parts:
            return "TRUE", []
        return "(" + f" {node['op'].upper()} ".join(parts) + ")", params

    def condition(self, cond: Any) -> tuple[str, list]:
        if not isinstance(cond, dict) or not isinstance(cond.get("field"), str):
            raise ValidationError("segment.bad_rule")
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise ValidationError("segment.too_many", max=MAX_CONDITIONS)
        name, op, value = cond["field"], cond.get("op"), cond.get("value")
        if name in SPECIAL:
            if op not in SPECIAL[name][2]:
                raise ValidationError("segment.bad_condition", field=SPECIAL[name][1])
            return getattr(self, f"_{name}")(op, value, cond)
        f = self.defs.get(name)
        if f is None or not f.visible_to(self.actor.role) or f.kind not in filters.OPS:
            raise ValidationError("segment.bad_field", name=fields.short(name))
        label = (f.labels[0] if f.labels else f.name) if f.custom else f.label
        if op not in filters.OPS[f.kind]:
            raise ValidationError("segment.bad_condition", field=label)
        try:
            clauses, params = filters.conditions_sql(self.con, {name: f}, [{"field": name, "op": op, "value": value}],
                                                     self.actor.role, "x")
        except ValidationError as exc:
            if exc.key == "list.bad_filter":
                raise ValidationError("segment.bad_condition", field=label) from exc
            raise
        sql = "(" + " AND ".join(clauses) + ")"
        # a field hidden in a pool never finds a record of that pool (core.pool_mask)
        if self.masked is None:
            self.masked = pool_mask.masked(self.con, self.actor)
        teams = sorted(t for t, names in self.masked.items() if name in names)
        if teams:
            marks = ", ".join("?" for _ in teams)
            sql = f"({sql} AND NOT (x.owner_id IS NULL AND coalesce(x.team_id IN ({marks}), FALSE)))"
            params = params + teams
        return sql, params

    # the special fields ------------------------------------------------------------------------
    @staticmethod
    def _items(value: Any, kind: type, label: str) -> list:
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not items or len(items) > MAX_VALUES or not all(
                isinstance(v, kind) and not isinstance(v, bool) and (kind is not str or len(v) <= 100) for v in items):
            raise ValidationError("segment.bad_condition", field=label)
        return items

    def _region(self, op, value, cond):
        items = self._items(value, str, "segment.field.region")
        marks = ", ".join("?" for _ in items)
        return f"x.team_id IN (SELECT id FROM teams WHERE region IN ({marks}))", items

    def _owner(self, op, value, cond):
        items = self._items(value, int, "customer.owner")
        return f"x.owner_id IN ({', '.join('?' for _ in items)})", items

    def _team(self, op, value, cond):
        items = self._items(value, int, "customer.team")
        marks = ", ".join("?" for _ in items)
        return (f"x.team_id IN (WITH RECURSIVE down(id) AS (SELECT id FROM teams WHERE id IN ({marks}) "
                f"UNION ALL SELECT t.id FROM teams t JOIN down ON t.parent_id = down.id) SELECT id FROM down)"), items

    def _number(self, value, label: str, low: float = 0, high: float = 1e15) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValidationError("segment.bad_condition", field=label)
        return value

    def _days(self, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
            raise ValidationError("segment.bad_days", max=MAX_DAYS)
        return value

    def _last_activity_days(self, op, value, cond):
        days = self._number(value, "segment.field.last_activity_days", 0, MAX_DAYS)
        cut = self.actor.now - dt.timedelta(days=days)
        if op == "lte":
            return "x.last_activity_at >= ?", [cut]
        return "(x.last_activity_at IS NULL OR x.last_activity_at <= ?)", [cut]

    def _orders(self, agg: str, label: str, op, value, cond):
        amount = self._number(value, label)
        since = self.actor.now - dt.timedelta(days=self._days(cond.get("days")))
        if (op == "gte" and amount <= 0) or (op == "lte" and amount >= 0):
            # a customer without orders (0) meets it: the customers NOT failing it
            name = self.cte(_ORDERS.format(agg=agg, op="<" if op == "gte" else ">"), [since, amount])
            return f"x.id NOT IN (SELECT customer_id FROM {name})", []
        name = self.cte(_ORDERS.format(agg=agg, op=">=" if op == "gte" else "<="), [since, amount])
        return f"x.id IN (SELECT customer_id FROM {name})", []

    def _orders_count(self, op, value, cond):
        return self._orders("count(*)", "segment.field.orders_count", op, value, cond)

    def _orders_sum(self, op, value, cond):
        return self._orders("sum(amount)", "segment.field.orders_sum", op, value, cond)

    def _rfm_segment(self, op, value, cond):
        rfm = _rfm()
        label = "segment.field.rfm_segment"
        codes = self._items(value, str, label)
        if not all(c in rfm.SEGMENTS for c in codes):
            raise ValidationError("segment.bad_condition", field=label)
        asof = cond.get("asof")
        try:
            asof = dt.date.fromisoformat(asof) if isinstance(asof, str) else clock.local_today(self.con, self.actor.now)
        except ValueError as exc:
            raise ValidationError("segment.bad_condition", field=label) from exc
        months = cond.get("months", settings.get(self.con, "analytics.rfm_window_months"))
        method = cond.get("method", settings.get(self.con, "analytics.rfm_method"))
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120 \
                or method not in rfm.METHODS:
            raise ValidationError("segment.bad_condition", field=label)
        frame_name = f"_seg_rfm{len(self.frames)}"
        self.frames[frame_name] = _rfm_scores(self.con, self.actor, rfm, asof, months, method)
        marks = ", ".join("?" for _ in codes)
        name = self.cte(f"SELECT customer_id FROM {frame_name} WHERE segment IN ({marks})", codes)
        return f"x.id IN (SELECT customer_id FROM {name})", []

    @contextlib.contextmanager
    def bound(self):
        """The frames the rule reads (RFM scores) registered on this cursor while its SQL runs."""
        for name, frame in self.frames.items():
            self.con.register(name, frame)
        try:
            yield
        finally:
            for name in self.frames:
                self.con.unregister(name)


# RFM scores per (as-of day, window, method, viewer's scope, state of the orders and customers): the scores
# of a million customers take about 0.5-1 s (core.analytics.rfm), a segment's live count must take at most
# 0.3 s, so the editor's repeated counts read the scores kept here. Any new, changed or deleted order or
# customer changes the key; an entry lives RFM_TTL seconds at most.
RFM_TTL = 300
_RFM_KEEP = 8
_rfm_cache: dict[tuple, tuple[float, pl.DataFrame]] = {}
_rfm_lock = threading.Lock()


def _rfm_scores(con, actor: Actor, rfm, asof: dt.date, months: int, method: str) -> pl.DataFrame:
    state = con.execute(
        "SELECT (SELECT [count(*)::VARCHAR, max(created_at)::VARCHAR, max(updated_at)::VARCHAR, "
        "max(deleted_at)::VARCHAR] FROM orders), (SELECT [count(*)::VARCHAR, max(updated_at)::VARCHAR, "
        "max(deleted_at)::VARCHAR] FROM customers), (SELECT list(r ORDER BY r) FROM (SELECT "
        "concat_ws(',', metric, score, low, high) AS r FROM rfm_bands))").fetchone()
    scope = tuple((sql, tuple(params)) for sql, params in access.branches(con, actor, "customers", "view", "c"))
    key = (asof, months, method, scope, tuple(state[0]), tuple(state[1]), tuple(state[2] or ()))
    now = time.monotonic()
    with _rfm_lock:
        found = _rfm_cache.get(key)
        if found and found[0] > now:
            return found[1]
    sql, params = rfm.scores_sql(con, actor, asof, months, method)
    frame = con.sql(f"SELECT customer_id, segment FROM ({sql})", params=list(params)).pl()  # sql-ok: core's SQL
    with _rfm_lock:
        for k in [k for k, (until, _f) in _rfm_cache.items() if until <= now]:
            del _rfm_cache[k]
        while len(_rfm_cache) >= _RFM_KEEP:
            del _rfm_cache[next(iter(_rfm_cache))]
        _rfm_cache[key] = (now + RFM_TTL, frame)
    return frame


def check_rule(con: duckdb.DuckDBPyConnection, actor: Actor, rule: Any) -> dict:
    """The rule, validated (ValidationError naming what is wrong); returns it."""
    _compile(con, actor, rule)
    return rule


def _compile(con, actor: Actor, rule: Any) -> tuple[_Compiled, str, list]:
    if isinstance(rule, str):
        try:
            rule = json.loads(rule)
        except ValueError as exc:
            raise ValidationError("segment.bad_rule") from exc
    if len(json.dumps(rule, default=str)) > 50_000:
        raise ValidationError("segment.bad_rule")
    compiled = _Compiled(con, actor)
    sql, params = compiled.group(rule, 1)
    return compiled, sql, params


def _pairs(con, actor: Actor, compiled: _Compiled, where: str, params: list, key: str = "NULL") -> tuple[str, list]:
    """(WITH list or '', visible (id, k) pairs SQL, params) pieces: the rule's CTEs and one UNION ALL
    branch per part of the viewer's customer scope."""
    parts, args = [], []
    for branch, bparams in access.branches(con, actor, "customers", "view", "x"):
        parts.append(f"SELECT x.id, {key} AS k FROM customers x WHERE x.deleted_at IS NULL AND {branch} AND {where}")
        args += bparams + params
    return " UNION ALL ".join(parts), args


def _with(compiled: _Compiled, more: str = "") -> str:
    items = [f"{name} AS MATERIALIZED ({sql})" for name, sql in compiled.ctes] + ([more] if more else [])
    return ("WITH " + ", ".join(items) + " ") if items else ""


def count(con: duckdb.DuckDBPyConnection, actor: Actor, rule: Any) -> int:
    """How many customers the actor may view meet the rule, now (the editor's live count)."""
    access.require(con, actor, "segments", "view")
    compiled, where, params = _compile(con, actor, rule)
    return _count(con, actor, compiled, where, params)


def _count(con, actor: Actor, compiled: _Compiled, where: str, params: list) -> int:
    pairs, args = _pairs(con, actor, compiled, where, params)
    with compiled.bound():
        return db.scalar(con, f"{_with(compiled)}SELECT count(*) FROM ({pairs})",  # sql-ok: fixed names, bound
                         compiled.cte_params + args)


# ------------------------------------------------------------------------------------ the records
def _visible_sql(actor: Actor) -> tuple[str, list]:
    """Segments the actor sees: own, shared with all, shared with a team the actor belongs to."""
    return ("s.deleted_at IS NULL AND (s.created_by = ? OR s.share = 'all' OR (s.share = 'team' AND s.team_id IN ("
            "WITH RECURSIVE up(id, parent_id) AS (SELECT id, parent_id FROM teams WHERE id = ? UNION ALL "
            "SELECT t.id, t.parent_id FROM teams t JOIN up ON t.id = up.parent_id) SELECT id FROM up)))",
            [actor.id, actor.team_id])


def segment_id_of(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotFound("segment.not_found")
    return value


def segments(con: duckdb.DuckDBPyConnection, actor: Actor) -> pl.DataFrame:
    """The segments the actor sees, own first then by name: id, name, kind, share, source, owner_name,
    mine, last_count (at save), snapshot_at, updated_at."""
    access.require(con, actor, "segments", "view")
    where, params = _visible_sql(actor)
    return db.frame(con, f"SELECT s.id, s.name, s.kind, s.share, s.source, u.name AS owner_name, "
                         f"(s.created_by = ?) AS mine, s.last_count, s.snapshot_at, s.created_at, s.updated_at "
                         f"FROM segments s LEFT JOIN users u ON u.id = s.created_by WHERE {where} "
                         f"ORDER BY (s.created_by = ?) DESC, s.name, s.id", [actor.id] + params + [actor.id])


def get(con: duckdb.DuckDBPyConnection, actor: Actor, segment_id: Any) -> dict:
    """One segment the actor sees (rule decoded); NotFound otherwise."""
    access.require(con, actor, "segments", "view")
    segment_id = segment_id_of(segment_id)
    where, params = _visible_sql(actor)
    row = db.one(con, f"SELECT s.id, s.name, s.description, s.rules, s.kind, s.share, s.source, s.created_by, "
                      f"s.team_id, u.name AS owner_name, s.last_count, s.snapshot_at, s.created_at, s.updated_at "
                      f"FROM segments s LEFT JOIN users u ON u.id = s.created_by WHERE s.id = ? AND {where}",
                 [segment_id] + params)
    if row is None:
        raise NotFound("segment.not_found")
    row["rule"] = json.loads(row.pop("rules"))
    row["mine"] = row["created_by"] == actor.id
    return row


def may(con: duckdb.DuckDBPyConnection, actor: Actor, segment: dict, action: str) -> bool:
    """Whether the actor may `action` (edit, delete, export) this segment (the page shows the button)."""
    if action == "export":
        return export_module(con, actor) is not None
    scope = access.scope_of(con, actor, "segments", action)
    return scope != "none" and (segment["created_by"] == actor.id or scope == "all")


def _require(con, actor: Actor, segment: dict, action: str) -> None:
    if not may(con, actor, segment, action):
        raise PermissionDenied("error.permission", module="segments", action=action)


def _choice(value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValidationError("error.invalid_value", value=fields.short(value))
    return value


def _clean_name(name: Any) -> str:
    text = clean_text(_NAME, name if isinstance(name, str) else "")
    if not text:
        raise ValidationError("field.required", field="segment.name")
    return text


def _fill(con, actor: Actor, segment_id: int, compiled: _Compiled, where: str, params: list) -> int:
    """Take the snapshot: the members the actor may view now (inside the caller's unit)."""
    con.execute("DELETE FROM segment_members WHERE segment_id = ?", [segment_id])
    pairs, args = _pairs(con, actor, compiled, where, params)
    with compiled.bound():
        con.execute(f"INSERT INTO segment_members {_with(compiled)}SELECT ?, id FROM ({pairs})",  # sql-ok: bound
                    compiled.cte_params + [segment_id] + args)
    return db.scalar(con, "SELECT count(*) FROM segment_members WHERE segment_id = ?", [segment_id])


def save(con: duckdb.DuckDBPyConnection, actor: Actor, name: Any, rule: Any, *, kind: str = "dynamic",
         share: str = "private", source: str = "rule", segment_id: Any = None, description: Any = None) -> int:
    """Save a new segment (or change the actor's segment `segment_id`): its rule, dynamic or a snapshot
    (its members taken now, under the actor's scope, dated), shared or not. Returns its id."""
    name = _clean_name(name)
    kind, share, source = _choice(kind, KINDS), _choice(share, SHARES), _choice(source, SOURCES)
    access.require(con, actor, "segments", "create" if segment_id is None else "edit")
    if isinstance(rule, str):
        try:
            rule = json.loads(rule)
        except ValueError as exc:
            raise ValidationError("segment.bad_rule") from exc
    compiled, where, params = _compile(con, actor, rule)
    text = json.dumps(rule, ensure_ascii=False, default=str)
    desc = clean_text(Field("description", "text", "segment.description", max_len=500), description) \
        if isinstance(description, str) else None

    def work():
        sid = segment_id
        if sid is None:
            sid = db.next_id(con, "segments")
            con.execute("INSERT INTO segments (id, name, description, rules, owner_id, team_id, shared, last_count, "
                        "created_at, updated_at, kind, source, share, snapshot_at, created_by) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, NULL, ?)",
                        [sid, name, desc, text, actor.id, actor.team_id, share != "private", actor.now, actor.now,
                         kind, source, share, actor.id])
            audit.record(con, actor, "create", "segment", sid, {"name": (None, name), "kind": (None, kind),
                                                                "share": (None, share), "rules": (None, text)})
        else:
            old = get(con, actor, sid)
            _require(con, actor, old, "edit")
            con.execute("UPDATE segments SET name = ?, description = coalesce(?, description), rules = ?, kind = ?, "
                        "share = ?, shared = ?, updated_at = ? WHERE id = ?",
                        [name, desc, text, kind, share, share != "private", actor.now, sid])
            old_text = json.dumps(old["rule"], ensure_ascii=False, default=str)
            audit.record(con, actor, "update", "segment", sid, {k: (o, n) for k, o, n in (
                ("name", old["name"], name), ("kind", old["kind"], kind), ("share", old["share"], share),
                ("rules", old_text, text)) if o != n} or None)
        if kind == "snapshot":
            n = _fill(con, actor, sid, compiled, where, params)
            con.execute("UPDATE segments SET snapshot_at = ?, last_count = ? WHERE id = ?", [actor.now, n, sid])
        else:
            con.execute("DELETE FROM segment_members WHERE segment_id = ?", [sid])
            n = _count(con, actor, compiled, where, params)
            con.execute("UPDATE segments SET snapshot_at = NULL, last_count = ? WHERE id = ?", [n, sid])
        return sid

    if segment_id is not None:
        segment_id = segment_id_of(segment_id)
    return db.write(con, work)


def from_ids(con: duckdb.DuckDBPyConnection, actor: Actor, name: Any, ids: Any, source: str = "drill",
             share: str = "private") -> int:
    """A snapshot segment of the given customers (a drill-down's records), those the actor may view."""
    name = _clean_name(name)
    source, share = _choice(source, SOURCES), _choice(share, SHARES)
    access.require(con, actor, "segments", "create")
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, set)) or len(ids) > MAX_IDS or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValidationError("segment.bad_ids", max=f"{MAX_IDS:,}")
    ids = sorted(set(ids))
    rule = {"op": "and", "items": []}
    scope, sparams = access.predicate(con, actor, "customers", "view", "x")

    def work():
        sid = db.next_id(con, "segments")
        con.execute("INSERT INTO segments (id, name, rules, owner_id, team_id, shared, created_at, updated_at, kind, "
                    "source, share, snapshot_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'snapshot', ?, ?, ?, ?)",
                    [sid, name, json.dumps(rule), actor.id, actor.team_id, share != "private", actor.now, actor.now,
                     source, share, actor.now, actor.id])
        con.execute(f"INSERT INTO segment_members SELECT ?, x.id FROM customers x WHERE x.id IN "  # sql-ok: scope
                    f"(SELECT unnest(?)) AND x.deleted_at IS NULL AND {scope}", [sid, ids] + sparams)
        n = db.scalar(con, "SELECT count(*) FROM segment_members WHERE segment_id = ?", [sid])
        con.execute("UPDATE segments SET last_count = ? WHERE id = ?", [n, sid])
        audit.record(con, actor, "create", "segment", sid, {"name": (None, name), "kind": (None, "snapshot"),
                                                            "share": (None, share), "members": (None, n)})
        return sid

    return db.write(con, work)


def delete(con: duckdb.DuckDBPyConnection, actor: Actor, segment_id: Any) -> None:
    """Move a segment the actor may delete to the recycle bin."""
    seg = get(con, actor, segment_id)
    _require(con, actor, seg, "delete")
    recycle.delete(con, actor, "segment", [seg["id"]])


# ------------------------------------------------------------------------------------ the members
def _member_where(con, actor: Actor, seg: dict) -> tuple[_Compiled, str, list]:
    """The segment's members as a condition on `x`: the rule now (dynamic), or the snapshot's list."""
    if seg["kind"] == "snapshot":
        return _Compiled(con, actor), "x.id IN (SELECT customer_id FROM segment_members WHERE segment_id = ?)", \
            [seg["id"]]
    return _compile(con, actor, seg["rule"])


def _dnc(con) -> tuple[str, list] | None:
    """The condition "the customer's do-not-contact field is set" (setting marketing.do_not_contact_field),
    or None when no such field is named."""
    name = (settings.get(con, "marketing.do_not_contact_field") or "").strip()
    if not name:
        return None
    f = fields.definitions(con, "customer").get(name)
    if f is None or f.kind not in filters.OPS:
        raise ValidationError("segment.dnc_missing", name=fields.short(name))
    cond = {"field": name, "op": "is", "value": True} if f.kind == "bool" else {"field": name, "op": "not_empty"}
    clauses, params = filters.conditions_sql(con, {name: replace(f, view_roles=None)}, [cond], "admin", "x")
    return "coalesce((" + " AND ".join(clauses) + "), FALSE)", params


def check_mailing(con: duckdb.DuckDBPyConnection) -> None:
    """ValidationError when the do-not-contact field named in the settings does not exist (a mailing
    list cannot then be made safely): the page says so instead of offering the download."""
    _dnc(con)


def _page(con, actor: Actor, seg: dict, page: int, page_size: int, extra: tuple[str, list] | None = None
          ) -> tuple[pl.DataFrame, int]:
    compiled, where, params = _member_where(con, actor, seg)
    if extra:
        where, params = f"{where} AND {extra[0]}", params + extra[1]
    pairs, args = _pairs(con, actor, compiled, where, params, "x.name")
    with compiled.bound():
        total, ids = con.execute(
            f"{_with(compiled, f'v AS MATERIALIZED ({pairs})')}"  # sql-ok: fixed names, bound values
            f"SELECT (SELECT count(*) FROM v), (SELECT coalesce(list(id), []) FROM (SELECT id FROM v "
            f"ORDER BY k NULLS LAST, id LIMIT ? OFFSET ?))",
            compiled.cte_params + args + [page_size, page * page_size]).fetchall()[0]
    spec = customers.LIST
    df = db.frame(con, f"SELECT {spec.columns} FROM (SELECT unnest(?) AS id, generate_subscripts(?, 1) AS pos) p "
                       f"JOIN customers x ON x.id = p.id {spec.joins} ORDER BY p.pos", [ids, ids])
    df = pool_mask.mask_frame(con, actor, df)
    hidden = [n for n, f in fields.definitions(con, "customer").items()
              if not f.visible_to(actor.role) and n in df.columns and n != "name"]
    return df.drop(hidden), total


def members(con: duckdb.DuckDBPyConnection, actor: Actor, segment_id: Any, page: Any = 0, page_size: Any = 50
            ) -> tuple[pl.DataFrame, int]:
    """One page (0-based) of the segment's customers the actor may view, by name, and how many in all:
    a dynamic segment's rule evaluated now, a snapshot's saved members still visible and not deleted."""
    from core import listing

    seg = get(con, actor, segment_id)
    page, page_size = listing.page_args(page, page_size)
    return _page(con, actor, seg, page, page_size)


def live_count(con: duckdb.DuckDBPyConnection, actor: Actor, segment_id: Any) -> int:
    """How many of the segment's customers the actor may view, now."""
    seg = get(con, actor, segment_id)
    compiled, where, params = _member_where(con, actor, seg)
    return _count(con, actor, compiled, where, params)


def export_module(con: duckdb.DuckDBPyConnection, actor: Actor) -> str | None:
    """The module whose `export` permission lets the actor export segments (customers, else segments)."""
    for module in ("customers", "segments"):
        if access.can(con, actor, module, "export"):
            return module
    return None


def export_frame(con: duckdb.DuckDBPyConnection, actor: Actor, segment_id: Any, mailing: bool = False
                 ) -> tuple[pl.DataFrame, dict[str, str]]:
    """The rows and labelled columns of an export (up to core.export.MAX_ROWS customers). A mailing list
    leaves out customers whose do-not-contact field is set and those with neither e-mail nor phone."""
    seg = get(con, actor, segment_id)
    if export_module(con, actor) is None:
        raise PermissionDenied("export.denied", module="segments")
    extra = None
    if mailing:
        dnc = _dnc(con)
        cond = "(coalesce(x.email, '') <> '' OR coalesce(x.phone, '') <> '')"
        extra = (f"{cond} AND NOT {dnc[0]}", dnc[1]) if dnc else (cond, [])
    df, _total = _page(con, actor, seg, 0, export_service.MAX_ROWS, extra)
    return df, dict(MAILING_COLUMNS if mailing else COLUMNS)


def export(con: duckdb.DuckDBPyConnection, actor: Actor, segment_id: Any, fmt: str = "csv", mailing: bool = False,
           lang: str | None = None) -> bytes:
    """The segment's customers as CSV (UTF-8 with a BOM) or Excel, through core.export (permission
    `export` on customers or segments, cells neutralised, one audit row)."""
    module = export_module(con, actor)
    if module is None:
        raise PermissionDenied("export.denied", module="segments")
    _choice(fmt, ("csv", "xlsx"))
    frame, labels = export_frame(con, actor, segment_id, mailing)
    if fmt == "csv":
        return export_service.to_csv(con, actor, module, frame, labels, lang=lang)
    return export_service.to_xlsx(con, actor, module, frame, labels, lang=lang, sheet="segment")


# ------------------------------------------------------------------------------------ campaigns
def campaigns(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """The campaigns the actor may add members to (campaigns edit; not finished ones), newest first; [] without it."""
    if not access.can(con, actor, "campaigns", "edit"):
        return []
    where, params = access.predicate(con, actor, "campaigns", "edit", "c")
    return db.rows(con, f"SELECT c.id, c.name, c.channel, c.status FROM campaigns c WHERE c.deleted_at IS NULL "
                        f"AND c.status <> 'done' AND {where} ORDER BY c.created_at DESC, c.id DESC",
                   params)  # sql-ok: scope predicate


def add_to_campaign(con: duckdb.DuckDBPyConnection, actor: Actor, segment_id: Any, campaign_id: Any) -> int:
    """Add the segment's customers the actor may view to a campaign the actor may edit, except those
    already in it and those whose do-not-contact field is set. Returns how many were added."""
    access.require(con, actor, "campaigns", "edit")
    seg = get(con, actor, segment_id)
    if isinstance(campaign_id, bool) or not isinstance(campaign_id, int):
        raise NotFound("segment.campaign_not_found")
    where_c, params_c = access.predicate(con, actor, "campaigns", "edit", "c")
    compiled, where, params = _member_where(con, actor, seg)
    dnc = _dnc(con)
    if dnc:
        where, params = f"{where} AND NOT {dnc[0]}", params + dnc[1]
    where, params = (f"{where} AND x.id NOT IN (SELECT customer_id FROM campaign_members WHERE campaign_id = ?)",
                     params + [campaign_id])

    def work():
        if not db.scalar(con, f"SELECT count(*) FROM campaigns c WHERE c.id = ? AND c.deleted_at IS NULL "
                              f"AND {where_c}", [campaign_id] + params_c):  # sql-ok: scope predicate
            raise NotFound("segment.campaign_not_found")
        if db.scalar(con, "SELECT status FROM campaigns WHERE id = ?", [campaign_id]) == "done":
            # a finished campaign's members are those it reached: new ones would skew its results
            raise ValidationError("segment.campaign_done")
        pairs, args = _pairs(con, actor, compiled, where, params)
        with compiled.bound():
            added = con.execute(
                f"INSERT INTO campaign_members (campaign_id, customer_id, added_at) {_with(compiled)}"  # sql-ok
                f"SELECT ?, id, ? FROM ({pairs})", compiled.cte_params + [campaign_id, actor.now] + args
            ).fetchall()[0][0]
        audit.record(con, actor, "update", "campaign", campaign_id,
                     {"members": (None, f"+{added} (segment {seg['id']})")})
        return int(added)

    return db.write(con, work)
