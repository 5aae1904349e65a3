"""The service desk's queues (客服工单队列): an agent's tickets, the team's unassigned ones, those at risk
of breaching their SLA, those breached, and every open ticket, each under the viewer's ticket scope
(core.access.service_branches: a rep sees the own customers' tickets, a manager the team tree's
customers', service and admin every ticket) and sorted by the time left to breach by default.

How a page is read (fast at 300,000 tickets): the visible tickets of the view are gathered as disjoint
UNION ALL branches (one per part of the scope, each a plain AND that reaches the scan whole), the SLA
columns are added set-based by core.sla.state_sql (never computed here), and ONE statement returns the
count and the page's rows (the narrow columns a queue shows, kept for the view's tickets only, with the
assignee's and the team's names); the customers' names are read by a constant id list afterwards (a join
would scan every customer).

Sorting by SLA. Tickets waiting on the customer (sla_state 'paused': status pending, clock stopped) sort
AFTER every running ticket, among themselves by the time they had left when the clock stopped. Their time
cannot run out while they wait and the agent has nothing to do on them until the customer answers, so by
their frozen time they would sit between running tickets and push the ones that do run out down the page.
A pending ticket that had already breached keeps the state 'breached' and stays with the breached ones at
the top. Tickets without an SLA due (none set, or past the calendar) come last.

Views (VIEWS):
- mine: assigned to the viewer;
- team_unassigned: nobody assigned, in one of the viewer's teams (the own team, the teams the viewer leads
  (teams.lead_id), a manager's team tree); for the admin the unassigned tickets of every service team
  (a team with service agents) and those of no team;
- at_risk / breached: sla_state 'at_risk' / 'breached' (core.sla, setting service.at_risk_percent);
- all: every ticket of the scope.
Every view holds the open tickets (new, open, pending) unless the status filter names other statuses.
"""
from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from core import access, fields, listing, sla
from core.context import Actor
from core.errors import ValidationError

VIEWS = ("mine", "team_unassigned", "at_risk", "breached", "all")
SORTS = ("sla", "opened", "priority", "updated")
STATUSES = ("new", "open", "pending", "resolved", "closed")
OPEN_STATUSES = sla.OPEN_STATUSES
PRIORITIES = sla.PRIORITIES          # most urgent first
FILTER_KEYS = {"priority", "category", "status", "assignee", "q"}

# the order of a page (after the view's own filter), over the SLA-state rows `s`, ties broken to the end:
# by time left and priority the ticket opened first comes first (first come, first served)
_SLA_ORDER = "(s.sla_state = 'paused'), s.sla_left_minutes {dir} NULLS LAST"
_FIFO = "s.opened_at ASC, s.id ASC"
_SORT_KEYS = {
    "sla": f"{_SLA_ORDER}, {_FIFO}",
    "opened": "s.opened_at {dir} NULLS LAST, s.id {dir}",
    "priority": "list_position(?, s.priority) {dir} NULLS LAST, " + _SLA_ORDER.replace("{dir}", "ASC") + f", {_FIFO}",
    "updated": "s.updated_at {dir} NULLS LAST, s.id {dir}",
}
SLA_COLUMNS = ("sla_target", "sla_due", "sla_left_minutes", "sla_used", "sla_state")
# the ticket columns a page carries (with the names and the SLA columns: COLUMNS)
_KEPT = ("id", "ticket_no", "subject", "customer_id", "contact_id", "category", "sub_category", "priority", "channel",
         "status", "assignee_id", "team_id", "opened_at", "updated_at", "first_response_at", "pending_since",
         "first_response_due", "resolution_due", "satisfaction") + SLA_COLUMNS
_ID, _TEXT, _TIME, _NUM = pl.Int64, pl.String, pl.Datetime("us"), pl.Float64
# the columns page_sql returns after the total, in its order, with their types
_SCHEMA = dict(zip(_KEPT + ("assignee_name", "team_name"), (
    _ID, _TEXT, _TEXT, _ID, _ID, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _ID, _ID, _TIME, _TIME, _TIME, _TIME, _TIME,
    _TIME, _NUM, _TEXT, _TIME, _NUM, _NUM, _TEXT, _TEXT, _TEXT)))
COLUMNS = _KEPT[:4] + ("customer_name",) + _KEPT[4:11] + ("assignee_name", "team_id", "team_name") + _KEPT[12:]


# ------------------------------------------------------------------------------------------ helpers
def _marks(items) -> str:
    return ", ".join("?" for _ in items)


def _ints(value: Any) -> list[int]:
    items = list(value) if isinstance(value, (list, tuple, set)) else [value]
    if not items or len(items) > 1000 or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise ValidationError("list.bad_filter")
    return items


def _codes(value: Any, allowed: tuple[str, ...] | None = None) -> list[str]:
    items = list(value) if isinstance(value, (list, tuple, set)) else [value]
    if not items or len(items) > 1000 or not all(isinstance(v, str) and len(v) <= 60 for v in items):
        raise ValidationError("list.bad_filter")
    items = [fields.search_text(v) for v in items]
    if allowed is not None and not set(items) <= set(allowed):
        raise ValidationError("list.bad_filter")
    return items


def _filters(given: Any) -> tuple[list[str], list, list[str], str]:
    """The user's filters as plain AND clauses over alias t, the statuses the rows may have, and the join
    the clauses need (the customer's name for the search)."""
    if given is None:
        given = {}
    if not isinstance(given, dict) or not set(given) <= FILTER_KEYS:
        raise ValidationError("list.bad_filter")
    where, args, join = [], [], ""
    statuses = list(OPEN_STATUSES)
    if given.get("status") not in (None, "", [], ()):
        statuses = _codes(given["status"], STATUSES)
    for key, col, allowed in (("priority", "priority", PRIORITIES), ("category", "category", None)):
        if given.get(key) not in (None, "", [], ()):
            items = _codes(given[key], allowed)
            where.append(f"t.{col} IN ({_marks(items)})")
            args += items
    if given.get("assignee") not in (None, [], ()):
        people = _ints(given["assignee"])
        where.append(f"t.assignee_id IN ({_marks(people)})")
        args += people
    q = given.get("q")
    if q not in (None, ""):
        q = fields.search_text(q)
        if q:
            like = "ILIKE" if q.lower() != q.upper() else "LIKE"
            text = f"%{q}%"
            if any(ch in q for ch in "%_\\"):  # "50%" means the text 50%, not 50 then anything
                text = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                like += " ? ESCAPE '\\'"
            else:
                like += " ?"
            # the customer's name (joined to the view's tickets: a name search over every customer first costs
            # 4x more at scale L), the ticket number, the subject
            where.append(f"((qc.deleted_at IS NULL AND qc.name {like}) OR t.ticket_no {like} OR t.subject {like})")
            args += [text, text, text]
            join = "LEFT JOIN customers qc ON qc.id = t.customer_id"
    return where, args, statuses, join


def my_teams(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[int]:
    """The teams whose unassigned tickets are the viewer's team queue: the own team, the teams the viewer
    leads, and a manager's whole team tree (the admin: see `_team_unassigned`)."""
    found = {actor.team_id} if actor.team_id is not None else set()
    if actor.role == "manager":
        found |= set(actor.team_tree or ())
    if actor.id is not None:
        found |= {r[0] for r in con.execute("SELECT id FROM teams WHERE lead_id = ? AND deleted_at IS NULL",
                                            [actor.id]).fetchall()}
    return sorted(found)


def service_teams(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Teams with at least one active service agent in them."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT u.team_id FROM users u JOIN teams tm ON tm.id = u.team_id AND tm.deleted_at IS NULL "
        "WHERE u.role = 'service' AND u.active AND u.deleted_at IS NULL ORDER BY 1").fetchall()]


def _team_unassigned(con, actor: Actor) -> tuple[str, list]:
    """The condition (over alias t) of the viewer's team queue."""
    if actor.is_admin:
        teams = service_teams(con)
        if not teams:
            return "t.assignee_id IS NULL AND t.team_id IS NULL", []
        return f"t.assignee_id IS NULL AND (t.team_id IS NULL OR t.team_id IN ({_marks(teams)}))", teams
    teams = my_teams(con, actor)
    if not teams:
        return "FALSE", []
    return f"t.assignee_id IS NULL AND t.team_id IN ({_marks(teams)})", teams


def _source(con, actor: Actor, where: list[str], args: list, statuses: list[str], join: str = "") -> tuple[str, list]:
    """The visible tickets (all columns) as UNION ALL branches of the scope, with the given conditions."""
    parts, params = [], []
    for branch, bparams in access.service_branches(con, actor, "tickets", "view", "t"):
        cond = " AND ".join(["t.deleted_at IS NULL", f"t.status IN ({_marks(statuses)})", f"({branch})"] + where)
        parts.append(f"SELECT t.* FROM tickets t {join} WHERE {cond}")
        params += statuses + bparams + args
    return " UNION ALL ".join(parts), params


def _view_where(con, actor: Actor, view: str) -> tuple[list[str], list, str]:
    """(row conditions over t, their params, condition over the SLA state) of a view."""
    if view not in VIEWS:
        raise ValidationError("list.bad_filter")
    if view == "mine":
        return ["t.assignee_id = ?"], [actor.id], "TRUE"
    if view == "team_unassigned":
        cond, params = _team_unassigned(con, actor)
        return [cond], params, "TRUE"
    if view in ("at_risk", "breached"):
        return [], [], f"s.sla_state = '{view}'"
    return [], [], "TRUE"


# -------------------------------------------------------------------------------------------- queue
def queue(con: duckdb.DuckDBPyConnection, actor: Actor, view: str = "mine", filters: dict | None = None,
          sort: str = "sla", desc: bool = False, page: int = 0, page_size: int = 50) -> tuple[pl.DataFrame, int]:
    """One page of a queue (VIEWS) and how many tickets it holds. Filters: priority (codes), category
    (codes), status (statuses; default the open ones), assignee (user ids), q (the customer's name, the
    ticket number or the subject). Sorts: sla (time left to breach, paused tickets last; see the module),
    opened, priority (most urgent first, then time left), updated; `desc` reverses the main key.

    Columns (COLUMNS): id, ticket_no, subject, customer_id, customer_name, contact_id, category,
    sub_category, priority, channel, status, assignee_id, assignee_name, team_id, team_name, opened_at,
    updated_at, first_response_at, pending_since, first_response_due, resolution_due, satisfaction, and the
    SLA columns sla_target, sla_due, sla_left_minutes, sla_used, sla_state (core.sla.state_sql)."""
    sql, params = page_sql(con, actor, view, filters, sort, desc, page, page_size)
    # fetchall, not a relation's .pl(): that plans the statement twice (measured: 37 -> 17 ms at scale L)
    found = con.execute(sql, params).fetchall()
    total = int(found[0][0]) if found else 0
    df = pl.DataFrame([r[1:] for r in found if r[1] is not None], schema=_SCHEMA, orient="row")
    names = _names(con, df["customer_id"].to_list())
    return df.with_columns(pl.col("customer_id").replace_strict(names, default=None, return_dtype=pl.String)
                           .alias("customer_name")).select(COLUMNS), total


def page_sql(con: duckdb.DuckDBPyConnection, actor: Actor, view: str = "mine", filters: dict | None = None,
             sort: str = "sla", desc: bool = False, page: int = 0, page_size: int = 50) -> tuple[str, list]:
    """The one statement behind a page of `queue` (checked arguments, bound values): the total and the
    page's rows in order (a single row with id NULL when the page is empty). benchmarks/service.py runs it
    raw beside `queue`."""
    access.require(con, actor, "tickets", "view")
    if sort not in SORTS or not isinstance(desc, bool):
        raise ValidationError("list.bad_sort")
    page, page_size = listing.page_args(page, page_size)
    vwhere, vargs, state_cond = _view_where(con, actor, view)
    fwhere, fargs, statuses, join = _filters(filters)
    source, sparams = _source(con, actor, vwhere + fwhere, vargs + fargs, statuses, join)
    state, params = sla.state_sql(con, actor.now, source, sparams)
    order = _SORT_KEYS[sort].format(dir="DESC" if desc else "ASC")
    order_args = [list(PRIORITIES)] if sort == "priority" else []
    keep = ", ".join(f"s.{c}" for c in _KEPT)
    # the page's columns come along (narrow, over the open tickets only): no second read of the tickets
    sql = (f"WITH s AS MATERIALIZED (SELECT {keep} FROM ({state}) s WHERE {state_cond}), "
           f"p0 AS (SELECT s.* FROM s ORDER BY {order} LIMIT ? OFFSET ?), "  # a top-N, then the page numbered
           f"p AS (SELECT s.*, row_number() OVER (ORDER BY {order}) AS pos FROM p0 s) "
           f"SELECT n.total, p.* EXCLUDE (pos), a.name AS assignee_name, tm.name AS team_name "
           f"FROM (SELECT count(*) AS total FROM s) n LEFT JOIN p ON TRUE LEFT JOIN users a ON a.id = p.assignee_id "
           f"LEFT JOIN teams tm ON tm.id = p.team_id ORDER BY p.pos")
    return sql, params + order_args + [page_size, page * page_size] + order_args


def _names(con, ids: list) -> dict[int, str]:
    """Customers' names by a constant id list (an index lookup, where a join scans every customer)."""
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    return dict(con.execute(f"SELECT id, name FROM customers WHERE id IN ({_marks(ids)})", ids).fetchall())  # sql-ok


# ------------------------------------------------------------------------------------------- counts
def counts(con: duckdb.DuckDBPyConnection, actor: Actor, filters: dict | None = None) -> dict[str, int]:
    """How many tickets each view holds ({view: n} for every VIEWS), in ONE statement over the viewer's
    scope; with `filters` (as `queue`), the counts of the filtered views, so a tab's badge is the number
    of rows the tab shows."""
    sql, params = counts_sql(con, actor, filters)
    row = con.execute(sql, params).fetchall()[0]
    return {view: int(n or 0) for view, n in zip(VIEWS, row)}


def counts_sql(con: duckdb.DuckDBPyConnection, actor: Actor, filters: dict | None = None) -> tuple[str, list]:
    """The one statement behind `counts`: a row of the counts in VIEWS order."""
    access.require(con, actor, "tickets", "view")
    fwhere, fargs, statuses, join = _filters(filters)
    team_cond, team_args = _team_unassigned(con, actor)
    source, sparams = _source(con, actor, fwhere, fargs, statuses, join)
    state, params = sla.state_sql(con, actor.now, source, sparams)
    sql = (f"SELECT count(*) FILTER (WHERE t.assignee_id = ?), count(*) FILTER (WHERE {team_cond}), "
           f"count(*) FILTER (WHERE t.sla_state = 'at_risk'), count(*) FILTER (WHERE t.sla_state = 'breached'), "
           f"count(*) FROM ({state}) t")
    return sql, [actor.id] + team_args + params
