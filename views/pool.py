"""Shared pool (公海): the pools the user may use and their customers (fields a pool hides come masked
from core), search and pages; a rep ticks and claims (the result says what was refused and why), and
releases, locks or unlocks their own customers; managers and admins split a selection or a whole pool
evenly among chosen teams (a dry run first: per-rep counts and why anything stays), move the excess over
the cap back to the pool and reassign. "Reclaim preview" shows what the next reclaim would take, per rep,
with the reason of each record, and (managers, admins) runs it now; "Assignment log" lists the runs.
Every rule lives in core (core.pool, core.reclaim); this page only reads widgets and shows results."""
import datetime as dt
import logging

import polars as pl
import streamlit as st

from core import access, clock, customers, handover, org, pool, reclaim, settings
from core.errors import CRMError
from ui import errors, forms, tables
from ui import pool as words
from ui.i18n import names, t
from ui.session import actor, con

log = logging.getLogger("crm")
PAGE_SIZE = 50
CUSTOMERS_PAGE = "views/customers.py"

me, c = actor(), con()
state = st.session_state
st.title(t("page.pool"))
forms.show_flash()

manages = access.scope_of(c, me, "customers", "assign") not in ("none", "own")  # managers and admins
VIEWS = ("pool", "mine", "preview", "log") if manages else ("pool", "mine", "preview")
stage_names, level_names = names(customers.stages(c)), names(customers.levels(c))


# ------------------------------------------------------------------------------------------ helpers
def _nonce(name: str) -> int:
    return state.get(f"{name}_nonce", 0)


def _bump(name: str) -> None:
    """New rows after a write: the ticks of the old rows are dropped."""
    state[f"{name}_nonce"] = _nonce(name) + 1


def _run(call, done) -> None:
    """A write from a button's callback: core does it, the page says how it went after the rerun (an
    error in the user's language, never a trace)."""
    try:
        result = call()
    except CRMError as exc:
        forms.flash(errors.message(exc), "error")
    except Exception as exc:  # noqa: BLE001 - the user must never see a trace
        log.exception("pool action failed: %s", exc)
        forms.flash(t("error.unexpected"), "error")
    else:
        done(result)


def _people() -> dict:
    """Users the actor may give records to, by id (names of the per-rep counts too)."""
    if not manages:
        return {}
    return {u["id"]: words.plain("pool_ui.person", name=u["name"], team=u["team"] or "—")
            for u in handover.receivers(c, me)}


def _name_of(people: dict, user_id) -> str:
    try:
        return people.get(int(user_id), str(user_id))
    except (TypeError, ValueError):
        return str(user_id)


def _readable(df: pl.DataFrame) -> pl.DataFrame:
    out = df
    for col, codes in (("stage", stage_names), ("level", level_names)):
        if col in out.columns:
            text = pl.col(col).cast(pl.String)
            out = out.with_columns(text.replace_strict(codes, default=text, return_dtype=pl.String).alias(col))
    for col in ("pool_reason", "reason"):
        out = words.with_reason(out, col)
    return out


def _pager(key: str, page: int, pages: int) -> None:
    if pages <= 1:
        return

    def step(delta: int) -> None:
        state[key] = max(1, int(state.get(key, 1)) + delta)

    n1, n2, n3, _ = st.columns([1, 2, 1, 5], vertical_alignment="bottom")
    n1.button(t("list.previous"), disabled=page <= 1, key=f"{key}_prev", on_click=step, args=(-1,))
    n2.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key=key)
    n3.button(t("list.next"), disabled=page >= pages, key=f"{key}_next", on_click=step, args=(1,))


# ----------------------------------------------------------------------------------- the pool's rows
POOL_COLUMNS = {"name": "customer.name", "level": "customer.level", "stage": "customer.stage",
                "province": "customer.province", "city": "customer.city", "phone": "customer.phone",
                "pool_since": "pool_ui.col_pool_since", "pool_reason": "pool_ui.col_pool_reason",
                "former_owner_name": "pool_ui.col_former_owner", "last_activity_at": "customer.last_activity_at",
                "can_claim_at": "pool_ui.col_can_claim_at"}


def _claimed(result: dict, rules: dict) -> None:
    done, refused = int(result.get("done") or 0), result.get("refused") or {}
    if done:
        forms.flash(t("pool_ui.claimed", n=done))
    if refused:
        forms.flash(t("pool_ui.refused_head", n=sum(int(v) for v in refused.values())) + "\n"
                    + words.refused_text(refused, rules), "warning")
    if not done and not refused:
        forms.flash(t("pool_ui.nothing_done"), "info")
    _bump("pool")


def _claim(ids: list[int], rules: dict) -> None:
    _run(lambda: pool.claim(c, me, ids), lambda r: _claimed(r, rules))


def _reassign(ids: list[int], people: dict) -> None:
    to = state.get("pool_reassign_to")
    if to is None:
        forms.flash(t("pool_ui.pick_person"), "warning")
        return

    def done(result: dict) -> None:
        forms.flash(t("bulk.reassigned", n=result["done"])
                    + (" " + t("bulk.skipped", n=result["skipped"]) if result.get("skipped") else ""))
        _bump("pool")

    _run(lambda: customers.bulk_reassign(c, me, ids, to), done)


def _split_args(team_id: int, ticked: list[int]) -> dict | None:
    teams = state.get("pool_split_teams") or []
    if not teams:
        return None
    args = {"team_ids": sorted(int(x) for x in teams),
            "weighting": state.get("pool_split_weighting") or None,
            "skip_untouched": bool(state.get("pool_split_skip"))}
    if state.get("pool_split_what") == "ticked":
        if not ticked:
            return None
        args["ids"] = sorted(ticked)
    else:
        args["pool_team_id"] = team_id
    return args


def _split(args: dict, dry_run: bool) -> None:
    def done(result: dict) -> None:
        if dry_run:
            state["_pool_plan"] = {"args": args, "result": result}
            return
        state.pop("_pool_plan", None)
        forms.flash(t("pool_ui.split_done", n=int(result.get("assigned") or 0),
                      left=int(result.get("left_in_pool") or 0)))
        _bump("pool")

    _run(lambda: pool.split(c, me, dry_run=dry_run, **args), done)


def _plan_view(result: dict, people: dict, committed_key: str) -> None:
    """What a split (or a move of the excess) would do: counts per rep, skipped reps and why, what stays."""
    a, b, d = st.columns(3)
    a.metric(t("pool_ui.requested"), f"{int(result.get('requested') or 0):,}")
    b.metric(t("pool_ui.would_assign"), f"{int(result.get('assigned') or 0):,}")
    d.metric(t("pool_ui.left_in_pool"), f"{int(result.get('left_in_pool') or 0):,}")
    per_rep = result.get("per_rep") or {}
    if per_rep:
        tables.show(words.counts_frame(per_rep, people), {"what": "pool_ui.col_rep", "n": "pool_ui.col_count"},
                    key=f"{committed_key}_per_rep")
    skipped = result.get("skipped_reps") or {}
    if skipped:
        st.markdown(f"**{t('pool_ui.skipped_reps')}**")
        frame = pl.DataFrame({"who": [_name_of(people, k) for k in skipped],
                              "why": [words.reason(v, "skip") for v in skipped.values()]},
                             schema={"who": pl.String, "why": pl.String})
        tables.show(frame, {"who": "pool_ui.col_rep", "why": "pool_ui.col_reason"}, key=f"{committed_key}_skipped")
    left = result.get("reasons") or {}
    if left:
        st.markdown(f"**{t('pool_ui.why_left')}**")
        tables.show(words.counts_frame(left, kind="left"), {"what": "pool_ui.col_reason", "n": "pool_ui.col_count"},
                    key=f"{committed_key}_reasons")


def _split_panel(team_id: int, ticked: list[int], people: dict) -> None:
    with st.expander(t("pool_ui.split_title"), expanded=bool(state.get("_pool_plan"))):
        st.caption(t("pool_ui.split_help"))
        teams = org.teams(c, me)
        team_names = dict(zip(teams["id"].to_list(), teams["path"].to_list()))
        s1, s2 = st.columns(2)
        s1.multiselect(t("pool_ui.split_teams"), list(team_names), format_func=lambda i: team_names.get(i, str(i)),
                       key="pool_split_teams", placeholder=t("list.choose"))
        what_names = {"ticked": words.plain("pool_ui.split_ticked", n=len(ticked)),
                      "pool": words.plain("pool_ui.split_whole_pool")}
        # defaults as the widgets' own (a setdefault in the state was lost on the browser's first run: the radio
        # said "0 ticked" and the setting's "skip" box was unticked)
        s2.radio(t("pool_ui.split_what"), list(what_names), format_func=what_names.get, key="pool_split_what",
                 horizontal=True, index=0 if ticked else 1)
        # "" (not None) is "as the setting says": a select box whose value is None shows Streamlit's own
        # English placeholder instead of the option's name
        weightings = {"": words.plain("pool_ui.weight_setting"), "equal": words.plain("pool_ui.weight_equal"),
                      "won_deals": words.plain("pool_ui.weight_won_deals"),
                      "followups": words.plain("pool_ui.weight_followups")}
        w1, w2 = st.columns(2)
        w1.selectbox(t("pool_ui.weighting"), list(weightings), format_func=weightings.get, index=0,
                     key="pool_split_weighting")
        w2.checkbox(t("pool_ui.skip_untouched"), key="pool_split_skip",
                    value=bool(settings.get(c, "assignment.skip_reps_with_untouched_raw")))
        args = _split_args(team_id, ticked)
        b1, b2, _ = st.columns([2, 2, 3])
        b1.button(t("pool_ui.dry_run"), key="pool_split_dry", disabled=args is None, icon=":material/preview:",
                  on_click=_split, args=(args, True))
        plan = state.get("_pool_plan")
        if plan and plan["args"] == args:
            st.markdown(f"**{t('pool_ui.plan_title')}**")
            _plan_view(plan["result"], people, "pool_plan")
            b2.button(t("pool_ui.split_commit", n=int(plan["result"].get("assigned") or 0)), key="pool_split_go",
                      type="primary", icon=":material/call_split:", on_click=_split, args=(args, False),
                      disabled=not plan["result"].get("assigned"))
        elif args is None:
            st.caption(t("pool_ui.split_pick"))


def _excess(team_id: int, dry_run: bool) -> None:
    def done(result: dict) -> None:
        if dry_run:
            state["_pool_excess"] = {"team_id": team_id, "result": result}
            return
        state.pop("_pool_excess", None)
        forms.flash(t("pool_ui.excess_done", n=int(result.get("moved") or 0)))
        _bump("pool")

    _run(lambda: pool.move_excess(c, me, team_id=team_id, dry_run=dry_run), done)


def _excess_panel(team_id: int, team_name: str, people: dict) -> None:
    plan = state.get("_pool_excess")
    plan = plan if plan and plan["team_id"] == team_id else None
    with st.expander(t("pool_ui.excess_title"), expanded=plan is not None):
        st.caption(t("pool_ui.excess_help", team=team_name))
        e1, e2, _ = st.columns([2, 2, 3])
        e1.button(t("pool_ui.dry_run"), key="pool_excess_dry", icon=":material/preview:", on_click=_excess,
                  args=(team_id, True))
        if plan:
            result = plan["result"]
            moved = int(result.get("moved") or sum(int(v) for v in (result.get("per_rep") or {}).values()))
            if not moved:
                st.info(t("pool_ui.excess_none"))
            else:
                tables.show(words.counts_frame(result.get("per_rep") or {}, people),
                            {"what": "pool_ui.col_rep", "n": "pool_ui.col_count"}, key="pool_excess_per_rep")
                e2.button(t("pool_ui.excess_commit", n=moved), key="pool_excess_go", type="primary",
                          on_click=_excess, args=(team_id, False))


def pool_view() -> None:
    pools = pool.pools(c, me)
    if not pools:
        st.info(t("pool_ui.no_pools"))
        return
    by_id = {p["team_id"]: p for p in pools}
    if state.get("pool_pick") not in by_id:
        # first a pool one may claim from that has customers; then (a rep) the own pool, (a manager) any
        # pool with customers; else the first
        first = [p for p in pools if p.get("can_claim") and p.get("size")]
        first += [p for p in pools if p.get("can_claim")] if not manages else [p for p in pools if p.get("size")]
        state["pool_pick"] = (first or pools)[0]["team_id"]
    # names only: a count in an option's label would stay as first drawn (the select box keeps its options)
    labels = {i: words.plain("pool_ui.pool_option_new", name=p["name"]) if p.get("is_new_hire_pool") else p["name"]
              for i, p in by_id.items()}
    p1, p2 = st.columns([2, 3], vertical_alignment="bottom")
    team_id = p1.selectbox(t("pool_ui.pick"), list(by_id), key="pool_pick", format_func=labels.get)
    q = p2.text_input(t("pool_ui.search"), key="pool_q", max_chars=200, placeholder=t("pool_ui.search_hint"))
    chosen = by_id[team_id]
    rules = pool.settings_for(c, team_id)
    st.caption(t("pool_ui.rules", cap=rules.get("daily_claim_cap"), days=rules.get("reclaim_wait_days"),
                 hours=rules.get("claim_cooldown_hours")))
    signature = (team_id, q)
    if state.get("_pool_sig") != signature:  # another pool or search starts at the first page
        state["_pool_sig"] = signature
        state["pool_page"] = 1
    df, total, page, pages = tables.current_page(
        "pool_page", PAGE_SIZE, lambda i: pool.pool_list(c, me, team_id, q=q or None, page=i + 1, page_size=PAGE_SIZE))
    st.caption(t("pool_ui.count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
    if total == 0:
        st.info(t("pool_ui.empty"))
        ticked = []
    else:
        ticked = tables.select_many(_readable(df), POOL_COLUMNS, key=f"pool_rows_{team_id}_{_nonce('pool')}")
    _pager("pool_page", page, pages)

    if chosen.get("can_claim"):
        left, _ = st.columns([2, 5])
        left.button(t("pool_ui.claim_n", n=len(ticked)), key="pool_claim", type="primary", disabled=not ticked,
                    icon=":material/front_hand:", on_click=_claim, args=(list(ticked), rules))
        if not ticked and total:
            st.caption(t("pool_ui.tick_to_claim"))
    elif not manages:
        st.caption(t("pool_ui.cannot_claim"))
    if manages:
        people = _people()
        if ticked:
            r1, r2, _ = st.columns([3, 2, 2], vertical_alignment="bottom")
            r1.selectbox(t("bulk.reassign_to"), [None, *people], key="pool_reassign_to",
                         format_func=lambda v: people.get(v, words.plain("pool_ui.choose_person")))
            r2.button(t("pool_ui.reassign_n", n=len(ticked)), key="pool_reassign", on_click=_reassign,
                      args=(list(ticked), people))
        _split_panel(team_id, list(ticked), people)
        _excess_panel(team_id, chosen["name"], people)


# ------------------------------------------------------------------------------------ my customers
MINE_COLUMNS = {"name": "customer.name", "stage": "customer.stage", "level": "customer.level",
                "phone": "customer.phone", "locked_at": "pool_ui.col_locked", "last_activity_at":
                "customer.last_activity_at", "next_followup_at": "customer.next_followup_at"}


def _moved(result: dict, key: str) -> None:
    done, refused = int(result.get("done") or 0), result.get("refused") or {}
    forms.flash(t(key, n=done), "success" if done else "info")
    if refused:
        forms.flash(t("pool_ui.refused_head", n=sum(int(v) for v in refused.values())) + "\n"
                    + words.refused_text(refused), "warning")
    _bump("mine")


def _release(ids: list[int]) -> None:
    _run(lambda: pool.release(c, me, ids), lambda r: _moved(r, "pool_ui.released"))


def _lock(ids: list[int], on: bool) -> None:
    _run(lambda: pool.lock(c, me, ids, on), lambda r: _moved(r, "pool_ui.locked" if on else "pool_ui.unlocked"))


def mine_view() -> None:
    st.caption(t("pool_ui.mine_help"))
    q = st.text_input(t("pool_ui.search"), key="mine_q", max_chars=200, placeholder=t("pool_ui.search_hint"))
    if state.get("_mine_sig") != q:
        state["_mine_sig"] = q
        state["mine_page"] = 1
    df, total, page, pages = tables.current_page(
        "mine_page", PAGE_SIZE, lambda i: customers.list_customers(
            c, me, {"holder": "mine", "q": q or ""}, sort="last_activity_at", desc=False, page=i, page_size=PAGE_SIZE))
    st.caption(t("pool_ui.mine_count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
    if total == 0:
        st.info(t("pool_ui.mine_none"))
        return
    ticked = tables.select_many(_readable(df), MINE_COLUMNS, key=f"mine_rows_{_nonce('mine')}")
    _pager("mine_page", page, pages)
    b1, b2, b3, _ = st.columns([2, 2, 2, 3])
    b1.button(t("pool_ui.release_n", n=len(ticked)), key="mine_release", disabled=not ticked,
              icon=":material/move_down:", on_click=_release, args=(list(ticked),))
    b2.button(t("pool_ui.lock_n", n=len(ticked)), key="mine_lock", disabled=not ticked, icon=":material/lock:",
              on_click=_lock, args=(list(ticked), True))
    b3.button(t("pool_ui.unlock_n", n=len(ticked)), key="mine_unlock", disabled=not ticked,
              icon=":material/lock_open:", on_click=_lock, args=(list(ticked), False))
    if not ticked:
        st.caption(t("pool_ui.tick_mine"))


# --------------------------------------------------------------------------------- reclaim preview
PREVIEW_COLUMNS = {"name": "customer.name", "owner_name": "pool_ui.col_rep", "level": "customer.level",
                   "reason": "pool_ui.col_reason", "detail": "pool_ui.col_detail",
                   "idle_workdays": "pool_ui.col_idle_workdays", "due_day": "pool_ui.col_due_day"}
MOVES_COLUMNS = {"name": "customer.name", "owner_name": "pool_ui.col_former_owner", "reason": "pool_ui.col_reason",
                 "detail": "pool_ui.col_detail"}


def _reclaimed(result: dict) -> None:
    moves = result.get("moves")
    state["_pool_reclaim"] = {"moved": int(result.get("moved") or 0), "by_reason": result.get("by_reason") or {},
                              "moves": moves.head(500).to_dicts() if isinstance(moves, pl.DataFrame) else []}
    forms.flash(t("pool_ui.reclaim_done", n=int(result.get("moved") or 0)))
    _bump("pool")
    _bump("mine")


def _reclaim_now() -> None:
    _run(lambda: reclaim.run(c, me), _reclaimed)


def _per_rep(df: pl.DataFrame) -> pl.DataFrame:
    """One row per rep: how many records the run would take from them, and for which reasons."""
    if df.is_empty():
        return pl.DataFrame(schema={"owner_name": pl.String, "n": pl.Int64, "why": pl.String})
    grouped = (df.group_by("owner_name", "reason").agg(pl.len().alias("k"))
               .sort("owner_name", "k", descending=[False, True]))
    rows: dict[str, dict] = {}
    for r in grouped.iter_rows(named=True):
        entry = rows.setdefault(r["owner_name"] or "—", {"n": 0, "why": {}})
        entry["n"] += int(r["k"])
        entry["why"][r["reason"]] = int(r["k"])
    return pl.DataFrame({"owner_name": list(rows), "n": [v["n"] for v in rows.values()],
                         "why": [words.reasons_text(v["why"]) for v in rows.values()]},
                        schema={"owner_name": pl.String, "n": pl.Int64, "why": pl.String}).sort("n", descending=True)


def preview_view() -> None:
    today = clock.local_today(c, me.now)
    st.caption(t("pool_ui.preview_help"))
    p1, _ = st.columns([2, 5])
    day = p1.date_input(t("pool_ui.preview_day"), value=today + dt.timedelta(days=1), min_value=today,
                        key="pool_preview_day")
    df = reclaim.preview(c, me, day)
    st.markdown(t("pool_ui.preview_count", n=f"{df.height:,}", day=day.isoformat()))
    if df.is_empty():
        st.info(t("pool_ui.preview_none"))
    else:
        st.markdown(f"**{t('pool_ui.per_rep')}**")
        tables.show(_per_rep(df), {"owner_name": "pool_ui.col_rep", "n": "pool_ui.col_count",
                                   "why": "pool_ui.col_reasons"}, key="pool_preview_reps")
        st.markdown(f"**{t('pool_ui.preview_records')}**")
        shown = _readable(df.rename({"customer_id": "id"}) if "customer_id" in df.columns else df)
        picked = tables.select_one(shown, PREVIEW_COLUMNS, key="pool_preview_rows")
        if picked is not None:
            st.page_link(CUSTOMERS_PAGE, label=t("pool_ui.open_customer"), query_params={"id": str(picked)},
                         icon=":material/open_in_new:")
    if manages:
        st.divider()
        st.button(t("pool_ui.reclaim_now"), key="pool_reclaim_now", type="primary", icon=":material/replay:",
                  on_click=_reclaim_now, help=t("pool_ui.reclaim_now_help"))
        last = state.get("_pool_reclaim")
        if last is not None:
            moved = f"{last['moved']:,}"
            st.markdown(f"**{t('pool_ui.reclaim_result', n=moved)}**")
            if last["by_reason"]:
                tables.show(words.counts_frame(last["by_reason"]), {"what": "pool_ui.col_reason",
                                                                    "n": "pool_ui.col_count"},
                            key="pool_reclaim_reasons")
            if last["moves"]:
                tables.show(_readable(pl.DataFrame(last["moves"])), MOVES_COLUMNS, key="pool_reclaim_moves")


# ---------------------------------------------------------------------------------- assignment log
LOG_COLUMNS = {"run_at": "pool_ui.col_run_at", "kind": "pool_ui.col_kind", "source": "pool_ui.col_source",
               "requested": "pool_ui.requested", "assigned": "pool_ui.col_assigned",
               "left_in_pool": "pool_ui.left_in_pool", "reasons": "pool_ui.col_reasons", "run_by": "pool_ui.col_run_by"}


def log_view() -> None:
    runs = pool.runs(c, me)
    if runs.is_empty():
        st.info(t("pool_ui.log_none"))
        return
    shown = words.with_reason(runs, "kind")
    if "source" in shown.columns:
        teams = org.teams(c, me)
        team_names = dict(zip(teams["id"].to_list(), teams["name"].to_list()))
        shown = shown.with_columns(pl.Series("source", [words.source_text(v, team_names)
                                                        for v in runs["source"].to_list()], dtype=pl.String))
    if "reasons" in shown.columns:
        shown = shown.with_columns(pl.Series("reasons", [words.reasons_text(v) for v in runs["reasons"].to_list()],
                                             dtype=pl.String))
    if "run_by" not in shown.columns and "run_by_name" in shown.columns:
        shown = shown.rename({"run_by_name": "run_by"})
    if "run_by" in shown.columns:  # a scheduled run has no person: core says 'system', the user reads it translated
        shown = shown.with_columns(pl.when(pl.col("run_by") == "system").then(pl.lit(words.plain("audit.system")))
                                   .otherwise(pl.col("run_by")).alias("run_by"))
    tables.show(shown, LOG_COLUMNS, key="pool_log")


# -------------------------------------------------------------------------------------------- page
if state.get("pool_view") not in VIEWS:  # a click on the view shown unselects it: keep it
    state["pool_view"] = state.get("_pool_last_view") or "pool"
view = st.segmented_control(t("pool_ui.view"), VIEWS, key="pool_view", label_visibility="collapsed",
                            format_func={v: t(f"pool_ui.view_{v}") for v in VIEWS}.get) or "pool"
state["_pool_last_view"] = view
with errors.handled():
    {"pool": pool_view, "mine": mine_view, "preview": preview_view, "log": log_view}[view]()
