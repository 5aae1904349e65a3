"""My account: change my password (this session stays, every other one ends)."""
import streamlit as st

from core import auth
from ui import errors
from ui.auth import password_changed
from ui.i18n import t
from ui.text import md
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.account"))
st.markdown(f"**{md(me.name)}** · {md(me.username)} · {t('role.' + me.role)}")

st.subheader(t("auth.change_password"))
with st.form("change_password", clear_on_submit=True):
    old = st.text_input(t("auth.current_password"), type="password")
    new = st.text_input(t("auth.new_password"), type="password")
    repeat = st.text_input(t("auth.repeat_password"), type="password")
    if st.form_submit_button(t("auth.change_password"), type="primary"):
        with errors.handled():
            auth.change_password(c, me, old, new, repeat)
            password_changed()
            st.success(t("auth.password_changed"))
