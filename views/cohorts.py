"""Cohorts: customers grouped by the month of their first purchase, the share of each cohort buying again
in month 1, 2, ... after it as a heat map, and the revenue of each cohort; the same for leads by creation
month, converted to customers (core.analytics.cohorts)."""
import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import clock
from core.analytics import cohorts, dashboards
from ui import errors, export, tables
from ui.dashboard import plain
from ui.i18n import t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.cohorts"))
state = st.session_state
LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}}


def month_label(value) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m")
    return str(value)[:7]


def heat(frame: pl.DataFrame, value: str, months: int, key: str, title: str, first: int = 1) -> None:
    """Cohort x month heat map of `value` (a share), the cohort's size in the row label; months from
    `first` (retention leaves month 0 out: everyone of a cohort bought in it)."""
    body = frame.filter((pl.col("month") >= first) & (pl.col("month") <= months))
    cohorts_ = frame.select("cohort", "size").unique("cohort").sort("cohort")
    if cohorts_.height == 0:
        st.info(t("cohort.nothing"))
        return
    cells = {(r["cohort"], r["month"]): r[value] for r in body.iter_rows(named=True)}
    xs = list(range(first, months + 1))
    z, text = [], []
    for r in cohorts_.iter_rows(named=True):
        row = [cells.get((r["cohort"], m)) for m in xs]
        z.append([None if v is None else round(v * 100, 1) for v in row])
        text.append(["" if v is None else f"{v * 100:.0f}%" for v in row])
    ys = [plain("cohort.row", month=month_label(r["cohort"]), size=f"{r['size']:,}")
          for r in cohorts_.iter_rows(named=True)]
    fig = go.Figure(go.Heatmap(z=z, x=[plain("cohort.month_n", n=m) for m in xs], y=ys, text=text,
                               texttemplate="%{text}", colorscale="Greens", zmin=0,
                               colorbar={"title": "%"}, hoverongaps=False,
                               hovertemplate="%{y}<br>%{x}: %{z:.1f} %<extra></extra>"))
    st.caption(title)
    fig.update_layout(height=140 + 32 * len(ys), yaxis={"autorange": "reversed"},
                      xaxis={"side": "top"}, **LAYOUT)
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


with errors.handled():
    today = clock.local_today(c, me.now)
    first = today.replace(day=1)
    if "coh_start" not in state:
        state["coh_start"] = dashboards.add_months(first, -11)
    if "coh_end" not in state:
        state["coh_end"] = today
    if "coh_horizon" not in state:
        state["coh_horizon"] = 12
    a, b, d = st.columns(3)
    start = a.date_input(plain("cohort.start"), key="coh_start", max_value=today)
    end = b.date_input(plain("cohort.end"), key="coh_end", max_value=today)
    horizon = int(d.number_input(plain("cohort.horizon"), min_value=1, max_value=36, step=1, key="coh_horizon"))
    if end < start:
        end = start
    start = start.replace(day=1)
    st.caption(t("cohort.help", start=month_label(start), end=month_label(end)))

    # one view at a time (tabs would compute both on every run)
    views = {"customers": plain("cohort.tab_customers"), "leads": plain("cohort.tab_leads")}
    view = st.segmented_control(plain("cohort.view"), list(views), key="coh_view", default="customers",
                                format_func=views.get, label_visibility="collapsed") or "customers"
    if view == "customers":
        ret = cohorts.retention(c, me, start, end, horizon=horizon)
        st.subheader(t("cohort.retention"))
        heat(ret, "share", horizon, "coh_retention", plain("cohort.retention_title"))
        if ret.height:
            st.subheader(t("cohort.revenue"))
            rev = (ret.group_by("cohort").agg(pl.col("size").first(), pl.col("revenue").fill_null(0).sum())
                   .sort("cohort").with_columns(pl.col("revenue").round(0)))
            xs = [month_label(x) for x in rev["cohort"]]
            fig = go.Figure(go.Bar(x=xs, y=rev["revenue"].to_list(), marker_color="#1565c0",
                                   customdata=rev["size"].to_list(),
                                   hovertemplate="%{x}: %{y:,.0f}<br>" + plain("cohort.size_hover") +
                                   "<extra></extra>"))
            fig.update_layout(height=320, xaxis={"type": "category"}, **LAYOUT)
            st.plotly_chart(fig, key="coh_revenue", config={"displaylogo": False})
            table = (ret
                     .with_columns(pl.col("cohort").map_elements(month_label, return_dtype=pl.String).alias("cohort_m"),
                                   (pl.col("share") * 100).round(1).alias("share_pct"), pl.col("revenue").round(0))
                     .sort("cohort", "month"))
            cols = {"cohort_m": "cohort.col.cohort", "size": "cohort.col.size", "month": "cohort.col.month",
                    "customers": "cohort.col.customers", "share_pct": "cohort.col_share", "revenue": "cohort.col.revenue"}
            with st.expander(t("cohort.table")):
                tables.show(table, cols, key="coh_ret_table")
            export.buttons(c, me, "analytics", table, cols, plain("cohort.retention"), key="coh_ret_export")
    else:
        leads = cohorts.lead_cohorts(c, me, start, end, horizon=horizon)
        st.subheader(t("cohort.leads"))
        st.caption(t("cohort.leads_help"))
        heat(leads, "share", horizon, "coh_leads", plain("cohort.leads_title"), first=0)
        if leads.height:
            table = (leads.with_columns(pl.col("cohort").map_elements(month_label, return_dtype=pl.String)
                                        .alias("cohort_m"), (pl.col("share") * 100).round(1).alias("share_pct"))
                     .sort("cohort", "month"))
            cols = {"cohort_m": "cohort.col_lead_cohort", "size": "cohort.col.size", "month": "cohort.col.month",
                    "converted": "cohort.col.converted", "share_pct": "cohort.col_share"}
            with st.expander(t("cohort.table")):
                tables.show(table, cols, key="coh_lead_table")
            export.buttons(c, me, "analytics", table, cols, plain("cohort.leads"), key="coh_lead_export")
