"""Drill-down (issue 11, point 5): the records behind a figure of the metrics layer, and the same records
counted by rep, team, source, stage, reason, priority or month (the bars a dashboard draws and a click
opens). The rows are read with the metrics layer's own context, scope branches and filters
(metrics.Context, metrics.scoped_union), so the table behind a number is the rows that number counted:
`records(...).total` (or `.value` for sums) equals the KPI's value, and a bar's height equals the total of
the table its click opens.

A record set is one of SETS; DRILL_OF maps each drillable KPI to its set and `EXACT` says which KPIs the
set reproduces exactly (a count or a sum; ratios such as win rate open the records of their denominator).

Every set yields the same columns, so one table and one breakdown serve all: id, name, customer_id,
status (stage / state; for the open pipeline the stage at the period's end), source, priority, reason
(lost reason), owner_id (for tickets the assignee; for follow-ups who logged them), team_id, dated (the
instant or day that placed the row in the period), amount. `open_page` / `open_id` say which page opens a
row (views/...?id=).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

import duckdb
import polars as pl

from core import export
from core.analytics import metrics
from core.context import Actor
from core.errors import ValidationError

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
BY = {"owner": "v.owner_id", "team": "v.team_id", "source": "v.source", "status": "v.status",
      "reason": "v.reason", "priority": "v.priority", "month": "month", "age": "age"}
NARROW = ("status", "reason", "priority", "source", "owner_id", "age")
# age buckets (code, from days included, to days excluded): how old a row (`dated`: a ticket's opening) is
# at the period's end (the instant the backlog is taken at: its end, or now while it runs)
AGE_BUCKETS = (("d0_1", 0, 1), ("d1_3", 1, 3), ("d3_7", 3, 7), ("d7_30", 7, 30), ("d30", 30, None))


def _age_sql(col: str, asof: dt.datetime) -> tuple[str, list]:
    """The age bucket code of `col` at `asof` (AGE_BUCKETS) as SQL, and its parameters."""
    parts, args = [], []
    for code, _lo, hi in AGE_BUCKETS:
        if hi is None:
            parts.append(f"ELSE '{code}'")
        else:
            parts.append(f"WHEN {col} > ? THEN '{code}'")
            args.append(asof - dt.timedelta(days=hi))
    return f"CASE {' '.join(parts[:-1])} {parts[-1]} END", args

_NULLS = {"customer_id": "NULL::BIGINT", "source": "NULL::VARCHAR", "priority": "NULL::VARCHAR",
          "reason": "NULL::VARCHAR", "amount": "NULL::DECIMAL(18,2)", "status": "NULL::VARCHAR"}


@dataclass(frozen=True)
class RecordSet:
    key: str
    entity: str          # metrics' entity (alias and filter columns)
    module: str          # the scope's module
    table: str
    cols: dict           # uniform column -> SQL on the alias (missing ones are NULL)
    where: Callable      # ctx -> (sql, params)
    measure: str         # count | amount: what the figure adds up
    open_page: str
    open_id: str         # the column holding the id the page opens
    post: Callable | None = None  # (ctx) -> (sql over v0 producing the rows, params)


def _win(col: str):
    return lambda ctx: (f"{col} >= ? AND {col} < ?", [ctx.cur.lo, ctx.cur.hi])


def _closed(flag: str):
    def where(ctx):
        return (f"d.deleted_at IS NULL AND d.closed_on BETWEEN ? AND ? "
                f"AND d.stage IN (SELECT code FROM pipeline_stages WHERE {flag})", [ctx.cur.start, ctx.cur.end])
    return where


def _forgotten(n: int | None):
    def where(ctx):
        if n is None:
            return "c.deleted_at IS NULL AND c.owner_id IS NOT NULL AND c.last_activity_at IS NULL", []
        return ("c.deleted_at IS NULL AND c.owner_id IS NOT NULL AND c.last_activity_at < ?",
                [ctx.day_start(ctx.today - dt.timedelta(days=n - 1))])
    return where


def _open_post(ctx) -> tuple[str, list]:
    """Deals open at the end of the period (metrics._deals): the stage at that instant from the history."""
    day = ctx.local_day(ctx.cur.asof) - dt.timedelta(days=1)
    sql = ("cand AS (SELECT * FROM v0 WHERE v0.created_at < ? AND (v0.closed_on IS NULL OR v0.closed_on >= ?)), "
           "h AS (SELECT deal_id, changed_at, to_stage FROM deal_stage_history WHERE deal_id IN (SELECT id FROM cand)), "
           "st AS (SELECT cand.id, coalesce(arg_max(h.to_stage, h.changed_at), any_value(cand.status)) AS stage_at "
           "FROM cand LEFT JOIN h ON h.deal_id = cand.id AND h.changed_at < ? GROUP BY cand.id), "
           "v AS (SELECT cand.* REPLACE (st.stage_at AS status) FROM cand JOIN st ON st.id = cand.id "
           "JOIN pipeline_stages s ON s.code = st.stage_at WHERE NOT s.is_won AND NOT s.is_lost)")
    return sql, [ctx.cur.asof, day, ctx.cur.asof]


_DEAL = {"id": "d.id", "name": "d.name", "customer_id": "d.customer_id", "status": "d.stage", "source": "d.source",
         "reason": "d.lost_reason", "owner_id": "d.owner_id", "team_id": "d.team_id", "dated": "d.closed_on",
         "amount": "d.amount"}
_CUSTOMER = {"id": "c.id", "name": "c.name", "customer_id": "c.id", "status": "c.level", "source": "c.source",
             "owner_id": "c.owner_id", "team_id": "c.team_id"}
_TICKET = {"id": "k.id", "name": "k.subject", "customer_id": "k.customer_id", "status": "k.status",
           "priority": "k.priority", "reason": "k.category", "owner_id": "k.assignee_id", "team_id": "k.team_id",
           "dated": "k.opened_at"}

_SETS = [
    RecordSet("new_leads", "lead", "leads", "leads",
              {"id": "l.id", "name": "l.name", "customer_id": "l.converted_customer_id", "status": "l.status",
               "source": "l.source", "owner_id": "l.owner_id", "team_id": "l.team_id", "dated": "l.created_at"},
              lambda ctx: ("l.deleted_at IS NULL AND l.created_at >= ? AND l.created_at < ?",
                           [ctx.cur.lo, ctx.cur.hi]), "count", "views/leads.py", "id"),
    RecordSet("new_customers", "customer", "customers", "customers", {**_CUSTOMER, "dated": "c.created_at"},
              lambda ctx: ("c.deleted_at IS NULL AND c.created_at >= ? AND c.created_at < ?",
                           [ctx.cur.lo, ctx.cur.hi]), "count", "views/customers.py", "id"),
    RecordSet("won_deals", "deal", "deals", "deals", _DEAL, _closed("is_won"), "count", "views/deals.py", "id"),
    RecordSet("lost_deals", "deal", "deals", "deals", _DEAL, _closed("is_lost"), "count", "views/deals.py", "id"),
    RecordSet("closed_deals", "deal", "deals", "deals", _DEAL, _closed("is_won OR is_lost"), "count",
              "views/deals.py", "id"),
    RecordSet("open_deals", "deal", "deals", "deals", {**_DEAL, "dated": "d.expected_close", "created_at": "d.created_at",
                                                       "closed_on": "d.closed_on"},
              lambda ctx: ("d.deleted_at IS NULL", []), "amount", "views/deals.py", "id", _open_post),
    RecordSet("followups", "activity", "activities", "activities",
              {"id": "a.id", "name": "a.subject", "customer_id": "a.customer_id", "status": "a.kind",
               "owner_id": "a.user_id", "team_id": "a.team_id", "dated": "a.occurred_at"},
              lambda ctx: ("a.deleted_at IS NULL AND a.occurred_at >= ? AND a.occurred_at < ?",
                           [ctx.cur.lo, ctx.cur.hi]), "count", "views/customers.py", "customer_id"),
    RecordSet("overdue_followups", "customer", "customers", "customers", {**_CUSTOMER, "dated": "c.next_followup_at"},
              lambda ctx: ("c.deleted_at IS NULL AND c.owner_id IS NOT NULL AND c.next_followup_at < ?",
                           [ctx.today_lo]), "count", "views/customers.py", "id"),
] + [RecordSet(f"forgotten_{n}", "customer", "customers", "customers", {**_CUSTOMER, "dated": "c.last_activity_at"},
               _forgotten(n), "count", "views/customers.py", "id") for n in metrics.FORGOTTEN_DAYS] + [
    RecordSet("forgotten_never", "customer", "customers", "customers", {**_CUSTOMER, "dated": "c.created_at"},
              _forgotten(None), "count", "views/customers.py", "id"),
    RecordSet("order_revenue", "order", "orders", "orders",
              {"id": "o.id", "name": "o.order_no", "customer_id": "o.customer_id", "status": "o.status",
               "owner_id": "o.owner_id", "team_id": "o.team_id", "dated": "o.ordered_at", "amount": "o.amount"},
              lambda ctx: ("o.deleted_at IS NULL AND o.ordered_at >= ? AND o.ordered_at < ? AND (o.status = "
                           "'confirmed' OR (o.status IN ('cancelled', 'refunded') AND o.amount < 0))",
                           [ctx.cur.lo, ctx.cur.hi]), "amount", "views/orders.py", "id"),
    RecordSet("new_tickets", "ticket", "tickets", "tickets", _TICKET,
              lambda ctx: ("k.deleted_at IS NULL AND k.opened_at >= ? AND k.opened_at < ?", [ctx.cur.lo, ctx.cur.hi]),
              "count", "views/customers.py", "customer_id"),
    RecordSet("backlog", "ticket", "tickets", "tickets", _TICKET,
              lambda ctx: ("k.deleted_at IS NULL AND k.opened_at < ? AND (coalesce(k.resolved_at, k.closed_at) IS NULL "
                           "OR coalesce(k.resolved_at, k.closed_at) >= ?)", [ctx.cur.asof, ctx.cur.asof]),
              "count", "views/customers.py", "customer_id"),
]
SETS: dict[str, RecordSet] = {s.key: s for s in _SETS}

# KPI -> the record set behind it
DRILL_OF = {"new_leads": "new_leads", "lead_conversion": "new_leads", "new_customers": "new_customers",
            "customer_conversion": "new_customers", "win_rate": "closed_deals", "won_revenue": "won_deals",
            "won_deals": "won_deals", "avg_deal_size": "won_deals", "cycle_median_days": "won_deals",
            "cycle_mean_days": "won_deals", "open_pipeline": "open_deals", "weighted_pipeline": "open_deals",
            "followups": "followups", "followups_per_rep": "followups", "overdue_followups": "overdue_followups",
            "forgotten_never": "forgotten_never", "order_revenue": "order_revenue", "new_tickets": "new_tickets",
            "backlog": "backlog", **{f"forgotten_{n}": f"forgotten_{n}" for n in metrics.FORGOTTEN_DAYS}}
# KPIs whose value the set reproduces exactly: "count" -> the total, "amount" -> the sum of amounts
EXACT = {"new_leads": "count", "new_customers": "count", "won_deals": "count", "won_revenue": "amount",
         "open_pipeline": "amount", "followups": "count", "overdue_followups": "count", "forgotten_never": "count",
         "order_revenue": "amount", "new_tickets": "count", "backlog": "count",
         **{f"forgotten_{n}": "count" for n in metrics.FORGOTTEN_DAYS}}


@dataclass(frozen=True)
class Page:
    frame: pl.DataFrame   # id, name, customer_id, customer_name, status, source, priority, reason, owner_id,
    #                       owner_name, team_id, dated, amount
    total: int            # rows in the whole set
    amount: float         # sum of their amounts (0 when the set carries none)
    open_page: str
    open_id: str


def set_of(key: str) -> RecordSet:
    """The record set of a set key or of a KPI key."""
    found = SETS.get(key) or SETS.get(DRILL_OF.get(key, ""))
    if found is None:
        raise ValidationError("kpi.unknown", value=str(key)[:40])
    return found


def _rows_sql(con, actor: Actor, rs: RecordSet, p: metrics.Period, filters: metrics.Filters | None,
              narrow: dict | None) -> tuple[metrics.Context, str, list] | None:
    """`WITH ..., v AS (...)` over the set's rows (scope, filters, narrowing); None when the viewer may not
    see the module or a filter does not apply to it (the figure is None then too)."""
    ctx = metrics.Context(con, actor, p, filters, "previous")
    select = ", ".join(f"{rs.cols.get(c, _NULLS.get(c, 'NULL'))} AS {c}" for c in
                       ("id", "name", "customer_id", "status", "source", "priority", "reason", "owner_id",
                        "team_id", "dated", "amount")) + \
        "".join(f", {sql} AS {c}" for c, sql in rs.cols.items() if c in ("created_at", "closed_on"))
    where, params = rs.where(ctx)
    u = metrics.scoped_union(ctx, rs.entity, rs.module, select, rs.table, where, params)
    if u is None:
        return None
    sql, args = u
    if rs.post is not None:
        post, pargs = rs.post(ctx)
        head = f"WITH v0 AS MATERIALIZED ({sql}), {post}"
        args = args + pargs
    else:
        head = f"WITH v AS ({sql})"
    cond, cargs = [], []
    for k, value in (narrow or {}).items():
        if k not in NARROW or (k == "age" and value not in {b[0] for b in AGE_BUCKETS}):
            raise ValidationError("kpi.unknown", value=str(k)[:40])
        if k == "age":
            age, aargs = _age_sql("v.dated", ctx.cur.asof)
            cond.append(f"{age} = ?")
            cargs += aargs + [value]
        elif value is None:
            cond.append(f"v.{k} IS NULL")
        else:
            cond.append(f"v.{k} = ?")
            cargs.append(value)
    head += f", w AS (SELECT * FROM v WHERE {' AND '.join(cond) or 'TRUE'})"
    return ctx, head, args + cargs


def records(con: duckdb.DuckDBPyConnection, actor: Actor, key: str, p: metrics.Period,
            filters: metrics.Filters | None = None, narrow: dict | None = None, page: int = 0,
            page_size: int = PAGE_SIZE) -> Page:
    """One page of the records behind KPI (or set) `key` over the period, newest first, with the total."""
    return _records(con, actor, key, p, filters, narrow, max(int(page), 0), min(max(int(page_size), 1), MAX_PAGE_SIZE))


def export_rows(con: duckdb.DuckDBPyConnection, actor: Actor, key: str, p: metrics.Period,
                filters: metrics.Filters | None = None, narrow: dict | None = None,
                limit: int = export.MAX_ROWS) -> Page:
    """Every record behind `key` (up to `limit`, at most core.export.MAX_ROWS) in one statement, for a
    download of the drill-down table: the same rows and order as its pages."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= export.MAX_ROWS:
        raise ValidationError("export.too_many", max=f"{export.MAX_ROWS:,}")
    return _records(con, actor, key, p, filters, narrow, 0, limit)


def _records(con, actor: Actor, key: str, p: metrics.Period, filters, narrow, page: int, page_size: int) -> Page:
    rs = set_of(key)
    empty = pl.DataFrame(schema={"id": pl.Int64})
    built = _rows_sql(con, actor, rs, p, filters, narrow)
    if built is None:
        return Page(empty, 0, 0.0, rs.open_page, rs.open_id)
    _ctx, head, args = built
    sql = (f"{head}, pg AS (SELECT *, count(*) OVER () AS _n, coalesce(sum(amount) OVER (), 0) AS _sum FROM w "
           "ORDER BY dated DESC NULLS LAST, id DESC LIMIT ? OFFSET ?) "
           "SELECT pg.id, pg.name, pg.customer_id, cu.name AS customer_name, pg.status, pg.source, pg.priority, "
           "pg.reason, pg.owner_id, u.name AS owner_name, pg.team_id, pg.dated, pg.amount, pg._n, pg._sum "
           "FROM pg LEFT JOIN customers cu ON cu.id = pg.customer_id LEFT JOIN users u ON u.id = pg.owner_id "
           "ORDER BY pg.dated DESC NULLS LAST, pg.id DESC")
    df = con.sql(sql, params=args + [page_size, page * page_size]).pl()
    if df.height:
        total, amount = int(df["_n"][0]), float(df["_sum"][0])
    else:
        total, amount = con.execute(f"{head} SELECT count(*), coalesce(sum(amount), 0) FROM w",  # sql-ok
                                    args).fetchall()[0]
        total, amount = int(total), float(amount)
    return Page(df.drop("_n", "_sum"), total, amount, rs.open_page, rs.open_id)


def _group(ctx, rs: RecordSet, by: str) -> tuple[str, list]:
    """The SQL of a breakdown's group over `w`, and its parameters."""
    if by == "month":
        if rs.cols.get("dated", "").endswith(("closed_on", "expected_close")):
            return "date_trunc('month', w.dated)::DATE", []
        return "date_trunc('month', (w.dated AT TIME ZONE 'UTC' AT TIME ZONE ?))::DATE", [ctx.tz]
    if by == "age":
        return _age_sql("w.dated", ctx.cur.asof)
    return BY[by].replace("v.", "w."), []


def _kind(by: str):
    return pl.Date if by == "month" else (pl.Int64 if by in ("owner", "team") else pl.String)


def breakdown(con: duckdb.DuckDBPyConnection, actor: Actor, key: str, p: metrics.Period, by: str,
              filters: metrics.Filters | None = None, narrow: dict | None = None,
              then: str | None = None) -> pl.DataFrame:
    """The set's rows counted by `by` (BY): columns grp, n, amount; for "month" grp is the company month's
    first day, for "age" the AGE_BUCKETS code. `then`: a second grouping (column grp2), as for stacked
    bars. One statement, whatever the number of reps or months."""
    if by not in BY or (then is not None and (then not in BY or then == by)):
        raise ValidationError("kpi.unknown", value=str(by)[:40])
    rs = set_of(key)
    built = _rows_sql(con, actor, rs, p, filters, narrow)
    schema = {"grp": _kind(by), **({"grp2": _kind(then)} if then else {}), "n": pl.Int64, "amount": pl.Float64}
    if built is None:
        return pl.DataFrame(schema=schema)
    ctx, head, args = built
    grp, gargs = _group(ctx, rs, by)
    sel, order = f"{grp} AS grp", "grp NULLS LAST"
    if then:
        grp2, g2args = _group(ctx, rs, then)
        sel, gargs, order = f"{sel}, {grp2} AS grp2", gargs + g2args, f"{order}, grp2 NULLS LAST"
    df = con.sql(f"{head} SELECT {sel}, count(*) AS n, "  # sql-ok: fixed parts, values bound
                 f"coalesce(sum(amount), 0)::DOUBLE AS amount FROM w GROUP BY ALL ORDER BY {order}",
                 params=args + gargs).pl()
    return df.cast({k: v for k, v in schema.items() if k in df.columns}) if df.height else pl.DataFrame(schema=schema)
