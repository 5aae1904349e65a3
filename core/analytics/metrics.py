"""The metrics layer: one definition per figure, used by every dashboard, report, export and the command
line (`python -m core kpi`). A number means the same everywhere.

Every KPI is a function `kpi(con, actor, period, filters=None, compare="previous") -> Figure`: the value
over `period`, the value over the comparison period and the delta. `REGISTRY` maps each key to its
function, label key, unit, delta kind and whether lower is better; `compute` returns many at once.

Periods. A period is a range of company days [start, end] (both included; core.clock: the company's time
zone setting, never the server's or the viewer's): a follow-up at 00:30 Shanghai time on the 1st belongs
to the 1st. The comparison period is the previous period of the same length (`compare="previous"`) or the
same days one year earlier (`compare="year"`; 29 February becomes the 28th). Figures that are a state
at an instant (open pipeline, backlog, follow-up coverage) are taken at the end of each period, or at the
actor's now when the period has not ended yet. Figures kept only for the present (overdue follow-ups,
forgotten customers) are `snapshot` KPIs: no previous value (nothing records their past).

Deltas. Counts and sums: percent change ((value - previous) / previous x 100, None when previous is 0
or missing). Rates, averages, medians and scores: the absolute difference (rates are fractions 0..1, so
a delta of 0.05 is five percentage points). `lower_is_better` says which direction is good.

Scope. Each figure is computed over the rows its viewer may open, with the scope of the lists
(core.access.branches of the record's module, view action): leads, customers, activities, deals, orders.
A module the viewer may not view gives None figures (not zero). The rule for tickets and feedback
(issue 11, point 2): they belong to the service team, so
  * for the roles that hold customers (sales and manager: core.access.HOLDER_ROLES except admin) the
    tickets and feedback counted are those of the customers the viewer may open (a rep: the own
    customers and the own team's pool; a manager: the customers of the team tree), whatever the
    tickets module's own scope says (a rep is never a ticket's assignee);
  * for everyone else (service, admin, marketing) the tickets / feedback module's own view scope;
    without it, None.

Dashboard filters (`Filters`): team (the team and its sub-teams), rep, region (teams whose region is it,
and their sub-teams), province, source, level, industry. Team, rep and region apply to the record's own
team and owner (deals, orders, leads, customers; for follow-ups the user who logged them); for tickets
and feedback they apply to the customer's team and owner. Province, level and industry are the
customer's (a lead's own province and industry); source is the record's own for leads, customers and
deals, the customer's for the rest. A filter that a figure's records do not carry (a lead has no level;
targets have only team and rep) makes that figure None rather than silently unfiltered.

Definitions (value over the period; the comparison period alike):
- new_leads: live leads created in the period.
- lead_conversion: of those, the share converted to a customer by the end of the period.
- new_customers: live customers created in the period; customer_conversion: of those, the share won
  (`won_at`) by the end of the period.
- followups: live follow-ups (activities) that occurred in the period; followups_per_rep: that count
  divided by the number of different people who logged them.
- followup_coverage: of the customers with an owner (in scope, now), the share with a follow-up in the
  last `coverage_days` company days (30) up to the end of the period.
- overdue_followups (snapshot): customers with an owner whose next follow-up is before the company's
  today. forgotten_7/15/30/90/180 (snapshot): customers with an owner whose last follow-up was N or more
  company days ago (cumulative: forgotten_30 is inside forgotten_15); forgotten_never: never followed up.
- win_rate: deals closed in the period (close date `closed_on`, a company day): won / (won + lost), won
  and lost being the stages flagged is_won / is_lost of any pipeline (core.pipelines).
- won_revenue, won_deals: sum of amounts and count of deals won in the period; avg_deal_size: their mean.
- cycle_median_days, cycle_mean_days: of the deals won in the period, days from engagement
  (`engaged_on`, else the company day it was created) to the close date.
- open_pipeline, weighted_pipeline: live deals open (in a stage neither won nor lost, from the stage
  history) at the end of the period: sum of amounts, and sum of amount x probability (the deal's own
  when it is still in that stage, else the stage's default), as core.forecast weighs them.
- order_revenue: revenue as core.orders defines it (confirmed orders, net of imported credit notes:
  cancelled / refunded rows with a negative amount) ordered in the period.
- repeat_purchase_rate: of the customers with a confirmed order in the period, the share that had
  bought before the period or bought at least twice in it.
- target_attainment: won amount / won_amount target (core.targets: target_values; the won amount as
  core.targets.actuals counts it, computed here in one statement) for the subject of the view: the rep filtered on, else the team filtered on, else the viewer (a rep), the
  viewer's team (a manager) or every top-level team with a target (a viewer of every deal).
- new_tickets: tickets opened in the period; backlog: tickets opened and not yet resolved (resolved_at,
  else closed_at) at the end of the period.
- first_response_median_h / _p90_h: hours from opening to first response of the tickets first answered
  in the period; resolution_median_h / _p90_h: hours from opening to resolution of the tickets resolved
  in the period.
- sla_compliance: of the tickets resolved in the period that had a due time, the share whose first
  response and resolution both met their due times (core sla_targets set them); a duplicate merged into
  another ticket does not count.
- Inconsistent tickets (resolved before their first response: imported data such as the support-tickets
  file, see core.analytics.realdata) are left out of the time figures (first response, resolution, SLA);
  tickets_inconsistent counts those first answered or resolved in the period, so the exclusion is visible.
- csat: mean satisfaction (1-5) of the tickets resolved in the period that were rated.
- nps: NPS feedback given in the period: % promoters (9-10) - % detractors (0-6), -100..100.
- campaign_response_rate: of the campaign members (`campaign_members`) of the campaigns in scope (the
  campaigns module's view scope on the campaign's owner and team; team, rep and region filters apply to
  the campaign's own team and owner, the customer filters make it None) sent a message in the period
  (`sent_at`), the share that responded (`responded_at`) by the end of the period.
- campaign_roi: over those same sends, (revenue - cost) / cost as a fraction (1.5 = 150 %): revenue is
  the members' attributed revenue (`campaign_members.revenue`) of those that converted by the end of the
  period; cost is each send's share of its campaign's cost (`campaigns.cost` spread evenly over every
  member it was ever sent to; `cost_per_contact` when the cost is not known). None without cost.
  `campaign_results` gives each campaign's part (the same statement grouped by campaign).
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

import duckdb
import polars as pl

from core import access, clock, db, targets
from core.context import Actor
from core.errors import PermissionDenied, ValidationError

COMPARES = ("previous", "year")
FILTER_KEYS = ("team_id", "owner_id", "region", "province", "source", "level", "industry")
FORGOTTEN_DAYS = (7, 15, 30, 90, 180)
COVERAGE_DAYS = 30
MAX_DAYS = 3700  # a period longer than about ten years is a typo


# ---------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Period:
    """Company days [start, end], both included."""
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValidationError("field.bad_date", field=field, min=1990, max=2099) from None


def period(start: Any, end: Any) -> Period:
    """A checked period from two dates (date objects or "YYYY-MM-DD")."""
    s, e = _date(start, "kpi.from"), _date(end, "kpi.to")
    for d, f in ((s, "kpi.from"), (e, "kpi.to")):
        if not dt.date(1990, 1, 1) <= d < dt.date(2100, 1, 1):
            raise ValidationError("field.bad_date", field=f, min=1990, max=2099)
    if e < s or (e - s).days >= MAX_DAYS:
        raise ValidationError("kpi.bad_period")
    return Period(s, e)


def _year_back(d: dt.date) -> dt.date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


def comparison(p: Period, compare: str = "previous") -> Period:
    """The period a figure is compared with: the same number of days just before, or a year earlier."""
    if compare == "previous":
        return Period(p.start - dt.timedelta(days=p.days), p.start - dt.timedelta(days=1))
    if compare == "year":
        return Period(_year_back(p.start), _year_back(p.end))
    raise ValidationError("kpi.bad_compare")


def month_to_date(con: duckdb.DuckDBPyConnection, actor: Actor) -> Period:
    """From the first of the company's current month to its today."""
    today = clock.local_today(con, actor.now)
    return Period(today.replace(day=1), today)


@dataclass(frozen=True)
class Filters:
    """Dashboard-wide filters; None = not filtered."""
    team_id: int | None = None
    owner_id: int | None = None
    region: str | None = None
    province: str | None = None
    source: str | None = None
    level: str | None = None
    industry: str | None = None

    @classmethod
    def of(cls, values: dict | None) -> "Filters":
        """From a dict such as the URL's parameters (unknown keys and empty values are ignored)."""
        out: dict[str, Any] = {}
        for key in FILTER_KEYS:
            raw = (values or {}).get(key)
            if raw is None or str(raw).strip() == "":
                continue
            if key in ("team_id", "owner_id"):
                try:
                    out[key] = int(str(raw).strip())
                except ValueError:
                    raise ValidationError("error.invalid_value", value=str(raw)[:40]) from None
            else:
                out[key] = str(raw).strip()[:100]
        return cls(**out)

    def given(self) -> set[str]:
        return {k for k in FILTER_KEYS if getattr(self, k) is not None}


# ---------------------------------------------------------------------------------------- outputs
@dataclass(frozen=True)
class KPI:
    key: str
    label_key: str
    unit: str              # count | money | ratio | days | hours | score | points
    delta: str             # pct (counts, sums) | abs (rates, averages)
    lower_is_better: bool
    family: str
    snapshot: bool = False  # a state of now only: no previous value
    fn: Callable | None = None


@dataclass(frozen=True)
class Figure:
    key: str
    label_key: str
    unit: str
    lower_is_better: bool
    value: float | None
    previous: float | None
    delta: float | None
    delta_kind: str
    period: Period
    compared: Period | None

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["period"] = [self.period.start.isoformat(), self.period.end.isoformat()]
        out["compared"] = None if self.compared is None else [self.compared.start.isoformat(),
                                                              self.compared.end.isoformat()]
        return out


def delta(value: float | None, previous: float | None, kind: str) -> float | None:
    """pct: percent change (None from 0 or nothing); abs: the difference."""
    if value is None or previous is None:
        return None
    if kind == "abs":
        return value - previous
    return None if previous == 0 else (value - previous) / abs(previous) * 100.0


# ---------------------------------------------------------------------------------------- the context
@dataclass
class _Window:
    start: dt.date
    end: dt.date
    lo: dt.datetime      # naive UTC, included
    hi: dt.datetime      # naive UTC, excluded
    asof: dt.datetime    # the instant a state is taken at: hi, or now when the period has not ended


# Lookups shared by the contexts of one dashboard build (`shared_lookups`): the company's time zone, the
# viewer's scopes, the teams. A dashboard builds ten or so contexts (cards, each breakdown, funnels), and
# each lookup is a tiny query (~0.5 ms): a hundred of them per page otherwise.
_SHARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("metrics_shared", default=None)


@contextlib.contextmanager
def shared_lookups():
    """Within this block the contexts made share the time zone, scopes and teams they look up (one
    dashboard's figures: nothing outlives the block, so a later change of a setting or permission is seen
    by the next build)."""
    token = _SHARED.set({}) if _SHARED.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _SHARED.reset(token)


def _lookup(con, key: tuple, fn: Callable[[], Any]) -> Any:
    memo = _SHARED.get()
    if memo is None:
        return fn()
    key = (id(con),) + key
    if key not in memo:
        memo[key] = fn()
    return memo[key]


class _Ctx:
    """One computation: the actor, both windows, the filters and the family results already computed."""

    def __init__(self, con, actor: Actor, p: Period, filters: Filters | None, compare: str):
        # a result of execute() left unread before (a fetchone) would block the relations (con.sql) read
        # below now that the lookups no longer run a query in between
        con.complete()
        self.con, self.actor, self.filters, self.compare = con, actor, filters or Filters(), compare
        self._scopes: dict[tuple[str, str], str] = {}
        if self.scope("analytics") == "none":
            raise PermissionDenied("error.permission", module="analytics", action="view")
        self.zone = _lookup(con, ("zone",), lambda: clock.zone(con))
        self.tz = self.zone.key
        self.period, self.compared = p, comparison(p, compare)
        self.cur, self.prev = self._window(p), self._window(self.compared)
        self.today = self.local_day(actor.now)
        self.today_lo = self.day_start(self.today)
        self.done: dict[str, dict[str, tuple]] = {}
        self._teams: list[dict] | None = None

    def scope(self, module: str, action: str = "view") -> str:
        """The viewer's scope on module/action (core.access.scope_of), looked up once."""
        if (module, action) not in self._scopes:
            a = self.actor
            self._scopes[(module, action)] = _lookup(
                self.con, ("scope", a.id, a.role, module, action), lambda: access.scope_of(self.con, a, module, action))
        return self._scopes[(module, action)]

    def local_day(self, instant: dt.datetime) -> dt.date:
        """The company's day at a naive UTC instant (core.clock.local_today)."""
        return clock.utc_to_local(instant, self.zone).date()

    def bounds(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The company's day as a naive UTC range [start, end) (core.clock.day_bounds_utc)."""
        start = dt.datetime.combine(day, dt.time())
        return clock.local_to_utc(start, self.zone), clock.local_to_utc(start + dt.timedelta(days=1), self.zone)

    def _window(self, p: Period) -> _Window:
        lo, hi = self.bounds(p.start)[0], self.bounds(p.end)[1]
        return _Window(p.start, p.end, lo, hi, min(hi, self.actor.now))

    @property
    def span(self) -> tuple[dt.datetime, dt.datetime]:
        return min(self.cur.lo, self.prev.lo), max(self.cur.hi, self.prev.hi)

    def within(self, col: str, ranges: list[tuple[dt.datetime, dt.datetime]] | None = None) -> tuple[str, list]:
        """`col` in either window (or in `ranges`): one range when they touch, two when they do not (the
        same period last year: the months between are not read)."""
        (a_lo, a_hi), (b_lo, b_hi) = sorted(ranges or [(self.cur.lo, self.cur.hi), (self.prev.lo, self.prev.hi)])
        if b_lo <= a_hi:
            return f"{col} >= ? AND {col} < ?", [a_lo, max(a_hi, b_hi)]
        return f"(({col} >= ? AND {col} < ?) OR ({col} >= ? AND {col} < ?))", [a_lo, a_hi, b_lo, b_hi]

    def day_start(self, day: dt.date) -> dt.datetime:
        return self.bounds(day)[0]

    def teams(self) -> list[dict]:
        if self._teams is None:
            self._teams = _lookup(self.con, ("teams",), lambda: db.rows(
                self.con, "SELECT id, parent_id, region FROM teams WHERE deleted_at IS NULL"))
        return self._teams

    def subtree(self, roots: set[int]) -> list[int]:
        kids: dict[int | None, list[int]] = {}
        for t in self.teams():
            kids.setdefault(t["parent_id"], []).append(t["id"])
        out, todo = set(), list(roots)
        while todo:
            t = todo.pop()
            if t not in out:
                out.add(t)
                todo += kids.get(t, [])
        return sorted(out)


# ---------------------------------------------------------------------------------------- scope and filters
# entity -> (alias, team column, owner column, own columns of the direct filters, customer id column)
_ENTITIES: dict[str, tuple[str, str | None, str | None, dict[str, str], str | None]] = {
    "lead": ("l", "l.team_id", "l.owner_id", {"source": "l.source", "province": "l.province",
                                               "industry": "l.industry"}, None),
    "customer": ("c", "c.team_id", "c.owner_id", {"source": "c.source", "province": "c.province",
                                                   "industry": "c.industry", "level": "c.level"}, None),
    "deal": ("d", "d.team_id", "d.owner_id", {"source": "d.source"}, "d.customer_id"),
    "activity": ("a", "a.team_id", "a.user_id", {}, "a.customer_id"),
    "order": ("o", "o.team_id", "o.owner_id", {}, "o.customer_id"),
    "ticket": ("k", None, None, {}, "k.customer_id"),
    "feedback": ("f", None, None, {}, "f.customer_id"),
    "campaign": ("g", "g.team_id", "g.owner_id", {}, None),
}


def _filter_sql(ctx: _Ctx, entity: str) -> tuple[str, list] | None:
    """The dashboard filters as one SQL condition on `entity`; None when a filter does not apply to it."""
    _alias, team_col, owner_col, direct, via = _ENTITIES[entity]
    f = ctx.filters
    own, own_args, cust, cust_args = [], [], [], []

    def put(sql_own: str | None, sql_cust: str, value) -> bool:
        if sql_own is not None:
            own.append(sql_own)
            own_args.append(value)
        elif via is not None:
            cust.append(sql_cust)
            cust_args.append(value)
        else:
            return False
        return True

    teams = []
    if f.team_id is not None:
        teams.append(ctx.subtree({f.team_id}))
    if f.region is not None:
        teams.append(ctx.subtree({t["id"] for t in ctx.teams() if t["region"] == f.region}))
    for ids in teams:
        if not put(f"{team_col} IN (SELECT unnest(?::BIGINT[]))" if team_col else None,
                   "cf.team_id IN (SELECT unnest(?::BIGINT[]))", ids):
            return None
    if f.owner_id is not None and not put(f"{owner_col} = ?" if owner_col else None, "cf.owner_id = ?", f.owner_id):
        return None
    for key in ("province", "source", "level", "industry"):
        value = getattr(f, key)
        if value is None:
            continue
        if not put(f"{direct[key]} = ?" if key in direct else None, f"cf.{key} = ?", value):
            return None
    if cust:
        own.append(f"{via} IN (SELECT cf.id FROM customers cf WHERE {' AND '.join(cust)})")
        own_args += cust_args
    return (" AND ".join(own) or "TRUE"), own_args


def _service_branches(ctx: _Ctx, module: str, alias: str) -> list[tuple[str, list]] | None:
    """Scope of tickets / feedback (module doc, point 2): `access.service_branches`, the one rule lists,
    pages and counts use; None when the viewer may not view the module."""
    if ctx.scope(module) == "none":
        return None
    return access.service_branches(ctx.con, ctx.actor, module, "view", alias)


def _union(ctx: _Ctx, entity: str, module: str, select: str, table: str, where: str,
           params: list) -> tuple[str, list] | None:
    """UNION ALL over the viewer's scope branches of `SELECT select FROM table alias WHERE where` with the
    filters; None when the viewer may not view the module or a filter does not apply."""
    alias = _ENTITIES[entity][0]
    if module in ("tickets", "feedback"):
        branches = _service_branches(ctx, module, alias)
    else:
        scope = ctx.scope(module)
        branches = None if scope == "none" else access.branches_for_scope(ctx.actor, module, scope, alias)
    found = _filter_sql(ctx, entity)
    if branches is None or found is None:
        return None
    fsql, fargs = found
    parts, args = [], []
    for cond, bparams in branches:
        parts.append(f"SELECT {select} FROM {table} {alias} WHERE {where} AND {cond} AND {fsql}")
        args += params + bparams + fargs
    return " UNION ALL ".join(parts), args


def _w(col: str, w: _Window) -> tuple[str, list]:
    return f"{col} >= ? AND {col} < ?", [w.lo, w.hi]


# public for core.analytics.drill: the records behind a figure are read with the very same context
# (windows, company days), scope branches and filters, so a number and its table cannot drift apart
Context = _Ctx
scoped_union = _union


# ---------------------------------------------------------------------------------------- the families
# Each family computes all its figures for both windows in ONE statement: {key: (value, previous)}.
def _none(keys) -> dict[str, tuple]:
    return {k: (None, None) for k in keys}


def _ratio(a, b) -> float | None:
    return None if not b else float(a) / float(b)


def _f(x) -> float | None:
    return None if x is None else float(x)


def _leads(ctx: _Ctx) -> dict[str, tuple]:
    inside, wargs = ctx.within("l.created_at")
    u = _union(ctx, "lead", "leads", "l.created_at, l.converted_at", "leads", f"l.deleted_at IS NULL AND {inside}",
               wargs)
    if u is None:
        return _none(("new_leads", "lead_conversion"))
    cols, args = [], []
    for w in (ctx.cur, ctx.prev):
        cond, a = _w("created_at", w)
        cols += [f"count(*) FILTER (WHERE {cond})", f"count(*) FILTER (WHERE {cond} AND converted_at < ?)"]
        args += a + a + [w.hi]
    r = ctx.con.execute(f"WITH v AS ({u[0]}) SELECT {', '.join(cols)} FROM v", u[1] + args).fetchall()[0]  # sql-ok
    return {"new_leads": (r[0], r[2]), "lead_conversion": (_ratio(r[1], r[0]), _ratio(r[3], r[2]))}


_CUSTOMER_KEYS = ("new_customers", "customer_conversion", "followup_coverage", "overdue_followups") + \
    tuple(f"forgotten_{n}" for n in FORGOTTEN_DAYS) + ("forgotten_never",)


def _customers(ctx: _Ctx, coverage_days: int = COVERAGE_DAYS) -> dict[str, tuple]:
    inside, wargs = ctx.within("c.created_at")
    u = _union(ctx, "customer", "customers", "c.id, c.created_at, c.won_at, c.owner_id, c.last_activity_at, "
               "c.next_followup_at", "customers", f"c.deleted_at IS NULL AND (c.owner_id IS NOT NULL OR {inside})",
               wargs)
    if u is None:
        return _none(_CUSTOMER_KEYS)
    # the coverage windows: the last `coverage_days` company days up to each window's end
    cov = []
    for w in (ctx.cur, ctx.prev):
        asof_day = ctx.local_day(w.asof - dt.timedelta(microseconds=1))
        cov.append((ctx.day_start(asof_day - dt.timedelta(days=coverage_days - 1)), w.asof))
    cols, args = [], []
    for w in (ctx.cur, ctx.prev):
        cond, a = _w("v.created_at", w)
        cols += [f"count(*) FILTER (WHERE {cond})", f"count(*) FILTER (WHERE {cond} AND v.won_at < ?)"]
        args += a + a + [w.hi]
    cols += ["count(*) FILTER (WHERE v.owner_id IS NOT NULL)",
             "count(*) FILTER (WHERE v.owner_id IS NOT NULL AND x.cur)",
             "count(*) FILTER (WHERE v.owner_id IS NOT NULL AND x.prev)",
             "count(*) FILTER (WHERE v.owner_id IS NOT NULL AND v.next_followup_at < ?)"]
    args += [ctx.today_lo]
    for n in FORGOTTEN_DAYS:
        cols.append("count(*) FILTER (WHERE v.owner_id IS NOT NULL AND v.last_activity_at < ?)")
        args.append(ctx.day_start(ctx.today - dt.timedelta(days=n - 1)))
    cols.append("count(*) FILTER (WHERE v.owner_id IS NOT NULL AND v.last_activity_at IS NULL)")
    cov_inside, cov_args = ctx.within("a.occurred_at", cov)
    xargs = [cov[0][0], cov[0][1], cov[1][0], cov[1][1]] + cov_args
    # the follow-ups of the coverage windows, of the customers counted: for a viewer of every customer
    # without filters that is every customer, and narrowing the activities to them costs a materialised
    # copy of the million customers for nothing
    every = ctx.scope("customers") == "all" and not ctx.filters.given()
    narrow = "" if every else "AND a.customer_id IN (SELECT id FROM v WHERE owner_id IS NOT NULL) "
    sql = (f"WITH v AS {'' if every else 'MATERIALIZED '}({u[0]}), "
           "x AS (SELECT a.customer_id, bool_or(a.occurred_at >= ? AND a.occurred_at < ?) AS cur, "
           "bool_or(a.occurred_at >= ? AND a.occurred_at < ?) AS prev FROM activities a "
           f"WHERE a.deleted_at IS NULL AND {cov_inside} {narrow}GROUP BY a.customer_id) "
           f"SELECT {', '.join(cols)} FROM v LEFT JOIN x ON x.customer_id = v.id")
    r = ctx.con.execute(sql, u[1] + xargs + args).fetchall()[0]
    out = {"new_customers": (r[0], r[2]), "customer_conversion": (_ratio(r[1], r[0]), _ratio(r[3], r[2])),
           "followup_coverage": (_ratio(r[5], r[4]), _ratio(r[6], r[4])), "overdue_followups": (r[7], None)}
    for i, n in enumerate(FORGOTTEN_DAYS):
        out[f"forgotten_{n}"] = (r[8 + i], None)
    out["forgotten_never"] = (r[8 + len(FORGOTTEN_DAYS)], None)
    return out


def _activities(ctx: _Ctx) -> dict[str, tuple]:
    inside, wargs = ctx.within("a.occurred_at")
    u = _union(ctx, "activity", "activities", "a.user_id, a.occurred_at", "activities",
               f"a.deleted_at IS NULL AND {inside}", wargs)
    if u is None:
        return _none(("followups", "followups_per_rep"))
    cols, args = [], []
    for w in (ctx.cur, ctx.prev):
        cond, a = _w("occurred_at", w)
        cols += [f"count(*) FILTER (WHERE {cond})", f"count(DISTINCT user_id) FILTER (WHERE {cond})"]
        args += a + a
    r = ctx.con.execute(f"WITH v AS ({u[0]}) SELECT {', '.join(cols)} FROM v", u[1] + args).fetchall()[0]  # sql-ok
    return {"followups": (r[0], r[2]), "followups_per_rep": (_ratio(r[0], r[1]), _ratio(r[2], r[3]))}


_DEAL_KEYS = ("win_rate", "won_revenue", "won_deals", "avg_deal_size", "cycle_median_days", "cycle_mean_days",
              "open_pipeline", "weighted_pipeline")


def _deals(ctx: _Ctx) -> dict[str, tuple]:
    first = min(ctx.cur.start, ctx.prev.start)
    # deals closed in either window, and the candidates for "open at the end of a window"
    asofs = [(w.asof, ctx.local_day(w.asof) - dt.timedelta(days=1), tag)
             for w, tag in ((ctx.cur, "c"), (ctx.prev, "p"))]
    oldest = min(a[1] for a in asofs)
    u = _union(ctx, "deal", "deals", "d.id, d.stage, d.amount, d.probability, d.closed_on, "
               "d.engaged_on, d.created_at", "deals",
               "d.deleted_at IS NULL AND (d.closed_on IS NULL OR d.closed_on >= ?)", [min(first, oldest)])
    if u is None:
        return _none(_DEAL_KEYS)
    cols, args = [], []
    for w in (ctx.cur, ctx.prev):
        won = "s.is_won AND v.closed_on BETWEEN ? AND ?"
        cols += [f"count(*) FILTER (WHERE {won})", "count(*) FILTER (WHERE s.is_lost AND v.closed_on BETWEEN ? AND ?)",
                 f"coalesce(sum(v.amount) FILTER (WHERE {won}), 0)",
                 f"quantile_cont(v.cycle, 0.5) FILTER (WHERE {won})", f"avg(v.cycle) FILTER (WHERE {won})"]
        args += [w.start, w.end] * 5
    sql = (f"WITH v0 AS MATERIALIZED ({u[0]}), "
           "v AS (SELECT v0.*, (v0.closed_on - coalesce(v0.engaged_on, "
           "(v0.created_at AT TIME ZONE 'UTC' AT TIME ZONE ?)::DATE)) AS cycle FROM v0), "
           f"closed AS (SELECT {', '.join(cols)} FROM v JOIN pipeline_stages s ON s.code = v.stage "
           "WHERE s.is_won OR s.is_lost), "
           "ats AS (SELECT * FROM (VALUES (?::TIMESTAMP, ?::DATE, 'c'), (?::TIMESTAMP, ?::DATE, 'p')) t(t_at, day, w)), "
           "cand AS (SELECT v0.id, v0.stage, v0.amount, v0.probability, ats.t_at, ats.w FROM v0, ats "
           "WHERE v0.created_at < ats.t_at AND (v0.closed_on IS NULL OR v0.closed_on >= ats.day)), "
           "h AS (SELECT deal_id, changed_at, to_stage FROM deal_stage_history "
           "WHERE deal_id IN (SELECT id FROM cand)), "
           # the stage at the instant: the last history row before it (a hash join and arg_max; an ASOF
           # JOIN is planned as a nested loop here when the planner guesses few rows)
           "st AS (SELECT cand.id, cand.w, any_value(cand.stage) AS stage, any_value(cand.amount) AS amount, "
           "any_value(cand.probability) AS probability, "
           "coalesce(arg_max(h.to_stage, h.changed_at), any_value(cand.stage)) AS stage_at "
           "FROM cand LEFT JOIN h ON h.deal_id = cand.id AND h.changed_at < cand.t_at GROUP BY cand.id, cand.w), "
           "pipe AS (SELECT coalesce(sum(st.amount) FILTER (WHERE st.w = 'c'), 0) AS open_c, "
           "coalesce(sum(st.amount * CASE WHEN st.stage_at = st.stage THEN coalesce(st.probability, s.probability) "
           "ELSE s.probability END) FILTER (WHERE st.w = 'c'), 0) / 100.0 AS weighted_c, "
           "coalesce(sum(st.amount) FILTER (WHERE st.w = 'p'), 0) AS open_p, "
           "coalesce(sum(st.amount * CASE WHEN st.stage_at = st.stage THEN coalesce(st.probability, s.probability) "
           "ELSE s.probability END) FILTER (WHERE st.w = 'p'), 0) / 100.0 AS weighted_p "
           "FROM st JOIN pipeline_stages s ON s.code = st.stage_at WHERE NOT s.is_won AND NOT s.is_lost) "
           "SELECT * FROM closed, pipe")
    at_args = [x for a in asofs for x in (a[0], a[1])]
    r = ctx.con.execute(sql, u[1] + [ctx.tz] + args + at_args).fetchall()[0]
    c, p = r[0:5], r[5:10]
    return {"win_rate": (_ratio(c[0], c[0] + c[1]), _ratio(p[0], p[0] + p[1])),
            "won_revenue": (float(c[2]), float(p[2])), "won_deals": (c[0], p[0]),
            "avg_deal_size": (_ratio(c[2], c[0]), _ratio(p[2], p[0])),
            "cycle_median_days": (_f(c[3]), _f(p[3])), "cycle_mean_days": (_f(c[4]), _f(p[4])),
            "open_pipeline": (float(r[10]), float(r[12])), "weighted_pipeline": (float(r[11]), float(r[13]))}


def _orders(ctx: _Ctx) -> dict[str, tuple]:
    inside, wargs = ctx.within("o.ordered_at")
    u = _union(ctx, "order", "orders", "o.customer_id, o.status, o.amount, o.ordered_at",
               "orders", f"o.deleted_at IS NULL AND {inside}", wargs)
    if u is None:
        return _none(("order_revenue", "repeat_purchase_rate"))
    # the buyers' earlier confirmed orders (in scope too): did they buy before the window?
    first = max(ctx.cur.lo, ctx.prev.lo)
    e = _union(ctx, "order", "orders", "o.customer_id, o.ordered_at", "orders",
               "o.deleted_at IS NULL AND o.status = 'confirmed' AND o.ordered_at < ? "
               "AND o.customer_id IN (SELECT customer_id FROM b)", [first])
    rev = "(v.status = 'confirmed' OR (v.status IN ('cancelled', 'refunded') AND v.amount < 0))"
    cols, args, bcols, bargs = [], [], [], []
    for i, w in enumerate((ctx.cur, ctx.prev)):
        cond, a = _w("v.ordered_at", w)
        cols.append(f"coalesce(sum(v.amount) FILTER (WHERE {rev} AND {cond}), 0)")
        args += a
        bcols.append(f"count(*) FILTER (WHERE {cond}) AS n{i}")
        bargs += a
    sql = (f"WITH v AS MATERIALIZED ({u[0]}), "
           f"b AS MATERIALIZED (SELECT v.customer_id, {', '.join(bcols)} FROM v WHERE v.status = 'confirmed' "
           "GROUP BY v.customer_id), "
           f"e AS ({e[0]}), f AS (SELECT customer_id, min(ordered_at) AS first_at FROM e GROUP BY customer_id), "
           "r AS (SELECT count(*) FILTER (WHERE n0 > 0) AS b0, "
           "count(*) FILTER (WHERE n0 > 0 AND (n0 > 1 OR f.first_at < ?)) AS r0, "
           "count(*) FILTER (WHERE n1 > 0) AS b1, "
           "count(*) FILTER (WHERE n1 > 0 AND (n1 > 1 OR f.first_at < ?)) AS r1 "
           "FROM b LEFT JOIN f ON f.customer_id = b.customer_id) "
           f"SELECT {', '.join(cols)}, any_value(r.b0), any_value(r.r0), any_value(r.b1), any_value(r.r1) FROM v, r")
    r = ctx.con.execute(sql, u[1] + bargs + e[1] + [ctx.cur.lo, ctx.prev.lo] + args).fetchall()[0]
    return {"order_revenue": (float(r[0]), float(r[1])),
            "repeat_purchase_rate": (_ratio(r[3], r[2]), _ratio(r[5], r[4]))}


_TICKET_KEYS = ("new_tickets", "backlog", "first_response_median_h", "first_response_p90_h",
                "resolution_median_h", "resolution_p90_h", "sla_compliance", "csat", "tickets_inconsistent")
# tickets_by: what a service breakdown groups by
TICKET_GROUPS = {"agent": "k.assignee_id", "category": "k.category", "priority": "k.priority"}


def _ticket_union(ctx: _Ctx, extra: str = "") -> tuple[str, list] | None:
    """The tickets that can count in either window (opened, answered or resolved in it, or open at its
    end), in the viewer's ticket scope with the filters; `extra`: more selected columns."""
    _lo, hi = ctx.span
    done = "coalesce(k.resolved_at, k.closed_at)"
    op_in, op_args = ctx.within("k.opened_at")
    fr_in, fr_args = ctx.within("k.first_response_at")
    dn_in, dn_args = ctx.within(done)
    return _union(ctx, "ticket", "tickets", "k.opened_at, k.first_response_at, coalesce(k.resolved_at, k.closed_at) "
                  f"AS done_at, k.first_response_due, k.resolution_due, k.merged_into, k.satisfaction{extra}", "tickets",
                  f"k.deleted_at IS NULL AND k.opened_at < ? AND ({op_in} OR {fr_in} OR {dn_in} OR {done} IS NULL "
                  f"OR (k.opened_at < ? AND {done} >= ?) OR (k.opened_at < ? AND {done} >= ?))",
                  [hi] + op_args + fr_args + dn_args + [ctx.cur.asof] * 2 + [ctx.prev.asof] * 2)


def _ticket_cols(w: _Window) -> tuple[list[str], list]:
    """The ticket figures of one window over `v` (module doc), 12 columns: new, backlog, first response
    median / p90, resolution median / p90, SLA due, SLA met, CSAT, inconsistent, rated, resolved."""
    fr = "epoch(v.first_response_at - v.opened_at) / 3600.0"
    rs = "epoch(v.done_at - v.opened_at) / 3600.0"
    met = ("(v.first_response_due IS NULL OR v.first_response_at <= v.first_response_due) "
           "AND (v.resolution_due IS NULL OR v.done_at <= v.resolution_due)")
    # a duplicate merged into another ticket has no SLA of its own (core.sla.state_sql: NULL state)
    due = "(v.first_response_due IS NOT NULL OR v.resolution_due IS NOT NULL) AND v.merged_into IS NULL"
    bad = "coalesce(v.done_at < v.first_response_at, FALSE)"  # resolved before the first response
    op, a = _w("v.opened_at", w)
    fa, _ = _w("v.first_response_at", w)
    dn, _ = _w("v.done_at", w)
    fa_ok, dn_ok = f"{fa} AND NOT {bad}", f"{dn} AND NOT {bad}"  # the time figures skip them
    cols = [f"count(*) FILTER (WHERE {op})",
            "count(*) FILTER (WHERE v.opened_at < ? AND (v.done_at IS NULL OR v.done_at >= ?))",
            f"quantile_cont({fr}, 0.5) FILTER (WHERE {fa_ok})", f"quantile_cont({fr}, 0.9) FILTER (WHERE {fa_ok})",
            f"quantile_cont({rs}, 0.5) FILTER (WHERE {dn_ok})", f"quantile_cont({rs}, 0.9) FILTER (WHERE {dn_ok})",
            f"count(*) FILTER (WHERE {dn_ok} AND {due})", f"count(*) FILTER (WHERE {dn_ok} AND {due} AND {met})",
            f"avg(v.satisfaction) FILTER (WHERE {dn})", f"count(*) FILTER (WHERE (({fa}) OR ({dn})) AND {bad})",
            f"count(v.satisfaction) FILTER (WHERE {dn})", f"count(*) FILTER (WHERE {dn})"]
    return cols, a + [w.asof, w.asof] + a * 11


def _tickets(ctx: _Ctx) -> dict[str, tuple]:
    u = _ticket_union(ctx)
    if u is None:
        return _none(_TICKET_KEYS)
    cols, args = [], []
    for w in (ctx.cur, ctx.prev):
        c, a = _ticket_cols(w)
        cols += c
        args += a
    r = ctx.con.execute(f"WITH v AS ({u[0]}) SELECT {', '.join(cols)} FROM v", u[1] + args).fetchall()[0]  # sql-ok
    c, p = r[:12], r[12:]
    out = {}
    for i, key in enumerate(("new_tickets", "backlog", "first_response_median_h", "first_response_p90_h",
                             "resolution_median_h", "resolution_p90_h")):
        out[key] = (_f(c[i]) if i >= 2 else c[i], _f(p[i]) if i >= 2 else p[i])
    out["sla_compliance"] = (_ratio(c[7], c[6]), _ratio(p[7], p[6]))
    out["csat"] = (_f(c[8]), _f(p[8]))
    out["tickets_inconsistent"] = (c[9], p[9])
    return out


def tickets_by(con: duckdb.DuckDBPyConnection, actor: Actor, p: Period, filters: Filters | None = None,
               by: str = "agent") -> pl.DataFrame:
    """The ticket figures of the period split by agent (assignee), category or priority, in ONE statement
    with the very expressions, scope and filters of the ticket cards, so the groups add up to the cards
    (counts sum; CSAT is the rated-weighted mean). Columns: grp (agent id / code; None = unassigned /
    uncategorised), new_tickets, backlog, first_response_median_h, first_response_p90_h,
    resolution_median_h, resolution_p90_h, sla_due, sla_met, sla_compliance, csat, tickets_inconsistent,
    rated, resolved. Groups with nothing in the period are left out; no rows without ticket scope."""
    if by not in TICKET_GROUPS:
        raise ValidationError("kpi.unknown", value=str(by)[:40])
    ctx = _Ctx(con, actor, p, filters, "previous")
    names = ("new_tickets", "backlog", "first_response_median_h", "first_response_p90_h", "resolution_median_h",
             "resolution_p90_h", "sla_due", "sla_met", "csat", "tickets_inconsistent", "rated", "resolved")
    kind = pl.Int64 if by == "agent" else pl.String
    schema = {"grp": kind, **{n: (pl.Float64 if n.endswith("_h") or n == "csat" else pl.Int64) for n in names}}
    u = _ticket_union(ctx, f", {TICKET_GROUPS[by]} AS grp")
    if u is None:
        return pl.DataFrame(schema={**schema, "sla_compliance": pl.Float64})
    cols, args = _ticket_cols(ctx.cur)
    sql = (f"WITH v AS ({u[0]}) SELECT v.grp, "  # sql-ok: fixed parts, values bound
           + ", ".join(f"{c} AS {n}" for c, n in zip(cols, names)) + " FROM v GROUP BY v.grp ORDER BY v.grp NULLS LAST")
    df = con.sql(sql, params=u[1] + args).pl().cast(schema)
    df = df.filter((pl.col("new_tickets") + pl.col("backlog") + pl.col("resolved") + pl.col("tickets_inconsistent")
                    + pl.col("sla_due")) > 0)
    return df.with_columns(pl.when(pl.col("sla_due") > 0).then(pl.col("sla_met") / pl.col("sla_due"))
                           .otherwise(None).alias("sla_compliance"))


_CAMPAIGN_KEYS = ("campaign_response_rate", "campaign_roi")


def _campaign_sql(ctx: _Ctx, windows: list[_Window], group: bool) -> tuple[str, list] | None:
    """Per window: members sent, responded, revenue, cost (module doc) of the campaigns in scope; grouped
    by campaign (id, name, channel first) when `group`."""
    u = _union(ctx, "campaign", "campaigns", "g.id, g.name, g.channel, g.cost, g.cost_per_contact", "campaigns",
               "g.deleted_at IS NULL", [])
    if u is None:
        return None
    inside, wargs = ctx.within("m.sent_at", [(w.lo, w.hi) for w in windows] * (2 if len(windows) == 1 else 1))
    cols, args = [], []
    for w in windows:
        cond, a = _w("x.sent_at", w)
        cols += [f"count(*) FILTER (WHERE {cond})", f"count(*) FILTER (WHERE {cond} AND x.responded_at < ?)",
                 f"coalesce(sum(x.revenue) FILTER (WHERE {cond} AND x.converted_at < ?), 0)::DOUBLE",
                 f"sum(x.unit_cost) FILTER (WHERE {cond})::DOUBLE"]
        args += a + a + [w.asof] + a + [w.asof] + a
    head = "x.campaign_id, any_value(x.name) AS name, any_value(x.channel) AS channel, " if group else ""
    tail = " GROUP BY x.campaign_id ORDER BY x.campaign_id" if group else ""
    sql = (f"WITH g AS MATERIALIZED ({u[0]}), "
           # a send's cost: its campaign's cost spread over every member it was sent to (else the cost per contact)
           "n AS (SELECT campaign_id, count(*) AS sent_all FROM campaign_members WHERE sent_at IS NOT NULL "
           "AND campaign_id IN (SELECT id FROM g) GROUP BY campaign_id), "
           "x AS (SELECT m.campaign_id, g.name, g.channel, m.sent_at, m.responded_at, m.converted_at, m.revenue, "
           "coalesce(g.cost / nullif(n.sent_all, 0), g.cost_per_contact) AS unit_cost "
           "FROM campaign_members m JOIN g ON g.id = m.campaign_id LEFT JOIN n ON n.campaign_id = m.campaign_id "
           f"WHERE {inside}) "
           f"SELECT {head}{', '.join(cols)} FROM x{tail}")
    return sql, u[1] + wargs + args


def _roi(revenue, cost) -> float | None:
    return None if not cost else (float(revenue) - float(cost)) / float(cost)


def _campaigns(ctx: _Ctx) -> dict[str, tuple]:
    got = _campaign_sql(ctx, [ctx.cur, ctx.prev], False)
    if got is None:
        return _none(_CAMPAIGN_KEYS)
    r = ctx.con.execute(*got).fetchall()[0]
    c, p = r[:4], r[4:]
    return {"campaign_response_rate": (_ratio(c[1], c[0]), _ratio(p[1], p[0])),
            "campaign_roi": (_roi(c[2], c[3]), _roi(p[2], p[3]))}


def campaign_results(con: duckdb.DuckDBPyConnection, actor: Actor, p: Period,
                     filters: Filters | None = None) -> pl.DataFrame:
    """Each campaign's part of the campaign KPIs over the period (the same statement grouped by campaign,
    so the rows add up to the cards): campaign_id, name, channel, sent, responded, response_rate,
    revenue, cost, roi. Campaigns that sent nothing in the period are left out."""
    ctx = _Ctx(con, actor, p, filters, "previous")
    schema = {"campaign_id": pl.Int64, "name": pl.String, "channel": pl.String, "sent": pl.Int64,
              "responded": pl.Int64, "revenue": pl.Float64, "cost": pl.Float64}
    got = _campaign_sql(ctx, [ctx.cur], True)
    df = pl.DataFrame(schema=schema) if got is None else \
        pl.DataFrame(ctx.con.execute(*got).fetchall(), schema=schema, orient="row")
    df = df.filter(pl.col("sent") > 0)
    return df.with_columns((pl.col("responded") / pl.col("sent")).alias("response_rate"),
                           pl.when(pl.col("cost") > 0).then((pl.col("revenue") - pl.col("cost")) / pl.col("cost"))
                           .otherwise(None).alias("roi")).select(
        ["campaign_id", "name", "channel", "sent", "responded", "response_rate", "revenue", "cost", "roi"])


def _feedback(ctx: _Ctx) -> dict[str, tuple]:
    inside, wargs = ctx.within("f.created_at")
    u = _union(ctx, "feedback", "feedback", "f.score, f.created_at", "feedback",
               f"f.deleted_at IS NULL AND f.kind = 'nps' AND f.score IS NOT NULL AND {inside}", wargs)
    if u is None:
        return _none(("nps",))
    cols, args = [], []
    for w in (ctx.cur, ctx.prev):
        cond, a = _w("created_at", w)
        cols += [f"count(*) FILTER (WHERE {cond})", f"count(*) FILTER (WHERE {cond} AND score >= 9)",
                 f"count(*) FILTER (WHERE {cond} AND score <= 6)"]
        args += a * 3
    r = ctx.con.execute(f"WITH v AS ({u[0]}) SELECT {', '.join(cols)} FROM v", u[1] + args).fetchall()[0]  # sql-ok

    def nps(n, pro, det):
        return None if not n else (pro - det) * 100.0 / n
    return {"nps": (nps(*r[:3]), nps(*r[3:]))}


def _targets(ctx: _Ctx) -> dict[str, tuple]:
    """Won amount / won_amount target for the view's subject (module doc), through core.targets."""
    con, actor, f = ctx.con, ctx.actor, ctx.filters
    if f.given() - {"team_id", "owner_id"} or ctx.scope("deals") == "none":
        return _none(("target_attainment",))
    scope = ctx.scope("deals")
    users: list[int] = []
    trees: dict[int, tuple[int, ...]] = {}
    if f.owner_id is not None:
        if f.owner_id not in {p["id"] for p in targets.visible_people(con, actor, "view")}:
            return _none(("target_attainment",))
        users = [f.owner_id]
    elif f.team_id is not None:
        if f.team_id not in {t["id"] for t in targets.visible_teams(con, actor, "view")}:
            return _none(("target_attainment",))
        trees = {f.team_id: tuple(ctx.subtree({f.team_id}))}
    elif scope == "own":
        users = [actor.id]
    elif scope == "all":
        trees = {t["id"]: tuple(ctx.subtree({t["id"]})) for t in ctx.teams() if t["parent_id"] is None}
    elif actor.team_id is not None:
        trees = {actor.team_id: tuple(ctx.subtree({actor.team_id}))}
    wins = [(ctx.cur.start, ctx.cur.end), (ctx.prev.start, ctx.prev.end)]
    goals = targets.target_values(con, "won_amount", wins, users, list(trees))
    subjects = [("user", u) for u in users] + [("team", t) for t in trees]
    with_goal = [[s for s in subjects if goals.get((s[0], s[1], i))] for i in range(len(wins))]
    if not any(with_goal):
        return _none(("target_attainment",))
    # the won amount of the subjects with a target (core.targets.actuals' won_amount: won deals closed in
    # the window, in the viewer's scope, owned by the rep or of a team in the team's tree), both windows in
    # one statement (actuals would also count customers and follow-ups: three statements a window)
    u = _union(ctx, "deal", "deals", "d.owner_id, d.team_id, d.amount, d.closed_on", "deals",
               "d.deleted_at IS NULL AND d.closed_on BETWEEN ? AND ? "
               "AND d.stage IN (SELECT code FROM pipeline_stages WHERE is_won)",
               [min(w[0] for w in wins), max(w[1] for w in wins)])
    cols, args = [], []
    for (start, end), got in zip(wins, with_goal):
        people = [sid for kind, sid in got if kind == "user"]
        teams = sorted({t for kind, sid in got if kind == "team" for t in trees[sid]})
        cols.append("coalesce(sum(amount) FILTER (WHERE closed_on BETWEEN ? AND ? AND (owner_id IN "
                    "(SELECT unnest(?::BIGINT[])) OR team_id IN (SELECT unnest(?::BIGINT[])))), 0)::DOUBLE")
        args += [start, end, people, teams]
    r = con.execute(f"WITH v AS ({u[0]}) SELECT {', '.join(cols)} FROM v", u[1] + args).fetchall()[0]  # sql-ok
    out = [r[i] / sum(goals[(k, sid, i)] for k, sid in got) if got else None for i, got in enumerate(with_goal)]
    return {"target_attainment": (out[0], out[1])}


_FAMILIES: dict[str, Callable[[_Ctx], dict[str, tuple]]] = {
    "leads": _leads, "customers": _customers, "activities": _activities, "deals": _deals, "orders": _orders,
    "targets": _targets, "tickets": _tickets, "feedback": _feedback, "campaigns": _campaigns,
}


# ---------------------------------------------------------------------------------------- the registry
def _kpi(key, unit, delta_kind, lower, family, snapshot=False) -> KPI:
    return KPI(key, f"kpi.{key}", unit, delta_kind, lower, family, snapshot)


_DEFS = [
    _kpi("new_leads", "count", "pct", False, "leads"),
    _kpi("lead_conversion", "ratio", "abs", False, "leads"),
    _kpi("new_customers", "count", "pct", False, "customers"),
    _kpi("customer_conversion", "ratio", "abs", False, "customers"),
    _kpi("win_rate", "ratio", "abs", False, "deals"),
    _kpi("won_revenue", "money", "pct", False, "deals"),
    _kpi("won_deals", "count", "pct", False, "deals"),
    _kpi("avg_deal_size", "money", "abs", False, "deals"),
    _kpi("cycle_median_days", "days", "abs", True, "deals"),
    _kpi("cycle_mean_days", "days", "abs", True, "deals"),
    _kpi("open_pipeline", "money", "pct", False, "deals"),
    _kpi("weighted_pipeline", "money", "pct", False, "deals"),
    _kpi("followups", "count", "pct", False, "activities"),
    _kpi("followups_per_rep", "count", "abs", False, "activities"),
    _kpi("followup_coverage", "ratio", "abs", False, "customers"),
    _kpi("overdue_followups", "count", "pct", True, "customers", snapshot=True),
] + [_kpi(f"forgotten_{n}", "count", "pct", True, "customers", snapshot=True) for n in FORGOTTEN_DAYS] + [
    _kpi("forgotten_never", "count", "pct", True, "customers", snapshot=True),
    _kpi("order_revenue", "money", "pct", False, "orders"),
    _kpi("repeat_purchase_rate", "ratio", "abs", False, "orders"),
    _kpi("target_attainment", "ratio", "abs", False, "targets"),
    _kpi("new_tickets", "count", "pct", True, "tickets"),
    _kpi("backlog", "count", "pct", True, "tickets"),
    _kpi("first_response_median_h", "hours", "abs", True, "tickets"),
    _kpi("first_response_p90_h", "hours", "abs", True, "tickets"),
    _kpi("resolution_median_h", "hours", "abs", True, "tickets"),
    _kpi("resolution_p90_h", "hours", "abs", True, "tickets"),
    _kpi("sla_compliance", "ratio", "abs", False, "tickets"),
    _kpi("csat", "score", "abs", False, "tickets"),
    _kpi("tickets_inconsistent", "count", "pct", True, "tickets"),
    _kpi("nps", "points", "abs", False, "feedback"),
    _kpi("campaign_response_rate", "ratio", "abs", False, "campaigns"),
    _kpi("campaign_roi", "ratio", "abs", False, "campaigns"),
]


def _figure(ctx: _Ctx, kpi: KPI) -> Figure:
    if kpi.family not in ctx.done:
        ctx.done[kpi.family] = _FAMILIES[kpi.family](ctx)
    value, previous = ctx.done[kpi.family][kpi.key]
    value = None if value is None else float(value)
    previous = None if previous is None or kpi.snapshot else float(previous)
    return Figure(kpi.key, kpi.label_key, kpi.unit, kpi.lower_is_better, value, previous,
                  delta(value, previous, kpi.delta), kpi.delta, ctx.period, None if kpi.snapshot else ctx.compared)


def _one(key: str):
    def fn(con: duckdb.DuckDBPyConnection, actor: Actor, p: Period, filters: Filters | None = None,
           compare: str = "previous") -> Figure:
        return _figure(_Ctx(con, actor, p, filters, compare), REGISTRY[key])
    fn.__name__ = key
    fn.__doc__ = f"The `{key}` figure (module doc) over the period, beside the comparison period."
    return fn


REGISTRY: dict[str, KPI] = {k.key: dataclasses.replace(k, fn=_one(k.key)) for k in _DEFS}
KEYS = tuple(REGISTRY)
# each KPI is a module-level function too: metrics.win_rate(con, actor, period, filters, compare)
globals().update({k: v.fn for k, v in REGISTRY.items()})


def compute(con: duckdb.DuckDBPyConnection, actor: Actor, p: Period, filters: Filters | None = None,
            compare: str = "previous", keys: tuple[str, ...] | list[str] | None = None) -> list[Figure]:
    """Several KPIs at once (every one by default), each family's statement run once for all its KPIs."""
    unknown = [k for k in (keys or ()) if k not in REGISTRY]
    if unknown:
        raise ValidationError("kpi.unknown", value=str(unknown[0])[:40])
    ctx = _Ctx(con, actor, p, filters, compare)
    return [_figure(ctx, REGISTRY[k]) for k in (keys or KEYS)]


def frame(figures: list[Figure]) -> pl.DataFrame:
    """Figures as a Polars frame: key, label_key, unit, lower_is_better, value, previous, delta, delta_kind."""
    schema = {"key": pl.String, "label_key": pl.String, "unit": pl.String, "lower_is_better": pl.Boolean,
              "value": pl.Float64, "previous": pl.Float64, "delta": pl.Float64, "delta_kind": pl.String}
    return pl.DataFrame([{k: getattr(f, k) for k in schema} for f in figures], schema=schema)
