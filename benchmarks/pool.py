"""The shared pool at scale L (issue 10's figures). Reclaim: the dry run over 1,000,000 customers and the
preview of tomorrow's run (<= 1 s each), a rep's warnings and the pool dashboard, each beside the best raw
SQL for the same rows; then ONE real run (it writes: use a copy) beside the same writes done raw in a
transaction that is rolled back.

    cp /tmp/L2/L.duckdb /tmp/me/L.duckdb      # a COPY: the real run moves customers to the pools
    python benchmarks/pool.py --path /tmp/me/L.duckdb [--runs 5] [--now 2026-11-24T02:00] [--part reclaim_part|split_part]

Median of --runs (>= 5) after a warm-up; prints plain `key: value` lines. Each part is a function in
PARTS (add further parts, e.g. the split, above the `main` function).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import clock, db, pool_stats, reclaim, settings, setup, sla  # noqa: E402
from core.auth import actor_for  # noqa: E402
from core.context import SYSTEM, utcnow  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

PARTS: list = []


def part(fn):
    PARTS.append(fn)
    return fn


_RAW_CANDIDATES = (
    "SELECT c.id, c.name, c.owner_id, c.team_id FROM customers c "
    "WHERE c.owner_id IS NOT NULL AND c.team_id IS NOT NULL AND c.deleted_at IS NULL AND c.merged_into_id IS NULL "
    "AND c.locked_at IS NULL AND c.stage NOT IN ('won', 'upgrade') "
    "AND greatest(c.last_activity_at, coalesce(c.assigned_at, c.created_at)) < ("
    "  WITH cal AS (SELECT day, workday, day_start_utc, sum(workday::INTEGER) OVER (ORDER BY day) AS wd "
    "  FROM work_calendar) SELECT day_start_utc FROM cal WHERE workday AND wd = "
    "  (SELECT wd FROM cal WHERE day = ?) - ? + 1)")


def _raw_candidates(con, day: dt.date, days: int) -> list:
    """The best plain SQL for the default rule (no follow-up for N working days): the cutoff instant from
    the calendar, then one comparison over the customers."""
    return con.execute(_RAW_CANDIDATES, [day, days]).fetchall()


def _busiest(con, role: str, now: dt.datetime):
    name = db.scalar(con, "SELECT u.username FROM users u JOIN customers c ON c.owner_id = u.id "
                          "WHERE u.role = ? AND u.active AND u.deleted_at IS NULL "
                          "GROUP BY u.username ORDER BY count(*) DESC, u.username LIMIT 1", [role])
    if name is None:
        name = db.scalar(con, "SELECT username FROM users WHERE role = ? AND active ORDER BY id LIMIT 1", [role])
    return actor_for(con, name, now)


@part
def reclaim_part(con, args) -> None:
    """Reclaim: dry run, preview, warnings, dashboard; then one real run beside the raw writes."""
    now = args.now
    system = dataclasses.replace(SYSTEM, now=now)
    admin = actor_for(con, db.scalar(con, "SELECT username FROM users WHERE role = 'admin' AND active "
                                          "ORDER BY id LIMIT 1"), now)
    manager = _busiest(con, "manager", now)
    rep = _busiest(con, "sales", now)
    sla.ensure_calendar(con)
    today = clock.local_today(con, now)
    tomorrow = today + dt.timedelta(days=1)
    days = int(settings.get(con, "pool.reclaim_after_working_days"))
    if args.with_rules and reclaim.rules(con).is_empty():  # three rules of each kind: one branch each
        reclaim.save_rule(con, admin, level="A", combine="any", no_followup_days=5, not_won_days=60)
        reclaim.save_rule(con, admin, level="B", combine="all", no_followup_days=8, no_deal_days=20)
        reclaim.save_rule(con, admin, no_followup_days=days, no_deal_days=40)
    rules = reclaim.rules(con)
    print(f"customers: {db.scalar(con, 'SELECT count(*) FROM customers'):,}")
    print(f"reclaim_rules: {rules.height}" + ("" if rules.height else
                                              f" (the default rule: no follow-up for {days} working days)"))
    print(f"now: {now.isoformat()}  company_day: {today}")

    dry = reclaim.run(con, system, dry_run=True)
    raw_now = _raw_candidates(con, today, days)
    print(f"reclaim_candidates: {dry['moved']:,}")
    print(f"reclaim_candidates_raw: {len(raw_now):,}  same_ids: "
          f"{set(dry['moves']['customer_id'].to_list()) == {r[0] for r in raw_now} if not rules.height else 'n/a'}")
    print(f"reclaim_by_reason: {dry['by_reason']}")
    print(f"reclaim_dry_run_ms: {median_ms(lambda: reclaim.run(con, system, dry_run=True), args.runs):.0f}")
    print(f"reclaim_dry_run_raw_ms: {median_ms(lambda: _raw_candidates(con, today, days), args.runs):.0f}"
          + ("" if not rules.height else "  (the default rule's candidates only)"))
    branches, bparams, _ = reclaim._candidate_sql(con, reclaim._Calendar.load(con), today, None)
    print(f"reclaim_rule_branches_raw_rows: {len(con.execute(branches, bparams).fetchall()):,}")
    print(f"reclaim_rule_branches_raw_ms: "
          f"{median_ms(lambda: con.execute(branches, bparams).fetchall(), args.runs):.0f}  "
          "(core's one-statement-per-rule UNION ALL, without reasons/words/due days)")

    shown = reclaim.preview(con, admin, tomorrow)
    print(f"preview_tomorrow_admin_rows: {shown.height:,}")
    print(f"preview_tomorrow_admin_ms: {median_ms(lambda: reclaim.preview(con, admin, tomorrow), args.runs):.0f}")
    print(f"preview_tomorrow_raw_ms: {median_ms(lambda: _raw_candidates(con, tomorrow, days), args.runs):.0f}")
    print(f"preview_tomorrow_manager_rows: {reclaim.preview(con, manager, tomorrow).height:,}")
    print(f"preview_tomorrow_manager_ms: "
          f"{median_ms(lambda: reclaim.preview(con, manager, tomorrow), args.runs):.0f}")
    print(f"warnings_rep_rows: {reclaim.warnings(con, rep).height:,}")
    print(f"warnings_rep_ms: {median_ms(lambda: reclaim.warnings(con, rep), args.runs):.0f}")
    print(f"pool_dashboard_admin_ms: {median_ms(lambda: pool_stats.dashboard(con, admin), args.runs):.0f}")
    print(f"pool_dashboard_manager_ms: {median_ms(lambda: pool_stats.dashboard(con, manager), args.runs):.0f}")
    if args.no_run:
        return

    # the same writes done raw (candidates, the customers' columns, pool moves, audit rows), committed; then
    # put back as they were (not timed), so the real run below finds the same candidates
    con.execute("CREATE OR REPLACE TEMP TABLE _raw_before AS SELECT id, owner_id, pool_since, pool_reason, pool_rank, "
                "updated_at FROM customers WHERE id IN (SELECT id FROM (" + _RAW_CANDIDATES + "))", [today, days])
    marks = [db.scalar(con, f"SELECT coalesce(max(id), 0) FROM {t}") for t in ("pool_moves", "audit_log")]  # sql-ok

    def raw_run() -> None:
        con.execute("BEGIN TRANSACTION")
        con.execute("CREATE OR REPLACE TEMP TABLE _raw_moves AS " + _RAW_CANDIDATES, [today, days])
        con.execute("UPDATE customers SET owner_id = NULL, pool_since = ?, pool_reason = 'reclaim', pool_rank = NULL, "
                    "updated_at = greatest(updated_at + INTERVAL 1 MICROSECOND, ?) "
                    "WHERE id IN (SELECT id FROM _raw_moves)", [now, now])
        con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, "
                    "to_team_id, reason, moved_by, moved_at, detail) SELECT nextval('seq_pool_moves'), id, "
                    "owner_id, NULL, team_id, team_id, 'reclaim', NULL, ?, 'raw' FROM _raw_moves", [now])
        con.execute("INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, "
                    "new_value) SELECT nextval('seq_audit_log'), ?, NULL, 'reclaim', 'customer', id, 'owner_id', "
                    "CAST(owner_id AS VARCHAR), NULL FROM _raw_moves", [now])
        con.execute("COMMIT")

    t0 = time.perf_counter()
    raw_run()
    print(f"reclaim_run_raw_ms: {(time.perf_counter() - t0) * 1000:.0f}  (committed, then put back)")
    con.execute("BEGIN TRANSACTION")
    con.execute("UPDATE customers SET owner_id = b.owner_id, pool_since = b.pool_since, pool_reason = b.pool_reason, "
                "pool_rank = b.pool_rank, updated_at = b.updated_at FROM _raw_before b WHERE customers.id = b.id")
    con.execute("DELETE FROM pool_moves WHERE id > ?", [marks[0]])
    con.execute("DELETE FROM audit_log WHERE id > ?", [marks[1]])
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    t0 = time.perf_counter()
    done = reclaim.run(con, system, source="benchmark")
    took = (time.perf_counter() - t0) * 1000
    print(f"reclaim_run_moved: {done['moved']:,}")
    print(f"reclaim_run_ms: {took:.0f}")
    print(f"reclaim_run_notifications: {db.scalar(con, 'SELECT count(*) FROM notifications WHERE kind = ? AND object_id = ?', ['pool_reclaim', done['run_id']]):,}")
    print(f"reclaim_second_dry_run: {reclaim.run(con, system, dry_run=True)['moved']:,}")


@part
def split_part(con, args) -> None:
    """The even split (平均分配): a new team of 50 reps (cap 5,000 each), a batch of 100,000 imported records in its pool,
    core.pool.split(import_id=...) (equal weights: nobody has won deals yet) timed per run; between runs
    the batch goes back to the pool (not timed). Beside it the raw SQL of the same writes (one UPDATE
    round-robin by row number, the moves and the audit rows), rolled back."""
    from core import pool

    now = args.now
    n_reps, n_records = 50, 100_000
    team = db.next_id(con, "teams")
    con.execute("INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)", [team, f"Split bench {team}", now])
    reps = db.next_ids(con, "users", n_reps)
    # a cap of 5,000 each (users.customer_cap): with the default 200, 50 reps take 10,000 and the rest stays
    con.execute("INSERT INTO users (id, username, name, role, team_id, password_hash, customer_cap, created_at, "
                "updated_at) SELECT unnest(?), 'split_bench_' || unnest(?), 'Split rep ' || unnest(?), 'sales', ?, "
                "'x', 5000, ?, ?", [reps, reps, reps, team, now, now])
    import_id = 900_000_000 + team
    first = db.scalar(con, "SELECT max(id) + 1 FROM customers")
    con.execute("INSERT INTO customers (id, name, stage, team_id, pool_since, pool_reason, import_id, created_at, "
                "updated_at) SELECT ? + i, 'Split batch ' || i, 'raw', ?, ?, 'import', ?, ?, ? FROM range(?) t(i)",
                [first, team, now, import_id, now, now, n_records])
    admin = actor_for(con, db.scalar(con, "SELECT username FROM users WHERE role = 'admin' AND active "
                                          "ORDER BY id LIMIT 1"), now)

    def reset() -> None:
        con.execute("UPDATE customers SET owner_id = NULL, team_id = ?, pool_since = ?, assigned_at = NULL "
                    "WHERE import_id = ?", [team, now, import_id])

    results = []

    def run() -> None:
        reset()
        t0 = time.perf_counter()
        results.append(pool.split(con, admin, import_id=import_id, team_ids=[team]))
        results[-1]["ms"] = (time.perf_counter() - t0) * 1000

    for _ in range(args.runs + 1):
        run()
    got = results[-1]
    counts = list(got["per_rep"].values())
    times = sorted(r["ms"] for r in results[1:])
    print(f"split_records: {got['requested']:,}  reps: {n_reps}  weighting: {got['weighting']}")
    print(f"split_assigned: {got['assigned']:,}  left_in_pool: {got['left_in_pool']:,}")
    print(f"split_per_rep_min: {min(counts):,}  split_per_rep_max: {max(counts):,}")
    owned = con.execute("SELECT min(n), max(n), count(*) FROM (SELECT owner_id, count(*) AS n FROM customers "
                        "WHERE import_id = ? GROUP BY owner_id)", [import_id]).fetchone()
    print(f"split_stored_per_rep_min: {owned[0]:,}  max: {owned[1]:,}  owners: {owned[2]}")
    print(f"split_moves_of_last_run: {db.scalar(con, 'SELECT count(*) FROM pool_moves WHERE run_id = ?', [got['run_id']]):,}")
    print(f"split_ms: {times[len(times) // 2]:.0f}  (median of {len(times)}, min {times[0]:.0f}, max {times[-1]:.0f})")
    dry = []

    def dry_run() -> None:
        reset()
        dry.append(pool.split(con, admin, import_id=import_id, team_ids=[team], dry_run=True))

    print(f"split_dry_run_ms: {median_ms(dry_run, args.runs):.0f}  (reset included; would assign "
          f"{dry[-1]['assigned']:,})")

    def raw() -> None:
        reset()
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("CREATE OR REPLACE TEMP TABLE _raw_split AS SELECT c.id, c.team_id, "
                        "(?::BIGINT[])[((row_number() OVER (ORDER BY c.id) - 1) % ?) + 1] AS new_owner FROM customers c "
                        "WHERE c.import_id = ? AND c.owner_id IS NULL", [reps, n_reps, import_id])
            con.execute("UPDATE customers SET owner_id = s.new_owner, assigned_at = ?, pool_since = NULL "
                        "FROM _raw_split s WHERE customers.id = s.id", [now])
            con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, "
                        "reason, moved_by, moved_at) SELECT nextval('seq_pool_moves'), id, NULL, new_owner, team_id, "
                        "team_id, 'split', NULL, ? FROM _raw_split", [now])
            con.execute("INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, "
                        "new_value) SELECT nextval('seq_audit_log'), ?, NULL, 'reassign', 'customer', id, 'owner_id', "
                        "NULL, CAST(new_owner AS VARCHAR) FROM _raw_split", [now])
        finally:
            con.execute("ROLLBACK")

    print(f"split_raw_ms: {median_ms(raw, args.runs):.0f}  (rolled back; reset included)")
    reset_ms = median_ms(reset, args.runs)
    print(f"split_reset_ms: {reset_ms:.0f}  (subtract from split_raw_ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--now", help="UTC, ISO (default: now)")
    ap.add_argument("--part", help="run only this part (function name, e.g. reclaim_part)")
    ap.add_argument("--no-run", action="store_true", help="reads only: skip the real reclaim run")
    ap.add_argument("--with-rules", action="store_true",
                    help="first save three reclaim rules (level A: OR; level B: AND with no deal; default + no deal)")
    args = ap.parse_args()
    args.runs = max(5, args.runs)
    args.now = dt.datetime.fromisoformat(args.now) if args.now else utcnow()
    con = db.connect(args.path)
    setup.prepare(con)
    for fn in PARTS:
        if args.part in (None, fn.__name__):
            fn(con, args)
    con.close()


if __name__ == "__main__":
    main()
