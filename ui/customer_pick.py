"""Pick the customer of a new record (deal, ticket, feedback) by name or phone, among the customers the user
may see: one search box, at most 20 matches in a select box. Texts come from the calling module's keys."""
from __future__ import annotations

import streamlit as st

from core import customers
from ui.i18n import t


def pick_customer(c, me, key: str, texts: str) -> int | None:
    """The chosen customer's id, or None until there is one. `texts` is the catalogue prefix of the caller's
    strings: `<texts>.find_customer`, `.find_customer_hint`, `.no_customer_found`, `.customer`."""
    q = st.text_input(t(f"{texts}.find_customer"), key=f"{key}_q", max_chars=100,
                      placeholder=t(f"{texts}.find_customer_hint"))
    if not (q or "").strip():  # the hint is the box's placeholder: said once
        return None
    df, _total = customers.list_customers(c, me, {"q": q}, sort="name", desc=False, page=0, page_size=20)
    if df.is_empty():
        st.caption(t(f"{texts}.no_customer_found"))
        return None
    found = dict(zip(df["id"].to_list(), df["name"].to_list()))
    return st.selectbox(t(f"{texts}.customer"), list(found), format_func=found.get, key=f"{key}_customer")


def customer_for_new(c, me, customer_param, key: str, texts: str) -> dict | None:
    """The customer of a new record: the one the link names (`?customer=N`; NotFound for one out of scope),
    with a link back to its page, else the one picked with `pick_customer`; None until there is one."""
    if customer_param:
        customer = customers.get_customer(c, me, customer_param)
        st.page_link("views/customers.py", label=t(f"{texts}.open_customer", name=customer["name"]),
                     query_params={"id": str(customer["id"])}, icon=":material/person:")
        return customer
    cid = pick_customer(c, me, key, texts)
    return None if cid is None else customers.get_customer(c, me, cid)
