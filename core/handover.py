"""Handover (离职交接): everything a user holds goes elsewhere in one action, for managers and admins (a
rep never hands over): each kind to a person, or (customers, leads) to their team's pool, (tickets)
unassigned in their queue; contacts follow their customers unless told otherwise. A receiver of customers
must have room under the cap (core.pool.check_room; won customers do not count). core.org.deactivate_user
deactivates and hands over in one unit.

What moves (live records only; what sits in the recycle bin keeps its owner of the day it was deleted):
  customers  owner_id     every one (assigned_at starts anew for the receiver; one pool_moves row each,
                          reason 'handover')
  leads      owner_id     every lead not converted (a converted lead is closed: its customer moves)
  contacts   owner_id     every one
  deals      owner_id     open deals (a stage that is neither won nor lost); closed deals stay with who
                          closed them
  tasks      assignee_id  open tasks
  tickets    assignee_id  tickets not resolved or closed
  feedback   owner_id     open feedback
Each moved record also takes the receiver's team. History stays attached because it hangs off the
record (follow-ups, orders, stage and audit history); follow-ups keep who logged them. The audit log
gets a 'handover' row per record with the owner (and, where it changes, the team) old -> new, so the
former owner stays in the record's history.

Who may: the actor's customers `assign` scope must be team_tree or all (managers, admins), and reach
both users' teams; the receiver must be an active user who can hold customers (access.check_holder).
"""
from __future__ import annotations

import duckdb

from core import access, audit, db
from core.context import Actor
from core.errors import NotFound, PermissionDenied, ValidationError

# (table, owner column, audit entity, which records move: a fixed condition)
TABLES: tuple[tuple[str, str, str, str], ...] = (
    ("customers", "owner_id", "customer", "TRUE"),
    ("leads", "owner_id", "lead", "status IS DISTINCT FROM 'converted'"),
    ("contacts", "owner_id", "contact", "TRUE"),
    ("deals", "owner_id", "deal", "stage NOT IN (SELECT code FROM pipeline_stages WHERE is_won OR is_lost)"),
    ("tasks", "assignee_id", "task", "status = 'open'"),
    ("tickets", "assignee_id", "ticket", "status NOT IN ('resolved', 'closed')"),
    ("feedback", "owner_id", "feedback", "status = 'open'"),
)
KEYS = tuple(t for t, _c, _e, _w in TABLES)  # count keys, catalogue keys handover.count_<key>
SCOPES = ("team_tree", "all")


def can_handover(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    """Managers and admins whose customers `assign` scope is their team tree or everything."""
    return actor.role in ("admin", "manager") and access.scope_of(con, actor, "customers", "assign") in SCOPES


def _require(con, actor: Actor) -> str:
    if not can_handover(con, actor):
        raise PermissionDenied("handover.not_allowed")
    return access.scope_of(con, actor, "customers", "assign")


def _in_reach(actor: Actor, scope: str, team_id: int | None) -> bool:
    return scope == "all" or (team_id is not None and team_id in (actor.team_tree or (actor.team_id,)))


def _user(con, user_id) -> dict:
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        raise NotFound("org.user_not_found")
    found = db.one(con, "SELECT id, name, role, team_id, active FROM users WHERE id = ? AND deleted_at IS NULL",
                   [user_id])
    if found is None:
        raise NotFound("org.user_not_found")
    return found


def _leaver(con, actor: Actor, scope: str, from_user_id) -> dict:
    leaver = _user(con, from_user_id)
    if not _in_reach(actor, scope, leaver["team_id"]):
        raise NotFound("org.user_not_found")  # out of reach: as if not there
    return leaver


def leavers(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """The users whose records the actor may hand over (active or not), with what they hold in all."""
    scope = _require(con, actor)
    teams = [] if scope == "all" else list(actor.team_tree or (actor.team_id,))
    where = "TRUE" if scope == "all" else "u.team_id IN (SELECT unnest(?))"
    held = " + ".join(f"(SELECT count(*) FROM {t} x WHERE x.{c} = u.id AND x.deleted_at IS NULL AND {w})"
                      for t, c, _e, w in TABLES)
    return db.rows(
        con,
        f"SELECT u.id, u.name, u.username, u.role, u.active, t.name AS team, {held} AS held FROM users u "
        f"LEFT JOIN teams t ON t.id = u.team_id WHERE u.deleted_at IS NULL AND {where} "
        f"ORDER BY u.active, u.name",
        [teams] if scope != "all" else [],
    )


def receivers(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """The active users the actor may give records to: roles that hold customers, in the actor's reach."""
    scope = _require(con, actor)
    teams = [] if scope == "all" else list(actor.team_tree or (actor.team_id,))
    where = "TRUE" if scope == "all" else "(u.team_id IN (SELECT unnest(?)) OR u.id = ?)"
    return db.rows(
        con,
        f"SELECT u.id, u.name, u.username, u.role, t.name AS team FROM users u LEFT JOIN teams t ON t.id = u.team_id "
        f"WHERE u.deleted_at IS NULL AND u.active AND u.role IN (SELECT unnest(?)) AND {where} ORDER BY u.name",
        [list(access.HOLDER_ROLES)] + ([teams, actor.id] if scope != "all" else []),
    )


def _ids(con, from_user_id: int) -> dict[str, list[dict]]:
    out = {}
    for table, col, _entity, cond in TABLES:
        out[table] = db.rows(
            con, f"SELECT id, team_id FROM {table} "  # sql-ok: fixed list
                 f"WHERE {col} = ? AND deleted_at IS NULL AND {cond} ORDER BY id",
            [from_user_id])
    return out


def preview(con: duckdb.DuckDBPyConnection, actor: Actor, from_user_id: int,
            to_user_id: int | None = None) -> dict[str, int]:
    """How many records of each kind would move (the receiver, if given, is checked as well)."""
    scope = _require(con, actor)
    leaver = _leaver(con, actor, scope, from_user_id)
    if to_user_id is not None:
        _receiver(con, actor, leaver, to_user_id)
    where = " UNION ALL ".join(
        f"SELECT '{t}' AS k, count(*) FROM {t} WHERE {c} = ? AND deleted_at IS NULL AND {w}" for t, c, _e, w in TABLES)
    found = dict(con.execute(where, [leaver["id"]] * len(TABLES)).fetchall())
    return {k: int(found.get(k, 0)) for k in KEYS}


def _receiver(con, actor: Actor, leaver: dict, to_user_id) -> tuple[int, int | None]:
    if isinstance(to_user_id, bool) or not isinstance(to_user_id, int):
        raise ValidationError("assign.bad_owner")
    if to_user_id == leaver["id"]:
        raise ValidationError("handover.same_user")
    owner, team = access.check_holder(con, actor, "customers", to_user_id, None)
    return owner, team


POOL = "pool"
# kinds that may go to the pool: customers and leads to their team's pool, tickets unassigned in the queue
TO_POOL = ("customers", "leads", "tickets")


def _destinations(to_user_id, destinations) -> dict[str, int | str | None]:
    """kind -> a user id, "pool", or None (not given), from the one receiver and/or the per-kind choices."""
    if destinations is None:
        destinations = {}
    if not isinstance(destinations, dict) or not set(destinations) <= set(KEYS):
        raise ValidationError("handover.bad_destination")
    out: dict[str, int | str | None] = {}
    for kind in KEYS:
        dest = destinations.get(kind, to_user_id)
        if dest == POOL:
            if kind not in TO_POOL:
                raise ValidationError("handover.no_pool", kind=f"handover.count_{kind}")
        elif dest is not None and (isinstance(dest, bool) or not isinstance(dest, int)):
            raise ValidationError("assign.bad_owner")
        out[kind] = dest
    return out


def _person(con, actor: Actor, scope: str, leaver: dict, kind: str, user_id: int) -> tuple[int, int | None]:
    """A receiving user for `kind`: customers, leads, contacts, deals and tasks go to users who hold sales
    records (core.access.check_holder); tickets and feedback may also go to a service agent in reach."""
    if kind in ("tickets", "feedback"):
        if user_id == leaver["id"]:
            raise ValidationError("handover.same_user")
        found = db.one(con, "SELECT id, role, team_id FROM users WHERE id = ? AND active AND deleted_at IS NULL",
                       [user_id])
        if found is not None and found["role"] == "service":
            if not _in_reach(actor, scope, found["team_id"]) and access.scope_of(con, actor, kind, "assign") != "all":
                raise PermissionDenied("assign.out_of_scope")
            return found["id"], found["team_id"]
    return _receiver(con, actor, leaver, user_id)


def handover(con: duckdb.DuckDBPyConnection, actor: Actor, from_user_id: int, to_user_id: int | None = None,
             destinations: dict | None = None) -> dict[str, int]:
    """Move everything `from_user_id` holds (see the module's list) in one unit of work: each kind to
    `destinations[kind]` (a user id, or "pool": customers and leads to their team's pool, tickets
    unassigned in their queue), else to `to_user_id`. A kind with records and nowhere to go is refused
    (handover.where_to), and so is a receiver who would hold more customers than the cap
    (pool.cap_reached; won customers do not count). Contacts follow their customer. Returns how many
    records of each kind moved."""
    scope = _require(con, actor)
    dests = _destinations(to_user_id, destinations)

    def work():
        from core import contacts, pool

        leaver = _leaver(con, actor, scope, from_user_id)
        found = _ids(con, leaver["id"])
        targets: dict[str, tuple[int | None, int | None]] = {}
        for kind in KEYS:
            dest = dests[kind]
            if kind == "contacts" and dest is None:
                dest = dests["customers"]  # contacts follow their customers (to the pool too)
            if dest is None:
                if found[kind]:
                    raise ValidationError("handover.where_to", kind=f"handover.count_{kind}")
                continue
            # every chosen receiver is checked, whether or not there is something of that kind to move
            targets[kind] = (None, None) if dest == POOL else _person(con, actor, scope, leaver, kind, dest)
        # the cap: every receiver of customers gets room for the customers that are not won
        if "customers" in targets and targets["customers"][0] is not None:
            adding = db.scalar(con, "SELECT count(*) FROM customers WHERE id IN (SELECT unnest(?)) "
                                    "AND stage NOT IN ('won', 'upgrade')", [[r["id"] for r in found["customers"]]])
            pool.check_room(con, targets["customers"][0], adding)
        counts = {k: len(v) for k, v in found.items()}
        for table, col, entity, _cond in TABLES:
            if table not in targets or not found[table]:
                continue
            rows = found[table]
            ids = [r["id"] for r in rows]
            if not ids:
                continue
            owner, team = targets[table]
            to_pool = owner is None
            if table == "customers":  # the pool's log of who held each customer (written before the move)
                con.execute(
                    "INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, "
                    "reason, moved_by, moved_at) SELECT nextval('seq_pool_moves'), id, owner_id, ?, team_id, "
                    "coalesce(?, team_id), 'handover', ?, ? FROM customers WHERE id IN (SELECT unnest(?))",
                    [owner, team, actor.id, actor.now, ids])
                extra, args = ((", pool_since = ?, pool_reason = 'handover', locked_at = NULL, locked_by = NULL",
                                [actor.now]) if to_pool else (", assigned_at = ?, pool_since = NULL", [actor.now]))
            else:
                extra, args = "", []
            # selected under the unit, updated by id (never an update that hands rows back: FACTS.md);
            # to the pool a record keeps its team (its team's pool)
            con.execute(
                f"UPDATE {table} SET {col} = ?, team_id = coalesce(?, team_id){extra} "  # sql-ok: fixed list
                f"WHERE id IN (SELECT unnest(?)) AND {col} = ?",
                [owner, team] + args + [ids, leaver["id"]])
            audit.record_many(con, actor, "handover", entity, ids, field=col, old=leaver["id"], new=owner)
            if not to_pool:
                by_team: dict[int | None, list[int]] = {}
                for r in rows:
                    if r["team_id"] != team:
                        by_team.setdefault(r["team_id"], []).append(r["id"])
                for old_team, moved in by_team.items():
                    audit.record_many(con, actor, "handover", entity, moved, field="team_id", old=old_team, new=team)
        if found["customers"] and "customers" in targets:  # a customer's contacts carry its owner and team
            contacts.sync_holders(con, [r["id"] for r in found["customers"]])
        return counts

    return db.write(con, work)
