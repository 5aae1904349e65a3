"""The service desk at scale L (issue 8's figures): an agent's queue, first page sorted by time left to
breach (<= 100 ms); the SLA state of every open ticket (core.sla.open_state, <= 1 s); a ticket page with
50 events and the customer's history (core.tickets get_ticket + events + customer_history, <= 100 ms).
Each core figure is printed beside the same SQL run raw (the statement core builds, executed and fetched
without the Python around it); the ticket page beside the equivalent statements run raw.

    cp /tmp/bench/L.duckdb /tmp/me/L.duckdb         # a COPY: the run adds 50 events to one ticket
    python benchmarks/service.py --path /tmp/me/L.duckdb [--runs 7] [--now 2026-11-24T02:00]

Median of --runs (>= 5) after a warm-up; prints plain `key: value` lines.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import access, db, setup, sla, ticket_queue, tickets  # noqa: E402
from core.auth import actor_for  # noqa: E402
from core.context import utcnow  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

EVENTS = 50


def _agent(con, now: dt.datetime):
    """The service agent with the most open tickets assigned (the busiest queue)."""
    name = db.scalar(con, "SELECT u.username FROM users u JOIN tickets t ON t.assignee_id = u.id "
                          "WHERE u.role = 'service' AND u.active AND u.deleted_at IS NULL "
                          "AND t.status IN ('new', 'open', 'pending') AND t.deleted_at IS NULL "
                          "GROUP BY u.username ORDER BY count(*) DESC, u.username LIMIT 1")
    if name is None:
        name = db.scalar(con, "SELECT username FROM users WHERE role = 'service' AND active ORDER BY id LIMIT 1")
    return actor_for(con, name, now)


def _page_ticket(con, agent) -> int:
    """An open ticket of the agent whose customer has the most tickets (a long history), with at least
    EVENTS events: notes are added through core.tickets when it has fewer."""
    tid = db.scalar(con, "SELECT t.id FROM tickets t JOIN (SELECT customer_id, count(*) AS n FROM tickets "
                         "GROUP BY 1) c USING (customer_id) WHERE t.assignee_id = ? "
                         "AND t.status IN ('new', 'open', 'pending') AND t.deleted_at IS NULL "
                         "ORDER BY c.n DESC, t.id LIMIT 1", [agent.id])
    have = db.scalar(con, "SELECT count(*) FROM ticket_events WHERE ticket_id = ?", [tid])
    for i in range(have, EVENTS):
        me = dataclasses.replace(agent, now=agent.now - dt.timedelta(minutes=EVENTS - i))
        tickets.add_note(con, me, tid, f"Benchmark note {i + 1}: checked the order and the customer's account.")
    return tid


def _page(con, agent, tid: int) -> None:
    ticket = tickets.get_ticket(con, agent, tid)
    tickets.events(con, agent, tid)
    tickets.customer_history(con, agent, ticket["customer_id"], exclude_ticket=tid)


def _page_raw(con, now: dt.datetime, tid: int, cid: int) -> None:
    """The ticket page's reads as plain statements: the row, its SLA state, the conversation, and the
    customer's orders, deals, tickets and follow-ups (newest first, 50 each)."""
    con.execute("SELECT * FROM tickets WHERE id = ?", [tid]).fetchall()
    sql, params = sla.state_sql(con, now, "SELECT * FROM tickets WHERE id = ?", [tid])
    con.execute(f"SELECT sla_state, sla_left_minutes FROM ({sql}) s", params).fetchall()  # sql-ok
    con.execute("SELECT e.*, u.name FROM ticket_events e LEFT JOIN users u ON u.id = e.user_id "
                "WHERE e.ticket_id = ? ORDER BY e.occurred_at, e.id", [tid]).fetchall()
    con.execute("SELECT * FROM orders WHERE customer_id = ? ORDER BY id DESC LIMIT 50", [cid]).fetchall()
    con.execute("SELECT * FROM deals WHERE customer_id = ? ORDER BY id DESC LIMIT 50", [cid]).fetchall()
    con.execute("SELECT * FROM tickets WHERE customer_id = ? AND id <> ? ORDER BY opened_at DESC LIMIT 50",
                [cid, tid]).fetchall()
    con.execute("SELECT * FROM activities WHERE customer_id = ? ORDER BY occurred_at DESC LIMIT 50", [cid]).fetchall()



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--now", help="the clock (naive UTC, ISO); default: now")
    args = ap.parse_args()
    runs = max(5, args.runs)
    now = dt.datetime.fromisoformat(args.now) if args.now else utcnow()
    con = db.connect(args.path)
    setup.prepare(con)
    sla.ensure_calendar(con)
    agent = _agent(con, now)
    admin = actor_for(con, "admin", now)
    print(f"now_utc: {now:%Y-%m-%d %H:%M}")
    print(f"load_average_1min_before: {os.getloadavg()[0]:.1f}")  # a shared machine: say how busy it was
    print(f"tickets: {db.scalar(con, 'SELECT count(*) FROM tickets'):,}")
    n_open = db.scalar(con, "SELECT count(*) FROM tickets WHERE status IN (?, ?, ?)", list(sla.OPEN_STATUSES))
    print(f"open_tickets: {n_open:,}")
    print(f"agent: {agent.username}")
    counts = ticket_queue.counts(con, agent)
    print("agent_counts: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()))

    # 1. the agent's queue, first page sorted by time left to breach (each view), and the tab counts
    for view in ticket_queue.VIEWS:
        sql, params = ticket_queue.page_sql(con, agent, view, None, "sla", False, 0, 50)
        core = median_ms(lambda: ticket_queue.queue(con, agent, view, sort="sla", page=0, page_size=50), runs)
        raw = median_ms(lambda: con.execute(sql, params).fetchall(), runs)
        print(f"queue_{view}_first_page_core_ms: {core:.1f}")
        print(f"queue_{view}_first_page_raw_ms: {raw:.1f}")
    sql, params = ticket_queue.counts_sql(con, agent)
    print(f"queue_counts_core_ms: {median_ms(lambda: ticket_queue.counts(con, agent), runs):.1f}")
    print(f"queue_counts_raw_ms: {median_ms(lambda: con.execute(sql, params).fetchall(), runs):.1f}")
    for username in ("manager", "rep"):  # the same screen for sales roles (their customers' tickets)
        try:
            who = actor_for(con, username, now)
            access.require(con, who, "tickets", "view")
        except Exception:  # noqa: BLE001 - no such user / no right: skip
            continue
        print(f"queue_all_first_page_{username}_core_ms: "
              f"{median_ms(lambda: ticket_queue.queue(con, who, 'all', page_size=50), runs):.1f}")

    # 2. the SLA state of every open ticket (the admin's scope: all of them)
    state = sla.open_state(con, admin, now)
    print(f"sla_open_state_rows: {state.height:,}")
    print("sla_open_state_by_state: " + ", ".join(
        f"{s}={n:,}" for s, n in sorted(state.group_by("sla_state").len().rows(), key=lambda r: str(r[0]))))
    sql, params = sla.state_sql(con, now, "SELECT t.* FROM tickets t WHERE t.status IN ('new', 'open', 'pending')", [])
    raw_sql = (f"SELECT id, ticket_no, priority, status, assignee_id, team_id, sla_target, sla_due, "
               f"sla_left_minutes, sla_used, sla_state FROM ({sql}) x")
    print(f"sla_open_state_core_ms: {median_ms(lambda: sla.open_state(con, admin, now), runs):.1f}")
    print(f"sla_open_state_raw_ms: {median_ms(lambda: con.execute(raw_sql, params).fetchall(), runs):.1f}")

    # 3. a ticket page with 50 events and the customer's history
    tid = _page_ticket(con, agent)
    cid = db.scalar(con, "SELECT customer_id FROM tickets WHERE id = ?", [tid])
    print(f"page_ticket: {tid}")
    print(f"page_ticket_events: {len(tickets.events(con, agent, tid))}")
    history = tickets.customer_history(con, agent, cid, exclude_ticket=tid)
    print("page_customer_history: " + ", ".join(
        f"{k}={'-' if v is None else len(v)}" for k, v in history.items()))
    print(f"ticket_page_core_ms: {median_ms(lambda: _page(con, agent, tid), runs):.1f}")
    print(f"ticket_page_raw_equiv_ms: {median_ms(lambda: _page_raw(con, now, tid, cid), runs):.1f}")
    print(f"load_average_1min_after: {os.getloadavg()[0]:.1f}")
    con.close()


if __name__ == "__main__":
    main()
