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
