"""The pipeline board (销售漏斗看板) and the list of deals: both under the viewer's scope, both fast at
half a million deals.

The board shows one column per stage of one pipeline: the number of deals and the sum of their amounts
on top, the first `per_column` cards below. Counts, sums and cards come from ONE statement: the visible
(id, stage, amount, sort keys) rows are gathered once, with the scope as disjoint UNION ALL branches
(core.access.branches), then grouped for the counts and numbered per stage (row_number) for the cards;
only the cards' rows are read in full and joined to customers and owners.

Closed columns. A company that has worked for a few years holds 100,000+ won and lost deals; a won
column of all of them is neither readable nor fast. The won and lost columns (and their counts and sums)
therefore hold only the deals closed in a window: the last `closed_days` days (default 30) or, when
given, the period `closed_from` .. `closed_to` (both inclusive, company days). `closed_days = 0` shows
the closed columns empty. The open columns always hold every open deal. The list view has no window:
it pages through everything.

Warnings on a card (open deals only): `overdue` when the expected close date is before the company's
today; `stale` when nothing was logged on the deal for `pipeline.stale_days` days (default 14): the last
activity (deals.last_activity_at, or when it entered its stage, or when it was created) is older.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb
import polars as pl

from core import access, clock, db, fields, forecast, listing, pipelines
from core.context import Actor
from core.errors import ValidationError

STALE_DAYS = 14                  # until the setting pipeline.stale_days exists
CLOSED_DAYS = 30                 # the board's default window for the won and lost columns
MAX_PER_COLUMN = 100
MAX_AMOUNT = 1e13

# when the deal last moved: the last follow-up logged on it, else when it entered its stage, else created
LAST_TOUCH = "coalesce(x.last_activity_at, x.stage_changed_at, x.created_at)"

# the board's card order in the open columns (closed columns: most recently closed first)
BOARD_SORTS: dict[str, tuple[str, bool]] = {
    "expected_close": ("x.expected_close", False),    # soonest close first
    "amount": ("x.amount", True),                     # largest first
    "days_in_stage": ("x.stage_changed_at", False),   # longest in the stage first
    "last_activity": (LAST_TOUCH, False),             # longest untouched first
    "updated_at": ("x.updated_at", True),
}

LIST = listing.ListSpec(
    module="deals", table="deals",
    columns="x.id, x.name, x.customer_id, x.amount::DOUBLE AS amount, x.currency, "
            "x.pipeline_id, x.stage, x.probability, x.expected_close, x.closed_on, x.source, x.owner_id, "
            "o.name AS owner_name, x.team_id, t.name AS team_name, x.stage_changed_at, "
            f"{LAST_TOUCH} AS last_activity_at, x.created_at, x.updated_at",
    # the customer's name is read by id afterwards (_names): a join here would scan a million customers
    joins="LEFT JOIN users o ON o.id = x.owner_id LEFT JOIN teams t ON t.id = x.team_id",
    sorts={**{s: (f"x.{s}", "") for s in ("updated_at", "created_at", "name", "amount", "expected_close",
                                           "closed_on", "stage", "probability")},
           "days_in_stage": ("x.stage_changed_at", ""),
           "last_activity_at": (LAST_TOUCH, ""),
           "owner_name": ("o.name", "LEFT JOIN users o ON o.id = x.owner_id")},
)
SORTS = tuple(LIST.sorts)
STATUSES = ("open", "won", "lost")

_LIST_KEYS = {"q", "owner", "team", "stage", "pipeline", "close_month", "amount_min", "amount_max", "source",
              "stale", "overdue", "status"}
_BOARD_KEYS = (_LIST_KEYS - {"stage", "pipeline", "status"}) | {"closed_days", "closed_from", "closed_to"}
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


# ------------------------------------------------------------------------------------------ helpers
def stale_days(con: duckdb.DuckDBPyConnection) -> int:
    """The setting pipeline.stale_days (days without a logged follow-up before a deal is stale)."""
    from core import settings

    try:
        value = settings.get(con, "pipeline.stale_days")
    except KeyError:  # the setting is added with the deal services
        return STALE_DAYS
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else STALE_DAYS


def _today(con, actor: Actor) -> dt.date:
    return clock.local_today(con, actor.now)


def _ints(value: Any) -> list[int]:
    items = list(value) if isinstance(value, (list, tuple, set)) else [value]
    if not items or len(items) > 1000 or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise ValidationError("list.bad_filter")
    return items


def _codes(value: Any) -> list[str]:
    items = list(value) if isinstance(value, (list, tuple, set)) else [value]
    if len(items) > 1000 or not all(isinstance(v, str) and len(v) <= 60 for v in items):
        raise ValidationError("list.bad_filter")
    return [fields.search_text(v) for v in items]


def _amount(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_AMOUNT:
        raise ValidationError("board.bad_amount", max=f"{MAX_AMOUNT:,.0f}")
    return float(value)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError("list.bad_filter")


def _month(value: Any) -> tuple[dt.date, dt.date]:
    """A close month ("YYYY-MM" or any date in it) -> [first day, first day of the next month)."""
    if isinstance(value, str) and (m := _MONTH.fullmatch(value.strip())) and 1 <= int(m.group(2)) <= 12:
        first = dt.date(int(m.group(1)), int(m.group(2)), 1)
    elif isinstance(value, dt.date):
        first = value.replace(day=1)
    else:
        raise ValidationError("list.bad_filter")
    if not 1900 < first.year < 9999:
        raise ValidationError("list.bad_filter")
    return first, (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _subtree(con, team_id: int) -> list[int]:
    """A team and every team below it (a manager filtering on "East" means East and East - Shanghai)."""
    return [r[0] for r in con.execute(
        "WITH RECURSIVE t AS (SELECT id FROM teams WHERE id = ? UNION ALL "
        "SELECT c.id FROM teams c JOIN t ON c.parent_id = t.id) SELECT id FROM t", [team_id]).fetchall()] or [team_id]


def _marks(items: list) -> str:
    return ", ".join("?" for _ in items)


def _filters(con, actor: Actor, given: Any, allowed: set[str]) -> tuple[list[str], list]:
    """The user's filters as plain AND clauses on alias x, every value checked and bound."""
    if given is None:
        return [], []
    if not isinstance(given, dict) or not set(given) <= allowed:
        raise ValidationError("list.bad_filter")
    where, args = [], []
    q = given.get("q")
    if q not in (None, ""):
        q = fields.search_text(q)
        if q:  # the deal's title; deals carry the customer's name in their title by default
            like = "ILIKE" if q.lower() != q.upper() else "LIKE"
            if any(ch in q for ch in "%_\\"):  # "50%" means the text 50%, not 50 then anything
                where.append(f"x.name {like} ? ESCAPE '\\'")
                args.append("%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
            else:  # without ESCAPE DuckDB runs it as a plain substring search (faster at scale L)
                where.append(f"x.name {like} ?")
                args.append(f"%{q}%")
    if given.get("owner") not in (None, [], ()):
        owners = _ints(given["owner"])
        where.append(f"x.owner_id IN ({_marks(owners)})")
        args += owners
    if given.get("team") is not None:
        teams = [t for team in _ints(given["team"]) for t in _subtree(con, team)]
        where.append(f"x.team_id IN ({_marks(teams)})")
        args += teams
    for key, col in (("stage", "stage"), ("source", "source")):
        if given.get(key) not in (None, "", [], ()):
            items = _codes(given[key])
            where.append(f"x.{col} IN ({_marks(items)})")
            args += items
    if given.get("pipeline") is not None:
        pipeline = given["pipeline"]
        if isinstance(pipeline, bool) or not isinstance(pipeline, int):
            raise ValidationError("list.bad_filter")
        where.append("x.pipeline_id = ?")
        args.append(pipeline)
    if given.get("close_month") not in (None, ""):
        first, after = _month(given["close_month"])
        where.append("coalesce(x.closed_on, x.expected_close) >= ? AND coalesce(x.closed_on, x.expected_close) < ?")
        args += [first, after]
    lo, hi = given.get("amount_min"), given.get("amount_max")
    if lo is not None:
        where.append("x.amount >= ?")
        args.append(_amount(lo))
    if hi is not None:
        where.append("x.amount <= ?")
        args.append(_amount(hi))
    if lo is not None and hi is not None and float(lo) > float(hi):
        raise ValidationError("board.bad_amount_range")
    status = given.get("status")
    if status not in (None, "", "all"):
        if status not in STATUSES:
            raise ValidationError("list.bad_filter")
        won, lost = _closing(con)
        if status == "open":
            where.append(f"x.stage NOT IN ({_marks(won + lost)})")
            args += won + lost
        else:
            codes = won if status == "won" else lost
            where.append(f"x.stage IN ({_marks(codes)})")
            args += codes
    for key in ("stale", "overdue"):
        flag = given.get(key)
        if flag in (None, False):
            continue
        if flag is not True:
            raise ValidationError("list.bad_filter")
        won, lost = _closing(con)
        if key == "stale":
            where.append(f"x.stage NOT IN ({_marks(won + lost)}) AND {LAST_TOUCH} < ?")
            args += won + lost + [actor.now - dt.timedelta(days=stale_days(con))]
        else:
            where.append(f"x.stage NOT IN ({_marks(won + lost)}) AND x.expected_close < ?")
            args += won + lost + [_today(con, actor)]
    return where, args


def _closing(con) -> tuple[list[str], list[str]]:
    """Codes of the won stages and of the lost stages (every pipeline)."""
    rows = db.rows(con, "SELECT code, is_won FROM pipeline_stages WHERE is_won OR is_lost ORDER BY code")
    return [r["code"] for r in rows if r["is_won"]], [r["code"] for r in rows if not r["is_won"]]


def _closed_window(given: dict | None, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """[since, until] (company days, inclusive) of the deals the closed columns hold; (None, None) when
    the user asked for no closed deals (closed_days = 0)."""
    given = given or {}
    start, end = given.get("closed_from"), given.get("closed_to")
    if start not in (None, "") or end not in (None, ""):
        since = _date(start) if start not in (None, "") else dt.date(1900, 1, 1)
        until = _date(end) if end not in (None, "") else dt.date(9998, 12, 31)
        if since > until:
            raise ValidationError("board.bad_period")
        return since, until
    days = given.get("closed_days", CLOSED_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 36500:
        raise ValidationError("list.bad_filter")
    if days == 0:
        return None, None
    return today - dt.timedelta(days=days - 1), today


# -------------------------------------------------------------------------------------------- board
def board(con: duckdb.DuckDBPyConnection, actor: Actor, pipeline_id: Any, filters: dict | None = None,
          per_column: int = 20, sort: str = "expected_close") -> dict:
    """The board of one pipeline for the actor: {"pipeline_id", "closed_since", "closed_until",
    "stale_days", "today", "columns": [{code, name_en, name_zh, probability, is_won, is_lost, active, count,
    amount, cards: [{id, name, customer_id, customer_name, amount, currency, expected_close, closed_on,
    owner_id, owner_name, stage, days_in_stage, last_activity_at, overdue, stale, updated_at}]}]}.

    Columns are the pipeline's active stages in order, and an inactive stage only while it still holds
    deals the actor sees. Filters: owner, team (and its sub-teams), source, amount_min/max, close_month,
    stale, overdue, q, and the closed window (closed_days, or closed_from/closed_to; see the module)."""
    access.require(con, actor, "deals", "view")
    pipeline = pipelines.pipeline(con, pipeline_id)
    if isinstance(per_column, bool) or not isinstance(per_column, int) or not 1 <= per_column <= MAX_PER_COLUMN:
        raise ValidationError("list.bad_page_size", max=MAX_PER_COLUMN)
    if sort not in BOARD_SORTS:
        raise ValidationError("list.bad_sort")
    where, args = _filters(con, actor, filters, _BOARD_KEYS)
    today, stale = _today(con, actor), stale_days(con)
    since, until = _closed_window(filters, today)
    stages = pipelines.stages(con, pipeline["id"], include_inactive=True)
    open_codes = [s["code"] for s in stages if not s["is_won"] and not s["is_lost"]]
    closed_codes = [s["code"] for s in stages if s["is_won"] or s["is_lost"]]
    # which deals of the pipeline: every open one, the closed ones inside the window
    held, held_args = [], []
    if open_codes:
        held.append(f"x.stage IN ({_marks(open_codes)})")
        held_args += open_codes
    if closed_codes and since is not None:
        held.append(f"(x.stage IN ({_marks(closed_codes)}) AND x.closed_on >= ? AND x.closed_on <= ?)")
        held_args += closed_codes + [since, until]
    columns = {s["code"]: {**s, "count": 0, "amount": 0.0, "cards": []} for s in stages}
    result = {"pipeline_id": pipeline["id"], "closed_since": since, "closed_until": until, "stale_days": stale,
              "today": today, "columns": []}
    if held:
        sort_expr, sort_desc = BOARD_SORTS[sort]
        cond = ["x.pipeline_id = ?", f"({' OR '.join(held)})"] + where
        parts, params = [], []
        for branch, bparams in access.branches(con, actor, "deals", "view", "x"):
            parts.append(f"SELECT x.id, x.stage, x.amount, x.closed_on, {sort_expr} AS k FROM deals x "
                         f"WHERE x.deleted_at IS NULL AND {branch} AND {' AND '.join(cond)}")
            params += bparams + [pipeline["id"]] + held_args + args
        closed_marks = _marks(closed_codes) if closed_codes else "NULL"
        # 1. counts, sums and the ids of each column's first cards, from one pass over the visible rows
        heads = con.execute(
            f"""WITH v AS MATERIALIZED ({' UNION ALL '.join(parts)}),
                agg AS (SELECT stage, count(*) AS n, sum(amount)::DOUBLE AS total FROM v GROUP BY stage),
                top AS (SELECT stage, list(id ORDER BY pos) AS ids FROM (
                            SELECT id, stage, row_number() OVER (PARTITION BY stage ORDER BY
                                CASE WHEN stage IN ({closed_marks}) THEN closed_on END DESC NULLS LAST,
                                k {'DESC' if sort_desc else 'ASC'} NULLS LAST, id DESC) AS pos
                            FROM v QUALIFY pos <= ?) GROUP BY stage)
            SELECT a.stage, a.n, a.total, coalesce(t.ids, []) FROM agg a LEFT JOIN top t USING (stage)""",  # sql-ok
            params + closed_codes + [per_column],
        ).fetchall()
        # 2. the cards' rows by id: a constant IN list is an index lookup, where a join would scan the
        # whole table (measured at scale L: the customers join alone cost 80 ms of a 100 ms board)
        ids = [i for *_, got in heads for i in got]
        cards = _card_rows(con, ids)
        cutoff = actor.now - dt.timedelta(days=stale)
        for code, n, total, got in heads:
            col = columns.get(code)
            if col is None:  # a stage of another pipeline (a deal whose pipeline_id disagrees): not shown
                continue
            col["count"], col["amount"] = n, total or 0.0
            is_open = not col["is_won"] and not col["is_lost"]
            for did in got:
                card = cards.get(did)
                if card is None:
                    continue
                entered, touched, close = card["stage_changed_at"], card["last_activity_at"], card["expected_close"]
                col["cards"].append({
                    **card, "stage": code,
                    "days_in_stage": max(0, (actor.now - entered).days) if entered else None,
                    "overdue": bool(is_open and close is not None and close < today),
                    "stale": bool(is_open and touched is not None and touched < cutoff)})
    result["columns"] = [c for c in columns.values() if c["active"] or c["count"]]
    return result


def _card_rows(con, ids: list[int]) -> dict[int, dict]:
    """The card fields of some deals, by id (with the customer's and the owner's names)."""
    if not ids:
        return {}
    rows = db.rows(con, f"SELECT x.id, x.name, x.customer_id, x.amount::DOUBLE AS amount, x.currency, "
                        f"x.expected_close, x.closed_on, x.owner_id, o.name AS owner_name, "
                        f"o.manager_id AS owner_manager_id, "
                        f"x.team_id, x.stage_changed_at, "
                        f"{LAST_TOUCH} AS last_activity_at, x.updated_at FROM deals x "
                        f"LEFT JOIN users o ON o.id = x.owner_id WHERE x.id IN ({_marks(ids)})", ids)
    names = _names(con, "customers", [r["customer_id"] for r in rows])
    return {r["id"]: {**r, "customer_name": names.get(r["customer_id"])} for r in rows}


def _names(con, table: str, ids: list) -> dict[int, str]:
    """id -> name of some rows of a fixed table, by a constant IN list (an index lookup)."""
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    return dict(con.execute(f"SELECT id, name FROM {table} WHERE id IN ({_marks(ids)})", ids).fetchall())  # sql-ok


# --------------------------------------------------------------------------------------------- list
def list_deals(con: duckdb.DuckDBPyConnection, actor: Actor, filters: dict | None = None, sort: str = "updated_at",
               desc: bool = True, page: int = 0, page_size: int = 50) -> tuple[pl.DataFrame, int]:
    """One page of the deals the actor may see, and how many there are (core.listing). Filters: owner
    (id or ids), team (a team and its sub-teams), stage (codes), pipeline (id), status (open | won |
    lost), close_month ("YYYY-MM": the close date of closed deals, the expected one of open deals),
    amount_min / amount_max, source (codes), stale / overdue (True: open deals only), q (the title).
    Each row also carries days_in_stage, the stale / overdue flags and win_rate (0..1: the historical
    win rate of its stage, see `win_rates`; None for a closed deal or a stage no deal closed from)."""
    access.require(con, actor, "deals", "view")
    where, args = _filters(con, actor, filters, _LIST_KEYS)
    df, total = listing.fetch_page(con, actor, LIST, where, args, sort, desc, page, page_size)
    names = _names(con, "customers", df["customer_id"].to_list())
    df = df.with_columns(pl.col("customer_id").replace_strict(names, default=None, return_dtype=pl.String)
                         .alias("customer_name"))
    rates = win_rates(con, actor, df)
    df = df.with_columns(pl.col("stage").replace_strict(rates, default=None, return_dtype=pl.Float64)
                         .alias("win_rate"))
    return with_flags(con, actor, df), total


def win_rates(con, actor: Actor, df: pl.DataFrame) -> dict[str, float | None]:
    """stage code -> the historical win rate of its stage (core.forecast.stage_win_rates: among the deals the
    actor may see that reached it in the last 12 months and closed since, the share won) for the open
    stages of the rows' pipelines: one set-based query per pipeline on the page, none per row."""
    if df.is_empty():
        return {}
    won, lost = _closing(con)
    open_rows = df.filter(~pl.col("stage").is_in(won + lost))
    out: dict[str, float | None] = {}
    for pipeline_id in sorted({p for p in open_rows["pipeline_id"].to_list() if p is not None}):
        out.update(forecast.stage_win_rates(con, actor, pipeline_id))
    return out


def with_flags(con, actor: Actor, df: pl.DataFrame) -> pl.DataFrame:
    """days_in_stage, stale and overdue for rows of deals (stage, stage_changed_at, last_activity_at,
    expected_close), as on the board's cards."""
    won, lost = _closing(con)
    cutoff = actor.now - dt.timedelta(days=stale_days(con))
    is_open = ~pl.col("stage").is_in(won + lost)
    return df.with_columns(
        ((pl.lit(actor.now) - pl.col("stage_changed_at")).dt.total_days().clip(lower_bound=0)).alias("days_in_stage"),
        (is_open & (pl.col("last_activity_at") < cutoff)).fill_null(False).alias("stale"),
        (is_open & (pl.col("expected_close") < _today(con, actor))).fill_null(False).alias("overdue"),
    )


# ------------------------------------------------------------------------------------- the pickers
def owners(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """Who the owner filter offers: the users whose deals the actor may see by scope (id, name, team_id)
    — a rep only self, a manager the people of the own team tree, the admin every holder."""
    scope = access.require(con, actor, "deals", "view")
    if scope == "own" or (scope in ("team", "team_tree") and not actor.team_id):
        return db.rows(con, "SELECT id, name, team_id FROM users WHERE id = ?", [actor.id])
    if scope == "all":
        return db.rows(con, f"SELECT id, name, team_id FROM users WHERE deleted_at IS NULL AND role IN "
                            f"({_marks(access.HOLDER_ROLES)}) ORDER BY active DESC, name, id",
                       list(access.HOLDER_ROLES))
    teams = [actor.team_id] if scope == "team" else list(actor.team_tree or (actor.team_id,))
    return db.rows(con, f"SELECT id, name, team_id FROM users WHERE deleted_at IS NULL AND (id = ? OR (team_id IN "
                        f"({_marks(teams)}) AND role IN ({_marks(access.HOLDER_ROLES)}))) "
                        "ORDER BY active DESC, name, id", [actor.id] + teams + list(access.HOLDER_ROLES))


def teams(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """Which teams the team filter offers: those whose deals the actor may see by scope (id, name)."""
    scope = access.require(con, actor, "deals", "view")
    if scope == "own":
        return []
    if scope == "all":
        return db.rows(con, "SELECT id, name FROM teams WHERE deleted_at IS NULL ORDER BY name, id")
    ids = [actor.team_id] if scope == "team" else list(actor.team_tree or (actor.team_id,))
    ids = [i for i in ids if i is not None]
    if not ids:
        return []
    return db.rows(con, f"SELECT id, name FROM teams WHERE deleted_at IS NULL AND id IN ({_marks(ids)}) "
                        "ORDER BY name, id", ids)
