"""Pool dashboard (公海看板): per rep, customers held against the cap, customers untouched for 5, 10 and 20
working days, claimed and reclaimed this week, locked; per pool, its size, the age of its records and
its claim rate. Managers see their team tree, admins every team (core.pool_stats.dashboard scopes it)."""
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import clock, pool_stats
from ui import errors, tables
from ui import pool as words
from ui.session import actor, con
from ui.i18n import t

me, c = actor(), con()
st.title(t("page.pool_dashboard"))
LAYOUT = {"height": 340, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "legend": {"orientation": "h", "y": -0.25},
          "barmode": "group"}
REP_COLUMNS = {"name": "pool_ui.col_rep", "team": "pool_ui.col_team", "held": "pool_ui.col_held",
               "cap": "pool_ui.col_cap", "untouched_5": "pool_ui.col_untouched_5",
               "untouched_10": "pool_ui.col_untouched_10", "untouched_20": "pool_ui.col_untouched_20",
               "claimed_week": "pool_ui.col_claimed_week", "reclaimed_week": "pool_ui.col_reclaimed_week",
               "locked": "pool_ui.col_locked_n"}
POOL_COLUMNS = {"name": "pool_ui.col_pool", "size": "pool_ui.col_size", "median_age_days": "pool_ui.col_median_age",
                "oldest_days": "pool_ui.col_oldest", "claimed_week": "pool_ui.col_claimed_week",
                "claim_rate": "pool_ui.col_claim_rate"}


def _config(name: str) -> dict:
    today = clock.local_today(c, me.now).isoformat()
    return {"displayModeBar": True, "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": f"{name} {today}", "scale": 2}}


def _sum(df: pl.DataFrame, col: str) -> int:
    return int(df[col].fill_null(0).sum()) if col in df.columns and df.height else 0


with errors.handled():
    data = pool_stats.dashboard(c, me)
    reps, pools = data["reps"], data["pools"]
    st.caption(t("pool_ui.dash_scope_all") if me.is_admin else t("pool_ui.dash_scope_team"))
    over = reps.filter(pl.col("held") > pl.col("cap")).height if reps.height else 0
    a, b, d, e, f = st.columns(5)
    a.metric(t("pool_ui.m_held"), f"{_sum(reps, 'held'):,}")
    b.metric(t("pool_ui.m_over_cap"), f"{over:,}", help=t("pool_ui.m_over_cap_help"))
    d.metric(t("pool_ui.m_untouched_10"), f"{_sum(reps, 'untouched_10'):,}")
    e.metric(t("pool_ui.m_claimed_week"), f"{_sum(reps, 'claimed_week'):,}")
    f.metric(t("pool_ui.m_reclaimed_week"), f"{_sum(reps, 'reclaimed_week'):,}")

    st.subheader(t("pool_ui.dash_reps"))
    if reps.is_empty():
        st.info(t("pool_ui.dash_no_reps"))
    else:
        top = reps.sort("held", descending=True).head(40)
        who = [n or "—" for n in top["name"].to_list()]
        left, right = st.columns(2)
        with left:
            fig = go.Figure()
            fig.add_bar(x=who, y=top["held"].to_list(), name=words.plain("pool_ui.col_held"), marker_color="#1565c0")
            fig.add_scatter(x=who, y=top["cap"].to_list(), name=words.plain("pool_ui.col_cap"), mode="markers",
                            marker={"symbol": "line-ew-open", "size": 18, "color": "#c62828", "line": {"width": 3}})
            fig.update_layout(title=words.plain("pool_ui.chart_held_cap"), **LAYOUT)
            st.plotly_chart(fig, key="pool_dash_held", config=_config(words.plain("pool_ui.chart_held_cap")))
        with right:
            fig = go.Figure()
            for col, colour in (("untouched_5", "#ffb300"), ("untouched_10", "#fb8c00"), ("untouched_20", "#c62828")):
                fig.add_bar(x=who, y=top[col].to_list(), name=words.plain(f"pool_ui.col_{col}"), marker_color=colour)
            fig.update_layout(title=words.plain("pool_ui.chart_untouched"), **LAYOUT)
            st.plotly_chart(fig, key="pool_dash_untouched", config=_config(words.plain("pool_ui.chart_untouched")))
        tables.show(reps.sort("name"), REP_COLUMNS, key="pool_dash_reps")

    st.subheader(t("pool_ui.dash_pools"))
    if pools.is_empty():
        st.info(t("pool_ui.dash_no_pools"))
    else:
        left, right = st.columns(2)
        names = [n or "—" for n in pools["name"].to_list()]
        with left:
            fig = go.Figure(go.Bar(x=names, y=pools["size"].to_list(), name=words.plain("pool_ui.col_size"),
                                   marker_color="#2e7d32"))
            fig.update_layout(title=words.plain("pool_ui.chart_pool_size"), **LAYOUT)
            st.plotly_chart(fig, key="pool_dash_sizes", config=_config(words.plain("pool_ui.chart_pool_size")))
        with right:
            rate = [round(100 * float(x), 1) if x is not None else 0 for x in pools["claim_rate"].to_list()]
            fig = go.Figure(go.Bar(x=names, y=rate, name=words.plain("pool_ui.col_claim_rate"),
                                   marker_color="#6a1b9a"))
            fig.update_layout(title=words.plain("pool_ui.chart_claim_rate"), yaxis={"ticksuffix": "%"}, **LAYOUT)
            st.plotly_chart(fig, key="pool_dash_rates", config=_config(words.plain("pool_ui.chart_claim_rate")))
        shown = pools.with_columns((pl.col("claim_rate").cast(pl.Float64) * 100).round(1).alias("claim_rate"))
        tables.show(shown, POOL_COLUMNS, key="pool_dash_pools")
        st.caption(t("pool_ui.claim_rate_help"))
