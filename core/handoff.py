"""The won hand-off (流转单) and the pending upgrade (待升级), after the rule book:

  a rep who closes a customer fills in a hand-off form -> service is notified (an onboarding ticket in
  the service queue) -> the customer moves to "pending upgrade" -> the manager submits it to the admin
  -> the admin approves it, choosing the customer's new level, or returns it to the manager.

Statuses of a hand-off (handoffs.status):
  pending    filled in by the rep, waiting for the manager
  submitted  the manager sent it to the admin (with a comment)
  approved   the admin chose the level (customers.level is set); final
  returned   the admin sent it back (with a comment); the manager may submit it again

One hand-off per customer: it is asked for when the customer's first deal is won, or when the rep sets
the customer's stage to won by hand (`needed`). Filling it in (`submit_handoff`) is one unit of work:
the hand-off, exactly one onboarding ticket (linked to the customer and the won deal, in the service
team's queue, due by the SLA of a medium ticket in business hours), the customer's stage -> upgrade
(written like any customer edit: versioned and in the audit log, which is the customer's stage history) and the audit
rows. Every later step is audited too; the customer's timeline shows each step (core.timeline, kind
"handoff").

Who may: filling in needs the right to edit the customer (the rep who holds it, the rep's manager, an
admin). Reviewing (`pending`, `manager_submit`) is for managers over the customers their `assign` scope
reaches (team, team and sub-teams) and for admins; deciding (`approve`, `return_to_manager`) is the
admin's.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, customers, db, fields, options, records, settings
from core.context import Actor
from core.errors import Conflict, DuplicateError, NotFound, PermissionDenied, ValidationError
from core.fields import Field
from core.i18n import translate

STATUSES = ("pending", "submitted", "approved", "returned")
TICKET_CATEGORY = "onboarding"
TICKET_PRIORITY = "medium"
REVIEW_SCOPES = ("team", "team_tree", "all")  # a manager's customers `assign` scope that reviews hand-offs

# what the rep fills in (core.fields validates every value)
FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("bought", "longtext", "handoff.bought", required=True, max_len=2000, tier="required"),
    Field("key_contacts", "longtext", "handoff.key_contacts", max_len=1000),
    Field("promises", "longtext", "handoff.promises", max_len=2000),
    Field("notes", "longtext", "handoff.notes", max_len=2000),
)}
COMMENT = Field("comment", "longtext", "handoff.comment", max_len=1000)
# the deal's name and amount only when the reader may view that deal ({deal}: the deals scope over alias d)
_COLUMNS = (
    "h.id, h.customer_id, c.name AS customer_name, c.stage AS customer_stage, c.level AS customer_level, "
    "CASE WHEN {deal} THEN h.deal_id END AS deal_id, CASE WHEN {deal} THEN d.name END AS deal_name, "
    "CASE WHEN {deal} THEN d.amount::DOUBLE END AS deal_amount, h.ticket_id, k.ticket_no, h.status, "
    "h.bought, h.key_contacts, h.promises, h.notes, h.owner_id, o.name AS owner_name, h.team_id, "
    "tm.name AS team_name, h.manager_id, m.name AS manager_name, h.manager_comment, h.submitted_at, "
    "h.admin_id, a.name AS admin_name, h.admin_comment, h.decided_at, h.level, h.created_at, h.updated_at"
)
_FROM = (
    "FROM handoffs h JOIN customers c ON c.id = h.customer_id "
    "LEFT JOIN deals d ON d.id = h.deal_id LEFT JOIN tickets k ON k.id = h.ticket_id "
    "LEFT JOIN users o ON o.id = h.owner_id LEFT JOIN teams tm ON tm.id = c.team_id "
    "LEFT JOIN users m ON m.id = h.manager_id LEFT JOIN users a ON a.id = h.admin_id"
)


def _deal_scope(con, actor: Actor) -> tuple[str, list]:
    """The condition (over alias d) of the deals the actor may view; FALSE without any deals scope."""
    if not access.can(con, actor, "deals", "view"):
        return "FALSE", []
    return access.predicate(con, actor, "deals", "view", "d")


def _columns(con, actor: Actor) -> tuple[str, list]:
    """_COLUMNS for this reader, and its parameters (they come before any other of the statement)."""
    where, params = _deal_scope(con, actor)
    return _COLUMNS.format(deal=f"({where})"), params * 3


# ---------------------------------------------------------------------------------------- asking
def _won_stages_sql() -> str:
    return "SELECT code FROM pipeline_stages WHERE is_won"


def needed(con: duckdb.DuckDBPyConnection, customer_id: Any, now: dt.datetime | None = None) -> bool:
    """Whether the customer's hand-off is still to be filled in: the customer is live, won (a won deal,
    or its stage set to won by hand), became a won customer within the last `handoff.ask_within_days`
    days (customers won before the hand-off existed are not asked again and again) and has no hand-off
    yet. Not a permission check."""
    try:
        cid = records.record_id(customer_id, "customer.not_found")
    except NotFound:
        return False
    since = (now or dt.datetime.now(dt.UTC).replace(tzinfo=None)) - dt.timedelta(
        days=int(settings.get(con, "handoff.ask_within_days")))
    return bool(db.scalar(
        con,
        "SELECT count(*) FROM customers c WHERE c.id = ? AND c.deleted_at IS NULL AND c.won_at >= ? "
        "AND NOT EXISTS (SELECT 1 FROM handoffs h WHERE h.customer_id = c.id) "
        "AND (c.stage = 'won' OR EXISTS (SELECT 1 FROM deals d WHERE d.customer_id = c.id AND d.deleted_at IS NULL "
        f"AND d.stage IN ({_won_stages_sql()})))",
        [cid, since]))


def can_fill(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> bool:
    """Whether the actor is asked for this customer's hand-off now (it is needed and theirs to fill)."""
    return needed(con, customer_id, actor.now) and customers.allowed(con, actor, customer_id, "edit")


def can_review(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    """Managers whose customers `assign` scope reaches a team, and admins: the "Pending upgrade" page."""
    if actor.is_admin:
        return True
    return actor.role == "manager" and access.scope_of(con, actor, "customers", "assign") in REVIEW_SCOPES


def can_decide(actor: Actor) -> bool:
    """The admin approves (choosing the level) or returns a submitted hand-off."""
    return actor.is_admin


def won_deals(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> list[dict]:
    """The customer's won deals the actor may see (id, name, amount, closed_on), newest first: the
    form offers them to link the hand-off to."""
    cid = customers.record_id(customer_id)
    if not access.can(con, actor, "deals", "view"):
        return []
    where, params = access.predicate(con, actor, "deals", "view", "d")
    return db.rows(con, "SELECT d.id, d.name, d.amount::DOUBLE AS amount, d.closed_on FROM deals d "
                        f"WHERE d.customer_id = ? AND d.deleted_at IS NULL AND d.stage IN ({_won_stages_sql()}) "
                        f"AND {where} ORDER BY d.closed_on DESC NULLS LAST, d.id DESC", [cid] + params)


# ---------------------------------------------------------------------------------------- filling in
def service_team(con: duckdb.DuckDBPyConnection) -> int | None:
    """The team whose members are service agents (the one with most of them, none other in it first);
    None when there is no such team."""
    return db.scalar(
        con,
        "SELECT t.id FROM teams t JOIN users u ON u.team_id = t.id AND u.deleted_at IS NULL AND u.active "
        "WHERE t.deleted_at IS NULL GROUP BY t.id HAVING count(*) FILTER (WHERE u.role = 'service') > 0 "
        "ORDER BY count(*) FILTER (WHERE u.role <> 'service'), count(*) FILTER (WHERE u.role = 'service') DESC, t.id "
        "LIMIT 1")


def _deal_for(con, actor: Actor, customer_id: int, deal_id: Any) -> dict | None:
    """The won deal the hand-off follows, among the deals the actor may view: the one named (it must be
    this customer's, and won; NotFound for one out of the actor's deals scope), or the customer's latest
    won deal the actor may view, or None (none visible, or the rep marked the customer won by hand)."""
    where, params = _deal_scope(con, actor)
    cols = ("SELECT d.id, d.name, d.closed_on, d.stage FROM deals d WHERE d.customer_id = ? AND d.deleted_at IS NULL "
            f"AND {where} ")
    if deal_id is None:
        return db.one(con, cols + f"AND d.stage IN ({_won_stages_sql()}) "
                                  "ORDER BY d.closed_on DESC NULLS LAST, d.id DESC LIMIT 1", [customer_id] + params)
    found = db.one(con, cols + "AND d.id = ?",
                   [customer_id] + params + [records.record_id(deal_id, "deal.not_found")])
    if found is None:
        raise NotFound("deal.not_found")
    if not db.scalar(con, "SELECT count(*) FROM pipeline_stages WHERE code = ? AND is_won", [found["stage"]]):
        raise ValidationError("handoff.deal_not_won")
    return found


def _ticket_text(lang: str, customer: dict, values: dict) -> tuple[str, str]:
    subject = translate(lang, "handoff.ticket_subject", customer=customer["name"])[:200]
    parts = [f"{translate(lang, FIELDS[k].label)}:\n{values[k]}" for k in FIELDS if values.get(k)]
    return subject, "\n\n".join(parts)


def submit_handoff(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, deal_id: Any,
                   values: dict[str, Any]) -> int:
    """The rep's hand-off of a won customer: what was bought, key contacts, promises made, notes.

    In one unit of work: the hand-off (status pending, for the customer's team's manager), exactly one
    onboarding ticket in the service team's queue (customer, deal, priority medium, status new, due by
    the SLA in business hours: core.tickets.create_ticket), the customer's stage -> upgrade (待升级) and
    the audit rows. Refused when the customer is not won, or already has a hand-off (a second submit, a double click, a colleague)."""
    access.require(con, actor, "customers", "edit")
    cid = customers.record_id(customer_id)
    clean = fields.clean(con, FIELDS, values, creating=True)

    def work():
        customer = records.load(con, actor, customers.SPEC, cid, "edit")
        # the customer's row is written below in this unit: a concurrent second submit conflicts on it
        # and, run again, finds this hand-off
        if db.scalar(con, "SELECT count(*) FROM handoffs WHERE customer_id = ?", [cid]):
            raise DuplicateError("handoff.exists", customer=customer["name"])
        deal = _deal_for(con, actor, cid, deal_id)
        if deal is None and customer["stage"] != "won" and not db.scalar(
                con, f"SELECT count(*) FROM deals WHERE customer_id = ? AND deleted_at IS NULL "
                     f"AND stage IN ({_won_stages_sql()})", [cid]):
            raise ValidationError("handoff.not_won", customer=customer["name"])
        now = actor.now
        # the ticket is the service team's: written in the company's language; opened through core.tickets
        # (its 'created' event, due times in business hours from core.sla, its audit rows)
        subject, description = _ticket_text(settings.get(con, "company.default_language"), customer, clean)
        from core import tickets  # imports this module's service_team when used

        ticket_id = tickets.create_ticket(
            con, actor, {"customer_id": cid, "subject": subject, "description": description,
                         "category": TICKET_CATEGORY, "priority": TICKET_PRIORITY},
            link={"deal_id": deal["id"] if deal else None,
                  "purchased_on": (deal or {}).get("closed_on") or clock.local_today(con, now)},
            checked=True)
        handoff_id = db.next_id(con, "handoffs")
        records.insert(con, "handoffs", {
            "id": handoff_id, "customer_id": cid, "deal_id": deal["id"] if deal else None, "ticket_id": ticket_id,
            "status": "pending", **{k: clean.get(k) for k in FIELDS}, "owner_id": actor.id,
            "team_id": customer["team_id"] if customer["team_id"] is not None else actor.team_id,
            "created_at": now, "updated_at": now})
        # the customer moves to pending upgrade like any customer edit: a version that moves forward, the
        # audit rows (its stage history), won_at set the first time
        diff = {}
        if customer["stage"] != "upgrade":
            diff["stage"] = (customer["stage"], "upgrade")
        if not customer.get("won_at"):
            diff["won_at"] = (None, now)
        if diff:
            records.write_changes(con, actor, customers.SPEC, customer, diff, None, set(customer) - {"custom"})
        else:
            con.execute("UPDATE customers SET updated_at = ? WHERE id = ?",
                        [max(now, customer["updated_at"] + dt.timedelta(microseconds=1)), cid])
        audit.record(con, actor, "create", "handoff", handoff_id, {
            "status": (None, "pending"), "customer_id": (None, cid), "deal_id": (None, deal["id"] if deal else None),
            "ticket_id": (None, ticket_id), **{k: (None, v) for k, v in clean.items() if v is not None}})
        return handoff_id

    return db.write(con, work)


# ---------------------------------------------------------------------------------------- reviewing
def _reach(con, actor: Actor) -> tuple[str, list]:
    """The customers (alias c) whose hand-offs the actor reviews, or PermissionDenied."""
    if not can_review(con, actor):
        raise PermissionDenied("handoff.not_reviewer")
    return access.predicate(con, actor, "customers", "assign", "c")


def pending(con: duckdb.DuckDBPyConnection, actor: Actor, statuses: Any = None) -> pl.DataFrame:
    """The hand-offs waiting for the actor, oldest first: for a manager those of the customers of the
    teams they reach that wait for them (pending, returned); for the admin those submitted to them.
    `statuses` picks others (e.g. a manager's submitted ones, waiting for the admin)."""
    where, params = _reach(con, actor)
    if statuses is None:
        statuses = ["submitted"] if can_decide(actor) else ["pending", "returned"]
    statuses = [statuses] if isinstance(statuses, str) else list(statuses)
    if not statuses or any(s not in STATUSES for s in statuses):
        raise ValidationError("list.bad_filter")
    columns, cparams = _columns(con, actor)
    return db.frame(con, f"SELECT {columns} {_FROM} WHERE c.deleted_at IS NULL AND h.status IN "
                         f"(SELECT unnest(?)) AND {where} ORDER BY coalesce(h.submitted_at, h.created_at), h.id",
                    cparams + [statuses] + params)


def get_handoff(con: duckdb.DuckDBPyConnection, actor: Actor, handoff_id: Any) -> dict:
    """One hand-off the actor reviews (NotFound otherwise)."""
    where, params = _reach(con, actor)
    columns, cparams = _columns(con, actor)
    found = db.one(con, f"SELECT {columns} {_FROM} WHERE h.id = ? AND c.deleted_at IS NULL AND {where}",
                   cparams + [records.record_id(handoff_id, "handoff.not_found")] + params)
    if found is None:
        raise NotFound("handoff.not_found")
    return found


def for_customer(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> dict | None:
    """The customer's hand-off as anyone who may view the customer reads it (its status on the
    customer's page), or None."""
    customers.get_customer(con, actor, customer_id)  # NotFound out of scope
    columns, cparams = _columns(con, actor)  # the deal's fields stay empty when the reader may not view it
    return db.one(con, f"SELECT {columns} {_FROM} WHERE h.customer_id = ? ORDER BY h.id DESC LIMIT 1",
                  cparams + [customers.record_id(customer_id)])


def _comment(value: Any) -> str | None:
    if value is None:
        return None
    return fields.clean_value(None, COMMENT, value)


def _step(con, actor: Actor, handoff_id: Any, from_statuses: tuple[str, ...], to_status: str,
          sets: dict[str, Any], logged: dict[str, tuple[Any, Any]], after=None) -> dict:
    """Move a hand-off the actor reviews from one of `from_statuses` to `to_status`, writing `sets`
    and auditing `logged`; Conflict when someone else moved it first."""

    def work():
        row = get_handoff(con, actor, handoff_id)
        if row["status"] not in from_statuses:
            raise Conflict("handoff.moved_on")
        cols = {**sets, "status": to_status, "updated_at": max(actor.now, row["updated_at"] + dt.timedelta(
            microseconds=1))}
        assignments = ", ".join(f"{k} = ?" for k in cols)  # keys: fixed column names of this module
        con.execute(f"UPDATE handoffs SET {assignments} WHERE id = ?", list(cols.values()) + [row["id"]])  # sql-ok
        audit.record(con, actor, _ACTION[to_status], "handoff", row["id"],
                     {"status": (row["status"], to_status), **logged})
        if after is not None:
            after(row)
        return {**row, **cols}

    return db.write(con, work)


_ACTION = {"submitted": "submit", "approved": "approve", "returned": "return"}


def manager_submit(con: duckdb.DuckDBPyConnection, actor: Actor, handoff_id: Any, comment: Any = None) -> dict:
    """The manager sends a pending (or returned) hand-off of their team to the admin, with a comment."""
    text = _comment(comment)
    return _step(con, actor, handoff_id, ("pending", "returned"), "submitted",
                 {"manager_id": actor.id, "manager_comment": text, "submitted_at": actor.now},
                 {"manager_comment": (None, text)} if text else {})


def approve(con: duckdb.DuckDBPyConnection, actor: Actor, handoff_id: Any, level: Any, comment: Any = None) -> dict:
    """The admin approves a submitted hand-off choosing the customer's new level (the "level" option
    list); the customer's level changes with it and the customer leaves "pending upgrade" (待升级) for
    "won" (成交) again (versioned, audited like any customer edit)."""
    if not can_decide(actor):
        raise PermissionDenied("handoff.not_admin")
    if not isinstance(level, str) or level not in options.codes(con, "level"):
        raise ValidationError("field.bad_choice", field="handoff.level", value=fields.short(level))
    text = _comment(comment)

    def set_level(row: dict) -> None:
        customer = records.load(con, actor, customers.SPEC, row["customer_id"], "view")
        diff = {"level": (customer["level"], level)} if customer["level"] != level else {}
        if customer["stage"] == "upgrade":  # upgraded: the customer is a won customer again, at its new level
            diff["stage"] = ("upgrade", "won")
        if diff:
            records.write_changes(con, actor, customers.SPEC, customer, diff, None, set(customer) - {"custom"})

    logged = {"level": (None, level), **({"admin_comment": (None, text)} if text else {})}
    return _step(con, actor, handoff_id, ("submitted",), "approved",
                 {"admin_id": actor.id, "admin_comment": text, "decided_at": actor.now, "level": level},
                 logged, after=set_level)


def return_to_manager(con: duckdb.DuckDBPyConnection, actor: Actor, handoff_id: Any, comment: Any) -> dict:
    """The admin sends a submitted hand-off back to the manager, saying why (the comment is required)."""
    if not can_decide(actor):
        raise PermissionDenied("handoff.not_admin")
    text = _comment(comment)
    if not text:
        raise ValidationError("field.required", field="handoff.comment")
    return _step(con, actor, handoff_id, ("submitted",), "returned",
                 {"admin_id": actor.id, "admin_comment": text, "decided_at": actor.now},
                 {"admin_comment": (None, text)})
