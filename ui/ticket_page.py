"""The ticket page (服务工单): one ticket (`?id=N`) or a new one (`?new=1[&customer=N]`).

One ticket: a header (number, subject, status, priority, channel, category, queue, assignee), the SLA
time left (core.sla, business minutes), links to its customer, to the ticket it was merged into or that
it follows up; the actions (claim, reply to the customer, internal note, status, assign for the lead,
reopen, merge into another ticket of the customer); the conversation, oldest first, replies and internal
notes drawn differently, every text shown as typed (never as Markdown or HTML); the CSAT widget once
resolved (ui.csat); the edit form; the customer's history (earlier tickets, orders, deals, follow-ups),
read-only and only the modules the user may view. A ticket out of the user's scope reads "not found".
"""
from __future__ import annotations

import dataclasses

import polars as pl
import streamlit as st

from core import clock, customers, fields, tickets
from core.errors import CRMError, NotFound
from ui import errors, fieldform, forms, records, tables
from ui.customer_pick import customer_for_new
from ui.i18n import label, lang, t
from ui.text import md

PREFIX = "ticket"
PAGE = "views/tickets.py"
CUSTOMERS = "views/customers.py"
STATE_ICONS = {"ok": ":material/timer:", "at_risk": ":material/hourglass_bottom:", "breached": ":material/alarm:",
               "paused": ":material/pause_circle:", "met": ":material/task_alt:", "missed": ":material/running_with_errors:"}


def _to_desk() -> None:
    for key in ("id", "new", "customer"):
        st.query_params.pop(key, None)


def _open(ticket_id: int) -> None:
    """Show another ticket on this page (?id=N). Buttons call it, never an st.page_link to this page: with
    Streamlit 1.67 a page_link to the page already shown draws the other ticket but leaves the browser's
    address at the old ?id, so the next rerun (a form's submit) goes back to the old ticket and the typed
    text is lost."""
    st.query_params.pop("new", None)
    st.query_params.pop("customer", None)
    st.query_params["id"] = str(ticket_id)


def render(c=None, me=None) -> None:
    from ui.session import actor, con

    me, c = me or actor(), c or con()
    st.button(t("ticket.back_to_desk"), icon=":material/arrow_back:", on_click=_to_desk, key="ticket_back")
    forms.show_flash()
    query = st.query_params
    if query.get("new"):
        with errors.handled():
            _new(c, me, query.get("customer"))
        return
    try:
        data = tickets.page_data(c, me, query.get("id"))
    except CRMError as exc:  # out of scope or a bad id: the same words, nothing more
        st.title(t("page.service_desk"))
        errors.show(exc if isinstance(exc, NotFound) else NotFound("ticket.not_found"))
        return
    _show(c, me, data)


# ---------------------------------------------------------------------------------------- labels
def _status(v) -> str:
    return t(f"ticket.status_{v}") if v in tickets.STATUSES else str(v or "—")


def _priority(v) -> str:
    return t(f"ticket.priority_{v}") if v in tickets.PRIORITIES else str(v or "—")


def _channel(v) -> str:
    return t(f"ticket.channel_{v}") if v in tickets.CHANNELS else str(v or "—")


def _labels(c) -> dict:
    cats = {r["code"]: label(r) for r in tickets.categories(c, include_inactive=True)}
    subs = {r["code"]: (cats.get(r["parent"], r["parent"] or "") + " › " + label(r))
            for r in tickets.subcategories(c, include_inactive=True)}
    return {"category": lambda v: cats.get(v, v), "sub_category": lambda v: subs.get(v, v),
            "priority": _priority, "channel": _channel, "status": _status}


def _minutes(value) -> str:
    """Business minutes as '3 h 20 min' (negative: overdue by)."""
    if value is None:
        return "—"
    m = int(round(abs(float(value))))
    text = t("ticket.hours_minutes", h=m // 60, m=m % 60) if m >= 60 else t("ticket.minutes", m=m)
    return text


def _local(c, value) -> str:
    return clock.fmt(c, value) if value is not None else "—"


# ---------------------------------------------------------------------------------------- one ticket
def _seen(ticket: dict) -> dict:
    key = f"_{PREFIX}_seen_{ticket['id']}"
    if key not in st.session_state:
        st.session_state[key] = ticket
    return st.session_state[key]


def _done(tid: int, text: str, go_to: int | None = None) -> None:
    records.reload(PREFIX, tid)
    st.session_state[f"_ticket_nonce_{tid}"] = st.session_state.get(f"_ticket_nonce_{tid}", 0) + 1
    forms.flash(text)
    if go_to is not None and go_to != tid:
        _open(go_to)
    st.rerun()


def _show(c, me, data: dict) -> None:
    ticket = data["ticket"]
    tid = ticket["id"]
    labels = _labels(c)
    st.title(md(f"{ticket.get('ticket_no') or tid} · {ticket.get('subject') or ''}"), anchor=False)
    parts = [t("ticket.status_is", status=_status(ticket["status"])),
             t("ticket.priority_is", priority=_priority(ticket.get("priority")))]
    if ticket.get("channel"):  # "label: value" from the catalogue (zh writes a full-width ：)
        parts.append(t("ticket.channel_is", channel=_channel(ticket["channel"])))
    if ticket.get("category"):
        cat = labels["category"](ticket["category"])
        if ticket.get("sub_category"):
            cat += " › " + (label({"name_en": ticket.get("sub_category_name_en"),
                                   "name_zh": ticket.get("sub_category_name_zh")}) or ticket["sub_category"])
        parts.append(md(cat))
    parts.append(t("ticket.queue_is", team=ticket.get("team_name") or "—"))
    parts.append(t("ticket.assignee_is", name=ticket.get("assignee_name") or t("ticket.unassigned")))
    st.caption(" · ".join(parts))
    _links(c, me, ticket)
    _sla(c, ticket)

    may_edit = tickets.allowed(c, me, tid, "edit")
    nonce = st.session_state.get(f"_ticket_nonce_{tid}", 0)
    if may_edit:
        with errors.handled():
            _actions(c, me, ticket, nonce, data["history"].get("tickets"))
    st.subheader(t("ticket.conversation"), anchor=False)
    if ticket.get("description"):
        with st.container(border=True):
            st.caption(t("ticket.description"))
            st.text(ticket["description"])
    _conversation(c, data["events"])
    if ticket["status"] in ("resolved", "closed") and ticket.get("merged_into") is None:  # a duplicate is not rated
        try:
            from ui import csat
        except ImportError:  # the feedback part is not there
            csat = None
        if csat is not None:
            csat.csat_form(c, me, ticket)
    st.subheader(t("ticket.details"), anchor=False)
    with errors.handled():
        _details(c, me, ticket, may_edit, labels)
    st.subheader(t("ticket.customer_history"), anchor=False)
    with errors.handled():
        _history(c, data["history"], labels)


def _links(c, me, ticket: dict) -> None:
    if ticket.get("customer_id") is not None:
        if customers.allowed(c, me, ticket["customer_id"], "view"):
            st.page_link(CUSTOMERS, label=t("ticket.open_customer", name=ticket.get("customer_name") or "—"),
                         query_params={"id": str(ticket["customer_id"])}, icon=":material/person:")
        else:
            st.text(ticket.get("customer_name") or "—")
    if ticket.get("contact_name"):
        st.caption(t("ticket.contact_is", name=ticket["contact_name"]))
    if ticket.get("merged_into") is not None:
        st.warning(t("ticket.is_merged"), icon=":material/merge:")
        _ticket_link("into", ticket["merged_into"],
                     t("ticket.merged_into", no=ticket.get("merged_into_no") or ticket["merged_into"]),
                     ":material/call_merge:")
    for row in ticket.get("merged_here") or []:
        _ticket_link("from", row["id"], t("ticket.merged_from", no=row["ticket_no"] or row["id"]),
                     ":material/call_merge:")
    if ticket.get("parent_id") is not None:
        _ticket_link("parent", ticket["parent_id"],
                     t("ticket.follows_up", no=ticket.get("parent_no") or ticket["parent_id"]), ":material/link:")
    for row in ticket.get("follow_ups") or []:
        _ticket_link("next", row["id"], t("ticket.followed_by", no=row["ticket_no"] or row["id"]), ":material/link:")


def _ticket_link(kind: str, ticket_id: int, text: str, icon: str) -> None:
    """A link-looking button to another ticket on this page (see `_open`: not a page_link)."""
    st.button(text, key=f"ticket_go_{kind}_{ticket_id}", icon=icon, type="tertiary", on_click=_open,
              args=(ticket_id,))


def _sla(c, ticket: dict) -> None:
    if ticket.get("merged_into") is not None:  # a merged duplicate has no SLA of its own: the kept ticket has it
        st.caption(t("ticket.sla_merged", no=ticket.get("merged_into_no") or ticket["merged_into"]))
        return
    state = ticket.get("sla_state")
    if state is None:
        return
    cols = st.columns([3, 2, 2])
    target = t(f"ticket.sla_{ticket.get('sla_target')}") if ticket.get("sla_target") else t("ticket.sla_done")
    left = ticket.get("sla_left_minutes")
    label = t("ticket.sla_time_left")
    if state == "breached":  # the label says "overdue by", so the value fits the card ("overdue by 166 h …" did not)
        label, value = t("ticket.sla_overdue_label"), _minutes(left)
    elif state in ("met", "missed"):
        value = t(f"ticket.sla_state_{state}")
    else:
        value = _minutes(left)
    cols[0].metric(label, value, help=t("ticket.sla_help"))
    cols[1].markdown(f"{STATE_ICONS.get(state, '')} **{t(f'ticket.sla_state_{state}')}** · {target}")
    cols[2].caption(t("ticket.sla_due", when=_local(c, ticket.get("sla_due"))))


# ---------------------------------------------------------------------------------------- actions
def _actions(c, me, ticket: dict, nonce: int, earlier: pl.DataFrame | None) -> None:
    tid, status = ticket["id"], ticket["status"]
    if ticket.get("merged_into") is not None:  # the work goes on in the kept ticket (its link is above)
        return
    if ticket.get("assignee_id") is None and status != "closed":
        st.button(t("ticket.claim"), key=f"ticket_claim_{tid}", icon=":material/front_hand:", type="primary",
                  on_click=_claim, args=(tid,))
    if status != "closed":
        _reply_form(c, me, ticket, nonce)
    left, right = st.columns(2)
    with left:
        _status_form(c, me, ticket, nonce)
    with right:
        if tickets.can_assign(c, me):
            _assign_form(c, me, ticket, nonce)
    if status in ("resolved", "closed") and ticket.get("merged_into") is None:
        _reopen_form(c, me, ticket, nonce)
    if ticket.get("merged_into") is None and earlier is not None:
        _merge_form(c, me, ticket, nonce, earlier)


def _claim(tid: int) -> None:
    """Claim the ticket the button was drawn for. A callback, so a click from a page drawn before someone
    (or this user in another tab, or a double click) took the ticket still gets its answer: "yours
    already" or who has it, never a silent nothing and never another ticket."""
    from ui.session import actor, con

    try:
        done = tickets.claim(con(), actor(), tid)
    except CRMError as exc:
        forms.flash(errors.message(exc), "error")
        return
    records.reload(PREFIX, tid)
    st.session_state[f"_ticket_nonce_{tid}"] = st.session_state.get(f"_ticket_nonce_{tid}", 0) + 1
    forms.flash(t("ticket.claimed") if done else t("ticket.already_yours"), "success" if done else "info")


def _reply_form(c, me, ticket: dict, nonce: int) -> None:
    tid = ticket["id"]
    with st.form(f"ticket_reply_{tid}_{nonce}", border=True):
        kind = st.segmented_control(t("ticket.write"), ("reply", "note"), default="reply", key=f"ticket_kind_{tid}_{nonce}",
                                    format_func=lambda v: t(f"ticket.write_{v}"))
        body = st.text_area(t("ticket.body"), key=f"ticket_body_{tid}_{nonce}", max_chars=tickets.BODY_MAX,
                            height=120)
        cols = st.columns(2)
        channel = cols[0].selectbox(t("ticket.reply_channel"), [None, *tickets.CHANNELS], key=f"ticket_chan_{tid}_{nonce}",
                                    format_func=lambda v: fieldform.EMPTY if v is None else _channel(v))
        moves = [s for s in tickets.TRANSITIONS.get(ticket["status"], ()) if s != "open" or ticket["status"] in
                 ("new", "pending")]
        then = cols[1].selectbox(t("ticket.then_status"), [None, *moves], key=f"ticket_then_{tid}_{nonce}",
                                 format_func=lambda v: t("ticket.keep_status") if v is None else _status(v))
        sent = st.form_submit_button(t("ticket.send"), type="primary", icon=":material/send:")
    if not sent:
        return
    signature = {"body": body, "kind": kind, "ticket": tid, "_user": me.id}
    if not forms.first_submit(f"ticket_reply_{tid}", signature):
        st.info(t("action.already_done"))
        return
    with errors.handled():
        if kind == "note":
            tickets.add_note(c, me, tid, body)
            if then is not None:
                tickets.set_status(c, me, tid, then)
        else:
            tickets.reply(c, me, tid, body, status=then, channel=channel)
        forms.remember_submit(f"ticket_reply_{tid}", signature)
        _done(tid, t("ticket.noted" if kind == "note" else "ticket.replied"))


def _status_form(c, me, ticket: dict, nonce: int) -> None:
    tid, status = ticket["id"], ticket["status"]
    moves = [s for s in tickets.TRANSITIONS.get(status, ()) if not (s == "open" and status in ("resolved", "closed"))]
    if not moves:
        return
    with st.form(f"ticket_status_{tid}_{nonce}", border=True):
        to = st.selectbox(t("ticket.set_status"), moves, format_func=_status, key=f"ticket_to_{tid}_{nonce}")
        resolution = st.text_area(t("ticket.resolution"), key=f"ticket_res_{tid}_{nonce}", max_chars=2000, height=68)
        go = st.form_submit_button(t("ticket.change_status"), icon=":material/swap_horiz:")
    if go:
        with errors.handled():
            tickets.set_status(c, me, tid, to, resolution=resolution.strip() or None)
            _done(tid, t("ticket.status_changed", status=_status(to)))


def _assign_form(c, me, ticket: dict, nonce: int) -> None:
    tid = ticket["id"]
    people = tickets.assignees(c, me)
    names = {p["id"]: f"{p['name']} ({p['team_name'] or '—'})" for p in people}
    with st.form(f"ticket_assign_{tid}_{nonce}", border=True):
        who = st.selectbox(t("ticket.assign_to"), list(names), format_func=names.get, index=None,
                           placeholder=t("ticket.pick_agent"), key=f"ticket_who_{tid}_{nonce}")
        go = st.form_submit_button(t("ticket.assign"), icon=":material/assignment_ind:")
    if go and who is not None:
        with errors.handled():
            tickets.assign(c, me, [tid], who)
            _done(tid, t("ticket.assigned", name=names[who]))


def _reopen_form(c, me, ticket: dict, nonce: int) -> None:
    tid = ticket["id"]
    with st.form(f"ticket_reopen_{tid}_{nonce}", border=True):
        st.caption(t("ticket.reopen_hint"))
        reason = st.text_area(t("ticket.reopen_reason"), key=f"ticket_why_{tid}_{nonce}", max_chars=2000, height=68)
        go = st.form_submit_button(t("ticket.reopen"), icon=":material/undo:")
    if go:
        with errors.handled():
            new_id = tickets.reopen(c, me, tid, reason)
            _done(tid, t("ticket.reopened") if new_id == tid else t("ticket.reopened_new"), go_to=new_id)


def _merge_form(c, me, ticket: dict, nonce: int, earlier: pl.DataFrame) -> None:
    tid = ticket["id"]
    others = earlier.filter(pl.col("status").is_in(list(tickets.OPEN_STATUSES) + ["resolved"]))
    if others.is_empty():
        return
    names = {r["id"]: f"{r['ticket_no'] or r['id']} · {r['subject']}" for r in others.to_dicts()}
    with st.expander(t("ticket.merge_title"), icon=":material/merge:"):
        with st.form(f"ticket_merge_{tid}_{nonce}", border=False):
            into = st.selectbox(t("ticket.merge_into"), list(names), format_func=names.get, index=None,
                                placeholder=t("ticket.pick_ticket"), key=f"ticket_into_{tid}_{nonce}")
            go = st.form_submit_button(t("ticket.merge"), icon=":material/call_merge:")
        if go and into is not None:
            with errors.handled():
                tickets.merge(c, me, tid, into)
                _done(tid, t("ticket.merged"), go_to=into)


# ---------------------------------------------------------------------------------------- conversation
def _event_line(row: dict) -> str | None:
    """The one-line text of an event other than a reply or a note (None: not shown)."""
    kind = row["kind"]
    if kind == "created":
        return t("ticket.ev_created")
    if kind == "status":
        return t("ticket.ev_status", old=_status(row["from_value"]), new=_status(row["to_value"]))
    if kind == "reopen":
        if row["to_value"] not in tickets.STATUSES and row["to_value"]:
            return t("ticket.ev_reopen_new")
        return t("ticket.ev_reopen")
    if kind == "assign":
        if row.get("to_name") is None:
            return t("ticket.ev_unassigned")
        return t("ticket.ev_assign", name=row["to_name"])
    if kind == "priority":
        return t("ticket.ev_priority", old=_priority(row["from_value"]), new=_priority(row["to_value"]))
    if kind == "merge":
        return t("ticket.ev_merge")
    if kind == "csat":
        return t("ticket.ev_csat", score=row["to_value"] or "—")
    if kind == "field":
        return t("ticket.ev_field", field=row["body"] or "—")
    return None


def _conversation(c, events: pl.DataFrame) -> None:
    if events.is_empty():
        st.caption(t("ticket.no_events"))
        return
    tz = clock.zone(c)
    for row in events.to_dicts():
        when = clock.utc_to_local(row["occurred_at"], tz).strftime("%Y-%m-%d %H:%M")
        who = row["user_name"] or t("audit.system")
        moved = t("ticket.moved_from", no=row["moved_from_no"]) if row.get("moved_from") is not None else ""
        if row["kind"] == "reply":
            with st.chat_message("assistant", avatar=":material/support_agent:"):
                head = t("ticket.reply_by", who=who, when=when)
                if row.get("channel"):
                    head += " · " + _channel(row["channel"])
                st.caption(head + (" · " + moved if moved else ""))
                st.text(row["body"] or "")
        elif row["kind"] == "note":
            with st.container(border=True):
                st.markdown(f":orange-badge[:material/lock: {t('ticket.internal_note')}] "
                            + t("ticket.note_by", who=who, when=when) + (" · " + moved if moved else ""))
                st.text(row["body"] or "")
        else:
            line = _event_line(row)
            if line is None:
                continue
            st.caption(f"{line} · {md(who)} · {when}" + (" · " + moved if moved else ""))
            if row["kind"] in ("status", "reopen") and row.get("body"):
                st.text(row["body"])


# ---------------------------------------------------------------------------------------- details
def _choice_defs(c, me, ticket: dict, defs: dict) -> dict:
    """The form's fields: the contact and the order as choices among the customer's."""
    out = {}
    for name, f in defs.items():
        if not f.custom and name not in tickets.FORM_FIELDS:
            continue
        if name in ("contact_id", "order_id", "product_id"):
            ids = tuple(_link_choices(c, me, ticket, name))
            if not ids:
                continue
            f = dataclasses.replace(f, kind="choice", options=ids)
        out[name] = f
    return out


def _link_choices(c, me, ticket: dict, name: str) -> dict:
    """id -> label of the contacts / orders of the ticket's customer (or the products), and the ticket's own."""
    from core import contacts, orders, pipelines

    found: dict = {}
    cid = ticket.get("customer_id")
    try:
        if name == "contact_id" and cid is not None:
            df = contacts.list_contacts(c, me, cid)
            found = dict(zip(df["id"].to_list(), df["name"].to_list())) if df.height else {}
        elif name == "order_id" and cid is not None:
            df = orders.customer_orders(c, me, cid, limit=100)
            found = {r["id"]: f"{r['order_no'] or r['id']} · {_local(c, r['ordered_at'])}" for r in df.to_dicts()}
        elif name == "product_id":
            found = {p["id"]: f"{p.get('code') or p['id']} · {p.get('name') or ''}" for p in
                     pipelines.products(c, include_inactive=False)}
    except CRMError:
        found = {}
    own = ticket.get(name)
    if own is not None and own not in found:
        found[own] = {"contact_id": ticket.get("contact_name"), "order_id": ticket.get("order_no"),
                      "product_id": ticket.get("product_name")}[name] or str(own)
    return found


def _details(c, me, ticket: dict, may_edit: bool, labels: dict) -> None:
    tid = ticket["id"]
    defs = fields.definitions(c, "ticket", me.role, "edit" if may_edit else "view")
    form_defs = _choice_defs(c, me, ticket, defs)
    links = {n: _link_choices(c, me, ticket, n) for n in ("contact_id", "order_id", "product_id") if n in form_defs}
    all_labels = {**labels, **{n: (lambda v, m=m: m.get(v, str(v))) for n, m in links.items()}}
    if may_edit and ticket["status"] != "closed":
        records.edit_form(c, me, PREFIX, ticket, form_defs,
                          lambda changes, **kw: tickets.update_ticket(c, me, tid, changes, seen=kw.get("seen")),
                          all_labels, stale_key="ticket.changed_reload")
    else:
        shown = {k: f for k, f in form_defs.items() if f.visible_to(me.role)}
        fieldform.view(c, shown, ticket, choice_labels=all_labels)


# ---------------------------------------------------------------------------------------- history
def _history(c, history: dict, labels: dict) -> None:
    tabs = [(k, key) for k, key in (("tickets", "ticket.history_tickets"), ("orders", "ticket.history_orders"),
                                    ("deals", "ticket.history_deals"), ("followups", "ticket.history_followups"))
            if history.get(k) is not None]
    if not tabs:
        st.caption(t("ticket.history_none"))
        return
    drawn = st.tabs([t(key) + f" ({history[k].height})" for k, key in tabs])
    for (k, _key), tab in zip(tabs, drawn):
        with tab:
            df = history[k]
            if df.is_empty():
                st.caption(t("ticket.history_empty"))
                continue
            if k == "tickets":
                # labels made here: t() inside map_elements runs on polars' threads, without the session (English)
                df = df.with_columns(
                    pl.col("status").replace_strict({s: _status(s) for s in tickets.STATUSES}, default=pl.col("status"),
                                                    return_dtype=pl.String),
                    pl.col("priority").replace_strict({p: _priority(p) for p in tickets.PRIORITIES},
                                                      default=pl.col("priority"), return_dtype=pl.String))
                tables.show(df, {"ticket_no": "ticket.no", "subject": "ticket.subject", "status": "ticket.status",
                                 "priority": "ticket.priority", "opened_at": "ticket.opened_at",
                                 "assignee_name": "ticket.assignee"}, key="ticket_hist_tickets")
                for row in df.head(10).to_dicts():
                    _ticket_link("earlier", row["id"], md(f"{row['ticket_no'] or row['id']} · {row['subject']}"),
                                 ":material/confirmation_number:")
            elif k == "orders":
                tables.show(df, {"order_no": "order.order_no", "ordered_at": "order.ordered_at",
                                 "status": "order.status", "amount": "order.amount", "currency": "deal.currency"},
                            key="ticket_hist_orders")
            elif k == "deals":
                df = df.with_columns(pl.col(f"stage_name_{lang()}").alias("stage_name"))
                tables.show(df, {"name": "deal.name", "stage_name": "deal.stage", "amount": "deal.amount",
                                 "currency": "deal.currency", "owner_name": "deal.owner_id"}, key="ticket_hist_deals")
            else:
                tables.show(df, _followup_columns(df), key="ticket_hist_followups")


def _followup_columns(df: pl.DataFrame) -> dict:
    wanted = {"occurred_at": "activity.occurred_at", "kind": "activity.kind", "subject": "activity.subject",
              "outcome": "activity.outcome", "user_name": "ticket.by"}
    return {k: v for k, v in wanted.items() if k in df.columns}


# ---------------------------------------------------------------------------------------- new ticket
_NEW_FIELDS = ("subject", "description", "category", "sub_category", "priority", "channel")


def _new(c, me, customer_param) -> None:
    st.title(t("ticket.new_title"), anchor=False)
    if not tickets.can_create(c, me):
        st.info(t("ticket.cannot_create"))
        return
    customer = customer_for_new(c, me, customer_param, "ticket_new", "ticket")
    if customer is None:
        return
    cid = customer["id"]
    defs = fields.definitions(c, "ticket", me.role, "edit")
    shown = {k: f for k, f in defs.items() if k in _NEW_FIELDS or (f.custom and f.editable_by(me.role))}
    record = {"customer_id": cid}
    links = {n: _link_choices(c, me, record, n) for n in ("contact_id", "order_id", "product_id")}
    team_rows = tickets.teams(c)
    from core.handoff import service_team

    default_team = service_team(c)
    labels = _labels(c)
    with st.form("ticket_new", border=True):
        typed = fieldform.inputs(c, shown, {"priority": "medium"}, key="ticket_new_f", choice_labels=labels)
        cols = st.columns(3)
        picked = {}
        for col, name, key in zip(cols, ("contact_id", "order_id", "product_id"),
                                  ("ticket.contact", "ticket.order", "ticket.product")):
            if links[name]:
                picked[name] = col.selectbox(t(key), [None, *links[name]], key=f"ticket_new_{name}",
                                             format_func=lambda v, m=links[name]: fieldform.EMPTY if v is None else m[v])
        team_ids = [r["id"] for r in team_rows]
        team = st.selectbox(t("ticket.queue"), team_ids, format_func={r["id"]: r["name"] for r in team_rows}.get,
                            index=team_ids.index(default_team) if default_team in team_ids else None,
                            key="ticket_new_team")
        mine = st.checkbox(t("ticket.assign_me"), key="ticket_new_mine") if access_edit(c, me) else False
        submitted = st.form_submit_button(t("action.create"), type="primary")
    if not submitted:
        return
    values = fieldform.changes(c, shown, {}, typed)
    values = {k: v for k, v in values.items() if v is not None}
    values.update({k: v for k, v in picked.items() if v is not None})
    values["customer_id"] = cid
    if team is not None:
        values["team_id"] = team
    signature = {**values, "_user": me.id}
    if not forms.first_submit("ticket_new", signature):
        st.info(t("action.already_done"))
        return
    with errors.handled():
        new_id = tickets.create_ticket(c, me, values, assignee_id=me.id if mine else None)
        forms.remember_submit("ticket_new", signature)
        forms.flash(t("ticket.created", no=f"TK{new_id:07d}"))
        _open(new_id)
        st.rerun()


def access_edit(c, me) -> bool:
    from core import access

    return access.can(c, me, "tickets", "edit")


def fallback_list(c=None, me=None) -> None:
    """The service desk before its queues exist: the open tickets in scope, each a link, and New ticket."""
    from ui.session import actor, con

    me, c = me or actor(), c or con()
    st.title(t("page.service_desk"), anchor=False)
    forms.show_flash()
    if tickets.can_create(c, me):
        st.button(t("ticket.new_title"), key="ticket_fallback_new", icon=":material/add:", type="tertiary",
                  on_click=lambda: st.query_params.update(new="1"))
    df = tickets.list_open(c, me)
    if df.is_empty():
        st.caption(t("ticket.none_open"))
        return
    for row in df.to_dicts():
        _ticket_link("list", row["id"], md(f"{row['ticket_no'] or row['id']} · {row['subject']} · "
                                           f"{row['customer_name'] or ''}"), ":material/confirmation_number:")


__all__ = ["render", "fallback_list"]
