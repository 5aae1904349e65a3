"""Leads (线索), kept apart from customers (线索客户分离): create, edit, list with filters and saved views,
disqualify with a reason, convert to a customer (and a deal) carrying every follow-up and its history.

A lead's phone is a key in phone_keys like a customer's, so two reps never chase the same person (撞单);
the duplicate guard (core.dedup) runs before a lead is saved.
"""
from __future__ import annotations

import json
from typing import Any

import duckdb
import polars as pl

from core import access, audit, contacts, customers, db, dedup, fields, filters, listing, options, records
from core.context import Actor
from core.errors import ValidationError
from core.fields import Field

OPEN = ("new", "contacted", "qualified")
STATUSES = OPEN + ("converted", "invalid")

FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("name", "text", "lead.name", required=True, max_len=100, tier="required"),
    Field("company", "text", "lead.company", max_len=200),
    Field("title", "text", "lead.title", max_len=100),
    Field("phone", "phone", "lead.phone", max_len=40),
    Field("email", "email", "lead.email", max_len=254),
    Field("source", "choice", "lead.source", options_from=lambda con: options.codes(con, "source")),
    Field("status", "choice", "lead.status", options=OPEN, nullable=False),
    Field("province", "text", "lead.province", max_len=50),
    Field("city", "text", "lead.city", max_len=50),
    Field("industry", "text", "lead.industry", max_len=100, tier="extra"),
    Field("notes", "longtext", "lead.notes", max_len=2000, tier="extra"),
    Field("next_followup_at", "datetime", "lead.next_followup_at"),
)}
SPEC = records.Spec(entity="lead", obj="lead", table="leads", module="leads", not_found="lead.not_found")
LIST = listing.ListSpec(
    module="leads", table="leads",
    columns="x.id, x.name, x.company, x.title, x.phone, x.email, x.source, x.status, x.province, x.city, "
            "x.owner_id, o.name AS owner_name, x.team_id, t.name AS team_name, (x.owner_id IS NULL) AS in_pool, "
            "x.last_activity_at, x.next_followup_at, x.created_at, x.updated_at, x.converted_customer_id",
    joins="LEFT JOIN users o ON o.id = x.owner_id LEFT JOIN teams t ON t.id = x.team_id",
    sorts={**{s: (f"x.{s}", "") for s in ("updated_at", "created_at", "name", "company", "status",
                                           "last_activity_at", "next_followup_at")},
           "owner_name": ("o.name", "LEFT JOIN users o ON o.id = x.owner_id")},
)
SORTS = tuple(LIST.sorts)
_FILTER_KEYS = {"q", "status", "source", "holder", "conditions", "created_from", "created_to"}


def _filters(con, actor: Actor, given: Any) -> tuple[list[str], list]:
    if given is None:
        return [], []
    if not isinstance(given, dict) or not set(given) <= _FILTER_KEYS:
        raise ValidationError("list.bad_filter")
    where, args = listing.text_search(given.get("q"), ("x.name", "x.company"))
    for col, allowed in (("status", STATUSES), ("source", None)):
        value = given.get(col)
        if value in (None, "", [], ()):
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(v, str) and (allowed is None or v in allowed) and len(v) < 50 for v in items):
            raise ValidationError("list.bad_filter")
        items = [fields.search_text(v) for v in items]
        where.append(f"x.{col} IN ({', '.join('?' for _ in items)})")
        args += items
    holder = given.get("holder")
    if holder not in (None, "all"):
        if holder == "mine":
            where.append("x.owner_id = ?")
            args.append(actor.id)
        elif holder == "owned":
            where.append("x.owner_id IS NOT NULL")
        elif holder == "pool":
            where.append("x.owner_id IS NULL")
        else:
            raise ValidationError("list.bad_filter")
    for key, op in (("created_from", ">="), ("created_to", "<")):
        if given.get(key):
            where.append(f"x.created_at {op} ?")
            args.append(customers._moment(given[key], "lead.created_at"))
    clauses, params = filters.conditions_sql(con, fields.definitions(con, "lead"), given.get("conditions"),
                                             actor.role)
    return where + clauses, args + params


def list_leads(con: duckdb.DuckDBPyConnection, actor: Actor, filters_: dict | None = None, sort: str = "updated_at",
               desc: bool = True, page: int = 0, page_size: int = 50) -> tuple[pl.DataFrame, int]:
    """One page of the leads the actor may see, and how many there are (core.listing)."""
    where, args = _filters(con, actor, filters_)
    searching = isinstance(filters_, dict) and bool((filters_.get("q") or "").strip())
    return listing.fetch_page(con, actor, LIST, where, args, sort, desc, page, page_size, one_scan=searching)


def get_lead(con: duckdb.DuckDBPyConnection, actor: Actor, lead_id: Any, action: str = "view") -> dict:
    row = records.load(con, actor, SPEC, lead_id, action)
    return fields.mask(fields.definitions(con, "lead"), actor.role, row)


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor, lead_id: Any, action: str) -> bool:
    return records.allowed(con, actor, SPEC, lead_id, action)


def create_lead(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict[str, Any], owner_id: int | None | str = "me",
                team_id: int | None = None, confirmed: bool = False) -> int:
    """A new lead, the actor's own (or in a team's pool, or given to someone within the assign scope).
    The duplicate guard runs first; `confirmed` saves despite a warning-level match."""
    access.require(con, actor, "leads", "create")
    _defs, own, custom = records.prepare(con, actor, SPEC, values, creating=True)
    if own.get("status") not in (None, "new", "contacted", "qualified"):
        raise ValidationError("lead.bad_status")
    if owner_id == "me":
        owner_id = actor.id
    if owner_id is not None and (isinstance(owner_id, bool) or not isinstance(owner_id, int)):
        raise ValidationError("assign.bad_owner")

    def work():
        owner, team = access.check_holder(con, actor, "leads", owner_id, team_id)
        lead_id = db.next_id(con, "leads")
        dedup.check_new(con, actor, "lead", lead_id, own, confirmed)
        customers.claim_phone(con, own.get("phone_norm"), "lead", lead_id)
        records.insert(con, "leads", {
            **own, "id": lead_id, "status": own.get("status") or "new", "owner_id": owner, "team_id": team,
            "custom": json.dumps(custom, ensure_ascii=False) if custom else None, "created_by": actor.id,
            "created_at": actor.now, "updated_at": actor.now})
        audit.record(con, actor, "create", "lead", lead_id,
                     {k: (None, v) for k, v in {**own, **custom}.items() if v is not None and k != "phone_norm"})
        return lead_id

    return db.write(con, work)


def update_lead(con: duckdb.DuckDBPyConnection, actor: Actor, lead_id: Any, changes: dict[str, Any],
                seen: dict | None = None, confirmed: bool = False) -> dict:
    """Edit an open lead; a stale form is a Conflict; only what changed is written and audited."""
    access.require(con, actor, "leads", "edit")
    defs, own, custom = records.prepare(con, actor, SPEC, changes, creating=False)

    def work():
        old = records.load(con, actor, SPEC, lead_id, "edit")
        if old["status"] not in OPEN:
            raise ValidationError("lead.closed")
        records.refuse_stale(con, SPEC, defs, old, seen, actor.role)
        diff, new_custom = records.changes(old, own, custom)
        if not diff:
            return {}
        dedup.check_edit(con, actor, "lead", old["id"], old, {k: v for k, (_o, v) in diff.items()}, confirmed)
        if "phone_norm" in diff:
            customers.release_phone(con, old.get("phone_norm"), "lead", old["id"])
            customers.claim_phone(con, diff["phone_norm"][1], "lead", old["id"])
        records.write_changes(con, actor, SPEC, old, diff, new_custom, set(old) - {"custom"})
        return diff

    return db.write(con, work)


def disqualify_lead(con: duckdb.DuckDBPyConnection, actor: Actor, lead_id: Any, reason: Any,
                    note: str | None = None) -> None:
    """Close an open lead as invalid with a reason from the admin's list (and an optional note)."""
    access.require(con, actor, "leads", "edit")
    if not isinstance(reason, str) or reason not in options.codes(con, "disqualify_reason"):
        raise ValidationError("lead.reason_required")
    note = fields.clean_text(Field("note", "longtext", "lead.notes", max_len=2000), note) if note else None

    def work():
        old = records.load(con, actor, SPEC, lead_id, "edit")
        if old["status"] not in OPEN:
            raise ValidationError("lead.closed")
        notes = old.get("notes")
        if note:
            notes = f"{notes}\n{note}" if notes else note
        con.execute("UPDATE leads SET status = 'invalid', disqualify_reason = ?, disqualified_at = ?, notes = ?, "
                    "updated_at = ? WHERE id = ?", [reason, actor.now, notes, actor.now, old["id"]])
        audit.record(con, actor, "disqualify", "lead", old["id"],
                     {"status": (old["status"], "invalid"), "disqualify_reason": (None, reason)})

    db.write(con, work)


def reopen_lead(con: duckdb.DuckDBPyConnection, actor: Actor, lead_id: Any) -> None:
    """A disqualified lead comes back as contacted (its reason is kept in the history)."""
    access.require(con, actor, "leads", "edit")

    def work():
        old = records.load(con, actor, SPEC, lead_id, "edit")
        if old["status"] != "invalid":
            raise ValidationError("lead.not_disqualified")
        con.execute("UPDATE leads SET status = 'contacted', disqualify_reason = NULL, disqualified_at = NULL, "
                    "updated_at = ? WHERE id = ?", [actor.now, old["id"]])
        audit.record(con, actor, "reopen", "lead", old["id"], {"status": ("invalid", "contacted")})

    db.write(con, work)


def convert_lead(con: duckdb.DuckDBPyConnection, actor: Actor, lead_id: Any, customer_values: dict | None = None,
                 deal: dict | None = None, confirmed: bool = False) -> dict:
    """Convert an open lead into a customer (and optionally a deal), in one unit of work.

    The customer takes the lead's values (a lead with a company becomes a company customer with the
    person as its contact; without, a person customer), overridden by `customer_values`, and the
    lead's phone key; the lead's follow-ups move to the customer; the lead keeps its history and
    points at the customer (the customer's timeline shows the lead's history through that link).
    Returns {"customer_id", "deal_id", "contact_id"}."""
    access.require(con, actor, "leads", "edit")
    access.require(con, actor, "customers", "create")
    if customer_values is not None and not isinstance(customer_values, dict):
        raise ValidationError("field.bad_values")
    if deal is not None:
        access.require(con, actor, "deals", "create")
        deal = _deal_values(con, deal)

    def work():
        lead = records.load(con, actor, SPEC, lead_id, "edit")
        if lead["status"] not in OPEN:
            raise ValidationError("lead.closed")
        values = {"name": lead["company"] or lead["name"], "kind": "company" if lead["company"] else "person",
                  "phone": lead["phone"], "email": lead["email"], "source": lead["source"],
                  "province": lead["province"], "city": lead["city"], "industry": lead["industry"],
                  "next_followup_at": lead["next_followup_at"], "stage": "potential"}
        values = {k: v for k, v in {**values, **(customer_values or {})}.items() if v is not None}
        customers.release_phone(con, lead.get("phone_norm"), "lead", lead["id"])
        owner = lead["owner_id"] if lead["owner_id"] is not None else actor.id
        customer_id = customers.create_customer(con, actor, values, owner_id=owner, confirmed=confirmed,
                                                exclude=("lead", lead["id"]))
        contact_id = None
        if lead["company"]:
            contact_id = db.next_id(con, "contacts")
            records.insert(con, "contacts", {
                "id": contact_id, "customer_id": customer_id, "name": lead["name"], "title": lead["title"],
                "email": lead["email"], "is_primary": True, "owner_id": owner, "created_at": actor.now,
                "updated_at": actor.now})
            contacts.sync_holders(con, [customer_id])  # the contact carries its customer's owner and team
            audit.record(con, actor, "create", "contact", contact_id,
                         {"name": (None, lead["name"]), "customer_id": (None, customer_id)})
        con.execute("UPDATE activities SET customer_id = ?, contact_id = coalesce(contact_id, ?) "
                    "WHERE lead_id = ? AND customer_id IS NULL", [customer_id, contact_id, lead["id"]])
        con.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", [lead["last_activity_at"], customer_id])
        deal_id = _create_deal(con, actor, deal, customer_id, lead, owner) if deal is not None else None
        con.execute("UPDATE leads SET status = 'converted', converted_customer_id = ?, converted_deal_id = ?, "
                    "converted_at = ?, updated_at = ? WHERE id = ?",
                    [customer_id, deal_id, actor.now, actor.now, lead["id"]])
        audit.record(con, actor, "convert", "lead", lead["id"], {
            "status": (lead["status"], "converted"), "converted_customer_id": (None, customer_id),
            **({"converted_deal_id": (None, deal_id)} if deal_id else {})})
        audit.record(con, actor, "convert", "customer", customer_id, {"lead_id": (None, lead["id"])})
        return {"customer_id": customer_id, "deal_id": deal_id, "contact_id": contact_id}

    return db.write(con, work)


DEAL_FIELDS = {f.name: f for f in (
    Field("name", "text", "deal.name", max_len=200),
    Field("amount", "number", "deal.amount", min=0, max=1e13),
    Field("expected_close", "date", "deal.expected_close"),
)}


def _deal_values(con, deal: Any) -> dict:
    return fields.clean(con, DEAL_FIELDS, deal, creating=False)


def _create_deal(con, actor: Actor, deal: dict, customer_id: int, lead: dict, owner: int) -> int:
    """The deal of a conversion (core.deals.create_deal, inside the conversion's unit): at the first open
    stage of the default pipeline with its probability, the lead's source, its first stage-history row."""
    from core import deals

    values = {"name": deal.get("name") or (lead["company"] or lead["name"]), "customer_id": customer_id,
              "amount": deal.get("amount"), "expected_close": deal.get("expected_close")}
    if lead.get("source") and lead["source"] in options.codes(con, "source"):
        values["source"] = lead["source"]
    return deals.create_deal(con, actor, {k: v for k, v in values.items() if v is not None}, owner_id=owner,
                             lead_id=lead["id"])


fields.register("lead", FIELDS)
