"""The data of the role dashboards (issue 11, point 3): each function returns every figure and frame one
dashboard draws, from the metrics layer (cards: metrics.compute) and its drill-down sets (bars:
drill.breakdown, whose bar heights equal the totals of the tables their clicks open). A leaderboard is
one breakdown per KPI family (grouped by rep), never a computation per rep.
"""
from __future__ import annotations

import concurrent.futures
import contextvars
import datetime as dt
import functools

import duckdb
import polars as pl

from core import clock, forecast, pipelines, targets
from core.analytics import drill, metrics
from core.context import Actor

MANAGER_CARDS = ("won_revenue", "won_deals", "win_rate", "avg_deal_size", "open_pipeline", "weighted_pipeline",
                 "new_leads", "new_customers", "cycle_median_days", "followups", "followup_coverage",
                 "target_attainment")
REP_CARDS = ("won_revenue", "won_deals", "win_rate", "open_pipeline", "target_attainment", "followup_coverage",
             "followups", "overdue_followups")
FORGOTTEN = tuple(f"forgotten_{n}" for n in metrics.FORGOTTEN_DAYS) + ("forgotten_never",)
SERVICE_CARDS = ("new_tickets", "backlog", "sla_compliance", "first_response_median_h", "first_response_p90_h",
                 "resolution_median_h", "resolution_p90_h", "csat", "tickets_inconsistent")
MARKETING_CARDS = ("new_leads", "lead_conversion", "new_customers", "customer_conversion", "won_revenue", "nps",
                   "campaign_response_rate", "campaign_roi")
FORECAST_MONTHS = 6
# leaderboard columns: (column, record set, measure); the won and lost columns come from one breakdown of
# the closed deals by rep and stage
BOARD = (("won_revenue", "won_deals", "amount"), ("won_deals", "won_deals", "n"), ("lost_deals", "lost_deals", "n"),
         ("new_customers", "new_customers", "n"), ("new_leads", "new_leads", "n"), ("followups", "followups", "n"))
_CLOSED = ("won_deals", "lost_deals")


def _shared(fn):
    """One dashboard build shares its contexts' lookups (metrics.shared_lookups)."""
    @functools.wraps(fn)
    def build(*args, **kwargs):
        with metrics.shared_lookups():
            return fn(*args, **kwargs)
    return build


def add_months(day: dt.date, n: int) -> dt.date:
    return targets.add_months(day.replace(day=1), n)


def trend_periods(p: metrics.Period) -> tuple[metrics.Period, metrics.Period]:
    """The 12 company months ending with the period's last month, and the 12 before them."""
    first = add_months(p.end, -11)
    return (metrics.Period(first, p.end), metrics.Period(add_months(p.end, -23), first - dt.timedelta(days=1)))


@_shared
def revenue_trend(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period,
                  filters: metrics.Filters | None = None) -> pl.DataFrame:
    """Won revenue per month over 12 months beside the same position 12 months earlier: month, amount, n,
    previous_month, previous (one statement over 24 months)."""
    cur, prev = trend_periods(p)
    df = drill.breakdown(con, actor, "won_deals", metrics.Period(prev.start, cur.end), "month", filters)
    got = {r["grp"]: r for r in df.iter_rows(named=True)}
    rows = []
    for i in range(12):
        m, pm = add_months(cur.start, i), add_months(prev.start, i)
        rows.append({"month": m, "amount": got.get(m, {}).get("amount", 0.0), "n": got.get(m, {}).get("n", 0),
                     "previous_month": pm, "previous": got.get(pm, {}).get("amount", 0.0)})
    return pl.DataFrame(rows, schema={"month": pl.Date, "amount": pl.Float64, "n": pl.Int64,
                                      "previous_month": pl.Date, "previous": pl.Float64})


@_shared
def leaderboard(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period,
                filters: metrics.Filters | None = None) -> pl.DataFrame:
    """One row per rep with records in scope: owner_id, name, won_revenue, won_deals, lost_deals, win_rate,
    new_customers, new_leads, followups, target, attainment. One breakdown by rep per record set (the won
    and lost deals: one of the closed deals by rep and stage)."""
    stage_of = {s["code"]: "won_deals" if s["is_won"] else "lost_deals"
                for s in pipelines.stages(con, include_inactive=True) if s["is_won"] or s["is_lost"]}
    by_set: dict[str, dict] = {k: {} for k in _CLOSED}
    for r in drill.breakdown(con, actor, "closed_deals", p, "owner", filters, then="status").iter_rows(named=True):
        if r["grp"] is not None and r["grp2"] in stage_of:
            got = by_set[stage_of[r["grp2"]]].setdefault(r["grp"], {"n": 0, "amount": 0.0})
            got["n"] += r["n"]
            got["amount"] += r["amount"]
    cols: dict[str, dict] = {}
    for name, key, measure in BOARD:
        if key not in by_set:
            df = drill.breakdown(con, actor, key, p, "owner", filters)
            by_set[key] = {r["grp"]: r for r in df.iter_rows(named=True) if r["grp"] is not None}
        cols[name] = {uid: r[measure] for uid, r in by_set[key].items()}
    people = {r["id"]: r["name"] for r in targets.visible_people(con, actor)}
    ids = sorted(set().union(*[set(v) for v in cols.values()]) | set(people))
    names = dict(con.execute("SELECT id, name FROM users WHERE id IN (SELECT unnest(?::BIGINT[]))",
                             [ids]).fetchall()) if ids else {}
    goals = targets.target_values(con, "won_amount", [(p.start, p.end)], list(people), []) if people else {}
    rows = []
    for uid in ids:
        r = {"owner_id": uid, "name": names.get(uid, "")}
        for name, _key, measure in BOARD:
            r[name] = cols[name].get(uid, 0.0 if measure == "amount" else 0)
        closed = r["won_deals"] + r["lost_deals"]
        r["win_rate"] = r["won_deals"] / closed if closed else None
        goal = goals.get(("user", uid, 0))
        r["target"] = goal
        r["attainment"] = r["won_revenue"] / goal if goal else None
        rows.append(r)
    schema = {"owner_id": pl.Int64, "name": pl.String, "won_revenue": pl.Float64, "won_deals": pl.Int64,
              "lost_deals": pl.Int64, "new_customers": pl.Int64, "new_leads": pl.Int64, "followups": pl.Int64,
              "win_rate": pl.Float64, "target": pl.Float64, "attainment": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("won_revenue", descending=True)


def forecast_months(con: duckdb.DuckDBPyConnection, actor: Actor, filters: metrics.Filters | None = None,
                    n_months: int = FORECAST_MONTHS) -> pl.DataFrame | None:
    """The forecast by expected close month (core.forecast.months, its definitions) for the company's
    current month and the next ones: month, open_deals, weighted, best_case (won + commit + best case:
    the amount the month reaches if every deal the owners call likely closes), commit, closed, pipeline,
    target. The team's rows (the team filtered on, else the viewer's reach); the rep's when a rep is
    filtered on. None when a filter the forecast cannot apply is given (region, source, level, industry,
    province: the figure is None rather than silently unfiltered, as in core.analytics.metrics)."""
    f = filters or metrics.Filters()
    if f.given() - {"team_id", "owner_id"}:
        return None
    start = clock.local_today(con, actor.now).replace(day=1)
    df = forecast.months(con, actor, start, n_months, team_id=f.team_id)
    months = pl.DataFrame({"month": [targets.add_months(start, i) for i in range(n_months)]},
                          schema={"month": pl.Date})
    if f.owner_id is not None:
        df = months.join(df.filter((pl.col("level") == "rep") & (pl.col("owner_id") == f.owner_id)),
                         on="month", how="left")
    else:
        df = months.join(df.filter(pl.col("level") == "team"), on="month", how="left")
    money = ["pipeline", "best_case", "commit", "closed", "weighted"]
    df = df.with_columns([pl.col(c).fill_null(0.0) for c in money] + [pl.col("open_deals").fill_null(0)])
    return df.select("month", "open_deals", "weighted",
                     (pl.col("closed") + pl.col("commit") + pl.col("best_case")).alias("best_case"),
                     "commit", "closed", "pipeline", "target")


def _together(con: duckdb.DuckDBPyConnection, jobs: dict) -> dict:
    """{name: fn(cursor)} run at once on the pool's threads, each with a cursor of its own (a cursor is
    never used by two threads) and this thread's lookups (the context variables are copied); their
    results by name. Every job is waited for (and its cursor closed) before an error is raised. The jobs
    read committed data only: not for use inside a unit of work (core.db.write)."""
    def run(fn, cur, ctx):
        try:
            return ctx.run(fn, cur)
        finally:
            cur.close()
    futures = {name: _POOL.submit(run, fn, con.cursor(), contextvars.copy_context()) for name, fn in jobs.items()}
    concurrent.futures.wait(futures.values())
    return {name: f.result() for name, f in futures.items()}


# The manager's dashboard runs in parts at once: its ~40 statements are mostly small and wait on planning
# and Python more than on the CPU, so on two cores the parts overlap (measured at scale L under a load of
# ~3.7 from other work: 270 ms one after the other, 190 ms in two halves).
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=6, thread_name_prefix="dashboard")
# the cards in two parts of about the same work: the deal, lead and follow-up families / the customers
# family (coverage reads every owned customer) and the targets
_CARDS_B = tuple(k for k in MANAGER_CARDS if metrics.REGISTRY[k].family in ("customers", "targets"))
_CARDS_A = tuple(k for k in MANAGER_CARDS if k not in _CARDS_B)


@_shared
def manager(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period, filters: metrics.Filters | None = None,
            compare: str = "previous", pipeline_id=None) -> dict:
    """The manager's dashboard (the admin's over every team): cards, leaderboard (with the target
    attainment per rep), revenue trend, lost reasons, the forecast by close month, the lead funnel and the
    deal funnel of `pipeline_id` (default: the default pipeline), computed in three parts at once."""
    from core.analytics import funnel

    pid = pipeline_id or pipelines.default_pipeline(con)
    got = _together(con, {
        "a": lambda c: (metrics.compute(c, actor, p, filters, compare, _CARDS_A), forecast_months(c, actor, filters)),
        "b": lambda c: (metrics.compute(c, actor, p, filters, compare, _CARDS_B), revenue_trend(c, actor, p, filters),
                        funnel.lead_funnel(c, actor, p, filters)),
        "c": lambda c: (leaderboard(c, actor, p, filters), funnel.deal_funnel(c, actor, pid, p, filters),
                        drill.breakdown(c, actor, "lost_deals", p, "reason", filters))})
    (cards_a, fc), (cards_b, trend, lead_fn), (board, deal_fn, lost) = got["a"], got["b"], got["c"]
    by_key = {f.key: f for f in cards_a + cards_b}
    return {"cards": [by_key[k] for k in MANAGER_CARDS], "leaderboard": board, "trend": trend, "lost": lost,
            "forecast": fc, "funnel": lead_fn, "pipeline_id": pid, "deal_funnel": deal_fn}


@_shared
def rep(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period, filters: metrics.Filters | None = None,
        compare: str = "previous") -> dict:
    """A rep's dashboard: my cards, my pipeline by stage (at the period's end), my forgotten customers."""
    return {"cards": metrics.compute(con, actor, p, filters, compare, REP_CARDS),
            "forgotten": metrics.compute(con, actor, p, filters, compare, FORGOTTEN),
            "stages": drill.breakdown(con, actor, "open_deals", p, "status", filters)}


def _named(con: duckdb.DuckDBPyConnection, df: pl.DataFrame) -> pl.DataFrame:
    """`df` with `name`: the user's name of `grp` (a user id)."""
    ids = [i for i in df["grp"].to_list() if i is not None]
    names = dict(con.execute("SELECT id, name FROM users WHERE id IN (SELECT unnest(?::BIGINT[]))",
                             [ids]).fetchall()) if ids else {}
    return df.with_columns(pl.Series("name", [names.get(i) for i in df["grp"].to_list()], dtype=pl.String))


@_shared
def service(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period, filters: metrics.Filters | None = None,
            compare: str = "previous") -> dict:
    """Service: ticket cards (with the inconsistent tickets left out of the time figures), the backlog at
    the period's end by age bucket and priority (drill.AGE_BUCKETS), the new tickets by category, and the
    ticket figures (SLA compliance, first response, resolution, CSAT) by agent and by category
    (metrics.tickets_by: the cards' own statement grouped, one each)."""
    return {"cards": metrics.compute(con, actor, p, filters, compare, SERVICE_CARDS),
            "age": drill.breakdown(con, actor, "backlog", p, "age", filters, then="priority"),
            "categories": drill.breakdown(con, actor, "new_tickets", p, "reason", filters),
            "agents": _named(con, metrics.tickets_by(con, actor, p, filters, "agent")),
            "by_category": metrics.tickets_by(con, actor, p, filters, "category")}


@_shared
def marketing(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period,
              filters: metrics.Filters | None = None, compare: str = "previous") -> dict:
    """Marketing: leads -> customers -> won revenue by source (one breakdown each)."""
    parts = {}
    for name, key, measure in (("leads", "new_leads", "n"), ("customers", "new_customers", "n"),
                               ("won_revenue", "won_deals", "amount")):
        df = drill.breakdown(con, actor, key, p, "source", filters)
        parts[name] = {r["grp"]: r[measure] for r in df.iter_rows(named=True)}
    sources = sorted({s for v in parts.values() for s in v}, key=lambda s: (s is None, s or ""))
    by_source = pl.DataFrame([{"source": s, "leads": parts["leads"].get(s, 0), "customers": parts["customers"].get(s, 0),
                               "won_revenue": float(parts["won_revenue"].get(s, 0.0))} for s in sources],
                             schema={"source": pl.String, "leads": pl.Int64, "customers": pl.Int64,
                                     "won_revenue": pl.Float64})
    return {"cards": metrics.compute(con, actor, p, filters, compare, MARKETING_CARDS), "sources": by_source,
            "campaigns": metrics.campaign_results(con, actor, p, filters)}


def kind_of(actor: Actor) -> str:
    """Which dashboard a role opens: admin and manager the manager's, sales the rep's."""
    return {"admin": "manager", "manager": "manager", "sales": "rep", "service": "service",
            "marketing": "marketing"}.get(actor.role, "manager")


BUILD = {"manager": manager, "rep": rep, "service": service, "marketing": marketing}


def regions(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The regions of the live teams (the region filter's choices)."""
    return [r[0] for r in con.execute("SELECT DISTINCT region FROM teams WHERE region IS NOT NULL "
                                      "AND deleted_at IS NULL ORDER BY region").fetchall()]
