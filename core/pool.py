"""The shared pool (公海) and assignment: caps, claim, release, lock, the even split (平均分配),
moving the excess, the weekly refresh and the assignment log.

A pool is a team's customers with owner_id NULL (customers.team_id = the pool). Every move writes a
pool_moves row with its reason; splits, refreshes and over-limit moves write one assignment_runs row
and tag their pool_moves rows with its id."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, db, settings
from core.context import SYSTEM, Actor
from core.errors import NotFound, PermissionDenied, ValidationError

WON = ("won", "upgrade")


def _ids(user_ids) -> list[int]:
    return sorted({int(u) for u in user_ids if u is not None})


def cap_of(con: duckdb.DuckDBPyConnection, user_ids) -> dict[int, int]:
    """The customer cap of each user: users.customer_cap, else the team's, else the company setting."""
    ids = _ids(user_ids)
    if not ids:
        return {}
    default = int(settings.get(con, "pool.max_open_customers_per_rep"))
    rows = con.execute(
        "SELECT u.id, coalesce(u.customer_cap, t.customer_cap) FROM users u "
        "LEFT JOIN teams t ON t.id = u.team_id WHERE u.id IN (SELECT unnest(?::BIGINT[]))", [ids]).fetchall()
    out = {int(i): (int(c) if c is not None else default) for i, c in rows}
    for i in ids:
        out.setdefault(i, default)
    return out


def held(con: duckdb.DuckDBPyConnection, user_ids) -> dict[int, int]:
    """Live customers (not deleted, not merged) each user owns that are not won."""
    ids = _ids(user_ids)
    if not ids:
        return {}
    rows = con.execute(
        "SELECT owner_id, count(*) FROM customers WHERE owner_id IN (SELECT unnest(?::BIGINT[])) "
        "AND deleted_at IS NULL AND merged_into_id IS NULL AND stage NOT IN ('won', 'upgrade') "
        "GROUP BY owner_id", [ids]).fetchall()
    out = {i: 0 for i in ids}
    out.update({int(o): int(n) for o, n in rows})
    return out


def room(con: duckdb.DuckDBPyConnection, user_ids) -> dict[int, int]:
    """How many more not-won customers each user may receive (never below 0)."""
    caps, have = cap_of(con, user_ids), held(con, user_ids)
    return {u: max(0, caps[u] - have.get(u, 0)) for u in caps}


def check_room(con: duckdb.DuckDBPyConnection, owner_id: int | None, adding: int) -> None:
    """Refuse to give `adding` more not-won customers to owner_id beyond the cap
    (ValidationError pool.cap_reached with name, held, cap). None (the pool) always has room."""
    if owner_id is None or adding <= 0:
        return
    uid = int(owner_id)
    cap = cap_of(con, [uid])[uid]
    have = held(con, [uid])[uid]
    if have + adding > cap:
        row = con.execute("SELECT name FROM users WHERE id = ?", [uid]).fetchone()
        raise ValidationError("pool.cap_reached", name=row[0] if row else str(uid), held=have, cap=cap)


# ------------------------------------------------------------------------------------------ pool rules
_POOL_KEYS = {"daily_claim_cap": "pool.daily_claim_cap", "reclaim_wait_days": "pool.reclaim_wait_days",
              "claim_cooldown_hours": "pool.claim_cooldown_hours"}
SPLIT_MAX = 1_000_000
# why a record was not placed by a split (catalogue pool.left.<code>) and why a rep was skipped (pool.skip.<code>)
LEFT_REASONS = ("no_reps", "reps_full", "owned", "won", "not_found")
SKIP_REASONS = ("new_hire", "at_cap", "untouched_raw")
# the order of a pool after the weekly refresh (resort): the customer level's position (A first), then the
# most recently active, then the longest in the pool
RESORT_ORDER = ("coalesce(l.position, 1000000), c.last_activity_at DESC NULLS LAST, c.pool_since NULLS LAST, c.id")


def caps(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict:
    """The caps the actor may see (admins all, managers their team tree): {"teams": frame(team_id, name,
    customer_cap), "users": frame(user_id, name, team_id, team, customer_cap, lock_cap, effective_cap,
    effective_lock_cap, held)}; a NULL cap means the next level's (user -> team -> setting)."""
    _manager_scope(con, actor, "pool.reps_cannot_move")
    admin = _admin_pools(con, actor)
    where, params = ("", []) if admin is None else ("AND t.id IN (SELECT unnest(?::BIGINT[]))", [sorted(admin)])
    teams = con.sql(f"SELECT t.id AS team_id, t.name, t.customer_cap FROM teams t WHERE t.deleted_at IS NULL "  # sql-ok
                    f"{where} ORDER BY t.name", params=params).pl()
    users = con.sql(f"SELECT u.id AS user_id, u.name, u.team_id, t.name AS team, u.customer_cap, u.lock_cap "  # sql-ok
                    f"FROM users u JOIN teams t ON t.id = u.team_id WHERE u.deleted_at IS NULL AND u.active "
                    f"AND u.role IN ('admin', 'manager', 'sales') {where} ORDER BY t.name, u.name",
                    params=params).pl()
    ids = users["user_id"].to_list()
    cap, have = cap_of(con, ids), held(con, ids)
    lock_default = int(settings.get(con, "pool.lock_cap"))
    users = users.with_columns(
        pl.Series("effective_cap", [cap[u] for u in ids], dtype=pl.Int64),
        pl.col("lock_cap").fill_null(lock_default).cast(pl.Int64).alias("effective_lock_cap"),
        pl.Series("held", [have[u] for u in ids], dtype=pl.Int64))
    return {"teams": teams, "users": users}


_UNSET = object()


def set_cap(con: duckdb.DuckDBPyConnection, actor: Actor, *, team_id: Any = None, user_id: Any = None,
            customer_cap: Any = None, lock_cap: Any = _UNSET) -> None:
    """The admin sets a team's customer cap, or a user's customer cap and lock cap (None: the next level's,
    i.e. the team's or the setting pool.max_open_customers_per_rep / pool.lock_cap). Audited."""
    access.require(con, actor, "settings", "edit")
    if (team_id is None) == (user_id is None):
        raise ValidationError("pool.cap_target")

    def number(value, low, high, key):
        if value is None:
            return None
        if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit() \
                or not low <= int(value) <= high:
            raise ValidationError(key, low=low, high=high)
        return int(value)

    cap = number(customer_cap, 1, 100_000, "pool.bad_cap")
    locks = _UNSET if lock_cap is _UNSET else number(lock_cap, 0, 10_000, "pool.bad_cap")

    def work():
        if team_id is not None:
            tid = int(_target_teams(con, actor, [team_id])[0])
            old = db.scalar(con, "SELECT customer_cap FROM teams WHERE id = ?", [tid])
            if old != cap:
                con.execute("UPDATE teams SET customer_cap = ? WHERE id = ?", [cap, tid])
                audit.record(con, actor, "update", "team", tid, {"customer_cap": (old, cap)})
            return
        if isinstance(user_id, bool) or not str(user_id).strip().isdigit():
            raise NotFound("org.user_not_found")
        uid = int(user_id)
        row = db.one(con, "SELECT customer_cap, lock_cap FROM users WHERE id = ? AND deleted_at IS NULL", [uid])
        if row is None:
            raise NotFound("org.user_not_found")
        changes = {}
        if row["customer_cap"] != cap:
            changes["customer_cap"] = (row["customer_cap"], cap)
        if locks is not _UNSET and row["lock_cap"] != locks:
            changes["lock_cap"] = (row["lock_cap"], locks)
        if changes:
            con.execute("UPDATE users SET customer_cap = ?, lock_cap = ? WHERE id = ?",
                        [cap, row["lock_cap"] if locks is _UNSET else locks, uid])
            audit.record(con, actor, "update", "user", uid, changes)

    db.write(con, work)


def settings_for(con: duckdb.DuckDBPyConnection, team_id: int | None) -> dict:
    """A pool's claim rules: its pool_settings row, else the company settings pool.*."""
    base = settings.get_many(con, list(_POOL_KEYS.values()))
    out = {k: int(base[v]) for k, v in _POOL_KEYS.items()}
    if team_id is not None:
        row = db.one(con, "SELECT daily_claim_cap, reclaim_wait_days, claim_cooldown_hours FROM pool_settings "
                          "WHERE team_id = ?", [int(team_id)])
        for k, v in (row or {}).items():
            if v is not None:
                out[k] = int(v)
    return out


def _member_pools(con, actor: Actor) -> set[int]:
    """The pools the actor may claim from: the own team's, Actor.pools, pool_members rows."""
    out = {int(t) for t in getattr(actor, "pools", ()) or ()}
    if actor.team_id is not None:
        out.add(int(actor.team_id))
    if actor.id is not None:
        out |= {int(r[0]) for r in con.execute("SELECT team_id FROM pool_members WHERE user_id = ?",
                                               [actor.id]).fetchall()}
    return out


def _admin_pools(con, actor: Actor) -> set[int] | None:
    """Pools the actor administers (None = every pool): admins all, managers their team tree, pool admins."""
    scope = access.scope_of(con, actor, "customers", "assign")
    if scope == "all":
        return None
    out: set[int] = set()
    if scope == "team" and actor.team_id is not None:
        out.add(actor.team_id)
    elif scope == "team_tree":
        out |= set(actor.team_tree or (actor.team_id,))
    if actor.id is not None:
        out |= {int(r[0]) for r in con.execute("SELECT team_id FROM pool_members WHERE user_id = ? AND role = 'admin'",
                                               [actor.id]).fetchall()}
    return {t for t in out if t is not None}


def pools(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """The pools the actor may see: {team_id, name, size, is_new_hire_pool, can_claim, is_admin}."""
    access.require(con, actor, "customers", "view")
    member, admin = _member_pools(con, actor), _admin_pools(con, actor)
    seen = None if admin is None else sorted(member | admin)
    where = "" if seen is None else "AND t.id IN (SELECT unnest(?::BIGINT[]))"
    rows = db.rows(con, "SELECT t.id AS team_id, t.name, t.is_new_hire_pool, "
                        "(SELECT count(*) FROM customers c WHERE c.team_id = t.id AND c.owner_id IS NULL "
                        " AND c.deleted_at IS NULL AND c.merged_into_id IS NULL) AS size "
                        f"FROM teams t WHERE t.deleted_at IS NULL {where} ORDER BY t.name",
                   [] if seen is None else [seen])
    holder = actor.role in access.HOLDER_ROLES and actor.id is not None
    for r in rows:
        r["can_claim"] = holder and r["team_id"] in member
        r["is_admin"] = admin is None or r["team_id"] in admin
    return rows


def _today_bounds(con, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return clock.day_bounds_utc(con, clock.local_today(con, now))


def claimed_today(con: duckdb.DuckDBPyConnection, user_id: int, now: dt.datetime) -> int:
    """Claims the user made on the company's current day (pool_moves reason claim)."""
    start, end = _today_bounds(con, now)
    return int(db.scalar(con, "SELECT count(*) FROM pool_moves WHERE reason = 'claim' AND to_owner_id = ? "
                              "AND moved_at >= ? AND moved_at < ?", [user_id, start, end]))


def _count(reasons: dict, key: str, n: int = 1) -> None:
    if n:
        reasons[key] = reasons.get(key, 0) + n


def claim(con: duckdb.DuckDBPyConnection, actor: Actor, ids: Any) -> dict:
    """The actor claims (领取) pool customers. Each is checked: in a pool (not_in_pool), a pool the actor
    belongs to (not_member), out of its cool-down (cooldown), not within the former owner's waiting period
    (wait), the daily claim cap (daily_cap) and the actor's customer cap (cap). Returns
    {"done": n, "refused": {reason: n}}."""
    access.require(con, actor, "customers", "assign")
    if actor.id is None or actor.role not in access.HOLDER_ROLES:
        raise PermissionDenied("pool.cannot_claim")
    from core import customers

    ids = customers._bulk_ids(ids)

    def work():
        now = actor.now
        refused: dict[str, int] = {}
        rows = {r["id"]: r for r in db.rows(
            con, "SELECT id, owner_id, team_id, stage, pool_since FROM customers WHERE id IN (SELECT unnest(?)) "
                 "AND deleted_at IS NULL AND merged_into_id IS NULL", [ids])}
        last_out = dict(con.execute(
            "SELECT customer_id, max(moved_at) FROM pool_moves WHERE from_owner_id = ? "
            "AND customer_id IN (SELECT unnest(?)) GROUP BY customer_id", [actor.id, ids]).fetchall())
        member = _member_pools(con, actor)
        rules = {t: settings_for(con, t) for t in {r["team_id"] for r in rows.values()} if t is not None}
        today = claimed_today(con, actor.id, now)
        space = room(con, [actor.id])[actor.id]
        chosen, per_team = [], {}
        for i in ids:
            r = rows.get(i)
            if r is None or r["owner_id"] is not None or r["team_id"] is None:
                _count(refused, "not_in_pool")
                continue
            if r["team_id"] not in member:
                _count(refused, "not_member")
                continue
            rule = rules[r["team_id"]]
            if r["pool_since"] is not None and now < r["pool_since"] + dt.timedelta(hours=rule["claim_cooldown_hours"]):
                _count(refused, "cooldown")
                continue
            if i in last_out and now < last_out[i] + dt.timedelta(days=rule["reclaim_wait_days"]):
                _count(refused, "wait")
                continue
            if today + len(chosen) >= rule["daily_claim_cap"]:
                _count(refused, "daily_cap")
                continue
            counts = r["stage"] not in WON
            if counts and space <= 0:
                _count(refused, "cap")
                continue
            space -= 1 if counts else 0
            chosen.append(r)
            per_team[r["team_id"]] = per_team.get(r["team_id"], 0) + 1
        moved = [r["id"] for r in chosen]
        if moved:
            con.execute("UPDATE customers SET owner_id = ?, team_id = coalesce(?, team_id), assigned_at = ?, "
                        "pool_since = NULL, pool_reason = NULL, pool_rank = NULL, locked_at = NULL, locked_by = NULL, "
                        "updated_at = greatest(updated_at + INTERVAL 1 MICROSECOND, ?) WHERE id IN (SELECT unnest(?))",
                        [actor.id, actor.team_id, now, now, moved])
            con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, "
                        "reason, moved_by, moved_at) SELECT nextval('seq_pool_moves'), id, NULL, ?, team_id, "
                        "coalesce(?, team_id), 'claim', ?, ? FROM (SELECT unnest(?) AS id, unnest(?) AS team_id)",
                        [actor.id, actor.team_id, actor.id, now, moved, [r["team_id"] for r in chosen]])
            audit.record_many(con, actor, "claim", "customer", moved, field="owner_id", old=None, new=actor.id)
            from core import contacts

            contacts.sync_holders(con, moved)
        return {"done": len(moved), "refused": refused}

    return db.write(con, work)


def release(con: duckdb.DuckDBPyConnection, actor: Actor, ids: Any, reason: str = "release") -> dict:
    """Release customers to their team's pool (a rep: own ones only; managers and admins: those in their
    assign scope). Won customers stay (won); others not movable are refused (not_allowed).
    Returns {"done": n, "refused": {reason: n}}."""
    access.require(con, actor, "customers", "assign")
    from core import customers

    ids = customers._bulk_ids(ids)
    own_only = access.scope_of(con, actor, "customers", "assign") == "own"

    def work():
        refused: dict[str, int] = {}
        found = {r["id"]: r for r in customers._in_scope(con, actor, ids, "assign")}
        rows = []
        for i in ids:
            r = found.get(i)
            if r is None or r["owner_id"] is None or (own_only and r["owner_id"] != actor.id):
                _count(refused, "not_allowed")
            elif r["stage"] in WON:
                _count(refused, "won")
            else:
                rows.append(r)
        _to_pool(con, actor, rows, reason, "release")
        return {"done": len(rows), "refused": refused}

    return db.write(con, work)


def _to_pool(con, actor: Actor, rows: list[dict], reason: str, pool_reason: str, run_id: int | None = None,
             detail: str | None = None) -> None:
    """Move rows (id, owner_id, team_id) to their team's pool with pool_moves and audit rows (inside a unit)."""
    if not rows:
        return
    moved = [r["id"] for r in rows]
    con.execute("UPDATE customers SET owner_id = NULL, pool_since = ?, pool_reason = ?, pool_rank = NULL, "
                "locked_at = NULL, locked_by = NULL, updated_at = greatest(updated_at + INTERVAL 1 MICROSECOND, ?) "
                "WHERE id IN (SELECT unnest(?))", [actor.now, pool_reason, actor.now, moved])
    con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, reason, "
                "moved_by, moved_at, run_id, detail) SELECT nextval('seq_pool_moves'), id, owner_id, NULL, team_id, "
                "team_id, ?, ?, ?, ?, ? FROM (SELECT unnest(?) AS id, unnest(?::BIGINT[]) AS owner_id, "
                "unnest(?::BIGINT[]) AS team_id)",
                [reason, actor.id, actor.now, run_id, detail, moved, [r["owner_id"] for r in rows],
                 [r["team_id"] for r in rows]])
    for owner in {r["owner_id"] for r in rows}:
        audit.record_many(con, actor, "release", "customer", [r["id"] for r in rows if r["owner_id"] == owner],
                          field="owner_id", old=owner, new=None)
    from core import contacts

    contacts.sync_holders(con, moved)


def lock_cap_of(con: duckdb.DuckDBPyConnection, user_id: int) -> int:
    value = db.scalar(con, "SELECT lock_cap FROM users WHERE id = ?", [user_id])
    return int(value) if value is not None else int(settings.get(con, "pool.lock_cap"))


def lock(con: duckdb.DuckDBPyConnection, actor: Actor, ids: Any, on: bool = True) -> dict:
    """The owner locks (锁定) customers against reclaim, up to the lock cap (users.lock_cap, else the setting
    pool.lock_cap), or unlocks them. Managers and admins may do it for customers in their assign scope
    (counted against the owner's cap). Returns {"done": n, "refused": {reason: n}} (not_allowed, lock_cap)."""
    access.require(con, actor, "customers", "assign")
    from core import customers

    ids = customers._bulk_ids(ids)
    own_only = access.scope_of(con, actor, "customers", "assign") == "own"

    def work():
        refused: dict[str, int] = {}
        found = {r["id"]: r for r in db.rows(
            con, "SELECT x.id, x.owner_id, x.locked_at FROM customers x WHERE x.id IN (SELECT unnest(?)) "
                 "AND x.deleted_at IS NULL AND x.owner_id IS NOT NULL", [ids])}
        scoped = {r["id"] for r in customers._in_scope(con, actor, list(found), "assign")} if found else set()
        chosen, used = [], {}
        for i in ids:
            r = found.get(i)
            if r is None or i not in scoped or (own_only and r["owner_id"] != actor.id):
                _count(refused, "not_allowed")
                continue
            if bool(on) == (r["locked_at"] is not None):
                continue  # already as asked
            if on:
                o = r["owner_id"]
                if o not in used:
                    used[o] = [int(db.scalar(con, "SELECT count(*) FROM customers WHERE owner_id = ? AND "
                                                  "locked_at IS NOT NULL AND deleted_at IS NULL", [o])),
                               lock_cap_of(con, o)]
                if used[o][0] >= used[o][1]:
                    _count(refused, "lock_cap")
                    continue
                used[o][0] += 1
            chosen.append(i)
        if chosen:
            con.execute("UPDATE customers SET locked_at = ?, locked_by = ?, updated_at = greatest(updated_at + "
                        "INTERVAL 1 MICROSECOND, ?) WHERE id IN (SELECT unnest(?))",
                        [actor.now if on else None, actor.id if on else None, actor.now, chosen])
            audit.record_many(con, actor, "update", "customer", chosen, field="locked_at",
                              old=None if on else "locked", new="locked" if on else None)
        return {"done": len(chosen), "refused": refused}

    return db.write(con, work)


# ------------------------------------------------------------------------------------ the even split
def _record_ids(ids: Any) -> list[int]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, set, frozenset)) \
            or not 0 < len(ids) <= SPLIT_MAX:
        raise ValidationError("pool.bad_selection", max=SPLIT_MAX)
    out = set()
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, (int, str)) or not str(i).strip().isdigit():
            raise ValidationError("pool.bad_selection", max=SPLIT_MAX)
        out.add(int(i))
    return sorted(out)


def _manager_scope(con, actor: Actor, key: str) -> None:
    access.require(con, actor, "customers", "assign")
    if access.scope_of(con, actor, "customers", "assign") == "own":
        raise PermissionDenied(key)


def _target_teams(con, actor: Actor, team_ids: Any) -> list[int]:
    if isinstance(team_ids, (int, str)):
        team_ids = [team_ids]
    if not team_ids:
        raise ValidationError("pool.no_teams")
    teams = []
    for t in team_ids:
        if isinstance(t, bool) or not str(t).strip().isdigit():
            raise ValidationError("assign.bad_team")
        if int(t) not in teams:
            teams.append(int(t))
    live = {r[0] for r in con.execute("SELECT id FROM teams WHERE deleted_at IS NULL AND id IN (SELECT unnest(?))",
                                      [teams]).fetchall()}
    if set(teams) - live:
        raise ValidationError("assign.bad_team")
    admin = _admin_pools(con, actor)
    if admin is not None and set(teams) - admin:
        raise PermissionDenied("assign.out_of_scope")
    return teams


def weighting_of(con: duckdb.DuckDBPyConnection, weighting: str | None = None) -> str:
    """equal | won_deals | followups: the argument, else the settings assignment.*."""
    if weighting is None:
        got = settings.get_many(con, ["assignment.weighted_by_performance", "assignment.weight_by"])
        weighting = got["assignment.weight_by"] if got["assignment.weighted_by_performance"] else "equal"
    if weighting not in ("equal", "won_deals", "followups"):
        raise ValidationError("pool.bad_weighting")
    return weighting


def performance(con: duckdb.DuckDBPyConnection, user_ids: list[int], now: dt.datetime, weighting: str) -> dict[int, int]:
    """Won deals (closed on a won stage) or follow-ups logged by each user over the last
    assignment.performance_days days."""
    out = {u: 0 for u in user_ids}
    if weighting == "equal" or not user_ids:
        return out
    since = now - dt.timedelta(days=int(settings.get(con, "assignment.performance_days")))
    if weighting == "won_deals":
        rows = con.execute("SELECT d.owner_id, count(*) FROM deals d JOIN pipeline_stages s ON s.code = d.stage "
                           "WHERE s.is_won AND d.deleted_at IS NULL AND d.owner_id IN (SELECT unnest(?)) "
                           "AND coalesce(d.closed_on, CAST(d.updated_at AS DATE)) >= ? "
                           "AND coalesce(d.closed_on, CAST(d.updated_at AS DATE)) <= ? GROUP BY d.owner_id",
                           [user_ids, since.date(), now.date()]).fetchall()
    else:
        rows = con.execute("SELECT user_id, count(*) FROM activities WHERE deleted_at IS NULL "
                           "AND user_id IN (SELECT unnest(?)) AND occurred_at >= ? AND occurred_at <= ? "
                           "GROUP BY user_id", [user_ids, since, now]).fetchall()
    out.update({int(u): int(n) for u, n in rows})
    return out


def quotas(n: int, reps: list[tuple[int, float, int]]) -> dict[int, int]:
    """Share n records among reps (user id, weight, room): proportional to weight, never beyond a rep's room;
    whole numbers by largest remainder (ties to the lower id), so equal weights give counts within 1."""
    q = {u: 0 for u, _w, _r in reps}
    active = {u: (float(w), int(r)) for u, w, r in reps if r > 0 and w > 0}
    left = n
    while left > 0 and active:
        total = sum(w for w, _r in active.values())
        shares = {u: left * w / total for u, (w, _r) in active.items()}
        full = [u for u in active if shares[u] >= active[u][1] - q[u]]
        if full:
            for u in full:
                give = active[u][1] - q[u]
                q[u] += give
                left -= give
                del active[u]
            continue
        base = {u: int(shares[u]) for u in active}
        for u in active:
            q[u] += base[u]
        left -= sum(base.values())
        for u in sorted(active, key=lambda u: (-(shares[u] - base[u]), u))[:left]:
            q[u] += 1
        left = 0
    return q


def _sequence(q: dict[int, int]) -> list[int]:
    """The round-robin order of the owners: each rep's k-th record at (k + 0.5) / quota, merged."""
    import numpy as np

    users = [u for u, n in q.items() if n > 0]
    if not users:
        return []
    counts = np.array([q[u] for u in users], dtype=np.int64)
    owner = np.repeat(np.array(users, dtype=np.int64), counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    key = (np.arange(owner.size) - start + 0.5) / np.repeat(counts, counts)
    return owner[np.lexsort((owner, key))].tolist()


def _reps(con, team_ids: list[int]) -> list[dict]:
    return db.rows(con, "SELECT id, name, team_id, is_new_hire FROM users WHERE role = 'sales' AND active "
                        "AND deleted_at IS NULL AND team_id IN (SELECT unnest(?)) ORDER BY id", [team_ids])


def untouched_raw(con: duckdb.DuckDBPyConnection, user_ids: list[int]) -> set[int]:
    """Reps whose raw-stage customers include one given to them (assigned_at) with no follow-up since."""
    if not user_ids:
        return set()
    return {int(r[0]) for r in con.execute(
        "SELECT DISTINCT owner_id FROM customers WHERE owner_id IN (SELECT unnest(?)) AND stage = 'raw' "
        "AND deleted_at IS NULL AND merged_into_id IS NULL AND assigned_at IS NOT NULL "
        "AND (last_activity_at IS NULL OR last_activity_at < assigned_at)", [user_ids]).fetchall()}


def split(con: duckdb.DuckDBPyConnection, actor: Actor, *, ids: Any = None, import_id: Any = None,
          pool_team_id: Any = None, team_ids: Any, weighting: str | None = None, skip_untouched: bool | None = None,
          dry_run: bool = False) -> dict:
    """The even split (平均分配) of a selection, an imported batch or a pool among the reps of `team_ids`.

    Reps (role sales, active) are skipped when new hires (unless assignment.new_hires_get_new_data), at their
    cap, or holding untouched raw customers (assignment.skip_reps_with_untouched_raw, or `skip_untouched`).
    Records are shared round-robin in proportion to 1 + each rep's recent performance (`weighting` or the
    settings), never beyond a rep's room (cap - held). What cannot be placed stays in (or, without a team,
    goes to) its team's pool, counted by reason. One UPDATE from a frame; one assignment_runs row; pool_moves
    rows (reason split) carry its id. Managers and admins only (PermissionDenied for reps)."""
    _manager_scope(con, actor, "pool.reps_cannot_split")
    teams = _target_teams(con, actor, team_ids)
    given = [x for x in (ids, import_id, pool_team_id) if x is not None]
    if len(given) != 1:
        raise ValidationError("pool.no_source")
    if ids is not None:
        chosen = _record_ids(ids)
        where, params, source = "c.id IN (SELECT unnest(?))", [chosen], "selection"
    elif import_id is not None:
        if isinstance(import_id, bool) or not str(import_id).strip().isdigit():
            raise NotFound("error.not_found")
        where, params, source = "c.import_id = ?", [int(import_id)], f"import:{int(import_id)}"
        chosen = None
    else:
        if isinstance(pool_team_id, bool) or not str(pool_team_id).strip().isdigit():
            raise ValidationError("assign.bad_team")
        where, params = "c.team_id = ? AND c.owner_id IS NULL", [int(pool_team_id)]
        source, chosen = f"pool:{int(pool_team_id)}", None
    return _split(con, actor, where, params, source, teams, weighting=weighting, skip_untouched=skip_untouched,
                  dry_run=dry_run, requested=None if chosen is None else len(chosen))


def _split(con, actor: Actor, where: str, params: list, source: str, teams: list[int], *, weighting=None,
           skip_untouched=None, dry_run=False, requested=None, kind="split", reason="split") -> dict:
    weighting = weighting_of(con, weighting)
    conf = settings.get_many(con, ["assignment.skip_reps_with_untouched_raw", "assignment.new_hires_get_new_data"])
    if skip_untouched is None:
        skip_untouched = bool(conf["assignment.skip_reps_with_untouched_raw"])
    scope_sql, scope_params = access.predicate(con, actor, "customers", "assign", "c")

    def work():
        now = actor.now
        found = con.sql(
            f"SELECT c.id, c.owner_id, c.team_id, c.stage FROM customers c WHERE {where} AND c.deleted_at IS NULL "
            f"AND c.merged_into_id IS NULL AND {scope_sql} "
            "ORDER BY c.pool_rank NULLS LAST, c.pool_since NULLS LAST, c.id", params=params + scope_params).pl()
        asked = len(found) if requested is None else requested
        reasons: dict[str, int] = {}
        _count(reasons, "not_found", asked - len(found))
        _count(reasons, "owned", found.filter(pl.col("owner_id").is_not_null()).height)
        pooled = found.filter(pl.col("owner_id").is_null())
        _count(reasons, "won", pooled.filter(pl.col("stage").is_in(list(WON))).height)
        todo = pooled.filter(~pl.col("stage").is_in(list(WON)))
        # the reps and why some are skipped
        reps = _reps(con, teams)
        rep_ids = [r["id"] for r in reps]
        space = room(con, rep_ids)
        busy = untouched_raw(con, rep_ids) if skip_untouched else set()
        skipped: dict[int, str] = {}
        for r in reps:
            if r["is_new_hire"] and not conf["assignment.new_hires_get_new_data"]:
                skipped[r["id"]] = "new_hire"
            elif r["id"] in busy:
                skipped[r["id"]] = "untouched_raw"
            elif space[r["id"]] <= 0:
                skipped[r["id"]] = "at_cap"
        eligible = [r for r in reps if r["id"] not in skipped]
        perf = performance(con, [r["id"] for r in eligible], now, weighting)
        q = quotas(todo.height, [(r["id"], 1 + perf[r["id"]], space[r["id"]]) for r in eligible])
        owners = _sequence(q)
        placed = todo.head(len(owners)).with_columns(pl.Series("new_owner", owners, dtype=pl.Int64))
        team_of = {r["id"]: r["team_id"] for r in reps}
        placed = placed.with_columns(pl.col("new_owner").replace_strict(team_of, return_dtype=pl.Int64)
                                     .alias("new_team"))
        left = todo.height - placed.height
        if left:
            _count(reasons, "reps_full" if eligible or any(v == "at_cap" for v in skipped.values()) else "no_reps",
                   left)
        run_id = None
        if not dry_run:
            run_id = db.next_id(con, "assignment_runs")
            if placed.height:
                _place(con, actor, placed.select("id", "team_id", "new_owner", "new_team"), run_id, reason)
            homeless = todo.tail(left).filter(pl.col("team_id").is_null())["id"].to_list() if left else []
            if homeless:  # nothing silently unassigned: a record without a team goes to the first team's pool
                con.execute("UPDATE customers SET team_id = ?, pool_since = coalesce(pool_since, ?), "
                            "pool_reason = coalesce(pool_reason, 'new'), updated_at = greatest(updated_at + "
                            "INTERVAL 1 MICROSECOND, ?) WHERE id IN (SELECT unnest(?))", [teams[0], now, now, homeless])
                con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, "
                            "to_team_id, reason, moved_by, moved_at, run_id) SELECT nextval('seq_pool_moves'), i, NULL, "
                            "NULL, NULL, ?, ?, ?, ?, ? FROM (SELECT unnest(?) AS i)",
                            [teams[0], reason, actor.id, now, run_id, homeless])
            per_rep = {str(u): n for u, n in q.items()}
            rep_reasons = {}
            for why in skipped.values():
                _count(rep_reasons, f"rep_{why}")
            con.execute("INSERT INTO assignment_runs (id, kind, source, teams, weighting, requested, assigned, "
                        "left_in_pool, reasons, per_rep, dry_run, run_by, run_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                        "FALSE, ?, ?)", [run_id, kind, source, json.dumps(teams), weighting, asked, placed.height,
                                         left, json.dumps({**reasons, **rep_reasons}), json.dumps(per_rep),
                                         actor.id, now])
        return {"run_id": run_id, "requested": asked, "assigned": placed.height, "left_in_pool": left,
                "per_rep": q, "skipped_reps": skipped, "reasons": reasons, "weighting": weighting}

    if dry_run:
        return work()
    return db.write(con, work)


def _place(con, actor: Actor, frame: pl.DataFrame, run_id: int | None, reason: str) -> None:
    """Give each frame row (id, team_id, new_owner, new_team) to its owner in one UPDATE, with the
    pool_moves and audit rows in one INSERT each (inside a unit)."""
    import uuid

    name = f"_pool_place_{uuid.uuid4().hex}"
    con.register(name, frame.to_arrow())
    try:
        con.execute(f"UPDATE customers SET owner_id = s.new_owner, team_id = s.new_team, assigned_at = ?, "  # sql-ok: name
                    f"pool_since = NULL, pool_reason = NULL, pool_rank = NULL, locked_at = NULL, locked_by = NULL, "
                    f"updated_at = greatest(customers.updated_at + INTERVAL 1 MICROSECOND, ?) FROM {name} s "
                    f"WHERE customers.id = s.id", [actor.now, actor.now])
        con.execute(f"INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, "  # sql-ok: name
                    f"to_team_id, "
                    f"reason, moved_by, moved_at, run_id) SELECT nextval('seq_pool_moves'), s.id, NULL, s.new_owner, "
                    f"s.team_id, s.new_team, ?, ?, ?, ? FROM {name} s", [reason, actor.id, actor.now, run_id])
        con.execute(f"INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, "  # sql-ok: name
                    f"old_value, "
                    f"new_value) SELECT nextval('seq_audit_log'), ?, ?, 'reassign', 'customer', s.id, 'owner_id', NULL, "
                    f"CAST(s.new_owner AS VARCHAR) FROM {name} s", [actor.now, actor.id])
        # the contacts' copy of owner and team (contacts.sync_holders, from the frame: no 100k-id parameter)
        con.execute(f"UPDATE contacts SET owner_id = s.new_owner, team_id = s.new_team FROM {name} s "  # sql-ok: name
                    f"WHERE contacts.customer_id = s.id AND (contacts.owner_id IS DISTINCT FROM s.new_owner "
                    f"OR contacts.team_id IS DISTINCT FROM s.new_team)")
    finally:
        con.unregister(name)


# ------------------------------------------------------------------------------------ caps: move the excess
def move_excess(con: duckdb.DuckDBPyConnection, actor: Actor, *, user_ids: Any = None, team_id: Any = None,
                dry_run: bool = False) -> dict:
    """Move each rep's customers beyond the cap to the team pool (reason over_limit), oldest untouched first
    (never followed up since given, the longest held first; then the longest without a follow-up; locked
    ones last). Managers (their team tree) and admins. Returns {"per_rep": {user_id: n}, "moved": n, "run_id"}."""
    _manager_scope(con, actor, "pool.reps_cannot_move")
    admin = _admin_pools(con, actor)
    where, params = ["u.deleted_at IS NULL", "u.role IN ('admin', 'manager', 'sales')"], []
    if user_ids is not None:
        where.append("u.id IN (SELECT unnest(?))")
        params.append(_record_ids([user_ids] if isinstance(user_ids, (int, str)) else user_ids))
    if team_id is not None:
        where.append("u.team_id = ?")
        params.append(_target_teams(con, actor, [team_id])[0])
    if admin is not None:
        where.append("u.team_id IN (SELECT unnest(?::BIGINT[]))")
        params.append(sorted(admin))
    users = [r[0] for r in con.execute(f"SELECT u.id FROM users u WHERE {' AND '.join(where)}",  # sql-ok: fixed
                                       params).fetchall()]

    def work():
        caps, have = cap_of(con, users), held(con, users)
        excess = {u: have[u] - caps[u] for u in users if have[u] > caps[u]}
        rows = []
        if excess:
            rows = db.rows(con, (
                "SELECT id, owner_id, team_id FROM (SELECT c.id, c.owner_id, c.team_id, e.n, row_number() OVER ("
                "PARTITION BY c.owner_id ORDER BY c.locked_at IS NOT NULL, "
                "(c.last_activity_at IS NOT NULL AND c.last_activity_at >= coalesce(c.assigned_at, c.created_at)), "
                "greatest(c.last_activity_at, coalesce(c.assigned_at, c.created_at)), c.id) AS rn FROM customers c "
                "JOIN (SELECT unnest(?) AS u, unnest(?) AS n) e ON e.u = c.owner_id "
                "WHERE c.deleted_at IS NULL AND c.merged_into_id IS NULL AND c.stage NOT IN ('won', 'upgrade')) "
                "WHERE rn <= n ORDER BY owner_id, rn"), [list(excess), list(excess.values())])
        per_rep = {u: sum(1 for r in rows if r["owner_id"] == u) for u in excess}
        run_id = None
        if not dry_run and rows:
            run_id = db.next_id(con, "assignment_runs")
            _to_pool(con, actor, rows, "over_limit", "over_limit", run_id)
            teams = sorted({r["team_id"] for r in rows if r["team_id"] is not None})
            con.execute("INSERT INTO assignment_runs (id, kind, source, teams, weighting, requested, assigned, "
                        "left_in_pool, reasons, per_rep, dry_run, run_by, run_at) VALUES (?, 'over_limit', ?, ?, NULL, "
                        "?, 0, ?, ?, ?, FALSE, ?, ?)",
                        [run_id, "team:" + str(team_id) if team_id is not None else "selection", json.dumps(teams),
                         len(rows), len(rows), json.dumps({"over_limit": len(rows)}),
                         json.dumps({str(u): n for u, n in per_rep.items()}), actor.id, actor.now])
        return {"per_rep": per_rep, "moved": len(rows), "run_id": run_id,
                "ids": [r["id"] for r in rows]}

    return work() if dry_run else db.write(con, work)


# ------------------------------------------------------------------------------------ the weekly refresh
def _live_teams(con, team_ids) -> list[int]:
    rows = con.execute("SELECT id FROM teams WHERE deleted_at IS NULL ORDER BY id").fetchall()
    ids = [r[0] for r in rows]
    if team_ids is not None:
        wanted = {int(t) for t in team_ids}
        ids = [t for t in ids if t in wanted]
    return ids


def _resort(con, teams: list[int]) -> int:
    """pool_rank = the place of each pool record in its pool by RESORT_ORDER (one statement)."""
    if not teams:
        return 0
    n = int(db.scalar(con, "SELECT count(*) FROM customers WHERE owner_id IS NULL AND team_id IN (SELECT unnest(?)) "
                           "AND deleted_at IS NULL AND merged_into_id IS NULL", [teams]))
    con.execute("UPDATE customers SET pool_rank = r.rank FROM (SELECT c.id, row_number() OVER (PARTITION BY c.team_id "
                f"ORDER BY {RESORT_ORDER}) AS rank FROM customers c LEFT JOIN customer_levels l ON l.code = c.level "
                "WHERE c.owner_id IS NULL AND c.team_id IN (SELECT unnest(?)) AND c.deleted_at IS NULL "
                "AND c.merged_into_id IS NULL) r WHERE customers.id = r.id AND customers.pool_rank IS DISTINCT FROM r.rank",
                [teams])
    return n


def refresh(con: duckdb.DuckDBPyConnection, now: dt.datetime, team_ids: Any = None, actor: Actor = SYSTEM,
            mode: str | None = None) -> dict:
    """The weekly refresh of the team pools (pool.refresh_mode): `resort` ranks each pool's records
    (pool_rank: level first, then the most recently active, then the longest in the pool); `redistribute`
    splits each pool's records unclaimed for longer than pool.refresh_older_days days evenly among the
    team's reps (the split's rules; pool_moves reason refresh), then ranks what is left.
    Returns {"mode", "teams", "ranked", "assigned", "left_in_pool", "runs": [run ids]}."""
    from dataclasses import replace

    if actor.id is not None:
        _manager_scope(con, actor, "pool.reps_cannot_split")
    actor = replace(actor, now=now)
    mode = mode or settings.get(con, "pool.refresh_mode")
    if mode not in ("resort", "redistribute"):
        raise ValidationError("pool.bad_refresh_mode")
    teams = _live_teams(con, team_ids)
    admin = _admin_pools(con, actor)
    if admin is not None:
        teams = [t for t in teams if t in admin]

    def work():
        out = {"mode": mode, "teams": len(teams), "ranked": 0, "assigned": 0, "left_in_pool": 0, "runs": []}
        if mode == "redistribute":
            older = now - dt.timedelta(days=int(settings.get(con, "pool.refresh_older_days")))
            for t in teams:
                if not db.scalar(con, "SELECT count(*) FROM customers WHERE team_id = ? AND owner_id IS NULL "
                                      "AND pool_since < ? AND deleted_at IS NULL", [t, older]):
                    continue
                got = _split(con, actor, "c.team_id = ? AND c.owner_id IS NULL AND c.pool_since < ?", [t, older],
                             f"pool:{t}", [t], kind="refresh", reason="refresh")
                out["assigned"] += got["assigned"]
                out["runs"].append(got["run_id"])
        out["ranked"] = _resort(con, teams)
        out["left_in_pool"] = out["ranked"]
        if teams:
            con.execute("UPDATE teams SET pool_refreshed_at = ? WHERE id IN (SELECT unnest(?))", [now, teams])
        if mode == "resort" and teams:
            run_id = db.next_id(con, "assignment_runs")
            con.execute("INSERT INTO assignment_runs (id, kind, source, teams, weighting, requested, assigned, "
                        "left_in_pool, reasons, per_rep, dry_run, run_by, run_at) VALUES (?, 'refresh', ?, ?, NULL, "
                        "?, 0, ?, ?, NULL, FALSE, ?, ?)",
                        [run_id, "schedule" if actor.id is None else "manual", json.dumps(teams), out["ranked"],
                         out["ranked"], json.dumps({"resort": out["ranked"]}), actor.id, now])
            out["runs"].append(run_id)
        return out

    return db.write(con, work)


def refresh_due(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> bool:
    """True on the company's refresh weekday (pool.refresh_weekday, ISO) when no pool was refreshed that day."""
    today = clock.local_today(con, now)
    if today.isoweekday() != int(settings.get(con, "pool.refresh_weekday")):
        return False
    start, end = clock.day_bounds_utc(con, today)
    return not db.scalar(con, "SELECT count(*) FROM teams WHERE pool_refreshed_at >= ? AND pool_refreshed_at < ?",
                         [start, end])


def refresh_job(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> dict | None:
    """The scheduler's job: the weekly refresh, once on the set weekday."""
    if not refresh_due(con, now):
        return None
    return refresh(con, now)


# ------------------------------------------------------------------------------------ the assignment log
def runs(con: duckdb.DuckDBPyConnection, actor: Actor, limit: int = 50) -> pl.DataFrame:
    """The assignment log, newest first: id, kind, source, requested, assigned, left_in_pool, reasons (JSON
    text), per_rep (JSON text), weighting, run_by (name), run_at. Managers see runs touching their teams
    (or run by themselves); admins all; reps nothing (PermissionDenied)."""
    _manager_scope(con, actor, "pool.reps_cannot_split")
    admin = _admin_pools(con, actor)
    limit = max(1, min(int(limit), 1000))
    where, params = "TRUE", []
    if admin is not None:
        where = ("(r.run_by = ? OR len(list_intersect(CAST(r.teams AS BIGINT[]), ?::BIGINT[])) > 0)")
        params = [actor.id, sorted(admin)]
    return con.sql(f"SELECT r.id, r.kind, r.source, r.requested, r.assigned, r.left_in_pool, "  # sql-ok: fixed
                   f"CAST(r.reasons AS VARCHAR) AS reasons, CAST(r.per_rep AS VARCHAR) AS per_rep, r.weighting, "
                   f"coalesce(u.name, 'system') AS run_by, r.run_at FROM assignment_runs r "
                   f"LEFT JOIN users u ON u.id = r.run_by WHERE {where} ORDER BY r.run_at DESC, r.id DESC LIMIT {limit}",
                   params=params).pl()


# ------------------------------------------------------------------------------------ a pool's records
POOL_SORTS = {"rank": "x.pool_rank NULLS LAST, x.pool_since, x.id", "pool_since": "x.pool_since DESC NULLS LAST, x.id",
              "name": "x.name, x.id", "last_activity_at": "x.last_activity_at DESC NULLS LAST, x.id"}
POOL_COLUMNS = ("id", "name", "level", "stage", "province", "city", "source", "phone", "pool_since", "pool_reason",
                "last_activity_at", "former_owner_name", "can_claim_at")


def pool_list(con: duckdb.DuckDBPyConnection, actor: Actor, team_id: Any, q: Any = None, page: int = 1,
              page_size: int = 50, sort: str = "rank") -> tuple[pl.DataFrame, int]:
    """A pool's customers the actor may see (pools()), masked for the actor (core.pool_mask): POOL_COLUMNS,
    can_claim_at = when the actor may claim it (cool-down, the former owner's wait); and the total count."""
    if isinstance(team_id, bool) or not str(team_id).strip().isdigit():
        raise NotFound("error.not_found")
    team_id = int(team_id)
    if team_id not in {p["team_id"] for p in pools(con, actor)}:
        raise PermissionDenied("pool.not_yours")
    order = POOL_SORTS.get(sort)
    if order is None:
        raise ValidationError("error.invalid_value", value=str(sort))
    page, page_size = max(1, int(page)), max(1, min(int(page_size), 500))
    where, params = ["x.team_id = ?", "x.owner_id IS NULL", "x.deleted_at IS NULL", "x.merged_into_id IS NULL"], [team_id]
    if q is not None and str(q).strip():
        where.append("(x.name ILIKE ? OR x.city ILIKE ?)")
        like = "%" + str(q).strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [like, like]
    cond = " AND ".join(where)
    total = int(db.scalar(con, f"SELECT count(*) FROM customers x WHERE {cond}", params))
    rule = settings_for(con, team_id)
    frame = con.sql(
        f"SELECT x.id, x.name, x.level, x.stage, x.province, x.city, x.source, x.phone, x.pool_since, x.pool_reason, "
        f"x.last_activity_at, x.owner_id, x.team_id, "
        f"(SELECT u.name FROM pool_moves m JOIN users u ON u.id = m.from_owner_id WHERE m.customer_id = x.id "
        f" AND m.to_owner_id IS NULL AND m.from_owner_id IS NOT NULL ORDER BY m.moved_at DESC, m.id DESC LIMIT 1) "
        f"AS former_owner_name, "
        f"greatest(x.pool_since + to_hours(CAST(? AS BIGINT)), (SELECT max(m.moved_at) FROM pool_moves m "
        f" WHERE m.customer_id = x.id AND m.from_owner_id = ?) + to_days(CAST(? AS INTEGER))) AS can_claim_at "
        f"FROM customers x WHERE {cond} ORDER BY {order} LIMIT {page_size} OFFSET {(page - 1) * page_size}",
        params=[rule["claim_cooldown_hours"], actor.id, rule["reclaim_wait_days"]] + params).pl()
    try:
        from core import pool_mask
    except ImportError:
        pool_mask = None
    if pool_mask is not None and hasattr(pool_mask, "mask_frame"):
        frame = pool_mask.mask_frame(con, actor, frame, owner_col="owner_id", team_col="team_id")
    return frame.select([c for c in POOL_COLUMNS if c in frame.columns]), total
