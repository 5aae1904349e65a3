"""The manager's forecast page data at scale L, core beside the same SQL run raw.

    python benchmarks/forecast.py --path /tmp/m6/L.duckdb [--runs 7]     # opened read-only

- months: `core.forecast.months` for the manager (and the rep, the admin): 6 months from three months
  back (won deals of the past months, open deals of the coming ones), months x reps x categories with
  the won-amount targets of each rep and of the team. "raw" runs the aggregate with the scope inlined
  plus one statement for the month targets (each month's most specific covering target, spread evenly).
- hot: `core.forecast.hot` (open deals of the next 90 days by weighted amount, with each stage's
  historical win rate); "raw" the same top 50 and the win rates, by hand.
- page: everything the forecast page asks of core for the manager (months + hot).
- attainment: `core.targets.attainment` for this month (the targets page: won revenue, won deals, new
  customers, follow-ups of the team and each rep, over 1M customers and their follow-ups); core only.

Median of --runs after one warm-up; prints plain `key: value` lines, and the load average before and
after (the machine is shared).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import clock, db, forecast, targets  # noqa: E402
from core.auth import actor_for  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

RAW_MONTHS = """
WITH v AS ({visible}),
x AS (SELECT d.owner_id, CASE WHEN s.is_won THEN date_trunc('month', d.closed_on)
             ELSE date_trunc('month', d.expected_close) END::DATE AS month,
        CASE WHEN s.is_won THEN 'closed' WHEN d.forecast_category IN ('pipeline', 'best_case', 'commit')
             THEN d.forecast_category WHEN coalesce(d.probability, s.probability, 0) >= 75 THEN 'commit'
             WHEN coalesce(d.probability, s.probability, 0) >= 50 THEN 'best_case' ELSE 'pipeline' END AS cat,
        coalesce(d.amount, 0)::DOUBLE AS amount,
        CASE WHEN s.is_won THEN coalesce(d.amount, 0)::DOUBLE
             ELSE coalesce(d.amount, 0)::DOUBLE * coalesce(d.probability, s.probability, 0) / 100.0 END AS weighted
      FROM v d JOIN pipeline_stages s ON s.code = d.stage
      WHERE NOT s.is_lost AND CASE WHEN s.is_won THEN d.closed_on >= $1 AND d.closed_on < $2
            ELSE d.expected_close >= $1 AND d.expected_close < $2 END)
SELECT x.month, x.owner_id, u.name, count(*) FILTER (WHERE cat <> 'closed') AS open_deals,
       sum(amount) FILTER (WHERE cat = 'pipeline') AS pipeline, sum(amount) FILTER (WHERE cat = 'best_case') AS best_case,
       sum(amount) FILTER (WHERE cat = 'commit') AS "commit", sum(amount) FILTER (WHERE cat = 'closed') AS closed,
       sum(weighted) AS weighted
FROM x LEFT JOIN users u ON u.id = x.owner_id GROUP BY ALL
"""
RAW_TARGETS = """
WITH m AS (SELECT unnest(range($1::DATE, $2::DATE, INTERVAL 1 MONTH))::DATE AS month),
c AS (SELECT m.month, t.user_id, t.team_id,
             t.value::DOUBLE / (datediff('month', t.period_start, t.period_end) + 1) AS v,
             row_number() OVER (PARTITION BY m.month, t.user_id, t.team_id
                                ORDER BY datediff('month', t.period_start, t.period_end), t.id DESC) AS k
      FROM m JOIN targets t ON t.period_start <= m.month AND t.period_end >= m.month
      WHERE t.metric = 'won_amount' AND (t.team_id IN ({teams}) OR t.user_id IN
            (SELECT id FROM users WHERE team_id IN ({teams}))))
SELECT month, user_id, team_id, v FROM c WHERE k = 1
"""
RAW_HOT = """
WITH v AS ({visible})
SELECT d.id, d.name, c.name AS customer_name, o.name AS owner_name, d.stage,
       coalesce(d.amount, 0)::DOUBLE * coalesce(d.probability, s.probability, 0) / 100.0 AS weighted,
       d.expected_close, d.last_activity_at
FROM v JOIN deals d ON d.id = v.id JOIN pipeline_stages s ON s.code = d.stage
LEFT JOIN customers c ON c.id = d.customer_id LEFT JOIN users o ON o.id = d.owner_id
WHERE NOT s.is_won AND NOT s.is_lost AND d.expected_close BETWEEN $1 AND $2
ORDER BY weighted DESC, d.expected_close, d.id LIMIT 50
"""
RAW_WIN = """
WITH st AS (SELECT code, (row_number() OVER (ORDER BY code) - 1)::INTEGER AS k FROM pipeline_stages
            WHERE NOT is_won AND NOT is_lost),
v AS ({visible}),
h AS (SELECT h.deal_id, any_value(v.stage) AS stage, bit_or(1::BIGINT << st.k) AS mask
      FROM deal_stage_history h JOIN st ON st.code = h.to_stage JOIN v ON v.id = h.deal_id
      WHERE h.changed_at >= $1 GROUP BY h.deal_id)
SELECT h.mask, count(*), count(*) FILTER (WHERE s.is_won OR s.is_lost), count(*) FILTER (WHERE s.is_won)
FROM h JOIN pipeline_stages s ON s.code = h.stage GROUP BY h.mask
"""


def visible(actor, cols: str, where: str) -> str:
    """The deals the actor may view, written by hand: the scope as disjoint branches."""
    base = f"SELECT {cols} FROM deals d WHERE d.deleted_at IS NULL AND {where}"
    if actor.role == "admin":
        return base
    if actor.role == "sales":
        return f"{base} AND d.owner_id = {int(actor.id)}"
    teams = ", ".join(str(int(t)) for t in actor.team_tree)
    return (f"{base} AND d.team_id IN ({teams}) UNION ALL {base} AND d.owner_id = {int(actor.id)} "
            f"AND (d.team_id IS NULL OR d.team_id NOT IN ({teams}))")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    print(f"load_before: {os.getloadavg()[0]:.2f}")
    con = db.connect(args.path, read_only=True)
    print(f"deals: {db.scalar(con, 'SELECT count(*) FROM deals')}")
    cols = "d.owner_id, d.team_id, d.amount, d.probability, d.forecast_category, d.stage, d.expected_close, d.closed_on"
    for username in ("manager", "rep", "admin"):
        actor = actor_for(con, username)
        today = clock.local_today(con, actor.now)
        start = targets.add_months(today.replace(day=1), -3)
        end = targets.add_months(start, 6)
        df = forecast.months(con, actor, start, 6)
        print(f"{username}_months_rows: {df.height}")
        print(f"{username}_months_core_ms: {median_ms(lambda: forecast.months(con, actor, start, 6), args.runs):.1f}")
        where = "((d.expected_close >= $1 AND d.expected_close < $2) OR (d.closed_on >= $1 AND d.closed_on < $2))"
        raw_months = RAW_MONTHS.format(visible=visible(actor, cols, where))
        teams = ", ".join(str(int(t)) for t in (actor.team_tree or (0,))) if actor.role != "admin" else \
            "SELECT id FROM teams"
        raw_targets = RAW_TARGETS.format(teams=teams)

        def raw_m():
            con.execute(raw_months, [start, end]).fetchall()
            con.execute(raw_targets, [start, end]).fetchall()

        print(f"{username}_months_raw_ms: {median_ms(raw_m, args.runs):.1f}")
        hot = forecast.hot(con, actor)
        print(f"{username}_hot_rows: {hot.height}")
        print(f"{username}_hot_core_ms: {median_ms(lambda: forecast.hot(con, actor), args.runs):.1f}")
        raw_hot = RAW_HOT.format(visible=visible(actor, "d.id", "TRUE"))
        raw_win = RAW_WIN.format(visible=visible(actor, "d.id, d.stage", "TRUE"))
        since = actor.now - dt.timedelta(days=365)

        def raw_h():
            con.execute(raw_hot, [today, today + dt.timedelta(days=90)]).fetchall()
            con.execute(raw_win, [since]).fetchall()

        print(f"{username}_hot_raw_ms: {median_ms(raw_h, args.runs):.1f}")
        if username == "manager":
            def page():
                forecast.months(con, actor, start, 6)
                forecast.hot(con, actor)

            print(f"manager_page_core_ms: {median_ms(page, args.runs):.1f}")
        month = ("month", today)
        print(f"{username}_attainment_rows: {targets.attainment(con, actor, month).height}")
        print(f"{username}_attainment_month_core_ms: "
              f"{median_ms(lambda: targets.attainment(con, actor, month), args.runs):.1f}")
    con.close()
    print(f"load_after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
