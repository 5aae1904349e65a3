"""Form helpers: a submit that already went through is not done twice (double click, resubmit)."""
from __future__ import annotations

import hashlib
import json

import streamlit as st


def _digest(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def first_submit(form_key: str, values: dict) -> bool:
    """True unless these exact values already went through this form in this session."""
    return st.session_state.get("_crm_submitted", {}).get(form_key) != _digest(values)


def remember_submit(form_key: str, values: dict) -> None:
    st.session_state.setdefault("_crm_submitted", {})[form_key] = _digest(values)


def flash(text: str, kind: str = "success") -> None:
    """A message for the user that survives the rerun after a write (the page shows it once)."""
    st.session_state.setdefault("_crm_flash", []).append((kind, text))


def show_flash() -> None:
    for kind, text in st.session_state.pop("_crm_flash", []):
        getattr(st, kind)(text)


def keep(keys) -> None:
    """Bring back widget values Streamlit dropped while their widgets were not drawn (a record page
    shown instead of the list): call before drawing the widgets."""
    for key in keys:
        if key not in st.session_state and f"_keep_{key}" in st.session_state:
            st.session_state[key] = st.session_state[f"_keep_{key}"]


def remember(keys) -> None:
    """Call after drawing the widgets whose values `keep` brings back."""
    for key in keys:
        if key in st.session_state:
            st.session_state[f"_keep_{key}"] = st.session_state[key]
