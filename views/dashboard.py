"""Dashboard (数据看板): the role's dashboard (manager; admin: the manager's over every team; rep; service;
marketing) with a period picker, comparison and dashboard-wide filters kept in the URL. Clicking a bar
filters the other charts (a rep, a month, a source) and opens the records behind it, with the dashboard's
filters still applied; a row opens its record."""
import dataclasses
import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import clock, options, pipelines
from core.analytics import dashboards, drill, metrics, quality
from core.errors import CRMError
from ui import dashboard as ui, errors, export
from ui.i18n import lang, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.dashboard"))
plain = ui.plain
LAYOUT = {"height": 320, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "legend": {"orientation": "h", "y": -0.2},
          "clickmode": "event+select"}


def png_config(name: str) -> dict:
    """Plotly's toolbar: always shown, no logo, its camera button (toImage) saves a PNG named after the
    chart and the company's day."""
    today = clock.local_today(c, me.now).isoformat()
    return {"displayModeBar": True, "displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": f"{name} {today}", "scale": 2}}


def chart(fig: go.Figure, key: str, name: str | None = None):
    """A chart whose bars can be clicked: the points picked (x, y, customdata) or []. Its toolbar saves it
    as a PNG (`name`: the file's name, translated)."""
    fig.update_layout(**LAYOUT)
    event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points",
                            config=png_config(name or key))
    try:
        return list(event.selection.points) if event and event.selection else []
    except AttributeError:
        return []


def first_custom(points) -> object:
    for pt in points:
        data = pt.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None:
            return data
    return None


def clicked(key: str, points, on_new) -> None:
    """Act once per new pick of chart `key` (the selection stays on the chart across reruns)."""
    value = first_custom(points)
    seen = st.session_state.get(f"_seen_{key}")
    if value != seen:
        st.session_state[f"_seen_{key}"] = value
        if value is not None:
            on_new(value)
            st.rerun()


def focus() -> dict:
    return st.session_state.get("_dash_focus") or {}


def set_focus(**kw) -> None:
    st.session_state["_dash_focus"] = kw


def month_period(first: dt.date) -> metrics.Period:
    nxt = dashboards.add_months(first, 1)
    return metrics.Period(first, nxt - dt.timedelta(days=1))


def names(rows: list[dict]) -> dict:
    return {r["code"]: r.get(f"name_{lang()}") or r["name_en"] for r in rows}


def _pct(x) -> str:
    return "—" if x is None else f"{x * 100:.1f} %"


def funnel_chart(fn: pl.DataFrame, key: str, which: str, pipeline_id, title_key: str) -> None:
    """A funnel (core.analytics.funnel's frame) whose steps can be clicked: each step shows how many
    reached it, the share that went on to the next step and how many dropped there; a click opens the
    records behind the step's count (with the dashboard's period and filters)."""
    if fn.height == 0 or fn["reached"].null_count() == fn.height or not fn["reached"].fill_null(0).sum():
        st.info(t("dash.nothing"))
        return
    step_names = [r.get(f"name_{lang()}") or r["name_en"] for r in fn.iter_rows(named=True)]
    texts, hovers = [], []
    for r in fn.iter_rows(named=True):
        n = f"{r['reached'] or 0:,}"
        if r["converted_to_next"] is None and r["advanced"] is None:
            texts.append(plain("dash.funnel_last", reached=n))
        elif r["dropped"] is None:
            texts.append(plain("dash.funnel_nodrop", reached=n, conv=_pct(r["converted_to_next"])))
        else:
            texts.append(plain("dash.funnel_text", reached=n, conv=_pct(r["converted_to_next"]),
                               dropped=f"{r['dropped']:,}"))
        days = r["median_days_in_stage"]
        hovers.append(plain("dash.funnel_days", days=f"{days:.1f}") if days is not None else "")
    fig = go.Figure(go.Funnel(y=step_names, x=fn["reached"].fill_null(0).to_list(), customdata=fn["stage"].to_list(),
                              text=texts, textinfo="text", hovertext=hovers, textposition="inside",
                              hovertemplate="%{y}<br>%{text}<br>%{hovertext}<extra></extra>",
                              marker={"color": "#1565c0" if which == "deal" else "#2e7d32"}))
    by_code = dict(zip(fn["stage"].to_list(), step_names))
    clicked(key, chart(fig, key, plain("dash.deal_funnel" if which == "deal" else "dash.funnel")),
            lambda v: ui.open_funnel(which, v, t(title_key, stage=by_code.get(v, v)), pipeline_id, period=fp))


def ticket_categories() -> dict:
    """Ticket category code -> name in the user's language (the service desk's option list when it has
    one; the codes otherwise)."""
    try:
        return names(options.options(c, "ticket_category", include_inactive=True))
    except CRMError:
        return {}


def forecast_section(fc) -> None:
    """The forecast by expected close month: weighted and best case per month beside the target."""
    st.subheader(t("dash.forecast"))
    if fc is None:
        st.info(t("dash.forecast_filtered"))
        return
    st.caption(t("dash.forecast_help", months=fc.height))
    if not (fc["weighted"].sum() or fc["best_case"].sum() or fc["target"].fill_null(0).sum()):
        st.info(t("dash.nothing"))
        return
    xs = [m.strftime("%Y-%m") for m in fc["month"]]
    fig = go.Figure()
    fig.add_bar(x=xs, y=fc["weighted"].round(0).to_list(), name=plain("dash.fc_weighted"), marker_color="#1565c0")
    fig.add_bar(x=xs, y=fc["best_case"].round(0).to_list(), name=plain("dash.fc_best_case"), marker_color="#90caf9")
    if fc["target"].null_count() < fc.height:
        fig.add_scatter(x=xs, y=fc["target"].to_list(), name=plain("dash.fc_target"), mode="lines+markers",
                        line={"color": "#c62828", "dash": "dot"})
    fig.update_layout(barmode="group", **LAYOUT)
    st.plotly_chart(fig, key="dash_forecast", config=png_config(plain("dash.forecast")))


def campaign_section(camp: pl.DataFrame) -> None:
    """Each campaign's sends, responses and ROI in the period (they add up to the campaign cards)."""
    st.subheader(t("dash.campaigns"))
    if camp.height == 0:
        st.info(t("dash.nothing"))
        return
    channel = {k: plain(f"campaign.channel_{k}") for k in ("email", "sms", "phone", "event")}
    shown = camp.with_columns(pl.col("channel").replace_strict(channel, default=pl.col("channel")),
                              (pl.col("response_rate") * 100).round(2), (pl.col("roi") * 100).round(1),
                              pl.col("revenue").round(0), pl.col("cost").round(0))
    fig = go.Figure(go.Bar(x=shown["name"].to_list(), y=shown["response_rate"].to_list(),
                           name=plain("dash.col_response_pct"), marker_color="#2e7d32"))
    fig.add_scatter(x=shown["name"].to_list(), y=shown["roi"].to_list(), name=plain("dash.col_roi_pct"),
                    yaxis="y2", mode="markers+lines")
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right"}, **LAYOUT)
    st.plotly_chart(fig, key="dash_campaigns", config=png_config(plain("dash.campaigns")))
    cols = {"name": "dash.col_campaign", "channel": "dash.col_channel", "sent": "dash.col_sent",
            "responded": "dash.col_responded", "response_rate": "dash.col_response_pct", "revenue": "dash.col_revenue",
            "cost": "dash.col_cost", "roi": "dash.col_roi_pct"}
    ui.tables.show(shown, cols, key="dash_campaign_table")
    export.buttons(c, me, "campaigns", shown, cols, plain("dash.campaigns"), key="dash_campaign_export")


with errors.handled(), metrics.shared_lookups():   # one run's contexts share their lookups
    kind = dashboards.kind_of(me)
    p, compare = ui.period_picker(c, me)
    filters = ui.filter_bar(c, me)
    f = focus()
    fp = month_period(dt.date.fromisoformat(f["month"])) if f.get("month") else p
    ff = dataclasses.replace(filters, owner_id=f["owner_id"]) if f.get("owner_id") else filters
    ff = dataclasses.replace(ff, source=f["source"]) if f.get("source") else ff
    if f:
        c1, c2 = st.columns([4, 1])
        what = f.get("label", "")
        c1.info(t("dash.focus", what=what))
        if c2.button(t("dash.clear_focus"), key="dash_clear_focus"):
            st.session_state.pop("_dash_focus", None)
            st.rerun()

    if kind == "manager":
        pipeline_names = {r["id"]: r.get(f"name_{lang()}") or r["name_en"] for r in pipelines.pipelines(c)}
        if st.session_state.get("dash_pipeline") not in pipeline_names:
            st.session_state.pop("dash_pipeline", None)
        data = dashboards.manager(c, me, fp, ff, compare, pipeline_id=st.session_state.get("dash_pipeline"))
        if me.is_admin:
            st.caption(t("dash.all_teams"))
        ui.cards(data["cards"], key="mgr")
        ui.pinned_reports(c, me, kind)   # saved reports pinned to this dashboard, run as the viewer

        left, right = st.columns(2)
        with left:  # revenue trend: 12 months beside the 12 before
            st.subheader(t("dash.trend"))
            trend = dashboards.revenue_trend(c, me, p, ff) if f.get("month") else data["trend"]
            xs = [m.strftime("%Y-%m") for m in trend["month"]]
            fig = go.Figure()
            fig.add_bar(x=xs, y=trend["amount"].to_list(), name=plain("dash.this_period"),
                        customdata=[m.isoformat() for m in trend["month"]], marker_color="#1565c0")
            fig.add_scatter(x=xs, y=trend["previous"].to_list(), name=plain("dash.previous_period"),
                            mode="lines+markers", line={"color": "#9e9e9e"})
            clicked("dash_trend", chart(fig, "dash_trend", plain("dash.trend")),
                    lambda v: (set_focus(month=v, label=v[:7]),
                               ui.open_drill("won_deals", t("dash.won_in", month=v[:7]), period=month_period(
                                   dt.date.fromisoformat(v)))))
        with right:  # lost reasons
            st.subheader(t("dash.lost_reasons"))
            lost = data["lost"]
            if lost.height == 0:
                st.info(t("dash.nothing"))
            else:
                reason_names = names(options.options(c, "lost_reason", include_inactive=True))
                codes = [r if r is not None else "" for r in lost["grp"]]
                fig = go.Figure(go.Bar(y=[reason_names.get(x, x or plain("dash.none")) for x in codes],
                                       x=lost["n"].to_list(), orientation="h", customdata=codes,
                                       marker_color="#c62828"))
                clicked("dash_lost", chart(fig, "dash_lost", plain("dash.lost_reasons")),
                        lambda v: ui.open_drill("lost_deals", t("dash.lost_for", reason=reason_names.get(v, v)),
                                                narrow={"reason": v or None}, period=fp))

        forecast_section(data.get("forecast"))

        # the leaderboard, sortable by any of its KPIs
        st.subheader(t("dash.leaderboard"))
        board = dashboards.leaderboard(c, me, fp, filters) if f.get("owner_id") else data["leaderboard"]
        sort_cols = ("won_revenue", "won_deals", "win_rate", "new_customers", "new_leads", "followups", "attainment")
        sort_names = {k: plain(f"dash.lb_{k}") for k in sort_cols}
        by = st.selectbox(plain("dash.sort_by"), sort_cols, key="dash_sort", format_func=sort_names.get)
        board = board.sort(by, descending=True, nulls_last=True)
        if board.height:
            top = board.head(30)
            fig = go.Figure(go.Bar(x=[n or "—" for n in top["name"]], y=top[by].to_list(),
                                   customdata=top["owner_id"].to_list(), marker_color="#2e7d32"))
            set_of = {"won_revenue": "won_deals", "won_deals": "won_deals", "win_rate": "closed_deals",
                      "new_customers": "new_customers", "new_leads": "new_leads", "followups": "followups",
                      "attainment": "won_deals"}
            who = dict(zip(board["owner_id"].to_list(), board["name"].to_list()))
            clicked("dash_board", chart(fig, "dash_board", plain("dash.leaderboard")),
                    lambda v: (set_focus(owner_id=int(v), label=who.get(int(v)) or str(v)),
                               ui.open_drill(set_of[by], t("dash.records_of_rep", what=plain(f"dash.lb_{by}"),
                                                           who=who.get(int(v)) or ""), period=fp)))
            shown = board.with_columns((pl.col("win_rate") * 100).round(1), (pl.col("attainment") * 100).round(1),
                                       pl.col("won_revenue").round(0), pl.col("target").round(0))
            board_cols = {"name": "dash.col_owner", "won_revenue": "dash.lb_won_revenue",
                          "won_deals": "dash.lb_won_deals", "win_rate": "dash.lb_win_rate_pct",
                          "new_customers": "dash.lb_new_customers", "new_leads": "dash.lb_new_leads",
                          "followups": "dash.lb_followups", "target": "dash.lb_target",
                          "attainment": "dash.lb_attainment_pct"}
            ui.tables.show(shown, board_cols, key="dash_board_table")
            export.buttons(c, me, "analytics", shown, board_cols, plain("dash.leaderboard"), key="dash_board_export")
            # target attainment per rep
            goals = board.filter(pl.col("attainment").is_not_null())
            if goals.height:
                st.subheader(t("dash.attainment"))
                fig = go.Figure(go.Bar(x=[n or "—" for n in goals["name"]],
                                       y=(goals["attainment"] * 100).to_list(),
                                       customdata=goals["owner_id"].to_list(), marker_color="#6a1b9a"))
                fig.add_hline(y=100, line_dash="dot", line_color="#c62828")
                clicked("dash_att", chart(fig, "dash_att", plain("dash.attainment")),
                        lambda v: (set_focus(owner_id=int(v), label=who.get(int(v)) or str(v)),
                                   ui.open_drill("won_deals", t("dash.records_of_rep", what=plain("dash.lb_won_revenue"),
                                                                who=who.get(int(v)) or ""), period=fp)))
        else:
            st.info(t("dash.nothing"))
        if data.get("funnel") is not None:
            left, right = st.columns(2)
            with left:  # leads -> customers -> won
                st.subheader(t("dash.funnel"))
                funnel_chart(data["funnel"], "dash_funnel", "lead", None, "dash.funnel_leads_of")
            with right:  # the deal funnel of the pipeline picked
                st.subheader(t("dash.deal_funnel"))
                st.selectbox(plain("dash.pipeline"), list(pipeline_names), key="dash_pipeline",
                             format_func=lambda i: pipeline_names.get(i, str(i)))
                funnel_chart(data["deal_funnel"], f"dash_deal_funnel_{data['pipeline_id']}", "deal",
                             data["pipeline_id"], "dash.funnel_deals_of")

    elif kind == "rep":
        data = dashboards.rep(c, me, fp, ff, compare)
        ui.cards(data["cards"], key="rep")
        ui.pinned_reports(c, me, kind)   # saved reports pinned to this dashboard, run as the viewer
        left, right = st.columns(2)
        with left:
            st.subheader(t("dash.my_pipeline"))
            stages = data["stages"]
            if stages.height == 0:
                st.info(t("dash.nothing"))
            else:
                stage_names = names(pipelines.stages(c, include_inactive=True))
                fig = go.Figure(go.Bar(x=[stage_names.get(s, s) for s in stages["grp"]], y=stages["amount"].to_list(),
                                       customdata=stages["grp"].to_list(), text=stages["n"].to_list(),
                                       marker_color="#1565c0"))
                clicked("dash_stages", chart(fig, "dash_stages", plain("dash.my_pipeline")),
                        lambda v: ui.open_drill("open_deals", t("dash.open_in", stage=stage_names.get(v, v)),
                                                narrow={"status": v}, period=fp))
        with right:
            st.subheader(t("dash.forgotten"))
            fg = data["forgotten"]
            fig = go.Figure(go.Bar(x=[t(x.label_key) for x in fg], y=[x.value or 0 for x in fg],
                                   customdata=[x.key for x in fg], marker_color="#ef6c00"))
            labels = {x.key: t(x.label_key) for x in fg}
            clicked("dash_forgotten", chart(fig, "dash_forgotten", plain("dash.forgotten")),
                    lambda v: ui.open_drill(v, labels.get(v, v), period=fp))

    elif kind == "service":
        data = dashboards.service(c, me, fp, ff, compare)
        ui.cards(data["cards"], key="svc")
        ui.pinned_reports(c, me, kind)   # saved reports pinned to this dashboard, run as the viewer
        priority_names = {k: plain(f"ticket.priority_{k}") for k in ("critical", "high", "medium", "low")}
        category_names = ticket_categories()
        left, right = st.columns(2)
        with left:  # the backlog at the period's end by age and priority (a segment opens its tickets)
            st.subheader(t("dash.backlog_by_age"))
            age = data["age"]
            if age.height == 0:
                st.info(t("dash.nothing"))
            else:
                ages = [b[0] for b in drill.AGE_BUCKETS]
                age_names = {b: plain(f"dash.age_{b}") for b in ages}
                fig = go.Figure()
                colours = {"critical": "#b71c1c", "high": "#ef6c00", "medium": "#00838f", "low": "#90a4ae"}
                for prio in sorted(set(age["grp2"].to_list()), key=lambda x: (list(colours).index(x)
                                                                             if x in colours else 9, x or "")):
                    part = dict(zip(*age.filter(pl.col("grp2").eq_missing(prio)).select("grp", "n").to_dict(
                        as_series=False).values()))
                    fig.add_bar(x=[age_names[b] for b in ages], y=[part.get(b, 0) for b in ages],
                                name=priority_names.get(prio, prio or plain("dash.none")),
                                customdata=[f"{b}|{prio or ''}" for b in ages], marker_color=colours.get(prio))
                fig.update_layout(barmode="stack")

                def open_age(v: str) -> None:
                    b, _, prio = v.partition("|")
                    ui.open_drill("backlog", plain("dash.backlog_of", age=age_names.get(b, b),
                                                   priority=priority_names.get(prio, prio or plain("dash.none"))),
                                  narrow={"age": b, "priority": prio or None}, period=fp)
                clicked("dash_age", chart(fig, "dash_age", plain("dash.backlog_by_age")), open_age)
        with right:  # new tickets by category
            st.subheader(t("dash.tickets_by_category"))
            df = data["categories"]
            if df.height == 0:
                st.info(t("dash.nothing"))
            else:
                codes = [g if g is not None else "" for g in df["grp"]]
                fig = go.Figure(go.Bar(x=[category_names.get(g, g or plain("dash.none")) for g in codes],
                                       y=df["n"].to_list(), customdata=codes, marker_color="#00838f"))
                clicked("dash_categories", chart(fig, "dash_categories", plain("dash.tickets_by_category")),
                        lambda v: ui.open_drill("new_tickets", f"{plain('dash.tickets_by_category')} · "
                                                f"{category_names.get(v, v or plain('dash.none'))}",
                                                narrow={"reason": v or None}, period=fp))
        # SLA compliance, first response, resolution and CSAT by agent and by category (the cards' statement)
        agents = data["agents"].with_columns(pl.col("name").fill_null(plain("dash.none")))
        cats = data["by_category"].with_columns(
            pl.col("grp").replace_strict(category_names, default=pl.col("grp")).fill_null(plain("dash.none"))
            .alias("name"))
        left, right = st.columns(2)
        for col, df, title, key in ((left, agents, "dash.csat_by_agent", "dash_csat_agent"),
                                    (right, cats, "dash.csat_by_category", "dash_csat_category")):
            with col:
                st.subheader(t(title))
                rated = df.filter(pl.col("csat").is_not_null()).sort("csat", descending=True)
                if rated.height == 0:
                    st.info(t("dash.nothing"))
                    continue
                fig = go.Figure(go.Bar(x=rated["name"].to_list(), y=rated["csat"].round(2).to_list(),
                                       text=[plain("dash.rated_n", count=f"{n:,}") for n in rated["rated"]],
                                       marker_color="#6a1b9a"))
                fig.update_layout(yaxis={"range": [0, 5]})
                st.plotly_chart(fig.update_layout(**LAYOUT), key=key, config=png_config(plain(title)))
        for df, title, first_col, key in ((agents, "dash.by_agent", "dash.col_agent", "dash_svc_agents"),
                                          (cats, "dash.by_category", "dash.col_category", "dash_svc_categories")):
            st.subheader(t(title))
            if df.height == 0:
                st.info(t("dash.nothing"))
                continue
            shown = df.with_columns((pl.col("sla_compliance") * 100).round(1),
                                    *[pl.col(x).round(2) for x in ("first_response_median_h", "first_response_p90_h",
                                                                   "resolution_median_h", "resolution_p90_h", "csat")])
            cols = {"name": first_col, "new_tickets": "kpi.new_tickets", "backlog": "kpi.backlog",
                    "resolved": "dash.col_resolved", "sla_compliance": "dash.col_sla_pct",
                    "first_response_median_h": "kpi.first_response_median_h",
                    "first_response_p90_h": "kpi.first_response_p90_h",
                    "resolution_median_h": "kpi.resolution_median_h", "resolution_p90_h": "kpi.resolution_p90_h",
                    "csat": "kpi.csat", "rated": "dash.col_rated", "tickets_inconsistent": "dash.col_inconsistent"}
            ui.tables.show(shown, cols, key=key)
            export.buttons(c, me, "tickets", shown, cols, plain(title), key=f"{key}_export")

    else:  # marketing
        data = dashboards.marketing(c, me, fp, ff, compare)
        ui.cards(data["cards"], key="mkt")
        ui.pinned_reports(c, me, kind)   # saved reports pinned to this dashboard, run as the viewer
        st.subheader(t("dash.by_source"))
        src = data["sources"]
        if src.height == 0:
            st.info(t("dash.nothing"))
        else:
            source_names = names(options.options(c, "source", include_inactive=True))
            codes = [s if s is not None else "" for s in src["source"]]
            xs = [source_names.get(s, s or plain("dash.none")) for s in codes]
            fig = go.Figure()
            fig.add_bar(x=xs, y=src["leads"].to_list(), name=plain("dash.lb_new_leads"), customdata=codes)
            fig.add_bar(x=xs, y=src["customers"].to_list(), name=plain("dash.lb_new_customers"), customdata=codes)
            fig.add_scatter(x=xs, y=src["won_revenue"].to_list(), name=plain("dash.lb_won_revenue"), yaxis="y2",
                            mode="markers+lines", customdata=codes)
            fig.update_layout(yaxis2={"overlaying": "y", "side": "right"}, barmode="group")
            clicked("dash_sources", chart(fig, "dash_sources", plain("dash.by_source")),
                    lambda v: (set_focus(source=v, label=source_names.get(v, v)) if v else None,
                               ui.open_drill("new_leads", t("dash.leads_from", source=source_names.get(v, v)),
                                             narrow={"source": v or None}, period=fp)))
        campaign_section(data["campaigns"])

    ui.records_table(c, me, fp, ff)

    if quality.allowed(c, me):  # the admin: data quality and pool health over the whole store
        st.subheader(t("dq.title"))
        st.caption(t("dq.scope"))
    # on demand: over the whole store it costs ~0.6 s at scale L, too much for every rerun of the page
    if quality.allowed(c, me) and st.toggle(t("dq.check"), key="dash_dq"):
        dq = quality.data_quality(c, me)
        cols = st.columns(4)
        for col, label, key in ((cols[0], "dq.invalid_phones", "invalid_phones"), (cols[2], "dq.missing", "missing_any"),
                                (cols[3], "dq.without_holder", "without_holder")):
            col.metric(plain(label), f"{sum(dq[key].values()):,}",
                       help=plain("dq.split", customers=dq[key]["customer"], leads=dq[key]["lead"]))
        cols[1].metric(plain("dq.dup_groups"), f"{dq['duplicate_groups']:,}")
        objects = {"customer": plain("entity.customer"), "lead": plain("entity.lead")}
        rows = [{"check": plain(label), "object": objects[o], "groups": None, "records": dq[key][o]}
                for label, key in (("dq.invalid_phones", "invalid_phones"), ("dq.without_holder", "without_holder"))
                for o in objects if dq[key][o]]
        rows += [{"check": plain("dq.missing_field", field=(r["label_zh"] if lang() == "zh" else r["label_en"])
                                 if r["custom"] else plain(r["label"])),
                  "object": objects[r["object"]], "groups": None, "records": r["missing"]}
                 for r in dq["missing"].iter_rows(named=True) if r["missing"]]
        rows += [{"check": plain(f"dq.dup_{r['kind']}"), "object": "", "groups": r["groups"], "records": r["records"]}
                 for r in dq["duplicates"].iter_rows(named=True)]
        if rows:
            st.markdown(f"**{t('dq.details')}**")
            ui.tables.show(pl.DataFrame(rows, schema={"check": pl.String, "object": pl.String, "groups": pl.Int64,
                                                      "records": pl.Int64}),
                           {"check": "dq.col_check", "object": "dq.col_object", "groups": "dq.col_groups",
                            "records": "dq.col_records"}, key="dq_details")
        st.markdown(f"**{t('dq.pools')}**")
        if dq["pools"].height:
            ui.tables.show(dq["pools"], {"team": "dq.col_team", "customers": "dq.col_customers",
                                         "leads": "dq.col_leads", "oldest_days": "dq.col_oldest_days",
                                         "stale": "dq.col_stale"}, key="dq_pools")
        else:
            st.info(t("dq.no_pools"))
