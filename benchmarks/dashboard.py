"""The manager dashboard's data and the drill-down's first page at scale L (issue 11), core beside raw SQL.

    python benchmarks/dashboard.py --path /tmp/m6/GL.duckdb [--runs 5]     # opened read-only

- manager_<user>: `core.analytics.dashboards.manager` (12 cards with deltas, leaderboard by rep, 24-month
  revenue trend, lost reasons; the funnel when core.analytics.funnel exists) for a manager and the admin,
  this month so far against the previous period.
- raw_admin: the same figures for the admin (no scope predicate needed) hand-written: one statement for
  the deal / lead / customer / follow-up cards of both windows, one for the leaderboard, one for the trend,
  one for the lost reasons (open / weighted pipeline, coverage and targets left out: a lower bound).
- drill_<kpi>: `core.analytics.drill.records` first page (50 rows, with the total) for the manager.

Median of --runs after one warm-up; plain `key: value` lines.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402

from core import clock  # noqa: E402
from core.analytics import dashboards, drill, metrics  # noqa: E402
from core.auth import actor_for  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

RAW_CARDS = """
WITH dd AS (SELECT count(*) FILTER (WHERE closed_on BETWEEN ?1 AND ?2 AND s.is_won),
          sum(amount) FILTER (WHERE closed_on BETWEEN ?1 AND ?2 AND s.is_won),
          count(*) FILTER (WHERE closed_on BETWEEN ?1 AND ?2 AND s.is_lost),
          count(*) FILTER (WHERE closed_on BETWEEN ?3 AND ?4 AND s.is_won),
          sum(amount) FILTER (WHERE closed_on BETWEEN ?3 AND ?4 AND s.is_won),
          count(*) FILTER (WHERE closed_on BETWEEN ?3 AND ?4 AND s.is_lost),
          median(closed_on - coalesce(engaged_on, created_at::DATE)) FILTER (WHERE closed_on BETWEEN ?1 AND ?2 AND s.is_won)
   FROM deals d JOIN pipeline_stages s ON s.code = d.stage WHERE d.deleted_at IS NULL AND d.closed_on >= ?3),
  ll AS (SELECT count(*) FILTER (WHERE created_at >= ?5), count(*) FROM leads WHERE deleted_at IS NULL AND created_at >= ?7 AND created_at < ?6),
  cc AS (SELECT count(*) FILTER (WHERE created_at >= ?5), count(*) FROM customers WHERE deleted_at IS NULL AND created_at >= ?7 AND created_at < ?6),
  aa AS (SELECT count(*) FILTER (WHERE occurred_at >= ?5), count(*) FROM activities WHERE deleted_at IS NULL AND occurred_at >= ?7 AND occurred_at < ?6)
SELECT * FROM dd, ll, cc, aa
"""
RAW_BOARD = """
WITH w AS (SELECT owner_id, count(*) FILTER (WHERE s.is_won) AS won, sum(amount) FILTER (WHERE s.is_won) AS rev,
           count(*) FILTER (WHERE s.is_lost) AS lost FROM deals d JOIN pipeline_stages s ON s.code = d.stage
           WHERE d.deleted_at IS NULL AND d.closed_on BETWEEN ?1 AND ?2 GROUP BY ALL),
c AS (SELECT owner_id, count(*) AS n FROM customers WHERE deleted_at IS NULL AND created_at >= ?3 AND created_at < ?4 GROUP BY ALL),
l AS (SELECT owner_id, count(*) AS n FROM leads WHERE deleted_at IS NULL AND created_at >= ?3 AND created_at < ?4 GROUP BY ALL),
a AS (SELECT user_id AS owner_id, count(*) AS n FROM activities WHERE deleted_at IS NULL AND occurred_at >= ?3 AND occurred_at < ?4 GROUP BY ALL)
SELECT * FROM w FULL JOIN c USING (owner_id) FULL JOIN l USING (owner_id) FULL JOIN a USING (owner_id)
"""
RAW_TREND = """SELECT date_trunc('month', closed_on) AS m, sum(amount) FROM deals d JOIN pipeline_stages s ON s.code = d.stage
WHERE d.deleted_at IS NULL AND s.is_won AND d.closed_on BETWEEN ? AND ? GROUP BY ALL"""
RAW_LOST = """SELECT lost_reason, count(*) FROM deals d JOIN pipeline_stages s ON s.code = d.stage
WHERE d.deleted_at IS NULL AND s.is_lost AND d.closed_on BETWEEN ? AND ? GROUP BY ALL"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", default="/tmp/m6/GL.duckdb")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    con = duckdb.connect(args.path, read_only=True)
    print(f"load_before: {os.getloadavg()[0]:.2f}")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    users = {r[0]: r[1] for r in con.execute("SELECT role, username FROM users WHERE role IN ('admin', 'manager') "
                                             "AND active ORDER BY id DESC").fetchall()}
    for role in ("manager", "admin"):
        a = actor_for(con, users[role], now)
        p = metrics.month_to_date(con, a)
        print(f"manager_{role}_ms: {median_ms(lambda: dashboards.manager(con, a, p), args.runs):.0f}")
    a = actor_for(con, users["admin"], now)
    p = metrics.month_to_date(con, a)
    cmp_ = metrics.comparison(p)
    lo, hi = clock.day_bounds_utc(con, p.start)[0], clock.day_bounds_utc(con, p.end)[1]
    plo = clock.day_bounds_utc(con, cmp_.start)[0]
    cur, prev = dashboards.trend_periods(p)

    def raw():
        con.execute(RAW_CARDS, [p.start, p.end, cmp_.start, cmp_.end, lo, hi, plo]).fetchall()
        con.execute(RAW_BOARD, [p.start, p.end, lo, hi]).fetchall()
        con.execute(RAW_TREND, [prev.start, cur.end]).fetchall()
        con.execute(RAW_LOST, [p.start, p.end]).fetchall()
    print(f"raw_admin_ms: {median_ms(raw, args.runs):.0f}")
    m = actor_for(con, users["manager"], now)
    for key in ("won_revenue", "new_customers", "open_pipeline", "followups", "forgotten_30", "backlog"):
        print(f"drill_{key}_ms: {median_ms(lambda: drill.records(con, m, key, p), args.runs):.0f}")
    print(f"load_after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
