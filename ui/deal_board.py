"""The pipeline page without a deal open: the board (one column per stage, count and sum on top, cards
below, each card opens its deal and moves to another stage) and the list of the same deals with filters,
sort and paging. Everything it shows comes from core.board under the viewer's scope.

Moving a card to a won or lost stage asks on the board itself, above the columns: the close date (today
by default) for won, the lost reason (required: core refuses a lost move without one) and an optional
competitor for lost. A won move that needs the hand-off (流转单) lands on the deal's page, which asks
for it."""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from core import access, board, clock, deals, export, options, pipelines
from core.errors import CRMError, ValidationError
from ui import errors, forms, tables
from ui import export as export_ui
from ui.i18n import label, t
from ui.session import actor, con
from ui.text import md

DEALS_PAGE = "views/deals.py"
VIEWS = ("board", "list")
CLOSED_CHOICES = (7, 30, 90, 365, 0, "period")
PAGE_SIZE = 50
OPTIMISTIC_GAP = 20   # percentage points above the stage's win rate that earn a ⚠ (as views/forecast.py)
FILTER_KEYS = ("deal_view", "deal_pipeline", "deal_q", "deal_owner", "deal_team", "deal_source", "deal_amount_min",
               "deal_amount_max", "deal_stale", "deal_overdue", "deal_closed", "deal_period", "deal_board_sort",
               "deal_stage", "deal_status", "deal_month", "deal_sort", "deal_desc", "deal_page")
LIST_COLUMNS = {"name": "board.col_name", "customer_name": "board.col_customer", "amount": "board.col_amount",
                "stage_name": "board.col_stage", "probability": "board.col_probability",
                "win_rate": "board.col_win_rate", "expected_close": "board.col_expected_close",
                "closed_on": "board.col_closed_on", "owner_name": "board.col_owner", "team_name": "board.col_team",
                "days_in_stage": "board.col_days_in_stage", "warning": "board.col_warning",
                "last_activity_at": "board.col_last_activity", "updated_at": "board.col_updated_at"}


def _fmt(names: dict):
    """A widget's format_func over labels made while the page runs (in the user's language): Streamlit
    may call it again outside the run, where the session's language is not at hand."""
    return lambda value: names.get(value, "" if value is None else str(value))


def _money(value, currency: str | None = None) -> str:
    text = f"{(value or 0):,.0f}"
    return f"{currency} {text}" if currency else text


# ----------------------------------------------------------------------------------------- moving
def _on_move(key: str, card: dict, stages: dict) -> None:
    """A card's "move to" picker changed: open stages move at once; won / lost ask first."""
    state = st.session_state
    target = state.get(key)
    if not target:
        return
    state[key] = None
    stage = stages.get(target)
    if stage is None:
        return
    if stage["is_won"] or stage["is_lost"]:
        state["_deal_closing"] = {"card": card, "stage": target}
        return
    try:
        deals.move_stage(con(), actor(), card["id"], target, seen=card)
    except CRMError as exc:
        forms.flash(errors.message(exc), "error")
    else:
        forms.flash(t("board.moved", name=card["name"], stage=label(stage)))


def _closing_form(c, me, stages: dict) -> None:
    """The won / lost questions for a card dropped on a closing stage, above the board."""
    state = st.session_state
    pending = state.get("_deal_closing")
    if not pending:
        return
    card, stage = pending["card"], stages.get(pending["stage"])
    if stage is None:
        state.pop("_deal_closing", None)
        return
    won = bool(stage["is_won"])
    with st.container(border=True):
        st.markdown(f"**{t('board.close_title_won' if won else 'board.close_title_lost', name=card['name'])}**")
        with st.form("deal_closing"):
            today = clock.local_today(c, me.now)
            if won:
                closed_on = st.date_input(t("board.closed_on"), value=today, max_value=today)
                reason, competitor = None, None
            else:
                reasons = {r["code"]: label(r) for r in deals.lost_reasons(c)}
                reason = st.selectbox(t("board.lost_reason"), [None, *reasons], key="deal_lost_reason",
                                      format_func=_fmt({None: t("board.choose_reason"), **reasons}))
                competitor = st.text_input(t("board.competitor"), max_chars=200) or None
                closed_on = None
            go, cancel = st.columns(2)
            confirmed = go.form_submit_button(t("board.confirm_move", stage=label(stage)), type="primary")
            cancelled = cancel.form_submit_button(t("board.cancel"))
        if cancelled:
            state.pop("_deal_closing", None)
            st.rerun()
        if confirmed:
            with errors.handled():
                if not won and reason is None:  # core refuses it too; say it before the round trip
                    raise ValidationError("board.lost_reason_required")
                result = deals.move_stage(c, me, card["id"], stage["code"], seen=card, closed_on=closed_on,
                                          lost_reason=reason, competitor=competitor)
                state.pop("_deal_closing", None)
                forms.flash(t("board.moved", name=card["name"], stage=label(stage)))
                if result.get("handoff_needed"):
                    forms.flash(t("board.handoff_needed"), "info")
                    st.switch_page(DEALS_PAGE, query_params={"id": str(card["id"])})
                st.rerun()


# ------------------------------------------------------------------------------------------ board
def _open_deal(deal_id: int) -> None:
    st.query_params["id"] = str(deal_id)


def _card(c, me, card: dict, column: dict, stages: dict, may_edit: bool) -> None:
    with st.container(border=True):
        # a button setting ?id=, not an st.page_link to this page: with Streamlit 1.67 that draws the deal but
        # leaves the browser's address at the board, so the deal page's next rerun went back to the board
        st.button(md(card["name"]), key=f"board_card_{card['id']}", type="tertiary", on_click=_open_deal,
                  args=(card["id"],))
        facts = [md(card["customer_name"] or "—"), _money(card["amount"], card["currency"])]
        closed = column["is_won"] or column["is_lost"]
        when = card["closed_on"] if closed else card["expected_close"]
        if when is not None:
            facts.append(t("board.closes", date=when.isoformat()) if not closed else
                         t("board.closed", date=when.isoformat()))
        facts.append(md(card["owner_name"] or "—"))
        if card["days_in_stage"] is not None:
            facts.append(t("board.days_in_stage", n=card["days_in_stage"]))
        st.caption(" · ".join(facts))
        badges = []
        if card["overdue"]:
            badges.append(f":red-badge[:material/event_busy: {t('board.overdue')}]")
        if card["stale"]:
            badges.append(f":orange-badge[:material/schedule: {t('board.stale')}]")
        if badges:
            st.markdown(" ".join(badges))
        if not may_edit or (closed and not deals.can_reopen(c, me, card)):
            return
        targets = [code for code, s in stages.items() if code != column["code"] and s["active"]]
        key = f"deal_move_{card['id']}"
        st.selectbox(t("board.move_to"), targets, index=None, key=key, label_visibility="collapsed",
                     placeholder=t("board.move_to"), format_func=_fmt({code: label(stages[code]) for code in targets}),
                     on_change=_on_move, args=(key, card, stages))


def _see_all(stage: str) -> None:
    state = st.session_state
    state["deal_view"] = "list"
    state["deal_stage"] = [stage]
    state["deal_status"] = "all"
    state["deal_page"] = 1


def board_view(c, me, pipeline_id: int, common: dict, stages: dict) -> None:
    state = st.session_state
    f1, f2, f3 = st.columns([2, 2, 2], vertical_alignment="bottom")
    state.setdefault("deal_closed", 30)
    closed = f1.selectbox(t("board.closed_window"), CLOSED_CHOICES, key="deal_closed",
                          format_func=_fmt({v: t("board.closed_period") if v == "period" else
                                            t("board.closed_none") if v == 0 else t("board.closed_last", n=v)
                                            for v in CLOSED_CHOICES}))
    window: dict = {"closed_days": closed} if closed != "period" else {}
    if closed == "period":
        today = clock.local_today(c, me.now)
        state.setdefault("deal_period", (today - dt.timedelta(days=89), today))
        period = f2.date_input(t("board.period"), key="deal_period")
        period = tuple(period) if isinstance(period, (tuple, list)) else (period,)
        window = {"closed_from": period[0] if period else None,
                  "closed_to": period[1] if len(period) > 1 else (period[0] if period else None)}
    sort = f3.selectbox(t("board.sort"), tuple(board.BOARD_SORTS), key="deal_board_sort",
                        format_func=_fmt({v: t(f"board.sort_{v}") for v in board.BOARD_SORTS}))
    _closing_form(c, me, stages)
    got = board.board(c, me, pipeline_id, {**common, **window}, sort=sort)
    columns = got["columns"]
    if not columns:
        st.info(t("board.no_stages"))
        return
    may_edit = access.can(c, me, "deals", "edit")
    st.caption(t("board.closed_hint", since=got["closed_since"].isoformat(), until=got["closed_until"].isoformat())
               if got["closed_since"] else t("board.closed_hidden"))
    for holder, column in zip(st.columns(len(columns)), columns):
        with holder:
            st.markdown(f"**{md(label(column))}**")
            currency = next((card["currency"] for card in column["cards"]), None) or deals.company_currency(c)
            st.caption(t("board.column_total", n=f"{column['count']:,}", amount=_money(column["amount"], currency)))
            if not column["cards"]:
                st.caption(t("board.empty_column"))
            for card in column["cards"]:
                _card(c, me, card, column, stages, may_edit)
            if column["count"] > len(column["cards"]):
                st.button(t("board.see_all", n=f"{column['count']:,}"), key=f"deal_see_all_{column['code']}",
                          on_click=_see_all, args=(column["code"],), type="tertiary")


# ------------------------------------------------------------------------------------------- list
def _step(delta: int) -> None:
    state = st.session_state
    state["deal_page"] = max(1, int(state.get("deal_page", 1)) + delta)


def _months(today: dt.date) -> list[str]:
    first = today.replace(day=1)
    out = []
    for offset in range(-12, 13):
        m = first.month - 1 + offset
        out.append(f"{first.year + m // 12:04d}-{m % 12 + 1:02d}")
    return out


def list_view(c, me, pipeline_id: int, common: dict, stages: dict, all_stages: dict, sources: dict) -> None:
    state = st.session_state
    f1, f2, f3, f4, f5 = st.columns([3, 2, 2, 2, 1], vertical_alignment="bottom")
    stage = f1.multiselect(t("board.stage"), list(stages), key="deal_stage", placeholder=t("list.choose"),
                           format_func=_fmt({code: label(s) for code, s in stages.items()}))
    state.setdefault("deal_status", "all")
    status = f2.selectbox(t("board.status"), ("all", *board.STATUSES), key="deal_status",
                          format_func=_fmt({v: t(f"board.status_{v}") for v in ("all", *board.STATUSES)}))
    month = f3.selectbox(t("board.close_month"), [None, *_months(clock.local_today(c, me.now))], key="deal_month",
                         format_func=_fmt({None: t("list.choose")}))
    sort = f4.selectbox(t("board.sort"), board.SORTS, key="deal_sort",
                        format_func=_fmt({v: t(f"board.lsort_{v}") for v in board.SORTS}))
    state.setdefault("deal_desc", True)
    desc = f5.toggle(t("customers.descending"), key="deal_desc")
    current = {**common, "pipeline": pipeline_id, "stage": [s for s in stage if s in stages] or None,
               "status": status, "close_month": month}
    current = {k: v for k, v in current.items() if v not in (None, "", [])}
    signature = (repr(sorted(current.items(), key=lambda kv: kv[0])), sort, desc)
    if state.get("_deal_sig") != signature:
        state["_deal_sig"] = signature
        state["deal_page"] = 1
    picked = None
    with errors.handled():
        df, total, page, pages = tables.current_page(
            "deal_page", PAGE_SIZE,
            lambda i: board.list_deals(c, me, current, sort=sort, desc=desc, page=i, page_size=PAGE_SIZE))
        st.caption(t("board.count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
        names = {code: label(s) for code, s in all_stages.items()}
        shown = df.with_columns(
            pl.col("stage").replace_strict(names, default=pl.col("stage")).alias("stage_name"),
            pl.col("amount").map_elements(lambda v: _money(v), return_dtype=pl.String),
            pl.when(pl.col("probability").is_not_null()).then(pl.col("probability").cast(pl.String) + " %")
            .otherwise(pl.lit("")).alias("probability"),
            # the stage's historical win rate, ⚠ when the deal's probability is 20+ points above it
            pl.when(pl.col("win_rate").is_null()).then(pl.lit(""))
            .otherwise((pl.col("win_rate") * 100).round(0).cast(pl.Int64).cast(pl.String) + " %"
                       + pl.when(pl.col("probability") - pl.col("win_rate") * 100 >= OPTIMISTIC_GAP)
                       .then(pl.lit(" ⚠")).otherwise(pl.lit(""))).alias("win_rate"),
            pl.when(pl.col("overdue")).then(pl.lit("⚠ " + t("board.overdue")))
            .when(pl.col("stale")).then(pl.lit("⚠ " + t("board.stale"))).otherwise(pl.lit("")).alias("warning"),
        ) if df.height else df
        picked = tables.select_one(shown, LIST_COLUMNS, key=f"deal_table_{state.get('deal_nonce', 0)}")
        if total == 0:
            st.info(t("board.none"))
        n1, n2, n3, _ = st.columns([1, 2, 1, 5], vertical_alignment="bottom")
        n1.button(t("list.previous"), disabled=page <= 1, key="deal_prev", on_click=_step, args=(-1,))
        n2.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key="deal_page")
        n3.button(t("list.next"), disabled=page >= pages, key="deal_next", on_click=_step, args=(1,))
        overdue, stale = "⚠ " + t("board.overdue"), "⚠ " + t("board.stale")

        def for_export(rows: pl.DataFrame) -> pl.DataFrame:  # amounts and percentages stay numbers
            return rows.with_columns(
                pl.col("stage").replace_strict(names, default=pl.col("stage")).alias("stage_name"),
                (pl.col("win_rate") * 100).round(0).alias("win_rate"),
                pl.when(pl.col("overdue")).then(pl.lit(overdue)).when(pl.col("stale")).then(pl.lit(stale))
                .otherwise(pl.lit("")).alias("warning"),
            )

        export_ui.buttons(c, me, "deals", lambda cur: for_export(export.all_rows(
            board.list_deals, cur, me, current, sort=sort, desc=desc)[0]), LIST_COLUMNS, t("page.pipeline"), total)
    if picked is not None:
        forms.remember(FILTER_KEYS)
        st.query_params["id"] = str(picked)
        st.rerun()


# ------------------------------------------------------------------------------------------- page
def render() -> None:
    me, c = actor(), con()
    state = st.session_state
    st.title(t("page.pipeline"))
    forms.show_flash()
    forms.keep(FILTER_KEYS)
    pipes = pipelines.pipelines(c)
    if not pipes:
        st.info(t("board.no_pipelines"))
        return
    top1, top2, top3 = st.columns([3, 2, 2], vertical_alignment="bottom")
    pipe_ids = [p["id"] for p in pipes]
    if state.get("deal_pipeline") not in pipe_ids:
        state["deal_pipeline"] = pipe_ids[0]
    names = {p["id"]: label(p) for p in pipes}
    pipeline_id = top1.selectbox(t("board.pipeline"), pipe_ids, key="deal_pipeline", format_func=_fmt(names))
    state.setdefault("deal_view", "board")
    view = top2.segmented_control(t("board.view"), VIEWS, key="deal_view",
                                  format_func=_fmt({v: t(f"board.view_{v}") for v in VIEWS})) or "board"
    if deals.can_create(c, me):
        top3.page_link(DEALS_PAGE, label=t("board.new_deal"), icon=":material/add:", query_params={"new": "1"})
    all_stages = {s["code"]: s for s in pipelines.stages(c, include_inactive=True)}
    stages = {code: s for code, s in all_stages.items() if s["pipeline_id"] == pipeline_id}
    sources = {o["code"]: label(o) for o in options.options(c, "source", include_inactive=True)}
    with st.container(border=True):
        common = _common_filters(c, me, sources)
    if view == "list":  # the won / lost question belongs to the board: asked later it would surprise
        state.pop("_deal_closing", None)
    with errors.handled():
        if view == "list":
            list_view(c, me, pipeline_id, common, stages, all_stages, sources)
        else:
            board_view(c, me, pipeline_id, common, stages)
    forms.remember(FILTER_KEYS)


def _common_filters(c, me, sources: dict) -> dict:
    """The filters both views share: search, owner, team, source, amount range, stale, overdue."""
    f1, f2, f3, f4 = st.columns([3, 3, 2, 2])
    q = f1.text_input(t("board.search"), placeholder=t("board.search_hint"), key="deal_q", max_chars=200)
    owners = {u["id"]: u["name"] for u in board.owners(c, me)}
    owner = f2.multiselect(t("board.owner"), list(owners), key="deal_owner", placeholder=t("list.choose"),
                           format_func=_fmt(owners)) if len(owners) > 1 else []
    teams = {tm["id"]: tm["name"] for tm in board.teams(c, me)}
    team = f3.selectbox(t("board.team"), [None, *teams], key="deal_team",
                        format_func=_fmt({None: t("list.choose"), **teams})) \
        if len(teams) > 1 else None
    source = f4.multiselect(t("board.source"), list(sources), key="deal_source", placeholder=t("list.choose"),
                            format_func=_fmt(sources))
    g1, g2, g3, g4 = st.columns([2, 2, 2, 2], vertical_alignment="bottom")
    lo = g1.number_input(t("board.amount_min"), min_value=0.0, max_value=board.MAX_AMOUNT, value=None, step=1000.0,
                         key="deal_amount_min")
    hi = g2.number_input(t("board.amount_max"), min_value=0.0, max_value=board.MAX_AMOUNT, value=None, step=1000.0,
                         key="deal_amount_max")
    stale = g3.toggle(t("board.stale_only", n=board.stale_days(c)), key="deal_stale")
    overdue = g4.toggle(t("board.overdue_only"), key="deal_overdue")
    given = {"q": q or None, "owner": [o for o in owner if o in owners] or None,
             "team": team if team in teams else None, "source": source or None, "amount_min": lo, "amount_max": hi,
             "stale": True if stale else None, "overdue": True if overdue else None}
    return {k: v for k, v in given.items() if v is not None}
