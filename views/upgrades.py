"""Pending upgrade (待升级): the won hand-offs on their way to the admin.

Managers see the hand-offs of their teams' customers that wait for them (new, or returned by the admin
with a comment) and submit each with a comment; below, the ones they submitted that wait for the admin.
The admin sees the submitted ones and approves each choosing the customer's new level, or returns it to
the manager with a comment; below, those still with the managers. Each card links to its customer."""
import streamlit as st

from core import clock, customers
from core import handoff as core_handoff
from core.i18n import translate
from ui import errors, forms
from ui import handoff as handoff_ui
from ui.i18n import lang, names, t
from ui.session import actor, con
from ui.text import md

me, c = actor(), con()
st.title(t("page.upgrades"))
forms.show_flash()
state = st.session_state
admin = core_handoff.can_decide(me)
st.caption(t("upgrades.intro_admin" if admin else "upgrades.intro_manager"))
level_names = names(customers.levels(c))
SHOWN = 20


def plain(key: str, **params) -> str:
    return translate(lang(), key, **params)


def _done(key: str, **params) -> None:
    forms.flash(t(key, **params))
    st.rerun()


def _facts(row: dict) -> None:
    facts = [t("upgrades.by", who=row["owner_name"] or "—", team=row["team_name"] or "—",
               when=clock.fmt(c, row["created_at"]))]
    if row["deal_name"]:
        amount = f" · {row['deal_amount']:,.2f}" if row["deal_amount"] is not None else ""
        facts.append(t("upgrades.deal", name=row["deal_name"]) + md(amount))
    if row["ticket_no"]:
        facts.append(t("upgrades.ticket", no=row["ticket_no"]))
    st.caption(" · ".join(facts))
    if row["manager_comment"] and row["status"] in ("submitted", "approved"):
        st.info(t("upgrades.manager_said", who=row["manager_name"] or "—"), icon=":material/comment:")
        st.text(row["manager_comment"])
    if row["status"] == "returned":
        st.warning(t("upgrades.returned_by", who=row["admin_name"] or "—", when=clock.fmt(c, row["decided_at"])),
                   icon=":material/undo:")
        if row["admin_comment"]:
            st.text(row["admin_comment"])
    with st.expander(t("upgrades.details")):
        handoff_ui.details(row)


def _manager_actions(row: dict) -> None:
    hid = row["id"]
    with st.form(f"up_submit_{hid}"):
        comment = st.text_area(t("handoff.comment"), key=f"up_comment_{hid}", max_chars=1000)
        go = st.form_submit_button(t("upgrades.submit"), type="primary", icon=":material/send:")
    if go:
        if not forms.first_submit(f"up_submit_{hid}", {"comment": comment, "status": row["status"]}):
            st.info(t("action.already_done"))
            return
        with errors.handled():
            core_handoff.manager_submit(c, me, hid, comment or None)
            forms.remember_submit(f"up_submit_{hid}", {"comment": comment, "status": row["status"]})
            _done("upgrades.submitted", customer=row["customer_name"])


def _admin_actions(row: dict) -> None:
    hid = row["id"]
    with st.form(f"up_decide_{hid}"):
        levels = list(level_names)
        current = row["customer_level"]
        level = st.selectbox(t("handoff.level"), levels, format_func=level_names.get, key=f"up_level_{hid}",
                             index=levels.index(current) if current in levels else 0)
        comment = st.text_area(t("handoff.comment"), key=f"up_comment_{hid}", max_chars=1000)
        a, b = st.columns(2)
        approve = a.form_submit_button(t("upgrades.approve"), type="primary", icon=":material/check_circle:")
        back = b.form_submit_button(t("upgrades.return"), icon=":material/undo:")
    if not (approve or back):
        return
    with errors.handled():
        if approve:
            core_handoff.approve(c, me, hid, level, comment or None)
            _done("upgrades.approved", customer=row["customer_name"], level=level_names.get(level, level))
        else:
            core_handoff.return_to_manager(c, me, hid, comment)
            _done("upgrades.returned", customer=row["customer_name"])


def cards(df, actions, section: str) -> None:
    """One card per hand-off (the oldest first), a link to its customer, and what may be done."""
    limit = int(state.get(f"_up_limit_{section}", SHOWN))
    for row in df.head(limit).iter_rows(named=True):
        with st.container(border=True):
            head, link = st.columns([4, 1], vertical_alignment="center")
            status = t(f"handoff.status_{row['status']}")
            head.markdown(f"**{md(row['customer_name'])}** · {status}")
            link.page_link("views/customers.py", label=t("upgrades.open_customer"),
                           query_params={"id": str(row["customer_id"])}, icon=":material/open_in_new:")
            _facts(row)
            if actions is not None:
                actions(row)
    if df.height > limit:
        st.button(t("upgrades.more", n=df.height - limit), key=f"up_more_{section}",
                  on_click=lambda: state.__setitem__(f"_up_limit_{section}", limit + SHOWN))


with errors.handled():
    mine = core_handoff.pending(c, me)
    st.subheader(t("upgrades.waiting_admin" if admin else "upgrades.waiting_manager", n=mine.height))
    if mine.is_empty():
        st.info(t("upgrades.none"))
    else:
        cards(mine, _admin_actions if admin else _manager_actions, "mine")
    others = core_handoff.pending(c, me, ["pending", "returned"] if admin else ["submitted"])
    with st.expander(t("upgrades.with_managers" if admin else "upgrades.with_admin", n=others.height)):
        if others.is_empty():
            st.caption(t("upgrades.none_other"))
        else:
            cards(others, _manager_actions if admin else None, "others")
