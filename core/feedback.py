"""Customer feedback (客户反馈): CSAT after a ticket is resolved, NPS surveys per customer, complaints and
suggestions worked by an owner.

Kinds:
  csat        1-5, one per ticket, recorded when the ticket is resolved or closed (the agent types what the
              customer said on a call-back; an import or a survey later). `record_csat` writes the ticket's
              `satisfaction`, the feedback row and a ticket event 'csat' in one unit of work; rating again
              replaces the score (audited), never a second row.
  nps         0-10 per customer ("how likely are you to recommend us"); NPS of a period = % promoters (9-10)
              - % detractors (0-6), -100..100, as core.analytics.metrics counts it.
  complaint   linked to a customer and optionally one of its tickets; needs an owner (who may work feedback)
              and a due date; open -> closed with a resolution (and back to open). Owners are notified of
              complaints due today or overdue once a day (`due_complaints`, run by the scheduler).
  suggestion  like a complaint, without the need of an owner or a due date.

Who sees which row: `core.access.service_branches` / `service_predicate` for the module "feedback" (a rep:
the feedback of the own customers; a manager: the team tree's customers'; service, admin, marketing: the
module's own scope). A customer or a ticket the user cannot see is NotFound.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, db, fields, records
from core.context import Actor
from core.errors import NotFound, PermissionDenied, ValidationError
from core.fields import Field

KINDS = ("csat", "nps", "complaint", "suggestion")
WORKED = ("complaint", "suggestion")          # records with an owner, a status and a resolution
STATUSES = ("open", "closed")
CHANNELS = ("callback", "phone", "email", "chat", "web", "visit", "survey", "social", "sms", "import")
RATED_STATUSES = ("resolved", "closed")        # a ticket may be rated (CSAT) in these statuses
PROMOTER, DETRACTOR = 9, 6                     # NPS: 9-10 promoters, 0-6 detractors

FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("kind", "choice", "feedback.kind", required=True, options=WORKED),
    Field("subject", "text", "feedback.subject", required=True, max_len=200),
    Field("comment", "longtext", "feedback.comment", max_len=4000),
    Field("channel", "choice", "feedback.channel", options=CHANNELS),
    Field("due_on", "date", "feedback.due_on"),
)}
RESOLUTION = Field("resolution", "longtext", "feedback.resolution", max_len=4000)
CSAT_SCORE = Field("score", "int", "feedback.csat_score", required=True, min=1, max=5)
NPS_SCORE = Field("score", "int", "feedback.nps_score", required=True, min=0, max=10)
_EDITABLE = ("subject", "comment", "channel", "due_on", "owner_id", "ticket_id")

_SELECT = (
    "SELECT f.id, f.kind, f.customer_id, c.name AS customer_name, f.ticket_id, k.ticket_no, f.subject, f.comment, "
    "f.score, f.channel, f.status, f.owner_id, o.name AS owner_name, f.team_id, f.due_on, f.resolution, "
    "f.created_at, f.created_by, cb.name AS created_by_name, f.closed_at, coalesce(f.updated_at, f.created_at) "
    "AS updated_at, (f.kind = 'complaint' AND f.status = 'open' AND f.due_on < ?) AS overdue, "
    "(f.kind = 'complaint' AND f.status = 'open' AND f.due_on = ?) AS due_today "
    "FROM {source} f LEFT JOIN customers c ON c.id = f.customer_id LEFT JOIN tickets k ON k.id = f.ticket_id "
    "LEFT JOIN users o ON o.id = f.owner_id LEFT JOIN users cb ON cb.id = f.created_by"
)


# ---------------------------------------------------------------------------------------- helpers
def _today(con, actor: Actor) -> dt.date:
    return clock.local_today(con, actor.now)


def _comment(con, value: Any) -> str | None:
    return None if value is None else fields.clean_value(con, FIELDS["comment"], value)


def _channel(con, value: Any) -> str | None:
    return None if value is None else fields.clean_value(con, FIELDS["channel"], value)


_customer = records.visible_customer


def _ticket(con, actor: Actor, ticket_id: Any) -> dict:
    """A live ticket the actor may view (the one ticket scope rule), or NotFound."""
    tid = records.record_id(ticket_id, "feedback.ticket_not_found")
    if not access.can(con, actor, "tickets", "view"):
        raise NotFound("feedback.ticket_not_found")
    where, params = access.service_predicate(con, actor, "tickets", "view", "k")
    found = db.one(con, f"SELECT k.id, k.ticket_no, k.customer_id, k.status, k.satisfaction, k.updated_at "
                        f"FROM tickets k WHERE k.id = ? AND k.deleted_at IS NULL AND {where}", [tid] + params)
    if found is None:
        raise NotFound("feedback.ticket_not_found")
    return found


def owner_roles(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The roles whose users may own (work) complaints and suggestions: those with feedback edit."""
    return [r for r in access.ROLES if access.role_scope(con, r, "feedback", "edit") != "none"]


def owners(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Who may be picked as the owner of a complaint: id, name, role, team_id (active users)."""
    return db.rows(con, "SELECT id, name, role, team_id FROM users WHERE active AND deleted_at IS NULL "
                        "AND role IN (SELECT unnest(?)) ORDER BY name, id", [owner_roles(con)])


def _owner(con, value: Any) -> dict | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationError("feedback.bad_owner")
    try:
        uid = records.record_id(value)
    except NotFound:
        raise ValidationError("feedback.bad_owner") from None
    found = db.one(con, "SELECT id, name, role, team_id FROM users WHERE id = ? AND active AND deleted_at IS NULL",
                   [uid])
    if found is None or found["role"] not in owner_roles(con):
        raise ValidationError("feedback.bad_owner")
    return found


def _in_scope(con, actor: Actor, action: str, customer_id: int | None, owner_id: int | None,
              team_id: int | None) -> bool:
    """Whether a row with these holders would be in the actor's `action` scope (checked before a write)."""
    where, params = access.service_predicate(con, actor, "feedback", action, "f")
    return bool(db.scalar(con, f"SELECT count(*) FROM (SELECT ?::BIGINT AS customer_id, ?::BIGINT AS owner_id, "
                               f"?::BIGINT AS team_id) f WHERE {where}", [customer_id, owner_id, team_id] + params))


def _load(con, actor: Actor, feedback_id: Any, action: str = "view") -> dict:
    """One live feedback row the actor may `action`, with names; NotFound otherwise."""
    fid = records.record_id(feedback_id, "feedback.not_found")
    where, params = access.service_predicate(con, actor, "feedback", action, "f")
    today = _today(con, actor)
    found = db.one(con, _SELECT.format(source="feedback") + f" WHERE f.id = ? AND f.deleted_at IS NULL AND {where}",
                   [today, today, fid] + params)
    if found is None:
        raise NotFound("feedback.not_found")
    if not access.can(con, actor, "tickets", "view"):  # no ticket numbers for who may not see tickets
        found["ticket_no"] = None
    return found


def get_feedback(con: duckdb.DuckDBPyConnection, actor: Actor, feedback_id: Any) -> dict:
    """One feedback record the actor may view (customer, ticket, owner and creator names, overdue)."""
    access.require(con, actor, "feedback", "view")
    return _load(con, actor, feedback_id)


def can_edit(con: duckdb.DuckDBPyConnection, actor: Actor, feedback_id: Any) -> bool:
    """Whether the actor may edit / close this record (the page shows forms or a read-only view)."""
    if not access.can(con, actor, "feedback", "edit"):
        return False
    try:
        _load(con, actor, feedback_id, "edit")
    except NotFound:
        return False
    return True


def can_create(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any = None) -> bool:
    """Whether the actor may record feedback (for this customer, when given)."""
    if not access.can(con, actor, "feedback", "create"):
        return False
    if customer_id is None:
        return True
    try:
        customer = _customer(con, actor, customer_id)
    except NotFound:
        return False
    return _in_scope(con, actor, "create", customer["id"], actor.id, actor.team_id)


def _check_due(con, actor: Actor, due: dt.date | None) -> None:
    if due is not None and due < _today(con, actor):
        raise ValidationError("feedback.due_in_past")


def _insert(con, actor: Actor, row: dict) -> int:
    fid = db.next_id(con, "feedback")
    records.insert(con, "feedback", {**row, "id": fid, "created_at": actor.now, "updated_at": actor.now,
                                     "created_by": actor.id})
    audit.record(con, actor, "create", "feedback", fid,
                 {k: (None, v) for k, v in row.items() if v is not None and k not in ("team_id",)})
    return fid


# ---------------------------------------------------------------------------------------- complaints & suggestions
def create_feedback(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict[str, Any]) -> int:
    """A complaint or a suggestion: kind, customer_id, ticket_id (a ticket of that customer, optional),
    subject, comment, channel, owner_id, due_on. A complaint needs an owner (a user who may work feedback)
    and a due date not in the past. Returns the new id."""
    access.require(con, actor, "feedback", "create")
    if not isinstance(values, dict):
        raise ValidationError("field.bad_values")
    values = dict(values)
    customer_id = values.pop("customer_id", None)
    ticket_id = values.pop("ticket_id", None)
    owner_id = values.pop("owner_id", None)
    clean = fields.clean(con, FIELDS, values, creating=True)
    if customer_id is None:
        raise ValidationError("field.required", field="feedback.customer")
    owner = _owner(con, owner_id)
    if clean["kind"] == "complaint":
        if owner is None:
            raise ValidationError("field.required", field="feedback.owner_id")
        if clean.get("due_on") is None:
            raise ValidationError("field.required", field="feedback.due_on")
    _check_due(con, actor, clean.get("due_on"))

    def work() -> int:
        customer = _customer(con, actor, customer_id)
        ticket = None
        if ticket_id is not None:
            ticket = _ticket(con, actor, ticket_id)
            if ticket["customer_id"] != customer["id"]:
                raise ValidationError("feedback.ticket_not_of_customer")
        team_id = owner["team_id"] if owner else actor.team_id
        if not _in_scope(con, actor, "create", customer["id"], owner["id"] if owner else actor.id, team_id):
            raise PermissionDenied("error.permission", module="feedback", action="create")
        return _insert(con, actor, {
            **clean, "customer_id": customer["id"], "ticket_id": ticket["id"] if ticket else None,
            "owner_id": owner["id"] if owner else None, "team_id": team_id, "status": "open"})

    return db.write(con, work)


_STALE_LABELS = {"subject": "feedback.subject", "comment": "feedback.comment", "channel": "feedback.channel",
                 "due_on": "feedback.due_on", "owner_id": "feedback.owner_id", "ticket_id": "feedback.ticket",
                 "status": "feedback.status", "resolution": "feedback.resolution", "score": "feedback.score"}


def _refuse_stale(con, old: dict, seen: Any) -> None:
    records.refuse_stale_labels(con, "feedback", old, seen, _STALE_LABELS)


def _write(con, actor: Actor, old: dict, sets: dict[str, tuple[Any, Any]]) -> None:
    """UPDATE the changed columns with a version that only moves forward; audit."""
    version = max(actor.now, old["updated_at"] + dt.timedelta(microseconds=1))
    assignments = ", ".join(f"{k} = ?" for k in sets)  # keys: fixed column names
    con.execute(f"UPDATE feedback SET {assignments}, updated_at = ? WHERE id = ?",  # sql-ok: fixed keys
                [v for _o, v in sets.values()] + [version, old["id"]])
    audit.record(con, actor, "update", "feedback", old["id"], {k: v for k, v in sets.items() if k != "team_id"})


def update_feedback(con: duckdb.DuckDBPyConnection, actor: Actor, feedback_id: Any, changes: dict[str, Any],
                    seen: dict | None = None) -> dict:
    """Edit a complaint or suggestion (subject, comment, channel, due_on, owner_id, ticket_id); only what
    differs is written and audited. `seen` is the record as the user saw it (get_feedback): changed
    since, the edit is a Conflict. A complaint keeps an owner and a due date. Returns the changes."""
    access.require(con, actor, "feedback", "edit")
    if not isinstance(changes, dict) or any(k not in _EDITABLE for k in changes):
        bad = [k for k in (changes if isinstance(changes, dict) else [changes]) if k not in _EDITABLE]
        raise ValidationError("field.unknown", value=fields.short(bad[0] if bad else changes))
    changes = dict(changes)
    has_owner, owner_value = "owner_id" in changes, changes.pop("owner_id", None)
    has_ticket, ticket_value = "ticket_id" in changes, changes.pop("ticket_id", None)
    clean = fields.clean(con, FIELDS, changes, creating=False)
    owner = _owner(con, owner_value) if has_owner else None

    def work() -> dict:
        old = _load(con, actor, feedback_id, "edit")
        if old["kind"] not in WORKED:
            raise ValidationError("feedback.not_editable_kind")
        _refuse_stale(con, old, seen)
        new = dict(clean)
        if has_owner:
            new["owner_id"] = owner["id"] if owner else None
            new["team_id"] = owner["team_id"] if owner else old["team_id"]
        if has_ticket:
            if ticket_value is None:
                new["ticket_id"] = None
            else:
                ticket = _ticket(con, actor, ticket_value)
                if ticket["customer_id"] != old["customer_id"]:
                    raise ValidationError("feedback.ticket_not_of_customer")
                new["ticket_id"] = ticket["id"]
        sets = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
        if not sets:
            return {}
        if old["kind"] == "complaint":
            if "owner_id" in sets and sets["owner_id"][1] is None:
                raise ValidationError("field.required", field="feedback.owner_id")
            if "due_on" in sets and sets["due_on"][1] is None:
                raise ValidationError("field.required", field="feedback.due_on")
        if "due_on" in sets:
            _check_due(con, actor, sets["due_on"][1])
        if "owner_id" in sets and not _in_scope(con, actor, "edit", old["customer_id"], sets["owner_id"][1],
                                                new.get("team_id", old["team_id"])):
            raise PermissionDenied("error.permission", module="feedback", action="edit")
        _write(con, actor, old, sets)
        return {k: v for k, v in sets.items() if k != "team_id"}

    return db.write(con, work)


def close_feedback(con: duckdb.DuckDBPyConnection, actor: Actor, feedback_id: Any, resolution: Any = None,
                   seen: dict | None = None) -> None:
    """Close an open complaint (a resolution is required) or suggestion (optional)."""
    access.require(con, actor, "feedback", "edit")
    text = None if resolution is None else fields.clean_value(con, RESOLUTION, resolution)

    def work() -> None:
        old = _load(con, actor, feedback_id, "edit")
        if old["kind"] not in WORKED:
            raise ValidationError("feedback.not_editable_kind")
        _refuse_stale(con, old, seen)
        if old["status"] == "closed":
            raise ValidationError("feedback.already_closed")
        if old["kind"] == "complaint" and text is None:
            raise ValidationError("field.required", field="feedback.resolution")
        sets = {"status": ("open", "closed"), "closed_at": (None, actor.now)}
        if text != old["resolution"]:
            sets["resolution"] = (old["resolution"], text)
        _write(con, actor, old, sets)

    db.write(con, work)


def reopen_feedback(con: duckdb.DuckDBPyConnection, actor: Actor, feedback_id: Any, seen: dict | None = None) -> None:
    """Open a closed complaint or suggestion again (its resolution is kept)."""
    access.require(con, actor, "feedback", "edit")

    def work() -> None:
        old = _load(con, actor, feedback_id, "edit")
        if old["kind"] not in WORKED:
            raise ValidationError("feedback.not_editable_kind")
        _refuse_stale(con, old, seen)
        if old["status"] != "closed":
            raise ValidationError("feedback.not_closed")
        _write(con, actor, old, {"status": ("closed", "open"), "closed_at": (old["closed_at"], None)})

    db.write(con, work)


# ---------------------------------------------------------------------------------------- NPS and CSAT
def record_nps(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, score: Any, comment: Any = None,
               channel: Any = "survey") -> int:
    """An NPS answer (0-10) of a customer the actor may see. Returns the feedback id."""
    access.require(con, actor, "feedback", "create")
    value = fields.clean_value(con, NPS_SCORE, score)
    text, chan = _comment(con, comment), _channel(con, channel)

    def work() -> int:
        customer = _customer(con, actor, customer_id)
        if not _in_scope(con, actor, "create", customer["id"], actor.id, actor.team_id):
            raise PermissionDenied("error.permission", module="feedback", action="create")
        return _insert(con, actor, {"kind": "nps", "customer_id": customer["id"], "score": float(value),
                                    "comment": text, "channel": chan, "owner_id": actor.id,
                                    "team_id": actor.team_id, "status": "closed", "closed_at": actor.now})

    return db.write(con, work)


def record_csat(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any, score: Any, comment: Any = None,
                channel: Any = "callback") -> int:
    """The customer's satisfaction (1-5) with a resolved or closed ticket the actor may see: the ticket's
    `satisfaction`, one feedback row of kind csat and a ticket event 'csat', in one unit of work. Rating
    again replaces the score and comment (audited); a ticket never has two CSAT rows. Returns the
    feedback id."""
    access.require(con, actor, "feedback", "create")
    value = fields.clean_value(con, CSAT_SCORE, score)
    text, chan = _comment(con, comment), _channel(con, channel)

    def work() -> int:
        ticket = _ticket(con, actor, ticket_id)
        if ticket["status"] not in RATED_STATUSES:
            raise ValidationError("feedback.csat_not_resolved")
        if not _in_scope(con, actor, "create", ticket["customer_id"], actor.id, actor.team_id):
            raise PermissionDenied("error.permission", module="feedback", action="create")
        # the ticket row first: two people rating one ticket at once conflict here (same column), and the
        # retried unit finds the other's row and replaces it. The ticket's version (updated_at) stays: the
        # rating is no field of the ticket's form, whose "changed since you opened it" check reads it.
        old_score = ticket["satisfaction"]
        con.execute("UPDATE tickets SET satisfaction = ? WHERE id = ?", [float(value), ticket["id"]])
        audit.record(con, actor, "update", "ticket", ticket["id"], {"satisfaction": (old_score, float(value))})
        old = db.one(con, "SELECT id, score, comment, channel, updated_at, created_at FROM feedback "
                          "WHERE ticket_id = ? AND kind = 'csat' AND deleted_at IS NULL ORDER BY id LIMIT 1",
                     [ticket["id"]])
        if old is None:
            fid = _insert(con, actor, {"kind": "csat", "customer_id": ticket["customer_id"],
                                       "ticket_id": ticket["id"], "score": float(value), "comment": text,
                                       "channel": chan, "owner_id": actor.id, "team_id": actor.team_id,
                                       "status": "closed", "closed_at": actor.now})
        else:
            fid = old["id"]
            old["updated_at"] = old["updated_at"] or old["created_at"]
            sets = {k: (old[k], v) for k, v in (("score", float(value)), ("comment", text), ("channel", chan))
                    if old[k] != v}
            if sets:
                _write(con, actor, old, sets)
        from core import tickets  # the conversation's own writer: never dated before its latest event

        tickets.add_event(con, actor, ticket["id"], "csat", None if old_score is None else f"{old_score:g}",
                          f"{value:d}", body=text, channel=chan)
        return fid

    return db.write(con, work)


def rating_state(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any) -> dict:
    """What the CSAT widget needs of a ticket the actor may see: id, ticket_no, status, satisfaction,
    rateable (resolved or closed), may_rate (the actor may record feedback for it); NotFound otherwise."""
    ticket = _ticket(con, actor, ticket_id)
    may = access.can(con, actor, "feedback", "create") and _in_scope(con, actor, "create", ticket["customer_id"],
                                                                      actor.id, actor.team_id)
    return {"id": ticket["id"], "ticket_no": ticket["ticket_no"], "status": ticket["status"],
            "satisfaction": ticket["satisfaction"], "rateable": ticket["status"] in RATED_STATUSES, "may_rate": may}


def csat_of(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any) -> dict | None:
    """The CSAT of a ticket the actor may see (id, score, comment, channel, updated_at, by), or None."""
    ticket = _ticket(con, actor, ticket_id)
    if not access.can(con, actor, "feedback", "view"):
        return None
    return db.one(con, "SELECT f.id, f.score, f.comment, f.channel, coalesce(f.updated_at, f.created_at) AS updated_at, "
                       "u.name AS by FROM feedback f LEFT JOIN users u ON u.id = f.created_by "
                       "WHERE f.ticket_id = ? AND f.kind = 'csat' AND f.deleted_at IS NULL ORDER BY f.id LIMIT 1",
                  [ticket["id"]])


def customer_tickets(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, limit: int = 200) -> list[dict]:
    """The tickets of a customer the actor may see, newest first (to link a complaint to one)."""
    customer = _customer(con, actor, customer_id)
    if not access.can(con, actor, "tickets", "view"):
        return []
    where, params = access.service_predicate(con, actor, "tickets", "view", "k")
    return db.rows(con, f"SELECT k.id, k.ticket_no, k.subject, k.status FROM tickets k WHERE k.customer_id = ? "
                        f"AND k.deleted_at IS NULL AND {where} ORDER BY k.opened_at DESC, k.id DESC LIMIT ?",
                   [customer["id"]] + params + [int(limit)])


# ---------------------------------------------------------------------------------------- lists and figures
SORTS = {"created_at": "f.created_at", "due_on": "f.due_on", "score": "f.score", "updated_at": "f.updated_at"}
_FILTERS = {"kind", "status", "owner_id", "mine", "customer_id", "ticket_id", "overdue", "due", "since", "until", "q"}
MAX_PAGE_SIZE = 500


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ValidationError("list.bad_filter")


def _period(con, period: Any) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(start, end) in UTC of a period of company days (first, last) inclusive; None: open-ended."""
    if period is None:
        return None, None
    if not isinstance(period, (list, tuple)) or len(period) != 2:
        raise ValidationError("list.bad_filter")
    first, last = (None if p is None else _day(p) for p in period)
    if first is not None and last is not None and last < first:
        raise ValidationError("feedback.bad_period")
    start = clock.day_bounds_utc(con, first)[0] if first is not None else None
    end = clock.day_bounds_utc(con, last)[1] if last is not None else None
    return start, end


def _where(con, actor: Actor, filters: Any) -> tuple[list[str], list]:
    if filters is None:
        return [], []
    if not isinstance(filters, dict) or not set(filters) <= _FILTERS:
        raise ValidationError("list.bad_filter")
    clauses, args = [], []
    kind = filters.get("kind")
    if kind not in (None, "", [], ()):
        items = [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, (list, tuple, set)) else [None]
        if not items or any(k not in KINDS for k in items):
            raise ValidationError("list.bad_filter")
        clauses.append(f"f.kind IN ({', '.join('?' for _ in items)})")
        args += items
    status = filters.get("status")
    if status not in (None, "", "all"):
        if status not in STATUSES:
            raise ValidationError("list.bad_filter")
        clauses.append("f.status = ?")
        args.append(status)
    for col in ("owner_id", "customer_id", "ticket_id"):
        value = filters.get(col)
        if value is not None:
            try:
                rid = records.record_id(value)
            except NotFound:
                raise ValidationError("list.bad_filter") from None
            clauses.append(f"f.{col} = ?")
            args.append(rid)
    if filters.get("mine"):
        clauses.append("f.owner_id = ?")
        args.append(actor.id)
    today = _today(con, actor)
    if filters.get("overdue"):
        clauses.append("f.kind = 'complaint' AND f.status = 'open' AND f.due_on < ?")
        args.append(today)
    if filters.get("due"):
        clauses.append("f.kind = 'complaint' AND f.status = 'open' AND f.due_on <= ?")
        args.append(today)
    start, end = _period(con, (filters.get("since"), filters.get("until")))
    if start is not None:
        clauses.append("f.created_at >= ?")
        args.append(start)
    if end is not None:
        clauses.append("f.created_at < ?")
        args.append(end)
    q = filters.get("q")
    if q not in (None, ""):
        q = fields.search_text(q)
        if q:
            clauses.append("(f.subject ILIKE ? OR f.comment ILIKE ?)")
            args += [f"%{q}%"] * 2
    return clauses, args


def _visible(con, actor: Actor, where: list[str], args: list, sort_expr: str = "NULL") -> tuple[str, list]:
    """The visible (id, k) pairs: one UNION ALL branch per disjoint part of the scope (plain ANDs)."""
    parts, params = [], []
    for cond, bparams in access.service_branches(con, actor, "feedback", "view", "f"):
        clause = " AND ".join(["f.deleted_at IS NULL", cond] + where)
        parts.append(f"SELECT f.id, {sort_expr} AS k FROM feedback f WHERE {clause}")
        params += bparams + args
    return " UNION ALL ".join(parts), params


def list_feedback(con: duckdb.DuckDBPyConnection, actor: Actor, filters: dict[str, Any] | None = None,
                  page: int = 0, page_size: int = 50, sort: str = "created_at", desc: bool = True
                  ) -> tuple[pl.DataFrame, int]:
    """One page of the feedback the actor may see, and how many in all. Filters: kind (one or several),
    status, owner_id, mine, customer_id, ticket_id, overdue (open complaints past their due date), due
    (due today or overdue), since / until (company days of creation), q (subject or comment). Columns:
    id, kind, customer_id, customer_name, ticket_id, ticket_no, subject, comment, score, channel, status,
    owner_id, owner_name, team_id, due_on, resolution, created_at, created_by, created_by_name, closed_at,
    updated_at, overdue, due_today."""
    access.require(con, actor, "feedback", "view")
    if sort not in SORTS:
        raise ValidationError("list.bad_sort")
    page, page_size = _page_args(page, page_size)
    where, args = _where(con, actor, filters)
    pairs, params = _visible(con, actor, where, args, SORTS[sort])
    direction = "DESC" if desc else "ASC"
    total, ids = con.execute(
        f"WITH v AS MATERIALIZED ({pairs}) "  # sql-ok: fixed columns, bound values
        f"SELECT (SELECT count(*) FROM v), (SELECT coalesce(list(id), []) FROM (SELECT id FROM v "
        f"ORDER BY k {direction} NULLS LAST, id DESC LIMIT ? OFFSET ?))",
        params + [page_size, page * page_size]).fetchall()[0]
    today = _today(con, actor)
    source = "(SELECT x.*, p.pos FROM (SELECT unnest(?) AS id, generate_subscripts(?, 1) AS pos) p JOIN feedback x ON x.id = p.id)"
    df = db.frame(con, _SELECT.format(source=source) + " ORDER BY f.pos", [today, today, ids, ids])
    if not access.can(con, actor, "tickets", "view"):  # no ticket numbers for who may not see tickets
        df = df.with_columns(pl.lit(None, pl.String).alias("ticket_no"))
    return df.select([c for c in df.columns if c != "pos"]), int(total)


def _page_args(page: Any, page_size: Any) -> tuple[int, int]:
    from core import listing

    if listing._page_cap.get() > MAX_PAGE_SIZE:  # an export (core.export.all_rows): one large page
        return listing.page_args(page, page_size)
    if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page <= 1_000_000:
        raise ValidationError("list.bad_page", max="1,000,000")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError("list.bad_page_size", max=MAX_PAGE_SIZE)
    return page, page_size


def nps(con: duckdb.DuckDBPyConnection, actor: Actor, period: Any = None, customer_id: Any = None) -> dict:
    """NPS of the answers the actor may see given in `period` ((first, last) company days, inclusive;
    None ends open), of one customer when given: responses, promoters (9-10), passives (7-8), detractors
    (0-6) and score = % promoters - % detractors (-100..100; None without answers)."""
    access.require(con, actor, "feedback", "view")
    filters: dict[str, Any] = {"kind": "nps"}
    if period is not None:
        if not isinstance(period, (list, tuple)) or len(period) != 2:
            raise ValidationError("list.bad_filter")
        filters["since"], filters["until"] = period
    if customer_id is not None:
        filters["customer_id"] = _customer(con, actor, customer_id)["id"]
    where, args = _where(con, actor, filters)
    pairs, params = _visible(con, actor, where + ["f.score IS NOT NULL"], args, "f.score")
    n, pro, det = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE k >= {PROMOTER}), count(*) FILTER (WHERE k <= {DETRACTOR}) "
        f"FROM ({pairs})", params).fetchone()  # sql-ok: fixed numbers, bound values
    return {"responses": n, "promoters": pro, "passives": n - pro - det, "detractors": det,
            "score": None if not n else round((pro - det) * 100.0 / n, 1)}


def csat_summary(con: duckdb.DuckDBPyConnection, actor: Actor, period: Any = None) -> dict:
    """CSAT of the ratings the actor may see given in `period`: ratings, average (1-5, None without
    ratings) and satisfied (share rated 4 or 5, 0..1)."""
    access.require(con, actor, "feedback", "view")
    filters: dict[str, Any] = {"kind": "csat"}
    if period is not None:
        if not isinstance(period, (list, tuple)) or len(period) != 2:
            raise ValidationError("list.bad_filter")
        filters["since"], filters["until"] = period
    where, args = _where(con, actor, filters)
    pairs, params = _visible(con, actor, where + ["f.score IS NOT NULL"], args, "f.score")
    n, avg, happy = con.execute(f"SELECT count(*), avg(k), count(*) FILTER (WHERE k >= 4) FROM ({pairs})",  # sql-ok
                                params).fetchone()
    return {"ratings": n, "average": None if avg is None else round(avg, 2),
            "satisfied": None if not n else happy / n}


# ---------------------------------------------------------------------------------------- the daily reminder
def due_complaints(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    """Notify the owners of open complaints due today or overdue (company day of `now`): one
    notification 'complaint_due' per complaint and day, however often this runs (the scheduler calls it).
    Returns how many notifications were written."""
    today = clock.local_today(con, now)
    start, end = clock.day_bounds_utc(con, today)

    def work() -> int:
        due = db.rows(con, "SELECT f.id, f.owner_id, f.subject, f.due_on, c.name AS customer FROM feedback f "
                           "JOIN users u ON u.id = f.owner_id AND u.active AND u.deleted_at IS NULL "
                           "LEFT JOIN customers c ON c.id = f.customer_id "
                           "WHERE f.kind = 'complaint' AND f.status = 'open' AND f.deleted_at IS NULL "
                           "AND f.due_on <= ? AND NOT EXISTS (SELECT 1 FROM notifications n "
                           "WHERE n.kind = 'complaint_due' AND n.object = 'feedback' AND n.object_id = f.id "
                           "AND n.user_id = f.owner_id AND n.created_at >= ? AND n.created_at < ?) "
                           "ORDER BY f.due_on, f.id", [today, start, end])
        if not due:
            return 0
        frame = pl.DataFrame({  # noqa: F841 - read by the INSERT below (a DuckDB replacement scan)
            "id": db.next_ids(con, "notifications", len(due)),
            "user_id": [r["owner_id"] for r in due],
            "object_id": [r["id"] for r in due],
            "params": [json.dumps({"subject": r["subject"] or "", "customer": r["customer"] or "",
                                   "due_on": r["due_on"].isoformat(), "overdue": r["due_on"] < today},
                                  ensure_ascii=False) for r in due],
        }, schema={"id": pl.Int64, "user_id": pl.Int64, "object_id": pl.Int64, "params": pl.String})
        con.execute("INSERT INTO notifications (id, user_id, kind, object, object_id, params, created_at) "
                    "SELECT f.id, f.user_id, 'complaint_due', 'feedback', f.object_id, f.params::JSON, ? FROM frame f",
                    [now])
        return len(due)

    return db.write(con, work)

