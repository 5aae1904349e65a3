"""Duplicate check (查重): type a phone, an e-mail or a name (and company) and see which customers,
leads and contacts it matches, how alike and why. A record the user may open links to its page; any
other shows only who holds it."""
import streamlit as st

from core import dedup
from ui import errors
from ui.duplicates import show_matches
from ui.i18n import t
from ui.session import actor, con

LIMIT = 50

me, c = actor(), con()
st.title(t("page.duplicates"))
st.caption(t("dup.intro"))

with st.form("dup_check"):
    a, b = st.columns(2)
    phone = a.text_input(t("dup.phone"), max_chars=64, key="dup_phone")
    email = b.text_input(t("dup.email"), max_chars=254, key="dup_email")
    name = a.text_input(t("dup.name"), max_chars=200, key="dup_name")
    company = b.text_input(t("dup.company"), max_chars=200, key="dup_company")
    checked = st.form_submit_button(t("dup.check"), type="primary", icon=":material/search:")

values = {"phone": phone.strip(), "email": email.strip(), "name": name.strip(), "company": company.strip()}
if checked or st.session_state.get("_dup_checked") == values:
    if not any(values.values()):
        st.info(t("dup.nothing_typed"))
    else:
        st.session_state["_dup_checked"] = values  # the result stays while the user looks at it
        with errors.handled():
            matches = dedup.find(c, me, "search", {k: v or None for k, v in values.items()}, limit=LIMIT)
            if not matches:
                st.success(t("dup.none"))
            else:
                st.subheader(t("dup.found", n=len(matches)))
                if matches.more:
                    st.caption(t("dup.more", n=LIMIT))
                show_matches(c, me, matches)
