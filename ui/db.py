"""The database, opened once per process; each browser session gets its own cursor."""
from __future__ import annotations

import streamlit as st

from core import config, setup


@st.cache_resource(show_spinner="Opening the database…")
def database():
    con, built = setup.open_database(config.db_path(), config.demo_scale())
    if built is not None:
        from core.__main__ import demo_logins_text

        print(f"Created {config.db_path()} with the demo company.\n{demo_logins_text()}", flush=True)
    return con


def con():
    """This session's cursor on the shared database."""
    cur = st.session_state.get("_crm_cursor")
    if cur is None:
        cur = database().cursor()
        st.session_state["_crm_cursor"] = cur
    return cur
