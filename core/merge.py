"""Merge (合并) two customer records that are one customer: the survivor keeps its id and takes, field by
field, the values the user chose; every record hanging off the loser moves to the survivor; the loser
goes to the recycle bin with `merged_into_id` = the survivor. One 'merge' entry in the audit log holds
exactly what moved, so `undo_merge` puts everything back.

What moves (every row, live or in the bin, so nothing is lost): follow-ups (activities), deals, orders,
payments, tickets, contacts, feedback, tasks, leads converted into the loser, customers whose parent
is the loser (subsidiaries), and campaign memberships. A campaign the survivor is already a member of
is not joined twice: the two memberships become one (the earliest of each touch - added, sent, opened,
clicked, responded, converted - and the sum of the revenue), and the loser's row is kept in the merge
entry, so an undo brings both rows back exactly. Owners of the moved records do not change.

Phones: the loser's phone key is released (a merged duplicate holds no number); when the survivor takes
the loser's phone, the key is claimed for the survivor (and the survivor's old number released). Undo
gives each record its number back, or refuses when someone else holds it by then. Likewise the
duplicate guard's keys (core.dedup): the loser's are dropped, the survivor's follow its new values, and
an undo gives both records their own again.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import duckdb
import polars as pl

from core import access, audit, contacts, customers, db, dedup, fields, recycle, settings
from core.context import Actor
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError

# (table, column pointing at the customer, count key); every row of each moves with one set-based UPDATE
MOVES: tuple[tuple[str, str, str], ...] = (
    ("activities", "customer_id", "activities"),
    ("deals", "customer_id", "deals"),
    ("orders", "customer_id", "orders"),
    ("payments", "customer_id", "payments"),
    ("payment_plans", "customer_id", "payment_plans"),
    ("handoffs", "customer_id", "handoffs"),
    ("tickets", "customer_id", "tickets"),
    ("contacts", "customer_id", "contacts"),
    ("feedback", "customer_id", "feedback"),
    ("tasks", "customer_id", "tasks"),
    ("leads", "converted_customer_id", "leads"),
    ("customers", "parent_customer_id", "subsidiaries"),
)
# what the preview counts, in the order the page shows them (catalogue keys merge.count_<key>)
COUNTS = tuple(k for _t, _c, k in MOVES) + ("campaigns", "campaigns_merged")
_TOUCHES = ("added_at", "sent_at", "opened_at", "clicked_at", "responded_at", "converted_at")
CHOICES = ("survivor", "loser")
# columns of the survivor a merge sets besides its fields, restored by an undo
_EXTRA = ("last_activity_at", "won_at")


# ------------------------------------------------------------------------------------ values
def _json(value: Any) -> Any:
    """A value as the merge entry keeps it (JSON): times as ISO text, decimals as text."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _key(f: fields.Field | None, value: Any) -> Any:
    """A value of field `f` (None: a plain column) in a form two values compare by: numbers by their
    amount, times by their ISO text, so 1500000.00 from the store equals 1500000.0 from a form or the
    entry."""
    if value is None or value == "":
        return None
    kind = f.kind if f else None
    if kind in ("int", "number") or (isinstance(value, (decimal.Decimal, float)) and not isinstance(value, bool)):
        try:
            return decimal.Decimal(str(value)).normalize()
        except decimal.InvalidOperation:
            return value
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, list):
        return tuple(value)
    return value


def _defs(con, actor: Actor) -> dict[str, fields.Field]:
    """The customer fields a merge chooses between: built-in and custom ones the actor may edit (the
    rest keep the survivor's value)."""
    return fields.definitions(con, "customer", actor.role, "edit")


def _stored(value: Any) -> Any:
    """A kept value back in the form a TIMESTAMP column takes."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in " T":
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def can_merge(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    """Whether the actor may merge at all: edit and delete customers (managers and admins by default)."""
    return access.can(con, actor, "customers", "edit") and access.can(con, actor, "customers", "delete")


def _require(con, actor: Actor) -> None:
    access.require(con, actor, "customers", "edit")
    access.require(con, actor, "customers", "delete")


def _pair(con, actor: Actor, survivor_id: Any, loser_id: Any) -> tuple[dict, dict]:
    """Both records, checked: two different live customers the actor may edit, the loser one the actor
    may also delete (anything else is not found: nothing leaks)."""
    survivor_id, loser_id = customers.record_id(survivor_id), customers.record_id(loser_id)
    if survivor_id == loser_id:
        raise ValidationError("merge.same_record")
    survivor = customers.get_customer(con, actor, survivor_id, "edit")
    loser = customers.get_customer(con, actor, loser_id, "edit")
    customers.get_customer(con, actor, loser_id, "delete")
    from core import pool_mask

    if pool_mask.is_masked(con, actor, survivor) or pool_mask.is_masked(con, actor, loser):
        # its pool hides fields from the actor: a merge would compare and write masked values
        raise ValidationError("merge.pool_hidden")
    return survivor, loser


def _counts(con, loser_id: int, survivor_id: int) -> dict[str, int]:
    parts = [f"SELECT '{key}' AS k, count(*) AS n FROM {table} WHERE {col} = ?"
             + (" AND id <> ?" if table == "customers" else "") for table, col, key in MOVES]
    params: list = []
    for table, _col, _key in MOVES:
        params += [loser_id, survivor_id] if table == "customers" else [loser_id]
    found = dict(con.execute(" UNION ALL ".join(parts), params).fetchall())
    merged = db.scalar(con, "SELECT count(DISTINCT campaign_id) FROM campaign_members WHERE customer_id = ? AND "
                            "campaign_id IN (SELECT campaign_id FROM campaign_members WHERE customer_id = ?)",
                       [loser_id, survivor_id])
    total = db.scalar(con, "SELECT count(DISTINCT campaign_id) FROM campaign_members WHERE customer_id = ?", [loser_id])
    return {**{k: int(found.get(k, 0)) for _t, _c, k in MOVES}, "campaigns": int(total - merged),
            "campaigns_merged": int(merged)}


def preview(con: duckdb.DuckDBPyConnection, actor: Actor, survivor_id: Any, loser_id: Any) -> dict:
    """What a merge would do: both records (as seen now: pass this back as `seen`), their fields side by
    side with which differ and the suggested choice (the survivor's value, unless it is empty and the
    loser's is not), and how many records of each kind move to the survivor."""
    _require(con, actor)
    survivor, loser = _pair(con, actor, survivor_id, loser_id)
    rows = []
    for name, f in _defs(con, actor).items():
        a, b = survivor.get(name), loser.get(name)
        differ = _key(f, a) != _key(f, b)
        rows.append({"name": name, "field": f, "survivor": a, "loser": b, "differ": differ,
                     "default": "loser" if differ and a in (None, "") and b not in (None, "") else "survivor"})
    return {"survivor": survivor, "loser": loser, "fields": rows, "differ": [r["name"] for r in rows if r["differ"]],
            "counts": _counts(con, loser["id"], survivor["id"])}


def _check_seen(seen: Any, survivor: dict, loser: dict) -> None:
    if seen is None:
        return
    if not isinstance(seen, dict) or not all(isinstance(seen.get(k), dict) for k in ("survivor", "loser")):
        raise ValidationError("field.bad_values")
    for key, now in (("survivor", survivor), ("loser", loser)):
        if seen[key].get("id") != now["id"] or seen[key].get("updated_at") != now["updated_at"]:
            raise Conflict("merge.changed_since", name=now["name"])


def _choices(defs: dict[str, fields.Field], choose: Any) -> dict[str, str]:
    if choose is None:
        return {}
    if not isinstance(choose, dict):
        raise ValidationError("field.bad_values")
    for name, side in choose.items():
        if name not in defs:
            raise ValidationError("field.unknown", value=fields.short(name))
        if side not in CHOICES:
            raise ValidationError("merge.bad_choice", field=defs[name].label)
    return dict(choose)


# ------------------------------------------------------------------------------------ merge
def _keys(con, customer_id: int) -> None:
    """The duplicate guard's keys of a customer, from its values as they are now."""
    dedup.remember(con, "customer", customer_id,
                   db.one(con, "SELECT name, kind, email FROM customers WHERE id = ?", [customer_id]))


def _campaign_rows(con, customer_id: int, campaign_ids: list[int]) -> list[dict]:
    return [{k: _json(v) for k, v in r.items()} for r in db.rows(
        con, "SELECT * FROM campaign_members WHERE customer_id = ? AND campaign_id IN (SELECT unnest(?)) "
             "ORDER BY campaign_id", [customer_id, campaign_ids])]


def merge(con: duckdb.DuckDBPyConnection, actor: Actor, survivor_id: Any, loser_id: Any,
          choose: dict[str, str] | None = None, seen: dict | None = None) -> int:
    """Merge the loser into the survivor in one unit of work; returns the id of the 'merge' entry of
    the audit log (what `undo_merge` takes). `choose` names, per field, whose value the survivor keeps
    ('survivor' when left out); `seen` is the preview the user confirmed: a record changed since is a
    Conflict."""
    _require(con, actor)
    defs = _defs(con, actor)
    choose = _choices(defs, choose)

    def work():
        survivor, loser = _pair(con, actor, survivor_id, loser_id)
        _check_seen(seen, survivor, loser)
        sid, lid = survivor["id"], loser["id"]
        changes = {name: loser.get(name) for name, side in choose.items()
                   if side == "loser" and _key(defs[name], loser.get(name)) != _key(defs[name], survivor.get(name))}
        # the loser's number and duplicate-guard keys go first: the survivor may take them, and the
        # guard does not hold the loser against its own survivor (a merged duplicate is no match)
        customers.release_phone(con, loser.get("phone_norm"), "customer", lid)
        dedup.forget(con, "customer", [lid])
        # the guard's warnings do not stop a merge (it consolidates duplicates); its blocks do
        diff = customers.update_customer(con, actor, sid, changes, confirmed=True) if changes else {}
        fields_old = {k: _json(o) for k, (o, _n) in diff.items() if k in defs}
        fields_new = {k: _json(n) for k, (_o, n) in diff.items() if k in defs}
        extra_old = {"won_at": _json(survivor.get("won_at"))} if "won_at" in diff else {}
        extra_new = {"won_at": _json(diff["won_at"][1])} if "won_at" in diff else {}

        moved: dict[str, list[int]] = {}
        for table, col, key in MOVES:
            other = " AND id <> ?" if table == "customers" else ""  # the survivor is no subsidiary of itself
            ids = [r[0] for r in con.execute(
                f"SELECT id FROM {table} WHERE {col} = ?{other} ORDER BY id",  # sql-ok: fixed list
                [lid, sid] if other else [lid]).fetchall()]
            if ids:  # selected first, then updated by id (never an update that hands rows back: FACTS.md)
                con.execute(f"UPDATE {table} SET {col} = ? WHERE id IN (SELECT unnest(?)) AND {col} = ?",  # sql-ok
                            [sid, ids, lid])
            moved[key] = ids

        mine = {r[0] for r in con.execute(
            "SELECT DISTINCT campaign_id FROM campaign_members WHERE customer_id = ?", [sid]).fetchall()}
        theirs = sorted({r[0] for r in con.execute(
            "SELECT DISTINCT campaign_id FROM campaign_members WHERE customer_id = ?", [lid]).fetchall()})
        both = [c for c in theirs if c in mine]
        only = [c for c in theirs if c not in mine]
        merged = {"survivor_before": _campaign_rows(con, sid, both), "loser_rows": _campaign_rows(con, lid, both)}
        if only:
            con.execute("UPDATE campaign_members SET customer_id = ? WHERE customer_id = ? "
                        "AND campaign_id IN (SELECT unnest(?))", [sid, lid, only])
        if both:  # one membership per campaign: the earliest touches, the revenue of both
            sets = ", ".join(f"{c} = least(m.{c}, l.{c})" for c in _TOUCHES)
            mins = ", ".join(f"min({c}) AS {c}" for c in _TOUCHES)
            con.execute(
                f"UPDATE campaign_members m SET {sets}, revenue = CASE "  # sql-ok: fixed columns
                f"WHEN m.revenue IS NULL AND l.revenue IS NULL THEN NULL "
                f"ELSE coalesce(m.revenue, 0) + coalesce(l.revenue, 0) END "
                f"FROM (SELECT campaign_id, {mins}, sum(revenue) AS revenue FROM campaign_members "
                f"WHERE customer_id = ? AND campaign_id IN (SELECT unnest(?)) GROUP BY campaign_id) l "
                f"WHERE m.customer_id = ? AND m.campaign_id = l.campaign_id",
                [lid, both, sid],
            )
            con.execute("DELETE FROM campaign_members WHERE customer_id = ? AND campaign_id IN (SELECT unnest(?))",
                        [lid, both])

        # the survivor's last contact is the later of the two (follow-ups moved over)
        latest = max((v for v in (survivor.get("last_activity_at"), loser.get("last_activity_at")) if v), default=None)
        if latest != survivor.get("last_activity_at"):
            con.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", [latest, sid])
            extra_old["last_activity_at"] = _json(survivor.get("last_activity_at"))
            extra_new["last_activity_at"] = _json(latest)

        con.execute("UPDATE customers SET merged_into_id = ? WHERE id = ?", [sid, lid])
        contacts.sync_holders(con, [sid])  # moved contacts carry the survivor's owner and team
        recycle.delete(con, actor, "customer", [lid])
        entry = {"survivor": sid, "loser": lid, "loser_name": loser["name"], "survivor_name": survivor["name"],
                 "loser_phone_norm": loser.get("phone_norm"), "moved": moved, "campaigns_moved": only,
                 "campaigns_merged": merged, "fields_new": fields_new, "extra_old": extra_old,
                 "extra_new": extra_new}
        merge_id = db.next_id(con, "audit_log")
        con.execute(
            "INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, new_value) "
            "VALUES (?, ?, ?, 'merge', 'customer', ?, NULL, ?, ?)",
            [merge_id, actor.now, actor.id, sid, json.dumps(fields_old, ensure_ascii=False),
             json.dumps(entry, ensure_ascii=False)],
        )
        return merge_id

    return db.write(con, work)


# ------------------------------------------------------------------------------------ undo
def _entry(con, merge_id: Any) -> dict:
    if isinstance(merge_id, str) and merge_id.strip().isdigit() and len(merge_id.strip()) < 19:
        merge_id = int(merge_id)
    if isinstance(merge_id, bool) or not isinstance(merge_id, int):
        raise NotFound("merge.not_found")
    found = db.one(con, "SELECT id, logged_at, user_id, entity_id, old_value, new_value FROM audit_log "
                        "WHERE id = ? AND action = 'merge' AND entity = 'customer'", [merge_id])
    if found is None:
        raise NotFound("merge.not_found")
    found["fields_old"] = json.loads(found["old_value"] or "{}")
    found.update(json.loads(found["new_value"]))
    return found


def _undone(con, merge_ids: list[int]) -> set[int]:
    if not merge_ids:
        return set()
    return {int(r[0]) for r in con.execute(
        "SELECT new_value FROM audit_log WHERE action = 'unmerge' AND field = 'merge_id' "
        "AND new_value IN (SELECT unnest(?))", [[str(i) for i in merge_ids]]).fetchall()}


def _undo_refusal(con, actor: Actor, entry: dict) -> str | None:
    """Why the actor may not undo this merge (a message key), or None."""
    if not (actor.is_admin or (actor.id is not None and entry["user_id"] == actor.id)):
        return "merge.undo_not_yours"
    days = settings.get(con, "recycle.retention_days")
    if entry["logged_at"] + dt.timedelta(days=days) < actor.now:
        return "merge.undo_expired"
    if _undone(con, [entry["id"]]):
        return "merge.undo_done"
    return None


def undoable(con: duckdb.DuckDBPyConnection, actor: Actor, merge_ids: list[int]) -> set[int]:
    """Which of these merge entries the actor may undo now (for the audit log and the merge page)."""
    if not merge_ids or not can_merge(con, actor):
        return set()
    out = set()
    for merge_id in merge_ids:
        try:
            if _undo_refusal(con, actor, _entry(con, int(merge_id))) is None:
                out.add(int(merge_id))
        except NotFound:
            continue
    return out


def undo_merge(con: duckdb.DuckDBPyConnection, actor: Actor, merge_id: Any) -> dict[str, int]:
    """Put a merge back: the moved records to the loser (those still with the survivor), the survivor's
    old values (each field the merge set and nobody changed since), the loser back from the bin with its
    phone key. Admins, or whoever merged, within the recycle bin's retention period. Returns how many
    records of each kind went back."""
    _require(con, actor)

    def work():
        entry = _entry(con, merge_id)
        refusal = _undo_refusal(con, actor, entry)
        if refusal == "merge.undo_not_yours":
            raise PermissionDenied(refusal)
        if refusal:
            raise ValidationError(refusal)
        sid, lid = entry["survivor"], entry["loser"]
        try:  # live and within reach (a later merge may have put it in the bin: undo that one first)
            survivor = customers.get_customer(con, actor, sid, "edit")
        except NotFound:
            raise ValidationError("merge.survivor_gone") from None
        where, params = access.predicate(con, actor, "customers", "edit", "c")
        loser = db.one(con, f"SELECT c.* FROM customers c WHERE c.id = ? AND {where}", [lid] + params)
        if loser is None:
            raise NotFound("merge.loser_gone")
        # the survivor's old values, where the value is still the one the merge set
        defs = fields.definitions(con, "customer")
        restore = {k: v for k, v in entry["fields_old"].items() if k in defs
                   and _key(defs[k], survivor.get(k)) == _key(defs[k], _stored(entry["fields_new"].get(k)))}
        if restore:
            customers.update_customer(con, actor, sid, restore, confirmed=True)
        extra = {k: _stored(v) for k, v in entry["extra_old"].items()
                 if _key(None, survivor.get(k)) == _key(None, _stored(entry["extra_new"].get(k)))}
        for col in _EXTRA:
            if col in extra:
                con.execute(f"UPDATE customers SET {col} = ? WHERE id = ?", [extra[col], sid])  # sql-ok: fixed list
        counts: dict[str, int] = {}
        for table, col, key in MOVES:
            ids = entry["moved"].get(key) or []
            back = [r[0] for r in con.execute(
                f"SELECT id FROM {table} WHERE id IN (SELECT unnest(?)) AND {col} = ?", [ids, sid]).fetchall()  # sql-ok
            ] if ids else []
            if back:
                con.execute(f"UPDATE {table} SET {col} = ? WHERE id IN (SELECT unnest(?)) AND {col} = ?",  # sql-ok
                            [lid, back, sid])
            counts[key] = len(back)
        only = entry["campaigns_moved"]
        if only:
            counts["campaigns"] = db.scalar(
                con, "SELECT count(DISTINCT campaign_id) FROM campaign_members WHERE customer_id = ? "
                     "AND campaign_id IN (SELECT unnest(?))", [sid, only])
            con.execute("UPDATE campaign_members SET customer_id = ? WHERE customer_id = ? "
                        "AND campaign_id IN (SELECT unnest(?))", [lid, sid, only])
        merged = entry["campaigns_merged"]
        both = sorted({r["campaign_id"] for r in merged["loser_rows"]})
        if both:
            columns = {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'campaign_members'").fetchall()}
            con.execute("DELETE FROM campaign_members WHERE customer_id = ? AND campaign_id IN (SELECT unnest(?))",
                        [sid, both])
            for row in merged["survivor_before"] + merged["loser_rows"]:
                names = [k for k in row if k in columns]  # identifiers from the table itself
                con.execute(f"INSERT INTO campaign_members ({', '.join(names)}) "  # sql-ok: the table's own columns
                            f"VALUES ({', '.join('?' for _ in names)})", [_stored(row[k]) for k in names])
        counts["campaigns_merged"] = len(both)
        # the loser back, with its phone key (refused when another record holds the number by now), to its
        # owner: within the owner's cap
        if loser["stage"] not in ("won", "upgrade"):
            from core import pool

            pool.check_room(con, loser["owner_id"], 1)
        customers.claim_phone(con, loser.get("phone_norm"), "customer", lid)
        con.execute("UPDATE customers SET merged_into_id = NULL, deleted_at = NULL, deleted_by = NULL WHERE id = ?",
                    [lid])
        if loser["deleted_at"] is not None:
            audit.record(con, actor, "restore", "customer", lid)
        _keys(con, lid)
        audit.record(con, actor, "unmerge", "customer", sid, {"merge_id": (None, entry["id"])})
        contacts.sync_holders(con, [sid, lid])
        return counts

    return db.write(con, work)


# ------------------------------------------------------------------------------------ history
def summary(new_value: str | None) -> dict:
    """The gist of a merge entry for the audit log: loser and survivor (id, name) and how many records
    moved."""
    try:
        entry = json.loads(new_value or "")
        moved = sum(len(v) for v in entry["moved"].values()) + len(entry["campaigns_moved"]) + len(
            {r["campaign_id"] for r in entry["campaigns_merged"]["loser_rows"]})
        return {"loser": entry["loser"], "loser_name": entry.get("loser_name") or "",
                "survivor": entry["survivor"], "survivor_name": entry.get("survivor_name") or "", "n": moved}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def history(con: duckdb.DuckDBPyConnection, actor: Actor, limit: int = 50) -> pl.DataFrame:
    """The merges the actor may undo or look back on (an admin: all; anyone else: their own), newest
    first, with both names, who merged, how many records moved, whether it was undone and whether the
    actor may undo it now."""
    _require(con, actor)
    mine = "" if actor.is_admin else "AND a.user_id = ?"
    rows = db.rows(
        con,
        f"SELECT a.id, a.logged_at, u.name AS user_name, a.user_id, a.new_value FROM audit_log a "
        f"LEFT JOIN users u ON u.id = a.user_id WHERE a.action = 'merge' AND a.entity = 'customer' {mine} "
        f"ORDER BY a.id DESC LIMIT ?",
        ([] if actor.is_admin else [actor.id]) + [int(limit)],
    )
    ids = [r["id"] for r in rows]
    undone, can = _undone(con, ids), undoable(con, actor, ids)
    out = []
    for r in rows:
        s = summary(r["new_value"])
        out.append({"id": r["id"], "logged_at": r["logged_at"], "user_name": r["user_name"],
                    "survivor_id": s.get("survivor"), "survivor_name": s.get("survivor_name"),
                    "loser_id": s.get("loser"), "loser_name": s.get("loser_name"), "moved": s.get("n", 0),
                    "undone": r["id"] in undone, "can_undo": r["id"] in can})
    schema = {"id": pl.Int64, "logged_at": pl.Datetime, "user_name": pl.String, "survivor_id": pl.Int64,
              "survivor_name": pl.String, "loser_id": pl.Int64, "loser_name": pl.String, "moved": pl.Int64,
              "undone": pl.Boolean, "can_undo": pl.Boolean}
    return pl.DataFrame(out, schema=schema)
