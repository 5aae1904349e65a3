"""Forecast (销售预测): the months side by side (forecast categories, weighted amount and the won-amount
target) for the team and for each rep, and the hot deals of the next 90 days beside their stage's
historical win rate. Managers see their team tree, the admin every team, a rep their own deals."""
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import clock, forecast, targets
from core.i18n import translate
from ui import errors, tables
from ui.i18n import lang, t
from ui.session import actor, con

DEALS_PAGE = "views/deals.py"
COLOURS = {"closed": "#2e7d32", "commit": "#1565c0", "best_case": "#64b5f6", "pipeline": "#cfd8dc"}
ORDER = ("closed", "commit", "best_case", "pipeline")

me, c = actor(), con()
st.title(t("page.forecast"))


def plain(key: str, **params) -> str:
    """Text for chart labels and select options (plain text, not Markdown)."""
    return translate(lang(), key, **params)


def month_label(day) -> str:
    return day.strftime("%Y-%m")


def money(value) -> str:
    """An amount as people read it (no decimals, thousands separated); empty when there is none."""
    return "" if value is None else f"{value:,.0f}"


with errors.handled():
    band = forecast.bands(c)
    st.caption(t("forecast.intro", best=band["best_case"], commit=band["commit"]))
    today = clock.local_today(c, me.now)
    this_month = today.replace(day=1)
    teams = targets.visible_teams(c, me)
    c1, c2, c3 = st.columns([2, 1, 1])
    team_id = None
    if teams:
        options = [None] + [x["id"] for x in teams]
        by_id = {x["id"]: x for x in teams}
        default = options.index(me.team_id) if me.team_id in by_id and not me.is_admin else 0
        team_id = c1.selectbox(plain("forecast.team"), options, index=default, key="fc_team",
                               format_func=lambda i: plain("forecast.all_teams") if i is None
                               else "\u2003" * by_id[i]["depth"] + by_id[i]["name"])
    starts = [targets.add_months(this_month, k) for k in range(-12, 13)]
    start = c2.selectbox(plain("forecast.start"), starts, index=12, format_func=month_label, key="fc_start")
    n = c3.selectbox(plain("forecast.months"), (3, 6, 12), index=1, key="fc_n")
    df = forecast.months(c, me, start, n, team_id)
    reps = df.filter(pl.col("level") == "rep")
    own_only = not teams
    total = df.filter(pl.col("level") == "team").sort("month")
    if own_only:  # a rep: the chart's target is their own
        mine = reps.group_by("month").agg(pl.col("target").max().alias("mine"))
        total = total.join(mine, on="month", how="left").with_columns(pl.col("mine").alias("target")).drop("mine")
    xs = [month_label(m) for m in total["month"]]

    st.subheader(t("forecast.by_month"))
    fig = go.Figure()
    for cat in ORDER:
        fig.add_bar(x=xs, y=total[cat].to_list(), name=plain(f"forecast.cat_{cat}"), marker_color=COLOURS[cat])
    fig.add_scatter(x=xs, y=total["weighted"].to_list(), name=plain("forecast.weighted"), mode="lines+markers",
                    line={"color": "#ef6c00"})
    if total["target"].null_count() < total.height:
        fig.add_scatter(x=xs, y=total["target"].to_list(), name=plain("forecast.target"), mode="markers",
                        marker={"symbol": "line-ew-open", "size": 30, "color": "#c62828", "line": {"width": 3}})
    fig.update_layout(barmode="stack", height=380, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      legend={"orientation": "h", "y": -0.15}, yaxis={"title": plain("forecast.amount")})
    st.plotly_chart(fig, key="fc_chart", config={"displayModeBar": False})

    # the categories, weighted amount and target per month, side by side
    lines = [(plain(f"forecast.cat_{cat}"), cat) for cat in ORDER] + \
            [(plain("forecast.weighted"), "weighted"), (plain("forecast.target"), "target")]
    grid = {plain("forecast.line"): [name for name, _ in lines]}
    for i, x in enumerate(xs):
        grid[x] = [money(total[col][i]) for _, col in lines]
    st.dataframe(pl.DataFrame(grid), hide_index=True, width="stretch", key="fc_grid")

    # months x reps: weighted beside the target
    st.subheader(t("forecast.by_rep"))
    if reps.height == 0:
        st.info(t("forecast.no_deals"))
    else:
        people = reps.select(["owner_id", "name"]).unique().sort("name", nulls_last=True)
        table = {plain("forecast.rep"): [x or "—" for x in people["name"]]}
        for m in total["month"]:
            here = reps.filter(pl.col("month") == m)
            got = {r["owner_id"]: r for r in here.iter_rows(named=True)}
            for col, key in (("weighted", "forecast.weighted"), ("target", "forecast.target")):
                head = f"{month_label(m)} · {plain(key)}"
                table[head] = [money(got[o][col]) if o in got else "" for o in people["owner_id"]]
        st.dataframe(pl.DataFrame(table), hide_index=True, width="stretch", key="fc_reps")

    # the hot list
    st.subheader(t("forecast.hot"))
    st.caption(t("forecast.hot_intro"))
    hot = forecast.hot(c, me, team_id=team_id)
    if hot.height == 0:
        st.info(t("forecast.no_hot"))
    else:
        hot = hot.with_columns(
            pl.when(pl.lit(lang() == "zh")).then(pl.col("stage_zh")).otherwise(pl.col("stage_en")).alias("stage_name"),
            pl.col("category").map_elements(lambda v: plain(f"forecast.cat_{v}"), return_dtype=pl.String)
            .alias("category_name"),
            (pl.col("win_rate") * 100).round(0).alias("win_pct"),
            pl.when(pl.col("win_rate").is_not_null() & (pl.col("probability") - pl.col("win_rate") * 100 >= 20))
            .then(pl.lit("⚠")).otherwise(pl.lit("")).alias("optimistic"),
            pl.col("amount").round(0), pl.col("weighted").round(0))
        picked = tables.select_one(hot, {
            "name": "forecast.deal", "customer_name": "forecast.customer", "owner_name": "forecast.owner",
            "stage_name": "forecast.stage", "amount": "forecast.amount", "probability": "forecast.probability",
            "win_pct": "forecast.win_rate", "optimistic": "forecast.optimistic", "weighted": "forecast.weighted",
            "category_name": "forecast.category", "expected_close": "forecast.expected_close",
            "days_idle": "forecast.days_idle"}, key="fc_hot")
        if picked is not None:
            st.switch_page(DEALS_PAGE, query_params={"id": str(picked)})
