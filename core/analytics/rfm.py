"""RFM segmentation (客户细分, issue 12 point 1): recency, frequency and monetary value of each customer from
the orders, scored and named.

What counts (the revenue of core.orders, over a window):
- The window is the company days (asof - months, asof]: from the day after the same day `months` months
  earlier (the 31st becomes the month's last day) to the as-of day, both in the company's time zone
  (core.clock). Default as-of day: the company's today; default months: setting analytics.rfm_window_months.
- Purchases: live orders (`deleted_at IS NULL`) with status confirmed and amount > 0. Drafts, our own
  cancelled and refunded orders (positive amount: they simply stopped counting) never count.
- Credit notes: imported cancellations and refunds (status cancelled / refunded with a NEGATIVE amount,
  e.g. the retail "C..." invoices) dated in the window are subtracted from the customer's monetary value;
  they are not purchases (they change neither frequency nor recency).
- Customers: live customers the actor may view (access.branches on customers/view: a rep's own customers
  and the own team's pool, a manager's team tree, ...); every order of such a customer counts, whoever
  owns the order. A customer with no purchase in the window has no scores (movement calls it "none").

Measures: recency_days = as-of day minus the company day of the last purchase (0 = bought on the as-of
day); frequency = number of purchases; monetary = purchases minus credit notes (may be <= 0).

Scoring (setting analytics.rfm_method, or `method`):
- quartile (k = 4) / quintile (k = 5): over the N customers scored for the actor, a customer's score is
      1 + floor(k * w / N)
  where w = the number of customers with a strictly WORSE value (recency: more days; frequency, monetary:
  less). TIE-BREAK: equal values always get equal scores (the score comes from the rank of the lowest of
  the equal values, SQL `rank()`), so a score may hold more or fewer than N / k customers and no order of
  ids or names ever decides a score. The best value gets k only if fewer than N / k customers share it.
- bands: the admin's fixed bands (table rfm_bands, `bands` / `set_bands`): per metric, scores 1..k (the
  same k for the three metrics, 2..5), each a range [low, high) (high NULL = no upper bound); recency bands
  are in days (give the HIGHEST score to the fewest days). A value on a bound belongs to the band starting
  there; a value in no band scores 1.

Segments from the scores (the common R x FM grid). With R = r and FM = (f + m) / 2, both placed on 0..1 as
r' = (R - 1) / (k - 1) and fm' = (FM - 1) / (k - 1), the first rule that matches names the customer:
    champions            r' >= 3/4  and fm' >= 3/4     quintiles: R 4-5, FM >= 4
    loyal                r' >= 1/2  and fm' >= 1/2     R 3-5, FM >= 3 (not champions)
    new                  r' >= 3/4  and fm' <  1/4     R 4-5, FM < 2 (recent, one small order)
    potential_loyalists  r' >= 1/2                     R 3-5, the rest (FM 2-2.5 at R 4-5, FM < 3 at R 3)
    cant_lose            fm' >= 3/4                    R 1-2, FM >= 4 (they were the best)
    at_risk              fm' >= 1/2                    R 1-2, FM 3-3.5
    hibernating          r' >= 1/4                     R 2, FM < 3
    lost                 the rest                      R 1, FM < 3
(quartiles: champions R 4 and FM >= 3.5; loyal R >= 3 and FM >= 2.5; new R 4 and FM <= 1.5; hibernating
R 2; lost R 1.) Computed in integers: 4(R-1) >= t(k-1) and 2(F+M-2) >= t(k-1) for t/4.

Set-based SQL in DuckDB (one statement); `scores_sql` is the SELECT segments and reports build on.
"""
from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, db, settings
from core.context import Actor
from core.errors import ValidationError

SEGMENTS = ("champions", "loyal", "potential_loyalists", "new", "at_risk", "cant_lose", "hibernating", "lost")
METHODS = ("quartile", "quintile", "bands")
METRICS = ("recency", "frequency", "monetary")
NONE = "none"               # movement: no purchase in that window
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_MONTHS = 120

PURCHASE = "o.status = 'confirmed' AND o.amount > 0"
CREDIT = "o.status IN ('cancelled', 'refunded') AND o.amount < 0"


# ---------------------------------------------------------------------------------------- inputs
def months_back(day: dt.date, months: int) -> dt.date:
    """The same day `months` months earlier (the 31st becomes the month's last day)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    return dt.date(y, m, min(day.day, calendar.monthrange(y, m)[1]))


def _day(value: Any, field: str = "rfm.asof") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        d = dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValidationError("field.bad_date", field=field, min=1990, max=2099) from None
    if not dt.date(1990, 1, 1) <= d < dt.date(2100, 1, 1):
        raise ValidationError("field.bad_date", field=field, min=1990, max=2099)
    return d


def _inputs(con, actor: Actor, asof, months, method) -> tuple[dt.date, int, str]:
    asof = clock.local_today(con, actor.now) if asof is None else _day(asof)
    if months is None:
        months = settings.get(con, "analytics.rfm_window_months")
    try:
        months = int(months)
    except (TypeError, ValueError):
        raise ValidationError("rfm.bad_months", max=MAX_MONTHS) from None
    if not 1 <= months <= MAX_MONTHS:
        raise ValidationError("rfm.bad_months", max=MAX_MONTHS)
    method = method or settings.get(con, "analytics.rfm_method")
    if method not in METHODS:
        raise ValidationError("rfm.bad_method")
    return asof, months, method


def window_days(asof: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """The company days of the window (asof - months, asof], both included: (first day, as-of day)."""
    return months_back(asof, months) + dt.timedelta(days=1), asof


def window(con, asof: dt.date, months: int) -> tuple[dt.datetime, dt.datetime]:
    """The window (asof - months, asof] as the naive UTC range [lo, hi)."""
    first, _ = window_days(asof, months)
    return clock.day_bounds_utc(con, first)[0], clock.day_bounds_utc(con, asof)[1]


# ---------------------------------------------------------------------------------------- scoring SQL
def _segment_case(k: str) -> str:
    """The segment map (module doc) over integer scores r, f, m and the scale k (SQL text or a number)."""
    r4, fm2, kk = "4 * (r - 1)", "2 * (f + m - 2)", f"({k} - 1)"
    return (f"CASE WHEN {r4} >= 3 * {kk} AND {fm2} >= 3 * {kk} THEN 'champions' "
            f"WHEN {r4} >= 2 * {kk} AND {fm2} >= 2 * {kk} THEN 'loyal' "
            f"WHEN {r4} >= 3 * {kk} AND {fm2} < {kk} THEN 'new' "
            f"WHEN {r4} >= 2 * {kk} THEN 'potential_loyalists' "
            f"WHEN {fm2} >= 3 * {kk} THEN 'cant_lose' "
            f"WHEN {fm2} >= 2 * {kk} THEN 'at_risk' "
            f"WHEN {r4} >= {kk} THEN 'hibernating' "
            "ELSE 'lost' END")


def _band_case(col: str, rows: list[dict]) -> tuple[str, list]:
    parts, args = [], []
    for b in sorted(rows, key=lambda b: b["score"]):
        if b["high"] is None:
            parts.append(f"WHEN {col} >= ? THEN {int(b['score'])}")
            args.append(float(b["low"]))
        else:
            parts.append(f"WHEN {col} >= ? AND {col} < ? THEN {int(b['score'])}")
            args += [float(b["low"]), float(b["high"])]
    return f"CASE {' '.join(parts)} ELSE 1 END", args


def scores_sql(con: duckdb.DuckDBPyConnection, actor: Actor, asof: dt.date, months: int,
               method: str) -> tuple[str, list]:
    """A SELECT (and its parameters) yielding one row per customer scored for `actor`: customer_id,
    recency_days, frequency, monetary (DOUBLE), r, f, m, segment. PermissionDenied without customers/view."""
    asof, months, method = _inputs(con, actor, asof, months, method)
    branches = access.branches(con, actor, "customers", "view", "c")
    lo, hi = window(con, asof, months)
    tz = clock.zone(con).key
    if branches == [("TRUE", [])]:
        cust, cargs = "SELECT c.id FROM customers c WHERE c.deleted_at IS NULL", []
    else:
        cust = " UNION ALL ".join(f"SELECT c.id FROM customers c WHERE c.deleted_at IS NULL AND {cond}"
                                  for cond, _ in branches)
        cargs = [a for _, bargs in branches for a in bargs]
    base = (
        f"WITH rfm_o AS (SELECT o.customer_id, o.amount, {PURCHASE} AS buy, o.ordered_at "
        f"FROM orders o WHERE o.deleted_at IS NULL AND o.ordered_at >= ? AND o.ordered_at < ? "
        f"AND (({PURCHASE}) OR ({CREDIT})) AND o.customer_id IN ({cust})), "
        "rfm_a AS (SELECT customer_id, max(ordered_at) FILTER (WHERE buy) AS last_at, "
        "count(*) FILTER (WHERE buy) AS frequency, sum(amount)::DOUBLE AS monetary FROM rfm_o GROUP BY customer_id), "
        "rfm_b AS (SELECT customer_id, date_diff('day', timezone(?, timezone('UTC', last_at))::DATE, ?::DATE) "
        "AS recency_days, frequency, monetary FROM rfm_a WHERE frequency > 0), ")
    args: list = [lo, hi] + cargs + [tz, asof]
    if method == "bands":
        rows = bands(con)
        k = _bands_scale(rows)
        scored, sargs = [], []
        for metric, col in (("recency", "recency_days"), ("frequency", "frequency"), ("monetary", "monetary")):
            case, cargs2 = _band_case(col, [b for b in rows if b["metric"] == metric])
            scored.append(f"{case} AS {metric[0]}")
            sargs += cargs2
        scores = f"rfm_s AS (SELECT *, {', '.join(scored)} FROM rfm_b) "
        args += sargs
    else:
        k = 4 if method == "quartile" else 5
        q = (lambda order: f"(1 + floor({k} * (rank() OVER (ORDER BY {order}) - 1) / count(*) OVER ()))::INTEGER")
        scores = (f"rfm_s AS (SELECT *, {q('recency_days DESC')} AS r, {q('frequency')} AS f, "
                  f"{q('monetary')} AS m FROM rfm_b) ")
    sql = (base + scores + "SELECT customer_id, recency_days, frequency, monetary, r, f, m, "
           f"{_segment_case(str(k))} AS segment FROM rfm_s")
    return sql, args


# ---------------------------------------------------------------------------------------- results
def _check(con, actor: Actor) -> None:
    access.require(con, actor, "analytics", "view")


def summary(con: duckdb.DuckDBPyConnection, actor: Actor, asof=None, months=None, method=None) -> pl.DataFrame:
    """One row per segment (SEGMENTS order, empty segments too): segment, customers, share (of the
    customers scored, 0..1), revenue (sum of monetary), avg_order_value (revenue / purchases), mean_recency,
    mean_frequency, mean_monetary (None for an empty segment)."""
    _check(con, actor)
    asof, months, method = _inputs(con, actor, asof, months, method)
    sql, args = scores_sql(con, actor, asof, months, method)
    got = con.sql(
        f"WITH s AS ({sql}), g AS (SELECT segment, count(*) AS customers, sum(monetary) AS revenue, "
        "sum(frequency) AS purchases, avg(recency_days) AS mean_recency, avg(frequency) AS mean_frequency, "
        "avg(monetary) AS mean_monetary FROM s GROUP BY segment), "
        "seg AS (SELECT unnest(?::VARCHAR[]) AS segment, generate_subscripts(?::VARCHAR[], 1) AS pos) "
        "SELECT seg.segment, coalesce(g.customers, 0)::BIGINT AS customers, "
        "coalesce(g.customers / nullif(sum(g.customers) OVER (), 0), 0)::DOUBLE AS share, "
        "coalesce(g.revenue, 0)::DOUBLE AS revenue, (g.revenue / nullif(g.purchases, 0))::DOUBLE AS avg_order_value, "
        "g.mean_recency::DOUBLE AS mean_recency, g.mean_frequency::DOUBLE AS mean_frequency, "
        "g.mean_monetary::DOUBLE AS mean_monetary FROM seg LEFT JOIN g USING (segment) ORDER BY seg.pos",
        params=args + [list(SEGMENTS), list(SEGMENTS)]).pl()
    return got


def scores(con: duckdb.DuckDBPyConnection, actor: Actor, asof=None, months=None, method=None,
           segment: str | None = None, page: int = 1, page_size: int = PAGE_SIZE) -> tuple[pl.DataFrame, int]:
    """The scored customers (drill-down: one segment's when `segment` is given), a page at a time, best
    monetary first (ties by customer id): customer_id, name, owner_id, owner_name, team_id, recency_days,
    frequency, monetary, r, f, m, segment; and the total count."""
    _check(con, actor)
    asof, months, method = _inputs(con, actor, asof, months, method)
    if segment is not None and segment not in SEGMENTS:
        raise ValidationError("rfm.bad_segment")
    try:
        page, page_size = max(1, int(page)), min(MAX_PAGE_SIZE, max(1, int(page_size)))
    except (TypeError, ValueError):
        raise ValidationError("error.invalid_value", value=str(page)[:20]) from None
    sql, args = scores_sql(con, actor, asof, months, method)
    where, wargs = ("WHERE s.segment = ?", [segment]) if segment else ("", [])
    # one statement: the page and the total (count(*) OVER () before the LIMIT); a page past the end has
    # no row to carry the total, so only then is it counted apart
    frame = con.sql(
        f"WITH s AS ({sql}), p AS (SELECT *, count(*) OVER () AS total FROM s {where} "
        "ORDER BY monetary DESC, customer_id LIMIT ? OFFSET ?) "
        "SELECT p.customer_id, c.name, c.owner_id, u.name AS owner_name, c.team_id, p.recency_days, p.frequency, "
        "p.monetary, p.r, p.f, p.m, p.segment, p.total FROM p JOIN customers c ON c.id = p.customer_id "
        "LEFT JOIN users u ON u.id = c.owner_id ORDER BY p.monetary DESC, p.customer_id",
        params=args + wargs + [page_size, (page - 1) * page_size]).pl()
    if frame.height:
        total = int(frame["total"][0])
    else:
        total = int(db.scalar(con, f"WITH s AS ({sql}) SELECT count(*) FROM s {where}", args + wargs) or 0)
    frame = frame.drop("total")
    try:
        from core import pool_mask  # issue 10: fields a pool hides from the actor (name ...) are masked
    except ImportError:  # pragma: no cover - until that module is committed
        pool_mask = None
    if pool_mask is not None:
        frame = pool_mask.mask_frame(con, actor, frame)
    return frame, total


def movement(con: duckdb.DuckDBPyConnection, actor: Actor, asof_from, asof_to, months=None,
             method=None) -> pl.DataFrame:
    """From each as-of day's segment to the other's: from_segment, to_segment, customers (a customer with
    no purchase in a window is "none" there; customers in neither are left out). Each as-of day is scored
    over its own window and its own population."""
    _check(con, actor)
    a_from, months, method = _inputs(con, actor, asof_from, months, method)
    a_to = _day(asof_to)
    s1, a1 = scores_sql(con, actor, a_from, months, method)
    s2, a2 = scores_sql(con, actor, a_to, months, method)
    return con.sql(
        f"WITH x AS ({s1}), y AS ({s2}) SELECT coalesce(x.segment, '{NONE}') AS from_segment, "
        f"coalesce(y.segment, '{NONE}') AS to_segment, count(*)::BIGINT AS customers "
        "FROM x FULL OUTER JOIN y ON x.customer_id = y.customer_id GROUP BY ALL ORDER BY 1, 2",
        params=a1 + a2).pl()


# ---------------------------------------------------------------------------------------- bands
def bands(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The admin's fixed bands: metric, score, low, high (None = no upper bound)."""
    return db.rows(con, "SELECT metric, score, low, high FROM rfm_bands ORDER BY metric, score")


def _bands_scale(rows: list[dict]) -> int:
    """k of a valid band set (every metric scores 1..k); ValidationError when there is none."""
    per = {m: sorted(int(b["score"]) for b in rows if b["metric"] == m) for m in METRICS}
    ks = {len(v) for v in per.values()}
    if (len(ks) != 1 or not 2 <= next(iter(ks)) <= 5 or any(v != list(range(1, len(v) + 1)) for v in per.values())
            or any(b["low"] is None for b in rows)):
        raise ValidationError("rfm.no_bands")
    return ks.pop()


def _clean_bands(rows: list[dict]) -> list[dict]:
    out = []
    for b in rows:
        try:
            metric, score = str(b["metric"]), int(b["score"])
            low = float(b["low"])
            high = None if b.get("high") in (None, "") else float(b["high"])
        except (KeyError, TypeError, ValueError):
            raise ValidationError("rfm.bad_bands") from None
        if metric not in METRICS or not 1 <= score <= 5 or low < 0 or (high is not None and high <= low):
            raise ValidationError("rfm.bad_bands")
        out.append({"metric": metric, "score": score, "low": low, "high": high})
    try:
        _bands_scale(out)
    except ValidationError:
        raise ValidationError("rfm.bad_bands") from None
    for metric in METRICS:  # the ranges of one metric may not overlap
        spans = sorted((b["low"], b["high"]) for b in out if b["metric"] == metric)
        for (lo1, hi1), (lo2, _hi2) in zip(spans, spans[1:]):
            if hi1 is None or hi1 > lo2:
                raise ValidationError("rfm.bad_bands")
    return out


def set_bands(con: duckdb.DuckDBPyConnection, actor: Actor, rows: list[dict]) -> list[dict]:
    """Replace the fixed bands (admin: settings/edit). rows: {metric, score, low, high}; each metric scores
    1..k with the same k (2..5), ranges [low, high) that do not overlap. Audited."""
    access.require(con, actor, "settings", "edit")
    new = _clean_bands(rows)

    def work():
        old = bands(con)
        con.execute("DELETE FROM rfm_bands")
        con.execute("INSERT INTO rfm_bands (metric, score, low, high) SELECT unnest(?), unnest(?), unnest(?), "
                    "unnest(?::DOUBLE[])", [[b["metric"] for b in new], [b["score"] for b in new],
                                            [b["low"] for b in new], [b["high"] for b in new]])
        text = lambda rs: "; ".join(  # noqa: E731
            f"{b['metric']} {b['score']}: {b['low']:g}-{'' if b['high'] is None else format(b['high'], 'g')}"
            for b in rs)
        audit.record(con, actor, "update", "rfm_bands", None, {"bands": (text(old) or None, text(new))})
        return bands(con)

    return db.write(con, work)
