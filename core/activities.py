"""Follow-ups (跟进记录 / 关联活动): calls, visits, e-mails, messages, meetings and notes logged on a
customer or a lead.

Logging a follow-up is one unit of work: the activity row, the record's `last_activity_at` (the last
contact the pool rules look at: it only moves forward) and `next_followup_at` (the owner's reminder on
My day), and the audit rows. When no next date is given, a reminder that fell due by the end of the
(company) day of this follow-up is answered by it and cleared; a later reminder stays.

Who may log: whoever has `activities/create` and may view the customer (or lead); a record outside the
actor's scope is NotFound, so its existence does not leak. A follow-up is part of its record's history:
whoever may view the record and has `activities/view` sees all of its follow-ups.

Overdue = a next follow-up before the start of the company's today (core.clock).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, db, fields, records
from core.context import Actor
from core.errors import NotFound, ValidationError
from core.fields import Field

KINDS = ("call", "visit", "email", "message", "meeting", "note")
OUTCOMES = ("connected", "no_answer", "busy", "callback", "interested", "not_interested", "met", "demo_done",
            "needs_followup", "sent", "replied", "read", "other")
FUTURE_SLACK = dt.timedelta(days=1)  # a follow-up may be logged at most a day ahead (time zones, typing)
MAX_LIST = 1000

FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("kind", "choice", "activity.kind", options=KINDS, required=True, tier="required"),
    Field("outcome", "choice", "activity.outcome", options=OUTCOMES),
    Field("occurred_at", "datetime", "activity.occurred_at", required=True, tier="required"),
    Field("next_followup_at", "datetime", "activity.next_followup_at"),
    Field("subject", "text", "activity.subject", max_len=200),
    Field("body", "longtext", "activity.body", max_len=4000),
)}

# the record a follow-up belongs to: entity -> (table, permission module, not-found key)
_RECORDS = {
    "customer": ("customers", "customers", "customer.not_found"),
    "lead": ("leads", "leads", "lead.not_found"),
}


def overdue_cutoff(con: duckdb.DuckDBPyConnection, now: dt.datetime | Actor) -> dt.datetime:
    """A next follow-up before this instant (the start of the company's today, naive UTC) is overdue.
    `now`: the moment, or the acting user (whose `now` it is)."""
    now = now.now if isinstance(now, Actor) else now
    return clock.day_bounds_utc(con, clock.local_today(con, now))[0]


def is_overdue(con: duckdb.DuckDBPyConnection, now: dt.datetime, next_followup_at: dt.datetime | None) -> bool:
    return next_followup_at is not None and next_followup_at < overdue_cutoff(con, now)


def _target(customer_id: Any, lead_id: Any) -> tuple[str, int]:
    if (customer_id is None) == (lead_id is None):
        raise ValidationError("activity.one_record")
    if customer_id is not None:
        return "customer", records.record_id(customer_id, "customer.not_found")
    return "lead", records.record_id(lead_id, "lead.not_found")


def _record(con, actor: Actor, entity: str, rid: int) -> dict:
    """The customer or lead the actor may view, or NotFound (the same answer as for a missing one)."""
    table, module, missing = _RECORDS[entity]
    if not access.can(con, actor, module, "view"):
        raise NotFound(missing)
    where, params = access.predicate(con, actor, module, "view", "x")
    found = db.one(
        con,
        f"SELECT x.id, x.owner_id, x.team_id, x.last_activity_at, x.next_followup_at, x.updated_at "  # fixed table
        f"FROM {table} x WHERE x.id = ? AND x.deleted_at IS NULL AND {where}",
        [rid] + params,
    )
    if found is None:
        raise NotFound(missing)
    return found


def _check_links(con, entity: str, rid: int, contact_id: Any, deal_id: Any) -> tuple[int | None, int | None]:
    """A contact must be a live contact of this customer; a deal a live deal of this customer or lead."""
    contact = deal = None
    if contact_id is not None:
        contact = records.record_id(contact_id, "contact.not_found")
        if entity != "customer" or not db.scalar(
                con, "SELECT count(*) FROM contacts WHERE id = ? AND customer_id = ? AND deleted_at IS NULL",
                [contact, rid]):
            raise ValidationError("activity.bad_contact", field="activity.contact")
    if deal_id is not None:
        deal = records.record_id(deal_id, "error.not_found")
        column = "customer_id" if entity == "customer" else "lead_id"
        if not db.scalar(con, f"SELECT count(*) FROM deals WHERE id = ? AND {column} = ? "  # fixed column
                              f"AND deleted_at IS NULL", [deal, rid]):
            raise ValidationError("activity.bad_deal", field="activity.deal")
    return contact, deal


def clean_followup(con, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    """The follow-up's values as stored, or ValidationError naming the field: kind and time required,
    the time no more than a day ahead, the next follow-up not before it, something said about it."""
    out = fields.clean(con, FIELDS, values, creating=True)
    if out["occurred_at"] > actor.now + FUTURE_SLACK:
        raise ValidationError("activity.in_future", field=FIELDS["occurred_at"].label)
    if out.get("next_followup_at") is not None and out["next_followup_at"] < out["occurred_at"]:
        raise ValidationError("activity.next_before_occurred", field=FIELDS["next_followup_at"].label)
    if not (out.get("subject") or out.get("body") or out.get("outcome")):
        raise ValidationError("activity.empty", field=FIELDS["subject"].label)
    return out


def log_followup(
    con: duckdb.DuckDBPyConnection,
    actor: Actor,
    customer_id: Any = None,
    lead_id: Any = None,
    *,
    kind: Any,
    subject: Any = None,
    body: Any = None,
    outcome: Any = None,
    occurred_at: Any = None,
    next_followup_at: Any = None,
    contact_id: Any = None,
    deal_id: Any = None,
) -> int:
    """Log a follow-up on a customer or a lead (exactly one); returns its id.

    `occurred_at` defaults to now. In the same unit: the record's last contact becomes the later of the
    one it had and this follow-up's; its next follow-up becomes `next_followup_at` when given (when not,
    a reminder due by the end of this follow-up's day is cleared: this follow-up answered it); the
    record's version (updated_at) moves when its next follow-up changed, so an edit form opened before
    is told; audit rows for the activity and for the record's changed dates."""
    access.require(con, actor, "activities", "create")
    entity, rid = _target(customer_id, lead_id)
    values = {"kind": kind, "subject": subject, "body": body, "outcome": outcome,
              "occurred_at": actor.now if occurred_at is None else occurred_at,
              "next_followup_at": next_followup_at}
    clean = clean_followup(con, actor, values)
    table = _RECORDS[entity][0]

    def work():
        record = _record(con, actor, entity, rid)
        contact, deal = _check_links(con, entity, rid, contact_id, deal_id)
        activity_id = db.next_id(con, "activities")
        row = {"id": activity_id, "customer_id": rid if entity == "customer" else None,
               "lead_id": rid if entity == "lead" else None, "deal_id": deal, "contact_id": contact,
               "user_id": actor.id, "team_id": actor.team_id, "kind": clean["kind"],
               "subject": clean.get("subject"), "body": clean.get("body"), "outcome": clean.get("outcome"),
               "occurred_at": clean["occurred_at"], "next_followup_at": clean.get("next_followup_at"),
               "created_at": actor.now}
        names = list(row)
        con.execute(f"INSERT INTO activities ({', '.join(names)}) "  # sql-ok: fixed keys
                    f"VALUES ({', '.join('?' for _ in names)})", [row[n] for n in names])
        audit.record(con, actor, "create", "activity", activity_id,
                     {k: (None, v) for k, v in row.items()
                      if v is not None and k not in ("id", "created_at", "user_id", "team_id")})
        if deal is not None:  # the deal's last activity moves forward (the board's stale mark)
            from core import deals

            deals.touch_activity(con, deal, clean["occurred_at"])

        diff: dict[str, tuple[Any, Any]] = {}
        last = record["last_activity_at"]
        if last is None or clean["occurred_at"] > last:
            diff["last_activity_at"] = (last, clean["occurred_at"])
        old_next, new_next = record["next_followup_at"], clean.get("next_followup_at")
        if new_next is None and old_next is not None:
            day_end = clock.day_bounds_utc(con, clock.local_today(con, clean["occurred_at"]))[1]
            if old_next < day_end:  # the reminder this follow-up answered
                diff["next_followup_at"] = (old_next, None)
        elif new_next is not None and new_next != old_next:
            diff["next_followup_at"] = (old_next, new_next)
        if diff:
            sets = [f"{k} = ?" for k in diff]
            args = [new for _old, new in diff.values()]
            if "next_followup_at" in diff:  # a field of the edit form: its version moves forward
                sets.append("updated_at = ?")
                args.append(max(actor.now, record["updated_at"] + dt.timedelta(microseconds=1)))
            con.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE id = ?", args + [rid])  # sql-ok: fixed keys
            audit.record(con, actor, "update", entity, rid, diff)
        return activity_id

    return db.write(con, work)


_LIST_COLUMNS = (
    "a.id, a.kind, a.subject, a.body, a.outcome, a.occurred_at, a.next_followup_at, a.duration_min, "
    "a.user_id, u.name AS user_name, a.contact_id, ct.name AS contact_name, a.deal_id, a.created_at"
)


def list_followups(
    con: duckdb.DuckDBPyConnection,
    actor: Actor,
    customer_id: Any = None,
    lead_id: Any = None,
    kinds: Any = None,
    limit: int = 200,
    before: dt.datetime | None = None,
) -> pl.DataFrame:
    """The follow-ups of one customer or lead the actor may view, newest first (`before`: older than
    that moment, for paging). NotFound for a record out of scope; PermissionDenied without
    `activities/view`."""
    access.require(con, actor, "activities", "view")
    entity, rid = _target(customer_id, lead_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise ValidationError("list.bad_page_size", max=MAX_LIST)
    _record(con, actor, entity, rid)
    clauses = [f"a.{entity}_id = ?", "a.deleted_at IS NULL"]
    args: list = [rid]
    if kinds:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if any(k not in KINDS for k in kinds):
            raise ValidationError("field.bad_choice", field=FIELDS["kind"].label, value=fields.short(kinds))
        clauses.append(f"a.kind IN ({', '.join('?' for _ in kinds)})")
        args += kinds
    if before is not None:
        if not isinstance(before, dt.datetime):
            raise ValidationError("list.bad_filter")
        clauses.append("a.occurred_at < ?")
        args.append(before)
    return db.frame(
        con,
        f"SELECT {_LIST_COLUMNS} FROM activities a LEFT JOIN users u ON u.id = a.user_id "
        f"LEFT JOIN contacts ct ON ct.id = a.contact_id WHERE {' AND '.join(clauses)} "
        f"ORDER BY a.occurred_at DESC, a.id DESC LIMIT ?",
        args + [limit],
    )


def followup_status(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any = None,
                    lead_id: Any = None) -> dict:
    """The record's last contact and next follow-up, and whether that is overdue (for a page header)."""
    entity, rid = _target(customer_id, lead_id)
    record = _record(con, actor, entity, rid)
    return {"last_activity_at": record["last_activity_at"], "next_followup_at": record["next_followup_at"],
            "overdue": is_overdue(con, actor.now, record["next_followup_at"])}
