"""Report builder timings on a built demo file, core beside the same result by raw SQL.

    python benchmarks/reports.py --path /tmp/L2/L.duckdb [--runs 7] [--users admin,manager,rep516]

The report (issue 12's figure: two dimensions, a ratio and a filter): deals by close month (company
time zone buckets) and team, won deals / closed deals (two counts, each with its own filter, and their
ratio), filtered on source in (web, ad), over the last 12 months of close dates. It is "saved": the
definition goes through `validate` and a JSON round trip as `reports.save` stores it (the file is opened
read-only, so nothing is written), then `reports.run` runs it for each user with the user's scope.
"core" is `reports.run` (validation, field rights, scope branches, the statement, the frame); "raw" one
hand-written statement for the same rows. `same_result` compares the two. Median of --runs after one
warm-up. Prints plain `key: value` lines.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import median_ms  # noqa: E402
from core import clock, db  # noqa: E402
from core.analytics import reports  # noqa: E402
from core.auth import actor_for  # noqa: E402


def definition(start: dt.date, end: dt.date) -> dict:
    return {"object": "deals", "chart": "bar",
            "dims": [{"field": "closed_on", "bucket": "month"}, {"field": "team"}],
            "measures": [{"agg": "count", "filters": [{"field": "won", "op": "is", "value": True}]},
                         {"agg": "count", "filters": [{"field": "closed", "op": "is", "value": True}]}],
            "ratio": {"num": 0, "den": 1},
            "filters": [{"field": "source", "op": "in", "value": ["web", "ad"]}],
            "period": {"field": "closed_on", "start": start.isoformat(), "end": end.isoformat()}}


def scope(actor) -> tuple[str, list]:
    if actor.role in ("admin", "marketing", "service"):
        return "TRUE", []
    if actor.role == "sales":
        return "d.owner_id = ?", [actor.id]
    teams = list(actor.team_tree)
    marks = ", ".join("?" for _ in teams)
    return f"(d.team_id IN ({marks}) OR d.owner_id = ?)", teams + [actor.id]


def raw(con, actor, start: dt.date, end: dt.date):
    where, params = scope(actor)
    return con.sql(
        "SELECT CAST(date_trunc('month', d.closed_on) AS DATE) AS closed_on, tm.name AS team, "
        "count(*) FILTER (WHERE s.is_won) AS m0, count(*) FILTER (WHERE s.is_won OR s.is_lost) AS m1 "
        "FROM deals d LEFT JOIN teams tm ON tm.id = d.team_id "
        "LEFT JOIN (SELECT code, bool_or(is_won) AS is_won, bool_or(is_lost) AS is_lost FROM pipeline_stages "
        "GROUP BY code) s ON s.code = d.stage "
        f"WHERE d.deleted_at IS NULL AND d.source IN ('web', 'ad') AND d.closed_on BETWEEN ? AND ? AND {where} "
        "GROUP BY ALL ORDER BY 1 NULLS LAST, 2 NULLS LAST", params=[start, end] + params).pl()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--users", default="admin,manager,rep516")
    args = ap.parse_args()
    con = db.connect(args.path, read_only=True)
    now = con.execute("SELECT max(created_at) FROM deals").fetchone()[0] + dt.timedelta(hours=1)
    today = clock.local_today(con, now)
    start, end = today.replace(year=today.year - 1) + dt.timedelta(days=1), today
    print(f"deals: {con.execute('SELECT count(*) FROM deals').fetchone()[0]:,}")
    print(f"runs: {args.runs}")
    print(f"period: {start} .. {end}")
    for username in args.users.split(","):
        actor = actor_for(con, username, now)
        saved = json.loads(json.dumps(reports.validate(con, actor, definition(start, end))))
        got = reports.run(con, actor, saved)
        want = raw(con, actor, start, end)
        same = got.select("closed_on", "team", "m0", "m1").equals(want)
        core_ms = median_ms(lambda: reports.run(con, actor, saved), args.runs)
        raw_ms = median_ms(lambda: raw(con, actor, start, end), args.runs)
        print(f"{username}.groups: {got.height}")
        print(f"{username}.deals_closed: {int(got['m1'].sum() or 0)}")
        print(f"{username}.same_result: {same}")
        print(f"{username}.core_ms: {core_ms:.1f}")
        print(f"{username}.raw_ms: {raw_ms:.1f}")
    con.close()


if __name__ == "__main__":
    main()
