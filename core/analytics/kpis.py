"""KPI figures. Every figure is computed only over rows its viewer may open (core.access.predicate)."""
from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from core import access, db
from core.context import Actor

OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")
OPEN_TICKET_STATUSES = ("open", "pending")


def _end_of_day(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time())


def my_day(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict[str, int | None]:
    """The "my day" cards: figures the actor may see; None for a module the role cannot view."""
    out: dict[str, int | None] = {}
    eod = _end_of_day(actor.now)
    today = dt.datetime.combine(actor.now.date(), dt.time())
    if access.can(con, actor, "leads", "view"):
        where, params = access.predicate(con, actor, "leads", "view", "l")
        out["open_leads"] = db.scalar(
            con,
            f"SELECT count(*) FROM leads l WHERE l.deleted_at IS NULL AND l.status IN (?, ?, ?) AND {where}",
            list(OPEN_LEAD_STATUSES) + params,
        )
    else:
        out["open_leads"] = None
    if access.can(con, actor, "customers", "view"):
        where, params = access.predicate(con, actor, "customers", "view", "c")
        row = db.one(
            con,
            f"SELECT count(*) FILTER (WHERE c.owner_id IS NOT NULL) AS owned, "
            f"count(*) FILTER (WHERE c.owner_id IS NULL) AS pooled, "
            f"count(*) FILTER (WHERE c.owner_id IS NOT NULL AND c.next_followup_at < ?) AS due, "
            f"count(*) FILTER (WHERE c.owner_id IS NOT NULL AND c.next_followup_at < ?) AS overdue "
            f"FROM customers c WHERE c.deleted_at IS NULL AND {where}",
            [eod, today] + params,
        )
        out.update(customers=row["owned"], pool=row["pooled"], followups_due=row["due"], followups_overdue=row["overdue"])
    else:
        out.update(customers=None, pool=None, followups_due=None, followups_overdue=None)
    if access.can(con, actor, "tickets", "view"):
        where, params = access.predicate(con, actor, "tickets", "view", "k")
        out["open_tickets"] = db.scalar(
            con,
            f"SELECT count(*) FROM tickets k WHERE k.deleted_at IS NULL AND k.status IN (?, ?) AND {where}",
            list(OPEN_TICKET_STATUSES) + params,
        )
    else:
        out["open_tickets"] = None
    if access.can(con, actor, "tasks", "view"):
        out["tasks_due"] = db.scalar(
            con,
            "SELECT count(*) FROM tasks WHERE deleted_at IS NULL AND status = 'open' AND assignee_id = ? AND due_at < ?",
            [actor.id, eod],
        )
    else:
        out["tasks_due"] = None
    return out


def followups_due(con: duckdb.DuckDBPyConnection, actor: Actor, limit: int = 20) -> pl.DataFrame:
    """Customers whose next follow-up is due by the end of today, most overdue first."""
    where, params = access.predicate(con, actor, "customers", "view", "c")
    return db.frame(
        con,
        f"SELECT c.id, c.name, c.phone, c.stage, c.next_followup_at, o.name AS owner_name "
        f"FROM customers c LEFT JOIN users o ON o.id = c.owner_id "
        f"WHERE c.deleted_at IS NULL AND c.owner_id IS NOT NULL AND c.next_followup_at < ? AND {where} "
        f"ORDER BY c.next_followup_at LIMIT ?",
        [_end_of_day(actor.now)] + params + [limit],
    )
