"""Segment live-count timings on a built demo file, core beside the same count by raw SQL.

    python benchmarks/segments.py --path /tmp/L2/L.duckdb [--runs 7]

Two rules, for a marketer (every customer) and a manager (the team tree): a 3-condition rule (stage,
province, last activity within 180 days) and a rule with an order-sum condition (>= 5,000 over the last
365 days) AND an RFM condition (champions or loyal). "core" is `core.segments.count` (validation,
compilation, scope branches, CTEs); "raw" the same count by one hand-written statement (for the RFM rule
the raw statement reuses core.analytics.rfm.scores_sql, the RFM itself being engineer A's; core keeps the
scores of one scope and data state for a few minutes, `core_cold_ms` is the count without them). Median of
--runs after one warm-up. The file is opened read-only. Prints plain `key: value` lines.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import median_ms  # noqa: E402
from core import clock, db, segments, settings  # noqa: E402
from core.auth import actor_for  # noqa: E402

THREE = {"op": "and", "items": [
    {"field": "stage", "op": "in", "value": ["intent", "potential"]},
    {"field": "province", "op": "equals", "value": "上海市"},
    {"field": "last_activity_days", "op": "lte", "value": 180}]}
ORDERS_RFM = {"op": "and", "items": [
    {"field": "orders_sum", "op": "gte", "value": 5000, "days": 365},
    {"field": "rfm_segment", "op": "in", "value": ["champions", "loyal"]}]}


def scope(actor) -> tuple[str, list]:
    if actor.role in ("admin", "marketing"):
        return "TRUE", []
    teams = list(actor.team_tree)
    marks = ", ".join("?" for _ in teams)
    return f"(c.team_id IN ({marks}) OR c.owner_id = ?)", teams + [actor.id]


def raw_three(con, actor) -> int:
    where, params = scope(actor)
    return con.execute(
        f"SELECT count(*) FROM customers c WHERE c.deleted_at IS NULL AND {where} AND c.stage IN ('intent', 'potential') "
        f"AND lower(c.province) = lower(?) AND c.last_activity_at >= ?",
        params + ["上海市", actor.now - dt.timedelta(days=180)]).fetchone()[0]


def raw_orders_rfm(con, actor) -> int:
    from core.analytics import rfm

    where, params = scope(actor)
    asof = clock.local_today(con, actor.now)
    rsql, rparams = rfm.scores_sql(con, actor, asof, settings.get(con, "analytics.rfm_window_months"),
                                   settings.get(con, "analytics.rfm_method"))
    return con.execute(
        f"WITH o AS (SELECT customer_id FROM orders WHERE deleted_at IS NULL AND status NOT IN "
        f"('cancelled', 'refunded', 'draft') AND amount > 0 AND ordered_at > ? GROUP BY customer_id "
        f"HAVING sum(amount) >= 5000), r AS (SELECT customer_id FROM ({rsql}) WHERE segment IN ('champions', 'loyal')) "
        f"SELECT count(*) FROM customers c JOIN o ON o.customer_id = c.id JOIN r ON r.customer_id = c.id "
        f"WHERE c.deleted_at IS NULL AND {where}",
        [actor.now - dt.timedelta(days=365)] + list(rparams) + params).fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--users", default="marketing,manager")
    args = ap.parse_args()
    con = db.connect(args.path, read_only=True)
    now = con.execute("SELECT max(created_at) FROM customers").fetchone()[0] + dt.timedelta(hours=1)
    print(f"customers: {con.execute('SELECT count(*) FROM customers').fetchone()[0]:,}")
    print(f"orders: {con.execute('SELECT count(*) FROM orders').fetchone()[0]:,}")
    print(f"runs: {args.runs}")
    for username in args.users.split(","):
        actor = actor_for(con, username, now)
        for name, rule, raw in (("three_conditions", THREE, raw_three), ("orders_sum_and_rfm", ORDERS_RFM,
                                                                         raw_orders_rfm)):
            core_n, raw_n = segments.count(con, actor, rule), raw(con, actor)
            assert core_n == raw_n, (username, name, core_n, raw_n)
            core_ms = median_ms(lambda: segments.count(con, actor, rule), args.runs)
            raw_ms = median_ms(lambda: raw(con, actor), args.runs)
            if name == "orders_sum_and_rfm":  # the first count after any change of orders or customers
                def cold():
                    segments._rfm_cache.clear()
                    segments.count(con, actor, rule)
                print(f"{username}.{name}.core_cold_ms: {median_ms(cold, args.runs):.1f}")
            print(f"{username}.{name}.count: {core_n:,}")
            print(f"{username}.{name}.core_ms: {core_ms:.1f}")
            print(f"{username}.{name}.raw_ms: {raw_ms:.1f}")
    con.close()


if __name__ == "__main__":
    main()
