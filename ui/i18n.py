"""t(): every string a user reads, in the session's language."""
from __future__ import annotations

import streamlit as st

from core.i18n import LANGUAGE_NAMES, LANGUAGES, translate


def lang() -> str:
    value = st.session_state.get("lang", "en")
    return value if value in LANGUAGES else "en"


def t(key: str, **params) -> str:
    return translate(lang(), key, **params)


def label(row: dict, base: str = "name") -> str:
    """The name of a reference row (stage, level...) in the session's language."""
    return row.get(f"{base}_{lang()}") or row.get(f"{base}_en") or row.get("code", "")


__all__ = ["t", "lang", "label", "LANGUAGES", "LANGUAGE_NAMES"]
