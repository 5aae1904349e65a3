"""Customer page timings at scale L: the timeline of a customer with 200 items, core beside raw SQL.

    cp /tmp/bench/L.duckdb /tmp/me/L.duckdb          # a copy: this script writes to it
    python benchmarks/timeline.py --path /tmp/me/L.duckdb [--runs 9]

The first run adds 200 items to the oldest customer of the demo rep "rep" that has none (follow-ups through
core.activities.log_followup, field edits through core.customers.update_customer, deals with their
stage history, orders, tickets, campaign touches and feedback as rows) and marks them, so later runs
reuse them. Then, for the owner (rep), a manager and the admin: "core" is
core.timeline.customer_timeline (scope check of the customer, the kinds the actor may see, one
statement, the frame), "raw" is the same statement run by hand with the customer id bound. Also the
densest customer of the demo file (most follow-ups). Median of --runs, each case's core and raw runs
interleaved; wall time and the process's CPU time (the machine's load average is printed: on a busy
machine the wall time grows, the CPU time much less). Prints plain `key: value` lines.
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

from core import access, activities, customers, db, setup, timeline  # noqa: E402
from core.auth import actor_for  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

MARK = "bench-timeline"
H = dt.timedelta(hours=1)


def paired_ms(core_fn, raw_fn, runs: int) -> tuple[float, float, float, float]:
    """Medians of core and raw, their runs interleaved so both meet the same load: wall time, and the
    process's CPU time (all of DuckDB's threads; less sensitive to other work on the machine)."""
    core_fn(), raw_fn()
    out: dict[str, list[float]] = {"core": [], "raw": [], "core_cpu": [], "raw_cpu": []}
    for _ in range(runs):
        for name, fn in (("core", core_fn), ("raw", raw_fn)):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            out[name].append(time.perf_counter() - t0)
            out[f"{name}_cpu"].append(time.process_time() - c0)
    return tuple(statistics.median(out[k]) * 1000 for k in ("core", "raw", "core_cpu", "raw_cpu"))


def bench_customer(con, rep) -> int:
    """The rep's customer that carries the benchmark's items (added on the first run)."""
    found = db.scalar(con, "SELECT customer_id FROM activities WHERE subject LIKE ? LIMIT 1", [f"{MARK}%"])
    if found is not None:
        return found
    # the rep's oldest customer with no history yet: old customers are the slow case (their rows lie in
    # every row group of the time-ordered tables, so no zonemap skips any), and it ends with 200 items
    cid = db.scalar(con, "SELECT min(c.id) FROM customers c WHERE c.owner_id = ? AND c.deleted_at IS NULL "
                         "AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.customer_id = c.id) "
                         "AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) "
                         "AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.customer_id = c.id) "
                         "AND NOT EXISTS (SELECT 1 FROM tickets k WHERE k.customer_id = c.id)", [rep.id])
    start = db.scalar(con, "SELECT created_at FROM customers WHERE id = ?", [cid]) + H
    ids = {t: db.next_ids(con, t, n) for t, n in (("deals", 10), ("deal_stage_history", 30), ("orders", 15),
                                                   ("tickets", 5), ("feedback", 6))}
    campaigns = [r[0] for r in con.execute("SELECT id FROM campaigns ORDER BY id LIMIT 3").fetchall()]

    def rows():
        t = start
        for i in range(10):  # 10 deals: created, two stage moves (the last one won or lost)
            deal, hist = ids["deals"][i], ids["deal_stage_history"][3 * i:3 * i + 3]
            end = "won" if i % 2 else "lost"
            con.execute("INSERT INTO deals (id, name, customer_id, amount, stage, owner_id, team_id, created_by, "
                        "created_at, updated_at) VALUES (?, ?, ?, 1000, ?, ?, ?, ?, ?, ?)",
                        [deal, f"{MARK} deal {i}", cid, end, rep.id, rep.team_id, rep.id, t, t + 2 * H])
            con.execute("INSERT INTO deal_stage_history VALUES (?, ?, NULL, 'prospecting', ?, ?), "
                        "(?, ?, 'prospecting', 'proposal', ?, ?), (?, ?, 'proposal', ?, ?, ?)",
                        [hist[0], deal, t, rep.id, hist[1], deal, t + H, rep.id, hist[2], deal, end, t + 2 * H, rep.id])
            t += 3 * H
        for i, oid in enumerate(ids["orders"]):
            con.execute("INSERT INTO orders (id, order_no, customer_id, ordered_at, status, amount, owner_id, team_id, "
                        "created_at) VALUES (?, ?, ?, ?, 'paid', 500, ?, ?, ?)",
                        [oid, f"{MARK}-{i}", cid, t, rep.id, rep.team_id, t])
            t += H
        for i, tid in enumerate(ids["tickets"]):
            con.execute("INSERT INTO tickets (id, ticket_no, customer_id, subject, priority, status, opened_at, "
                        "resolved_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'medium', 'resolved', ?, ?, ?, ?)",
                        [tid, f"{MARK}-{i}", cid, f"{MARK} ticket {i}", t, t + H, t, t + H])
            t += 2 * H
        for camp in campaigns:
            con.execute("INSERT INTO campaign_members (campaign_id, customer_id, added_at, sent_at, opened_at, "
                        "clicked_at) VALUES (?, ?, ?, ?, ?, ?)", [camp, cid, t, t, t + H, t + 2 * H])
            t += 3 * H
        for fid in ids["feedback"]:
            con.execute("INSERT INTO feedback (id, customer_id, kind, score, comment, created_at) "
                        "VALUES (?, ?, 'csat', 4, ?, ?)", [fid, cid, MARK, t])
            t += H
        return t

    t = db.write(con, rows)
    for i in range(10):  # 10 field edits (audit rows)
        customers.update_customer(con, actor_for(con, "rep", t), cid, {"city": f"City {i}"})
        t += H
    for i in range(120):  # 120 follow-ups
        activities.log_followup(con, actor_for(con, "rep", t), cid, kind=activities.KINDS[i % 6],
                                subject=f"{MARK} {i}", outcome="connected", occurred_at=t)
        t += H
    db.checkpoint(con)
    return cid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True, help="a COPY of the scale L file (this script writes to it)")
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    if Path(args.path).resolve() == Path("/tmp/bench/L.duckdb"):
        sys.exit("Give a copy of the shared L file: this script adds rows to it.")
    con = db.connect(args.path)
    setup.prepare(con)
    rep = actor_for(con, "rep")
    cid = bench_customer(con, rep)
    dense = db.scalar(con, "SELECT customer_id FROM activities WHERE customer_id IS NOT NULL GROUP BY 1 "
                           "ORDER BY count(*) DESC, 1 LIMIT 1")
    print(f"activities_rows: {db.scalar(con, 'SELECT count(*) FROM activities')}")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f}")
    for case, customer in (("bench200", cid), ("densest", dense)):
        owner = db.scalar(con, "SELECT u.username FROM customers c JOIN users u ON u.id = c.owner_id WHERE c.id = ?",
                          [customer])
        items = timeline.customer_timeline(con, actor_for(con, "admin"), customer, limit=1000).height
        print(f"{case}_customer_id: {customer}")
        print(f"{case}_items: {items}")
        for username in (owner, "manager", "admin"):
            actor = actor_for(con, username)
            try:
                timeline.customer_timeline(con, actor, customer)
            except Exception as exc:  # noqa: BLE001 - a manager of another team: out of scope
                print(f"{case}_{username}_skipped: {type(exc).__name__}")
                continue
            kinds = [k for k in timeline.KINDS if access.can(con, actor, timeline.KIND_MODULE[k], "view")]
            sql, marks = timeline.timeline_sql(kinds, False)
            row = db.one(con, "SELECT id, name, created_at, created_by FROM customers WHERE id = ?", [customer])
            params = [row[m] for m in marks] + [200]
            role = "owner" if username == owner else username
            core_ms, raw_ms, core_cpu, raw_cpu = paired_ms(
                lambda: timeline.customer_timeline(con, actor, customer),
                lambda: con.execute(sql, params).fetchall(), args.runs)
            rows = timeline.customer_timeline(con, actor, customer).height
            print(f"{case}_{role}_rows: {rows}")
            print(f"{case}_{role}_core_ms: {core_ms:.1f}")
            print(f"{case}_{role}_raw_ms: {raw_ms:.1f}")
            print(f"{case}_{role}_core_cpu_ms: {core_cpu:.1f}")
            print(f"{case}_{role}_raw_cpu_ms: {raw_cpu:.1f}")
    followups = median_ms(lambda: activities.list_followups(con, rep, cid, limit=50), args.runs)
    print(f"list_followups_owner_core_ms: {followups:.1f}")
    print(f"load_average_1min_end: {os.getloadavg()[0]:.2f}")
    con.close()


if __name__ == "__main__":
    main()
