"""RFM analysis (RFM 价值分析, the customers by value): recency, frequency and monetary value of each customer's orders over a
window before an as-of day, scored by quantiles or the admin's bands (core.analytics.rfm); the segment table
and chart, the movement between two as-of days as a heat map, the customers of a segment (paged, a row opens
the customer, export when allowed) and "save as segment" (core.segments)."""
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import access, clock, settings
from core.analytics import rfm
from ui import errors, export, forms, tables
from ui.dashboard import plain
from ui.i18n import t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.rfm"))
forms.show_flash()
state = st.session_state
PAGE_SIZE = 50
LAYOUT = {"margin": {"l": 10, "r": 10, "t": 30, "b": 10}}
COLOURS = {"champions": "#1b5e20", "loyal": "#2e7d32", "potential_loyalists": "#66bb6a", "new": "#29b6f6",
           "at_risk": "#ef6c00", "cant_lose": "#c62828", "hibernating": "#8d6e63", "lost": "#9e9e9e",
           "none": "#e0e0e0"}


def seg_names() -> dict:
    names = {s: plain(f"rfm.segment.{s}") for s in rfm.SEGMENTS}
    names["none"] = plain("rfm.segment.none")
    return names


def open_segment(code: str) -> None:
    if code in rfm.SEGMENTS:
        state["rfm_segment"] = code
        state["rfm_page"] = 1


def picked_point(points) -> str | None:
    for pt in points or []:
        data = pt.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is not None:
            return str(data)
    return None


with errors.handled():
    today = clock.local_today(c, me.now)
    names = seg_names()
    if "rfm_asof" not in state:
        state["rfm_asof"] = today
    if "rfm_months" not in state:
        state["rfm_months"] = int(settings.get(c, "analytics.rfm_window_months"))
    if "rfm_method" not in state:
        state["rfm_method"] = settings.get(c, "analytics.rfm_method")
    method_names = {m: plain(f"rfm.method.{m}") for m in rfm.METHODS}
    a, b, d = st.columns(3)
    asof = a.date_input(plain("rfm.asof"), key="rfm_asof", max_value=today)
    months = b.number_input(plain("rfm.months"), min_value=1, max_value=120, step=1, key="rfm_months")
    method = d.selectbox(plain("rfm.method"), rfm.METHODS, key="rfm_method", format_func=method_names.get)
    start = rfm.months_back(asof, int(months))
    st.caption(t("rfm.window", start=start.isoformat(), end=asof.isoformat(), method=method_names[method]))

    summary = rfm.summary(c, me, asof=asof, months=int(months), method=method)
    total = int(summary["customers"].sum() or 0)
    if not total:
        st.info(t("rfm.nothing"))
    else:
        shown = summary.with_columns(
            pl.col("segment").replace_strict(names, default=pl.col("segment")).alias("segment_name"),
            (pl.col("share") * 100).round(1).alias("share_pct"),
            pl.col("revenue").round(0), pl.col("avg_order_value").round(1),
            pl.col("mean_recency").round(1), pl.col("mean_frequency").round(2), pl.col("mean_monetary").round(1))
        cols = {"segment_name": "rfm.col.segment", "customers": "rfm.col.customers", "share_pct": "rfm.col_share",
                "revenue": "rfm.col.revenue", "avg_order_value": "rfm.col.avg_order_value",
                "mean_recency": "rfm.col.mean_recency", "mean_frequency": "rfm.col.mean_frequency",
                "mean_monetary": "rfm.col.mean_monetary"}
        st.subheader(t("rfm.segments"))
        tables.show(shown, cols, key="rfm_table")
        export.buttons(c, me, "analytics", shown, cols, plain("page.rfm"), key="rfm_export")
        # the chart under the table (the table needs the page's width for its eight columns)
        st.subheader(t("rfm.chart"))
        st.caption(t("rfm.chart_hint"))
        ordered = shown.sort("customers", descending=True)
        fig = go.Figure(go.Bar(
            y=ordered["segment_name"].to_list(), x=ordered["customers"].to_list(), orientation="h",
            customdata=ordered["segment"].to_list(),
            marker_color=[COLOURS.get(s, "#1565c0") for s in ordered["segment"]],
            text=[f"{p:.1f} %" for p in ordered["share_pct"]], textposition="auto",
            hovertemplate="%{y}: %{x:,}<br>%{text}<extra></extra>"))
        fig.update_layout(height=340, yaxis={"autorange": "reversed"}, clickmode="event+select", **LAYOUT)
        event = st.plotly_chart(fig, key="rfm_chart", on_select="rerun", selection_mode="points",
                                config={"displaylogo": False})
        try:
            code = picked_point(event.selection.points) if event and event.selection else None
        except AttributeError:
            code = None
        if code != state.get("_rfm_seen_click"):
            state["_rfm_seen_click"] = code
            if code:
                open_segment(code)

        # ---------------------------------------------------------------- movement between two as-of days
        st.subheader(t("rfm.movement"))
        if "rfm_from" not in state:
            state["rfm_from"] = rfm.months_back(asof, 3)   # last quarter's segments
        # on demand: two more scorings of every customer (about a second each at scale L)
        show_flow = st.toggle(plain("rfm.show_movement"), key="rfm_show_flow")
        if show_flow:
            m1, m2 = st.columns(2)
            asof_from = m1.date_input(plain("rfm.from"), key="rfm_from", max_value=today)
            m2.date_input(plain("rfm.to"), value=asof, disabled=True, key=f"rfm_to_{asof.isoformat()}")
            flow = rfm.movement(c, me, asof_from, asof, months=int(months), method=method)
        else:
            flow = None
        if flow is None:
            st.caption(t("rfm.movement_help"))
        elif flow.height == 0 or not flow["customers"].sum():
            st.info(t("rfm.nothing"))
        else:
            order = list(rfm.SEGMENTS) + ["none"]
            counts = {(r["from_segment"], r["to_segment"]): r["customers"] for r in flow.iter_rows(named=True)}
            rows = [s for s in order if any(counts.get((s, x)) for x in order)]
            cols_ = [s for s in order if any(counts.get((x, s)) for x in order)]
            z = [[counts.get((f, to), 0) for to in cols_] for f in rows]
            fig = go.Figure(go.Heatmap(
                z=z, x=[names[s] for s in cols_], y=[names[s] for s in rows], colorscale="Blues",
                text=[[f"{v:,}" if v else "" for v in r] for r in z], texttemplate="%{text}",
                hovertemplate=plain("rfm.flow_hover") + "<extra></extra>"))
            fig.update_layout(height=120 + 40 * len(rows),
                              xaxis={"title": plain("rfm.to_axis", day=asof.isoformat()), "side": "top"},
                              yaxis={"title": plain("rfm.from_axis", day=asof_from.isoformat()), "autorange": "reversed"},
                              **LAYOUT)
            st.plotly_chart(fig, key="rfm_flow", config={"displaylogo": False})
            st.caption(t("rfm.movement_help"))

        # ---------------------------------------------------------------- the customers of a segment
        st.subheader(t("rfm.customers"))
        present = [s for s in rfm.SEGMENTS if s in set(shown.filter(pl.col("customers") > 0)["segment"].to_list())]
        if state.get("rfm_segment") not in present:
            state.pop("rfm_segment", None)   # none picked yet: "—" (a bar's click or this list picks one)
        pick_names = dict(names)
        pick_names[None] = plain("rfm.pick_segment")
        seg = st.selectbox(plain("rfm.col.segment"), [None, *present], key="rfm_segment", format_func=pick_names.get)
        if seg:
            def fetch(i: int):
                return rfm.scores(c, me, asof=asof, months=int(months), method=method, segment=seg, page=i + 1,
                                  page_size=PAGE_SIZE)
            frame, n, page, pages = tables.current_page("rfm_page", PAGE_SIZE, fetch)
            x, y = st.columns([3, 1])
            x.caption(t("rfm.customers_total", n=n, segment=names.get(seg, seg)))
            if pages > 1:
                y.number_input(plain("rfm.page", n=pages), min_value=1, max_value=pages, step=1, key="rfm_page")
            ccols = {"name": "rfm.col_customer", "owner_name": "rfm.col_owner", "recency_days": "rfm.metric.recency",
                     "frequency": "rfm.metric.frequency", "monetary": "rfm.metric.monetary", "r": "rfm.col.r",
                     "f": "rfm.col.f", "m": "rfm.col.m"}
            idc = "customer_id" if "customer_id" in frame.columns else "id"
            if "name" not in frame.columns and "customer_name" in frame.columns:
                frame = frame.rename({"customer_name": "name"})
            frame = frame.with_columns(pl.col("monetary").round(1)) if "monetary" in frame.columns else frame
            chosen = tables.select_one(frame, ccols, key=f"rfm_customers_{seg}", id_column=idc)
            if chosen is not None:
                st.switch_page("views/customers.py", query_params={"id": str(chosen)})

            def every_customer(cur, seg=seg, asof=asof, months=int(months), method=method):
                from core.export import MAX_ROWS
                parts, i = [], 1
                while (i - 1) * 500 < MAX_ROWS:
                    df, _n = rfm.scores(cur, me, asof=asof, months=months, method=method, segment=seg, page=i,
                                        page_size=500)
                    if df.height == 0:
                        break
                    parts.append(df)
                    if df.height < 500:
                        break
                    i += 1
                out = pl.concat(parts, how="diagonal_relaxed") if parts else frame.clear()
                return out.rename({"customer_name": "name"}) if "customer_name" in out.columns and \
                    "name" not in out.columns else out
            export.buttons(c, me, "customers", every_customer, ccols,
                           f"{plain('page.rfm')} {names.get(seg, seg)}", total=n, key="rfm_customers_export")

            # ------------------------------------------------------------ save the segment for campaigns
            if access.can(c, me, "segments", "create"):
                from core import segments
                with st.form("rfm_save", clear_on_submit=False):
                    st.markdown(f"**{t('rfm.save_title')}**")
                    kinds = {"dynamic": plain("rfm.kind_dynamic"), "snapshot": plain("rfm.kind_snapshot")}
                    shares = {s: plain(f"rfm.share_{s}") for s in ("private", "team", "all")}
                    f1, f2, f3 = st.columns([3, 2, 2])
                    seg_name = f1.text_input(plain("rfm.save_name"), value=f"{names.get(seg, seg)} {asof.isoformat()}",
                                             max_chars=100)
                    kind = f2.selectbox(plain("rfm.save_kind"), list(kinds), format_func=kinds.get)
                    share = f3.selectbox(plain("rfm.save_share"), list(shares), format_func=shares.get)
                    if st.form_submit_button(t("rfm.save")):
                        rule = {"op": "and", "items": [{"field": "rfm_segment", "op": "in", "value": [seg],
                                                        "asof": asof.isoformat(), "months": int(months),
                                                        "method": method}]}
                        values = {"name": seg_name, "rule": rule, "kind": kind, "share": share}
                        if forms.first_submit("rfm_save", values):
                            with errors.handled():
                                segments.save(c, me, seg_name, rule, kind=kind, share=share, source="rfm")
                                forms.remember_submit("rfm_save", values)
                                forms.flash(t("rfm.saved", name=seg_name))
                                st.rerun()
