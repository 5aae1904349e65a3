"""Data quality and pool health (issue 11, point 3: the admin's dashboard).

`data_quality(con, actor)` counts, over the live customers and open leads of the whole store (not a
scope: it is the administrator's view, refused to anyone without the admin role or settings/view):

- invalid phones: a phone typed (not blank) without its normal form. The services only store a phone
  with `phone_norm` = core.phones.normalise(phone), so a NULL normal form (or one that is not E.164)
  marks a number core.phones refused or one that came in around the services (import, SQL);
- suspected duplicates: duplicate-guard keys (core.dedup's dedup_keys: 'e:' e-mail, 'p:' a person's
  name in pinyin, 'c:' a company's brand) shared by 2 or more live records, as groups and the records
  in them, per kind of key. Phones never repeat (phone_keys is unique), so they have no row here;
- missing required fields: per field, the records where a required field is empty. Required = a
  built-in field required by the code or put in the "required" tier by the admin, and the active custom
  fields of that tier (their value in the `custom` JSON), all through fields.definitions;
- without holder: no owner and no live team, so in no shared pool either (a pool is owner NULL + team);
- pool health: per team pool (owner NULL + a live team) the customers and leads it holds, the age in
  days of the record untouched longest (last activity, else the day it entered the pool, else created)
  and how many are untouched for STALE_DAYS or more.

Live: customers not deleted and not merged; leads not deleted and not converted (a converted lead is
history: it shares its keys with the customer it became). Set-based: one scan per table (a GROUPING SETS
query over both, which gives the totals and the per-pool rows at once) and one over dedup_keys.
"""
from __future__ import annotations

import duckdb
import polars as pl

from core import access, fields
from core.context import Actor
from core.errors import PermissionDenied

STALE_DAYS = 30
OBJECTS = (("customer", "customers", "x.deleted_at IS NULL AND x.merged_into_id IS NULL"),
           ("lead", "leads", "x.deleted_at IS NULL AND x.status <> 'converted'"))
KEY_KINDS = {"e": "email", "p": "person_name", "c": "company_name"}
E164 = r"\+[1-9][0-9]{6,14}"


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    return actor.is_admin or access.can(con, actor, "settings", "view")


def required_fields(con: duckdb.DuckDBPyConnection, obj: str, table: str) -> list[fields.Field]:
    """The required fields of an object that can be checked in its table (built-in: a column)."""
    columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                                         [table]).fetchall()}
    return [f for f in fields.definitions(con, obj).values()
            if (f.required or f.tier == "required") and (f.custom or f.name in columns)]


def _empty(f: fields.Field) -> tuple[str, list]:
    """SQL true when field f of row x is empty, and its parameters."""
    if f.custom:
        return ("coalesce(trim(json_extract_string(x.custom, ?)), '') IN ('', '[]')", [f'$."{f.name}"'])
    return (f"coalesce(trim(CAST(x.\"{f.name}\" AS VARCHAR)), '') = ''", [])


def data_quality(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict:
    """{"totals": {obj: live records}, "invalid_phones": {obj: n}, "missing_any": {obj: n},
    "without_holder": {obj: n}, "missing": frame(object, field, label, custom, label_en, label_zh, missing),
    "duplicates": frame(kind, groups, records), "pools": frame(team_id, team, customers, leads,
    oldest_days, stale)} and the totals over both objects: invalid_phones_total, missing_total,
    without_holder_total, duplicate_groups."""
    if not allowed(con, actor):
        raise PermissionDenied("error.permission", module="settings", action="view")
    now = actor.now
    parts, req = [], {}
    for obj, table, live in OBJECTS:
        req[obj] = required_fields(con, obj, table)
        empties = [_empty(f) for f in req[obj]]
        cols = [f"count(*) FILTER (WHERE {sql}) AS m{i}" for i, (sql, _p) in enumerate(empties)]
        parts.append((obj, table, live, cols, " OR ".join(s for s, _ in empties) or "FALSE"))
    width = max(len(p[3]) for p in parts)
    selects = []
    for obj, table, live, cols, any_sql in parts:
        cols = cols + [f"NULL::BIGINT AS m{i}" for i in range(len(cols), width)]
        selects.append(
            f"SELECT '{obj}' AS obj, pool_team, grouping(pool_team) AS g, count(*) AS n, "
            f"count(*) FILTER (WHERE nullif(trim(x.phone), '') IS NOT NULL AND (x.phone_norm IS NULL OR NOT "
            f"regexp_full_match(x.phone_norm, '{E164}'))) AS bad_phone, "
            f"count(*) FILTER (WHERE {any_sql}) AS missing_any, "
            f"count(*) FILTER (WHERE x.owner_id IS NULL AND pool_team IS NULL) AS no_holder, "
            f"min(coalesce(x.last_activity_at, {'x.pool_since' if obj == 'customer' else 'NULL'}, x.created_at)) "
            f"AS oldest, count(*) FILTER (WHERE coalesce(x.last_activity_at, "
            f"{'x.pool_since' if obj == 'customer' else 'NULL'}, x.created_at) <= ?::TIMESTAMP - INTERVAL "
            f"{STALE_DAYS} DAY) AS stale"
            + "".join(f", {c}" for c in cols) +
            f" FROM (SELECT x.*, CASE WHEN x.owner_id IS NULL THEN t.id END AS pool_team FROM {table} x "
            f"LEFT JOIN teams t ON t.id = x.team_id AND t.deleted_at IS NULL WHERE {live}) x "
            f"GROUP BY GROUPING SETS ((), (pool_team))")
    # parameters in the order they appear: per branch the stale moment, then the field filters
    ordered = []
    for obj, _table, _live, _cols, _any in parts:
        empties = [_empty(f) for f in req[obj]]
        for _s, p in empties:      # the OR of "missing_any" comes before the per-field columns
            ordered += p
        ordered.append(now)
        for _s, p in empties:
            ordered += p
    rows = con.execute(" UNION ALL ".join(selects), ordered).fetchall()
    names = dict(con.execute("SELECT id, name FROM teams").fetchall())
    out: dict = {"totals": {}, "invalid_phones": {}, "missing_any": {}, "without_holder": {}}
    missing, pools = [], {}
    for row in rows:
        obj, team, g, n, bad, miss, no_holder, oldest, stale = row[:9]
        if g == 1:  # the whole object
            out["totals"][obj] = int(n)
            out["invalid_phones"][obj] = int(bad)
            out["missing_any"][obj] = int(miss)
            out["without_holder"][obj] = int(no_holder)
            for f, m in zip(req[obj], row[9:]):
                missing.append({"object": obj, "field": f.name, "label": f.label, "custom": f.custom,
                                "label_en": f.labels[0] if f.labels else None,
                                "label_zh": f.labels[1] if f.labels else None, "missing": int(m or 0)})
        elif team is not None:
            p = pools.setdefault(team, {"team_id": team, "team": names.get(team, ""), "customers": 0, "leads": 0,
                                        "oldest": None, "stale": 0})
            p["customers" if obj == "customer" else "leads"] += int(n)
            p["stale"] += int(stale)
            if oldest is not None and (p["oldest"] is None or oldest < p["oldest"]):
                p["oldest"] = oldest
    for obj, _t, _l in OBJECTS:
        for k in ("totals", "invalid_phones", "missing_any", "without_holder"):
            out[k].setdefault(obj, 0)
    out["missing"] = pl.DataFrame(missing, schema={"object": pl.String, "field": pl.String, "label": pl.String,
                                                   "custom": pl.Boolean, "label_en": pl.String,
                                                   "label_zh": pl.String, "missing": pl.Int64})
    pool_rows = [{**{k: v for k, v in p.items() if k != "oldest"},
                  "oldest_days": (now - p["oldest"]).days if p["oldest"] is not None else None}
                 for p in pools.values()]
    out["pools"] = pl.DataFrame(pool_rows, schema={"team_id": pl.Int64, "team": pl.String, "customers": pl.Int64,
                                                   "leads": pl.Int64, "stale": pl.Int64, "oldest_days": pl.Int64}
                                ).sort("oldest_days", descending=True, nulls_last=True)
    out["duplicates"] = duplicates(con)
    out["invalid_phones_total"] = sum(out["invalid_phones"].values())
    out["missing_total"] = sum(out["missing_any"].values())
    out["without_holder_total"] = sum(out["without_holder"].values())
    out["duplicate_groups"] = int(out["duplicates"]["groups"].sum()) if out["duplicates"].height else 0
    return out


def duplicates(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per kind of key (email, person_name, company_name): the keys shared by 2+ live customers and
    open leads (groups) and the records in those groups (a record in two groups counts in each). A
    record holds a key once (core.dedup.remember replaces its keys), so a group's size is its row count;
    the few dead records are taken out by an anti join (faster than joining the million live ones)."""
    dead = " UNION ALL ".join(f"SELECT '{obj}' AS entity, x.id FROM {table} x WHERE NOT ({cond})"
                              for obj, table, cond in OBJECTS)
    rows = con.execute(
        f"WITH dead AS ({dead}) SELECT kind, count(*) AS groups, sum(n) AS records FROM ("
        " SELECT left(k.key, 1) AS kind, k.key, count(*) AS n FROM dedup_keys k"
        " ANTI JOIN dead d ON d.entity = k.entity AND d.id = k.entity_id"
        " WHERE k.entity IN ('customer', 'lead') GROUP BY k.key HAVING count(*) >= 2) GROUP BY kind ORDER BY kind"
    ).fetchall()
    return pl.DataFrame([{"kind": KEY_KINDS.get(k, k), "groups": int(g), "records": int(r)} for k, g, r in rows],
                        schema={"kind": pl.String, "groups": pl.Int64, "records": pl.Int64})
