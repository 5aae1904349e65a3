"""The CSAT widget (客户满意度) of the ticket page: once a ticket is resolved or closed, the agent records
the score (1-5) the customer gave on the call-back, with the channel and the customer's words. A rated
ticket shows its rating; who may record feedback can change it (the score is replaced, never doubled).

`csat_form(con, actor, ticket)` takes the ticket as core.tickets.get_ticket returns it (a dict with `id`)
or its id; it draws nothing for a ticket that is not resolved or closed."""
from __future__ import annotations

from typing import Any

import streamlit as st

from core import clock
from core import feedback as core_feedback
from ui import errors, forms
from ui.i18n import t

SCORES = (1, 2, 3, 4, 5)


def _score_label(v: int) -> str:
    return f"{v} · {t(f'csat.score_{v}')}"


def _changing(tid: int) -> bool:
    return bool(st.session_state.get(f"_csat_change_{tid}"))


def _set_changing(tid: int, value: bool) -> None:
    st.session_state[f"_csat_change_{tid}"] = value


def csat_form(con, actor, ticket: Any) -> None:
    """The ticket's rating, or the form to record it (resolved / closed tickets only)."""
    tid = ticket["id"] if isinstance(ticket, dict) else ticket
    with errors.handled():
        state = core_feedback.rating_state(con, actor, tid)
        if not state["rateable"]:
            return
        tid = state["id"]
        current = core_feedback.csat_of(con, actor, tid)
        score = current["score"] if current else state["satisfaction"]
        if score is not None and not _changing(tid):
            line = t("csat.rated", score=f"{score:g}")
            if current:
                line += " · " + t("csat.rated_by", by=current["by"] or t("audit.system"),
                                  when=clock.fmt(con, current["updated_at"]))
            st.markdown(f":material/sentiment_satisfied: {line}")
            if current and current["comment"]:
                st.text(current["comment"])
            if state["may_rate"]:
                st.button(t("csat.change"), key=f"csat_change_{tid}", icon=":material/edit:",
                          on_click=_set_changing, args=(tid, True))
            return
        if not state["may_rate"]:
            st.caption(t("csat.not_rated"))
            return
        _form(con, actor, tid, current)


def _form(con, actor, tid: int, current: dict | None) -> None:
    nonce = st.session_state.get(f"_csat_nonce_{tid}", 0)
    key = f"csat_{tid}_{nonce}"
    channels = list(core_feedback.CHANNELS)
    with st.form(key):
        st.markdown(f"**{t('csat.title')}**")
        st.caption(t("csat.hint"))
        score = st.radio(t("feedback.csat_score"), SCORES, index=None, horizontal=True, key=f"{key}_score",
                         format_func=_score_label)
        channel = st.selectbox(t("feedback.channel"), channels, key=f"{key}_channel",
                               index=channels.index(current["channel"]) if current and current["channel"] in channels
                               else 0, format_func=lambda v: t(f"feedback.channel_{v}"))
        comment = st.text_area(t("feedback.comment"), value=(current or {}).get("comment") or "", max_chars=4000,
                               key=f"{key}_comment")
        submitted = st.form_submit_button(t("csat.save"), type="primary", icon=":material/star:")
    if current is not None:
        st.button(t("csat.cancel"), key=f"csat_cancel_{tid}", on_click=_set_changing, args=(tid, False))
    if not submitted:
        return
    if score is None:
        st.warning(t("csat.pick_score"))
        return
    with errors.handled():
        core_feedback.record_csat(con, actor, tid, score, comment=comment or None, channel=channel)
        st.session_state[f"_csat_nonce_{tid}"] = nonce + 1
        _set_changing(tid, False)
        forms.flash(t("csat.saved", score=score))
        st.rerun()
