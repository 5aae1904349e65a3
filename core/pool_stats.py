"""The pool dashboard: per rep held vs cap, customers untouched for 5/10/20 working days, claimed and
reclaimed this week, locked; per pool its size, age and claim rate. Managers see their team tree, admins
all, reps only themselves (and their own team's pool).

"Untouched" counts working days (core.reclaim's calendar: workday rows strictly after the local day of
the later of the last follow-up and the assignment, up to today). "This week" starts Monday 00:00 in the
company's time zone. A pool's claim rate is claimed this week / (claimed this week + still in the pool).
"""
from __future__ import annotations

import datetime as dt

import duckdb

from core import access, clock, db, settings, sla
from core.context import Actor
from core.reclaim import _Calendar

UNTOUCHED_DAYS = (5, 10, 20)


def _teams(con: duckdb.DuckDBPyConnection, actor: Actor, scope: str) -> list[int] | None:
    """The teams whose reps and pools the actor sees (None: every team)."""
    if scope == "all":
        return None
    if scope in ("team", "team_tree"):
        return list(actor.team_tree or ((actor.team_id,) if actor.team_id is not None else ()))
    return [actor.team_id] if actor.team_id is not None else []


def dashboard(con: duckdb.DuckDBPyConnection, actor: Actor, now: dt.datetime | None = None) -> dict:
    """{"reps": frame(user_id, name, team, held, cap, untouched_5, untouched_10, untouched_20, claimed_week,
    reclaimed_week, locked), "pools": frame(team_id, name, size, median_age_days, oldest_days, claimed_week,
    claim_rate)}. Reps: the active sales users (and anyone else holding customers) of the teams in scope;
    a rep sees only the own row."""
    scope = access.require(con, actor, "customers", "assign")
    now = now or actor.now
    sla.ensure_calendar(con)
    cal = _Calendar.load(con)
    today = clock.local_today(con, now)
    cuts = [cal.cutoff(today, n) for n in UNTOUCHED_DAYS]
    week = clock.week_start_utc(con, now)
    default_cap = int(settings.get(con, "pool.max_open_customers_per_rep"))
    teams = _teams(con, actor, scope)
    if scope == "own":
        who, who_params = "u.id = ?", [actor.id]
    elif teams is None:
        who, who_params = "TRUE", []
    else:
        who, who_params = "u.team_id IN (SELECT unnest(?::BIGINT[]))", [teams]
    reps = db.frame(con, (
        "WITH h AS (SELECT owner_id, count(*) AS held, "
        "  count(*) FILTER (WHERE greatest(last_activity_at, coalesce(assigned_at, created_at)) < ?) AS u5, "
        "  count(*) FILTER (WHERE greatest(last_activity_at, coalesce(assigned_at, created_at)) < ?) AS u10, "
        "  count(*) FILTER (WHERE greatest(last_activity_at, coalesce(assigned_at, created_at)) < ?) AS u20, "
        "  count(*) FILTER (WHERE locked_at IS NOT NULL) AS locked "
        "  FROM customers WHERE owner_id IS NOT NULL AND deleted_at IS NULL AND merged_into_id IS NULL "
        "  AND stage NOT IN ('won', 'upgrade') GROUP BY owner_id), "
        "m AS (SELECT coalesce(CASE WHEN reason = 'claim' THEN to_owner_id END, from_owner_id) AS user_id, "
        "  count(*) FILTER (WHERE reason = 'claim') AS claimed, count(*) FILTER (WHERE reason = 'reclaim') AS reclaimed "
        "  FROM pool_moves WHERE moved_at >= ? AND reason IN ('claim', 'reclaim') GROUP BY ALL) "
        "SELECT u.id AS user_id, u.name, t.name AS team, coalesce(h.held, 0) AS held, "
        "  CAST(coalesce(u.customer_cap, t.customer_cap, ?) AS BIGINT) AS cap, coalesce(h.u5, 0) AS untouched_5, "
        "  coalesce(h.u10, 0) AS untouched_10, coalesce(h.u20, 0) AS untouched_20, "
        "  coalesce(m.claimed, 0) AS claimed_week, coalesce(m.reclaimed, 0) AS reclaimed_week, "
        "  coalesce(h.locked, 0) AS locked "
        "FROM users u LEFT JOIN teams t ON t.id = u.team_id LEFT JOIN h ON h.owner_id = u.id "
        "LEFT JOIN m ON m.user_id = u.id "
        f"WHERE u.active AND u.deleted_at IS NULL AND (u.role = 'sales' OR h.held > 0) AND {who} "  # sql-ok: fixed text
        "ORDER BY t.name, u.name, u.id"), [*cuts, week, default_cap, *who_params])
    if teams is None:
        where, params = "t.deleted_at IS NULL", []
    else:
        where, params = "t.deleted_at IS NULL AND t.id IN (SELECT unnest(?::BIGINT[]))", [teams]
    pools = db.frame(con, (
        "WITH p AS (SELECT team_id, count(*) AS size, "
        "  median(epoch(? - coalesce(pool_since, created_at)) / 86400.0) AS median_age_days, "
        "  max(epoch(? - coalesce(pool_since, created_at)) / 86400.0) AS oldest_days "
        "  FROM customers WHERE owner_id IS NULL AND team_id IS NOT NULL AND deleted_at IS NULL "
        "  AND merged_into_id IS NULL GROUP BY team_id), "
        "c AS (SELECT from_team_id AS team_id, count(*) AS claimed FROM pool_moves "
        "  WHERE reason = 'claim' AND moved_at >= ? GROUP BY ALL) "
        "SELECT t.id AS team_id, t.name, coalesce(p.size, 0) AS size, round(p.median_age_days, 1) AS median_age_days, "
        "  round(p.oldest_days, 1) AS oldest_days, coalesce(c.claimed, 0) AS claimed_week, "
        "  CASE WHEN coalesce(p.size, 0) + coalesce(c.claimed, 0) > 0 "
        "       THEN coalesce(c.claimed, 0) / (coalesce(p.size, 0) + coalesce(c.claimed, 0)) END AS claim_rate "
        "FROM teams t LEFT JOIN p ON p.team_id = t.id LEFT JOIN c ON c.team_id = t.id "
        f"WHERE {where} AND (p.size > 0 OR c.claimed > 0 OR t.id IN (SELECT team_id FROM users WHERE role = 'sales')) "  # sql-ok
        "ORDER BY t.name, t.id"), [now, now, week, *params])
    return {"reps": reps, "pools": pools}
