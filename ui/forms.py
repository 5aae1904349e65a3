"""Form helpers: a submit that already went through is not done twice (double click, resubmit)."""
from __future__ import annotations

import hashlib
import json

import streamlit as st


def first_submit(form_key: str, values: dict) -> bool:
    """True the first time these exact values are submitted through this form in this session."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()
    seen = st.session_state.setdefault("_crm_submitted", {})
    if seen.get(form_key) == digest:
        return False
    return True


def remember_submit(form_key: str, values: dict) -> None:
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()
    st.session_state.setdefault("_crm_submitted", {})[form_key] = digest
