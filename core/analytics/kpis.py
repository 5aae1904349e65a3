"""KPI figures. Every figure is computed only over rows its viewer may open (core.access.predicate).

"Today", "due today", "overdue" and "this week" are days of the company's calendar (core.clock): the
bounds are computed in the company's time zone and compared with the stored naive-UTC timestamps.

My day shows each role the cards of the work it does (a card is None when it does not apply):
- leads: `open_leads` for whoever may view leads; `new_leads` (created this week) for who brings leads
  in (may import them: marketing, managers, admin);
- customers: for who works customers (may view and edit them: reps, managers, admin): `customers`
  (own customers for scope own, the team's for team scopes, every customer for scope all; see
  `customers_scope`), `pool` (customers in the shared pools within scope), `followups_due` (next
  follow-up today) and `followups_overdue` (before today);
- tickets: `open_tickets` for whoever may view tickets; `tickets_due` / `tickets_overdue` (resolution
  due today / before today) for who works tickets (may edit them: service, admin);
- tasks: `tasks_due`, the viewer's own open tasks due by the end of today.
The rows behind a leads, tickets or tasks figure come from `card_rows`, built from the same condition
as the count, so the number and the rows agree.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core import access, clock, db
from core.context import Actor

OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")
OPEN_TICKET_STATUSES = ("new", "open", "pending")

# cards whose rows are listed on My day itself (no list page of their own yet)
ROW_CARDS = ("open_leads", "new_leads", "open_tickets", "tickets_due", "tickets_overdue", "tasks_due")


def today_bounds(con: duckdb.DuckDBPyConnection, actor: Actor) -> tuple[dt.datetime, dt.datetime]:
    """Start and end (exclusive) of the company's today at `actor.now`, in naive UTC."""
    return clock.day_bounds_utc(con, clock.local_today(con, actor.now))


def followup_window(con: duckdb.DuckDBPyConnection, actor: Actor, due: str) -> tuple[dt.datetime | None, dt.datetime]:
    """The range [low, high) of `next_followup_at` a "due" filter means: "today" is the company's
    today, "overdue" is before it. For the customers list's `due=today|overdue` link parameter."""
    start, end = today_bounds(con, actor)
    if due == "today":
        return start, end
    if due == "overdue":
        return None, start
    raise ValueError(due)


def _customer_scope(scope: str) -> str:
    return {"own": "own", "team": "team", "team_tree": "team", "all": "all"}[scope]


def _card_sql(con: duckdb.DuckDBPyConnection, actor: Actor, card: str) -> tuple[str, str, list] | None:
    """(alias, FROM ... WHERE ... of the rows behind `card`, params), or None when it does not apply."""
    if card in ("open_leads", "new_leads"):
        if not access.can(con, actor, "leads", "view"):
            return None
        where, params = access.predicate(con, actor, "leads", "view", "l")
        if card == "open_leads":
            marks = ", ".join("?" for _ in OPEN_LEAD_STATUSES)
            return "l", f"FROM leads l WHERE l.deleted_at IS NULL AND l.status IN ({marks}) AND {where}", \
                list(OPEN_LEAD_STATUSES) + params
        if not access.can(con, actor, "leads", "import"):
            return None
        since = clock.week_start_utc(con, actor.now)
        return "l", f"FROM leads l WHERE l.deleted_at IS NULL AND l.created_at >= ? AND {where}", [since] + params
    if card in ("open_tickets", "tickets_due", "tickets_overdue"):
        if not access.can(con, actor, "tickets", "view"):
            return None
        # the one ticket scope rule (a rep: the own customers' tickets, not the ones assigned to the rep)
        where, params = access.service_predicate(con, actor, "tickets", "view", "k")
        marks = ", ".join("?" for _ in OPEN_TICKET_STATUSES)
        base = f"FROM tickets k WHERE k.deleted_at IS NULL AND k.status IN ({marks}) AND {where}"
        params = list(OPEN_TICKET_STATUSES) + params
        if card == "open_tickets":
            return "k", base, params
        if not access.can(con, actor, "tickets", "edit"):
            return None
        start, end = today_bounds(con, actor)
        if card == "tickets_due":
            return "k", base + " AND k.resolution_due >= ? AND k.resolution_due < ?", params + [start, end]
        return "k", base + " AND k.resolution_due < ?", params + [start]
    if card == "tasks_due":
        if not access.can(con, actor, "tasks", "view"):
            return None
        _start, end = today_bounds(con, actor)
        return "t", "FROM tasks t WHERE t.deleted_at IS NULL AND t.status = 'open' AND t.assignee_id = ? " \
                    "AND t.due_at < ?", [actor.id, end]
    raise ValueError(card)


def _works_customers(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    return access.can(con, actor, "customers", "view") and access.can(con, actor, "customers", "edit")


def my_day(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict[str, Any]:
    """The "my day" cards: figures the actor may see; None for a card that does not apply to the actor.
    `customers_scope` ("own", "team" or "all") says what `customers` counts."""
    out: dict[str, Any] = {}
    for card in ("open_leads", "new_leads"):
        found = _card_sql(con, actor, card)
        out[card] = None if found is None else db.scalar(con, f"SELECT count(*) {found[1]}", found[2])
    if _works_customers(con, actor):
        scope = _customer_scope(access.scope_of(con, actor, "customers", "view"))
        where, params = access.predicate(con, actor, "customers", "view", "c")
        start, end = today_bounds(con, actor)
        row = db.one(
            con,
            "SELECT count(*) AS total, count(*) FILTER (WHERE c.owner_id IS NOT NULL) AS owned, "
            "count(*) FILTER (WHERE c.owner_id IS NULL) AS pooled, "
            "count(*) FILTER (WHERE c.owner_id IS NOT NULL AND c.next_followup_at >= ? "
            "AND c.next_followup_at < ?) AS due, "
            "count(*) FILTER (WHERE c.owner_id IS NOT NULL AND c.next_followup_at < ?) AS overdue "
            f"FROM customers c WHERE c.deleted_at IS NULL AND {where}",
            [start, end, start] + params,
        )
        out.update(customers=row["total"] if scope == "all" else row["owned"], customers_scope=scope,
                   pool=row["pooled"], followups_due=row["due"], followups_overdue=row["overdue"])
    else:
        out.update(customers=None, customers_scope=None, pool=None, followups_due=None, followups_overdue=None)
    for card in ("open_tickets", "tickets_due", "tickets_overdue", "tasks_due"):
        found = _card_sql(con, actor, card)
        out[card] = None if found is None else db.scalar(con, f"SELECT count(*) {found[1]}", found[2])
    return out


_ROW_COLUMNS = {
    "l": "l.id, l.name, l.company, l.phone, l.status, l.source, o.name AS owner_name, l.created_at, "
         "l.next_followup_at",
    "k": "k.id, k.ticket_no, k.subject, cu.name AS customer_name, k.priority, k.status, "
         "o.name AS assignee_name, k.opened_at, k.resolution_due",
    "t": "t.id, t.title, t.kind, t.due_at, cu.name AS customer_name",
}
_ROW_JOINS = {
    "l": "LEFT JOIN users o ON o.id = l.owner_id",
    "k": "LEFT JOIN users o ON o.id = k.assignee_id LEFT JOIN customers cu ON cu.id = k.customer_id",
    "t": "LEFT JOIN customers cu ON cu.id = t.customer_id",
}
_ROW_ORDER = {
    "open_leads": "l.created_at DESC, l.id DESC",
    "new_leads": "l.created_at DESC, l.id DESC",
    "open_tickets": "k.resolution_due NULLS LAST, k.id",
    "tickets_due": "k.resolution_due, k.id",
    "tickets_overdue": "k.resolution_due, k.id",
    "tasks_due": "t.due_at, t.id",
}


def card_rows(con: duckdb.DuckDBPyConnection, actor: Actor, card: str, limit: int = 200) -> pl.DataFrame:
    """The rows behind a My day figure of ROW_CARDS (the first `limit` of them), from the same condition
    as the count. Empty when the card does not apply to the actor."""
    if card not in ROW_CARDS:
        raise ValueError(card)
    found = _card_sql(con, actor, card)
    if found is None:
        return pl.DataFrame()
    alias, from_where, params = found
    # the joins go between FROM <table> <alias> and WHERE
    head, _, tail = from_where.partition(" WHERE ")
    return db.frame(
        con,
        f"SELECT {_ROW_COLUMNS[alias]} {head} {_ROW_JOINS[alias]} WHERE {tail} ORDER BY {_ROW_ORDER[card]} LIMIT ?",
        params + [int(limit)],
    )


def followups_due(con: duckdb.DuckDBPyConnection, actor: Actor, limit: int = 20) -> pl.DataFrame:
    """Customers with an owner whose next follow-up is due by the end of the company's today, most overdue
    first."""
    where, params = access.predicate(con, actor, "customers", "view", "c")
    _start, end = today_bounds(con, actor)
    return db.frame(
        con,
        f"SELECT c.id, c.name, c.phone, c.stage, c.next_followup_at, o.name AS owner_name "
        f"FROM customers c LEFT JOIN users o ON o.id = c.owner_id "
        f"WHERE c.deleted_at IS NULL AND c.owner_id IS NOT NULL AND c.next_followup_at < ? AND {where} "
        f"ORDER BY c.next_followup_at LIMIT ?",
        [end] + params + [limit],
    )
