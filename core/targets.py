"""Targets (KPI考核): what a rep or a team should reach in a month, a quarter or a year, and how far
they got, computed live from the records.

Targets. One value per subject (a user or a team), period and metric; a period is a calendar month,
quarter or year of the company's calendar, stored as its first and last day (`period_end` inclusive).
Setting a target again for the same subject, period and metric changes its value; every change is
audited (entity `target`).

Who sets them: the scope the actor has on `deals/assign` (the right to direct a team's deals), as for
handing deals to people: `all` (the admin) sets any team's and anyone's targets; `team_tree` (a
manager) the targets of their team, its sub-teams and the people in them; `team` those of the own
team only. Nobody sets their own personal target unless their scope is `all` (a manager's quota comes
from above). A rep (no deals/assign) sets none.

Who reads them: the same reach as `deals/view`: `own` (a rep) reads their own personal targets; `team`
/ `team_tree` (a manager) those of the teams in reach and of the people whose team is in reach; `all`
every target.

Metrics and what counts as done in a period [first day, last day] (company days):
- `won_amount`: the sum of `deals.amount` of live deals in a won stage whose `closed_on` falls in the
  period; `won_deals`: how many such deals.
- `new_customers`: live customers whose `created_at` falls in the period (company days).
- `activities`: live follow-ups (`activities`, every kind) whose `occurred_at` falls in the period.
Attributed to a rep by `deals.owner_id`, `customers.created_by` and `activities.user_id`; to a team
by the record's team in the team or any of its sub-teams: `deals.team_id`, `activities.team_id`, and
for customers the team of the user who created it (a customer's own team changes when it moves to a
pool or another rep; the creator's does not). Only records the viewer may view count (the scope of
`deals`, `customers`, `activities` view), so a figure never includes rows its viewer cannot open; a
metric whose module the viewer may not view shows no actual.

The target of a subject for a period: the target set for exactly that period; otherwise, when every
month of the period is covered by targets of that subject, the sum over the months of the most
specific target covering each month, spread evenly (a quarter's target counts a third per month, a
year's a twelfth); otherwise, for a team, the sum of its sub-teams' targets for the period (when any
has one); otherwise none. Attainment = actual / target (none without a target, or a target of 0).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, db, fields, records
from core.context import Actor
from core.errors import NotFound, PermissionDenied, ValidationError
from core.fields import Field

PERIODS = ("month", "quarter", "year")
METRICS = ("won_amount", "won_deals", "new_customers", "activities")
# the module whose view scope limits the records a metric counts
METRIC_MODULE = {"won_amount": "deals", "won_deals": "deals", "new_customers": "customers",
                 "activities": "activities"}
VALUE_FIELDS = {
    "won_amount": Field("value", "number", "target.value", required=True, min=0, max=1e12),
    "won_deals": Field("value", "int", "target.value", required=True, min=0, max=10_000_000),
    "new_customers": Field("value", "int", "target.value", required=True, min=0, max=10_000_000),
    "activities": Field("value", "int", "target.value", required=True, min=0, max=10_000_000),
}
_DAY = Field("start", "date", "target.period_start", required=True)
HOLDER_ROLES = ("sales", "manager")  # people who carry a personal target


# ---------------------------------------------------------------- periods
def period_bounds(period: str, day: Any) -> tuple[dt.date, dt.date]:
    """The first and last day (inclusive) of the month, quarter or year holding `day`."""
    if period not in PERIODS:
        raise ValidationError("field.bad_choice", field="target.period", value=fields.short(period))
    day = fields.clean_value(None, _DAY, day)
    if period == "month":
        start = day.replace(day=1)
        months = 1
    elif period == "quarter":
        start = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        months = 3
    else:
        start = dt.date(day.year, 1, 1)
        months = 12
    return start, add_months(start, months) - dt.timedelta(days=1)


def add_months(day: dt.date, n: int) -> dt.date:
    """The first of the month `n` months after the month of `day`."""
    k = day.year * 12 + day.month - 1 + n
    return dt.date(k // 12, k % 12 + 1, 1)


def month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    """The first day of every month touching [start, end]."""
    out, m = [], start.replace(day=1)
    while m <= end:
        out.append(m)
        m = add_months(m, 1)
    return out


def period_kind(start: dt.date, end: dt.date) -> str | None:
    """month | quarter | year for a stored period, None for anything else."""
    for kind in PERIODS:
        if period_bounds(kind, start) == (start, end):
            return kind
    return None


# ---------------------------------------------------------------- reach
def _reach(con: duckdb.DuckDBPyConnection, actor: Actor, action: str) -> tuple[str, tuple[int, ...] | None]:
    """(scope, team ids in reach: None = every team) for reading (view) or setting (assign) targets."""
    scope = access.scope_of(con, actor, "deals", action)
    if scope == "all":
        return scope, None
    if scope == "team":
        return scope, tuple(t for t in (actor.team_id,) if t is not None)
    if scope == "team_tree":
        return scope, tuple(actor.team_tree or ((actor.team_id,) if actor.team_id is not None else ()))
    return scope, ()


def can_set(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    """May the actor set any target at all (a manager, the admin)?"""
    scope, teams = _reach(con, actor, "assign")
    return scope == "all" or (scope in ("team", "team_tree") and bool(teams))


def visible_teams(con: duckdb.DuckDBPyConnection, actor: Actor, action: str = "view") -> list[dict]:
    """Live teams whose targets the actor may read (or set, action="assign"): id, name, parent_id,
    depth; a tree order (parents first). A rep reaches no team."""
    scope, teams = _reach(con, actor, action)
    if scope in ("none", "own"):
        return []
    found = db.rows(con, "WITH RECURSIVE t(id, name, parent_id, depth, path) AS ("
                         "SELECT id, name, parent_id, 0, [name] FROM teams WHERE parent_id IS NULL AND deleted_at IS NULL "
                         "UNION ALL SELECT c.id, c.name, c.parent_id, t.depth + 1, list_append(t.path, c.name) "
                         "FROM teams c JOIN t ON c.parent_id = t.id WHERE c.deleted_at IS NULL) "
                         "SELECT id, name, parent_id, depth FROM t ORDER BY path")
    return found if teams is None else [r for r in found if r["id"] in teams]


def visible_people(con: duckdb.DuckDBPyConnection, actor: Actor, action: str = "view",
                   team_id: int | None = None) -> list[dict]:
    """Active reps and managers whose personal targets the actor may read (or set): id, name, team_id,
    team_name; within `team_id` and its sub-teams when given. A rep reads only themselves; nobody sets
    their own target unless their scope is `all`."""
    scope, teams = _reach(con, actor, action)
    where, params = ["u.active", "u.deleted_at IS NULL", "u.role IN (SELECT unnest(?))"], [list(HOLDER_ROLES)]
    if scope == "none" or (scope == "own" and action != "view"):
        return []
    if scope == "own":
        where.append("u.id = ?")
        params.append(actor.id)
    elif teams is not None:
        where.append("u.team_id IN (SELECT unnest(?))")
        params.append(list(teams))
    if action != "view" and scope != "all":
        where.append("u.id <> ?")
        params.append(actor.id)
    if team_id is not None:
        from core.auth import team_tree

        where.append("u.team_id IN (SELECT unnest(?))")
        params.append(list(team_tree(con, team_id)))
    return db.rows(con, "SELECT u.id, u.name, u.team_id, t.name AS team_name FROM users u "
                        f"LEFT JOIN teams t ON t.id = u.team_id WHERE {' AND '.join(where)} "  # sql-ok: fixed parts
                        "ORDER BY t.name NULLS LAST, u.name, u.id", params)


def _subject(con, actor: Actor, user_id, team_id, action: str) -> tuple[int | None, int | None]:
    """The (user, team) a target belongs to, checked against the actor's reach. Exactly one is set."""
    if (user_id is None) == (team_id is None):
        raise ValidationError("target.one_subject")
    if action == "assign" and not can_set(con, actor):
        raise PermissionDenied("target.cannot_set")
    if user_id is not None:
        uid = _int(user_id)
        if uid not in {u["id"] for u in visible_people(con, actor, action)}:
            if action == "assign" and uid == actor.id:
                raise PermissionDenied("target.not_own")
            raise PermissionDenied("target.out_of_reach") if action == "assign" else NotFound("error.not_found")
        return uid, None
    tid = _int(team_id)
    if tid not in {t["id"] for t in visible_teams(con, actor, action)}:
        raise PermissionDenied("target.out_of_reach") if action == "assign" else NotFound("error.not_found")
    return None, tid


def _int(value) -> int:
    """An id from a link, a form or a caller (core.records.record_id: anything else is NotFound)."""
    return records.record_id(value)


def _metric(metric) -> str:
    if metric not in METRICS:
        raise ValidationError("field.bad_choice", field="target.metric", value=fields.short(metric))
    return metric


# ---------------------------------------------------------------- writing
def set_target(con: duckdb.DuckDBPyConnection, actor: Actor, period: tuple[str, Any], metric: str, value: Any,
               user_id: int | None = None, team_id: int | None = None) -> int:
    """Set the target of a user or a team for a period (kind, any day in it) and a metric; returns the
    target's id. Setting it again changes the value (audited with old and new)."""
    metric = _metric(metric)
    start, end = period_bounds(period[0], period[1])
    uid, tid = _subject(con, actor, user_id, team_id, "assign")
    number = fields.clean_value(con, VALUE_FIELDS[metric], value)

    def work():
        # write the subject's row in this unit: a second set_target of the same subject at the same time
        # conflicts on it, runs again, finds this target and updates it (two inserts never conflict).
        # duckdb 2.0.0 ignores an update that leaves a value as it is, so the value moves and comes back
        # (unchanged when the unit commits; conflicts are per column).
        if uid is not None:
            con.execute("UPDATE users SET updated_at = updated_at + INTERVAL 1 MICROSECOND WHERE id = ?", [uid])
            con.execute("UPDATE users SET updated_at = updated_at - INTERVAL 1 MICROSECOND WHERE id = ?", [uid])
        else:
            for _ in range(2):
                con.execute("UPDATE teams SET is_new_hire_pool = NOT is_new_hire_pool WHERE id = ?", [tid])
        found = db.one(con, "SELECT id, value::DOUBLE AS value FROM targets WHERE metric = ? AND period_start = ? "
                            "AND period_end = ? AND user_id IS NOT DISTINCT FROM ? AND team_id IS NOT DISTINCT FROM ? "
                            "ORDER BY id DESC LIMIT 1", [metric, start, end, uid, tid])
        if found is not None:
            if float(found["value"]) == float(number):
                return found["id"]
            con.execute("UPDATE targets SET value = ?, set_by = ?, updated_at = ? WHERE id = ?",
                        [number, actor.id, actor.now, found["id"]])
            audit.record(con, actor, "update", "target", found["id"], {"value": (found["value"], number)})
            return found["id"]
        new_id = db.next_id(con, "targets")
        con.execute("INSERT INTO targets (id, user_id, team_id, period_start, period_end, metric, value, created_at, "
                    "set_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [new_id, uid, tid, start, end, metric, number, actor.now, actor.id, actor.now])
        audit.record(con, actor, "create", "target", new_id,
                     {"user_id": (None, uid), "team_id": (None, tid), "metric": (None, metric),
                      "period_start": (None, start), "period_end": (None, end), "value": (None, number)})
        return new_id

    return db.write(con, work)


def clear_target(con: duckdb.DuckDBPyConnection, actor: Actor, target_id: Any) -> None:
    """Remove a target (the actor must be allowed to set it); audited with the value it had."""
    tid = _int(target_id)
    row = db.one(con, "SELECT id, user_id, team_id, metric, value::DOUBLE AS value FROM targets WHERE id = ?", [tid])
    if row is None:
        raise NotFound("error.not_found")
    _subject(con, actor, row["user_id"], row["team_id"], "assign")

    def work():
        con.execute("DELETE FROM targets WHERE id = ?", [tid])
        audit.record(con, actor, "delete", "target", tid, {"value": (row["value"], None)})

    db.write(con, work)


# ---------------------------------------------------------------- reading
def list_targets(con: duckdb.DuckDBPyConnection, actor: Actor, period: tuple[str, Any],
                 team_id: int | None = None) -> pl.DataFrame:
    """The targets set for exactly this period that the actor may read (within `team_id`'s tree when
    given): id, user_id, team_id, name (person or team), metric, value, set_by_name, updated_at."""
    start, end = period_bounds(period[0], period[1])
    people = visible_people(con, actor, "view", team_id)
    teams = visible_teams(con, actor, "view")
    if team_id is not None:
        from core.auth import team_tree

        tree = set(team_tree(con, _int(team_id)))
        teams = [t for t in teams if t["id"] in tree]
    return db.frame(
        con,
        "SELECT t.id, t.user_id, t.team_id, coalesce(u.name, tm.name) AS name, t.metric, t.value::DOUBLE AS value, "
        "s.name AS set_by_name, coalesce(t.updated_at, t.created_at) AS updated_at FROM targets t "
        "LEFT JOIN users u ON u.id = t.user_id LEFT JOIN teams tm ON tm.id = t.team_id "
        "LEFT JOIN users s ON s.id = t.set_by "
        "WHERE t.period_start = ? AND t.period_end = ? AND (t.user_id IN (SELECT unnest(?::BIGINT[])) "
        "OR t.team_id IN (SELECT unnest(?::BIGINT[]))) "
        "ORDER BY t.team_id IS NULL, name, t.metric, t.id",
        [start, end, [p["id"] for p in people], [t["id"] for t in teams]],
    )


def target_values(con: duckdb.DuckDBPyConnection, metric: str | tuple[str, ...], periods: list[tuple[dt.date, dt.date]],
                  user_ids: list[int], team_ids: list[int]) -> dict[tuple, float]:
    """The target of each subject for each period (see the module's rule): {("user"|"team", id, period
    index): value} for one metric, {(metric, "user"|"team", id, period index): value} for a tuple of
    metrics (one query for all); subjects without a target are left out. No permission check: callers
    pass the subjects the viewer may read."""
    metrics = (metric,) if isinstance(metric, str) else tuple(metric)
    if not periods or not (user_ids or team_ids) or not metrics:
        return {}
    lo, hi = min(p[0] for p in periods), max(p[1] for p in periods)
    teams = db.rows(con, "SELECT id, parent_id FROM teams WHERE deleted_at IS NULL")
    children: dict[int, list[int]] = {}
    for t in teams:
        children.setdefault(t["parent_id"], []).append(t["id"])
    rows = db.rows(con, "SELECT id, metric, user_id, team_id, period_start, period_end, value::DOUBLE AS value "
                        "FROM targets WHERE metric IN (SELECT unnest(?)) AND period_start <= ? AND period_end >= ? "
                        "AND (user_id IN (SELECT unnest(?::BIGINT[])) OR team_id IS NOT NULL) ORDER BY id",
                   [list(metrics), hi, lo, list(user_ids)])
    by_subject: dict[tuple[str, str, int], list[dict]] = {}
    for r in rows:
        key = (r["metric"], "user", r["user_id"]) if r["user_id"] is not None else (r["metric"], "team", r["team_id"])
        by_subject.setdefault(key, []).append(r)

    def own(subject: tuple[str, str, int], start: dt.date, end: dt.date) -> float | None:
        mine = by_subject.get(subject, [])
        exact = [r for r in mine if r["period_start"] == start and r["period_end"] == end]
        if exact:
            return exact[-1]["value"]
        total = 0.0
        for m in month_starts(start, end):
            covering = [r for r in mine if r["period_start"] <= m <= r["period_end"]]
            if not covering:
                return None
            best = min(covering, key=lambda r: (len(month_starts(r["period_start"], r["period_end"])), -r["id"]))
            total += best["value"] / len(month_starts(best["period_start"], best["period_end"]))
        return total

    def team_value(m: str, tid: int, start: dt.date, end: dt.date, seen: frozenset = frozenset()) -> float | None:
        value = own((m, "team", tid), start, end)
        if value is not None or tid in seen:
            return value
        parts = [team_value(m, c, start, end, seen | {tid}) for c in children.get(tid, [])]
        parts = [p for p in parts if p is not None]
        return sum(parts) if parts else None

    out: dict[tuple, float] = {}
    for m in metrics:
        for i, (start, end) in enumerate(periods):
            for uid in user_ids:
                v = own((m, "user", uid), start, end)
                if v is not None:
                    out[(m, "user", uid, i)] = v
            for tid in team_ids:
                v = team_value(m, tid, start, end)
                if v is not None:
                    out[(m, "team", tid, i)] = v
    return {k[1:]: v for k, v in out.items()} if isinstance(metric, str) else out


def _scoped(con, actor: Actor, module: str, alias: str) -> list[tuple[str, list]] | None:
    """The viewer's scope branches on `module`, or None without any view scope on it."""
    if not access.can(con, actor, module, "view"):
        return None
    return access.branches(con, actor, module, "view", alias)


def actuals(con: duckdb.DuckDBPyConnection, actor: Actor, start: dt.date, end: dt.date, user_ids: list[int],
            team_trees: dict[int, tuple[int, ...]]) -> dict[tuple[str, int, str], float]:
    """What each user and each team did in [start, end] per metric, over records the viewer may view:
    {("user"|"team", id, metric): value}. `team_trees`: team id -> the team and its sub-teams."""
    lo_utc = clock.day_bounds_utc(con, start)[0]
    hi_utc = clock.day_bounds_utc(con, end)[1]
    all_teams = sorted({t for tree in team_trees.values() for t in tree})
    # (team of the record) -> the asked teams whose tree holds it
    pairs = [(member, tid) for tid, tree in team_trees.items() for member in tree]
    out: dict[tuple[str, int, str], float] = {}
    specs = {
        # module: (alias, FROM+WHERE without scope, params, person column, team column, measures)
        "deals": ("d", "FROM deals d JOIN pipeline_stages s ON s.code = d.stage AND s.is_won "
                       "WHERE d.deleted_at IS NULL AND d.closed_on BETWEEN ? AND ?", [start, end],
                  "d.owner_id", "d.team_id",
                  {"won_amount": "coalesce(sum(x.amount), 0)::DOUBLE", "won_deals": "count(*)"}, "d.amount"),
        "customers": ("c", "FROM customers c LEFT JOIN users cu ON cu.id = c.created_by "
                           "WHERE c.deleted_at IS NULL AND c.created_at >= ? AND c.created_at < ?", [lo_utc, hi_utc],
                      "c.created_by", "cu.team_id", {"new_customers": "count(*)"}, "NULL"),
        "activities": ("a", "FROM activities a WHERE a.deleted_at IS NULL AND a.occurred_at >= ? "
                            "AND a.occurred_at < ?", [lo_utc, hi_utc],
                       "a.user_id", "a.team_id", {"activities": "count(*)"}, "NULL"),
    }
    for module, (alias, base, params, person, team, measures, amount) in specs.items():
        branches = _scoped(con, actor, module, alias)
        if branches is None:
            continue
        parts, args = [], []
        for cond, p in branches:
            parts.append(f"SELECT {person} AS person, {team} AS team, {amount} AS amount {base} AND {cond} "
                         f"AND ({person} IN (SELECT unnest(?::BIGINT[])) OR {team} IN (SELECT unnest(?::BIGINT[])))")
            args += params + p + [list(user_ids), all_teams]
        union = " UNION ALL ".join(parts)
        cols = ", ".join(f"{sql} AS {name}" for name, sql in measures.items())
        found = db.rows(con, f"WITH x AS MATERIALIZED ({union}), p AS (SELECT unnest(?::BIGINT[]) AS member, "  # sql-ok
                             f"unnest(?::BIGINT[]) AS asked) "
                             f"SELECT 'user' AS kind, x.person AS id, {cols} FROM x "
                             f"WHERE x.person IN (SELECT unnest(?::BIGINT[])) GROUP BY x.person UNION ALL "
                             f"SELECT 'team', p.asked, {cols} FROM x JOIN p ON p.member = x.team GROUP BY p.asked",
                        args + [[m for m, _ in pairs], [a for _, a in pairs], list(user_ids)])
        for kind, ids in (("user", user_ids), ("team", list(team_trees))):
            got = {r["id"]: r for r in found if r["kind"] == kind}
            for i in ids:
                for name in measures:
                    out[(kind, i, name)] = float(got[i][name]) if i in got else 0.0
    return out


def attainment(con: duckdb.DuckDBPyConnection, actor: Actor, period: tuple[str, Any], user_id: int | None = None,
               team_id: int | None = None) -> pl.DataFrame:
    """Target, actual and attainment (actual / target) per metric for the period (kind, any day in it).

    `user_id`: that person only. `team_id`: the team (its sub-teams included) and each of its people.
    Neither: a rep sees themselves; a manager their team and its people; a viewer of every deal (the
    admin) each top-level team. Columns: level (team | rep), user_id, team_id, name, metric, target, actual, ratio.
    Outside the actor's reach: NotFound."""
    from core.auth import team_tree

    start, end = period_bounds(period[0], period[1])
    scope, _teams = _reach(con, actor, "view")
    if scope == "none":
        raise PermissionDenied("error.permission", module="deals", action="view")
    people: list[dict] = []
    teams: list[dict] = []
    if user_id is not None:
        uid, _ = _subject(con, actor, user_id, None, "view")
        people = [p for p in visible_people(con, actor, "view") if p["id"] == uid]
    elif team_id is not None:
        _, tid = _subject(con, actor, None, team_id, "view")
        teams = [t for t in visible_teams(con, actor, "view") if t["id"] == tid]
        people = visible_people(con, actor, "view", tid)
    elif scope == "own":
        people = visible_people(con, actor, "view")
    elif scope != "all" and actor.team_id in {t["id"] for t in visible_teams(con, actor, "view")}:
        teams = [t for t in visible_teams(con, actor, "view") if t["id"] == actor.team_id]
        people = visible_people(con, actor, "view", actor.team_id)
    else:
        teams = [t for t in visible_teams(con, actor, "view") if t["parent_id"] is None]
    trees = {t["id"]: team_tree(con, t["id"]) for t in teams}
    done = actuals(con, actor, start, end, [p["id"] for p in people], trees)
    goals = target_values(con, METRICS, [(start, end)], [p["id"] for p in people], list(trees))
    can_count = {m: access.can(con, actor, METRIC_MODULE[m], "view") for m in METRICS}
    rows = []
    subjects = [("team", t["id"], None, t["id"], t["name"]) for t in teams] + \
               [("rep", p["id"], p["id"], p["team_id"], p["name"]) for p in people]
    for level, sid, uid, tid, name in subjects:
        kind = "team" if level == "team" else "user"
        for m in METRICS:
            target = goals.get((m, kind, sid, 0))
            actual = done.get((kind, sid, m)) if can_count[m] else None
            ratio = actual / target if actual is not None and target else None
            rows.append({"level": level, "user_id": uid, "team_id": tid, "name": name, "metric": m,
                         "target": target, "actual": actual, "ratio": ratio})
    schema = {"level": pl.String, "user_id": pl.Int64, "team_id": pl.Int64, "name": pl.String, "metric": pl.String,
              "target": pl.Float64, "actual": pl.Float64, "ratio": pl.Float64}
    return pl.DataFrame(rows, schema=schema)
