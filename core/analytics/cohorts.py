"""Cohorts (issue 12 point 2): retention by first-purchase month, revenue per cohort, and leads -> customers
by lead creation month. Months are the company's calendar months (core.clock time zone).

retention(con, actor, start, end, horizon):
- Purchases and credit notes as core.analytics.rfm counts them: live confirmed orders with amount > 0 are
  purchases; imported cancellations / refunds with a negative amount are credit notes (they lower revenue,
  they are not purchases). Customers: the live customers the actor may view (customers/view scope); all
  their orders count, whoever owns them.
- A customer's cohort is the month of the FIRST purchase ever (not only within start..end); the cohorts
  shown are those from start's month to end's month. size = the cohort's customers.
- For month n = 0..horizon after the cohort month (n = 0 is the cohort month itself, share 1):
  customers = cohort customers with at least one purchase in that month, share = customers / size,
  revenue = the cohort's purchases minus credit notes in that month. Months after the company's current
  month are not shown (not observed yet); months without a purchase are shown with 0.

lead_cohorts(con, actor, start, end, horizon):
- Live leads the actor may view (leads/view scope), by the month they were created (start..end months).
- For month n = 0..horizon: converted = leads of the cohort converted to a customer (converted_at) by the
  END of month n (cumulative), share = converted / size. Months after the current month are not shown.

Both return a Polars frame sorted by cohort and month; `cohort` is the month's first day (a date).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core import access, clock, db
from core.analytics.rfm import CREDIT, PURCHASE, _day, months_back
from core.context import Actor
from core.errors import ValidationError

MAX_MONTHS = 120
MAX_HORIZON = 60


def _month(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _inputs(con, actor: Actor, start: Any, end: Any, horizon: Any) -> tuple[dt.date, dt.date, int, dt.date]:
    access.require(con, actor, "analytics", "view")
    s, e = _month(_day(start, "kpi.from")), _month(_day(end, "kpi.to"))
    if e < s or (e.year - s.year) * 12 + e.month - s.month >= MAX_MONTHS:
        raise ValidationError("cohort.bad_range", max=MAX_MONTHS)
    try:
        horizon = int(horizon)
    except (TypeError, ValueError):
        raise ValidationError("cohort.bad_horizon", max=MAX_HORIZON) from None
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValidationError("cohort.bad_horizon", max=MAX_HORIZON)
    return s, e, horizon, _month(clock.local_today(con, actor.now))


def _scoped(con, actor: Actor, module: str, table: str, alias: str, cols: str,
            col_args: list | None = None) -> tuple[str, list]:
    """UNION ALL of the actor's scope branches over live rows of `table` (`col_args`: the parameters of
    `cols`, repeated in each branch)."""
    branches = access.branches(con, actor, module, "view", alias)
    parts = [f"SELECT {cols} FROM {table} {alias} WHERE {alias}.deleted_at IS NULL AND {cond}" for cond, _ in branches]
    return " UNION ALL ".join(parts), [a for _, args in branches for a in (col_args or []) + args]


def _local_month(col: str) -> str:
    return f"date_trunc('month', timezone(?, timezone('UTC', {col})))::DATE"


def retention(con: duckdb.DuckDBPyConnection, actor: Actor, start, end, horizon: int = 12) -> pl.DataFrame:
    """cohort, size, month, customers, share, revenue (module doc)."""
    s, e, horizon, current = _inputs(con, actor, start, end, horizon)
    zone = clock.zone(con)
    cust, cargs = _scoped(con, actor, "customers", "customers", "c", "c.id")
    first = db.scalar(con, "SELECT min(ordered_at) FROM orders WHERE deleted_at IS NULL")
    months: list[dt.date] = []
    if first is not None:
        m = _month(clock.utc_to_local(first, zone).date())
        while m <= current:
            months.append(m)
            m = months_back(m, -1)
    end_utc = clock.local_to_utc(dt.datetime.combine(months_back(current, -1), dt.time()), zone)
    offsets = {zone.utcoffset(dt.datetime.combine(m, dt.time(12))) for m in [*months, current]}
    if len(offsets) == 1:
        # one UTC offset over the whole span (no summer time, e.g. Asia/Shanghai): an order's company month
        # by arithmetic on its timestamp
        mon_args = [int(offsets.pop().total_seconds())]
        orders_sql = (f"SELECT o.customer_id, date_trunc('month', o.ordered_at + to_seconds(?::BIGINT))::DATE AS mon, "
                      f"o.amount, {PURCHASE} AS buy FROM orders o WHERE o.deleted_at IS NULL AND o.ordered_at < ? "
                      f"AND (({PURCHASE}) OR ({CREDIT}))")
        head = ""
    else:
        # each order's company month by an ASOF join on the months' starts in UTC (computed here for the zone)
        mon_args = [[clock.local_to_utc(dt.datetime.combine(m, dt.time()), zone) for m in months], months]
        head = "mo AS (SELECT unnest(?::TIMESTAMP[]) AS lo, unnest(?::DATE[]) AS mon), "
        orders_sql = (f"SELECT o.customer_id, mo.mon, o.amount, {PURCHASE} AS buy FROM orders o ASOF JOIN mo "
                      f"ON o.ordered_at >= mo.lo WHERE o.deleted_at IS NULL AND o.ordered_at < ? "
                      f"AND (({PURCHASE}) OR ({CREDIT}))")
    # the scope is applied to the cohorts' customers (a few per cent of the orders' rows): a semi-join of
    # every order with the scope's customers costs more than everything else together at a million customers;
    # a rep's few customers pick their orders first
    own = access.scope_of(con, actor, "customers", "view") == "own"
    if own:
        orders_sql += f" AND o.customer_id IN ({cust})"
    sql = (
        f"WITH {head}o AS ({orders_sql}), "
        "f AS (SELECT customer_id, min(mon) FILTER (WHERE buy) AS cohort FROM o GROUP BY customer_id "
        f"HAVING min(mon) FILTER (WHERE buy) BETWEEN ? AND ?), "
        f"f2 AS (SELECT * FROM f WHERE customer_id IN ({cust})), "
        "pm AS (SELECT f2.cohort, o.customer_id, date_diff('month', f2.cohort, o.mon) AS month, "
        "bool_or(o.buy) AS buy, sum(o.amount) AS amount FROM o JOIN f2 USING (customer_id) "
        "WHERE o.mon >= f2.cohort AND o.mon < date_add(f2.cohort, to_months(?::INTEGER + 1)) GROUP BY ALL), "
        "a AS (SELECT cohort, month, count(*) FILTER (WHERE buy) AS customers, sum(amount) AS revenue "
        "FROM pm GROUP BY ALL), "
        "sz AS (SELECT cohort, count(*) AS size FROM f2 GROUP BY cohort), "
        "g AS (SELECT sz.cohort, sz.size, m.range AS month FROM sz, range(0, ? + 1) m "
        "WHERE date_add(sz.cohort, to_months(m.range::INTEGER)) <= ?) "
        "SELECT g.cohort, g.size::BIGINT AS size, g.month::INTEGER AS month, "
        "coalesce(a.customers, 0)::BIGINT AS customers, (coalesce(a.customers, 0) / g.size)::DOUBLE AS share, "
        "coalesce(a.revenue, 0)::DOUBLE AS revenue FROM g LEFT JOIN a ON a.cohort = g.cohort AND a.month = g.month "
        "ORDER BY g.cohort, g.month")
    return con.sql(sql, params=mon_args + [end_utc] + (cargs if own else []) + [s, e] + cargs
                   + [horizon, horizon, current]).pl()


def lead_cohorts(con: duckdb.DuckDBPyConnection, actor: Actor, start, end, horizon: int = 12) -> pl.DataFrame:
    """cohort, size, month, converted (cumulative), share (module doc)."""
    s, e, horizon, current = _inputs(con, actor, start, end, horizon)
    tz = clock.zone(con).key
    leads, largs = _scoped(con, actor, "leads", "leads", "l",
                           f"{_local_month('l.created_at')} AS cohort, "
                           f"CASE WHEN l.converted_at IS NOT NULL THEN {_local_month('l.converted_at')} END AS conv",
                           [tz, tz])
    sql = (
        f"WITH v AS (SELECT * FROM ({leads}) WHERE cohort BETWEEN ? AND ?), "
        "sz AS (SELECT cohort, count(*) AS size FROM v GROUP BY cohort), "
        "c AS (SELECT cohort, date_diff('month', cohort, conv) AS month, count(*) AS n FROM v "
        "WHERE conv IS NOT NULL GROUP BY ALL), "
        "g AS (SELECT sz.cohort, sz.size, m.range AS month FROM sz, range(0, ? + 1) m "
        "WHERE date_add(sz.cohort, to_months(m.range::INTEGER)) <= ?) "
        "SELECT g.cohort, g.size::BIGINT AS size, g.month::INTEGER AS month, "
        "coalesce(sum(c.n), 0)::BIGINT AS converted, (coalesce(sum(c.n), 0) / g.size)::DOUBLE AS share "
        "FROM g LEFT JOIN c ON c.cohort = g.cohort AND c.month <= g.month "
        "GROUP BY g.cohort, g.size, g.month ORDER BY g.cohort, g.month")
    return con.sql(sql, params=largs + [s, e, horizon, current]).pl()
