"""Shared dashboard widgets: the period picker with comparison, the dashboard-wide filters (kept in the URL,
st.query_params, so a view is a shareable link), KPI cards with deltas, and the records table behind a
number (each row opens its record)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from core import clock, options, targets
from core.analytics import dashboards, drill, funnel, metrics
from core.errors import CRMError
from core.export import MAX_ROWS
from core.i18n import translate
from ui import export, tables
from ui.i18n import lang, t

PERIODS = ("this_month", "last_month", "this_quarter", "last_30", "last_90", "this_year", "custom")
COMPARES = metrics.COMPARES
DRILL = "_dash_drill"   # session key: the records shown under the charts


def plain(key: str, **params) -> str:
    """Plain text (chart labels, select options)."""
    return translate(lang(), key, **params)


def preset(kind: str, today: dt.date, start: dt.date | None = None, end: dt.date | None = None) -> metrics.Period:
    """The company days of a period kind, as of the company's today."""
    first = today.replace(day=1)
    if kind == "last_month":
        last = first - dt.timedelta(days=1)
        return metrics.Period(last.replace(day=1), last)
    if kind == "this_quarter":
        return metrics.Period(first.replace(month=(today.month - 1) // 3 * 3 + 1), today)
    if kind == "last_30":
        return metrics.Period(today - dt.timedelta(days=29), today)
    if kind == "last_90":
        return metrics.Period(today - dt.timedelta(days=89), today)
    if kind == "this_year":
        return metrics.Period(today.replace(month=1, day=1), today)
    if kind == "custom" and start and end:
        return metrics.period(start, end)
    return metrics.Period(first, today)


def _q(name: str) -> str | None:
    value = st.query_params.get(name)
    return None if value in (None, "") else str(value)


def _keep(name: str, value) -> None:
    """Write a choice into the URL (or drop it when it is the default)."""
    if value in (None, ""):
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != str(value):
        st.query_params[name] = str(value)


def _init(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def period_picker(con, me) -> tuple[metrics.Period, str]:
    """Period kind (custom: two dates) and comparison, read from and written to the URL."""
    today = clock.local_today(con, me.now)
    kind = _q("period") if _q("period") in PERIODS else "this_month"
    compare = _q("compare") if _q("compare") in COMPARES else "previous"
    _init("dash_period", kind)
    _init("dash_compare", compare)
    c1, c2, c3, c4 = st.columns([2, 2, 2, 2])
    # labels looked up in dicts built during the run: AppTest formats options outside the run too
    period_names = {k: plain(f"dash.p_{k}") for k in PERIODS}
    compare_names = {k: plain(f"dash.cmp_{k}") for k in COMPARES}
    kind = c1.selectbox(plain("dash.period"), PERIODS, key="dash_period", format_func=period_names.get)
    compare = c2.selectbox(plain("dash.compare"), COMPARES, key="dash_compare", format_func=compare_names.get)
    start = end = None
    if kind == "custom":
        try:
            qs = dt.date.fromisoformat(_q("from") or today.replace(day=1).isoformat())
            qe = dt.date.fromisoformat(_q("to") or today.isoformat())
        except ValueError:
            qs, qe = today.replace(day=1), today
        _init("dash_from", qs)
        _init("dash_to", qe)
        start = c3.date_input(plain("dash.from"), key="dash_from")
        end = c4.date_input(plain("dash.to"), key="dash_to")
        if end < start:
            end = start
    p = preset(kind, today, start, end)
    _keep("period", None if kind == "this_month" else kind)
    _keep("compare", None if compare == "previous" else compare)
    _keep("from", p.start.isoformat() if kind == "custom" else None)
    _keep("to", p.end.isoformat() if kind == "custom" else None)
    cmp = metrics.comparison(p, compare)
    st.caption(t("dash.period_shown", start=p.start.isoformat(), end=p.end.isoformat(),
                 cstart=cmp.start.isoformat(), cend=cmp.end.isoformat()))
    return p, compare


def filter_bar(con, me) -> metrics.Filters:
    """Team, rep, region, source, level, industry: the URL holds them (Filters.of reads them)."""
    try:
        given = metrics.Filters.of({k: st.query_params.get(k) for k in metrics.FILTER_KEYS})
    except CRMError:
        given = metrics.Filters()
    teams = targets.visible_teams(con, me)
    people = targets.visible_people(con, me)
    team_ids = [None] + [x["id"] for x in teams]
    people_ids = [None] + [x["id"] for x in people]
    by_team = {x["id"]: x for x in teams}
    by_person = {x["id"]: x["name"] for x in people}
    regions = [None] + dashboards.regions(con)
    sources = [None] + options.codes(con, "source")
    levels = [None] + options.codes(con, "level")
    for key, value, allowed in (("dash_team", given.team_id, team_ids), ("dash_rep", given.owner_id, people_ids),
                                ("dash_region", given.region, regions), ("dash_source", given.source, sources),
                                ("dash_level", given.level, levels)):
        _init(key, value if value in allowed else None)
    _init("dash_industry", given.industry or "")
    every = plain("dash.all")
    source_names = {s: _option(con, "source", s) for s in sources if s is not None}
    level_names = {s: _option(con, "level", s) for s in levels if s is not None}
    with st.expander(t("dash.filters"), expanded=bool(given.given())):
        c = st.columns(6)
        team = c[0].selectbox(plain("dash.team"), team_ids, key="dash_team", disabled=not teams,
                              format_func=lambda i: every if i is None else by_team[i]["name"])
        rep = c[1].selectbox(plain("dash.rep"), people_ids, key="dash_rep", disabled=len(people) < 2,
                             format_func=lambda i: every if i is None else by_person.get(i, str(i)))
        region = c[2].selectbox(plain("dash.region"), regions, key="dash_region",
                                format_func=lambda r: every if r is None else r)
        source = c[3].selectbox(plain("dash.source"), sources, key="dash_source",
                                format_func=lambda s: every if s is None else source_names.get(s, s))
        level = c[4].selectbox(plain("dash.level"), levels, key="dash_level",
                               format_func=lambda s: every if s is None else level_names.get(s, s))
        industry = c[5].text_input(plain("dash.industry"), key="dash_industry", max_chars=100)
    chosen = metrics.Filters(team_id=team, owner_id=rep, region=region, province=given.province, source=source,
                             level=level, industry=industry.strip() or None)
    for key in metrics.FILTER_KEYS:
        _keep(key, getattr(chosen, key))
    return chosen


def _option(con, name: str, code: str) -> str:
    for row in options.options(con, name, include_inactive=True):
        if row["code"] == code:
            return row.get(f"name_{lang()}") or row.get("name_en") or code
    return code


def fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit in ("count", "money", "points"):
        return f"{value:,.0f}"
    if unit == "score":
        return f"{value:.2f}"
    return f"{value:,.1f}"


def fmt_delta(f: metrics.Figure) -> str | None:
    if f.delta is None:
        return None
    if f.delta_kind == "pct":
        return f"{f.delta:+.1f} %"
    if f.unit == "ratio":
        return plain("dash.pp", value=f"{f.delta * 100:+.1f}")
    return f"{f.delta:+,.1f}" if f.unit != "score" else f"{f.delta:+.2f}"


def cards(figures: list[metrics.Figure], per_row: int = 4, key: str = "cards") -> None:
    """KPI cards: value, delta against the comparison period (green when good: lower_is_better turns the
    colours round), the previous value in the help; a drillable card has a button that opens its records."""
    for i in range(0, len(figures), per_row):
        cols = st.columns(per_row)
        for col, f in zip(cols, figures[i:i + per_row]):
            with col:
                help_ = None if f.previous is None else plain("dash.previous", value=fmt(f.previous, f.unit))
                st.metric(t(f.label_key), fmt(f.value, f.unit), fmt_delta(f), help=help_, border=True,
                          delta_color="inverse" if f.lower_is_better else "normal")
                if f.key in drill.DRILL_OF and f.value is not None:
                    if st.button(t("dash.records"), key=f"{key}_{f.key}", type="tertiary",
                                 icon=":material/table_rows:"):
                        open_drill(f.key, t(f.label_key))


def open_drill(key: str, title: str, narrow: dict | None = None, period: metrics.Period | None = None) -> None:
    st.session_state[DRILL] = {"key": key, "title": title, "narrow": narrow or {}, "period": period, "page": 0}


def open_funnel(which: str, stage: str, title: str, pipeline_id=None, period: metrics.Period | None = None) -> None:
    """Open the records behind a funnel step: which is "deal" (a stage of pipeline_id) or "lead"."""
    st.session_state[DRILL] = {"key": f"funnel_{which}", "title": title, "narrow": {}, "period": period, "page": 0,
                               "funnel": {"which": which, "stage": stage, "pipeline_id": pipeline_id}}


def drill_state() -> dict | None:
    return st.session_state.get(DRILL)


COLUMNS = {"name": "dash.col_name", "customer_name": "dash.col_customer", "status": "dash.col_status",
           "source": "dash.col_source", "priority": "dash.col_priority", "reason": "dash.col_reason",
           "owner_name": "dash.col_owner", "dated": "dash.col_date", "amount": "dash.col_amount"}
# the funnel's drill-down frames (core.analytics.funnel.stage_deals / stage_leads)
FUNNEL_COLUMNS = {"deal": {"name": "dash.col_name", "customer_name": "dash.col_customer",
                           "stage_name": "dash.col_stage_now", "owner_name": "dash.col_owner",
                           "amount": "dash.col_amount", "entered_at": "dash.col_entered"},
                  "lead": {"name": "dash.col_name", "company": "dash.col_company", "source": "dash.col_source",
                           "status": "dash.col_status", "owner_name": "dash.col_owner",
                           "created_at": "dash.col_created", "converted_at": "dash.col_converted"}}
FUNNEL_PAGES = {"deal": "views/deals.py", "lead": "views/leads.py"}


MAX_EXPORT = MAX_ROWS
EXPORT_PAGE = funnel.MAX_PAGE_SIZE


def _funnel_page(con, me, p: metrics.Period, filters: metrics.Filters, spec: dict, page: int, size: int,
                 language: str):
    if spec["which"] == "deal":
        df, total = funnel.stage_deals(con, me, spec["pipeline_id"], spec["stage"], p, filters, page=page + 1,
                                       page_size=size)
        df = df.with_columns(df[f"stage_name_{language}"].fill_null(df["stage"]).alias("stage_name"))
    else:
        df, total = funnel.stage_leads(con, me, spec["stage"], p, filters, page=page + 1, page_size=size)
    return df, total


def funnel_records(con, me, p: metrics.Period, filters: metrics.Filters, spec: dict, page: int):
    """One page of the records behind a funnel step, with the dashboard's period and filters: (frame, total)."""
    return _funnel_page(con, me, p, filters, spec, page, drill.PAGE_SIZE, lang())


def records_table(con, me, p: metrics.Period, filters: metrics.Filters) -> None:
    """The records behind the number last clicked, with the dashboard's filters still applied; a row
    opens its record."""
    state = drill_state()
    if not state:
        return
    shown_p = state.get("period") or p
    st.subheader(t("dash.records_of", what=state["title"]))
    page = st.session_state.get("dash_page", 0)
    spec = state.get("funnel")
    if spec:
        frame, total = funnel_records(con, me, shown_p, filters, spec, page)
    else:
        result = drill.records(con, me, state["key"], shown_p, filters, state.get("narrow"), page=page)
        frame, total = result.frame, result.total
    pages = max((total - 1) // drill.PAGE_SIZE + 1, 1)
    c1, c2, c3 = st.columns([3, 1, 1])
    c1.caption(t("dash.records_total", n=total, start=shown_p.start.isoformat(), end=shown_p.end.isoformat()))
    if c2.button(t("dash.close"), key="dash_close"):
        st.session_state.pop(DRILL, None)
        st.session_state["dash_page"] = 0
        st.rerun()
    if pages > 1:
        c3.number_input(plain("dash.page", n=pages), min_value=0, max_value=pages - 1, step=1, key="dash_page")
    if frame.height == 0:
        st.info(t("dash.no_records"))
        return
    if spec:
        cols = {k: v for k, v in FUNNEL_COLUMNS[spec["which"]].items() if k in frame.columns}
        picked = tables.select_one(frame, cols, key=f"dash_rows_{state['key']}_{spec['stage']}")
        if picked is not None:
            st.switch_page(FUNNEL_PAGES[spec["which"]], query_params={"id": str(picked)})
        language = lang()

        def every_step_row(cur):
            """Every record behind the step, page by page (the funnel's pages hold at most 500 rows)."""
            parts, done = [], 0
            while done < min(total, MAX_EXPORT):
                df, _n = _funnel_page(cur, me, shown_p, filters, spec, done // EXPORT_PAGE, EXPORT_PAGE, language)
                if df.height == 0:
                    break
                parts.append(df)
                done += df.height
            return pl.concat(parts, how="diagonal_relaxed") if parts else frame.clear()
        export.buttons(con, me, "deals" if spec["which"] == "deal" else "leads", every_step_row, cols,
                       state["title"], total=total, key=f"dash_export_{state['key']}")
        return
    df = result.frame
    if result.open_id != "id":
        df = df.drop("id").rename({result.open_id: "id"}).with_columns(df[result.open_id].alias("id"))
    cols = {k: v for k, v in COLUMNS.items() if k in df.columns and df[k].null_count() < df.height}
    picked = tables.select_one(df, cols, key=f"dash_rows_{state['key']}")
    if picked is not None:
        st.switch_page(result.open_page, query_params={"id": str(picked)})
    key, narrow = state["key"], state.get("narrow")
    limit = min(max(total, 1), MAX_EXPORT)
    export.buttons(con, me, drill.set_of(key).module,
                   lambda cur: drill.export_rows(cur, me, key, shown_p, filters, narrow, limit).frame,
                   cols, state["title"], total=total, key=f"dash_export_{key}")


def pinned_reports(con, me, kind: str) -> None:
    """The saved reports pinned to this dashboard that the viewer may open, each run with the viewer's own
    scope and field rights (core.analytics.reports), its chart (or table) and a link to the builder."""
    from core.analytics import reports
    from ui import errors, report_chart
    from ui.text import md

    items = reports.pinned(con, me, kind)
    if not items:
        return
    st.subheader(t("dash.pinned"))
    cols = st.columns(2)
    for i, rep in enumerate(items):
        with cols[i % 2], st.container(border=True):
            st.markdown(f"**{md(rep['name'])}**")
            with errors.handled():
                definition = rep["definition"]
                df = reports.run(con, me, definition)
                labels = reports.labels(con, me, definition, lang())
                if (definition.get("chart") or "table") == "table" and df.height:
                    shown = report_chart.readable(definition, df, con)
                    st.dataframe(tables.display_frame(shown)[0].rename({c: labels.get(c, c) for c in shown.columns}),
                                 hide_index=True, width="stretch", height=min(35 * (df.height + 1) + 3, 320),
                                 key=f"dash_pin_table_{rep['id']}")
                else:
                    report_chart.draw(definition, df, labels, key=f"dash_pin_{rep['id']}", height=300,
                                      con=con)
            st.page_link("views/reports.py", label=t("dash.open_report"), icon=":material/open_in_new:",
                          query_params={"report": str(rep["id"])})
