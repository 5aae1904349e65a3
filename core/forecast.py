"""The sales forecast (销售预测): weighted pipeline by expected close month, forecast categories, the
"hot" deals, and the historical win rate of each stage.

Every figure is computed over the deals the viewer may view (`deals/view` scope, as disjoint UNION ALL
branches), in set-based SQL.

Definitions:
- A deal counts in a month by its expected close date while open (a stage neither won nor lost), by
  its close date (`closed_on`) once won; lost and deleted deals do not count; an open deal without an
  expected close date is in no month.
- Probability: the deal's own (`deals.probability`, the stage default unless the owner overrode it),
  else its stage's default. Weighted amount of an open deal = amount x probability / 100; of a won
  deal = its amount.
- Forecast category: `closed` for a won deal; for an open deal the owner's choice
  (`deals.forecast_category`: pipeline | best_case | commit) when set, else by probability bands set
  by the admin: `commit` from `forecast.commit_from` (75) percent, `best_case` from
  `forecast.best_case_from` (50), `pipeline` below. Category figures are sums of amounts (unweighted,
  as a rep commits an amount); `weighted` is the weighted total of the month.
- Targets beside the months: the `won_amount` target of each rep and of the team for the month
  (core.targets.target_values: the month's own target, or a quarter's / year's spread evenly, or for a
  team the sum of its sub-teams').
- Stage win rate: among the deals in the viewer's scope (of the pipeline) that entered a stage (a
  `deal_stage_history` row to it) in the last 12 months and are now closed, the share now won (open
  stages only: a won or lost stage has no rate to show). Still open deals are left out (they have not had the chance to be won or lost yet); `reached`, `closed`
  and `won` counts come with each rate.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

import duckdb
import polars as pl

from core import access, clock, db, fields, settings, targets
from core.context import Actor
from core.errors import NotFound, PermissionDenied, ValidationError
from core.fields import Field

CATEGORIES = ("pipeline", "best_case", "commit", "closed")
OVERRIDES = ("pipeline", "best_case", "commit")   # what an owner may choose for an open deal
MAX_MONTHS = 24
WIN_RATE_DAYS = 365
BITS = 62   # stages per win-rate query (one bit each in a BIGINT)


def bands(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The admin's probability bands: {"best_case": from %, "commit": from %}."""
    got = settings.get_many(con, ["forecast.best_case_from", "forecast.commit_from"])
    return {"best_case": int(got["forecast.best_case_from"]), "commit": int(got["forecast.commit_from"])}


def category(probability: Any, override: str | None, is_won: bool, band: dict[str, int]) -> str:
    """The forecast category of one deal (the same rule as the SQL below)."""
    if is_won:
        return "closed"
    if override in OVERRIDES:
        return override
    p = float(probability or 0)
    if p >= band["commit"]:
        return "commit"
    if p >= band["best_case"]:
        return "best_case"
    return "pipeline"


def _category_sql(band: dict[str, int]) -> tuple[str, list]:
    """SQL of `category` over deals d joined with their stage s; its parameters."""
    return ("CASE WHEN s.is_won THEN 'closed' "
            "WHEN d.forecast_category IN ('pipeline', 'best_case', 'commit') THEN d.forecast_category "
            "WHEN coalesce(d.probability, s.probability, 0) >= ? THEN 'commit' "
            "WHEN coalesce(d.probability, s.probability, 0) >= ? THEN 'best_case' ELSE 'pipeline' END",
            [band["commit"], band["best_case"]])


def _team_filter(con, actor: Actor, team_id) -> tuple[int, ...] | None:
    """The team and its sub-teams to narrow to (None: no narrowing); PermissionDenied when the team is
    outside what the actor may view."""
    if team_id is None:
        return None
    from core.auth import team_tree

    tid = targets._int(team_id)
    if tid not in {t["id"] for t in targets.visible_teams(con, actor, "view")}:
        raise PermissionDenied("error.permission", module="deals", action="view")
    return team_tree(con, tid)


_START = Field("start", "date", "forecast.start")


def _month(con: duckdb.DuckDBPyConnection, value: Any) -> dt.date:
    """The first day of the month of a date typed or passed (the fields' date rules: ISO text, 1990-2099)."""
    day = fields.clean_value(con, _START, value)
    if day is None:
        raise ValidationError("field.bad_date", field="forecast.start", min=fields.DATE_MIN.year,
                              max=fields.DATE_MAX.year - 1)
    return day.replace(day=1)


def months(con: duckdb.DuckDBPyConnection, actor: Actor, start_month: Any, n_months: int = 6,
           team_id: int | None = None) -> pl.DataFrame:
    """The manager's forecast: one row per month x rep (level "rep") and per month for the team (level
    "team": the sum of the rep rows, with the team's target), for `n_months` from `start_month`.

    Columns: month (first day), level, owner_id, name (rep; the team's name, or None for every team),
    team_id, open_deals (count), pipeline, best_case, commit, closed (amounts per category), weighted,
    target (won_amount target of the month). Reps appear with deals in those months or a target.
    `team_id` narrows to that team and its sub-teams (it must be within the viewer's reach); without
    it, a manager's team row is their own team; for a viewer of every deal (the admin) it is every
    top-level team together (name None)."""
    start = _month(con, start_month)
    if isinstance(n_months, bool) or not isinstance(n_months, int) or not 1 <= n_months <= MAX_MONTHS:
        raise ValidationError("field.out_of_range", field="forecast.months", min=1, max=MAX_MONTHS)
    end = targets.add_months(start, n_months)
    tree = _team_filter(con, actor, team_id)
    band = bands(con)
    cat_sql, cat_params = _category_sql(band)
    parts, args = [], []
    for cond, params in access.branches(con, actor, "deals", "view", "d"):
        narrow = " AND d.team_id IN (SELECT unnest(?::BIGINT[]))" if tree is not None else ""
        parts.append(
            "SELECT d.owner_id, d.amount, d.probability, d.forecast_category, d.stage, d.expected_close, d.closed_on "
            "FROM deals d WHERE d.deleted_at IS NULL AND ((d.expected_close >= ? AND d.expected_close < ?) "
            f"OR (d.closed_on >= ? AND d.closed_on < ?)) AND {cond}{narrow}")
        args += [start, end, start, end] + params + ([list(tree)] if tree is not None else [])
    sql = (
        f"WITH v AS ({' UNION ALL '.join(parts)}), "
        f"x AS (SELECT d.owner_id, CASE WHEN s.is_won THEN date_trunc('month', d.closed_on) "
        f"ELSE date_trunc('month', d.expected_close) END::DATE AS month, {cat_sql} AS cat, "
        "coalesce(d.amount, 0)::DOUBLE AS amount, "
        "CASE WHEN s.is_won THEN coalesce(d.amount, 0)::DOUBLE "
        "ELSE coalesce(d.amount, 0)::DOUBLE * coalesce(d.probability, s.probability, 0) / 100.0 END AS weighted "
        "FROM v d JOIN pipeline_stages s ON s.code = d.stage "
        "WHERE NOT s.is_lost AND CASE WHEN s.is_won THEN d.closed_on >= ? AND d.closed_on < ? "
        "ELSE d.expected_close >= ? AND d.expected_close < ? END) "
        "SELECT month, owner_id, count(*) FILTER (WHERE cat <> 'closed') AS open_deals, "
        "coalesce(sum(amount) FILTER (WHERE cat = 'pipeline'), 0) AS pipeline, "
        "coalesce(sum(amount) FILTER (WHERE cat = 'best_case'), 0) AS best_case, "
        "coalesce(sum(amount) FILTER (WHERE cat = 'commit'), 0) AS \"commit\", "
        "coalesce(sum(amount) FILTER (WHERE cat = 'closed'), 0) AS closed, "
        "sum(weighted) AS weighted FROM x GROUP BY month, owner_id")
    found = db.frame(con, sql, args + cat_params + [start, end, start, end])
    month_list = [targets.add_months(start, i) for i in range(n_months)]
    periods = [(m, targets.add_months(m, 1) - dt.timedelta(days=1)) for m in month_list]
    people = targets.visible_people(con, actor, "view", tree[0] if tree else None)
    person_ids = [p["id"] for p in people]
    # the team row's team: the one asked for, the manager's own, or every top-level team (the admin)
    if tree is not None:
        team_ids, team_name, row_team = [tree[0]], None, tree[0]
    else:
        reach = targets.visible_teams(con, actor, "view")
        if access.scope_of(con, actor, "deals", "view") == "all":
            team_ids, row_team = [t["id"] for t in reach if t["parent_id"] is None], None
        elif actor.team_id is not None and actor.team_id in {t["id"] for t in reach}:
            team_ids, row_team = [actor.team_id], actor.team_id
        else:
            team_ids, row_team = [], None
        team_name = None
    if row_team is not None:
        team_name = db.scalar(con, "SELECT name FROM teams WHERE id = ?", [row_team])
    goals = targets.target_values(con, "won_amount", periods, person_ids, team_ids)
    goal_rows = [{"month": month_list[i], "owner_id": sid, "target": v}
                 for (kind, sid, i), v in goals.items() if kind == "user"]
    goal_frame = pl.DataFrame(goal_rows, schema={"month": pl.Date, "owner_id": pl.Int64, "target": pl.Float64})
    reps = found.join(goal_frame, on=["month", "owner_id"], how="full", coalesce=True)
    money = ["pipeline", "best_case", "commit", "closed", "weighted"]
    reps = reps.with_columns([pl.col(c).fill_null(0.0).cast(pl.Float64) for c in money]
                             + [pl.col("open_deals").fill_null(0).cast(pl.Int64)])
    names = pl.DataFrame(db.rows(con, "SELECT id AS owner_id, name, team_id FROM users WHERE id IN "
                                      "(SELECT unnest(?::BIGINT[]))",
                                 [[i for i in reps["owner_id"].unique().to_list() if i is not None]]),
                         schema={"owner_id": pl.Int64, "name": pl.String, "team_id": pl.Int64})
    reps = reps.join(names, on="owner_id", how="left").with_columns(pl.lit("rep").alias("level"))
    team_goal = {i: sum(v for (kind, _sid, j), v in goals.items() if kind == "team" and j == i)
                 for i in range(n_months) if any(k == "team" and j == i for (k, _s, j) in goals)}
    team = pl.DataFrame({"month": month_list}, schema={"month": pl.Date}).join(
        reps.group_by("month").agg([pl.col(c).sum() for c in money] + [pl.col("open_deals").sum()]),
        on="month", how="left").with_columns(
        [pl.col(c).fill_null(0.0) for c in money] + [pl.col("open_deals").fill_null(0).cast(pl.Int64),
         pl.Series("target", [team_goal.get(i) for i in range(n_months)], dtype=pl.Float64),
         pl.lit("team").alias("level"), pl.lit(None, pl.Int64).alias("owner_id"),
         pl.lit(team_name, pl.String).alias("name"), pl.lit(row_team, pl.Int64).alias("team_id")])
    cols = ["month", "level", "owner_id", "name", "team_id", "open_deals", "pipeline", "best_case", "commit",
            "closed", "weighted", "target"]
    reps = reps.filter(pl.col("month").is_in(month_list))
    return pl.concat([team.select(cols), reps.select(cols).sort(["month", "name", "owner_id"], nulls_last=True)])


# win rates per (database file, scope, pipeline, day), kept RATES_KEEP_S seconds: the same for everyone
# with the same scope, and a rate over a year of history barely moves in minutes, while computing it
# costs 40-130 ms at scale L and the list and the deal page ask on every render
RATES_KEEP_S = 300.0
_RATES: dict[tuple, tuple[float, pl.DataFrame]] = {}
_RATES_MAX = 256


def _rates_key(con: duckdb.DuckDBPyConnection, branches: list, pipe: int | None, since: dt.datetime) -> tuple | None:
    path = next((r[2] for r in con.execute("PRAGMA database_list").fetchall() if r[2]), None)
    if not path:  # an in-memory store (tests): no stable identity to keep anything under
        return None
    return (path, tuple((c, tuple(p)) for c, p in branches), pipe, since.date())


def win_rate_table(con: duckdb.DuckDBPyConnection, actor: Actor, pipeline_id: int | None = None) -> pl.DataFrame:
    """Per open stage (won and lost stages have no rate to show): reached (deals in scope that entered it
    in the last 12 months), closed (of those, now won or lost), won, rate (won / closed, None when none
    closed). On a database file, kept per scope for RATES_KEEP_S seconds (see `_RATES`)."""
    since = dt.datetime.combine((actor.now - dt.timedelta(days=WIN_RATE_DAYS)).date(), dt.time())
    pipe = None if pipeline_id is None else targets._int(pipeline_id)
    key = _rates_key(con, access.branches(con, actor, "deals", "view", "d"), pipe, since)
    kept = _RATES.get(key) if key is not None else None
    if kept is not None and time.monotonic() - kept[0] < RATES_KEEP_S:
        return kept[1]
    df = _win_rate_table(con, actor, pipe, since)
    if key is not None:
        if len(_RATES) >= _RATES_MAX:
            _RATES.clear()
        _RATES[key] = (time.monotonic(), df)
    return df


def _win_rate_table(con: duckdb.DuckDBPyConnection, actor: Actor, pipe: int | None, since: dt.datetime) -> pl.DataFrame:
    codes = [r[0] for r in con.execute(
        "SELECT code FROM pipeline_stages WHERE NOT is_won AND NOT is_lost AND (? IS NULL OR pipeline_id = ?) "
        "ORDER BY code", [pipe, pipe]).fetchall()]
    parts, args = [], []
    for cond, params in access.branches(con, actor, "deals", "view", "d"):
        narrow = " AND d.pipeline_id = ?" if pipe is not None else ""
        parts.append(f"SELECT d.id, d.stage FROM deals d WHERE d.deleted_at IS NULL AND {cond}{narrow}")
        args += params + ([pipe] if pipe is not None else [])
    # each deal's stages reached, as one bit per stage (a deal counts once per stage, however often it
    # went back into it): one aggregate on the deal id, then one count per set of stages reached
    sql = (f"WITH st AS (SELECT unnest(?::VARCHAR[]) AS code, unnest(?::INTEGER[]) AS k), "
           f"v AS ({' UNION ALL '.join(parts)}), "
           "h AS (SELECT h.deal_id, any_value(v.stage) AS stage, bit_or(1::BIGINT << st.k) AS mask "
           "FROM deal_stage_history h JOIN st ON st.code = h.to_stage JOIN v ON v.id = h.deal_id "
           "WHERE h.changed_at >= ? GROUP BY h.deal_id) "
           "SELECT h.mask, count(*) AS reached, count(*) FILTER (WHERE s.is_won OR s.is_lost) AS closed, "
           "count(*) FILTER (WHERE s.is_won) AS won FROM h JOIN pipeline_stages s ON s.code = h.stage GROUP BY h.mask")
    totals: dict[str, list[int]] = {}
    for at in range(0, len(codes), BITS):
        chunk = codes[at:at + BITS]
        for mask, reached, closed, won in con.execute(sql, [chunk, list(range(len(chunk)))] + args + [since]).fetchall():
            for k, code in enumerate(chunk):
                if mask >> k & 1:
                    got = totals.setdefault(code, [0, 0, 0])
                    got[0] += reached
                    got[1] += closed
                    got[2] += won
    df = pl.DataFrame([{"stage": c, "reached": v[0], "closed": v[1], "won": v[2]} for c, v in sorted(totals.items())],
                      schema={"stage": pl.String, "reached": pl.Int64, "closed": pl.Int64, "won": pl.Int64})
    return df.with_columns(pl.when(pl.col("closed") > 0).then(pl.col("won") / pl.col("closed"))
                           .otherwise(None).alias("rate"))


def stage_win_rates(con: duckdb.DuckDBPyConnection, actor: Actor, pipeline_id: int | None = None) -> dict[str, float | None]:
    """stage code -> historical win rate (0..1, None when no deal that reached it has closed yet)."""
    return {r["stage"]: r["rate"] for r in win_rate_table(con, actor, pipeline_id).iter_rows(named=True)}


def hot(con: duckdb.DuckDBPyConnection, actor: Actor, days: int = 90, limit: int = 50,
        team_id: int | None = None) -> pl.DataFrame:
    """Open deals expected to close from the company's today to `days` ahead, highest weighted amount
    first: id, name, customer_name, owner_name, pipeline_id, stage, stage_en, stage_zh, amount,
    probability, weighted, category, win_rate (of its stage, see `stage_win_rates`), expected_close,
    last_activity_at, days_idle (company days since the last follow-up logged on the deal; None when
    none was)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise ValidationError("field.out_of_range", field="forecast.days", min=1, max=366)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
        raise ValidationError("field.out_of_range", field="forecast.limit", min=1, max=500)
    tree = _team_filter(con, actor, team_id)
    today = clock.local_today(con, actor.now)
    until = today + dt.timedelta(days=days)
    band = bands(con)
    cat_sql, cat_params = _category_sql(band)
    parts, args = [], []
    for cond, params in access.branches(con, actor, "deals", "view", "d"):
        narrow = " AND d.team_id IN (SELECT unnest(?::BIGINT[]))" if tree is not None else ""
        parts.append("SELECT d.id FROM deals d JOIN pipeline_stages s ON s.code = d.stage "
                     "WHERE d.deleted_at IS NULL AND NOT s.is_won AND NOT s.is_lost "
                     f"AND d.expected_close >= ? AND d.expected_close <= ? AND {cond}{narrow}")
        args += [today, until] + params + ([list(tree)] if tree is not None else [])
    sql = (f"WITH v AS ({' UNION ALL '.join(parts)}) "
           "SELECT d.id, d.name, c.name AS customer_name, o.name AS owner_name, d.pipeline_id, d.stage, "
           "s.name_en AS stage_en, s.name_zh AS stage_zh, coalesce(d.amount, 0)::DOUBLE AS amount, "
           "coalesce(d.probability, s.probability, 0) AS probability, "
           "coalesce(d.amount, 0)::DOUBLE * coalesce(d.probability, s.probability, 0) / 100.0 AS weighted, "
           f"{cat_sql} AS category, d.expected_close, d.last_activity_at "
           "FROM v JOIN deals d ON d.id = v.id JOIN pipeline_stages s ON s.code = d.stage "
           "LEFT JOIN customers c ON c.id = d.customer_id LEFT JOIN users o ON o.id = d.owner_id "
           "ORDER BY weighted DESC, d.expected_close, d.id LIMIT ?")
    df = db.frame(con, sql, args + cat_params + [limit])
    tz = clock.zone(con).key
    rates = win_rate_table(con, actor).select(["stage", pl.col("rate").alias("win_rate")])
    df = df.join(rates, on="stage", how="left").with_columns(
        (pl.lit(today) - pl.col("last_activity_at").dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
         .dt.date()).dt.total_days().alias("days_idle"))
    return df.sort(["weighted", "expected_close", "id"], descending=[True, False, False])


def deal_win_rate(con: duckdb.DuckDBPyConnection, actor: Actor, deal: dict) -> float | None:
    """The win rate of the stage a deal (a dict with `stage`, `pipeline_id`) sits in, for a deal page."""
    if not deal or "stage" not in deal:
        raise NotFound("error.not_found")
    return stage_win_rates(con, actor, deal.get("pipeline_id")).get(deal["stage"])
