"""My day: the real counts the user may see, and the follow-ups due."""
import polars as pl
import streamlit as st

from core import customers
from core.analytics import kpis
from ui import errors, tables
from ui.i18n import names, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("home.title", name=me.name))
st.caption(t("home.subtitle", date=me.now.strftime("%Y-%m-%d")))

with errors.handled():
    figures = kpis.my_day(c, me)
    cards = [
        ("open_leads", "home.open_leads", None),
        ("customers", "home.customers", "pool"),
        ("followups_due", "home.followups_due", "followups_overdue"),
        ("open_tickets", "home.open_tickets", None),
        ("tasks_due", "home.tasks_due", None),
    ]
    shown = [c_ for c_ in cards if figures.get(c_[0]) is not None]
    cols = st.columns(len(shown) or 1)
    for col, (key, title, extra) in zip(cols, shown):
        with col.container(border=True):
            help_text = None
            if extra == "pool":
                help_text = t("home.pool_help", n=f"{figures['pool']:,}")
            elif extra == "followups_overdue":
                help_text = t("home.overdue_help", n=f"{figures['followups_overdue']:,}")
            st.metric(t(title), f"{figures[key]:,}")
            if help_text:
                st.caption(help_text)

    if figures.get("customers") is not None:
        st.subheader(t("home.followups"))
        stage_names = names(customers.stages(c))
        due = kpis.followups_due(c, me).with_columns(
            pl.col("stage").replace_strict(stage_names, default=pl.col("stage")))
        if due.is_empty():
            st.info(t("home.no_followups"))
        else:
            tables.show(due, {"name": "customer.name", "phone": "customer.phone", "stage": "customer.stage",
                              "next_followup_at": "customer.next_followup_at", "owner_name": "customer.owner"},
                        key="followups")
