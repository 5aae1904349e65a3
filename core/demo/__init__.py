"""A deterministic demo company: fills an empty, migrated database with two years of a realistic CRM.

`build(con, scale, seed)` generates every table as vectorised numpy / Polars columns and loads each
with one `INSERT ... SELECT` from a local Polars frame, so the 1M-customer scale builds in about a
minute. The same seed and `now` give the same database.

The story: a software and hardware vendor selling to Chinese companies and consumers. A "Sales"
team with four regions (East, with the sub-team "East - Shanghai", North, South with
"South - Shenzhen", West), a "New hires" group working from its own shared pool, "Marketing" and
"Service". Reps differ in win rate and activity volume; activity follows the Chinese calendar
(spring and autumn peaks, a dip at Chinese New Year, the October golden week and weekends).

The pipeline and transactions (issue 7): deals carry one to three catalogue lines that add up to their
amount, days in stage (stage_changed_at = the last stage-history row) and the last follow-up logged on
them; lost deals a reason code of the admin's list (and often the competitor); a year after a first win
a share of customers go through the "Renewals" pipeline. Orders are draft / confirmed / cancelled /
refunded with lines adding up to the amount; sales orders have payment plans (one to three instalments)
and payments (most paid in full, some recent ones in part, some overdue). Targets cover the last twelve
months and every month of the current year. Customers first won in the last year mostly have a hand-off
(pending / submitted / approved) with its onboarding ticket and audit rows; pending and submitted ones
leave the customer at stage "upgrade" (pending upgrade).

A live company at "now" (issue 11): today looks like any other week of a steady company. Deals open
today are the ones whose own cycle runs past today (no cap), standing at the stage their cycle has
reached, with close dates over the coming months; follow-ups are logged on every deal through its life;
tickets wait on customers at the same rate all along, so the backlog is what it always was; leads arrive
at the calendar's pace. The organisation grows with the customer count (a rep per ~1,900 customers, teams
of at most 12 with their own lead, an agent per ~5,000 tickets a year), and each rep keeps a book under
the rule book's cap (setting pool.max_open_customers_per_rep), the rest waiting in the team pools.

The service desk (issue 8): tickets new -> open -> pending -> resolved -> closed with their conversation
(ticket_events) consistent with their timestamps, SLA targets and dues in business minutes on the working
calendar (core.sla), sub-categories, a service lead; CSAT, NPS per customer, complaints with owners and dues.

The package: one generator per module over one seeded random source and one clock (`common.Base`):
`org` (teams, users), `sales` (catalogue, customers, deals, leads, contacts, activities, orders, hand-offs,
tasks, targets, pools, keys), `service` (tickets, feedback), `marketing` (campaigns). `Demo` combines them
and runs the steps in an order that lets each read what the earlier ones decided.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from core.db import reset_sequences, write
from core.demo.common import (DEMO_LOGINS, DEMO_PASSWORD, SCALES, SPAN_DAYS, _n_customers, last_timings,
                              utcnow)
from core.demo.marketing import Marketing
from core.demo.org import Org
from core.demo.sales import Sales
from core.demo.service import Service

__all__ = ["DEMO_LOGINS", "DEMO_PASSWORD", "SCALES", "SPAN_DAYS", "build", "last_timings"]


# ------------------------------------------------------------------------------------- the build
def build(con, scale: str | int = "S", seed: int = 42, now: datetime | None = None,
          password_hash: str | None = None) -> dict[str, int]:
    """Fill an empty, migrated database with a demo company; returns the row count per table."""
    n = _n_customers(scale)
    now = now or utcnow()
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    now = now.replace(microsecond=0)
    for table in ("users", "customers", "deals"):
        if con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]:  # sql-ok: fixed list
            raise ValueError(f"the demo needs an empty database, but {table} has rows")
    if password_hash is None:  # one hash for every demo user, at the cost every login uses (no timing tell)
        from core.auth import hash_password

        password_hash = hash_password(DEMO_PASSWORD)
    last_timings.clear()
    gen = Demo(con, n, seed, now, password_hash)
    progress_bar = con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]
    con.execute("SET enable_progress_bar = false")      # no bars in the server log for the long inserts
    try:  # one unit of work: a demo is there whole or not at all
        started = time.perf_counter()
        write(con, gen.run, retries=1)
        last_timings["generate_and_commit"] = time.perf_counter() - started
    finally:
        if progress_bar:
            con.execute("SET enable_progress_bar = true")
    started = time.perf_counter()
    reset_sequences(con)
    _pool_present(con, now)
    for table in ("audit_log", "pool_moves", "notifications", "assignment_runs", "reclaim_rules", "pool_settings"):
        gen.counts[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]  # sql-ok: fixed list
    con.execute("CHECKPOINT")
    last_timings["reset_and_checkpoint"] = time.perf_counter() - started
    return dict(gen.counts)


def _pool_present(con, now: datetime) -> None:
    """The pool as the rule book runs it today (issue 10): each pooled customer says why it is there (its last
    move), the new-hire pool hides phones and e-mails until claimed, key accounts (level A) get 20 working days
    before reclaim, each rep has locked a few key accounts, and today's reclaim has run, so the app's first
    daily run finds nothing the demo should already have done."""
    from core import pool_mask, reclaim
    from core.context import SYSTEM, Actor

    def work():
        con.execute(
            "UPDATE customers SET pool_reason = coalesce(m.reason, 'new') FROM (SELECT c.id, "
            "(SELECT arg_max(p.reason, p.moved_at) FROM pool_moves p WHERE p.customer_id = c.id) AS reason "
            "FROM customers c WHERE c.owner_id IS NULL AND c.deleted_at IS NULL) m WHERE customers.id = m.id")
        con.execute(
            "UPDATE customers SET locked_at = ?, locked_by = owner_id FROM (SELECT id, row_number() OVER "
            "(PARTITION BY owner_id ORDER BY id DESC) AS k FROM customers WHERE owner_id IS NOT NULL AND level = 'A' "
            "AND stage NOT IN ('won', 'upgrade') AND deleted_at IS NULL) l WHERE customers.id = l.id AND l.k <= 3",
            [now - timedelta(days=7)])

    write(con, work)
    admin = Actor(id=None, username="demo", name="Demo", role="admin", now=now)
    for team_id in [r[0] for r in con.execute("SELECT id FROM teams WHERE is_new_hire_pool").fetchall()]:
        pool_mask.set_hidden(con, admin, team_id, ["phone", "email"])
    reclaim.save_rule(con, admin, level="A", no_followup_days=20)
    reclaim.run(con, SYSTEM, now=now, source="schedule")



class Demo(Org, Sales, Service, Marketing):
    """The whole demo company: the modules' steps in dependency order."""

    def run(self) -> None:
        steps = (self.org, self.products, self.customers_base, self.deals, self.customer_stages, self.ownership,
                 self.leads, self.contacts, self.activities, self.orders, self.tickets, self.handoffs, self.campaigns,
                 self.load_deals, self.load_customers, self.tasks, self.targets, self.pool_moves, self.phone_keys,
                 self.dedup_keys)
        for step in steps:
            started = time.perf_counter()
            step()
            last_timings[f"step_{step.__name__}"] = time.perf_counter() - started
