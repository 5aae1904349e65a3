"""Admin: settings: every rule of the rule book with its default."""
import streamlit as st

from core import settings
from ui import errors
from ui.i18n import LANGUAGE_NAMES, LANGUAGES, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.settings"))

current = settings.all_settings(c, me)
with st.form("settings"):
    values = {}
    for key, value in current.items():
        label = t(f"setting.{key}")
        if isinstance(settings.DEFAULTS[key], bool):
            values[key] = st.checkbox(label, value, key=f"set_{key}")
        elif isinstance(settings.DEFAULTS[key], int):
            values[key] = st.number_input(label, value=int(value), step=1, key=f"set_{key}")
        elif key == "company.default_language":
            values[key] = st.selectbox(label, LANGUAGES, index=LANGUAGES.index(value), format_func=LANGUAGE_NAMES.get,
                                       key=f"set_{key}")
        else:
            values[key] = st.text_input(label, value, key=f"set_{key}")
    if st.form_submit_button(t("action.save"), type="primary"):
        with errors.handled():
            changed = 0
            for key, value in values.items():
                if value != current[key]:
                    settings.set_value(c, me, key, value)
                    changed += 1
            st.success(t("action.saved", n=changed))
