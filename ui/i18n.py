"""t(): every string a user reads, in the session's language."""
from __future__ import annotations

import streamlit as st

from core.i18n import LANGUAGE_NAMES, LANGUAGES, translate
from ui.text import md


def lang() -> str:
    value = st.session_state.get("lang", "en")
    return value if value in LANGUAGES else "en"


def t(key: str, **params) -> str:
    """The text of `key` in the session's language; parameters (user data) are escaped for Markdown."""
    return translate(lang(), key, **{k: md(v) for k, v in params.items()})


def names(rows: list[dict]) -> dict[str, str]:
    """code -> name in the session's language, for reference rows (stages, levels...)."""
    return {r["code"]: label(r) for r in rows}


def label(row: dict, base: str = "name") -> str:
    """The name of a reference row (stage, level...) in the session's language."""
    return row.get(f"{base}_{lang()}") or row.get(f"{base}_en") or row.get("code", "")


__all__ = ["t", "lang", "label", "names", "LANGUAGES", "LANGUAGE_NAMES"]
