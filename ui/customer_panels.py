"""Panels of the customer record page: log a follow-up, the timeline, the contacts.

Each panel takes the connection, the acting user and the customer id; the page calls them inside
`ui.errors.handled()` (a customer out of scope is NotFound, shown in the user's language). Writes run
in `handled()` too, say what happened with `forms.flash` and rerun, so every list shows them at once.
User text is shown with `st.text` (never as Markdown or HTML); times in the company's time zone.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

import streamlit as st

from core import access, activities, audit, clock, customers
from core import contacts as core_contacts
from core import fields as core_fields
from core import timeline as core_timeline
from core.errors import Conflict, NotFound
from core.i18n import catalogue, translate
from ui import errors, fieldform, forms, tables
from ui import handoff as handoff_ui
from ui import order_panel
from ui.i18n import lang, names, t
from ui.text import md

# the page that opens each kind of record (by ?id=…); a link is drawn only when that page is in the
# menu of the user
ENTITY_PAGES = {
    "customer": "views/customers.py",
    "lead": "views/leads.py",
    "contact": "views/contacts.py",
    "deal": "views/deals.py",
    "order": "views/orders.py",
    "ticket": "views/tickets.py",
    "campaign": "views/campaigns.py",
    "feedback": "views/feedback.py",
}
KIND_ICONS = {"followup": ":material/call:", "deal": ":material/handshake:", "order": ":material/receipt_long:",
              "ticket": ":material/support_agent:", "campaign": ":material/campaign:",
              "feedback": ":material/reviews:", "handoff": ":material/assignment_turned_in:",
              "change": ":material/edit_note:"}
FOLLOWUP_ICONS = {"call": ":material/call:", "visit": ":material/directions_walk:", "email": ":material/mail:",
                  "message": ":material/chat:", "meeting": ":material/groups:", "note": ":material/sticky_note_2:"}
PAGE_STEP, FIRST_PAGE = 50, 50
_ACTIVITY_LABELS = {"kind": lambda v: t(f"activity.kind_{v}"), "outcome": lambda v: t(f"activity.outcome_{v}")}


def _plain(key: str, **params) -> str:
    """A catalogue text for `st.text` (plain text: parameters are not escaped for Markdown)."""
    return translate(lang(), key, **params)


def _known(key: str, fallback) -> str:
    """The catalogue's name for a code (an outcome, a status…), or the code itself when it has none."""
    return translate(lang(), key) if key in catalogue("en") else ("" if fallback is None else str(fallback))


def _when(con, value) -> str:
    return clock.fmt(con, value)


def _local(tz, value) -> str:
    """A stored moment in the company's time zone `tz` (one lookup of the zone for a whole list)."""
    return "" if value is None else clock.utc_to_local(value, tz).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------------- follow-ups
def followup_status(con, actor, customer_id) -> None:
    """The customer's last follow-up and next one; an overdue next follow-up stands out."""
    status = activities.followup_status(con, actor, customer_id)
    last = status["last_activity_at"]
    st.caption(t("followup.last_contact", when=_when(con, last)) if last else t("followup.never"))
    due = status["next_followup_at"]
    if due is None:
        st.caption(t("followup.none_due"))
    elif status["overdue"]:
        st.error(t("followup.overdue_since", when=_when(con, due)), icon=":material/alarm:")
    else:
        st.info(t("followup.next_due", when=_when(con, due)), icon=":material/event:")


def followup_form(con, actor, customer_id, on_saved: Callable[[], None] | None = None) -> None:
    """Log a follow-up on the customer: kind, outcome, when (default now, company time), next
    follow-up (date and time), subject, notes and, when it has contacts, which contact.

    `on_saved` runs after a follow-up was logged and before the rerun: the page uses it to forget the
    version its edit form holds (logging a next follow-up moves the customer's version)."""
    followup_status(con, actor, customer_id)
    if not access.can(con, actor, "activities", "create"):
        st.caption(t("followup.cannot_log"))
        return
    cid = customers.record_id(customer_id)
    state = st.session_state
    nonce = state.get(f"_fu_nonce_{cid}", 0)
    key = f"fu_{cid}_{nonce}"
    if f"_fu_now_{key}" not in state:  # the default time stays put while the user types
        state[f"_fu_now_{key}"] = actor.now.replace(second=0, microsecond=0)
    people = core_contacts.list_contacts(con, actor, cid)
    contact_names = dict(zip(people["id"].to_list(), people["name"].to_list())) if people.height else {}
    defs = activities.FIELDS
    start = {"kind": "call", "occurred_at": state[f"_fu_now_{key}"]}
    with st.form(key):
        st.markdown(f"**{t('followup.title')}**")
        typed = fieldform.inputs(con, defs, start, key=key, names=["kind", "outcome", "occurred_at", "next_followup_at"],
                                 choice_labels=_ACTIVITY_LABELS, columns=2, more=False)
        st.caption(t("followup.next_hint"))
        typed |= fieldform.inputs(con, defs, start, key=key, names=["subject", "body"], columns=1, more=False)
        contact = None
        if contact_names:
            contact = st.selectbox(t("activity.contact"), [None, *contact_names], key=f"{key}_contact",
                                   format_func=lambda v: fieldform.EMPTY if v is None else contact_names[v])
        submitted = st.form_submit_button(t("followup.save"), type="primary", icon=":material/add_comment:")
    if not submitted:
        return
    values = fieldform.changes(con, defs, {}, typed)
    signature = {**values, "contact_id": contact, "customer_id": cid}
    if not forms.first_submit(f"followup_{cid}", signature):
        st.info(t("action.already_done"))
        return
    with errors.handled():
        activities.log_followup(con, actor, cid, kind=values.get("kind"), subject=values.get("subject"),
                                body=values.get("body"), outcome=values.get("outcome"),
                                occurred_at=values.get("occurred_at"), next_followup_at=values.get("next_followup_at"),
                                contact_id=contact)
        forms.remember_submit(f"followup_{cid}", signature)
        state.pop(f"_fu_now_{key}", None)
        state[f"_fu_nonce_{cid}"] = nonce + 1  # a fresh, empty form
        state.pop(f"_tl_limit_{cid}", None)
        forms.flash(t("followup.logged"))
        if on_saved is not None:
            on_saved()
        st.rerun()


# ---------------------------------------------------------------------------------------- timeline
def _page_links(con, actor) -> dict[str, str]:
    """entity -> page path, for the pages the user's menu has."""
    from ui import nav

    mine = {p.path for p in nav.allowed(con, actor)}
    return {entity: path for entity, path in ENTITY_PAGES.items() if path in mine}


def _change_value(field: str | None, value, names_of: dict) -> str:
    """A logged value as the user reads it: names for codes, local time for moments, '(empty)'."""
    if value is None or value == "":
        return _plain("timeline.empty_value")
    if field in ("stage", "level"):
        return names_of[field].get(value, value)
    f = customers.FIELDS.get(field or "")
    if f is not None and f.kind == "datetime":
        try:
            return _local(names_of["tz"], dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    key = audit.value_label_key("customer", field, value)
    return translate(lang(), key) if key else str(value)


def _field_name(field: str | None, defs: dict) -> str:
    """A logged field's name: the catalogue's, a custom field's own, or the column name."""
    keys = audit.field_label_keys("customer", field)
    if keys:
        return " · ".join(translate(lang(), k) for k in keys)
    custom = defs.get(field or "")
    return core_fields.label_of(custom, lang(), translate) if custom is not None else (field or "")


def _lines(row: dict, names_of: dict) -> list[str]:
    """The entry's text lines (plain text): what it is about, and its details."""
    deal_stage_names, tz = names_of["deal_stage"], names_of["tz"]
    kind, event = row["kind"], row["event"]
    out = []
    amount = f"{row['amount']:,.2f}" if row["amount"] is not None else None
    if kind == "followup":
        facts = []
        if row["new_value"]:
            facts.append(_known(f"activity.outcome_{row['new_value']}", row["new_value"]))
        if row["next_at"] is not None:
            facts.append(_plain("timeline.next_at", when=_local(tz, row["next_at"])))
        out += [row["title"] or "", " · ".join(facts), row["detail"] or ""]
    elif kind == "deal":
        line = ""
        if event != "deal_created":
            line = _plain("timeline.move", old=deal_stage_names.get(row["old_value"], row["old_value"] or ""),
                          new=deal_stage_names.get(row["new_value"], row["new_value"] or ""))
        if amount:
            line = " · ".join(x for x in (line, _plain("timeline.amount", amount=amount)) if x)
        out += [row["title"] or "", line, row["detail"] or ""]
    elif kind == "order":
        facts = [_known(f"order.status_{row['new_value']}", row["new_value"])]
        if amount:
            facts.append(_plain("timeline.amount", amount=amount))
        out += [row["title"] or "", " · ".join(x for x in facts if x)]
    elif kind == "ticket":
        prefix = "ticket.priority_" if row["field"] == "priority" else "ticket.status_"
        out += [row["title"] or "", _known(prefix + (row["new_value"] or ""), row["new_value"]), row["detail"] or ""]
    elif kind == "campaign":
        facts = [_known(f"campaign.channel_{row['new_value']}", row["new_value"])]
        if amount:
            facts.append(_plain("timeline.amount", amount=amount))
        out += [row["title"] or "", " · ".join(x for x in facts if x)]
    elif kind == "feedback":  # CSAT / NPS with the score; a complaint or suggestion with its subject and status
        facts = [_known(f"feedback.kind_{row['new_value']}", row["new_value"])]
        if row["amount"] is not None:
            facts.append(_plain("timeline.score", score=f"{row['amount']:g}"))
        if row["old_value"]:
            facts.append(_known(f"feedback.status_{row['old_value']}", row["old_value"]))
        out += [row["title"] or "", " · ".join(x for x in facts if x), row["detail"] or ""]
    elif kind == "handoff":  # the won hand-off's steps (core.handoff): what was bought, the level, the comment
        if row["title"]:
            out.append(_plain("handoff.line_bought", text=row["title"]))
        if row["new_value"]:
            out.append(_plain("handoff.line_level", level=names_of["level"].get(row["new_value"], row["new_value"])))
        if row["detail"]:
            out.append(_plain("handoff.line_promises" if event == "handoff_pending" else "handoff.line_comment",
                              text=row["detail"]))
    elif kind == "change":
        if event in ("field_changed", "handover"):
            out.append(_plain("timeline.change", field=_field_name(row["field"], names_of["fields"]),
                              old=_change_value(row["field"], row["old_value"], names_of),
                              new=_change_value(row["field"], row["new_value"], names_of)))
        elif row["title"]:
            out.append(row["title"])
    return [line for line in out if line]


def _event_label(row: dict) -> str:
    if row["kind"] == "followup":
        return t(f"activity.kind_{row['event']}") if f"activity.kind_{row['event']}" in catalogue("en") else t(
            "entity.activity")
    return t(f"timeline.event_{row['event']}")


def timeline(con, actor, customer_id) -> None:
    """The customer's timeline, newest first, filterable by kind; times in company time; each entry's
    text as plain text; a link to the related record where a page for it exists; an overdue follow-up
    marked."""
    cid = customers.record_id(customer_id)
    kinds = core_timeline.visible_kinds(con, actor)
    state = st.session_state
    picked = st.pills(t("timeline.kinds"), kinds, selection_mode="multi", default=kinds, key=f"tl_kinds_{cid}",
                      format_func=lambda k: t(f"timeline.kind_{k}"))
    limit = int(state.get(f"_tl_limit_{cid}", FIRST_PAGE))
    df = core_timeline.customer_timeline(con, actor, cid, kinds=picked or [], limit=min(limit + 1, 1000))
    more = df.height > limit
    df = df.head(limit)
    if df.is_empty():
        st.info(t("timeline.none") if set(picked or []) == set(kinds) else t("timeline.none_of_kind"))
        return
    links = _page_links(con, actor)
    names_of = {"stage": names(customers.stages(con)), "level": names(customers.levels(con)),
                "deal_stage": names(core_timeline.deal_stages(con)), "fields": core_fields.definitions(con, "customer"),
                "tz": clock.zone(con)}
    for i, row in enumerate(df.iter_rows(named=True)):
        with st.container(border=True):
            icon = FOLLOWUP_ICONS.get(row["event"]) if row["kind"] == "followup" else KIND_ICONS[row["kind"]]
            who = md(row["who"]) if row["who"] else t("audit.system")
            head = f"{icon} **{_event_label(row)}** · {md(_local(names_of['tz'], row['occurred_at']))} · {who}"
            if row["overdue"]:
                head += f" · :red-badge[:material/alarm: {t('followup.overdue')}]"
            st.markdown(head)
            for line in _lines(row, names_of):
                st.text(line)
            page = links.get(row["entity"])
            if page and row["entity"] != "customer":
                st.page_link(page, label=t("timeline.open"), query_params={"id": str(row["entity_id"])},
                             icon=":material/open_in_new:")
    st.caption(t("timeline.shown", n=df.height))
    if more and limit < 1000:
        st.button(t("timeline.more"), key=f"tl_more_{cid}", icon=":material/expand_more:",
                  on_click=lambda: state.__setitem__(f"_tl_limit_{cid}", min(limit + PAGE_STEP, 1000)))


# ---------------------------------------------------------------------------------------- contacts
_CONTACT_COLUMNS = {"name": "contact.name", "title": "contact.title", "phone": "contact.phone",
                    "email": "contact.email", "is_primary": "contact.is_primary", "notes": "contact.notes"}


def _contact_saved(cid: int, contact_id: int | None = None) -> None:
    state = st.session_state
    if contact_id is not None:
        state.pop(f"_ct_seen_{contact_id}", None)
    state[f"_ct_nonce_{cid}"] = state.get(f"_ct_nonce_{cid}", 0) + 1  # fresh forms, selection dropped


def _edit_contact(con, actor, cid: int, contact_id: int, may_delete: bool) -> None:
    state = st.session_state
    current = core_contacts.get_contact(con, actor, contact_id, "edit")
    seen = state.get(f"_ct_seen_{contact_id}")
    if seen is None or seen["id"] != contact_id:
        seen = state[f"_ct_seen_{contact_id}"] = current
    defs = core_fields.definitions(con, "contact", actor.role, "edit")
    if seen["updated_at"] != current["updated_at"]:
        st.warning(t("contacts.changed_reload"))
        st.button(t("action.reload"), key=f"ct_reload_{contact_id}", on_click=_contact_saved, args=(cid, contact_id))
    key = f"ct_edit_{contact_id}_{state.get(f'_ct_nonce_{cid}', 0)}"
    with st.form(key):
        st.markdown(f"**{t('contacts.edit', name=current['name'])}**")
        typed = fieldform.inputs(con, defs, seen, key=key, columns=2)
        submitted = st.form_submit_button(t("action.save"), type="primary")
    if submitted:
        changed = fieldform.changes(con, defs, seen, typed)
        if not changed:
            st.info(t("action.nothing_changed"))
        else:
            try:
                diff = core_contacts.update_contact(con, actor, contact_id, changed, seen=seen)
            except Conflict as exc:
                errors.show(exc)
                st.button(t("action.reload"), key=f"ct_reload2_{contact_id}", on_click=_contact_saved,
                          args=(cid, contact_id))
            except Exception as exc:  # noqa: BLE001 - shown in the user's language
                errors.show(exc)
            else:
                _contact_saved(cid, contact_id)
                forms.flash(t("action.saved", n=len([k for k in diff if not k.endswith("_norm")])))
                st.rerun()
    if may_delete:
        with st.popover(t("action.delete"), icon=":material/delete:"):
            st.write(t("contacts.delete_confirm", name=current["name"]))
            if st.button(t("action.delete_confirm"), key=f"ct_del_{contact_id}", type="primary"):
                with errors.handled():
                    core_contacts.delete_contact(con, actor, contact_id)
                    _contact_saved(cid, contact_id)
                    forms.flash(t("contacts.deleted", name=current["name"]))
                    st.rerun()


def _add_contact(con, actor, cid: int) -> None:
    state = st.session_state
    defs = core_fields.definitions(con, "contact", actor.role, "edit")
    key = f"ct_new_{cid}_{state.get(f'_ct_nonce_{cid}', 0)}"
    with st.expander(t("contacts.add"), icon=":material/person_add:"):
        with st.form(key):
            typed = fieldform.inputs(con, defs, {}, key=key, columns=2)
            created = st.form_submit_button(t("action.create"), type="primary")
        if created:
            values = fieldform.changes(con, defs, {}, typed)
            signature = {**values, "customer_id": cid}
            if not forms.first_submit(f"contact_new_{cid}", signature):
                st.info(t("action.already_done"))
                return
            with errors.handled():
                core_contacts.create_contact(con, actor, cid, values)
                forms.remember_submit(f"contact_new_{cid}", signature)
                _contact_saved(cid)
                forms.flash(t("contacts.added", name=values.get("name", "")))
                st.rerun()


def contacts(con, actor, customer_id) -> None:
    """The customer's contacts (the primary first); who may edit the customer adds contacts and picks
    one in the list to edit it (or, with the customer's delete right, move it to the recycle bin)."""
    cid = customers.record_id(customer_id)
    df = core_contacts.list_contacts(con, actor, cid)
    may_edit = core_contacts.allowed(con, actor, cid, "edit")
    nonce = st.session_state.get(f"_ct_nonce_{cid}", 0)
    if df.is_empty():
        st.info(t("contacts.none"))
        picked = None
    elif may_edit:
        picked = tables.select_one(df, _CONTACT_COLUMNS, key=f"ct_table_{cid}_{nonce}")
    else:
        tables.show(df, _CONTACT_COLUMNS, key=f"ct_table_{cid}_{nonce}")
        picked = None
    linked = st.query_params.get("contact")  # a contact's own link: views/customers.py?contact=…
    if picked is None and linked and not df.is_empty() and linked.isascii() and linked.isdigit() \
            and int(linked) in df["id"].to_list():
        picked = int(linked)
        row = df.filter(df["id"] == picked).row(0, named=True)
        st.markdown(f"**{md(row['name'])}**" + (f" · {md(row['title'])}" if row.get("title") else ""))
    if picked is not None and "contact" in _page_links(con, actor):  # the contact's own page
        st.page_link(ENTITY_PAGES["contact"], label=t("contacts.open_page"), query_params={"id": str(picked)},
                     icon=":material/open_in_new:")
    if not may_edit:
        st.caption(t("contacts.read_only"))
        return
    if picked is not None:
        _edit_contact(con, actor, cid, picked, core_contacts.allowed(con, actor, cid, "delete"))
    elif not df.is_empty():
        st.caption(t("contacts.pick_hint"))
    _add_contact(con, actor, cid)


# ---------------------------------------------------------------------------------------- the three together
def record_panels(con, actor, customer_id, on_saved: Callable[[int], None] | None = None) -> None:
    """The follow-up form and the contacts beside the timeline, for a customer the actor may view;
    nothing for one out of scope or a bad id (the page's own record view already says "not found").
    `on_saved(customer_id)` runs after a follow-up was logged (the page forgets its edit form's version)."""
    try:
        cid = customers.record_id(customer_id)
    except NotFound:
        return
    if not customers.allowed(con, actor, cid, "view"):
        return
    with errors.handled():  # the won hand-off (流转单): asked for while needed, else where it stands
        handoff_ui.on_customer_page(con, actor, cid)
    with errors.handled():  # transactions (交易记录): invoiced, received, outstanding, revenue, the orders
        order_panel.customer_money(con, actor, cid)
    with errors.handled():  # a new deal (销售机会) on this customer, for those who may create deals
        from core import deals as core_deals

        if core_deals.can_create(con, actor, cid) and "deal" in _page_links(con, actor):
            st.page_link(ENTITY_PAGES["deal"], label=t("deal.new_for_customer"), icon=":material/add_business:",
                         query_params={"new": "1", "customer": str(cid)})
    with errors.handled():  # a new service ticket (服务工单) on this customer, for those who may open tickets
        from core import tickets as core_tickets

        if core_tickets.can_create(con, actor, cid) and "ticket" in _page_links(con, actor):
            st.page_link(ENTITY_PAGES["ticket"], label=t("ticket.new_for_customer"), icon=":material/support_agent:",
                         query_params={"new": "1", "customer": str(cid)})
    with errors.handled():  # customer feedback (客户反馈): an NPS answer or a complaint, for those who may record it
        from core import feedback as core_feedback

        if "feedback" in _page_links(con, actor) and core_feedback.can_create(con, actor, cid):
            row = st.container(horizontal=True)
            row.page_link(ENTITY_PAGES["feedback"], label=t("feedback.new_for_customer_nps"),
                          icon=":material/add_reaction:", query_params={"new": "nps", "customer": str(cid)})
            row.page_link(ENTITY_PAGES["feedback"], label=t("feedback.new_for_customer_complaint"),
                          icon=":material/report:", query_params={"new": "complaint", "customer": str(cid)})
    left, right = st.columns([2, 3], gap="large")
    with left:
        with errors.handled():
            followup_form(con, actor, cid, on_saved=(lambda: on_saved(cid)) if on_saved else None)
        st.subheader(t("contacts.title"))
        with errors.handled():
            contacts(con, actor, cid)
    with right:
        st.subheader(t("timeline.title"))
        with errors.handled():
            timeline(con, actor, cid)
