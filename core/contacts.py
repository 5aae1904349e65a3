"""Contacts (联系人): the people of a customer. Several per customer, at most one primary.

A contact belongs to its customer's record: it is visible exactly when its customer is, editable when
the customer is editable, deleted (to the recycle bin) by whoever may delete the customer; permissions
are those of the "customers" module. The contact row keeps a copy of its customer's owner and team
(the recycle bin filters binned contacts by them): every write here refreshes it, and services that
move customers (pool, handover, merge) call `sync_holders` in their unit of work.

Fields are those of core.fields object "contact" (built-in below, plus the admin's custom fields); the
phone is a key in phone_keys (entity "contact") like a customer's or a lead's: a number held by any
other record is refused with who holds it. Edits carry the version the user saw (`seen`).
"""
from __future__ import annotations

import json
from typing import Any, Iterable

import duckdb
import polars as pl

from core import access, audit, db, dedup, fields, listing, records, recycle
from core.context import Actor
from core.customers import claim_phone, get_customer, release_phone
from core.errors import NotFound, ValidationError
from core.fields import Field

FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("name", "text", "contact.name", required=True, max_len=100, tier="required"),
    Field("title", "text", "contact.title", max_len=100),
    Field("phone", "phone", "contact.phone", max_len=40),
    Field("email", "email", "contact.email", max_len=254),
    Field("is_primary", "bool", "contact.is_primary", nullable=False),
    Field("notes", "longtext", "contact.notes", max_len=2000),
)}
SPEC = records.Spec(entity="contact", obj="contact", table="contacts", module="customers",
                    not_found="contact.not_found")
_COLUMNS = set(FIELDS) | {"phone_norm"}
LIST_COLUMNS = ("id", "customer_id", "name", "title", "phone", "email", "is_primary", "notes", "created_at",
                "updated_at")


def _load(con, actor: Actor, contact_id: Any, action: str) -> dict:
    """The raw row of a live contact whose live customer the actor may `action`, with the customer's
    name, owner and team; NotFound otherwise (no leak of existence)."""
    contact_id = records.record_id(contact_id, SPEC.not_found)
    where, params = access.predicate(con, actor, "customers", action, "c")
    found = db.one(
        con,
        f"SELECT x.*, c.name AS customer_name, c.owner_id AS customer_owner_id, c.team_id AS customer_team_id "
        f"FROM contacts x JOIN customers c ON c.id = x.customer_id WHERE x.id = ? AND x.deleted_at IS NULL "
        f"AND c.deleted_at IS NULL AND {where}",
        [contact_id] + params,
    )
    if found is None:
        raise NotFound(SPEC.not_found)
    return found


def get_contact(con: duckdb.DuckDBPyConnection, actor: Actor, contact_id: Any, action: str = "view") -> dict:
    """One contact whose customer the actor may `action`, as the actor's role may read it (custom
    fields unpacked, fields the role may not see left out); NotFound otherwise."""
    return fields.mask(fields.definitions(con, "contact"), actor.role, _load(con, actor, contact_id, action))


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, action: str) -> bool:
    """Whether the actor may `action` (create/edit = the customer's edit; delete) the contacts of this
    customer: the panel shows forms and buttons, or a read-only list."""
    action = "edit" if action == "create" else action
    if not access.can(con, actor, "customers", action):
        return False
    try:
        get_customer(con, actor, customer_id, action)
    except NotFound:
        return False
    return True


def list_contacts(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> pl.DataFrame:
    """The live contacts of a customer the actor may view, the primary first; built-in columns the
    actor's role may not see are left out."""
    customer = get_customer(con, actor, customer_id, "view")
    visible = fields.definitions(con, "contact", actor.role, "view")
    cols = [c for c in LIST_COLUMNS if c not in FIELDS or c in visible]
    df = db.frame(
        con,
        f"SELECT {', '.join('x.' + c for c in cols)} FROM contacts x "  # fixed column names
        f"WHERE x.customer_id = ? AND x.deleted_at IS NULL ORDER BY x.is_primary DESC, x.name, x.id",
        [customer["id"]],
    )
    from core import pool_mask

    hidden = pool_mask.is_masked(con, actor, customer) & {"phone", "email"}
    if hidden:  # the customer's pool hides its phone / e-mail: its contacts' too, until it is claimed
        df = df.with_columns(pl.lit(None, dtype=pl.Int8).alias("owner_id"), pl.lit(customer["team_id"]).alias("team_id"))
        df = pool_mask.mask_frame(con, actor, df).drop("owner_id", "team_id")
    return df


def _make_primary(con, actor: Actor, customer_id: int, contact_id: int | None, audit_ids: bool = True) -> None:
    """`contact_id` becomes the customer's only primary contact (None: none is). Every live contact of
    the customer is written, so two people choosing different primaries at once conflict (and the
    unit of work retries) instead of leaving two primaries. The others' changes are audited."""
    before = db.rows(con, "SELECT id, is_primary FROM contacts WHERE customer_id = ? AND deleted_at IS NULL",
                     [customer_id])
    con.execute("UPDATE contacts SET is_primary = coalesce(id = ?, FALSE), updated_at = CASE "
                "WHEN is_primary = coalesce(id = ?, FALSE) THEN updated_at "
                "ELSE greatest(?, updated_at + INTERVAL 1 MICROSECOND) END "
                "WHERE customer_id = ? AND deleted_at IS NULL", [contact_id, contact_id, actor.now, customer_id])
    for row in before:
        now_primary = row["id"] == contact_id
        if row["is_primary"] != now_primary and (audit_ids or row["id"] != contact_id):
            audit.record(con, actor, "update", "contact", row["id"], {"is_primary": (row["is_primary"], now_primary)})


def create_contact(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, values: dict[str, Any]) -> int:
    """A new contact of a customer the actor may edit. The customer's first contact is its primary;
    a new primary takes the place of the old one."""
    access.require(con, actor, "customers", "edit")
    customer_id = records.record_id(customer_id, "customer.not_found")
    _defs, own, custom = records.prepare(con, actor, SPEC, values, creating=True)

    def work():
        customer = get_customer(con, actor, customer_id, "edit")
        contact_id = db.next_id(con, "contacts")
        # the duplicate guard on what identifies a contact across the store: its e-mail (its phone is a key)
        dedup.check_new(con, actor, "contact", contact_id, {k: own.get(k) for k in ("email", "phone_norm")})
        claim_phone(con, own.get("phone_norm"), "contact", contact_id)
        has_primary = db.scalar(con, "SELECT count(*) FROM contacts WHERE customer_id = ? AND is_primary "
                                     "AND deleted_at IS NULL", [customer_id])
        primary = bool(own.get("is_primary")) or not has_primary
        records.insert(con, "contacts", {
            **own, "id": contact_id, "customer_id": customer_id, "is_primary": primary,
            "owner_id": customer["owner_id"], "team_id": customer["team_id"],
            "custom": json.dumps(custom, ensure_ascii=False) if custom else None,
            "created_at": actor.now, "updated_at": actor.now})
        if primary and has_primary:
            _make_primary(con, actor, customer_id, contact_id, audit_ids=False)
        audit.record(con, actor, "create", "contact", contact_id,
                     {k: (None, v) for k, v in {**own, **custom, "is_primary": primary, "customer_id": customer_id}
                      .items() if v is not None and k != "phone_norm"})
        return contact_id

    return db.write(con, work)


def update_contact(con: duckdb.DuckDBPyConnection, actor: Actor, contact_id: Any, changes: dict[str, Any],
                   seen: dict | None = None) -> dict:
    """Edit a contact of a customer the actor may edit; only what differs is written and audited.
    `seen` is the contact as the user saw it (get_contact): changed since, the edit is a Conflict
    naming the fields that changed. Making it primary takes the role from the customer's other one."""
    access.require(con, actor, "customers", "edit")
    contact_id = records.record_id(contact_id, SPEC.not_found)
    defs, own, custom = records.prepare(con, actor, SPEC, changes, creating=False)

    def work():
        old = _load(con, actor, contact_id, "edit")
        records.refuse_stale(con, SPEC, defs, old, seen, actor.role)
        diff, new_custom = records.changes(old, own, custom)
        if not diff:
            return {}
        dedup.check_edit(con, actor, "contact", contact_id, old,
                         {k: v for k, (_o, v) in diff.items() if k in ("email", "phone_norm")})
        if "phone_norm" in diff:
            release_phone(con, old.get("phone_norm"), "contact", contact_id)
            claim_phone(con, diff["phone_norm"][1], "contact", contact_id)
        if diff.get("is_primary", (None, None))[1] is True:
            _make_primary(con, actor, old["customer_id"], contact_id, audit_ids=False)
        records.write_changes(con, actor, SPEC, old, diff, new_custom, _COLUMNS)
        sync_holders(con, [old["customer_id"]])
        return diff

    return db.write(con, work)


def delete_contact(con: duckdb.DuckDBPyConnection, actor: Actor, contact_id: Any) -> None:
    """Move a contact to the recycle bin (its phone stays held there). Needs the customer's delete
    scope. A deleted primary hands the role to the customer's oldest other contact."""
    access.require(con, actor, "customers", "delete")
    contact_id = records.record_id(contact_id, SPEC.not_found)

    def work():
        old = _load(con, actor, contact_id, "delete")
        sync_holders(con, [old["customer_id"]])
        if old["is_primary"]:
            heir = db.scalar(con, "SELECT id FROM contacts WHERE customer_id = ? AND id <> ? AND deleted_at IS NULL "
                                  "ORDER BY created_at, id LIMIT 1", [old["customer_id"], contact_id])
            _make_primary(con, actor, old["customer_id"], heir)
        recycle.delete(con, actor, "contact", [contact_id])

    db.write(con, work)


def settle_primary(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: int, prefer: int | None = None) -> None:
    """After contacts of two customers came together (a merge): one primary again, `prefer` if it is
    one of the primaries, else the oldest primary. Call inside the unit of work."""
    primaries = [r[0] for r in con.execute(
        "SELECT id FROM contacts WHERE customer_id = ? AND is_primary AND deleted_at IS NULL ORDER BY created_at, id",
        [customer_id]).fetchall()]
    if len(primaries) > 1:
        _make_primary(con, actor, customer_id, prefer if prefer in primaries else primaries[0])


def sync_holders(con: duckdb.DuckDBPyConnection, customer_ids: Iterable[int]) -> None:
    """Refresh the copy of owner and team on the contacts of these customers (call inside the unit of
    work that moved them)."""
    ids = [int(i) for i in customer_ids]
    if not ids:
        return
    stale = [r[0] for r in con.execute(
        "SELECT x.id FROM contacts x JOIN customers c ON c.id = x.customer_id "
        "WHERE x.customer_id IN (SELECT unnest(?)) "
        "AND (x.owner_id IS DISTINCT FROM c.owner_id OR x.team_id IS DISTINCT FROM c.team_id)", [ids]).fetchall()]
    if stale:
        con.execute("UPDATE contacts SET owner_id = c.owner_id, team_id = c.team_id FROM customers c "
                    "WHERE c.id = contacts.customer_id AND contacts.id IN (SELECT unnest(?))", [stale])


# ---------------------------------------------------------------------------------------- every contact
SORTS = ("name", "updated_at", "created_at")  # by customer name: a join of every row, too slow at 1M
_LIST_ALL = ("id", "name", "title", "phone", "email", "is_primary", "customer_id", "updated_at", "created_at")


def list_all(con: duckdb.DuckDBPyConnection, actor: Actor, q: Any = None, sort: str = "name", desc: bool = False,
             page: int = 0, page_size: int = 50) -> tuple[pl.DataFrame, int]:
    """One page of the live contacts of the live customers the actor may view (the customers' scope,
    through the copy of the customer's owner and team each contact keeps), with the customer's name;
    `q` searches names, e-mails and phones (core.listing.text_search). Columns the role may not see are
    left out. Returns the page and how many there are in all."""
    if sort not in SORTS:
        raise ValidationError("list.bad_sort")
    visible = fields.definitions(con, "contact", actor.role, "view")
    cols = [f"x.{c}" for c in _LIST_ALL if c not in FIELDS or c in visible]
    spec = listing.ListSpec(
        module="customers", table="contacts", columns=", ".join(cols + ["c.name AS customer_name"]),
        joins="JOIN customers c ON c.id = x.customer_id",
        sorts={s: (f"x.{s}", "") for s in SORTS})
    # a search never finds by a field the role may not see
    where, args = listing.text_search(q, ("x.name",) if "name" in visible else (), email="email" in visible,
                                      phone="phone" in visible)
    # a contact of a customer in the recycle bin is gone with it (few rows: the bin)
    where.append("x.customer_id NOT IN (SELECT id FROM customers WHERE deleted_at IS NOT NULL)")
    return listing.fetch_page(con, actor, spec, where, args, sort, desc, page, page_size)


def followups(con: duckdb.DuckDBPyConnection, actor: Actor, contact_id: Any, limit: int = 50) -> pl.DataFrame:
    """The follow-ups logged with this contact, newest first, for a contact the actor may view and an
    actor who may view follow-ups (PermissionDenied otherwise)."""
    from core import activities

    access.require(con, actor, "activities", "view")
    contact = _load(con, actor, contact_id, "view")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= activities.MAX_LIST:
        raise ValidationError("list.bad_page_size", max=activities.MAX_LIST)
    return db.frame(
        con,
        f"SELECT {activities._LIST_COLUMNS} FROM activities a LEFT JOIN users u ON u.id = a.user_id "
        f"LEFT JOIN contacts ct ON ct.id = a.contact_id WHERE a.contact_id = ? AND a.customer_id = ? "
        f"AND a.deleted_at IS NULL ORDER BY a.occurred_at DESC, a.id DESC LIMIT ?",
        [contact["id"], contact["customer_id"], limit],
    )


fields.register("contact", FIELDS)
