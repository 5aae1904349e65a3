"""Matches of the duplicate guard (core.dedup) as the user reads them: what kind of record, how alike
and why, who holds it; a link to the record's page only when the user may open it. Used by the
duplicate check page and by any form that shows a DuplicateError's matches."""
from __future__ import annotations

import streamlit as st

from core.dedup import Match
from ui.i18n import t
from ui.text import md

# the page that opens each kind of record (by ?id=…)
ENTITY_PAGES = {"customer": ("views/customers.py", "id"), "lead": ("views/leads.py", "id"),
                "contact": ("views/contacts.py", "id")}
ACTION_BADGES = {"block": ":red-badge[{}]", "warn": ":orange-badge[{}]", "allow": ":gray-badge[{}]"}


def holder_text(m: Match) -> str:
    """Who holds the match (Markdown, names escaped)."""
    if m.holder == "bin":
        return t("dup.held_in_bin")
    if m.holder == "pool":
        return t("dup.held_in_pool", team=m.team or "—")
    return t("dup.held_by", owner=m.owner or "—", team=m.team or "—")


def reason_text(reason: tuple[str, dict]) -> str:
    key, params = reason
    return t(key, **params)


def show_matches(con, actor, matches: list[Match], key: str = "dup") -> None:
    """Each match in a bordered box; in-scope ones with their name and a link to their page."""
    from ui import nav

    pages = {p.path for p in nav.allowed(con, actor)}
    for i, m in enumerate(matches):
        with st.container(border=True):
            what = t(f"entity.{m.entity}")
            title = f"**{md(m.name)}** · {what}" if m.visible and m.name else f"**{what}** · {t('dup.hidden')}"
            badge = ACTION_BADGES[m.action].format(t(f"dup.action.{m.action}"))
            st.markdown(f"{title} · {t('dup.score', score=m.score)} · {badge}")
            st.markdown(holder_text(m))
            st.caption(" · ".join(reason_text(r) for r in m.reasons))
            page, attr = ENTITY_PAGES[m.entity]
            target = getattr(m, attr)
            if m.visible and target is not None and page in pages:
                nav.record_link(page, t("dup.open"), target, icon=":material/open_in_new:", key=f"{key}_open_{i}")


def refused(con, actor, exc, key: str) -> None:
    """A form's save refused by the duplicate guard. A block: the message and the matches (as far as
    the user may see them). A warning: kept for the form, which then shows it above a "save anyway" box
    (see `anyway`), so the user decides with the matches in view."""
    from ui import errors

    if exc.warn:
        st.session_state[f"{key}_refusal"] = exc
        st.rerun()
    errors.show(exc)
    if exc.matches:
        show_matches(con, actor, list(exc.matches), key=f"{key}_dups")


def anyway(con, actor, key: str) -> bool:
    """Inside the form: after a warning, the warning, its matches and a box to save despite it (the
    guard's `confirmed`)."""
    from ui import errors

    exc = st.session_state.get(f"{key}_refusal")
    if exc is None:
        return False
    errors.show(exc)
    if exc.matches:
        show_matches(con, actor, list(exc.matches), key=f"{key}_dups")
    return st.checkbox(t("dup.save_anyway"), key=f"{key}_confirm")
