"""Targets (KPI考核): attainment (actual / target) for a month, quarter or year, computed live from the
records, for the rep (own) or for a team and each of its people; managers set their team tree's
targets, the admin everyone's."""
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import clock, targets
from core.i18n import translate
from ui import errors, forms, tables
from ui.i18n import lang, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.targets"))
forms.show_flash()
state = st.session_state


def plain(key: str, **params) -> str:
    """Text for chart labels and select options (plain text, not Markdown)."""
    return translate(lang(), key, **params)


def number(value) -> str:
    """A figure as people read it: thousands separated, no decimals unless it has some."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


with errors.handled():
    today = clock.local_today(c, me.now)
    teams = targets.visible_teams(c, me)
    by_id = {x["id"]: x for x in teams}
    c1, c2, c3 = st.columns([1, 1, 2])
    kind = c1.selectbox(plain("target.period"), targets.PERIODS, key="tg_kind",
                        format_func=lambda k: plain(f"target.period_{k}"))
    day = c2.date_input(plain("target.period_day"), value=today, key="tg_day")
    team_id = None
    if teams:
        options = [None] + [x["id"] for x in teams]
        default = options.index(me.team_id) if me.team_id in by_id and not me.is_admin else 0
        team_id = c3.selectbox(plain("target.team"), options, index=default, key="tg_team",
                               format_func=lambda i: plain("target.default_view") if i is None
                               else "\u2003" * by_id[i]["depth"] + by_id[i]["name"])
    start, end = targets.period_bounds(kind, day)
    period = (kind, start)
    st.caption(t("target.period_shown", start=start.isoformat(), end=end.isoformat()))
    st.caption(t("target.rules"))

    df = targets.attainment(c, me, period, team_id=team_id)
    df = df.with_columns(
        pl.col("metric").map_elements(lambda m: plain(f"target.metric_{m}"), return_dtype=pl.String).alias("metric_name"),
        pl.when(pl.col("level") == "team").then(pl.lit("▸ ") + pl.col("name")).otherwise(pl.col("name")).alias("who"),
        (pl.col("ratio") * 100).round(1).alias("pct"),
        pl.col("target").map_elements(number, return_dtype=pl.String).fill_null("").alias("target_text"),
        pl.col("actual").map_elements(number, return_dtype=pl.String).fill_null("").alias("actual_text"),
        pl.col("ratio").map_elements(lambda r: f"{r * 100:.0f} %", return_dtype=pl.String).fill_null("")
        .alias("pct_text"))

    st.subheader(t("target.attainment"))
    tabs = st.tabs([plain(f"target.metric_{m}") for m in targets.METRICS])
    for tab, metric in zip(tabs, targets.METRICS):
        part = df.filter(pl.col("metric") == metric)
        with tab:
            shown = part.filter(pl.col("target").is_not_null())
            if shown.height == 0:
                st.info(t("target.none_set"))
            else:
                fig = go.Figure(go.Bar(
                    y=shown["who"].to_list(), x=shown["pct"].fill_null(0).to_list(), orientation="h",
                    marker_color=["#2e7d32" if (p or 0) >= 100 else "#1565c0" for p in shown["pct"].to_list()],
                    text=[plain("target.bar_text", actual=f"{a or 0:,.0f}", target=f"{g:,.0f}")
                          for a, g in zip(shown["actual"].to_list(), shown["target"].to_list())],
                    textposition="auto"))
                fig.add_vline(x=100, line_dash="dash", line_color="#c62828")
                fig.update_layout(height=60 + 40 * shown.height, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                                  xaxis={"title": plain("target.pct")}, yaxis={"autorange": "reversed"})
                st.plotly_chart(fig, key=f"tg_chart_{metric}", config={"displayModeBar": False})
            tables.show(part, {"who": "target.who", "target_text": "target.target", "actual_text": "target.actual",
                               "pct_text": "target.pct"}, key=f"tg_table_{metric}")

    # setting targets: managers for their team tree, the admin for everyone
    if targets.can_set(c, me):
        st.subheader(t("target.set_title"))
        settable_teams = targets.visible_teams(c, me, "assign")
        people = targets.visible_people(c, me, "assign", team_id)
        subjects = [("team", x["id"]) for x in settable_teams] + [("user", p["id"]) for p in people]
        names = {("team", x["id"]): "▸ " + x["name"] for x in settable_teams}
        names.update({("user", p["id"]): f"{p['name']} ({p['team_name'] or '—'})" for p in people})
        current = targets.list_targets(c, me, period, team_id)
        nonce = state.get("tg_nonce", 0)
        with st.form(f"tg_form_{nonce}"):
            f1, f2, f3 = st.columns([2, 1, 1])
            subject = f1.selectbox(plain("target.who"), subjects, format_func=lambda s: names[s], index=None,
                                   placeholder=plain("target.pick"))
            metric = f2.selectbox(plain("target.metric"), targets.METRICS,
                                  format_func=lambda m: plain(f"target.metric_{m}"))
            value = f3.number_input(plain("target.value"), min_value=0.0, step=1.0, value=0.0)
            st.caption(t("target.for_period", start=start.isoformat(), end=end.isoformat()))
            if st.form_submit_button(t("action.save"), type="primary"):
                if subject is None:
                    st.warning(t("target.pick"))
                else:
                    number = int(value) if metric != "won_amount" and float(value).is_integer() else value
                    targets.set_target(c, me, period, metric, number,
                                       user_id=subject[1] if subject[0] == "user" else None,
                                       team_id=subject[1] if subject[0] == "team" else None)
                    forms.flash(t("target.saved", who=names[subject], metric=plain(f"target.metric_{metric}")))
                    state["tg_nonce"] = nonce + 1
                    st.rerun()
        if current.height:
            st.caption(t("target.set_list"))
            current = current.with_columns(pl.col("metric").map_elements(
                lambda m: plain(f"target.metric_{m}"), return_dtype=pl.String).alias("metric_name"))
            picked = tables.select_one(current, {"name": "target.who", "metric_name": "target.metric",
                                                 "value": "target.value", "set_by_name": "target.set_by",
                                                 "updated_at": "target.updated_at"}, key="tg_list")
            if picked is not None and st.button(t("target.clear"), key=f"tg_clear_{picked}",
                                                icon=":material/delete:"):
                targets.clear_target(c, me, picked)
                forms.flash(t("target.cleared"))
                st.rerun()
