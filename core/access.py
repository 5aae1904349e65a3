"""Permissions: a matrix role x module x action -> scope, and the one function that turns the acting
user into the SQL predicate every list, report, export and KPI query uses.

Scopes, narrowest first: none < own (本人) < team (本部门) < team_tree (本部门及下属) < all (全部).
"""
from __future__ import annotations

import duckdb

from core import audit, db
from core.context import Actor
from core.errors import PermissionDenied, ValidationError

ROLES = ("admin", "manager", "sales", "marketing", "service")
ACTIONS = ("view", "create", "edit", "delete", "export", "import", "assign")
SCOPES = ("none", "own", "team", "team_tree", "all")

# module -> (owner column, team column); the owner column is what "own" means for that module
MODULES: dict[str, tuple[str, str | None]] = {
    "leads": ("owner_id", "team_id"),
    "customers": ("owner_id", "team_id"),
    "activities": ("user_id", "team_id"),
    "deals": ("owner_id", "team_id"),
    "orders": ("owner_id", "team_id"),
    "tasks": ("assignee_id", "team_id"),
    "tickets": ("assignee_id", "team_id"),
    "feedback": ("owner_id", "team_id"),
    "segments": ("owner_id", "team_id"),
    "campaigns": ("owner_id", "team_id"),
    "analytics": ("owner_id", "team_id"),
    "org": ("id", "team_id"),
    "settings": ("id", None),
    "audit": ("user_id", None),
    "recycle": ("deleted_by", None),
}
# modules whose records can sit in a team's shared pool (owner NULL): "own" includes the own team's pool
POOLED = {"leads", "customers"}

_SALES_MODULES = ("leads", "customers", "activities", "deals", "orders", "tasks")


def _defaults() -> dict[tuple[str, str, str], str]:
    m: dict[tuple[str, str, str], str] = {}
    for role in ROLES:
        for module in MODULES:
            for action in ACTIONS:
                m[(role, module, action)] = "all" if role == "admin" else "none"

    def grant(role: str, modules, actions, scope: str) -> None:
        for module in modules:
            for action in actions:
                m[(role, module, action)] = scope

    # manager (经理): own team and sub-teams; assigns, reviews, hands over
    grant("manager", _SALES_MODULES, ACTIONS, "team_tree")
    grant("manager", ("tickets", "feedback"), ("view", "create", "export"), "team_tree")
    grant("manager", ("segments", "campaigns"), ("view",), "team_tree")
    grant("manager", ("analytics",), ("view", "export"), "team_tree")
    grant("manager", ("org",), ("view",), "team_tree")
    # sales rep (销售): own records and the own team's shared pool; cannot delete, export or import
    grant("sales", _SALES_MODULES, ("view", "create", "edit"), "own")
    grant("sales", ("leads", "customers"), ("assign",), "own")  # claim from / release to the team pool
    grant("sales", ("tickets",), ("view", "create"), "own")
    grant("sales", ("feedback",), ("view",), "own")
    grant("sales", ("analytics",), ("view",), "own")
    # marketing (市场): reads customer data for analysis; owns segments and campaigns
    grant("marketing", ("leads", "customers", "activities", "deals", "orders", "feedback"), ("view",), "all")
    grant("marketing", ("leads", "customers"), ("export",), "all")
    grant("marketing", ("leads",), ("create", "import"), "all")
    grant("marketing", ("segments", "campaigns"), ACTIONS, "all")
    grant("marketing", ("analytics",), ("view", "export"), "all")
    grant("marketing", ("tasks",), ("view", "create", "edit"), "own")
    # service agent (客服): reads customer history, works tickets, records feedback
    grant("service", ("customers", "activities", "orders", "deals"), ("view",), "all")
    grant("service", ("activities",), ("create",), "own")
    grant("service", ("tickets",), ("view", "create", "edit", "assign", "export"), "all")
    grant("service", ("feedback",), ("view", "create", "edit"), "all")
    grant("service", ("tasks",), ("view", "create", "edit"), "own")
    grant("service", ("analytics",), ("view",), "all")
    return m


DEFAULTS = _defaults()


def seed_defaults(con: duckdb.DuckDBPyConnection) -> None:
    """Write the default matrix for every cell not set yet (idempotent)."""
    con.execute(
        "INSERT INTO permissions (role, module, action, scope) "
        "SELECT d.role, d.module, d.action, d.scope FROM (SELECT unnest(?) AS role, unnest(?) AS module, "
        "unnest(?) AS action, unnest(?) AS scope) d "
        "WHERE NOT EXISTS (SELECT 1 FROM permissions p WHERE p.role = d.role AND p.module = d.module "
        "AND p.action = d.action)",
        [
            [k[0] for k in DEFAULTS],
            [k[1] for k in DEFAULTS],
            [k[2] for k in DEFAULTS],
            list(DEFAULTS.values()),
        ],
    )


def scope_of(con: duckdb.DuckDBPyConnection, actor: Actor, module: str, action: str) -> str:
    if module not in MODULES or action not in ACTIONS:
        raise ValueError(f"{module}/{action}")
    if actor.id is None and actor.role == "admin":  # the system itself (scheduler, CLI)
        return "all"
    return role_scope(con, actor.role, module, action)


def role_scope(con: duckdb.DuckDBPyConnection, role: str, module: str, action: str) -> str:
    found = db.scalar(
        con,
        "SELECT scope FROM permissions WHERE role = ? AND module = ? AND action = ?",
        [role, module, action],
    )
    return found or DEFAULTS.get((role, module, action), "none")


def can(con: duckdb.DuckDBPyConnection, actor: Actor, module: str, action: str) -> bool:
    return scope_of(con, actor, module, action) != "none"


def scopes(con: duckdb.DuckDBPyConnection, actor: Actor, modules, action: str = "view") -> dict[str, str]:
    """`scope_of` for several modules at once, in one query (a page that shows many kinds of records)."""
    modules = list(modules)
    if any(m not in MODULES for m in modules) or action not in ACTIONS:
        raise ValueError(f"{modules}/{action}")
    if actor.id is None and actor.role == "admin":
        return {m: "all" for m in modules}
    stored = dict(con.execute("SELECT module, scope FROM permissions WHERE role = ? AND action = ? "
                              "AND module IN (SELECT unnest(?))", [actor.role, action, modules]).fetchall())
    return {m: stored.get(m) or DEFAULTS.get((actor.role, m, action), "none") for m in modules}


def require(con: duckdb.DuckDBPyConnection, actor: Actor, module: str, action: str) -> str:
    """The scope the actor has for module/action, or PermissionDenied."""
    scope = scope_of(con, actor, module, action)
    if scope == "none":
        raise PermissionDenied("error.permission", module=module, action=action)
    return scope


def predicate(
    con: duckdb.DuckDBPyConnection, actor: Actor, module: str, action: str = "view", alias: str = ""
) -> tuple[str, list]:
    """The SQL condition (and its bound parameters) selecting the rows of `module` the actor may
    `action`. Raises PermissionDenied when the actor has no scope at all."""
    scope = require(con, actor, module, action)
    return predicate_for_scope(actor, module, scope, alias)


def predicate_for_scope(actor: Actor, module: str, scope: str, alias: str = "") -> tuple[str, list]:
    if scope == "all":
        return "TRUE", []
    owner, team = MODULES[module]
    p = f"{alias}." if alias else ""
    own_sql, params = f"{p}{owner} = ?", [actor.id]
    pools = pools_of(actor) if module in POOLED else []
    if pools:
        own_sql = f"({own_sql} OR ({p}{owner} IS NULL AND {p}team_id IN ({', '.join('?' for _ in pools)})))"
        params += pools
    if scope == "own" or team is None:
        return own_sql, params
    teams = [actor.team_id] if scope == "team" else list(actor.team_tree or (actor.team_id,))
    teams = [t for t in teams if t is not None]
    if not teams:
        return own_sql, params
    marks = ", ".join("?" for _ in teams)
    return f"({own_sql} OR {p}{team} IN ({marks}))", params + teams


def branches(
    con: duckdb.DuckDBPyConnection, actor: Actor, module: str, action: str = "view", alias: str = ""
) -> list[tuple[str, list]]:
    """The same rows as `predicate`, as disjoint conditions each a plain AND (for UNION ALL queries:
    DuckDB pushes a plain AND whole into the scan, an OR only in part). PermissionDenied without scope."""
    scope = require(con, actor, module, action)
    return branches_for_scope(actor, module, scope, alias)


def branches_for_scope(actor: Actor, module: str, scope: str, alias: str = "") -> list[tuple[str, list]]:
    if scope == "all":
        return [("TRUE", [])]
    owner, team = MODULES[module]
    p = f"{alias}." if alias else ""
    pools = pools_of(actor) if module in POOLED else []
    teams = [] if scope == "own" or team is None else (
        [actor.team_id] if scope == "team" else list(actor.team_tree or (actor.team_id,)))
    teams = [t for t in teams if t is not None]
    if not teams:
        out = [(f"{p}{owner} = ?", [actor.id])]
        if pools:
            out.append(_pool_branch(p, owner, pools))
        return out
    marks = ", ".join("?" for _ in teams)
    out = [(f"{p}{team} IN ({marks})", list(teams)),
           (f"{p}{owner} = ? AND ({p}{team} IS NULL OR {p}{team} NOT IN ({marks}))", [actor.id] + teams)]
    extra = [t for t in pools if t not in teams]
    if extra:
        out.append(_pool_branch(p, owner, extra))
    return out


def pools_of(actor: Actor) -> list[int]:
    """The pools (a team's records without an owner) the actor sees and releases to with an "own"
    scope: the own team's and those of Actor.pools (pool_members, the new-hire pool; core.pool_mask)."""
    found = [actor.team_id] if actor.team_id is not None else []
    return found + [t for t in actor.pools if t not in found]


def _pool_branch(p: str, owner: str, pools: list[int]) -> tuple[str, list]:
    if len(pools) == 1:
        return f"{p}{owner} IS NULL AND {p}team_id = ?", list(pools)
    return f"{p}{owner} IS NULL AND {p}team_id IN ({', '.join('?' for _ in pools)})", list(pools)


def matrix(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """Every cell of the permission matrix, for those who may view the settings."""
    require(con, actor, "settings", "view")
    return db.rows(con, "SELECT role, module, action, scope FROM permissions ORDER BY role, module, action")


def set_scope(
    con: duckdb.DuckDBPyConnection, actor: Actor, role: str, module: str, action: str, scope: str
) -> None:
    """The admin edits one cell of the matrix."""
    require(con, actor, "settings", "edit")
    if role not in ROLES or module not in MODULES or action not in ACTIONS or scope not in SCOPES:
        raise ValidationError("error.invalid_value", value=f"{role}/{module}/{action}/{scope}")
    if role == "admin" and module in ("settings", "org") and scope != "all":
        raise ValidationError("perm.admin_lockout")

    def work():
        old = role_scope(con, role, module, action)
        if old == scope:
            return
        con.execute(
            "UPDATE permissions SET scope = ?, updated_at = ?, updated_by = ? "
            "WHERE role = ? AND module = ? AND action = ?",
            [scope, actor.now, actor.id, role, module, action],
        )
        audit.record(con, actor, "update", "permission", None, {f"{role}.{module}.{action}": (old, scope)})

    db.write(con, work)


HOLDER_ROLES = ("admin", "manager", "sales")  # roles that hold customers and leads


def check_holder(
    con: duckdb.DuckDBPyConnection, actor: Actor, module: str, owner_id: int | None, team_id: int | None,
) -> tuple[int | None, int | None]:
    """Who a new or moved record of `module` goes to: (owner, team), checked.

    The owner must be a live, active user of a role that holds records, and the record sits in the
    owner's team; without an owner it sits in the shared pool of a live team. Keeping a record for
    oneself needs no more than the action itself; giving it to anyone else, or putting it in a pool,
    needs the `assign` scope over the target team: own = the own team's pool only, team = the own
    team, team_tree = the own team and sub-teams, all = any team.
    """
    if owner_id is not None:
        user = db.one(con, "SELECT role, team_id FROM users WHERE id = ? AND active AND deleted_at IS NULL",
                      [owner_id])
        if user is None or user["role"] not in HOLDER_ROLES:
            raise ValidationError("assign.bad_owner")
        if team_id is not None and team_id != user["team_id"]:
            raise ValidationError("assign.owner_not_in_team")
        team_id = user["team_id"]
        if owner_id == actor.id:
            return owner_id, team_id
    else:
        if team_id is None:
            team_id = actor.team_id
        if team_id is None or not db.scalar(
                con, "SELECT count(*) FROM teams WHERE id = ? AND deleted_at IS NULL", [team_id]):
            raise ValidationError("assign.bad_team")
    scope = scope_of(con, actor, module, "assign")
    allowed = {
        "none": False,
        "own": owner_id is None and team_id in pools_of(actor),
        "team": team_id == actor.team_id or (owner_id is None and team_id in pools_of(actor)),
        "team_tree": team_id in (actor.team_tree or (actor.team_id,)),
        "all": True,
    }[scope]
    if not allowed:
        raise PermissionDenied("assign.out_of_scope")
    return owner_id, team_id


# --------------------------------------------------------------------------- tickets and feedback
SERVICE_MODULES = ("tickets", "feedback")


def service_branches(
    con: duckdb.DuckDBPyConnection, actor: Actor, module: str, action: str = "view", alias: str = ""
) -> list[tuple[str, list]]:
    """Who sees which ticket / feedback row: ONE rule for lists, counts, pages and analytics.

    Tickets and feedback belong to the service team. For the roles that hold customers (sales reps and
    managers) the rows they may `action` are those of the customers they may open (a rep: the own
    customers' tickets; a manager: the team tree's customers'), provided the role has the action on the
    module at all; for everyone else (service agents, admin, marketing) the module's own scope.
    PermissionDenied without any scope. Conditions are disjoint plain ANDs, for UNION ALL queries."""
    if module not in SERVICE_MODULES:
        raise ValueError(module)
    scope = require(con, actor, module, action)
    if actor.role in HOLDER_ROLES and actor.role != "admin" and scope != "all":
        p = f"{alias}." if alias else ""
        if not can(con, actor, "customers", "view"):
            return [("FALSE", [])]
        parts, args = [], []
        for cond, params in branches(con, actor, "customers", "view", "cs_"):
            parts.append(f"SELECT cs_.id FROM customers cs_ WHERE cs_.deleted_at IS NULL AND {cond}")
            args += params
        return [(f"{p}customer_id IN ({' UNION ALL '.join(parts)})", args)]
    return branches_for_scope(actor, module, scope, alias)


def service_predicate(
    con: duckdb.DuckDBPyConnection, actor: Actor, module: str, action: str = "view", alias: str = ""
) -> tuple[str, list]:
    """`service_branches` as one condition (a single record's check, a count)."""
    found = service_branches(con, actor, module, action, alias)
    sql = " OR ".join(f"({cond})" for cond, _ in found)
    return (f"({sql})" if len(found) > 1 else found[0][0]), [a for _, params in found for a in params]
