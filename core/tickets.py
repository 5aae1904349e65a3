"""Tickets (服务工单): open one, work it (replies to the customer, internal notes, status, assignee,
priority), claim, assign in bulk, merge a duplicate, reopen, and the customer's history beside it.

Who sees which ticket is ONE rule, `access.service_branches` / `service_predicate` (a rep: the own
customers' tickets; a manager: the team tree's customers'; a service agent or an admin: the module's
scope). A ticket outside it is NotFound, as is a ticket for a customer the actor cannot see.

Status flow: new -> open -> pending (waiting on the customer: the SLA clock pauses, core.sla.pause /
resume) -> resolved -> closed. A resolved or closed ticket is reopened within `service.reopen_days` of
its resolution (the same ticket; its resolution clock restarts at the reopen with the full target,
core.sla.restart, as Zendesk and Frappe Helpdesk do); later, `reopen` opens a NEW ticket linked to it by
parent_id. Nothing goes back to new; a resolved ticket is only closed or reopened, a closed one only reopened.

Every reply (to the customer), internal note, status, assignee, priority or field change is a
`ticket_events` row written in the same unit of work as the change and its audit rows. Events are
inserts: two agents replying at once both land (the ticket's row is written by both, so the later unit
conflicts, runs again and wins: the status ends in the last one's choice). first_response_at is the
first reply by an agent; a note never counts. Bodies are stored as text (shown escaped by the pages).

SLA: targets and due times come from core.sla (business minutes on the company's working calendar);
this module never computes them itself.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import polars as pl

from core import access, audit, db, fields, records, settings
from core.context import Actor
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from core.fields import Field

STATUSES = ("new", "open", "pending", "resolved", "closed")
OPEN_STATUSES = ("new", "open", "pending")
# status -> the statuses a ticket may move to by set_status ("open" from resolved / closed is a reopen)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "pending", "resolved", "closed"),
    "open": ("pending", "resolved", "closed"),
    "pending": ("open", "resolved", "closed"),
    "resolved": ("closed", "open"),
    "closed": ("open",),
}
# why a move is refused, by the status the ticket is in (and "new", which nothing goes back to)
_REFUSED = {"resolved": "ticket.resolved_moves", "closed": "ticket.closed_moves"}
PRIORITIES = ("low", "medium", "high", "critical")
CHANNELS = ("phone", "email", "chat", "web", "visit")
EVENT_KINDS = ("created", "reply", "note", "status", "assign", "priority", "merge", "reopen", "csat", "field")
BODY_MAX = 10_000
MAX_BULK = 500
SPEC = records.Spec(entity="ticket", obj="ticket", table="tickets", module="tickets", not_found="ticket.not_found")


def category_codes(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT code FROM option_lists WHERE list = 'ticket_category'").fetchall()]


def subcategory_codes(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT code FROM option_lists WHERE list = 'ticket_subcategory'").fetchall()]


def categories(con: duckdb.DuckDBPyConnection, include_inactive: bool = False) -> list[dict]:
    """The ticket categories (code, name_en, name_zh, active) in the admin's order."""
    return db.rows(con, "SELECT code, name_en, name_zh, position, active FROM option_lists "
                        "WHERE list = 'ticket_category' AND (active OR ?) ORDER BY position, code", [include_inactive])


def subcategories(con: duckdb.DuckDBPyConnection, category: str | None = None,
                  include_inactive: bool = False) -> list[dict]:
    """The sub-categories (code, name_en, name_zh, parent, active), of one category when given."""
    return db.rows(con, "SELECT code, name_en, name_zh, position, active, parent FROM option_lists "
                        "WHERE list = 'ticket_subcategory' AND (active OR ?) AND (? IS NULL OR parent = ?) "
                        "ORDER BY parent, position, code", [include_inactive, category, category])


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("subject", "text", "ticket.subject", required=True, max_len=200, tier="required"),
    Field("customer_id", "int", "ticket.customer", required=True, min=1, max=10**15, tier="required"),
    Field("description", "longtext", "ticket.description", max_len=BODY_MAX),
    Field("category", "choice", "ticket.category", options_from=category_codes),
    Field("sub_category", "choice", "ticket.sub_category", options_from=subcategory_codes),
    Field("priority", "choice", "ticket.priority", options=PRIORITIES, nullable=False),
    Field("channel", "choice", "ticket.channel", options=CHANNELS),
    Field("contact_id", "int", "ticket.contact", min=1, max=10**15),
    Field("order_id", "int", "ticket.order", min=1, max=10**15, tier="extra"),
    Field("product_id", "int", "ticket.product", min=1, max=10**15, tier="extra"),
    Field("team_id", "int", "ticket.team_id", min=1, max=10**15, tier="extra"),
    Field("resolution", "longtext", "ticket.resolution", max_len=2000, tier="extra"),
)}
# what the ticket page's edit form changes (status, assignee and team have their own actions)
FORM_FIELDS = ("subject", "description", "category", "sub_category", "priority", "channel", "contact_id",
               "order_id", "product_id")
_COLUMNS = set(FIELDS)
_BODY = Field("body", "longtext", "ticket.body", required=True, max_len=BODY_MAX)
_REASON = Field("reason", "longtext", "ticket.reopen_reason", required=True, max_len=2000)
_RESOLUTION = FIELDS["resolution"]


def _sla():
    from core import sla  # engineer S's SLA engine: imported when used

    return sla


# ---------------------------------------------------------------------------------------- reading
def record_id(value: Any) -> int:
    """A ticket id from a link, a form or a caller; anything else is NotFound."""
    return records.record_id(value, SPEC.not_found)


def _load(con, actor: Actor, ticket_id: Any, action: str = "view") -> dict:
    """The raw row of a live ticket the actor may `action` (the one service scope rule); NotFound
    otherwise (no leak of existence)."""
    ticket_id = record_id(ticket_id)
    where, params = access.service_predicate(con, actor, "tickets", action, "x")
    found = db.one(con, f"SELECT x.* FROM tickets x WHERE x.id = ? AND x.deleted_at IS NULL AND {where}",
                   [ticket_id] + params)
    if found is None:
        raise NotFound(SPEC.not_found)
    return found


def _names(con, row: dict) -> dict:
    """Names of what a ticket points at: small tables joined, large ones one key lookup each."""
    out = db.one(
        con,
        "SELECT a.name AS assignee_name, t.name AS team_name, cb.name AS created_by_name, "
        "p.name AS product_name, p.code AS product_code, "
        "cat.name_en AS category_name_en, cat.name_zh AS category_name_zh, "
        "sub.name_en AS sub_category_name_en, sub.name_zh AS sub_category_name_zh "
        "FROM (SELECT ?::BIGINT AS assignee_id, ?::BIGINT AS team_id, ?::BIGINT AS created_by, ?::BIGINT AS product_id, "
        "?::VARCHAR AS category, ?::VARCHAR AS sub_category) x "
        "LEFT JOIN users a ON a.id = x.assignee_id LEFT JOIN teams t ON t.id = x.team_id "
        "LEFT JOIN users cb ON cb.id = x.created_by LEFT JOIN products p ON p.id = x.product_id "
        "LEFT JOIN option_lists cat ON cat.list = 'ticket_category' AND cat.code = x.category "
        "LEFT JOIN option_lists sub ON sub.list = 'ticket_subcategory' AND sub.code = x.sub_category",
        [row["assignee_id"], row["team_id"], row.get("created_by"), row.get("product_id"), row["category"],
         row.get("sub_category")])
    one = lambda sql, key: None if key is None else db.scalar(con, sql, [key])  # noqa: E731
    customer = db.one(con, "SELECT name, level FROM customers WHERE id = ?", [row["customer_id"]]) \
        if row["customer_id"] is not None else None
    out["customer_name"] = customer["name"] if customer else None
    out["customer_level"] = customer["level"] if customer else None
    out["contact_name"] = one("SELECT name FROM contacts WHERE id = ?", row["contact_id"])
    out["order_no"] = one("SELECT order_no FROM orders WHERE id = ?", row.get("order_id"))
    out["parent_no"] = one("SELECT ticket_no FROM tickets WHERE id = ?", row.get("parent_id"))
    out["merged_into_no"] = one("SELECT ticket_no FROM tickets WHERE id = ?", row.get("merged_into"))
    # the tickets merged into this one and those following it up: two plain-AND branches (an OR is only
    # partly pushed into the scan: ~7 ms against ~1 at scale L)
    linked = db.rows(con, "SELECT id, ticket_no, TRUE AS merged FROM tickets WHERE merged_into = ? "
                          "UNION ALL SELECT id, ticket_no, FALSE FROM tickets WHERE parent_id = ? "
                          "AND deleted_at IS NULL AND merged_into IS DISTINCT FROM ? ORDER BY id",
                     [row["id"], row["id"], row["id"]])
    out["merged_here"] = [{"id": r["id"], "ticket_no": r["ticket_no"]} for r in linked if r["merged"]]
    out["follow_ups"] = [{"id": r["id"], "ticket_no": r["ticket_no"]} for r in linked if not r["merged"]]
    return out


def _sla_state(con, actor: Actor, ticket_id: int) -> dict:
    """sla_target, sla_due, sla_left_minutes, sla_used, sla_state of one ticket (core.sla.state_sql)."""
    sql, params = _sla().state_sql(con, actor.now, "SELECT * FROM tickets WHERE id = ?", [ticket_id])
    found = db.one(con, f"SELECT s.sla_target, s.sla_due, s.sla_left_minutes, s.sla_used, s.sla_state "
                        f"FROM ({sql}) s", params)
    return found or {"sla_target": None, "sla_due": None, "sla_left_minutes": None, "sla_used": None,
                     "sla_state": None}


def get_ticket(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any, action: str = "view") -> dict:
    """One ticket the actor may `action`, as the actor's role may read it (custom fields unpacked), with
    the names of its customer, contact, assignee, team, order, product, category, its parent and the
    ticket it was merged into (and those merged into it / following it up), and its SLA state
    (sla_target, sla_due, sla_left_minutes, sla_used, sla_state); NotFound outside the actor's scope."""
    row = _load(con, actor, ticket_id, action)
    out = fields.mask(fields.definitions(con, "ticket"), actor.role, row)
    out.update(_names(con, row))
    out.update(_sla_state(con, actor, row["id"]))
    return out


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any, action: str) -> bool:
    """Whether the actor may `action` (edit, assign) this ticket: the page shows the action or not."""
    if not access.can(con, actor, "tickets", action):
        return False
    try:
        _load(con, actor, ticket_id, action)
    except NotFound:
        return False
    return True


def can_create(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any = None) -> bool:
    """Whether the actor may open tickets (for this customer, when given)."""
    if not access.can(con, actor, "tickets", "create"):
        return False
    if customer_id is None:
        return True
    try:
        _customer(con, actor, customer_id)
    except (NotFound, PermissionDenied):
        return False
    return True


def can_assign(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    """The service lead assigns tickets to others (in bulk): an admin, a user with the tickets `assign`
    right who leads a team (teams.lead_id), or, while the own team names no lead, anyone of it with that
    right. Everyone else claims tickets (`claim`)."""
    if actor.is_admin:
        return True
    if not access.can(con, actor, "tickets", "assign"):
        return False
    if db.scalar(con, "SELECT count(*) FROM teams WHERE lead_id = ? AND deleted_at IS NULL", [actor.id]):
        return True
    if actor.team_id is None:
        return False
    return db.scalar(con, "SELECT lead_id FROM teams WHERE id = ?", [actor.team_id]) is None


def events(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any) -> pl.DataFrame:
    """The ticket's conversation, oldest first: id, kind (created, reply, note, status, assign, priority,
    merge, reopen, csat, field), from_value, to_value, body, channel, user_id, user_name, occurred_at,
    moved_from (the ticket an event came from in a merge) and its ticket_no, and for assign events the
    names of the users (from_name, to_name)."""
    row = _load(con, actor, ticket_id, "view")
    return _events(con, row["id"])


def _events(con, ticket_id: int) -> pl.DataFrame:
    # the ticket's rows first (one scan of ticket_events), then names joined to those few rows; the numbers of
    # the tickets events were merged from come from the (rare) ids themselves, not a join of every ticket
    found = db.frame(
        con,
        "WITH e AS (SELECT id, kind, from_value, to_value, body, channel, user_id, occurred_at, moved_from "
        "  FROM ticket_events WHERE ticket_id = ?) "
        "SELECT e.id, e.kind, e.from_value, e.to_value, e.body, e.channel, e.user_id, u.name AS user_name, "
        "e.occurred_at, e.moved_from, NULL::VARCHAR AS moved_from_no, "
        "CASE WHEN e.kind = 'assign' THEN fu.name END AS from_name, "
        "CASE WHEN e.kind = 'assign' THEN tu.name END AS to_name "
        "FROM e LEFT JOIN users u ON u.id = e.user_id "
        "LEFT JOIN users fu ON e.kind = 'assign' AND fu.id = TRY_CAST(e.from_value AS BIGINT) "
        "LEFT JOIN users tu ON e.kind = 'assign' AND tu.id = TRY_CAST(e.to_value AS BIGINT) "
        "ORDER BY e.occurred_at, e.id",
        [ticket_id])
    sources = [i for i in found["moved_from"].unique().to_list() if i is not None]
    if sources:
        numbers = dict(con.execute("SELECT id, ticket_no FROM tickets WHERE id IN (SELECT unnest(?))",
                                   [sources]).fetchall())
        found = found.with_columns(pl.col("moved_from").replace_strict(numbers, default=None, return_dtype=pl.String)
                                   .alias("moved_from_no"))
    return found


def customer_history(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any,
                     exclude_ticket: int | None = None, limit: int = 50) -> dict[str, pl.DataFrame | None]:
    """What the customer did before, read-only, as the actor's permissions allow: `orders`, `deals`,
    `tickets` (earlier ones, not `exclude_ticket`), `followups`, newest first; None for a module the
    actor may not view (the page leaves it out). NotFound for a customer the actor cannot see."""
    cid = records.record_id(customer_id, "customer.not_found")
    scopes = access.scopes(con, actor, ("customers", "orders", "deals", "activities", "tickets"))
    out: dict[str, pl.DataFrame | None] = {"orders": None, "deals": None, "tickets": None, "followups": None}
    if scopes["tickets"] != "none":
        branches = access.service_branches(con, actor, "tickets", "view", "x")
        parts, args = [], []
        for cond, params in branches:  # the customer's rows under each scope branch, the top-N, then the names
            parts.append("SELECT x.id, x.ticket_no, x.subject, x.status, x.priority, x.category, x.opened_at, "
                         "x.resolved_at, x.satisfaction, x.assignee_id FROM tickets x WHERE x.customer_id = ? "
                         f"AND x.deleted_at IS NULL AND x.id IS DISTINCT FROM ? AND {cond}")
            args += [cid, exclude_ticket] + params
        out["tickets"] = db.frame(
            con,
            f"WITH k AS (SELECT * FROM ({' UNION ALL '.join(parts)}) b ORDER BY b.opened_at DESC, b.id DESC LIMIT ?) "
            f"SELECT k.id, k.ticket_no, k.subject, k.status, k.priority, k.category, k.opened_at, k.resolved_at, "
            f"k.satisfaction, a.name AS assignee_name FROM k LEFT JOIN users a ON a.id = k.assignee_id "
            f"ORDER BY k.opened_at DESC, k.id DESC", args + [limit])
    if scopes["customers"] == "none":
        return out
    try:
        _customer(con, actor, cid)
    except NotFound:
        return out  # the tickets a rule lets the actor see, nothing of a customer they cannot open
    # the newest rows first under each module's own scope, names joined to those few rows only (a scan of
    # the customer's rows in 2M orders / 5M follow-ups at scale L, no join before the limit)
    if scopes["orders"] != "none":
        where, params = access.predicate(con, actor, "orders", "view", "x")
        out["orders"] = db.frame(
            con, f"SELECT x.id, x.order_no, x.ordered_at, x.status, x.amount::DOUBLE AS amount, x.currency "
                 f"FROM orders x WHERE x.customer_id = ? AND x.deleted_at IS NULL AND {where} "
                 f"ORDER BY x.ordered_at DESC, x.id DESC LIMIT ?", [cid] + params + [limit])
    if scopes["deals"] != "none":  # the columns of deals.customer_deals, names joined after the limit
        where, params = access.predicate(con, actor, "deals", "view", "x")
        out["deals"] = db.frame(
            con, f"WITH d AS (SELECT x.id, x.name, x.stage, x.amount::DOUBLE AS amount, x.currency, x.probability, "
                 f"x.expected_close, x.closed_on, x.owner_id, x.updated_at FROM deals x "
                 f"WHERE x.customer_id = ? AND x.deleted_at IS NULL AND {where} "
                 f"ORDER BY x.updated_at DESC, x.id DESC LIMIT ?) "
                 f"SELECT d.id, d.name, d.stage, s.name_en AS stage_name_en, s.name_zh AS stage_name_zh, d.amount, "
                 f"d.currency, d.probability, d.expected_close, d.closed_on, o.name AS owner_name, d.updated_at "
                 f"FROM d LEFT JOIN pipeline_stages s ON s.code = d.stage LEFT JOIN users o ON o.id = d.owner_id "
                 f"ORDER BY d.updated_at DESC, d.id DESC", [cid] + params + [limit])
    if scopes["activities"] != "none":
        where, params = access.predicate(con, actor, "activities", "view", "a")
        out["followups"] = db.frame(
            # the customer's rows materialised by one scan of the 5M follow-ups, then the top-N over those few
            # (a plain top-N scans the table twice: once for the sort keys, once for the wide columns)
            con, f"WITH c AS MATERIALIZED (SELECT a.id, a.kind, a.subject, a.outcome, a.occurred_at, a.user_id "
                 f"FROM activities a WHERE a.customer_id = ? AND a.deleted_at IS NULL AND {where}), "
                 f"f AS (SELECT * FROM c ORDER BY c.occurred_at DESC, c.id DESC LIMIT ?) "
                 f"SELECT f.*, u.name AS user_name FROM f LEFT JOIN users u ON u.id = f.user_id "
                 f"ORDER BY f.occurred_at DESC, f.id DESC", [cid] + params + [limit])
    return out


def page_data(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any) -> dict:
    """What the ticket page reads: the ticket, its conversation and the customer's history (the figure
    "ticket page with 50 events and the customer's history" times this)."""
    ticket = get_ticket(con, actor, ticket_id)
    history = customer_history(con, actor, ticket["customer_id"], exclude_ticket=ticket["id"]) \
        if ticket.get("customer_id") is not None else {}
    return {"ticket": ticket, "events": _events(con, ticket["id"]), "history": history}  # scope checked above


# ---------------------------------------------------------------------------------------- helpers
_customer = records.visible_customer


def _check_links(con, values: dict, customer_id: int) -> None:
    """Contact and order must be the customer's; the product one of the catalogue; the sub-category one
    of the category's; the team a live team."""
    if values.get("contact_id") is not None and not db.scalar(
            con, "SELECT count(*) FROM contacts WHERE id = ? AND customer_id = ? AND deleted_at IS NULL",
            [values["contact_id"], customer_id]):
        raise ValidationError("ticket.bad_contact", field="ticket.contact")
    if values.get("order_id") is not None and not db.scalar(
            con, "SELECT count(*) FROM orders WHERE id = ? AND customer_id = ? AND deleted_at IS NULL",
            [values["order_id"], customer_id]):
        raise ValidationError("ticket.bad_order", field="ticket.order")
    if values.get("product_id") is not None and not db.scalar(
            con, "SELECT count(*) FROM products WHERE id = ? AND deleted_at IS NULL", [values["product_id"]]):
        raise ValidationError("field.bad_choice", field="ticket.product", value=str(values["product_id"]))
    if values.get("team_id") is not None and not db.scalar(
            con, "SELECT count(*) FROM teams WHERE id = ? AND deleted_at IS NULL", [values["team_id"]]):
        raise ValidationError("field.bad_choice", field="ticket.team_id", value=str(values["team_id"]))
    sub = values.get("sub_category")
    if sub is not None:
        parent = db.scalar(con, "SELECT parent FROM option_lists WHERE list = 'ticket_subcategory' AND code = ?", [sub])
        if values.get("category") is None or parent != values["category"]:
            raise ValidationError("ticket.subcategory_mismatch", field="ticket.sub_category")


def _event(con, actor: Actor, ticket_id: int, kind: str, from_value: Any = None, to_value: Any = None,
           body: str | None = None, channel: str | None = None) -> int:
    """One event of the ticket at the unit's clock, never before the ticket's latest event: a unit run again
    after a conflict keeps its click time (actor.now), which can be earlier than the events of the unit
    that won; its events take the winner's time instead, so the conversation (occurred_at, id) reads in
    the order the changes took effect and its last status event is the ticket's status."""
    event_id = db.next_id(con, "ticket_events")
    con.execute("INSERT INTO ticket_events (id, ticket_id, kind, from_value, to_value, body, user_id, occurred_at, "
                "channel) SELECT ?, ?, ?, ?, ?, ?, ?, "
                "greatest(?::TIMESTAMP, coalesce(max(occurred_at), ?::TIMESTAMP)), ? "
                "FROM ticket_events WHERE ticket_id = ?",
                [event_id, ticket_id, kind, None if from_value is None else str(from_value),
                 None if to_value is None else str(to_value), body, actor.id, actor.now, actor.now, channel,
                 ticket_id])
    return event_id


add_event = _event  # for the services that write into a ticket's conversation (core.feedback: the CSAT)


def _version(actor: Actor, old: dict) -> dt.datetime:
    return max(actor.now, old["updated_at"] + dt.timedelta(microseconds=1))


def _update(con, actor: Actor, old: dict, sets: dict[str, Any]) -> None:
    """Write columns of one ticket (fixed names of this module) with a version that moves forward."""
    sets = {**sets, "updated_at": _version(actor, old)}
    con.execute(f"UPDATE tickets SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",  # sql-ok: fixed keys
                list(sets.values()) + [old["id"]])


def _stale(con, old: dict, seen: Any, role: str) -> None:
    records.refuse_stale(con, SPEC, fields.definitions(con, "ticket"), old, seen, role)


def _user(con, user_id: Any) -> dict:
    """An active user who may work tickets (edit), or a ValidationError."""
    if user_id is None or isinstance(user_id, bool) or not isinstance(user_id, int):
        raise ValidationError("ticket.bad_assignee")
    found = db.one(con, "SELECT id, name, role, team_id FROM users WHERE id = ? AND active AND deleted_at IS NULL",
                   [user_id])
    if found is None or access.role_scope(con, found["role"], "tickets", "edit") == "none":
        raise ValidationError("ticket.bad_assignee")
    return found


def assignees(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """Who tickets may be given to (id, name, team_name): active users whose role works tickets."""
    roles = [r for r in access.ROLES if access.role_scope(con, r, "tickets", "edit") != "none"]
    return db.rows(con, "SELECT u.id, u.name, t.name AS team_name FROM users u LEFT JOIN teams t ON t.id = u.team_id "
                        "WHERE u.active AND u.deleted_at IS NULL AND u.role IN (SELECT unnest(?)) "
                        "ORDER BY u.role <> 'service', u.name, u.id", [roles])


def teams(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The live teams (id, name) a ticket's queue may be."""
    return db.rows(con, "SELECT id, name FROM teams WHERE deleted_at IS NULL ORDER BY name, id")


# ---------------------------------------------------------------------------------------- creating
def create_ticket(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict[str, Any], assignee_id: int | None = None,
                  *, link: dict[str, Any] | None = None, checked: bool = False) -> int:
    """A new ticket (status new) for a customer the actor may see (NotFound otherwise). Its number is
    TK + the id; its queue the team given, else the service team (core.handoff.service_team); its SLA
    targets and due times from core.sla.plan with the priority (medium by default) and the customer's
    level. A 'created' event and the audit rows in the same unit. Giving it to someone else than the
    actor needs `can_assign`. `link` carries columns set by the system (deal_id, purchased_on,
    parent_id); `checked`: the caller already checked the right on the customer (the won hand-off,
    which a rep fills in for a customer they may edit)."""
    if not checked:
        access.require(con, actor, "tickets", "create")
    if not isinstance(values, dict):
        raise ValidationError("field.bad_values")
    if any(k in values for k in ("status", "assignee_id")):
        raise ValidationError("field.unknown", value="status" if "status" in values else "assignee_id")
    _defs, own, custom = records.prepare(con, actor, SPEC, values, creating=True)
    link = {k: v for k, v in (link or {}).items() if k in ("deal_id", "purchased_on", "parent_id")}
    if assignee_id is not None and assignee_id != actor.id and not can_assign(con, actor):
        raise PermissionDenied("ticket.assign_denied")

    def work():
        if checked:
            customer = db.one(con, "SELECT id, name, level FROM customers WHERE id = ? AND deleted_at IS NULL",
                              [own["customer_id"]])
            if customer is None:
                raise NotFound("customer.not_found")
        else:
            customer = _customer(con, actor, own["customer_id"])
        _check_links(con, own, customer["id"])
        assignee = _user(con, assignee_id) if assignee_id is not None else None
        team = own.get("team_id")
        if team is None:
            from core.handoff import service_team

            team = service_team(con)
        priority = own.get("priority") or "medium"
        plan = _sla().plan(con, actor.now, priority, customer.get("level"))
        ticket_id = db.next_id(con, "tickets")
        row = {**own, **link, "id": ticket_id, "ticket_no": f"TK{ticket_id:07d}", "priority": priority,
               "status": "new", "assignee_id": assignee["id"] if assignee else None, "team_id": team,
               "opened_at": actor.now, "status_changed_at": actor.now,
               "first_response_minutes": plan.get("first_response_minutes"),
               "resolution_minutes": plan.get("resolution_minutes"),
               "first_response_due": plan.get("first_response_due"), "resolution_due": plan.get("resolution_due"),
               "custom": json.dumps(custom, ensure_ascii=False) if custom else None,
               "created_by": actor.id, "created_at": actor.now, "updated_at": actor.now}
        records.insert(con, "tickets", row)
        _event(con, actor, ticket_id, "created", None, "new", channel=own.get("channel"))
        if assignee is not None:
            _event(con, actor, ticket_id, "assign", None, assignee["id"])
        audit.record(con, actor, "create", "ticket", ticket_id, {
            k: (None, v) for k, v in {**own, **custom, **link, "priority": priority, "team_id": team,
                                      "assignee_id": row["assignee_id"]}.items() if v is not None})
        return ticket_id

    return db.write(con, work)


# ---------------------------------------------------------------------------------------- working
def _body(value: Any, f: Field = _BODY) -> str:
    text = fields.clean_value(None, f, value)
    if text is None:
        raise ValidationError("field.required", field=f.label)
    return text


def _channel(value: Any) -> str | None:
    if value is None:
        return None
    return fields.clean_value(None, FIELDS["channel"], value)


def reply(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any, body: Any, status: str | None = None,
          channel: str | None = None) -> int:
    """A reply to the customer (by phone, e-mail…: `channel`), stored as text. The first reply by an
    agent is the ticket's first response (first_response_at); a new ticket becomes open, or takes
    `status` when given (the same rules as set_status). Returns the event's id."""
    access.require(con, actor, "tickets", "edit")
    ticket_id = record_id(ticket_id)
    text = _body(body)
    chan = _channel(channel)
    if status is not None and status not in STATUSES:
        raise ValidationError("field.bad_choice", field="ticket.status", value=fields.short(status))

    def work():
        old = _load(con, actor, ticket_id, "edit")
        if old["status"] == "closed":
            raise ValidationError("ticket.closed_no_reply")
        event_id = _event(con, actor, old["id"], "reply", body=text, channel=chan)
        sets: dict[str, Any] = {}
        if old["first_response_at"] is None:
            sets["first_response_at"] = actor.now
        _update(con, actor, old, sets)
        target = status or ("open" if old["status"] == "new" else None)
        if target is not None and target != old["status"]:
            _move(con, actor, {**old, **sets, "updated_at": _version(actor, old)}, target)
        if sets:
            audit.record(con, actor, "update", "ticket", old["id"], {"first_response_at": (None, actor.now)})
        return event_id

    return db.write(con, work)


def add_note(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any, body: Any) -> int:
    """An internal note (never shown to the customer; never a first response). Returns the event's id."""
    access.require(con, actor, "tickets", "edit")
    ticket_id = record_id(ticket_id)
    text = _body(body)

    def work():
        old = _load(con, actor, ticket_id, "edit")
        return _event(con, actor, old["id"], "note", body=text)

    return db.write(con, work)


def _reopen_window(con, old: dict, now: dt.datetime) -> bool:
    """Whether a resolved / closed ticket is still within service.reopen_days of its resolution."""
    since = old.get("resolved_at") or old.get("closed_at")
    if since is None:
        return True
    return now <= since + dt.timedelta(days=int(settings.get(con, "service.reopen_days")))


def _move(con, actor: Actor, old: dict, status: str, resolution: str | None = None,
          reason: str | None = None) -> dict:
    """Move a loaded ticket to `status` inside the caller's unit: the allowed moves only, the SLA clock
    paused / resumed, resolved_at / closed_at / reopen columns, a 'status' (or 'reopen') event, audit."""
    current = old["status"]
    if status == current:
        return {}
    if status not in TRANSITIONS.get(current, ()):
        raise ValidationError(_REFUSED.get(current, "ticket.no_back_to_new"))
    sla = _sla()
    reopening = current in ("resolved", "closed") and status == "open"
    if reopening:
        if old.get("merged_into") is not None:
            raise ValidationError("ticket.merged_no_reopen")
        if not _reopen_window(con, old, actor.now):
            raise ValidationError("ticket.reopen_window_passed", days=int(settings.get(con, "service.reopen_days")))
    if current == "pending":
        sla.resume(con, old["id"], actor.now)
    sets: dict[str, Any] = {"status": status, "status_changed_at": actor.now}
    if status == "resolved":
        sets["resolved_at"] = actor.now
        if resolution is not None:
            sets["resolution"] = resolution
    if status == "closed":
        sets["closed_at"] = actor.now
        if resolution is not None:
            sets["resolution"] = resolution
    if reopening:
        sets.update(resolved_at=None, closed_at=None, reopened_at=actor.now,
                    reopen_count=int(old.get("reopen_count") or 0) + 1)
    fresh = db.one(con, "SELECT updated_at FROM tickets WHERE id = ?", [old["id"]])
    _update(con, actor, {**old, "updated_at": fresh["updated_at"]}, sets)
    if status == "pending":
        sla.pause(con, old["id"], actor.now)
    if reopening:  # the resolution clock starts again at the reopen, with the full target (core.sla.restart)
        sla.restart(con, old["id"], actor.now)
        _event(con, actor, old["id"], "reopen", current, status, body=reason)
    else:
        _event(con, actor, old["id"], "status", current, status, body=resolution)
    diff = {k: (old.get(k), v) for k, v in sets.items() if old.get(k) != v and k != "status_changed_at"}
    audit.record(con, actor, "reopen" if reopening else "update", "ticket", old["id"], diff)
    return diff


def set_status(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any, status: str, resolution: Any = None,
               seen: dict | None = None) -> dict:
    """Move a ticket along new -> open -> pending -> resolved -> closed (TRANSITIONS). Pending pauses the
    SLA clock, leaving it resumes it; resolved takes an optional resolution text; resolved / closed ->
    open is a reopen, within service.reopen_days of the resolution (later: `reopen`, a new linked
    ticket). Anything else (closed -> pending, back to new…) is a ValidationError saying what may be
    done. `seen`: the ticket as the user saw it (a change since is a Conflict). Returns what changed."""
    access.require(con, actor, "tickets", "edit")
    ticket_id = record_id(ticket_id)
    if not isinstance(status, str) or status not in STATUSES:
        raise ValidationError("field.bad_choice", field="ticket.status", value=fields.short(status))
    text = fields.clean_value(None, _RESOLUTION, resolution) if resolution is not None else None

    def work():
        old = _load(con, actor, ticket_id, "edit")
        _stale(con, old, seen, actor.role)
        return _move(con, actor, old, status, resolution=text)

    return db.write(con, work)


def update_ticket(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any, changes: dict[str, Any],
                  seen: dict | None = None) -> dict:
    """Edit a ticket's fields (subject, description, category and sub-category, priority, channel,
    contact, order, product, custom fields); only what differs is written, each change a ticket event
    ('priority' or 'field') and an audit row. A priority change re-plans the SLA (core.sla.replan).
    The customer is fixed; status, assignee and team have their own actions."""
    access.require(con, actor, "tickets", "edit")
    ticket_id = record_id(ticket_id)
    if not isinstance(changes, dict):
        raise ValidationError("field.bad_values")
    for key, message in (("customer_id", "ticket.customer_fixed"), ("status", "ticket.status_by_action"),
                         ("team_id", "ticket.assign_by_action"), ("assignee_id", "ticket.assign_by_action")):
        if key in changes:
            raise ValidationError(message)
    defs, own, custom = records.prepare(con, actor, SPEC, changes, creating=False)

    def work():
        old = _load(con, actor, ticket_id, "edit")
        _stale(con, old, seen, actor.role)
        diff, new_custom = records.changes(old, own, custom)
        if not diff:
            return {}
        merged = {k: old.get(k) for k in ("contact_id", "order_id", "product_id", "category", "sub_category")}
        merged.update({k: v for k, (_o, v) in diff.items() if k in merged})
        if any(k in diff for k in ("contact_id", "order_id", "product_id", "category", "sub_category")):
            checks = {k: v for k, v in merged.items() if k in diff or k in ("category", "sub_category")}
            _check_links(con, checks, old["customer_id"])
        records.write_changes(con, actor, SPEC, old, diff, new_custom, _COLUMNS)
        for name, (before, after) in diff.items():
            if name == "priority":
                _event(con, actor, old["id"], "priority", before, after)
            else:
                _event(con, actor, old["id"], "field", _short(before), _short(after), body=name)
        if "priority" in diff:
            _sla().replan(con, old["id"], actor.now)
        return diff

    return db.write(con, work)


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _ids(ticket_ids: Any) -> list[int]:
    if isinstance(ticket_ids, (int, str)) and not isinstance(ticket_ids, bool):
        ticket_ids = [ticket_ids]
    if isinstance(ticket_ids, (bytes, dict)) or not isinstance(ticket_ids, (list, tuple, set)) \
            or not 0 < len(ticket_ids) <= MAX_BULK:
        raise ValidationError("bulk.bad_selection", max=MAX_BULK)
    return sorted({record_id(i) for i in ticket_ids})


def assign(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_ids: Any, assignee_id: int | None,
           team_id: int | None = None) -> int:
    """The service lead (`can_assign`) gives tickets to an agent (None: back to the queue), in bulk:
    the queue (team) becomes `team_id`, else the agent's team, else stays. One 'assign' event per
    ticket that changed, audit rows; tickets outside the actor's assign scope are skipped. Returns how
    many changed."""
    access.require(con, actor, "tickets", "assign")
    if not can_assign(con, actor):
        raise PermissionDenied("ticket.assign_denied")
    ids = _ids(ticket_ids)
    if team_id is not None and (isinstance(team_id, bool) or not isinstance(team_id, int)):
        raise ValidationError("field.bad_choice", field="ticket.team_id", value=fields.short(team_id))

    def work():
        who = _user(con, assignee_id) if assignee_id is not None else None
        team = team_id
        if team is not None:
            _check_links(con, {"team_id": team}, 0)
        elif who is not None:
            team = who["team_id"]
        where, params = access.service_predicate(con, actor, "tickets", "assign", "x")
        found = db.rows(con, f"SELECT x.id, x.assignee_id, x.team_id, x.status, x.updated_at FROM tickets x "
                             f"WHERE x.id IN (SELECT unnest(?)) AND x.deleted_at IS NULL AND {where}", [ids] + params)
        if not found and len(ids) == 1:
            raise NotFound(SPEC.not_found)
        new_assignee = who["id"] if who else None
        moved = [r for r in found if r["assignee_id"] != new_assignee or (team is not None and r["team_id"] != team)]
        if not moved:
            return 0
        moved_ids = [r["id"] for r in moved]
        con.execute("UPDATE tickets SET assignee_id = ?, team_id = coalesce(?, team_id), "
                    "updated_at = greatest(updated_at + INTERVAL 1 MICROSECOND, ?) WHERE id IN (SELECT unnest(?))",
                    [new_assignee, team, actor.now, moved_ids])
        # one event per ticket, never dated before the ticket's latest event (see `_event`)
        con.execute("INSERT INTO ticket_events (id, ticket_id, kind, from_value, to_value, user_id, occurred_at) "
                    "SELECT nextval('seq_ticket_events'), m.tid, 'assign', m.prev, ?, ?, "
                    "greatest(?::TIMESTAMP, coalesce(e.last, ?::TIMESTAMP)) "
                    "FROM (SELECT unnest(?::BIGINT[]) AS tid, unnest(?::VARCHAR[]) AS prev) m "
                    "LEFT JOIN (SELECT ticket_id, max(occurred_at) AS last FROM ticket_events "
                    "           WHERE ticket_id IN (SELECT unnest(?::BIGINT[])) GROUP BY ticket_id) e "
                    "ON e.ticket_id = m.tid",
                    [None if new_assignee is None else str(new_assignee), actor.id, actor.now, actor.now,
                     moved_ids, [None if r["assignee_id"] is None else str(r["assignee_id"]) for r in moved],
                     moved_ids])
        for before in {r["assignee_id"] for r in moved}:
            audit.record_many(con, actor, "reassign", "ticket", [r["id"] for r in moved if r["assignee_id"] == before],
                              field="assignee_id", old=before, new=new_assignee)
        return len(moved)

    return db.write(con, work)


def claim(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any) -> dict:
    """The actor takes an unassigned ticket (it becomes theirs; a ticket without a queue joins the
    actor's team). Someone else's ticket is a Conflict naming who has it; the own one is a no-op."""
    access.require(con, actor, "tickets", "edit")
    ticket_id = record_id(ticket_id)

    def work():
        old = _load(con, actor, ticket_id, "edit")
        if old["assignee_id"] == actor.id:
            return {}
        if old["assignee_id"] is not None:
            who = db.scalar(con, "SELECT name FROM users WHERE id = ?", [old["assignee_id"]])
            raise Conflict("ticket.already_claimed", by=who or "—")
        if old["status"] == "closed":
            raise ValidationError("ticket.closed_no_claim")
        sets: dict[str, Any] = {"assignee_id": actor.id}
        if old["team_id"] is None and actor.team_id is not None:
            sets["team_id"] = actor.team_id
        _update(con, actor, old, sets)
        _event(con, actor, old["id"], "assign", None, actor.id)
        diff = {k: (old[k], v) for k, v in sets.items()}
        audit.record(con, actor, "update", "ticket", old["id"], diff)
        return diff

    return db.write(con, work)


def merge(con: duckdb.DuckDBPyConnection, actor: Actor, duplicate_id: Any, into_id: Any) -> dict:
    """Merge a duplicate into another ticket of the same customer: every event of the duplicate moves
    to the other (moved_from keeps where it came from), the duplicate closes with merged_into set; a
    'merge' event on both and the audit rows. Returns {"into": id, "moved": events moved}."""
    access.require(con, actor, "tickets", "edit")
    dup_id, target_id = record_id(duplicate_id), record_id(into_id)
    if dup_id == target_id:
        raise ValidationError("ticket.merge_self")

    def work():
        dup = _load(con, actor, dup_id, "edit")
        into = _load(con, actor, target_id, "edit")
        if dup["merged_into"] is not None:
            raise ValidationError("ticket.already_merged")
        if into["merged_into"] is not None:
            raise ValidationError("ticket.merge_into_merged")
        if dup["customer_id"] != into["customer_id"]:
            raise ValidationError("ticket.merge_other_customer")
        moved = db.scalar(con, "SELECT count(*) FROM ticket_events WHERE ticket_id = ?", [dup["id"]])
        con.execute("UPDATE ticket_events SET ticket_id = ?, moved_from = coalesce(moved_from, ?) WHERE ticket_id = ?",
                    [into["id"], dup["id"], dup["id"]])
        if dup["status"] == "pending":
            _sla().resume(con, dup["id"], actor.now)
        fresh = db.one(con, "SELECT updated_at FROM tickets WHERE id = ?", [dup["id"]])
        sets = {"merged_into": into["id"], "status": "closed", "status_changed_at": actor.now}
        if dup["status"] != "closed":
            sets["closed_at"] = actor.now
        _update(con, actor, {**dup, "updated_at": fresh["updated_at"]}, sets)
        if dup["first_response_at"] is not None and (into["first_response_at"] is None
                                                     or dup["first_response_at"] < into["first_response_at"]):
            _update(con, actor, into, {"first_response_at": dup["first_response_at"]})
        else:
            _update(con, actor, into, {})
        _event(con, actor, dup["id"], "merge", dup["status"], into["id"])
        _event(con, actor, into["id"], "merge", dup["id"], into["id"])
        audit.record(con, actor, "merge", "ticket", dup["id"], {"merged_into": (None, into["id"]),
                                                                "status": (dup["status"], "closed")})
        audit.record(con, actor, "merge", "ticket", into["id"], {"merged_from": (None, dup["id"])})
        return {"into": into["id"], "moved": int(moved)}

    return db.write(con, work)


def reopen(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any, reason: Any) -> int:
    """Reopen a resolved or closed ticket, saying why: within service.reopen_days of its resolution the
    same ticket opens again (returns its id); later a NEW ticket for the same customer and matter,
    linked by parent_id, is opened (returns the new id; the old one gets a 'reopen' event naming it)."""
    access.require(con, actor, "tickets", "edit")
    ticket_id = record_id(ticket_id)
    why = _body(reason, _REASON)

    def work():
        old = _load(con, actor, ticket_id, "edit")
        if old["status"] not in ("resolved", "closed"):
            raise ValidationError("ticket.not_closed")
        if old["merged_into"] is not None:
            raise ValidationError("ticket.merged_no_reopen")
        if _reopen_window(con, old, actor.now):
            _move(con, actor, old, "open", reason=why)
            return old["id"]
        values = {k: old[k] for k in ("subject", "customer_id", "category", "sub_category", "priority", "channel",
                                      "contact_id", "order_id", "product_id", "team_id") if old.get(k) is not None}
        values["description"] = why
        # the follow-up is opened for the same customer the actor works: the rights were checked above
        new_id = create_ticket(con, actor, values, link={"parent_id": old["id"]}, checked=True)
        _event(con, actor, old["id"], "reopen", old["status"], new_id, body=why)
        audit.record(con, actor, "reopen", "ticket", old["id"], {"follow_up": (None, new_id)})
        return new_id

    return db.write(con, work)


def delete_ticket(con: duckdb.DuckDBPyConnection, actor: Actor, ticket_id: Any) -> None:
    """Move a ticket to the recycle bin (needs the tickets delete scope over it)."""
    from core import recycle

    access.require(con, actor, "tickets", "delete")
    recycle.delete(con, actor, "ticket", [record_id(ticket_id)])


def open_count(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> int:
    """How many open tickets of the customer the actor may see."""
    cid = records.record_id(customer_id, "customer.not_found")
    where, params = access.service_predicate(con, actor, "tickets", "view", "x")
    return int(db.scalar(con, f"SELECT count(*) FROM tickets x WHERE x.customer_id = ? AND x.deleted_at IS NULL "
                              f"AND x.status IN (SELECT unnest(?)) AND {where}",
                         [cid, list(OPEN_STATUSES)] + params))


def list_open(con: duckdb.DuckDBPyConnection, actor: Actor, limit: int = 200) -> pl.DataFrame:
    """The open tickets the actor may see, oldest first (a plain list; the queues are core.ticket_queue)."""
    parts, args = [], []
    for cond, params in access.service_branches(con, actor, "tickets", "view", "x"):
        parts.append(f"SELECT x.id FROM tickets x WHERE x.status IN ('new', 'open', 'pending') "
                     f"AND x.deleted_at IS NULL AND {cond}")
        args += params
    return db.frame(
        con,
        f"WITH k AS (SELECT t.id, t.ticket_no, t.subject, t.status, t.priority, t.customer_id, t.assignee_id, "
        f"t.opened_at FROM tickets t WHERE t.id IN ({' UNION ALL '.join(parts)}) ORDER BY t.opened_at, t.id LIMIT ?) "
        f"SELECT k.*, c.name AS customer_name, a.name AS assignee_name FROM k "
        f"LEFT JOIN customers c ON c.id = k.customer_id LEFT JOIN users a ON a.id = k.assignee_id "
        f"ORDER BY k.opened_at, k.id", args + [max(1, min(int(limit), 1000))])


fields.register("ticket", FIELDS)


__all__ = ["STATUSES", "OPEN_STATUSES", "TRANSITIONS", "FIELDS", "create_ticket", "get_ticket", "events", "reply",
           "add_note", "set_status", "update_ticket", "assign", "claim", "merge", "reopen", "customer_history",
           "page_data", "can_assign", "can_create", "allowed"]
