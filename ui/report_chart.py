"""A report's result (core.analytics.reports.run) drawn as its chart: bar, line, area, KPI number, funnel,
heat map (a table draws no chart). Used by the report builder and by the reports pinned to a dashboard."""
from __future__ import annotations

import datetime as dt
import re

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from ui.dashboard import plain
from ui.i18n import lang

PALETTE = ("#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#c62828", "#8d6e63", "#5c6bc0")
LAYOUT = {"margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "legend": {"orientation": "h", "y": -0.2}}


def value_columns(definition: dict, df: pl.DataFrame) -> list[str]:
    """The measure columns of a result (m0, m1, ...) and the ratio, in the order of the definition."""
    cols = [f"m{i}" for i in range(len(definition.get("measures") or [])) if f"m{i}" in df.columns]
    if definition.get("ratio") and "ratio" in df.columns:
        cols.append("ratio")
    return cols


def _group_columns(df: pl.DataFrame) -> list[str]:
    """The dimension columns then the series column: every column before the measures (core.analytics.reports
    names them by field, a second use of a field field_bucket)."""
    return [x for x in df.columns if not re.fullmatch(r"m\d+|ratio", x)]


def dim_columns(definition: dict, df: pl.DataFrame) -> list[str]:
    return _group_columns(df)[:len(definition.get("dims") or [])]


def series_column(definition: dict, df: pl.DataFrame) -> str | None:
    if not definition.get("series"):
        return None
    rest = _group_columns(df)[len(definition.get("dims") or []):]
    return rest[0] if rest else None


def text_of(value, names: dict | None = None) -> str:
    if value is None:
        return plain("rb.empty_value")
    if names and value in names:
        return names[value]
    if isinstance(value, bool):
        return plain("filters.yes") if value else plain("filters.no")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def bucket_names(bucket: str | None) -> dict:
    """Day-of-week and month-of-year buckets (1..7 from Monday, 1..12) as words of the user's language."""
    if bucket == "dow":
        return {i: plain(f"rb.dow_{i}") for i in range(1, 8)}
    if bucket == "moy":
        return {i: plain(f"rb.moy_{i}") for i in range(1, 13)}
    return {}


# choice values named by the catalogue (key prefix + code) or by an admin-editable list (core.options)
_KEYED = {("leads", "status"): "lead.status_", ("orders", "status"): "order.status_",
          ("activities", "kind"): "activity.kind_", ("feedback", "kind"): "feedback.kind_",
          ("feedback", "status"): "feedback.status_", ("tickets", "status"): "ticket.status_",
          ("tickets", "priority"): "ticket.priority_", ("customers", "kind"): "customer.kind_",
          ("customers", "gender"): "customer.gender_"}
_LISTS = {"source": "source", "customer_source": "source", "lost_reason": "lost_reason", "category": "ticket_category"}
_FOBJ = {"leads": "lead", "customers": "customer", "contacts": "contact", "deals": "deal", "tickets": "ticket"}


def value_names(con, definition: dict, field: str, codes: list) -> dict:
    """The names (in the user's language) of a choice field's codes shown in a report; {} when it has none."""
    from core import customers, fields, options, pipelines
    from ui.i18n import label

    obj = definition.get("object")
    codes = [x for x in codes if isinstance(x, str)]
    if not codes:
        return {}
    prefix = _KEYED.get((obj, field))
    if prefix:
        return {x: plain(prefix + x) for x in codes if plain(prefix + x) != prefix + x}
    rows = []
    if obj == "deals" and field == "stage":
        rows = pipelines.stages(con, include_inactive=True)
    elif (obj == "customers" and field == "stage") or field == "customer_stage":
        rows = customers.stages(con)
    elif (obj == "customers" and field == "level") or field == "customer_level":
        rows = customers.levels(con)
    elif field in _LISTS:
        try:
            rows = options.options(con, _LISTS[field], include_inactive=True)
        except Exception:   # noqa: BLE001 - a list this store does not have: the codes as they are
            rows = []
    if rows:
        return {r["code"]: label(r) for r in rows if r.get("code") in codes}
    f = fields.definitions(con, _FOBJ[obj]).get(field) if obj in _FOBJ else None
    if f is not None and f.option_labels:
        return {c: (zh if lang() == "zh" and zh else en) for c, en, zh in f.option_labels}
    return {}


def readable(definition: dict, df: pl.DataFrame, con=None) -> pl.DataFrame:
    """Dimension values as text (dates as days, day-of-week / month-of-year as words, choices by their
    names when `con` is given, empty as a word), so chart axes and the table read the same."""
    buckets = [d.get("bucket") for d in definition.get("dims") or []] + \
        [(definition.get("series") or {}).get("bucket")]
    fields_ = [d.get("field") for d in definition.get("dims") or []] + \
        [(definition.get("series") or {}).get("field")]
    cols = dim_columns(definition, df)
    s = series_column(definition, df)
    out = []
    for col, bucket, field in zip(cols + ([s] if s else []), buckets, fields_):
        m = bucket_names(bucket)
        if con is not None and not m and df[col].dtype == pl.String:
            m = value_names(con, definition, field, df[col].unique().to_list())
        out.append(pl.Series(col, [text_of(v, m) for v in df[col].to_list()], dtype=pl.String))
    return df.with_columns(out) if out else df


def figure(definition: dict, df: pl.DataFrame, labels: dict[str, str], height: int = 380) -> go.Figure | None:
    """The Plotly figure of a result (already `readable`); None for a table or a KPI number."""
    chart = definition.get("chart") or "bar"
    if chart in ("table", "kpi") or df.height == 0:
        return None
    dims = dim_columns(definition, df)
    values = value_columns(definition, df)
    if not values:
        return None
    series = series_column(definition, df)
    x = dims[0] if dims else None
    xs = df[x].to_list() if x else [plain("rb.all_rows")] * df.height
    main = "ratio" if "ratio" in values else values[0]
    fig = go.Figure()
    if chart == "funnel":
        fig.add_trace(go.Funnel(y=xs, x=df[main].to_list(), customdata=list(range(df.height)),
                                textinfo="value+percent initial", marker={"color": PALETTE[0]}))
    elif chart == "heatmap":
        other = dims[1] if len(dims) > 1 else series
        if other is None:
            fig.add_trace(go.Heatmap(x=xs, y=[labels.get(main, main)] * df.height, z=df[main].to_list(),
                                     colorscale="Blues", texttemplate="%{z:,.4~g}"))
        else:
            rows = list(dict.fromkeys(df[other].to_list()))
            cols = list(dict.fromkeys(xs))
            cell = {(r[other], r[x]): r[main] for r in df.iter_rows(named=True)}
            z = [[cell.get((rv, cv)) for cv in cols] for rv in rows]
            fig.add_trace(go.Heatmap(x=cols, y=rows, z=z, colorscale="Blues", texttemplate="%{z:,.4~g}",
                                     hoverongaps=False))
            fig.update_layout(yaxis={"title": labels.get(other, other), "type": "category"})
        fig.update_layout(xaxis={"title": labels.get(x, x) if x else None, "type": "category"})
    else:
        split = series or (dims[1] if len(dims) > 1 else None)

        def trace(xv, yv, name, colour, custom, axis="y", group=None):
            kw = {"x": xv, "y": yv, "name": name, "customdata": custom, "yaxis": axis}
            if chart == "bar":
                return go.Bar(marker_color=colour, offsetgroup=group, **kw)
            return go.Scatter(mode="lines+markers", line={"color": colour},
                              fill="tonexty" if chart == "area" and axis == "y" else None,
                              stackgroup="one" if chart == "area" and axis == "y" else None, **kw)
        if split:
            idx = df.with_row_index("_row")
            for i, key in enumerate(dict.fromkeys(df[split].to_list())):
                part = idx.filter(pl.col(split) == key)
                fig.add_trace(trace(part[x].to_list() if x else xs[:part.height], part[main].to_list(), key,
                                    PALETTE[i % len(PALETTE)], part["_row"].to_list()))
            if chart == "bar":
                fig.update_layout(barmode="stack")
        else:
            # the first measure on the left axis; the ratio (or else the second measure, often of another
            # scale: a count beside a sum) on the right one
            right_col = "ratio" if "ratio" in values else (values[1] if len(values) > 1 else None)
            for i, col in enumerate(values):
                axis = "y2" if col == right_col else "y"
                fig.add_trace(trace(xs, df[col].to_list(), labels.get(col, col), PALETTE[i % len(PALETTE)],
                                    list(range(df.height)), axis, str(i)))
            if right_col:
                fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "showgrid": False,
                                          "tickformat": ".0%" if right_col == "ratio" and
                                          df["ratio"].drop_nulls().is_between(0, 1).all() else None})
            if chart == "bar":
                fig.update_layout(barmode="group")
        fig.update_layout(xaxis={"title": labels.get(x, x) if x else None, "type": "category"})
    fig.update_layout(height=height, clickmode="event+select", **LAYOUT)
    return fig


def kpi(definition: dict, df: pl.DataFrame, labels: dict[str, str]) -> None:
    """A KPI number per measure (and the ratio): the single row's values, or the total over the rows for
    counts and sums and the ratio of the totals."""
    values = value_columns(definition, df)
    measures = definition.get("measures") or []
    cols = st.columns(max(len(values), 1))
    for box, col in zip(cols, values):
        if df.height == 1:
            v = df[col][0]
        elif col == "ratio":
            r = definition["ratio"]
            num, den = df[f"m{r['num']}"].sum(), df[f"m{r['den']}"].sum()
            additive = all(measures[i].get("agg") in ("count", "sum", "count_empty") for i in (r["num"], r["den"]))
            v = num / den if additive and den else None
        else:
            i = int(col[1:])
            v = df[col].sum() if measures[i].get("agg") in ("count", "sum", "count_empty") else None
        if v is None:
            shown = "—"
        elif col == "ratio":
            shown = f"{v:.2%}" if abs(v) <= 10 else f"{v:,.2f}"
        elif isinstance(v, float) and not float(v).is_integer():
            shown = f"{v:,.2f}"
        else:
            shown = f"{v:,.0f}"
        box.metric(labels.get(col, col), shown, border=True)


def draw(definition: dict, df: pl.DataFrame, labels: dict[str, str], key: str, clickable: bool = False,
         height: int = 380, con=None):
    """Draw the report's chart; returns the row index of a clicked point (bar, funnel, line) or None."""
    chart = definition.get("chart") or "bar"
    if df.height == 0:
        st.info(plain("rb.no_rows"))
        return None
    if chart == "kpi":
        kpi(definition, df, labels)
        return None
    fig = figure(definition, readable(definition, df, con), labels, height)
    if fig is None:
        return None
    if not clickable:
        st.plotly_chart(fig, key=key, config={"displaylogo": False})
        return None
    event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points", config={"displaylogo": False})
    try:
        points = list(event.selection.points) if event and event.selection else []
    except AttributeError:
        points = []
    for pt in points:
        data = pt.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, int):
            return data
    return None
