"""The data of the role dashboards (issue 11, point 3): each function returns every figure and frame one
dashboard draws, from the metrics layer (cards: metrics.compute) and its drill-down sets (bars:
drill.breakdown, whose bar heights equal the totals of the tables their clicks open). A leaderboard is
one breakdown per KPI family (grouped by rep), never a computation per rep.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from core import pipelines, targets
from core.analytics import drill, metrics
from core.context import Actor

MANAGER_CARDS = ("won_revenue", "won_deals", "win_rate", "avg_deal_size", "open_pipeline", "weighted_pipeline",
                 "new_leads", "new_customers", "cycle_median_days", "followups", "followup_coverage",
                 "target_attainment")
REP_CARDS = ("won_revenue", "won_deals", "win_rate", "open_pipeline", "target_attainment", "followup_coverage",
             "followups", "overdue_followups")
FORGOTTEN = tuple(f"forgotten_{n}" for n in metrics.FORGOTTEN_DAYS) + ("forgotten_never",)
SERVICE_CARDS = ("new_tickets", "backlog", "sla_compliance", "first_response_median_h", "first_response_p90_h",
                 "resolution_median_h", "resolution_p90_h", "csat")
MARKETING_CARDS = ("new_leads", "lead_conversion", "new_customers", "customer_conversion", "won_revenue", "nps")
# leaderboard columns: (column, record set, measure)
BOARD = (("won_revenue", "won_deals", "amount"), ("won_deals", "won_deals", "n"), ("lost_deals", "lost_deals", "n"),
         ("new_customers", "new_customers", "n"), ("new_leads", "new_leads", "n"), ("followups", "followups", "n"))


def add_months(day: dt.date, n: int) -> dt.date:
    return targets.add_months(day.replace(day=1), n)


def trend_periods(p: metrics.Period) -> tuple[metrics.Period, metrics.Period]:
    """The 12 company months ending with the period's last month, and the 12 before them."""
    first = add_months(p.end, -11)
    return (metrics.Period(first, p.end), metrics.Period(add_months(p.end, -23), first - dt.timedelta(days=1)))


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


def leaderboard(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period,
                filters: metrics.Filters | None = None) -> pl.DataFrame:
    """One row per rep with records in scope: owner_id, name, won_revenue, won_deals, lost_deals, win_rate,
    new_customers, new_leads, followups, target, attainment. Each column is one breakdown by rep."""
    cols: dict[str, dict] = {}
    for name, key, measure in BOARD:
        df = drill.breakdown(con, actor, key, p, "owner", filters)
        cols[name] = {r["grp"]: r[measure] for r in df.iter_rows(named=True) if r["grp"] is not None}
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


def manager(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period, filters: metrics.Filters | None = None,
            compare: str = "previous", pipeline_id=None) -> dict:
    """The manager's dashboard (the admin's over every team): cards, leaderboard, revenue trend, lost
    reasons, the lead funnel and the deal funnel of `pipeline_id` (default: the default pipeline)."""
    out = {"cards": metrics.compute(con, actor, p, filters, compare, MANAGER_CARDS),
           "leaderboard": leaderboard(con, actor, p, filters),
           "trend": revenue_trend(con, actor, p, filters),
           "lost": drill.breakdown(con, actor, "lost_deals", p, "reason", filters)}
    try:
        from core.analytics import funnel
    except ImportError:
        funnel = None
    if funnel is not None and hasattr(funnel, "lead_funnel"):
        out["funnel"] = funnel.lead_funnel(con, actor, p, filters)
        out["pipeline_id"] = pipeline_id or pipelines.default_pipeline(con)
        out["deal_funnel"] = funnel.deal_funnel(con, actor, out["pipeline_id"], p, filters)
    return out


def rep(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period, filters: metrics.Filters | None = None,
        compare: str = "previous") -> dict:
    """A rep's dashboard: my cards, my pipeline by stage (at the period's end), my forgotten customers."""
    return {"cards": metrics.compute(con, actor, p, filters, compare, REP_CARDS),
            "forgotten": metrics.compute(con, actor, p, filters, compare, FORGOTTEN),
            "stages": drill.breakdown(con, actor, "open_deals", p, "status", filters)}


def service(con: duckdb.DuckDBPyConnection, actor: Actor, p: metrics.Period, filters: metrics.Filters | None = None,
            compare: str = "previous") -> dict:
    """Service: ticket cards, the backlog by priority and the new tickets by category."""
    return {"cards": metrics.compute(con, actor, p, filters, compare, SERVICE_CARDS),
            "backlog": drill.breakdown(con, actor, "backlog", p, "priority", filters),
            "categories": drill.breakdown(con, actor, "new_tickets", p, "reason", filters)}


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
    return {"cards": metrics.compute(con, actor, p, filters, compare, MARKETING_CARDS), "sources": by_source}


def kind_of(actor: Actor) -> str:
    """Which dashboard a role opens: admin and manager the manager's, sales the rep's."""
    return {"admin": "manager", "manager": "manager", "sales": "rep", "service": "service",
            "marketing": "marketing"}.get(actor.role, "manager")


BUILD = {"manager": manager, "rep": rep, "service": service, "marketing": marketing}


def regions(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The regions of the live teams (the region filter's choices)."""
    return [r[0] for r in con.execute("SELECT DISTINCT region FROM teams WHERE region IS NOT NULL "
                                      "AND deleted_at IS NULL ORDER BY region").fetchall()]
