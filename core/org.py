"""Organisation (组织架构): teams as a tree, users with role, team, manager, new-hire and active flags."""
from __future__ import annotations

import re

import duckdb
import polars as pl

from core import access, audit, db, fields
from core.auth import check_password_policy, hash_password
from core.context import Actor
from core.fields import Field
from core.records import record_id
from core.errors import DuplicateError, NotFound, PermissionDenied, ValidationError

USER_FIELDS = ("name", "email", "phone", "role", "team_id", "manager_id", "is_new_hire", "active", "language")
# kinds and limits of what an admin types about users and teams (core.fields validates every write)
USER_DEFS: dict[str, Field] = {f.name: f for f in (
    Field("name", "text", "users.name", required=True, max_len=60),
    Field("email", "email", "users.email", max_len=254),
    Field("phone", "text", "users.phone", max_len=40),
    Field("role", "choice", "users.role", options=access.ROLES, nullable=False),
    Field("team_id", "int", "users.team", min=1, max=2**62),
    Field("manager_id", "int", "users.manager", min=1, max=2**62),
    Field("is_new_hire", "bool", "users.new_hire", nullable=False),
    Field("active", "bool", "users.active", nullable=False),
    Field("language", "choice", "users.language", options=("en", "zh"), nullable=False),
)}
TEAM_DEFS: dict[str, Field] = {f.name: f for f in (
    Field("name", "text", "teams.name", required=True, max_len=60),
    Field("region", "text", "teams.region", max_len=60),
    Field("parent_id", "int", "teams.parent", min=1, max=2**62),
    Field("is_new_hire_pool", "bool", "teams.new_hire_pool", nullable=False),
)}
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{1,31}$")

# Authority of a role over others: nobody grants a role above their own or acts on a user above them.
ROLE_RANK = {"admin": 3, "manager": 2, "sales": 1, "marketing": 1, "service": 1}


def _rank(role: str | None) -> int:
    return ROLE_RANK.get(role or "", 0)


def assignable_roles(actor: Actor) -> tuple[str, ...]:
    """The roles the actor may give to a user (none above their own)."""
    return tuple(r for r in access.ROLES if _rank(r) <= _rank(actor.role))


def _check_grant(actor: Actor, role: str) -> None:
    if _rank(role) > _rank(actor.role):
        raise PermissionDenied("org.role_above_own")


def _check_target(actor: Actor, role: str) -> None:
    if _rank(role) > _rank(actor.role):
        raise PermissionDenied("org.user_above_you")


def _teams_in_scope(con, actor: Actor, action: str, team_ids: list[int | None]) -> bool:
    """Whether every team lies within the actor's org scope for `action`: the scope predicate applied
    to a would-be member of each team (no team at all, i.e. the top level, needs scope `all`)."""
    where, params = access.predicate(con, actor, "org", action, "s")
    n = db.scalar(
        con,
        f"SELECT count(*) FROM (SELECT NULL::BIGINT AS id, unnest(?::BIGINT[]) AS team_id) s WHERE {where}",
        [list(team_ids)] + params,
    )
    return n == len(team_ids)


def _require_teams(con, actor: Actor, action: str, team_ids: list[int | None]) -> None:
    if not _teams_in_scope(con, actor, action, team_ids):
        raise PermissionDenied("org.team_out_of_scope")


# ------------------------------------------------------------------------------------------- teams
def teams(con: duckdb.DuckDBPyConnection, actor: Actor, include_deleted: bool = False,
          action: str = "view") -> pl.DataFrame:
    """The teams within the actor's org scope for `action` (view by default), with depth and path in
    the whole tree (top first, children under their parent)."""
    where, params = access.predicate(con, actor, "org", action, "s")
    cond = "TRUE" if include_deleted else "deleted_at IS NULL"
    return db.frame(
        con,
        f"""WITH RECURSIVE t AS (
              SELECT id, name, parent_id, region, is_new_hire_pool, deleted_at, 0 AS depth, [name] AS path
              FROM teams WHERE parent_id IS NULL AND {cond}
              UNION ALL
              SELECT c.id, c.name, c.parent_id, c.region, c.is_new_hire_pool, c.deleted_at, t.depth + 1,
                     list_append(t.path, c.name)
              FROM teams c JOIN t ON c.parent_id = t.id WHERE c.{cond}
            )
            SELECT t.id, t.name, t.parent_id, t.region, t.is_new_hire_pool, t.depth,
                   array_to_string(t.path, ' / ') AS path,
                   (SELECT count(*) FROM users u WHERE u.team_id = t.id AND u.active AND u.deleted_at IS NULL) AS members
            FROM t, LATERAL (SELECT NULL::BIGINT AS id, t.id AS team_id) s WHERE {where} ORDER BY path""",
        params,
    )


def _check_team(con, team_id: int | None) -> None:
    if team_id is not None and not db.scalar(
        con, "SELECT count(*) FROM teams WHERE id = ? AND deleted_at IS NULL", [team_id]
    ):
        raise NotFound("org.team_not_found")


def create_team(
    con: duckdb.DuckDBPyConnection, actor: Actor, name: str, parent_id: int | None = None,
    region: str | None = None, is_new_hire_pool: bool = False,
) -> int:
    """A new team under `parent_id` (a team within the actor's org create scope; the top level needs
    scope `all`)."""
    access.require(con, actor, "org", "create")
    clean = fields.clean(con, TEAM_DEFS, {"name": name, "parent_id": parent_id, "region": region,
                                          "is_new_hire_pool": is_new_hire_pool}, creating=True)
    name, parent_id, region, is_new_hire_pool = (clean["name"], clean["parent_id"], clean["region"],
                                                 clean["is_new_hire_pool"])

    def work():
        _check_team(con, parent_id)
        _require_teams(con, actor, "create", [parent_id])
        if db.scalar(
            con,
            "SELECT count(*) FROM teams WHERE lower(name) = lower(?) AND parent_id IS NOT DISTINCT FROM ? AND deleted_at IS NULL",
            [name, parent_id],
        ):
            raise DuplicateError("org.team_exists", name=name)
        team_id = db.next_id(con, "teams")
        con.execute(
            "INSERT INTO teams (id, name, parent_id, region, is_new_hire_pool, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [team_id, name, parent_id, region, is_new_hire_pool, actor.now],
        )
        audit.record(con, actor, "create", "team", team_id, {"name": (None, name), "parent_id": (None, parent_id)})
        return team_id

    return db.write(con, work)


def update_team(con: duckdb.DuckDBPyConnection, actor: Actor, team_id: int, name: str | None = None,
                parent_id: int | None | str = "keep", region: str | None = None) -> None:
    """Rename or move a team within the actor's org edit scope; a move needs both the old and the new
    parent in scope; a team cannot move under itself or one of its sub-teams."""
    access.require(con, actor, "org", "edit")
    team_id = record_id(team_id, "org.team_not_found")
    given = {k: v for k, v in {"name": name, "region": region}.items() if v is not None}
    if parent_id != "keep":
        given["parent_id"] = parent_id
    clean = fields.clean(con, TEAM_DEFS, given, creating=False)

    def work():
        old = db.one(con, "SELECT name, parent_id, region FROM teams WHERE id = ? AND deleted_at IS NULL", [team_id])
        if old is None or not _teams_in_scope(con, actor, "edit", [team_id]):
            raise NotFound("org.team_not_found")
        new = {**old, **clean}
        if "parent_id" in clean and clean["parent_id"] is not None:
            from core.auth import team_tree

            if clean["parent_id"] in team_tree(con, team_id):
                raise ValidationError("org.team_cycle")
            _check_team(con, clean["parent_id"])
        if (new["name"].lower(), new["parent_id"]) != (old["name"].lower(), old["parent_id"]) and db.scalar(
                con, "SELECT count(*) FROM teams WHERE lower(name) = lower(?) AND parent_id IS NOT DISTINCT FROM ? "
                     "AND deleted_at IS NULL AND id <> ?", [new["name"], new["parent_id"], team_id]):
            raise DuplicateError("org.team_exists", name=new["name"])
        changes = {k: (old[k], new[k]) for k in old if old[k] != new[k]}
        if not changes:
            return
        if "parent_id" in changes:
            _require_teams(con, actor, "edit", [old["parent_id"], new["parent_id"]])
        sets = ", ".join(f"{k} = ?" for k in changes)  # only what changed; keys from the fixed select
        con.execute(f"UPDATE teams SET {sets} WHERE id = ?",  # sql-ok: fixed keys
                    [v for _o, v in changes.values()] + [team_id])
        audit.record(con, actor, "update", "team", team_id, changes)

    db.write(con, work)


def delete_team(con: duckdb.DuckDBPyConnection, actor: Actor, team_id: int) -> None:
    """Soft-delete an empty team (no active members, no sub-teams) within the actor's org delete scope."""
    access.require(con, actor, "org", "delete")
    team_id = record_id(team_id, "org.team_not_found")

    def work():
        live = db.scalar(con, "SELECT count(*) FROM teams WHERE id = ? AND deleted_at IS NULL", [team_id])
        if not live or not _teams_in_scope(con, actor, "delete", [team_id]):
            raise NotFound("org.team_not_found")
        if db.scalar(con, "SELECT count(*) FROM users WHERE team_id = ? AND active AND deleted_at IS NULL", [team_id]):
            raise ValidationError("org.team_not_empty")
        if db.scalar(con, "SELECT count(*) FROM teams WHERE parent_id = ? AND deleted_at IS NULL", [team_id]):
            raise ValidationError("org.team_has_children")
        # checked first, then updated by id: an update that hands rows back undoes concurrent edits (FACTS.md)
        con.execute("UPDATE teams SET deleted_at = ?, deleted_by = ? WHERE id = ? AND deleted_at IS NULL",
                    [actor.now, actor.id, team_id])
        audit.record(con, actor, "delete", "team", team_id)

    db.write(con, work)


# ------------------------------------------------------------------------------------------- users
def users(con: duckdb.DuckDBPyConnection, actor: Actor, include_inactive: bool = True,
          role: str | None = None, team_id: int | None = None, q: str | None = None) -> pl.DataFrame:
    where, params = access.predicate(con, actor, "org", "view", "u")
    clauses, args = [where, "u.deleted_at IS NULL"], list(params)
    if not include_inactive:
        clauses.append("u.active")
    if role is not None and role not in access.ROLES:
        raise ValidationError("list.bad_filter")
    if team_id is not None and (isinstance(team_id, bool) or not isinstance(team_id, int)):
        raise ValidationError("list.bad_filter")
    if role:
        clauses.append("u.role = ?")
        args.append(role)
    if team_id is not None:
        clauses.append("u.team_id = ?")
        args.append(team_id)
    q = fields.search_text(q) if q not in (None, "") else ""
    if q:
        clauses.append("(u.username ILIKE ? OR u.name ILIKE ? OR u.email ILIKE ?)")
        args += [f"%{q}%"] * 3
    return db.frame(
        con,
        f"SELECT u.id, u.username, u.name, u.email, u.role, u.team_id, t.name AS team, u.manager_id, "
        f"m.name AS manager, u.is_new_hire, u.active, u.language, u.must_change_password, u.locked_until, "
        f"u.last_login_at FROM users u LEFT JOIN teams t ON t.id = u.team_id LEFT JOIN users m ON m.id = u.manager_id "
        f"WHERE {' AND '.join(clauses)} ORDER BY u.active DESC, t.name NULLS LAST, u.name",
        args,
    )


def _validate_user_values(con, values: dict) -> None:
    if "role" in values and values["role"] not in access.ROLES:
        raise ValidationError("error.invalid_value", value=values["role"])
    if values.get("team_id") is not None:
        _check_team(con, values["team_id"])
    if values.get("manager_id") is not None and not db.scalar(
        con, "SELECT count(*) FROM users WHERE id = ? AND deleted_at IS NULL", [values["manager_id"]]
    ):
        raise NotFound("org.user_not_found")
    if "language" in values and values["language"] not in ("en", "zh"):
        raise ValidationError("error.invalid_value", value=values["language"])
    email = values.get("email")
    if email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        raise ValidationError("error.bad_email", value=email)


def _check_manager_visible(con, actor: Actor, manager_id: int | None) -> None:
    """A manager newly given to a user is someone the actor may see."""
    if manager_id is None:
        return
    where, params = access.predicate(con, actor, "org", "view")
    if not db.scalar(con, f"SELECT count(*) FROM users WHERE id = ? AND deleted_at IS NULL AND {where}",
                     [manager_id] + params):
        raise NotFound("org.user_not_found")


def _target(con, actor: Actor, user_id: int, action: str = "edit") -> dict:
    """The user the actor acts on: within the org scope for `action` (else not found) and not above
    the actor's role (else refused)."""
    where, params = access.predicate(con, actor, "org", action)
    found = db.one(con, f"SELECT {', '.join(USER_FIELDS)}, username FROM users "  # sql-ok: fixed keys
                        f"WHERE id = ? AND deleted_at IS NULL AND {where}", [user_id] + params)
    if found is None:
        raise NotFound("org.user_not_found")
    _check_target(actor, found["role"])
    return found


def create_user(
    con: duckdb.DuckDBPyConnection, actor: Actor, username: str, name: str, role: str, password: str,
    team_id: int | None = None, manager_id: int | None = None, email: str | None = None,
    is_new_hire: bool = False, language: str = "en",
) -> int:
    """A new user, who must change the initial password at first login. The role is not above the
    actor's; the team lies within the actor's org create scope."""
    access.require(con, actor, "org", "create")
    username = username.strip().lower() if isinstance(username, str) else ""
    if not _USERNAME.match(username):
        raise ValidationError("org.bad_username")
    values = fields.clean(con, USER_DEFS, {"name": name, "role": role, "team_id": team_id, "manager_id": manager_id,
                                          "email": email or None, "is_new_hire": is_new_hire, "language": language},
                          creating=True)
    _validate_user_values(con, {"role": role})
    _check_grant(actor, role)
    check_password_policy(con, password, username)
    hashed = hash_password(password)

    def work():
        _validate_user_values(con, values)
        _require_teams(con, actor, "create", [team_id])
        _check_manager_visible(con, actor, manager_id)
        if db.scalar(con, "SELECT count(*) FROM users WHERE username = ?", [username]):
            raise DuplicateError("org.username_taken", username=username)
        user_id = db.next_id(con, "users")
        con.execute(
            "INSERT INTO users (id, username, name, email, role, team_id, manager_id, is_new_hire, active, language, "
            "password_hash, must_change_password, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,TRUE,?,?,TRUE,?,?)",
            [user_id, username, values["name"], values["email"], role, team_id, manager_id, values["is_new_hire"],
             language, hashed, actor.now, actor.now],
        )
        audit.record(con, actor, "create", "user", user_id,
                     {"username": (None, username), **{k: (None, v) for k, v in values.items()}})
        return user_id

    return db.write(con, work)


def update_user(con: duckdb.DuckDBPyConnection, actor: Actor, user_id: int, **changes) -> dict:
    """Edit the given fields of a user (role, team, manager, new-hire, active...); fields not given are
    left as they are. The user lies within the actor's org edit scope and is not above the actor's
    role; a new role is not above the actor's, a new team is within scope. Deactivation ends their
    sessions."""
    access.require(con, actor, "org", "edit")
    unknown = set(changes) - set(USER_FIELDS)
    if unknown:
        raise ValidationError("error.invalid_value", value=", ".join(sorted(unknown)))
    user_id = record_id(user_id, "org.user_not_found")
    changes = fields.clean(con, USER_DEFS, changes, creating=False)

    def work():
        old = _target(con, actor, user_id, "edit")
        diff = {k: (old[k], v) for k, v in changes.items() if old[k] != v}
        if not diff:
            return {}
        new = {k: v for k, (_o, v) in diff.items()}
        _validate_user_values(con, new)
        if user_id == actor.id and ("active" in diff or "role" in diff):
            raise ValidationError("org.cannot_demote_self")
        if "role" in new:
            _check_grant(actor, new["role"])
        if "team_id" in new:
            _require_teams(con, actor, "edit", [new["team_id"]])
        if "manager_id" in new:
            if new["manager_id"] == user_id:
                raise ValidationError("org.own_manager")
            _check_manager_visible(con, actor, new["manager_id"])
        sets = ", ".join(f"{k} = ?" for k in diff)  # keys from USER_FIELDS only
        extra = ", sessions_valid_after = ?" if changes.get("active") is False else ""
        args = [v for _o, v in diff.values()] + ([actor.now] if extra else []) + [actor.now, user_id]
        con.execute(f"UPDATE users SET {sets}{extra}, updated_at = ? WHERE id = ?", args)  # sql-ok: fixed keys
        audit.record(con, actor, "update", "user", user_id, diff)
        return diff

    return db.write(con, work)


def reset_password(con: duckdb.DuckDBPyConnection, actor: Actor, user_id: int, new_password: str) -> None:
    """Set a new initial password for a user within the actor's org edit scope and not above the
    actor's role: the user must change it at next login; sessions end; a lockout is lifted."""
    access.require(con, actor, "org", "edit")
    user_id = record_id(user_id, "org.user_not_found")
    username = _target(con, actor, user_id, "edit")["username"]
    check_password_policy(con, new_password, username)
    hashed = hash_password(new_password)

    def work():
        _target(con, actor, user_id, "edit")  # again inside the unit: the role or team may have changed
        con.execute(
            "UPDATE users SET password_hash = ?, must_change_password = TRUE, password_changed_at = ?, "
            "sessions_valid_after = ?, locked_until = NULL, updated_at = ? WHERE id = ?",
            [hashed, actor.now, actor.now, actor.now, user_id],
        )
        audit.record(con, actor, "reset_password", "user", user_id, {"password": ("***", "***")})

    db.write(con, work)


def deactivate_user(con: duckdb.DuckDBPyConnection, actor: Actor, user_id: int,
                    destinations: dict | int | None = None) -> dict:
    """Deactivate a user and hand over what they hold, in one unit of work (离职交接): `destinations` maps
    each kind of record (core.handover.KEYS) to a user id or "pool" (customers, leads, tickets), or is one
    user id for everything. A user who holds nothing is simply deactivated; one who holds something and
    has nowhere for it to go is refused (handover.where_to) and stays active. Returns
    {"moved": {kind: n}, "changes": the user's changed fields}."""
    from core import handover

    access.require(con, actor, "org", "edit")
    user_id = record_id(user_id, "org.user_not_found")
    to_user = destinations if isinstance(destinations, int) and not isinstance(destinations, bool) else None
    per_kind = destinations if isinstance(destinations, dict) else None
    if destinations is not None and to_user is None and per_kind is None:
        raise ValidationError("handover.bad_destination")

    def work():
        _target(con, actor, user_id, "edit")
        held = db.scalar(con, "SELECT " + " + ".join(
            f"(SELECT count(*) FROM {t} WHERE {c} = ? AND deleted_at IS NULL AND {w})"  # sql-ok: fixed list
            for t, c, _e, w in handover.TABLES), [user_id] * len(handover.TABLES))
        moved = {k: 0 for k in handover.KEYS}
        if held:
            if destinations is None:
                raise ValidationError("handover.where_to", kind="handover.records")
            moved = handover.handover(con, actor, user_id, to_user, per_kind)
        changes = update_user(con, actor, user_id, active=False)
        return {"moved": moved, "changes": changes}

    return db.write(con, work)
