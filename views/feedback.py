"""Feedback (客户反馈): complaints and suggestions with owner, due date, status and resolution (overdue
complaints stand out); NPS answers per customer with the NPS of a period; CSAT ratings with their
tickets. One record opens at `?id=N` (edit, close with a resolution, reopen); `?new=complaint|suggestion|
nps[&customer=N]` records one (the customer page links here)."""
import datetime as dt

import polars as pl
import streamlit as st

from core import clock, customers, export, settings
from core import feedback as fb
from ui import errors, forms, nav, tables
from ui import export as export_ui
from ui.customer_panels import ENTITY_PAGES
from ui.customer_pick import pick_customer
from ui.i18n import t
from ui.session import actor, con
from ui.text import md

me, c = actor(), con()
state = st.session_state
st.title(t("page.feedback"))
forms.show_flash()
today = clock.local_today(c, me.now)
menu = {p.path for p in nav.allowed(c, me)}
links = {entity: path for entity, path in ENTITY_PAGES.items() if path in menu}  # pages the user's menu has

CASE_COLUMNS = {"flag": "feedback.flag", "kind_name": "feedback.kind", "subject": "feedback.subject",
                "customer_name": "feedback.customer", "ticket_no": "feedback.ticket", "owner_name": "feedback.owner_id",
                "due_on": "feedback.due_on", "status_name": "feedback.status", "created_at": "feedback.created_at"}
NPS_COLUMNS = {"created_at": "feedback.created_at", "customer_name": "feedback.customer", "score": "feedback.nps_score",
               "band": "feedback.nps_band", "comment": "feedback.comment", "created_by_name": "feedback.recorded_by"}
CSAT_COLUMNS = {"created_at": "feedback.created_at", "ticket_no": "feedback.ticket", "customer_name": "feedback.customer",
                "score": "feedback.csat_score", "comment": "feedback.comment", "channel_name": "feedback.channel",
                "created_by_name": "feedback.recorded_by"}
FILTER_KEYS = ("fb_kind", "fb_status", "fb_mine", "fb_overdue", "fb_q", "fb_page")


def _words() -> dict:
    """Every word `_named` needs, made in the page's run (an export builds its file on another thread)."""
    words = {f"{prefix}_{v}": t(f"{prefix}_{v}") for prefix, values in (
        ("feedback.kind", fb.KINDS), ("feedback.status", fb.STATUSES), ("feedback.channel", fb.CHANNELS)) for v in values}
    return words | {k: t(k) for k in ("feedback.overdue", "feedback.due_today", "feedback.band_promoter",
                                      "feedback.band_detractor", "feedback.band_passive")}


def _named(df: pl.DataFrame, words: dict | None = None) -> pl.DataFrame:
    """Codes as the user reads them, and the overdue / due-today flag as a plain word (an emoji shows as
    a box without a colour-emoji font; a table cell renders no Markdown badge). The labels are made here,
    never inside map_elements: that runs on polars' threads, without the session, and reads English."""
    words = words or _words()

    def label(col, prefix):
        names = {v: words.get(f"{prefix}_{v}", v) for v in df[col].drop_nulls().unique().to_list() if v}
        return pl.col(col).replace_strict(names, default=pl.lit(""), return_dtype=pl.String)
    flag = (pl.when(pl.col("overdue")).then(pl.lit(words["feedback.overdue"]))
            .when(pl.col("due_today")).then(pl.lit(words["feedback.due_today"])).otherwise(pl.lit("")))
    band = (pl.when(pl.col("score") >= fb.PROMOTER).then(pl.lit(words["feedback.band_promoter"]))
            .when(pl.col("score") <= fb.DETRACTOR).then(pl.lit(words["feedback.band_detractor"]))
            .otherwise(pl.lit(words["feedback.band_passive"])))
    return df.with_columns(
        flag.alias("flag"), band.alias("band"), pl.col("score").cast(pl.Int64, strict=False),
        label("kind", "feedback.kind").alias("kind_name"), label("status", "feedback.status").alias("status_name"),
        label("channel", "feedback.channel").alias("channel_name"))


def _open(fid: int) -> None:
    st.query_params.clear()
    st.query_params["id"] = str(fid)


def _close() -> None:
    st.query_params.clear()
    state["fb_nonce"] = state.get("fb_nonce", 0) + 1


def _new(kind: str) -> None:
    st.query_params.clear()
    st.query_params["new"] = kind


def _step(key: str, delta: int) -> None:
    state[key] = max(1, int(state.get(key, 1)) + delta)


def _export(filters: dict, columns: dict, name_key: str, total: int, key: str, **order) -> None:
    """CSV / Excel of the list shown (every page), for who may export feedback (core.export)."""
    words = _words()
    export_ui.buttons(c, me, "feedback", lambda cur: _named(export.all_rows(fb.list_feedback, cur, me, filters,
                                                                            **order)[0], words),
                      columns, t(name_key), total, key=key)


def _pager(key: str, page: int, pages: int) -> None:
    n1, n2, n3, _ = st.columns([1, 2, 1, 5], vertical_alignment="bottom")
    n1.button(t("list.previous"), disabled=page <= 1, key=f"{key}_prev", on_click=_step, args=(key, -1))
    n2.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key=key)
    n3.button(t("list.next"), disabled=page >= pages, key=f"{key}_next", on_click=_step, args=(key, 1))


def _period(key: str) -> tuple[dt.date, dt.date] | None:
    picked = st.date_input(t("feedback.period"), value=(today - dt.timedelta(days=89), today), key=key,
                           format="YYYY-MM-DD")
    if isinstance(picked, (list, tuple)) and len(picked) == 2:
        return picked[0], picked[1]
    st.caption(t("feedback.period_hint"))
    return None


# ---------------------------------------------------------------- complaints and suggestions
def cases_tab() -> None:
    if fb.can_create(c, me):
        row = st.container(horizontal=True)
        row.button(t("feedback.new_complaint"), icon=":material/report:", key="fb_new_complaint",
                   on_click=_new, args=("complaint",))
        row.button(t("feedback.new_suggestion"), icon=":material/lightbulb:", key="fb_new_suggestion",
                   on_click=_new, args=("suggestion",))
    forms.keep(FILTER_KEYS)
    with st.container(border=True):
        f1, f2, f3, f4, f5 = st.columns([2, 2, 2, 1, 1], vertical_alignment="bottom")
        kind = f1.selectbox(t("feedback.kind"), ["all", *fb.WORKED], key="fb_kind",
                            format_func=lambda v: t("feedback.all_kinds") if v == "all" else t(f"feedback.kind_{v}"))
        status = f2.selectbox(t("feedback.status"), ["open", "closed", "all"], key="fb_status",
                              format_func=lambda v: t("feedback.all_statuses") if v == "all" else t(f"feedback.status_{v}"))
        q = f3.text_input(t("feedback.search"), key="fb_q", max_chars=200)
        mine = f4.toggle(t("feedback.mine"), key="fb_mine")
        overdue = f5.toggle(t("feedback.overdue_only"), key="fb_overdue")
    filters = {"kind": list(fb.WORKED) if kind == "all" else kind, "status": status, "mine": mine,
               "overdue": overdue, "q": q or None}
    signature = repr(filters)
    if state.get("_fb_sig") != signature:
        state["_fb_sig"] = signature
        state["fb_page"] = 1
    page_size = settings.get(c, "lists.page_size")
    picked = None
    with errors.handled():
        late = fb.list_feedback(c, me, {"kind": "complaint", "overdue": True}, page_size=1)[1]
        if late:
            st.warning(t("feedback.overdue_count", n=f"{late:,}"), icon=":material/alarm:")
        df, total, page, pages = tables.current_page(
            "fb_page", page_size, lambda i: fb.list_feedback(c, me, filters, page=i, page_size=page_size,
                                                             sort="due_on" if status == "open" else "created_at",
                                                             desc=status != "open"))
        st.caption(t("feedback.count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
        if total == 0:
            st.info(t("feedback.none_found"))
        else:
            picked = tables.select_one(_named(df), CASE_COLUMNS, key=f"fb_cases_{state.get('fb_nonce', 0)}")
            _pager("fb_page", page, pages)
            _export(filters, CASE_COLUMNS, "feedback.tab_cases", total, "fb_cases_export",
                    sort="due_on" if status == "open" else "created_at", desc=status != "open")
    forms.remember(FILTER_KEYS)
    if picked is not None:
        _open(picked)
        st.rerun()


# ---------------------------------------------------------------- NPS
def nps_tab() -> None:
    if fb.can_create(c, me):
        st.button(t("feedback.record_nps"), icon=":material/add_reaction:", key="fb_new_nps", on_click=_new,
                  args=("nps",))
    period = _period("fb_nps_period")
    if period is None:
        return
    with errors.handled():
        found = fb.nps(c, me, period)
        m1, m2, m3, m4 = st.columns(4)
        m1.metric(t("feedback.nps"), "—" if found["score"] is None else f"{found['score']:+.0f}")
        m2.metric(t("feedback.promoters"), f"{found['promoters']:,}")
        m3.metric(t("feedback.passives"), f"{found['passives']:,}")
        m4.metric(t("feedback.detractors"), f"{found['detractors']:,}")
        st.caption(t("feedback.nps_hint", n=f"{found['responses']:,}"))
        df, total, page, pages = tables.current_page(
            "fb_nps_page", 50, lambda i: fb.list_feedback(c, me, {"kind": "nps", "since": period[0], "until": period[1]},
                                                          page=i, page_size=50))
        if total:
            picked = tables.select_one(_named(df), NPS_COLUMNS, key="fb_nps_table")
            _pager("fb_nps_page", page, pages)
            _export({"kind": "nps", "since": period[0], "until": period[1]}, NPS_COLUMNS, "feedback.tab_nps", total,
                    "fb_nps_export")
            if picked is not None:
                row = df.filter(pl.col("id") == picked).row(0, named=True)
                if "customer" in links:
                    st.page_link(ENTITY_PAGES["customer"], label=t("feedback.open_customer", name=row["customer_name"]),
                                 query_params={"id": str(row["customer_id"])}, icon=":material/open_in_new:")


# ---------------------------------------------------------------- CSAT
def csat_tab() -> None:
    period = _period("fb_csat_period")
    if period is None:
        return
    with errors.handled():
        found = fb.csat_summary(c, me, period)
        m1, m2, m3 = st.columns(3)
        m1.metric(t("feedback.csat_average"), "—" if found["average"] is None else f"{found['average']:.2f}")
        m2.metric(t("feedback.csat_satisfied"), "—" if found["satisfied"] is None else f"{found['satisfied']:.0%}")
        m3.metric(t("feedback.csat_ratings"), f"{found['ratings']:,}")
        df, total, page, pages = tables.current_page(
            "fb_csat_page", 50, lambda i: fb.list_feedback(c, me, {"kind": "csat", "since": period[0], "until": period[1]},
                                                           page=i, page_size=50))
        if not total:
            st.info(t("feedback.no_csat"))
            return
        picked = tables.select_one(_named(df), CSAT_COLUMNS, key="fb_csat_table")
        _pager("fb_csat_page", page, pages)
        _export({"kind": "csat", "since": period[0], "until": period[1]}, CSAT_COLUMNS, "feedback.tab_csat",
                total, "fb_csat_export")
        if picked is None:
            st.caption(t("feedback.csat_pick_hint"))
            return
        row = df.filter(pl.col("id") == picked).row(0, named=True)
        if row["ticket_id"] is not None and "ticket" in links:
            st.page_link(ENTITY_PAGES["ticket"], label=t("feedback.open_ticket", no=row["ticket_no"] or row["ticket_id"]),
                         query_params={"id": str(row["ticket_id"])}, icon=":material/open_in_new:")


# ---------------------------------------------------------------- one record
def _fact(col, label_key: str, text) -> None:
    with col:
        st.caption(t(label_key))
        st.text(text if text not in (None, "") else " ")


def _owner_picker(key: str, current: int | None, required: bool):
    people = {u["id"]: u["name"] for u in fb.owners(c)}
    options = ([] if required else [None]) + list(people)
    if current is not None and current not in options:
        options.append(current)
        people[current] = str(current)
    if current is None and required and me.id in people:
        current = me.id
    return st.selectbox(t("feedback.owner_id") + (" *" if required else ""), options, key=key,
                        index=options.index(current) if current in options else (0 if options else None),
                        format_func=lambda v: "—" if v is None else people.get(v, str(v)))


def _ticket_picker(key: str, customer_id: int, current: int | None):
    found = fb.customer_tickets(c, me, customer_id)
    names = {r["id"]: f"{r['ticket_no'] or r['id']} · {r['subject']}" for r in found}
    options = [None] + list(names)
    if current is not None and current not in names:
        options.append(current)
        names[current] = str(current)
    return st.selectbox(t("feedback.ticket"), options, key=key, index=options.index(current),
                        format_func=lambda v: "—" if v is None else names.get(v, str(v)))


def show_one(fid) -> None:
    row = fb.get_feedback(c, me, fid)
    fid = row["id"]
    st.subheader(f"{t('feedback.kind_' + row['kind'])}" + (f" · {md(row['subject'])}" if row["subject"] else ""))
    if row["overdue"]:
        st.warning(t("feedback.is_overdue", due=str(row["due_on"])), icon=":material/alarm:")
    elif row["due_today"]:
        st.warning(t("feedback.is_due_today"), icon=":material/schedule:")
    a, b, d = st.columns(3)
    _fact(a, "feedback.customer", row["customer_name"])
    _fact(b, "feedback.ticket", row["ticket_no"])
    _fact(d, "feedback.status", t(f"feedback.status_{row['status']}"))
    a, b, d = st.columns(3)
    _fact(a, "feedback.owner_id", row["owner_name"])
    _fact(b, "feedback.due_on", row["due_on"].isoformat() if row["due_on"] else "")
    _fact(d, "feedback.score", "" if row["score"] is None else f"{row['score']:g}")
    a, b, d = st.columns(3)
    _fact(a, "feedback.channel", t(f"feedback.channel_{row['channel']}") if row["channel"] else "")
    _fact(b, "feedback.recorded_by", row["created_by_name"])
    _fact(d, "feedback.created_at", clock.fmt(c, row["created_at"]))
    _fact(st.container(), "feedback.comment", row["comment"])
    if row["resolution"] or row["status"] == "closed":
        _fact(st.container(), "feedback.resolution", row["resolution"])
    l1, l2, _ = st.columns([1, 1, 3])
    if "customer" in links and row["customer_id"]:
        l1.page_link(ENTITY_PAGES["customer"], label=t("feedback.open_customer", name=row["customer_name"] or ""),
                     query_params={"id": str(row["customer_id"])}, icon=":material/groups:")
    if "ticket" in links and row["ticket_id"]:
        l2.page_link(ENTITY_PAGES["ticket"], label=t("feedback.open_ticket", no=row["ticket_no"] or row["ticket_id"]),
                     query_params={"id": str(row["ticket_id"])}, icon=":material/support_agent:")
    if row["kind"] not in fb.WORKED or not fb.can_edit(c, me, fid):
        return
    seen = state.get(f"_fb_seen_{fid}")  # the version the forms were opened on
    if seen is None:
        seen = state[f"_fb_seen_{fid}"] = row
    elif seen["updated_at"] != row["updated_at"]:
        st.warning(t("feedback.changed_reload"))
        st.button(t("action.reload"), key=f"fb_reload_{fid}", on_click=lambda: state.pop(f"_fb_seen_{fid}", None))
    nonce = state.get(f"_fb_nonce_{fid}", 0)
    key = f"fb_edit_{fid}_{nonce}"
    with st.expander(t("feedback.edit"), icon=":material/edit:"):
        with st.form(key):
            subject = st.text_input(t("feedback.subject") + " *", seen["subject"] or "", max_chars=200, key=f"{key}_s")
            comment = st.text_area(t("feedback.comment"), seen["comment"] or "", max_chars=4000, key=f"{key}_c")
            e1, e2 = st.columns(2)
            with e1:
                owner = _owner_picker(f"{key}_o", seen["owner_id"], seen["kind"] == "complaint")
            due = e2.date_input(t("feedback.due_on") + (" *" if seen["kind"] == "complaint" else ""),
                                value=seen["due_on"], key=f"{key}_d", format="YYYY-MM-DD")
            ticket = _ticket_picker(f"{key}_t", seen["customer_id"], seen["ticket_id"])
            saved = st.form_submit_button(t("action.save"), type="primary")
        if saved:
            typed = {"subject": subject.strip() or None, "comment": comment.strip() or None, "owner_id": owner,
                     "due_on": due, "ticket_id": ticket}
            changes = {k: v for k, v in typed.items() if v != seen.get(k)}
            if not changes:
                st.info(t("action.nothing_changed"))
            else:
                with errors.handled():
                    diff = fb.update_feedback(c, me, fid, changes, seen=seen)
                    state.pop(f"_fb_seen_{fid}", None)
                    state[f"_fb_nonce_{fid}"] = nonce + 1
                    forms.flash(t("action.saved", n=len(diff)))
                    st.rerun()
    if row["status"] == "open":
        with st.form(f"fb_close_{fid}_{nonce}"):
            resolution = st.text_area(t("feedback.resolution") + (" *" if row["kind"] == "complaint" else ""),
                                      max_chars=4000, key=f"fb_res_{fid}_{nonce}")
            closing = st.form_submit_button(t("feedback.close"), icon=":material/task_alt:")
        if closing:
            with errors.handled():
                fb.close_feedback(c, me, fid, resolution.strip() or None, seen=seen)
                state.pop(f"_fb_seen_{fid}", None)
                state[f"_fb_nonce_{fid}"] = nonce + 1
                forms.flash(t("feedback.closed_done"))
                st.rerun()
    elif st.button(t("feedback.reopen"), key=f"fb_reopen_{fid}", icon=":material/undo:"):
        with errors.handled():
            fb.reopen_feedback(c, me, fid, seen=seen)
            state.pop(f"_fb_seen_{fid}", None)
            forms.flash(t("feedback.reopened"))
            st.rerun()


# ---------------------------------------------------------------- record new feedback
def _customer_picker(kind: str):
    """The customer from the link (?customer=N), else a search among the customers the user may see."""
    linked = st.query_params.get("customer")
    if linked:
        found = customers.get_customer(c, me, linked)
        st.markdown(t("feedback.for_customer", name=found["name"]))
        return found["id"]
    return pick_customer(c, me, f"fb_new_{kind}", "feedback")


def new_form(kind: str) -> None:
    st.subheader(t(f"feedback.new_{kind}"))
    cid = _customer_picker(kind)
    if cid is None:
        return
    nonce = state.get("fb_new_nonce", 0)
    key = f"fb_new_{kind}_{cid}_{nonce}"
    channels = list(fb.CHANNELS)
    with st.form(key):
        if kind == "nps":
            st.caption(t("feedback.nps_question"))
            score = st.radio(t("feedback.nps_score"), list(range(11)), index=None, horizontal=True, key=f"{key}_score")
            values = {}
        else:
            subject = st.text_input(t("feedback.subject") + " *", max_chars=200, key=f"{key}_s")
            e1, e2 = st.columns(2)
            with e1:
                owner = _owner_picker(f"{key}_o", None, kind == "complaint")
            due = e2.date_input(t("feedback.due_on") + (" *" if kind == "complaint" else ""),
                                value=today + dt.timedelta(days=3) if kind == "complaint" else None,
                                key=f"{key}_d", format="YYYY-MM-DD")
            ticket = _ticket_picker(f"{key}_t", cid, None)
            values = {"kind": kind, "customer_id": cid, "subject": subject, "owner_id": owner, "due_on": due,
                      "ticket_id": ticket}
        channel = st.selectbox(t("feedback.channel"), channels, key=f"{key}_ch",
                               index=channels.index("survey" if kind == "nps" else "phone"),
                               format_func=lambda v: t(f"feedback.channel_{v}"))
        comment = st.text_area(t("feedback.comment"), max_chars=4000, key=f"{key}_c")
        submitted = st.form_submit_button(t("feedback.save"), type="primary")
    if not submitted:
        return
    if kind == "nps" and score is None:
        st.warning(t("feedback.pick_score"))
        return
    signature = {"kind": kind, "customer": cid, "comment": comment, **({"score": score} if kind == "nps" else
                                                                      {k: str(v) for k, v in values.items()})}
    if not forms.first_submit("feedback_new", signature):
        st.info(t("action.already_done"))
        return
    with errors.handled():
        if kind == "nps":
            fid = fb.record_nps(c, me, cid, score, comment=comment.strip() or None, channel=channel)
        else:
            values = {k: v for k, v in values.items() if v is not None and v != ""}
            fid = fb.create_feedback(c, me, {**values, "comment": comment.strip() or None, "channel": channel})
        forms.remember_submit("feedback_new", signature)
        state["fb_new_nonce"] = nonce + 1
        forms.flash(t("feedback.recorded"))
        if kind == "nps":
            _close()
        else:
            _open(fid)
        st.rerun()


new_kind = st.query_params.get("new")
open_id = st.query_params.get("id")
if new_kind in ("complaint", "suggestion", "nps") or open_id:
    st.button(t("customers.back_to_list"), icon=":material/arrow_back:", key="fb_back", on_click=_close)
    with st.container(border=True):
        with errors.handled():
            if new_kind in ("complaint", "suggestion", "nps"):
                if not fb.can_create(c, me):
                    st.info(t("feedback.cannot_record"))
                else:
                    new_form(new_kind)
            else:
                show_one(open_id)
else:
    cases, nps_t, csat_t = st.tabs([t("feedback.tab_cases"), t("feedback.tab_nps"), t("feedback.tab_csat")])
    with cases:
        cases_tab()
    with nps_t:
        nps_tab()
    with csat_t:
        csat_tab()
