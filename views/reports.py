"""Report builder (报表): pick an object, dimensions (date buckets incl. day of week and month of year),
measures, a ratio of two measures, filters, a second series, cumulative mode and a chart; see the chart and
the table; a table row (or a bar) opens the records behind it. Save it (private, the team, everyone), open
or delete saved reports, pin one to a dashboard, export the table. Every figure is computed by
core.analytics.reports within the viewer's scope, from fixed lists of fields and bound parameters."""
import datetime as dt
import hashlib
import json

import polars as pl
import streamlit as st

from core import access, filters as core_filters
from core.analytics import dashboards, reports
from ui import errors, export, forms, report_chart, tables
from ui.dashboard import plain
from ui.i18n import lang, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.reports"))
forms.show_flash()
state = st.session_state
AGGS, BUCKETS, CHARTS = reports.AGGS, reports.BUCKETS, reports.CHARTS
SHARES, DASHBOARDS = reports.SHARES, reports.DASHBOARDS
DATES = ("date", "datetime")
PAGES = {"leads": "views/leads.py", "customers": "views/customers.py", "contacts": "views/contacts.py",
         "deals": "views/deals.py", "orders": "views/orders.py", "tickets": "views/tickets.py",
         "feedback": "views/feedback.py"}
DRILL_SIZE = 50
SEGMENT_MAX = 20_000   # a drill-down kept as a segment: at most this many customers (a rule segment beyond)
KEYS = ("rb_obj", "rb_d0", "rb_b0", "rb_d1", "rb_b1", "rb_a0", "rb_f0", "rb_w0", "rb_a1", "rb_f1", "rb_w1",
        "rb_ratio", "rb_series", "rb_cum", "rb_chart", "rb_pfield", "rb_pfrom", "rb_pto")


def field_text(f: dict) -> str:
    if f.get("label_key"):
        return plain(f["label_key"])
    label = f.get("label")
    if isinstance(label, dict):
        return label.get(lang()) or label.get("en") or f["name"]
    return label or f["name"]


def load(definition: dict, report_id=None, name: str = "", share: str = "private", mine: bool = True,
         owner: str = "") -> None:
    """Put a definition into the builder's widgets (before they are drawn)."""
    def put(key: str, value) -> None:   # a selectbox given None in the state shows no choice at all
        if value is not None:
            state[key] = value

    for k in KEYS:
        state.pop(k, None)

    put("rb_obj", definition.get("object"))
    for i, d in enumerate((definition.get("dims") or [])[:2]):
        put(f"rb_d{i}", d.get("field"))
        put(f"rb_b{i}", d.get("bucket"))
    for i, m in enumerate((definition.get("measures") or [])[:2]):
        put(f"rb_a{i}", m.get("agg"))
        put(f"rb_f{i}", m.get("field"))
        where = [x for x in m.get("filters") or [] if x.get("op") == "is" and x.get("value") is True]
        put(f"rb_w{i}", where[0]["field"] if where else None)
    state["rb_ratio"] = bool(definition.get("ratio"))
    put("rb_series", (definition.get("series") or {}).get("field"))
    state["rb_cum"] = bool(definition.get("cumulative"))
    state["rb_chart"] = definition.get("chart") or "bar"
    period = definition.get("period") or {}
    put("rb_pfield", period.get("field"))
    for key, value in (("rb_pfrom", period.get("start")), ("rb_pto", period.get("end"))):
        if value:
            state[key] = dt.date.fromisoformat(str(value)[:10])
    state["rb_filters"] = list(definition.get("filters") or [])
    state["rb_report"] = {"id": report_id, "name": name, "share": share, "mine": mine, "owner": owner}
    state["rb_cell"] = None


def fit(key: str, options: list, default=None) -> None:
    """Keep a widget's value among its options (the object changed under it)."""
    if state.get(key) not in options:
        value = default if default in options else options[0]
        if value is None:
            state.pop(key, None)   # None set in the state shows an empty selectbox; dropped, it shows "—"
        else:
            state[key] = value


def definition_now(obj: str) -> dict:
    dims = [{"field": state[f"rb_d{i}"], "bucket": state.get(f"rb_b{i}")} for i in range(2) if state.get(f"rb_d{i}")]
    measures = []
    for i in range(2):
        if state.get(f"rb_a{i}"):
            where = state.get(f"rb_w{i}")
            measures.append({"agg": state[f"rb_a{i}"], "field": state.get(f"rb_f{i}"),
                             "filters": [{"field": where, "op": "is", "value": True}] if where else []})
    period = None
    if state.get("rb_pfield"):
        period = {"field": state["rb_pfield"], "start": state["rb_pfrom"].isoformat(),
                  "end": state["rb_pto"].isoformat()}
    return {"object": obj, "dims": dims, "measures": measures,
            "ratio": {"num": 0, "den": 1} if state.get("rb_ratio") and len(measures) == 2 else None,
            "filters": list(state.get("rb_filters") or []),
            "series": {"field": state["rb_series"]} if state.get("rb_series") else None,
            "cumulative": bool(state.get("rb_cum")), "chart": state.get("rb_chart") or "bar", "period": period}


def digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:10]


def saved_list() -> None:
    """The reports the user may open: own, shared with the team, shared with everyone."""
    rows = reports.reports(c, me)
    with st.expander(t("rb.saved", n=rows.height), expanded=bool(rows.height) and not state.get("rb_report")):
        if rows.height == 0:
            st.info(t("rb.none_saved"))
            return
        share_names = {s: plain(f"rb.share_{s}") for s in SHARES}
        shown = rows.with_columns(pl.col("share").replace_strict(share_names, default=pl.col("share"))) \
            if "share" in rows.columns else rows
        cols = {"name": "rb.col_name", "owner_name": "rb.col_owner", "share": "rb.col_share",
                "updated_at": "rb.col_updated"}
        picked = tables.select_one(shown, cols, key="rb_saved")
        st.caption(t("rb.pick_hint"))
        if picked is not None and picked != state.get("_rb_picked"):
            state["_rb_picked"] = picked
            open_report(picked)
            st.rerun()


def open_report(report_id) -> None:
    rep = reports.get(c, me, int(report_id))
    load(rep["definition"] if isinstance(rep["definition"], dict) else json.loads(rep["definition"]), rep["id"],
         rep.get("name", ""), rep.get("share") or "private", bool(rep.get("mine")) or me.is_admin,
         rep.get("owner_name") or "")


def filter_rows(fields: list[dict]) -> None:
    """Conditions over the object's fields (core.filters operators), kept in state["rb_filters"]."""
    usable = {f["name"]: f for f in fields if f.get("kind") in core_filters.OPS}
    current = state.setdefault("rb_filters", [])
    current[:] = [x for x in current if x.get("field") in usable]
    with st.expander(t("rb.filters") + (f" ({len(current)})" if current else ""), expanded=bool(current)):
        for i, cond in enumerate(list(current)):
            a, b = st.columns([6, 1], vertical_alignment="center")
            value = cond.get("value")
            value = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else value)
            a.text(f"{field_text(usable[cond['field']])} {plain('filters.op_' + cond['op'])} {value}")
            if b.button(t("filters.remove"), key=f"rb_frm_{i}"):
                current.pop(i)
                st.rerun()
        if not usable:
            return
        names = {n: field_text(f) for n, f in usable.items()}
        c1, c2, c3, c4 = st.columns([3, 2, 3, 1], vertical_alignment="bottom")
        name = c1.selectbox(plain("filters.field"), list(usable), format_func=names.get, key="rb_ff")
        f = usable[name]
        ops = core_filters.OPS[f["kind"]]
        op_names = {o: plain(f"filters.op_{o}") for o in ops}
        op = c2.selectbox(plain("filters.op"), ops, format_func=op_names.get, key=f"rb_fo_{name}")
        value = None
        with c3:
            if op in ("empty", "not_empty"):
                st.empty()
            elif f["kind"] in ("int", "number"):
                value = st.number_input(plain("filters.value"), value=None, key=f"rb_fv_num_{name}")
            elif f["kind"] in DATES:
                value = st.date_input(plain("filters.value"), value=None, key=f"rb_fv_date_{name}")
            elif f["kind"] == "bool":
                value = st.toggle(plain("filters.value"), key=f"rb_fv_bool_{name}")
            elif f.get("options"):
                opts = f["options"]
                codes = [o["code"] if isinstance(o, dict) else o for o in opts]
                texts = {(o["code"] if isinstance(o, dict) else o):
                         (o.get(f"name_{lang()}") or o.get("name_en") or o["code"]) if isinstance(o, dict) else str(o)
                         for o in opts}
                if op in ("in", "has"):
                    value = st.multiselect(plain("filters.value"), codes, format_func=texts.get,
                                           key=f"rb_fv_multi_{name}")
                    value = value if op == "in" else (value[0] if value else None)
                else:
                    value = st.selectbox(plain("filters.value"), codes, format_func=texts.get, key=f"rb_fv_one_{name}")
            else:
                value = st.text_input(plain("filters.value"), key=f"rb_fv_text_{name}", max_chars=200)
                if op in ("in", "has") and value:
                    value = [v.strip() for v in value.split(",") if v.strip()]
                    value = value if op == "in" else value[0]
        if c4.button(t("filters.add"), key="rb_fadd"):
            if isinstance(value, dt.date):
                value = value.isoformat()
            current.append({"field": name, "op": op, "value": value})
            st.rerun()


def builder() -> dict:
    """The builder's widgets; returns the definition they describe."""
    # the objects the role may view (contacts follow their customers)
    objects = [o for o in reports.OBJECTS if access.can(c, me, "customers" if o == "contacts" else o, "view")]
    if not objects:
        st.info(t("rb.no_objects"))
        st.stop()
    obj_names = {o: plain(f"rb.object.{o}") for o in objects}
    fit("rb_obj", objects, "deals")
    top = st.columns([2, 2, 2, 2])
    obj = top[0].selectbox(plain("rb.object"), objects, key="rb_obj", format_func=obj_names.get)
    fields = reports.fields(c, me, obj)
    by_name = {f["name"]: f for f in fields}
    names = {n: field_text(f) for n, f in by_name.items()}
    names[None] = plain("rb.none")
    every = dict(names)
    every[None] = plain("rb.every_record")
    group = [None] + [f["name"] for f in fields if f.get("can_group")]
    bucket_names = {b: plain(f"rb.bucket.{b}") for b in BUCKETS}
    chart_names = {x: plain(f"rb.chart.{x}") for x in CHARTS}
    layout_names = {"side": plain("rb.side"), "under": plain("rb.under")}
    fit("rb_chart", list(CHARTS), "bar")
    top[1].selectbox(plain("rb.chart"), CHARTS, key="rb_chart", format_func=chart_names.get)
    top[2].toggle(plain("rb.cumulative"), key="rb_cum", help=plain("rb.cumulative_help"))
    top[3].radio(plain("rb.layout"), ("side", "under"), key="rb_layout", horizontal=True,
                 format_func=layout_names.get)

    st.markdown(f"**{t('rb.dimensions')}**")
    dcols = st.columns(4)
    for i in range(2):
        first = "owner" if "owner" in group else (group[1] if len(group) > 1 else None)   # a few groups, not one per name
        fit(f"rb_d{i}", group, first if i == 0 else None)
        dcols[2 * i].selectbox(plain("rb.dimension_n", n=i + 1), group, key=f"rb_d{i}", format_func=names.get)
        chosen = by_name.get(state.get(f"rb_d{i}"))
        if chosen and chosen.get("kind") in DATES:
            fit(f"rb_b{i}", list(BUCKETS), "month")
            dcols[2 * i + 1].selectbox(plain("rb.bucket"), BUCKETS, key=f"rb_b{i}", format_func=bucket_names.get)
        else:
            state[f"rb_b{i}"] = None
    fit("rb_series", group, None)

    st.markdown(f"**{t('rb.measures')}**")
    agg_names = {a: plain(f"rb.agg.{a}") for a in AGGS}
    agg_names[None] = plain("rb.none")
    flags = [None] + [f["name"] for f in fields if f.get("kind") == "bool"]
    for i in range(2):
        mcols = st.columns([2, 3, 3])
        aggs = list(AGGS) if i == 0 else [None, *AGGS]
        fit(f"rb_a{i}", aggs, "count" if i == 0 else None)
        agg = mcols[0].selectbox(plain("rb.measure_n", n=i + 1), aggs, key=f"rb_a{i}", format_func=agg_names.get)
        if agg is None:
            state.pop(f"rb_f{i}", None)
            state.pop(f"rb_w{i}", None)
            continue
        usable = [f["name"] for f in fields if agg in (f.get("aggs") or ())]
        usable = [None, *usable] if agg == "count" else (usable or [None])
        fit(f"rb_f{i}", usable, usable[0])
        mcols[1].selectbox(plain("rb.of_field"), usable, key=f"rb_f{i}", format_func=every.get)
        fit(f"rb_w{i}", flags, None)
        mcols[2].selectbox(plain("rb.only_where"), flags, key=f"rb_w{i}", format_func=names.get,
                           help=plain("rb.only_where_help"))
    two = bool(state.get("rb_a1"))
    o1, o2 = st.columns(2)
    if not two:
        state["rb_ratio"] = False
    o1.checkbox(plain("rb.ratio"), key="rb_ratio", disabled=not two, help=plain("rb.ratio_help"))
    o2.selectbox(plain("rb.series"), group, key="rb_series", format_func=names.get, help=plain("rb.series_help"))

    dates = [None] + [f["name"] for f in fields if f.get("kind") in DATES]
    fit("rb_pfield", dates, None)
    p1, p2, p3 = st.columns(3)
    p1.selectbox(plain("rb.period_field"), dates, key="rb_pfield", format_func=names.get)
    if state.get("rb_pfield"):
        today = dt.date.today()
        state.setdefault("rb_pfrom", today.replace(month=1, day=1))
        state.setdefault("rb_pto", today)
        p2.date_input(plain("rb.period_from"), key="rb_pfrom")
        p3.date_input(plain("rb.period_to"), key="rb_pto")
    filter_rows(fields)
    return definition_now(obj)


def result_table(definition: dict, df: pl.DataFrame, labels: dict) -> int | None:
    """The result as a table whose rows can be picked (the records behind a row open below)."""
    shown = report_chart.readable(definition, df, c)
    values = report_chart.value_columns(definition, df)
    if "ratio" in values:
        shown = shown.with_columns(pl.col("ratio").round(4))
    cols = [x for x in df.columns if x in labels or x in values]
    view, height = tables.display_frame(shown.select(cols))
    view = view.rename({x: labels.get(x, x) for x in cols})
    event = st.dataframe(view, key=f"rb_table_{digest(definition)}_{state.get('rb_nonce', 0)}", hide_index=True, on_select="rerun",
                         selection_mode="single-row", width="stretch", height=min(height, 420))
    rows = list(event.selection.rows) if event and event.selection else []
    return rows[0] if rows else None


def records(definition: dict, df: pl.DataFrame, row: int, labels: dict, fields: list[dict]) -> None:
    """The records behind one row of the result (its dimension and series values), paged; a row opens
    its record."""
    keys = report_chart.dim_columns(definition, df)
    s = report_chart.series_column(definition, df)
    if s:
        keys.append(s)
    cell = {k: df[k][row] for k in keys}
    readable = report_chart.readable(definition, df, c)
    what = " · ".join(f"{labels.get(k, k)}: {readable[k][row]}" for k in keys) or plain("rb.all_rows")
    st.subheader(t("rb.records_of", what=what))
    page_key = f"rb_drill_page_{digest([definition, str(cell)])}"

    def fetch(i: int):
        return reports.drill(c, me, definition, cell, page=i + 1, page_size=DRILL_SIZE)
    frame, total, _page, pages = tables.current_page(page_key, DRILL_SIZE, fetch)
    a, b, d = st.columns([3, 1, 1])
    a.caption(t("rb.records_total", n=total))
    if pages > 1:
        b.number_input(plain("rb.page", n=pages), min_value=1, max_value=pages, step=1, key=page_key)
    if d.button(t("rb.close_records"), key="rb_close_records"):
        state["rb_cell"] = None
        state["rb_nonce"] = state.get("rb_nonce", 0) + 1   # a new table: its row no longer picked
        st.rerun()
    if frame.height == 0:
        st.info(t("rb.no_rows"))
        return
    texts = {"name": plain("rb.col_name"), "owner_name": plain("rb.col_owner")}
    texts.update({f["name"]: field_text(f) for f in fields})
    cols = {x: texts.get(x, x) for x in frame.columns if x != "id"}
    page = PAGES.get(definition["object"])
    if "id" in frame.columns and page:
        picked = tables.select_one(frame, cols, key=f"rb_records_{page_key}")
        if picked is not None:
            st.switch_page(page, query_params={"id": str(picked)})
    else:
        tables.show(frame, cols, key=f"rb_records_{page_key}")
    if definition["object"] == "customers" and access.can(c, me, "segments", "create"):
        save_segment(definition, cell, total, what)


def save_segment(definition: dict, cell: dict, total: int, what: str) -> None:
    """The customers behind a row, kept as a dated snapshot segment (core.segments.from_ids) for campaigns."""
    from core import segments

    if total > SEGMENT_MAX:
        st.caption(t("rb.segment_too_many", max=f"{SEGMENT_MAX:,}"))
        return
    share_names = {s: plain(f"rb.share_{s}") for s in SHARES}
    with st.form("rb_segment"):
        st.markdown(f"**{t('rb.segment_title', n=total)}**")
        a, b = st.columns([3, 2])
        name = a.text_input(plain("rb.segment_name"), value=what[:100], max_chars=100)
        share = b.selectbox(plain("rb.share"), SHARES, format_func=share_names.get)
        if st.form_submit_button(t("rb.segment_save")):
            values = {"name": name, "share": share, "definition": definition, "cell": str(cell)}
            if forms.first_submit("rb_segment", values):
                with errors.handled():
                    ids, page = [], 1
                    while len(ids) < total:
                        part, _n = reports.drill(c, me, definition, cell, page=page, page_size=500)
                        if part.height == 0:
                            break
                        ids += part["id"].to_list()
                        page += 1
                    segments.from_ids(c, me, name, ids, source="drill", share=share)
                    forms.remember_submit("rb_segment", values)
                    forms.flash(t("rb.segment_saved", name=name.strip(), n=len(ids)))
                    st.rerun()


def save_and_pin(definition: dict) -> None:
    current = state.get("rb_report") or {}
    share_names = {s: plain(f"rb.share_{s}") for s in SHARES}
    with st.form("rb_save"):
        st.markdown(f"**{t('rb.save_title')}**")
        a, b = st.columns([3, 2])
        name = a.text_input(plain("rb.name"), value=current.get("name") or "", max_chars=100)
        share = b.selectbox(plain("rb.share"), SHARES, index=SHARES.index(current.get("share") or "private"),
                            format_func=share_names.get)
        mine = bool(current.get("mine", True))
        as_new = st.checkbox(plain("rb.save_as_new"), value=not current.get("id") or not mine,
                             disabled=not current.get("id") or not mine)
        if st.form_submit_button(t("rb.save"), type="primary"):
            values = {"name": name, "share": share, "definition": definition, "new": as_new, "id": current.get("id")}
            if forms.first_submit("rb_save", values):
                with errors.handled():
                    rid = reports.save(c, me, name, definition, share=share,
                                       report_id=None if as_new else current.get("id"))
                    forms.remember_submit("rb_save", values)
                    state["rb_report"] = {"id": rid, "name": name.strip(), "share": share, "mine": True}
                    state["_rb_picked"] = rid
                    forms.flash(t("rb.saved_ok", name=name.strip()))
                    st.rerun()
    if not current.get("id") or not current.get("mine", True):
        return
    dash_names = {d: plain(f"rb.dash_{d}") for d in DASHBOARDS}
    own = dashboards.kind_of(me)
    p1, p2, p3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    state.setdefault("rb_pin_to", own)
    where = p1.selectbox(plain("rb.pin_to"), DASHBOARDS, key="rb_pin_to", format_func=dash_names.get)
    if p2.button(t("rb.pin"), key="rb_pin", icon=":material/push_pin:"):
        with errors.handled():
            reports.pin(c, me, current["id"], where)
            forms.flash(t("rb.pinned_ok", name=current.get("name") or "", dashboard=dash_names[where]))
            st.rerun()
    if p3.button(t("rb.unpin"), key="rb_unpin"):
        with errors.handled():
            reports.unpin(c, me, current["id"], where)
            forms.flash(t("rb.unpinned_ok", dashboard=dash_names[where]))
            st.rerun()
    if st.button(t("rb.delete"), key="rb_delete", icon=":material/delete:"):
        with errors.handled():
            reports.delete(c, me, current["id"])
            for k in KEYS:
                state.pop(k, None)
            state.pop("rb_report", None)
            state.pop("_rb_picked", None)
            forms.flash(t("rb.deleted_ok", name=current.get("name") or ""))
            st.rerun()


definition = None
with errors.handled():
    linked = st.query_params.get("report")
    if linked and state.get("_rb_linked") != linked:   # ?report=ID opens a saved report (the dashboard's link)
        state["_rb_linked"] = linked
        try:
            open_report(int(linked))
        except ValueError:
            pass
    saved_list()
    current = state.get("rb_report") or {}
    if current.get("id"):
        x, y = st.columns([4, 1], vertical_alignment="center")
        if current.get("mine", True):
            x.info(t("rb.editing", name=current.get("name") or ""))
        else:
            x.info(t("rb.viewing_shared", name=current.get("name") or "", owner=current.get("owner") or ""))
        if y.button(t("rb.new"), key="rb_new"):
            for k in KEYS:
                state.pop(k, None)
            state.pop("rb_report", None)
            state["rb_filters"] = []
            st.query_params.pop("report", None)
            st.rerun()
    with st.container(border=True):
        definition = builder()

if definition is None:
    st.stop()
with errors.handled():
    df = reports.run(c, me, definition)
    labels = reports.labels(c, me, definition, lang())
    fields = reports.fields(c, me, definition["object"])
    st.subheader(current.get("name") or t("rb.result"))
    if state.get("rb_layout", "side") == "side" and definition["chart"] != "table":
        left, right = st.columns([3, 2])
    else:
        left = right = st.container()
    with left:
        clicked = report_chart.draw(definition, df, labels, key=f"rb_chart_{digest(definition)}", clickable=True, con=c)
    with right:
        row = result_table(definition, df, labels)
    cols = {x: labels.get(x, x) for x in df.columns if x in labels}
    export.buttons(c, me, "analytics", report_chart.readable(definition, df, c), cols,
                   current.get("name") or plain("page.reports"), key="rb_export")
    st.caption(t("rb.chart_hint"))
    sig = digest(definition)
    if row is not None:
        state["rb_cell"] = {"sig": sig, "row": row}
    elif clicked is not None and state.get("_rb_chart_seen") != (sig, clicked):
        state["_rb_chart_seen"] = (sig, clicked)
        state["rb_cell"] = {"sig": sig, "row": clicked}
    cell = state.get("rb_cell")
    if cell and cell.get("sig") == sig and cell["row"] < df.height:
        records(definition, df, cell["row"], labels, fields)
    save_and_pin(definition)
