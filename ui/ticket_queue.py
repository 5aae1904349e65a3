"""The service desk (客服工作台) without a ticket open: the queues as tabs with their counts (assigned to
me, my team's unassigned, at risk, breached, all open), sorted by the time left to breach by default,
filters, one row per ticket that opens it, a Claim button on unassigned rows, bulk assign for those who
may assign tickets, and "New ticket". Everything it shows comes from core.ticket_queue under the viewer's
scope; writes go through core.tickets."""
from __future__ import annotations

import streamlit as st

from core import access, clock, ticket_queue, tickets
from core.errors import CRMError
from ui import errors, forms, tables
from ui.i18n import label, t
from ui.session import actor, con
from ui.text import md

PAGE_SIZE = 25
FILTER_KEYS = ("tq_view", "tq_q", "tq_priority", "tq_category", "tq_status", "tq_assignee", "tq_sort", "tq_desc",
               "tq_page")
BADGE = {"breached": "red", "missed": "red", "at_risk": "orange", "paused": "gray", "ok": "blue", "met": "green"}
# the row's columns: pick (bulk assign), ticket, customer, priority, status, SLA, assignee / claim
WIDTHS = [0.35, 3.6, 2.0, 0.9, 0.9, 1.6, 1.5]


def _fmt(names: dict):
    """A widget's format_func over labels made while the page runs (in the user's language)."""
    return lambda value: names.get(value, "" if value is None else str(value))


def duration(minutes: float | None) -> str:
    """Business minutes as "2h 05m" (sign dropped: the caller says left or overdue)."""
    m = int(round(abs(minutes or 0)))
    return t("queue.hours_minutes", h=m // 60, m=f"{m % 60:02d}") if m >= 60 else t("queue.minutes", m=m)


def sla_badge(row: dict) -> str:
    """The row's SLA as a coloured badge: time left, overdue by, paused, or met / missed once resolved."""
    state, left = row.get("sla_state"), row.get("sla_left_minutes")
    if state is None or left is None:
        return "—"
    if state in ("met", "missed"):
        text = t(f"queue.state_{state}")
    elif state == "breached":
        text = t("queue.overdue_by", time=duration(left))
    elif state == "paused":
        text = t("queue.paused_left", time=duration(left))
    else:
        text = t("queue.time_left", time=duration(left))
    return f":{BADGE.get(state, 'gray')}-badge[{text}]"


# ------------------------------------------------------------------------------------------- actions
def _claim(ticket_id: int, ticket_no: str) -> None:
    """Claim the ticket the button was drawn for (its id is the button's key and argument, never a row
    position): a second click on it (a double click, a stale tab) finds it taken and says so."""
    try:
        done = tickets.claim(con(), actor(), ticket_id)
    except CRMError as exc:
        forms.flash(errors.message(exc), "error")
    else:
        if done:
            forms.flash(t("queue.claimed", no=ticket_no))
        else:
            forms.flash(t("queue.already_yours", no=ticket_no), "info")


def _open(ticket_id: int) -> None:
    """Open a ticket on this page (?id=N). Not a page_link: one to the page already shown leaves the
    browser's address without ?id, and the next rerun (the ticket page's first form) lands back here."""
    forms.remember(FILTER_KEYS)
    st.query_params["id"] = str(ticket_id)


def _new() -> None:
    """The new-ticket form (?new=1), for the same reason as `_open`."""
    forms.remember(FILTER_KEYS)
    st.query_params["new"] = "1"


def _pick_all(ids: list[int]) -> None:
    value = bool(st.session_state.get("tq_pick_all"))
    for i in ids:
        st.session_state[f"tq_pick_{i}"] = value


def _clear_picks() -> None:
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith("tq_pick_")]:
        del st.session_state[key]


def _assign(ids: list[int], assignee: int | None, people: dict) -> None:
    if not ids or assignee is None:
        forms.flash(t("queue.assign_pick"), "warning")
        return
    try:
        n = tickets.assign(con(), actor(), ids, assignee)
    except CRMError as exc:
        forms.flash(errors.message(exc), "error")
    else:
        _clear_picks()
        forms.flash(t("queue.assigned", n=n, name=people.get(assignee, "")))


def _step(delta: int) -> None:
    state = st.session_state
    state["tq_page"] = max(1, int(state.get("tq_page", 1)) + delta)


# ------------------------------------------------------------------------------------------- filters
def _filters(c, me, people: dict) -> tuple[dict, str, bool]:
    state = st.session_state
    f1, f2, f3, f4, f5 = st.columns([3, 2, 2, 2, 2])
    q = f1.text_input(t("queue.search"), placeholder=t("queue.search_hint"), key="tq_q", max_chars=200)
    priority = f2.multiselect(t("ticket.priority"), list(ticket_queue.PRIORITIES), key="tq_priority",
                              placeholder=t("list.choose"),
                              format_func=_fmt({p: t(f"ticket.priority_{p}") for p in ticket_queue.PRIORITIES}))
    categories = {o["code"]: label(o) for o in tickets.categories(c, include_inactive=True)}
    category = f3.multiselect(t("queue.category"), list(categories), key="tq_category", placeholder=t("list.choose"),
                              format_func=_fmt(categories))
    status = f4.multiselect(t("ticket.status"), list(ticket_queue.STATUSES), key="tq_status",
                            placeholder=t("queue.open_statuses"),
                            format_func=_fmt({s: t(f"ticket.status_{s}") for s in ticket_queue.STATUSES}))
    assignee = f5.multiselect(t("ticket.assignee"), list(people), key="tq_assignee", placeholder=t("list.choose"),
                              format_func=_fmt(people))
    g1, g2, _ = st.columns([2, 2, 4], vertical_alignment="bottom")
    state.setdefault("tq_sort", "sla")
    sort = g1.selectbox(t("queue.sort"), ticket_queue.SORTS, key="tq_sort",
                        format_func=_fmt({s: t(f"queue.sort_{s}") for s in ticket_queue.SORTS}))
    desc = g2.toggle(t("queue.reverse"), key="tq_desc")
    given = {"q": q or None, "priority": priority or None, "category": [x for x in category if x in categories] or None,
             "status": status or None, "assignee": [a for a in assignee if a in people] or None}
    return {k: v for k, v in given.items() if v is not None}, sort, desc


# ---------------------------------------------------------------------------------------------- rows
def _header(bulk: bool, ids: list[int]) -> None:
    cols = st.columns(WIDTHS, vertical_alignment="center")
    if bulk and ids:
        cols[0].checkbox(t("queue.pick_all"), key="tq_pick_all", label_visibility="collapsed",
                         on_change=_pick_all, args=(ids,))
    for col, key in zip(cols[1:], ("queue.col_ticket", "queue.col_customer", "ticket.priority", "ticket.status",
                                   "queue.col_sla", "ticket.assignee")):
        col.caption(f"**{t(key)}**")


def _row(c, me, row: dict, bulk: bool, may_claim: bool) -> None:
    with st.container(border=True):
        cols = st.columns(WIDTHS, vertical_alignment="center")
        if bulk:
            cols[0].checkbox(t("queue.pick", no=row["ticket_no"] or row["id"]), key=f"tq_pick_{row['id']}",
                             label_visibility="collapsed")
        cols[1].button(md(f"{row['ticket_no'] or row['id']} · {row['subject']}"), key=f"tq_open_{row['id']}",
                       type="tertiary", on_click=_open, args=(row["id"],))
        cols[2].caption(md(row["customer_name"] or "—"))
        cols[3].caption(t(f"ticket.priority_{row['priority']}") if row["priority"] else "—")
        cols[4].caption(t(f"ticket.status_{row['status']}") if row["status"] else "—")
        with cols[5]:
            st.markdown(sla_badge(row), help=t("queue.due_help", target=t(f"queue.target_{row['sla_target']}"),
                                                 due=clock.fmt(c, row["sla_due"]))
                        if row.get("sla_target") and row.get("sla_due") else None)
        if row["assignee_id"] is not None:
            cols[6].caption(md(row["assignee_name"] or "—"))
        elif may_claim and row["status"] in ticket_queue.OPEN_STATUSES:
            cols[6].button(t("queue.claim"), key=f"tq_claim_{row['id']}", icon=":material/front_hand:",
                           on_click=_claim, args=(row["id"], row["ticket_no"] or str(row["id"])))
        else:
            cols[6].caption(t("queue.unassigned"))


def _bulk_bar(ids: list[int], people: dict) -> None:
    picked = [i for i in ids if st.session_state.get(f"tq_pick_{i}")]
    b1, b2, _ = st.columns([3, 2, 3], vertical_alignment="bottom")
    who = b1.selectbox(t("queue.assign_to"), [None, *people], key="tq_assign_to",
                       format_func=_fmt({None: t("queue.assign_choose"), **people}))
    b2.button(t("queue.assign_n", n=len(picked)), key="tq_assign", disabled=not picked or who is None,
              type="primary", on_click=_assign, args=(picked, who, people))


# ---------------------------------------------------------------------------------------------- page
def render() -> None:
    me, c = actor(), con()
    state = st.session_state
    forms.keep(FILTER_KEYS)
    head, new = st.columns([5, 1], vertical_alignment="bottom")
    head.title(t("queue.title"), anchor=False)
    if access.can(c, me, "tickets", "create"):
        new.button(t("queue.new_ticket"), icon=":material/add:", key="tq_new", on_click=_new)
    forms.show_flash()
    with errors.handled():
        people = {p["id"]: p["name"] for p in tickets.assignees(c, me)}
        with st.container(border=True):
            current, sort, desc = _filters(c, me, people)
        counts = ticket_queue.counts(c, me, current)
        may_work = access.can(c, me, "tickets", "edit")
        if state.get("tq_view") not in ticket_queue.VIEWS:  # a click on the tab shown unselects it: keep it
            state["tq_view"] = state.get("_tq_last_view") or next(
                (v for v in ("mine", "team_unassigned") if may_work and counts[v]), "all")
        view = st.segmented_control(
            t("queue.view"), ticket_queue.VIEWS, key="tq_view", label_visibility="collapsed",
            format_func=_fmt({v: t(f"queue.view_{v}", n=f"{counts[v]:,}") for v in ticket_queue.VIEWS})) or "all"
        state["_tq_last_view"] = view
        signature = (repr(sorted(current.items(), key=lambda kv: kv[0])), view, sort, desc)
        if state.get("_tq_sig") != signature:
            state["_tq_sig"] = signature
            state["tq_page"] = 1
            _clear_picks()
        df, total, page, pages = tables.current_page(
            "tq_page", PAGE_SIZE,
            lambda i: ticket_queue.queue(c, me, view, current, sort=sort, desc=desc, page=i, page_size=PAGE_SIZE))
        if state.get("_tq_page_seen") != page:  # ticks belong to the rows of one page
            state["_tq_page_seen"] = page
            _clear_picks()
        st.caption(t("queue.count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
        if total == 0:
            st.info(t(f"queue.none_{view}"))
        rows = df.to_dicts()
        ids = [r["id"] for r in rows]
        bulk = tickets.can_assign(c, me) and bool(people)
        if rows:
            _header(bulk, ids)
            for row in rows:
                _row(c, me, row, bulk, may_work)
        if bulk and rows:
            _bulk_bar(ids, people)
        if pages > 1:
            n1, n2, n3, _ = st.columns([1, 2, 1, 5], vertical_alignment="bottom")
            n1.button(t("list.previous"), disabled=page <= 1, key="tq_prev", on_click=_step, args=(-1,))
            n2.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1,
                            key="tq_page")
            n3.button(t("list.next"), disabled=page >= pages, key="tq_next", on_click=_step, args=(1,))
        _export(c, me, view, current, sort, desc, total)
    forms.remember(FILTER_KEYS)


EXPORT_COLUMNS = {"ticket_no": "ticket.no", "subject": "ticket.subject", "customer_name": "ticket.customer",
                  "priority": "ticket.priority", "status": "ticket.status", "channel": "ticket.channel",
                  "assignee_name": "ticket.assignee", "team_name": "ticket.team_id", "opened_at": "ticket.opened_at",
                  "sla_state": "queue.col_sla", "sla_due": "ticket.sla_due", "updated_at": "ticket.updated_at"}


def _export(c, me, view: str, current: dict, sort: str, desc: bool, total: int) -> None:
    """CSV / Excel of the queue shown (every page), for who may export tickets (core.export). Codes are
    named here, in the page's run (the file is made on the download's own thread, without the session)."""
    import polars as pl

    from core import export
    from ui import export as export_ui

    names = {"priority": {p: t(f"ticket.priority_{p}") for p in ticket_queue.PRIORITIES},
             "status": {s: t(f"ticket.status_{s}") for s in ticket_queue.STATUSES},
             "sla_state": {s: t(f"ticket.sla_state_{s}") for s in BADGE}}

    def frame(cur):
        rows = export.all_rows(ticket_queue.queue, cur, me, view, current, sort=sort, desc=desc)[0]
        return rows.with_columns(pl.col(col).replace_strict(m, default=pl.col(col), return_dtype=pl.String)
                                 for col, m in names.items())

    export_ui.buttons(c, me, "tickets", frame, EXPORT_COLUMNS, t("queue.title"), total, key="tq_export")
