"""The sales funnel (销售漏斗), issue 11 point 4: a real funnel from the stage history, per pipeline, and the
leads -> customers -> won funnel; stage counts, stage-to-stage conversion, drop-off, median time in each
stage, and the records behind each count (the drill-down).

Both funnels follow a cohort. The deals counted are those that ENTERED the funnel in the period: their
first `deal_stage_history` row falls in the period's company days (core.clock: the company's time zone).
They are followed to the end of the period (or to the viewer's now while the period runs): a funnel of a
past period does not change afterwards, and its steps agree with the metrics layer's figures that also
stop at the period's end (lead_conversion, customer_conversion). Leads likewise: the leads created in the
period.

Scope and filters are the metrics layer's (core.analytics.metrics: Context, scoped_union): the deals
(leads) the viewer may open, as the lists select them (core.access.branches, disjoint UNION ALL
branches), narrowed by the dashboard filters (team and its sub-teams, rep, region, and the customer's
province / source / level / industry). A viewer who may not view the module, or a filter the records do
not carry (a lead has no level), gives a funnel whose figures are None, not zero.

Deal funnel, per pipeline (core.pipelines). The steps are the pipeline's open stages in board order
(position), then its won stage, the last step. Its lost stage is not a step: it is where deals drop.
An inactive (removed) open stage is shown only when some deal of the cohort reached it.
- reached: the deals that have at least one history row into the stage, each counted once however often
  it went back and re-entered. A stage the deal skipped (prospecting -> proposal) is not reached: the
  same meaning of "reached" as core.forecast's stage win rates.
- advanced: of those, the deals that reached a LATER step (a later open stage or won), skipping or not.
  converted_to_next = advanced / reached (the stage-to-stage conversion; None when nobody reached it).
- dropped: of those, the deals lost from this stage: now (at the period's end) in the lost stage, this
  being the furthest step they reached. reached - advanced - dropped are still open there (`pending`).
- median_days_in_stage: of the deals that reached the stage and have left it again, the median of each
  deal's total time in it (all its visits summed: from each row into the stage to the next row, the one
  whose from_stage is the stage), in days; the won step has none.
Lead funnel: steps leads, customers, won.
- leads: live leads created in the period; customers: of those, converted (converted_at) by the end of the
  period; won: of those, whose customer was won (customers.won_at) by the end of the period, and not before
  the lead existed (a lead converted into a customer won long ago did not bring that win).
- dropped: leads disqualified (disqualified_at, or status invalid) and not converted; customers and won
  have no lost state (None).
- median days: lead created -> converted; converted -> customer won.

The drill-downs (`stage_deals`, `stage_leads`) read the very same cohort (one builder for both) and return
a page of records with the total, which equals the step's `reached` (or `dropped` / `advanced`).
"""
from __future__ import annotations

import duckdb
import polars as pl

from core import i18n, pipelines
from core.analytics import metrics
from core.analytics.metrics import Filters, Period
from core.context import Actor
from core.errors import ValidationError

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
WHICH = ("reached", "advanced", "dropped", "pending")

SCHEMA = {"stage": pl.String, "name_en": pl.String, "name_zh": pl.String, "position": pl.Int64,
          "reached": pl.Int64, "advanced": pl.Int64, "converted_to_next": pl.Float64, "dropped": pl.Int64,
          "pending": pl.Int64, "median_days_in_stage": pl.Float64}
LEAD_STEPS = ("leads", "customers", "won")   # names: catalogue keys funnel.<step>


# ---------------------------------------------------------------------------------------- deal funnel
def _steps(con: duckdb.DuckDBPyConnection, pipeline_id) -> tuple[int, list[dict], list[str]]:
    """The pipeline's id, its steps in order (open stages by position, then won) and its lost stage codes."""
    pid = pipelines.pipeline(con, pipeline_id)["id"]   # NotFound for an unknown pipeline
    rows = pipelines.stages(con, pid, include_inactive=True)
    steps = [s for s in rows if not s["is_won"] and not s["is_lost"]] + [s for s in rows if s["is_won"]]
    return pid, steps, [s["code"] for s in rows if s["is_lost"]]


def _deal_cohort(ctx: metrics.Context, pipeline_id: int, steps: list[dict], lost: list[str]) -> tuple[str, list] | None:
    """CTEs ending in `dd`, one row per deal of the cohort: deal_id; for each step k, i{k} / o{k} (how many
    history rows went into / out of it) and t{k} (microseconds spent in it: the exits' times minus the
    entries' times, whole when i{k} = o{k}); top (the furthest step reached) and lost (in the lost stage at
    the end). None when the viewer may not view deals or a filter does not apply.

    No window function: a visit ends with the deal's next row, whose from_stage names the stage it left
    (the deal service and the demo write it so), so the time in a stage is sum(exits) - sum(entries), and
    everything is one aggregate on the deal id. Checked at scale L against a lead() window over the rows:
    the same medians to the microsecond."""
    u = metrics.scoped_union(ctx, "deal", "deals", "d.id", "deals", "d.deleted_at IS NULL AND d.pipeline_id = ?",
                             [pipeline_id])
    if u is None:
        return None
    w, n = ctx.cur, len(steps)
    codes = [s["code"] for s in steps] + lost     # index < n: a step; >= n: the lost stage
    cols = []
    for k in range(n):
        # count_if and DOUBLE sums: FILTER clauses and integer sums (HUGEINT) are several times slower in a
        # hash group-by; `us` counts from the period's start, so a double holds it exactly
        cols += [f"count_if(tk = {k}) AS i{k}", f"count_if(fk = {k}) AS o{k}",
                 f"sum(CASE WHEN fk = {k} THEN us WHEN tk = {k} THEN -us ELSE 0.0 END) AS t{k}"]
    sql = (f"WITH v AS ({u[0]}), "
           # the rows of the period; a deal with a row before it entered earlier and is not of the cohort
           "h0 AS MATERIALIZED (SELECT h.deal_id, h.to_stage, h.from_stage, h.changed_at FROM deal_stage_history h "
           "WHERE h.changed_at >= ? AND h.changed_at < ? AND h.deal_id IN (SELECT id FROM v)), "
           "old AS (SELECT DISTINCT deal_id FROM deal_stage_history WHERE changed_at < ? "
           "AND deal_id IN (SELECT deal_id FROM h0)), "
           "h AS (SELECT deal_id, list_position(?::VARCHAR[], to_stage) - 1 AS tk, "
           "list_position(?::VARCHAR[], from_stage) - 1 AS fk, "
           "(epoch_us(changed_at) - epoch_us(?::TIMESTAMP))::DOUBLE AS us FROM h0 "
           "WHERE deal_id NOT IN (SELECT deal_id FROM old)), "
           f"dd AS (SELECT deal_id, {', '.join(cols)}, max(CASE WHEN tk < {n} THEN tk END) AS top, "
           f"count_if(tk >= {n}) > count_if(fk >= {n}) AS lost "
           "FROM h GROUP BY deal_id) ")
    return sql, u[1] + [w.lo, w.asof, w.lo, codes, codes, w.lo]


def _cond(k: int, which: str) -> str:
    """Deals of `dd` counted at step k: reached it, and went further / were lost from it / neither."""
    if which not in WHICH:
        raise ValidationError("error.invalid_value", value=str(which)[:40])
    return {"reached": f"i{k} > 0", "advanced": f"i{k} > 0 AND top > {k}",
            "dropped": f"i{k} > 0 AND top = {k} AND lost", "pending": f"i{k} > 0 AND top = {k} AND NOT lost"}[which]


def _empty(steps: list[tuple[str, str, str, int]], none: bool) -> pl.DataFrame:
    return pl.DataFrame([{"stage": c, "name_en": en, "name_zh": zh, "position": p, "reached": None if none else 0,
                          "advanced": None if none else 0, "converted_to_next": None, "dropped": None if none else 0,
                          "pending": None if none else 0, "median_days_in_stage": None}
                         for c, en, zh, p in steps], schema=SCHEMA)


def deal_funnel(con: duckdb.DuckDBPyConnection, actor: Actor, pipeline_id, period: Period,
                filters: Filters | None = None) -> pl.DataFrame:
    """The pipeline's funnel over the deals that entered it in the period (module doc): one row per step,
    in order: stage, name_en, name_zh, position (1..n), reached, advanced, converted_to_next, dropped,
    pending, median_days_in_stage."""
    ctx = metrics.Context(con, actor, period, filters, "previous")
    pid, steps, lost = _steps(con, pipeline_id)
    shown = [(s["code"], s["name_en"], s["name_zh"], i + 1) for i, s in enumerate(steps)]
    cohort = _deal_cohort(ctx, pid, steps, lost)
    if cohort is None:
        return _empty([x for x, s in zip(shown, steps) if s["active"]], none=True)
    sql, args = cohort
    aggs = []
    for k in range(len(steps)):
        aggs += [f"count(*) FILTER (WHERE {_cond(k, w)})" for w in ("reached", "advanced", "dropped")]
        aggs.append(f"median(t{k} / 86400e6) FILTER (WHERE i{k} > 0 AND i{k} = o{k})")
    r = con.execute(sql + f"SELECT {', '.join(aggs)} FROM dd", args).fetchone()
    got = {k: r[4 * k:4 * k + 4] for k in range(len(steps))}
    out, last = [], len(steps) - 1
    for k, s in enumerate(steps):
        reached, advanced, dropped, days = got.get(k, (0, 0, 0, None))
        if not s["active"] and not reached:
            continue
        out.append({"stage": s["code"], "name_en": s["name_en"], "name_zh": s["name_zh"], "position": len(out) + 1,
                    "reached": reached, "advanced": advanced if k < last else None,
                    "converted_to_next": (advanced / reached if reached else None) if k < last else None,
                    "dropped": dropped, "pending": reached - advanced - dropped if k < last else None,
                    "median_days_in_stage": None if k == last or days is None else float(days)})
    return pl.DataFrame(out, schema=SCHEMA)


def _page(page, page_size) -> tuple[int, int]:
    try:
        page, size = int(page), int(page_size)
    except (TypeError, ValueError):
        raise ValidationError("error.invalid_value", value=str(page)[:40]) from None
    return max(page, 1), min(max(size, 1), MAX_PAGE_SIZE)


# the count of the drill-down's rows beside its page, in one statement (an empty page still has the count)
_PAGE_TAIL = ("SELECT (SELECT count(*) FROM r) AS total, rows.* FROM (SELECT 1) one LEFT JOIN rows ON TRUE "
              "ORDER BY rows.id DESC")


def _fetch_page(con: duckdb.DuckDBPyConnection, sql: str, args: list, size: int, page: int,
                cols) -> tuple[pl.DataFrame, int]:
    df = con.sql(sql, params=args + [size, (page - 1) * size]).pl()
    total = int(df["total"][0]) if df.height else 0
    return df.drop("total").filter(pl.col("id").is_not_null()).cast(cols), total


def stage_deals(con: duckdb.DuckDBPyConnection, actor: Actor, pipeline_id, stage: str, period: Period,
                filters: Filters | None = None, page: int = 1, page_size: int = PAGE_SIZE,
                which: str = "reached") -> tuple[pl.DataFrame, int]:
    """The deals behind a funnel step (the drill-down), newest first, one page: (frame, total). `which`:
    reached (default; total == the step's `reached`), advanced, dropped or pending. Columns: id, name,
    customer_id, customer_name, owner_id, owner_name, amount, currency, stage (the deal's current stage),
    stage_name_en, stage_name_zh, entered_at (its first history row, naive UTC)."""
    ctx = metrics.Context(con, actor, period, filters, "previous")
    page, size = _page(page, page_size)
    pid, steps, lost = _steps(con, pipeline_id)
    k = next((i for i, s in enumerate(steps) if s["code"] == stage), None)
    if k is None:
        raise ValidationError("error.invalid_value", value=str(stage)[:40])
    cond = _cond(k, which)
    cohort = _deal_cohort(ctx, pid, steps, lost)
    cols = {"id": pl.Int64, "name": pl.String, "customer_id": pl.Int64, "customer_name": pl.String,
            "owner_id": pl.Int64, "owner_name": pl.String, "amount": pl.Float64, "currency": pl.String,
            "stage": pl.String, "stage_name_en": pl.String, "stage_name_zh": pl.String,
            "entered_at": pl.Datetime("us")}
    if cohort is None:
        return pl.DataFrame(schema=cols), 0
    sql, args = cohort
    # the page first (ids only), then its names: the customers' names by key for these rows only
    sql += (f", r AS (SELECT deal_id FROM dd WHERE {cond}), "
            "pg AS (SELECT deal_id FROM r ORDER BY deal_id DESC LIMIT ? OFFSET ?), "
            "f AS (SELECT deal_id, min(changed_at) AS entered_at FROM deal_stage_history "
            "WHERE deal_id IN (SELECT deal_id FROM pg) GROUP BY deal_id), "
            "rows AS (SELECT d.id, d.name, d.customer_id, c.name AS customer_name, d.owner_id, o.name AS owner_name, "
            "d.amount::DOUBLE AS amount, d.currency, d.stage, s.name_en AS stage_name_en, s.name_zh AS stage_name_zh, "
            "f.entered_at FROM pg JOIN deals d ON d.id = pg.deal_id LEFT JOIN f ON f.deal_id = d.id "
            "LEFT JOIN customers c ON c.id = d.customer_id AND c.id IN (SELECT customer_id FROM deals "
            "WHERE id IN (SELECT deal_id FROM pg)) "
            "LEFT JOIN users o ON o.id = d.owner_id LEFT JOIN pipeline_stages s ON s.code = d.stage) "
            + _PAGE_TAIL)
    return _fetch_page(con, sql, args, size, page, cols)


# ---------------------------------------------------------------------------------------- leads funnel
def _lead_cohort(ctx: metrics.Context) -> tuple[str, list] | None:
    """CTE `v` (id, created_at, converted_at, won_at, dropped) of the leads created in the period, each
    event counted up to the period's end (module doc); None without scope or with a filter leads lack."""
    w = ctx.cur
    u = metrics.scoped_union(ctx, "lead", "leads", "l.id, l.created_at, l.converted_at, l.converted_customer_id, "
                             "l.disqualified_at, l.status", "leads",
                             "l.deleted_at IS NULL AND l.created_at >= ? AND l.created_at < ?", [w.lo, w.hi])
    if u is None:
        return None
    sql = (f"WITH v0 AS ({u[0]}), "
           "v AS (SELECT v0.id, v0.created_at, CASE WHEN v0.converted_at < ? THEN v0.converted_at END AS converted_at, "
           "CASE WHEN v0.converted_at < ? AND c.won_at < ? AND c.won_at >= v0.created_at THEN c.won_at END AS won_at, "
           "(v0.converted_at IS NULL OR v0.converted_at >= ?) AND (v0.disqualified_at < ? OR "
           "(v0.disqualified_at IS NULL AND v0.status = 'invalid')) AS dropped "
           "FROM v0 LEFT JOIN customers c ON c.id = v0.converted_customer_id "
           "AND c.id IN (SELECT converted_customer_id FROM v0)) ")
    return sql, u[1] + [w.asof] * 5


_LEAD_CONDS = {"leads": "TRUE", "customers": "v.converted_at IS NOT NULL", "won": "v.won_at IS NOT NULL"}


def lead_funnel(con: duckdb.DuckDBPyConnection, actor: Actor, period: Period,
                filters: Filters | None = None) -> pl.DataFrame:
    """Leads -> customers -> won over the leads created in the period (module doc), the shape of
    deal_funnel (stage is leads / customers / won)."""
    ctx = metrics.Context(con, actor, period, filters, "previous")
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh")
    steps = [(c, en[f"funnel.{c}"], zh[f"funnel.{c}"], i + 1) for i, c in enumerate(LEAD_STEPS)]
    cohort = _lead_cohort(ctx)
    if cohort is None:
        return _empty(steps, none=True)
    sql, args = cohort
    n, conv, won, drop, d1, d2 = con.execute(
        sql + "SELECT count(*), count(converted_at), count(won_at), count(*) FILTER (WHERE dropped), "
        "median(epoch(converted_at - created_at) / 86400.0), median(epoch(won_at - converted_at) / 86400.0) "
        "FROM v", args).fetchone()

    def share(a, b):
        return a / b if b else None
    rows = [(n, conv, drop, d1), (conv, won, None, d2), (won, None, None, None)]
    return pl.DataFrame([{"stage": c, "name_en": en, "name_zh": zh, "position": p, "reached": r, "advanced": a,
                          "converted_to_next": None if a is None else share(a, r), "dropped": dr,
                          "pending": None if a is None or dr is None else r - a - dr,
                          "median_days_in_stage": None if d is None else float(d)}
                         for (c, en, zh, p), (r, a, dr, d) in zip(steps, rows)], schema=SCHEMA)


def stage_leads(con: duckdb.DuckDBPyConnection, actor: Actor, stage: str, period: Period,
                filters: Filters | None = None, page: int = 1, page_size: int = PAGE_SIZE,
                which: str = "reached") -> tuple[pl.DataFrame, int]:
    """The leads behind a step of the lead funnel, newest first, one page: (frame, total); total equals the
    step's `reached` (or `dropped` for which="dropped", leads step only). Columns: id, name, company,
    source, status, owner_id, owner_name, created_at, converted_at, customer_id, won_at."""
    ctx = metrics.Context(con, actor, period, filters, "previous")
    page, size = _page(page, page_size)
    if stage not in _LEAD_CONDS or which not in ("reached", "dropped") or (which == "dropped" and stage != "leads"):
        raise ValidationError("error.invalid_value", value=str(stage if stage not in _LEAD_CONDS else which)[:40])
    cols = {"id": pl.Int64, "name": pl.String, "company": pl.String, "source": pl.String, "status": pl.String,
            "owner_id": pl.Int64, "owner_name": pl.String, "created_at": pl.Datetime("us"),
            "converted_at": pl.Datetime("us"), "customer_id": pl.Int64, "won_at": pl.Datetime("us")}
    cohort = _lead_cohort(ctx)
    if cohort is None:
        return pl.DataFrame(schema=cols), 0
    sql, args = cohort
    cond = "v.dropped" if which == "dropped" else _LEAD_CONDS[stage]
    sql += (f", r AS (SELECT v.id, v.converted_at, v.won_at FROM v WHERE {cond}), "
            "pg AS (SELECT * FROM r ORDER BY id DESC LIMIT ? OFFSET ?), "
            "rows AS (SELECT l.id, l.name, l.company, l.source, l.status, l.owner_id, o.name AS owner_name, "
            "l.created_at, pg.converted_at, l.converted_customer_id AS customer_id, pg.won_at "
            "FROM pg JOIN leads l ON l.id = pg.id LEFT JOIN users o ON o.id = l.owner_id) "
            + _PAGE_TAIL)
    return _fetch_page(con, sql, args, size, page, cols)
