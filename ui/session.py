"""What a page needs of the current run: the connection and the acting user."""
from __future__ import annotations

import streamlit as st

from core.context import Actor
from ui.db import con


def actor() -> Actor:
    found = st.session_state.get("_crm_actor")
    if found is None:  # a page run outside app.py: nothing to show
        st.stop()
    return found


__all__ = ["actor", "con"]
