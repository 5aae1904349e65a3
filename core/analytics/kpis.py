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
- tickets: `open_tickets` (`tickets_scope` says what it counts): for who works tickets (may edit them:
  service agents, admin) the open tickets assigned to the viewer ("mine", the desk's My queue), with
  `team_unassigned` (the desk's team queue: nobody assigned, in the viewer's teams) beside it: an agent's
  day is the own queue and what is waiting to be claimed, not the whole company's open tickets; for
  everyone else ("scope") the open tickets of the viewer's ticket scope (a rep: the own customers').
  `tickets_due` / `tickets_overdue` for who works tickets, on the desk's SLA state (core.sla.state_sql:
  the target running now, first response or resolution, the clock paused while pending): overdue is
  sla_state 'breached' (the desk's Breached tab), due today a running ticket (not paused, not breached)
  whose SLA due falls before the end of the company's today;
- tasks: `tasks_due`, the viewer's own open tasks due by the end of today.
The rows behind a leads, tickets or tasks figure come from `card_rows`, built from the same condition
as the count, so the number and the rows agree.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core import access, clock, db, sla, ticket_queue
from core.context import Actor

OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")
OPEN_TICKET_STATUSES = ("new", "open", "pending")

# cards whose rows are listed on My day itself (no list page of their own yet)
ROW_CARDS = ("open_leads", "new_leads", "open_tickets", "team_unassigned", "tickets_due", "tickets_overdue",
             "tasks_due")
TICKET_CARDS = ("open_tickets", "team_unassigned", "tickets_due", "tickets_overdue")


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


def _works_tickets(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    return access.can(con, actor, "tickets", "view") and access.can(con, actor, "tickets", "edit")


def _ticket_source(con: duckdb.DuckDBPyConnection, actor: Actor) -> tuple[str, list]:
    """The open tickets of the viewer's ticket scope with the desk's SLA columns (core.sla.state_sql), as
    a FROM item aliased t, and its params."""
    # the one ticket scope rule (a rep: the own customers' tickets, not the ones assigned to the rep)
    where, params = access.service_predicate(con, actor, "tickets", "view", "t")
    marks = ", ".join("?" for _ in OPEN_TICKET_STATUSES)
    source = f"SELECT t.* FROM tickets t WHERE t.deleted_at IS NULL AND t.status IN ({marks}) AND {where}"
    state, args = sla.state_sql(con, actor.now, source, list(OPEN_TICKET_STATUSES) + params)
    return f"({state}) t", args


def _ticket_condition(con: duckdb.DuckDBPyConnection, actor: Actor, card: str) -> tuple[str, list] | None:
    """The condition (over the SLA-state rows t of `_ticket_source`) of a ticket card, or None."""
    works = _works_tickets(con, actor)
    if card == "open_tickets":
        return ("t.assignee_id = ?", [actor.id]) if works else ("TRUE", [])
    if not works:
        return None
    if card == "team_unassigned":
        # the desk's own team-queue rule (its condition is over alias t, like these rows)
        return ticket_queue._team_unassigned(con, actor)
    if card == "tickets_overdue":
        return "t.sla_state = 'breached'", []
    _start, end = today_bounds(con, actor)
    # running (not paused, not breached: 'ok' or 'at_risk') and due before the end of the company's today
    return "t.sla_state IN ('ok', 'at_risk') AND t.sla_due < ?", [end]


def _card_sql(con: duckdb.DuckDBPyConnection, actor: Actor, card: str) -> tuple[str, str, str, list] | None:
    """(alias, FROM item, WHERE condition, params: the FROM item's then the condition's) of the rows
    behind `card`, or None when it does not apply."""
    if card in ("open_leads", "new_leads"):
        if not access.can(con, actor, "leads", "view"):
            return None
        where, params = access.predicate(con, actor, "leads", "view", "l")
        if card == "open_leads":
            marks = ", ".join("?" for _ in OPEN_LEAD_STATUSES)
            return "l", "leads l", f"l.deleted_at IS NULL AND l.status IN ({marks}) AND {where}", \
                list(OPEN_LEAD_STATUSES) + params
        if not access.can(con, actor, "leads", "import"):
            return None
        since = clock.week_start_utc(con, actor.now)
        return "l", "leads l", f"l.deleted_at IS NULL AND l.created_at >= ? AND {where}", [since] + params
    if card in TICKET_CARDS:
        if not access.can(con, actor, "tickets", "view"):
            return None
        found = _ticket_condition(con, actor, card)
        if found is None:
            return None
        source, params = _ticket_source(con, actor)
        return "t", source, found[0], params + found[1]
    if card == "tasks_due":
        if not access.can(con, actor, "tasks", "view"):
            return None
        _start, end = today_bounds(con, actor)
        return "ta", "tasks ta", "ta.deleted_at IS NULL AND ta.status = 'open' AND ta.assignee_id = ? " \
                                 "AND ta.due_at < ?", [actor.id, end]
    raise ValueError(card)


def _works_customers(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    return access.can(con, actor, "customers", "view") and access.can(con, actor, "customers", "edit")


def my_day(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict[str, Any]:
    """The "my day" cards: figures the actor may see; None for a card that does not apply to the actor.
    `customers_scope` ("own", "team" or "all") says what `customers` counts."""
    out: dict[str, Any] = {}
    for card in ("open_leads", "new_leads"):
        found = _card_sql(con, actor, card)
        out[card] = None if found is None else db.scalar(con, f"SELECT count(*) FROM {found[1]} WHERE {found[2]}",
                                                         found[3])
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
    out.update(_ticket_counts(con, actor))
    found = _card_sql(con, actor, "tasks_due")
    out["tasks_due"] = None if found is None else db.scalar(con, f"SELECT count(*) FROM {found[1]} WHERE {found[2]}",
                                                            found[3])
    return out


def _ticket_counts(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict[str, Any]:
    """The ticket cards (None where one does not apply) and `tickets_scope` ("mine" for who works tickets,
    "scope" otherwise, None without tickets), in ONE statement over the scope's open tickets: each count
    with the very condition `card_rows` lists."""
    out: dict[str, Any] = {card: None for card in TICKET_CARDS}
    out["tickets_scope"] = None
    if not access.can(con, actor, "tickets", "view"):
        return out
    conds = {card: _ticket_condition(con, actor, card) for card in TICKET_CARDS}
    conds = {card: found for card, found in conds.items() if found is not None}
    source, params = _ticket_source(con, actor)
    filters = ", ".join(f"count(*) FILTER (WHERE {cond})" for cond, _ in conds.values())
    row = con.execute(f"SELECT {filters} FROM {source}",  # sql-ok: conditions built here, values bound
                      [a for _, args in conds.values() for a in args] + params).fetchall()[0]
    out.update({card: int(n or 0) for card, n in zip(conds, row)})
    out["tickets_scope"] = "mine" if _works_tickets(con, actor) else "scope"
    return out


_ROW_COLUMNS = {
    "l": "l.id, l.name, l.company, l.phone, l.status, l.source, o.name AS owner_name, l.created_at, "
         "l.next_followup_at",
    "t": "t.id, t.ticket_no, t.subject, cu.name AS customer_name, t.priority, t.status, "
         "o.name AS assignee_name, t.opened_at, t.sla_target, t.sla_due, t.sla_left_minutes, t.sla_state",
    "ta": "ta.id, ta.title, ta.kind, ta.due_at, cu.name AS customer_name",
}
_ROW_JOINS = {
    "l": "LEFT JOIN users o ON o.id = l.owner_id",
    "t": "LEFT JOIN users o ON o.id = t.assignee_id LEFT JOIN customers cu ON cu.id = t.customer_id",
    "ta": "LEFT JOIN customers cu ON cu.id = ta.customer_id",
}
_ROW_ORDER = {
    "open_leads": "l.created_at DESC, l.id DESC",
    "new_leads": "l.created_at DESC, l.id DESC",
    # the desk's SLA order: least time left first, paused tickets after the running ones
    "open_tickets": "(t.sla_state = 'paused'), t.sla_left_minutes NULLS LAST, t.opened_at, t.id",
    "team_unassigned": "(t.sla_state = 'paused'), t.sla_left_minutes NULLS LAST, t.opened_at, t.id",
    "tickets_due": "t.sla_due, t.id",
    "tickets_overdue": "t.sla_left_minutes, t.id",
    "tasks_due": "ta.due_at, ta.id",
}


def card_rows(con: duckdb.DuckDBPyConnection, actor: Actor, card: str, limit: int = 200) -> pl.DataFrame:
    """The rows behind a My day figure of ROW_CARDS (the first `limit` of them), from the same condition
    as the count. Empty when the card does not apply to the actor."""
    if card not in ROW_CARDS:
        raise ValueError(card)
    found = _card_sql(con, actor, card)
    if found is None:
        return pl.DataFrame()
    alias, source, where, params = found
    # the joins (no params) go between the FROM item (its params first) and the condition
    return db.frame(
        con,
        f"SELECT {_ROW_COLUMNS[alias]} FROM {source} {_ROW_JOINS[alias]} WHERE {where} "
        f"ORDER BY {_ROW_ORDER[card]} LIMIT ?",
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
