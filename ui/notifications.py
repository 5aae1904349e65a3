"""The user's unread notifications on "my day" (core.notifications): each names its record with a
link that opens it (and marks it read), or is marked read on the spot."""
from __future__ import annotations

import streamlit as st

from core import clock, notifications
from core.context import Actor
from ui import errors
from ui.i18n import t

# the page that opens a notification's record (?id=N), per object
PAGES = {"ticket": "views/tickets.py", "feedback": "views/feedback.py"}
OPEN_LABELS = {"ticket": "home.open_ticket", "feedback": "home.open_record"}


def _message(kind: str, params: dict) -> str:
    shown = dict(params or {})
    if kind == "sla_breach" and shown.get("target") in ("first_response", "resolution"):
        shown["target"] = t(f"sla.target_{shown['target']}")
    return t(f"notify.{kind}", **shown)


def render(con, actor: Actor, pages: set[str]) -> None:
    """The unread list (nothing when there is none); `pages` = the paths the user may open."""
    with errors.handled():
        count = notifications.unread_count(con, actor)
        if not count:
            return
        st.subheader(t("home.notifications_count", n=f"{count:,}"))
        rows = notifications.unread(con, actor).to_dicts()
        for row in rows:
            with st.container(border=True):
                text_col, open_col, read_col = st.columns([6, 2, 2], vertical_alignment="center")
                text_col.markdown(_message(row["kind"], row["params"]))
                text_col.caption(clock.fmt(con, row["created_at"]))
                page = PAGES.get(row["object"] or "")
                if page in pages and row["object_id"] is not None:
                    if open_col.button(t(OPEN_LABELS[row["object"]]), key=f"notif_open_{row['id']}"):
                        notifications.mark_read(con, actor, [row["id"]])
                        st.switch_page(page, query_params={"id": str(row["object_id"])})
                if read_col.button(t("home.mark_read"), key=f"notif_read_{row['id']}"):
                    notifications.mark_read(con, actor, [row["id"]])
                    st.rerun()
        if len(rows) < count:
            st.caption(t("home.rows_more", shown=f"{len(rows):,}", n=f"{count:,}"))
        if count > 1 and st.button(t("home.mark_all_read"), key="notif_read_all"):
            notifications.mark_read(con, actor)
            st.rerun()
