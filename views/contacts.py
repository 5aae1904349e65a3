"""Contacts (联系人): the people of the customers the user may see, searched by name, phone or e-mail and
paged; a contact opens on its own page (a link `?id=…`): its fields (edited by whoever may edit its
customer, read-only for the others), a link back to its customer, the follow-ups logged with it, and
delete to the recycle bin for whoever may delete the customer."""
import polars as pl
import streamlit as st

from core import access, contacts, export, fields, settings
from ui import errors, fieldform, forms, records, tables
from ui import export as export_ui
from ui.i18n import t
from ui.session import actor, con
from ui.text import md

me, c = actor(), con()
st.title(t("page.contacts"))
forms.show_flash()
state = st.session_state
FILTER_KEYS = ("ct_q", "ct_sort", "ct_desc", "ct_page")
FOLLOWUP_COLUMNS = {"occurred_at": "activity.occurred_at", "kind": "activity.kind", "subject": "activity.subject",
                    "outcome": "activity.outcome", "user_name": "contacts.followup_by",
                    "next_followup_at": "activity.next_followup_at"}
LIST_COLUMNS = {"name": "contact.name", "title": "contact.title", "customer_name": "contact.customer_id",
                "phone": "contact.phone", "email": "contact.email", "is_primary": "contact.is_primary",
                "updated_at": "contact.updated_at"}


def _close() -> None:
    st.query_params.pop("id", None)
    state["ct_nonce"] = state.get("ct_nonce", 0) + 1  # drops the table's selection too


# ---------------------------------------------------------------- one contact
def _followups(contact_id: int) -> None:
    st.markdown(f"**{t('contacts.followups')}**")
    df = contacts.followups(c, me, contact_id)
    if df.is_empty():
        st.caption(t("contacts.no_followups"))
        return
    known = lambda prefix: lambda v: t(f"{prefix}_{v}") if v else v  # noqa: E731
    shown = df.with_columns(pl.col("kind").map_elements(known("activity.kind"), return_dtype=pl.String),
                            pl.col("outcome").map_elements(known("activity.outcome"), return_dtype=pl.String))
    tables.show(shown, FOLLOWUP_COLUMNS, key=f"ct_followups_{contact_id}")


def show_contact(contact_id) -> None:
    detail = contacts.get_contact(c, me, contact_id)
    ctid, cid = detail["id"], detail["customer_id"]
    st.subheader(md(detail["name"]))
    st.page_link("views/customers.py", label=t("contact.of_customer", name=detail["customer_name"]),
                 query_params={"id": str(cid)}, icon=":material/groups:")
    defs = fields.definitions(c, "contact", me.role)
    if contacts.allowed(c, me, cid, "edit"):
        records.edit_form(c, me, "contact", detail, fields.definitions(c, "contact", me.role, "edit"),
                          lambda changes, seen=None, confirmed=False: contacts.update_contact(c, me, ctid, changes,
                                                                                               seen=seen),
                          stale_key="contacts.changed_reload")
    else:
        st.caption(t("contact.read_only_page"))
        fieldform.view(c, defs, detail)
    if contacts.allowed(c, me, cid, "delete"):
        records.delete_button("contact", ctid, detail["name"], lambda: contacts.delete_contact(c, me, ctid), _close)
    if access.can(c, me, "activities", "view"):
        with errors.handled():
            _followups(ctid)


# ---------------------------------------------------------------- the list
def _step(delta: int) -> None:
    state["ct_page"] = max(1, int(state.get("ct_page", 1)) + delta)


def list_view() -> None:
    forms.keep(FILTER_KEYS)
    with st.container(border=True):
        f1, f2, f3 = st.columns([3, 2, 2], vertical_alignment="bottom")
        q = f1.text_input(t("contacts.search"), placeholder=t("contacts.search_hint"), key="ct_q", max_chars=200)
        sort = f2.selectbox(t("contacts.sort"), contacts.SORTS, format_func=lambda v: t(f"contacts.sort_{v}"),
                            key="ct_sort")
        desc = f3.toggle(t("contacts.descending"), key="ct_desc")
    page_size = settings.get(c, "lists.page_size")
    signature = (q, sort, desc)
    if state.get("_ct_sig") != signature:  # a new search starts at the first page
        state["_ct_sig"] = signature
        state["ct_page"] = 1
    picked = None
    with errors.handled():
        df, total, page, pages = tables.current_page(
            "ct_page", page_size, lambda i: contacts.list_all(c, me, q, sort=sort, desc=desc, page=i, page_size=page_size))
        st.caption(t("contacts.count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
        picked = tables.select_one(df, LIST_COLUMNS, key=f"ct_table_{state.get('ct_nonce', 0)}")
        if total == 0:
            st.info(t("contacts.none_found"))
        n1, n2, n3, _ = st.columns([1, 2, 1, 5], vertical_alignment="bottom")
        n1.button(t("list.previous"), disabled=page <= 1, key="ct_prev", on_click=_step, args=(-1,))
        n2.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key="ct_page")
        n3.button(t("list.next"), disabled=page >= pages, key="ct_next", on_click=_step, args=(1,))
        # contacts follow their customers' permissions: exported by who may export customers
        export_ui.buttons(c, me, "customers", lambda cur: export.all_rows(contacts.list_all, cur, me, q, sort=sort,
                                                                          desc=desc)[0],
                          LIST_COLUMNS, t("page.contacts"), total, key="export_contacts")
    forms.remember(FILTER_KEYS)
    if picked is not None:  # the picked contact opens on its own page (a link: ?id=…)
        st.query_params["id"] = str(picked)
        st.rerun()


open_id = st.query_params.get("id")
if open_id:
    st.button(t("customers.back_to_list"), icon=":material/arrow_back:", key="ct_back", on_click=_close)
    with st.container(border=True):
        with errors.handled():
            show_contact(open_id)
else:
    list_view()
