"""The won hand-off form (流转单): what was bought, key contacts, promises made, notes.

`form` is drawn by the deal page right after a deal is won and by the customer page while the
customer's hand-off is needed (core.handoff.needed); `on_customer_page` also says where a filled-in
hand-off stands. Submitting opens the onboarding ticket and moves the customer to pending upgrade
(core.handoff.submit_handoff), then reruns so every panel shows it.
"""
from __future__ import annotations

import streamlit as st

from core import clock, customers
from core import handoff as core_handoff
from core.i18n import translate
from ui import errors, fieldform, forms, records
from ui.i18n import lang, t


def _plain(key: str, **params) -> str:
    return translate(lang(), key, **params)


def form(con, actor, customer_id, deal_id=None, key: str | None = None) -> None:
    """The hand-off form for a won customer the actor may edit; nothing when no hand-off is needed
    (not won, already filled in) or it is not the actor's to fill in."""
    cid = customers.record_id(customer_id)
    if not core_handoff.can_fill(con, actor, cid):
        return
    state = st.session_state
    key = key or f"handoff_{cid}"
    deals = core_handoff.won_deals(con, actor, cid)
    with st.container(border=True):
        st.subheader(t("handoff.title"), anchor=False)
        st.caption(t("handoff.intro"))
        with st.form(key):
            deal_ids = [d["id"] for d in deals]
            picked = None
            if len(deal_ids) > 1:
                names = {d["id"]: _plain("handoff.deal_option", name=d["name"],
                                         amount=f"{d['amount']:,.2f}" if d["amount"] is not None else "—")
                         for d in deals}
                picked = st.selectbox(t("handoff.deal"), deal_ids, format_func=names.get, key=f"{key}_deal",
                                      index=deal_ids.index(deal_id) if deal_id in deal_ids else 0)
            elif deal_ids:
                st.caption(t("handoff.for_deal", name=deals[0]["name"]))
                picked = deal_ids[0]
            typed = fieldform.inputs(con, core_handoff.FIELDS, {}, key=key, columns=2, more=False)
            submitted = st.form_submit_button(t("handoff.submit"), type="primary", icon=":material/send:")
    if not submitted:
        return
    values = fieldform.changes(con, core_handoff.FIELDS, {}, typed)
    signature = {**values, "customer_id": cid, "deal_id": picked}
    if not forms.first_submit("handoff", signature):
        st.info(t("action.already_done"))
        return
    with errors.handled():
        core_handoff.submit_handoff(con, actor, cid, picked if picked is not None else deal_id, values)
        forms.remember_submit("handoff", signature)
        state.pop(f"_tl_limit_{cid}", None)
        records.reload("cust", cid)  # the customer's stage moved: the customer page's edit form shows it
        forms.flash(t("handoff.done"))
        st.rerun()


def status(con, actor, customer_id) -> None:
    """Where the customer's hand-off stands (a line under the record), when there is one."""
    found = core_handoff.for_customer(con, actor, customer_id)
    if found is None:
        return
    when = clock.fmt(con, found["decided_at"] or found["submitted_at"] or found["created_at"])
    st.caption(t("handoff.status_line", status=_plain(f"handoff.status_{found['status']}"),
                 who=found["owner_name"] or "—", when=when))


def on_customer_page(con, actor, customer_id) -> None:
    """The customer page: the form while the hand-off is needed (the customer's first deal won, or its
    stage set to won by hand), else where the hand-off stands."""
    cid = customers.record_id(customer_id)
    if core_handoff.can_fill(con, actor, cid):
        st.warning(t("handoff.asked"), icon=":material/assignment_late:")
        form(con, actor, cid)
    else:
        status(con, actor, cid)


def details(row: dict) -> None:
    """What the rep wrote, as plain text (user text is never Markdown)."""
    for name, f in core_handoff.FIELDS.items():
        if row.get(name):
            st.caption(fieldform.field_label(f))
            st.text(row[name])

