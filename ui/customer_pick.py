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
    if not (q or "").strip():
        st.caption(t(f"{texts}.find_customer_hint"))
        return None
    df, _total = customers.list_customers(c, me, {"q": q}, sort="name", desc=False, page=0, page_size=20)
    if df.is_empty():
        st.caption(t(f"{texts}.no_customer_found"))
        return None
    found = dict(zip(df["id"].to_list(), df["name"].to_list()))
    return st.selectbox(t(f"{texts}.customer"), list(found), format_func=found.get, key=f"{key}_customer")
