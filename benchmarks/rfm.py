"""RFM and cohorts at scale L (2M orders, 1M customers), core beside the best raw SQL for the same result.

    python benchmarks/rfm.py --path /tmp/L2/L.duckdb [--runs 7] [--asof YYYY-MM-DD]     # opened read-only

- summary_<user>: `core.analytics.rfm.summary` (quintiles, 12 months) for admin, manager and rep;
  raw_summary_<user>: one hand-written statement giving the same table (the scope inlined, the company's
  time zone as a fixed +8 h, which is exact for Asia/Shanghai); `same_<user>` says the two agree.
- scores_<user>: `rfm.scores` (a page of 50 of the drill-down to one segment, with its total);
  raw_scores_<user>: the same page and total by hand.
- retention_admin: `core.analytics.cohorts.retention` over 12 cohorts, horizon 12 (core only).
Target: RFM <= 1000 ms. Median of --runs after one warm-up; prints `key: value` lines and the load
average before and after (the machine is shared).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import access, clock, db  # noqa: E402
from core.analytics import cohorts, rfm  # noqa: E402
from core.auth import actor_for  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

RAW = """
WITH v AS ({visible}),
a AS (SELECT o.customer_id,
             max(o.ordered_at) FILTER (WHERE o.status = 'confirmed' AND o.amount > 0) AS last_at,
             count(*) FILTER (WHERE o.status = 'confirmed' AND o.amount > 0) AS frequency,
             sum(o.amount)::DOUBLE AS monetary
      FROM orders o SEMI JOIN v ON v.id = o.customer_id
      WHERE o.deleted_at IS NULL AND o.ordered_at >= $1 AND o.ordered_at < $2
        AND (o.status = 'confirmed' AND o.amount > 0 OR o.status IN ('cancelled', 'refunded') AND o.amount < 0)
      GROUP BY o.customer_id),
b AS (SELECT customer_id, date_diff('day', (last_at + INTERVAL 8 HOUR)::DATE, $3::DATE) AS recency_days,
             frequency, monetary FROM a WHERE frequency > 0),
s AS (SELECT *, (1 + floor(5 * (rank() OVER (ORDER BY recency_days DESC) - 1) / count(*) OVER ()))::INT AS r,
                (1 + floor(5 * (rank() OVER (ORDER BY frequency) - 1) / count(*) OVER ()))::INT AS f,
                (1 + floor(5 * (rank() OVER (ORDER BY monetary) - 1) / count(*) OVER ()))::INT AS m FROM b),
g AS (SELECT *, CASE WHEN r >= 4 AND f + m >= 8 THEN 'champions' WHEN r >= 3 AND f + m >= 6 THEN 'loyal'
                     WHEN r >= 4 AND f + m < 4 THEN 'new' WHEN r >= 3 THEN 'potential_loyalists'
                     WHEN f + m >= 8 THEN 'cant_lose' WHEN f + m >= 6 THEN 'at_risk' WHEN r >= 2 THEN 'hibernating'
                     ELSE 'lost' END AS segment FROM s)
"""
RAW_SUMMARY = RAW + """
SELECT segment, count(*) AS customers, count(*) / sum(count(*)) OVER () AS share, sum(monetary) AS revenue,
       sum(monetary) / sum(frequency) AS avg_order_value, avg(recency_days), avg(frequency), avg(monetary)
FROM g GROUP BY segment ORDER BY segment
"""
RAW_PAGE = RAW + """
, p AS (SELECT *, count(*) OVER () AS total FROM g WHERE segment = 'loyal' ORDER BY monetary DESC, customer_id LIMIT 50)
SELECT p.*, c.name, u.name AS owner_name FROM p JOIN customers c ON c.id = p.customer_id
LEFT JOIN users u ON u.id = c.owner_id ORDER BY p.monetary DESC, p.customer_id
"""


def visible(con, actor) -> tuple[str, list]:
    parts, args = [], []
    for cond, bargs in access.branches(con, actor, "customers", "view", "c"):
        parts.append(f"SELECT c.id FROM customers c WHERE c.deleted_at IS NULL AND {cond}")
        args += bargs
    return " UNION ALL ".join(parts), args


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", default="/tmp/L2/L.duckdb")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--asof", default=None)
    args = ap.parse_args()
    con = db.connect(args.path, read_only=True)
    now = db.scalar(con, "SELECT max(ordered_at) FROM orders") + dt.timedelta(minutes=1)
    asof = dt.date.fromisoformat(args.asof) if args.asof else clock.local_today(con, now)
    lo, hi = rfm.window(con, asof, 12)
    print(f"load_before: {os.getloadavg()[0]:.2f}")
    print(f"orders: {db.scalar(con, 'SELECT count(*) FROM orders')}")
    print(f"asof: {asof}")
    for username in ("admin", "manager", "rep"):
        actor = actor_for(con, username, now)
        summary = rfm.summary(con, actor, asof, 12, "quintile")
        vis, vargs = visible(con, actor)
        # the raw statement's $n parameters: the window and the as-of day, then the scope's own (appended)
        shift = len(vargs)
        raw_sql = RAW_SUMMARY.replace("{visible}", _dollar(vis, 4)) if shift else RAW_SUMMARY.replace("{visible}", vis)
        raw_args = [lo, hi, asof] + vargs
        raw = con.execute(raw_sql, raw_args).fetchall()
        mine = {r["segment"]: (r["customers"], round(r["revenue"], 2)) for r in summary.iter_rows(named=True)
                if r["customers"]}
        theirs = {r[0]: (r[1], round(r[3], 2)) for r in raw}
        print(f"customers_{username}: {summary['customers'].sum()}")
        print(f"same_{username}: {mine == theirs}")
        print(f"summary_{username}_ms: {median_ms(lambda: rfm.summary(con, actor, asof, 12, 'quintile'), args.runs):.0f}")
        print(f"raw_summary_{username}_ms: {median_ms(lambda: con.execute(raw_sql, raw_args).fetchall(), args.runs):.0f}")
        page_sql = RAW_PAGE.replace("{visible}", _dollar(vis, 4)) if shift else RAW_PAGE.replace("{visible}", vis)
        print(f"scores_{username}_ms: "
              f"{median_ms(lambda: rfm.scores(con, actor, asof, 12, 'quintile', segment='loyal'), args.runs):.0f}")
        print(f"raw_scores_{username}_ms: {median_ms(lambda: con.execute(page_sql, raw_args).fetchall(), args.runs):.0f}")
    admin = actor_for(con, "admin", now)
    start = rfm.months_back(asof.replace(day=1), 12)
    print(f"retention_admin_ms: {median_ms(lambda: cohorts.retention(con, admin, start, asof, 12), args.runs):.0f}")
    print(f"lead_cohorts_admin_ms: {median_ms(lambda: cohorts.lead_cohorts(con, admin, start, asof, 12), args.runs):.0f}")
    print(f"load_after: {os.getloadavg()[0]:.2f}")
    return 0


def _dollar(sql: str, first: int) -> str:
    """The scope's `?` marks as $first, $first+1, ... (the raw statements use numbered parameters)."""
    out, n = [], first
    for ch in sql:
        if ch == "?":
            out.append(f"${n}")
            n += 1
        else:
            out.append(ch)
    return "".join(out)


if __name__ == "__main__":
    sys.exit(main())
