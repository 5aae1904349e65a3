"""The pipeline board, the deals list and a stage move at scale L, core beside the same SQL run raw.

    cp /tmp/bench/L.duckdb /tmp/me/L.duckdb          # a migrated copy: the move writes to it
    python benchmarks/pipeline.py --path /tmp/me/L.duckdb [--runs 7]

- board: `core.board.board` for the manager (and the rep, the admin) on the first pipeline: counts and
  sums per stage plus the first 20 cards of each column (won / lost columns: closed in the last 30 days).
  "raw" runs the same three statements with the scope inlined (the heads, the cards by id, the customers'
  names by id).
- list: `core.board.list_deals` for a rep and a manager, page 1 and a deep page (the middle) with one
  filter (source = web), sorted by last update; "raw" is the same page by one hand-written statement.
- move: `core.deals.move_stage` between two open stages of one of the rep's deals (stage history row,
  stage_changed_at, probability, audit, one unit of work); "raw" is the same writes by hand in one
  transaction. Skipped when core.deals has no move_stage yet.

Median of --runs after one warm-up; prints plain `key: value` lines, and the load average before and
after (the machine is shared).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import board, clock, db  # noqa: E402
from core.auth import actor_for  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

OPEN = ("prospecting", "qualification", "proposal", "negotiation")
CLOSED = ("won", "lost")

RAW_HEADS = """
WITH v AS MATERIALIZED ({visible}),
agg AS (SELECT stage, count(*) AS n, sum(amount)::DOUBLE AS total FROM v GROUP BY stage),
top AS (SELECT stage, list(id ORDER BY pos) AS ids FROM (
          SELECT id, stage, row_number() OVER (PARTITION BY stage ORDER BY
            CASE WHEN stage IN ('won', 'lost') THEN closed_on END DESC NULLS LAST, k ASC NULLS LAST, id DESC) AS pos
          FROM v QUALIFY pos <= 20) GROUP BY stage)
SELECT a.stage, a.n, a.total, coalesce(t.ids, []) FROM agg a LEFT JOIN top t USING (stage)
"""

RAW_LIST = """
WITH v AS MATERIALIZED ({visible})
SELECT (SELECT count(*) FROM v) AS total, x.id, x.name, x.customer_id, x.amount, x.stage, x.expected_close,
       o.name AS owner_name, t.name AS team_name, c.name AS customer_name
FROM (SELECT id FROM v ORDER BY k DESC NULLS LAST, id DESC LIMIT 50 OFFSET ?) p
JOIN deals x ON x.id = p.id LEFT JOIN users o ON o.id = x.owner_id LEFT JOIN teams t ON t.id = x.team_id
LEFT JOIN customers c ON c.id = x.customer_id
"""


def scope_branches(actor) -> list[str]:
    """The deals scope of the benchmark's users, written by hand (deals are not pooled)."""
    if actor.role == "admin":
        return ["TRUE"]
    if actor.role == "sales":
        return [f"x.owner_id = {int(actor.id)}"]
    teams = ", ".join(str(int(t)) for t in actor.team_tree)
    return [f"x.team_id IN ({teams})",
            f"x.owner_id = {int(actor.id)} AND (x.team_id IS NULL OR x.team_id NOT IN ({teams}))"]


def raw_board(con, actor, since: dt.date, until: dt.date) -> None:
    held = (f"x.pipeline_id = 1 AND (x.stage IN {OPEN} OR (x.stage IN {CLOSED} "
            f"AND x.closed_on >= DATE '{since}' AND x.closed_on <= DATE '{until}'))")
    visible = " UNION ALL ".join(
        f"SELECT x.id, x.stage, x.amount, x.closed_on, x.expected_close AS k FROM deals x "
        f"WHERE x.deleted_at IS NULL AND {b} AND {held}" for b in scope_branches(actor))
    heads = con.execute(RAW_HEADS.format(visible=visible)).fetchall()
    ids = [i for *_, got in heads for i in got]
    marks = ", ".join("?" for _ in ids)
    cards = con.execute(
        "SELECT x.id, x.name, x.customer_id, x.amount, x.currency, x.expected_close, x.closed_on, x.owner_id, "
        "o.name, x.stage_changed_at, coalesce(x.last_activity_at, x.stage_changed_at, x.created_at), x.updated_at "
        f"FROM deals x LEFT JOIN users o ON o.id = x.owner_id WHERE x.id IN ({marks})", ids).fetchall()
    cids = sorted({r[2] for r in cards if r[2] is not None})
    con.execute(f"SELECT id, name FROM customers WHERE id IN ({', '.join('?' for _ in cids)})", cids).fetchall()


def raw_list(con, actor, source: str | None, page: int) -> None:
    cond = "x.deleted_at IS NULL" + (" AND x.source = ?" if source else "")
    args = [source] if source else []
    parts = [f"SELECT x.id, x.updated_at AS k FROM deals x WHERE {cond} AND {b}" for b in scope_branches(actor)]
    con.execute(RAW_LIST.format(visible=" UNION ALL ".join(parts)), args * len(parts) + [page * 50]).fetchall()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_board(con, runs: int) -> None:
    for username in ("manager", "rep", "admin"):
        actor = actor_for(con, username)
        got = board.board(con, actor, 1, {})
        since, until = got["closed_since"], got["closed_until"]
        cols = " ".join(f"{c['code']}={c['count']}" for c in got["columns"])
        print(f"board_{username}_columns: {cols}")
        print(f"board_{username}_core_ms: {median_ms(lambda: board.board(con, actor, 1, {}), runs):.1f}")
        print(f"board_{username}_raw_ms: {median_ms(lambda: raw_board(con, actor, since, until), runs):.1f}")


def bench_list(con, runs: int) -> None:
    for username in ("rep", "manager"):
        actor = actor_for(con, username)
        _, everything = board.list_deals(con, actor)
        _, total = board.list_deals(con, actor, {"source": "web"})
        print(f"list_{username}_visible: {everything}")
        print(f"list_{username}_web: {total}")
        cases = {"all": (None, 0), "web": ("web", 0), "web_deep": ("web", max(0, -(-total // 50)) // 2)}
        for name, (source, page) in cases.items():
            filters = {"source": source} if source else None
            core_ms = median_ms(lambda: board.list_deals(con, actor, filters, page=page), runs)
            raw_ms = median_ms(lambda: raw_list(con, actor, source, page), runs)
            print(f"list_{username}_{name}_page{page + 1}_core_ms: {core_ms:.1f}")
            print(f"list_{username}_{name}_page{page + 1}_raw_ms: {raw_ms:.1f}")


def bench_move(con, runs: int) -> None:
    from core import deals

    if not hasattr(deals, "move_stage"):
        print("move: skipped (core.deals.move_stage not there yet)")
        return
    rep = actor_for(con, "rep")
    deal_id, stage = con.execute(
        "SELECT id, stage FROM deals WHERE owner_id = ? AND stage IN ('prospecting', 'qualification') "
        "AND deleted_at IS NULL ORDER BY id LIMIT 1", [rep.id]).fetchone()
    other = "qualification" if stage == "prospecting" else "prospecting"
    times = []
    for i in range(runs + 1):
        to = other if i % 2 == 0 else stage
        seen = {"updated_at": db.scalar(con, "SELECT updated_at FROM deals WHERE id = ?", [deal_id])}
        actor = actor_for(con, "rep")
        t0 = time.perf_counter()
        deals.move_stage(con, actor, deal_id, to, seen=seen)
        times.append(time.perf_counter() - t0)
    print(f"move_deal: {deal_id} {stage}<->{other}")
    print(f"move_core_ms: {statistics.median(times[1:]) * 1000:.1f}")

    def raw(i=[0]):
        i[0] += 1
        frm, to = (stage, other) if i[0] % 2 else (other, stage)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        con.execute("BEGIN")
        con.execute("SELECT updated_at FROM deals WHERE id = ? AND owner_id = ?", [deal_id, rep.id]).fetchall()
        con.execute("UPDATE deals SET stage = ?, probability = (SELECT probability FROM pipeline_stages "
                    "WHERE code = ?), stage_changed_at = ?, updated_at = ? WHERE id = ?", [to, to, now, now, deal_id])
        con.execute("INSERT INTO deal_stage_history VALUES (nextval('seq_deal_stage_history'), ?, ?, ?, ?, ?)",
                    [deal_id, frm, to, now, rep.id])
        con.execute("INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, "
                    "new_value) VALUES (nextval('seq_audit_log'), ?, ?, 'move', 'deal', ?, 'stage', ?, ?)",
                    [now, rep.id, deal_id, frm, to])
        con.execute("COMMIT")

    # the core moves left the deal where it began (an even number of runs + 1 warm-up moves it odd times)
    current = db.scalar(con, "SELECT stage FROM deals WHERE id = ?", [deal_id])
    if current != stage:
        stage, other = other, stage
    print(f"move_raw_ms: {median_ms(raw, runs):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--only", choices=("board", "list", "move"))
    args = ap.parse_args()
    con = db.connect(args.path)
    print(f"load_before: {load()}")
    print(f"company_today: {clock.local_today(con, actor_for(con, 'admin').now)}")
    if args.only in (None, "board"):
        bench_board(con, args.runs)
    if args.only in (None, "list"):
        bench_list(con, args.runs)
    if args.only in (None, "move"):
        bench_move(con, args.runs)
    print(f"load_after: {load()}")
    con.close()


if __name__ == "__main__":
    main()
