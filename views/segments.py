"""Segments (客户细分): the segments the user sees with their live counts; the rule editor (conditions and
AND/OR groups over a fixed list of fields) with the live count as the rule is edited; save dynamic or as a
snapshot, shared or not; open one: its customers page by page, export (CSV/Excel, or a mailing list) when
allowed, add to a campaign, edit the rule, delete to the recycle bin. Every rule lives in core.segments."""
import datetime as dt

import polars as pl
import streamlit as st

from core import access, clock, customers, segments
from ui import errors, forms, records, tables
from ui import export as export_ui
from ui.i18n import lang, names, t
from ui.session import actor, con
from ui.text import md

me, c = actor(), con()
st.title(t("page.segments"))
forms.show_flash()
state = st.session_state
PAGE_SIZE = 50
LIST_MAX = 50  # segments listed with a live count each
RULE, EDIT = "seg_rule", "seg_edit_id"

FIELDS: dict[str, dict] = {}
with errors.handled():
    FIELDS = {f["name"]: f for f in segments.rule_fields(c, me)}
stage_names, level_names = names(customers.stages(c)), names(customers.levels(c))


def field_name(name: str) -> str:
    f = FIELDS.get(name)
    if f is None:
        return name
    if f.get("labels"):
        return f["labels"][1] if lang() == "zh" and f["labels"][1] else f["labels"][0]
    return t(f["label"])


def option_name(f: dict, code) -> str:
    for o in f.get("options") or ():
        if o["code"] == code:
            if o.get("key"):
                return t(o["key"])
            if "en" in o:
                return (o["zh"] if lang() == "zh" and o.get("zh") else o["en"]) or str(code)
            return str(o.get("text", code))
    return str(code)


def condition_text(cond: dict) -> str:
    f = FIELDS.get(cond.get("field"), {})
    value = cond.get("value")
    if isinstance(value, list):
        shown = ", ".join(option_name(f, v) for v in value)
    elif f.get("kind") in ("choice", "multichoice") and value is not None:
        shown = option_name(f, value)
    elif isinstance(value, bool):
        shown = t("filters.yes") if value else t("filters.no")
    else:
        shown = "" if value is None else f"{value:,}" if isinstance(value, (int, float)) else str(value)
    days = f" {t('segments.in_days', days=cond['days'])}" if cond.get("days") else ""
    return f"{field_name(cond.get('field', ''))} {t('filters.op_' + str(cond.get('op')))} {shown}{days}"


def rule_lines(node: dict, depth: int = 0) -> list[str]:
    """The rule as indented lines (read-only)."""
    out = [("\u2003" * depth) + t(f"segments.op_{node.get('op', 'and')}")]
    for item in node.get("items", []):
        if isinstance(item, dict) and "items" in item:
            out += rule_lines(item, depth + 1)
        else:
            out.append(("\u2003" * (depth + 1)) + "• " + condition_text(item))
    return out


def empty_rule() -> dict:
    return {"op": "and", "items": []}


# ---------------------------------------------------------------- the rule editor
def value_key(f: dict, op: str) -> str | None:
    """The session key of the value widget for this field and condition (None: the condition takes none)."""
    kind, base = f["kind"], f"seg_v_{f['name']}_{op}"
    if op in ("empty", "not_empty"):
        return None
    if kind in ("int", "number", "orders"):
        return f"{base}_num"
    if kind in ("date", "datetime"):
        return f"{base}_date"
    if kind == "bool":
        return f"{base}_bool"
    if kind in ("choice", "multichoice"):
        return f"{base}_multi" if op == "in" else f"{base}_one"
    return f"{base}_text"


def value_input(f: dict, op: str) -> None:
    key = value_key(f, op)
    kind = f["kind"]
    if key is None:
        return
    if kind in ("int", "number", "orders"):
        whole = kind == "int"
        st.number_input(t("filters.value"), min_value=0 if f["name"] in segments.SPECIAL else None,
                        value=0 if whole else 0.0, step=1 if whole else 1.0, key=key)
    elif kind in ("date", "datetime"):
        st.date_input(t("filters.value"), value=None, key=key)
    elif kind == "bool":
        st.toggle(t("filters.value"), key=key)
    elif kind in ("choice", "multichoice"):
        codes = [o["code"] for o in f.get("options") or ()]
        if op == "in":
            st.multiselect(t("filters.value"), codes, format_func=lambda v: option_name(f, v), key=key,
                           placeholder=t("segments.choose"))
        else:
            st.selectbox(t("filters.value"), codes, format_func=lambda v: option_name(f, v), key=key)
    else:
        st.text_input(t("filters.value"), key=key, max_chars=200)


def add_condition() -> None:
    """The add button's callback: the condition from the row's widgets, into the rule or a group (before
    the next run draws the rule and counts it)."""
    name = state.get("seg_field")
    f = FIELDS.get(name)
    if f is None:
        return
    op = state.get(f"seg_op_{name}", f["ops"][0])
    key = value_key(f, op)
    value = state.get(key) if key else None
    if isinstance(value, dt.date):
        value = value.isoformat()
    if isinstance(value, float) and value.is_integer() and f["kind"] == "int":
        value = int(value)
    cond = {"field": name, "op": op, "value": value}
    if f["kind"] == "orders":
        cond["days"] = int(state.get("seg_days") or 90)
    rule, target = state[RULE], state.get("seg_target", "top")
    if target == "top" or not isinstance(target, int) or target >= len(rule["items"]):
        rule["items"].append(cond)
    else:
        rule["items"][target]["items"].append(cond)


def add_row(rule: dict) -> None:
    """One row: where to add (the rule or a group), field, condition, value (and days), the add button."""
    groups = [i for i, item in enumerate(rule["items"]) if isinstance(item, dict) and "items" in item]
    targets = ["top", *groups]
    c0, c1, c2, c3, c4, c5 = st.columns([2, 3, 2, 3, 2, 2], vertical_alignment="bottom")
    c0.selectbox(t("segments.target"), targets, key="seg_target", format_func=lambda i: t(
        "segments.target_top") if i == "top" else t("segments.group", n=groups.index(i) + 1))
    name = c1.selectbox(t("filters.field"), list(FIELDS), format_func=field_name, key="seg_field")
    f = FIELDS[name]
    op = c2.selectbox(t("filters.op"), f["ops"], format_func=lambda o: t(f"filters.op_{o}"), key=f"seg_op_{name}")
    with c3:
        value_input(f, op)
    if f["kind"] == "orders":
        c4.number_input(t("segments.days"), min_value=1, max_value=segments.MAX_DAYS, value=90, step=1, key="seg_days")
    c5.button(t("segments.add_condition"), key="seg_add", icon=":material/add:", on_click=add_condition)


def set_op(path: tuple, key: str) -> None:
    node = state[RULE]
    for i in path:
        node = node["items"][i]
    node["op"] = state[key] or node["op"]


def remove(path: tuple) -> None:
    node = state[RULE]
    for i in path[:-1]:
        node = node["items"][i]
    node["items"].pop(path[-1])


def draw_group(node: dict, path: tuple) -> None:
    key = "seg_gop_" + "_".join(map(str, path))
    state[key] = node["op"]
    st.segmented_control(t("segments.match"), ("and", "or"), format_func=lambda o: t(f"segments.op_{o}"), key=key,
                         on_change=set_op, args=(path, key))
    if not node["items"]:
        st.caption(t("segments.empty_rule") if not path else t("segments.empty_group"))
    group_no = 0
    for i, item in enumerate(node["items"]):
        if isinstance(item, dict) and "items" in item:
            group_no += 1
            with st.container(border=True):
                h1, h2 = st.columns([6, 1], vertical_alignment="center")
                h1.markdown(f"**{t('segments.group', n=group_no)}**")
                h2.button(t("segments.remove"), key=f"seg_rm_{'_'.join(map(str, path + (i,)))}", on_click=remove,
                          args=(path + (i,),))
                draw_group(item, path + (i,))
        else:
            a, b = st.columns([6, 1], vertical_alignment="center")
            a.text(condition_text(item))
            b.button(t("segments.remove"), key=f"seg_rm_{'_'.join(map(str, path + (i,)))}", on_click=remove,
                     args=(path + (i,),))


def add_group() -> None:
    state[RULE]["items"].append({"op": "or", "items": []})


def stop_editing() -> None:
    state[RULE] = empty_rule()
    state.pop(EDIT, None)


@st.fragment
def editor() -> None:
    """The rule editor: a fragment, so editing the rule reruns the editor and its live count only, not the
    list's counts above it. A fragment's rerun may run on another thread than the page's run: it takes the
    cursor of its own thread (ui.db)."""
    cur, who = con(), actor()
    rule = state.setdefault(RULE, empty_rule())
    editing = state.get(EDIT)
    with st.container(border=True):
        if editing:
            st.subheader(t("segments.editing", name=editing["name"]))
            st.button(t("segments.cancel_edit"), key="seg_stop", on_click=stop_editing)
        else:
            st.subheader(t("segments.new"))
        left, right = st.columns([4, 1])
        with left:
            draw_group(rule, ())
        with right:
            with errors.handled():
                st.metric(t("segments.live_count"), f"{segments.count(cur, who, rule):,}")
        add_row(rule)
        st.button(t("segments.add_group"), key="seg_add_group", on_click=add_group, icon=":material/add_box:")

        with st.form("seg_save", border=False):
            st.markdown(f"**{t('segments.save_title')}**")
            s1, s2, s3 = st.columns([3, 2, 2])
            name = s1.text_input(t("segment.name"), value=editing["name"] if editing else "", max_chars=100)
            kinds, shares = segments.KINDS, segments.SHARES
            kind = s2.selectbox(t("segments.kind"), kinds, format_func=lambda k: t(f"segment.kind_{k}"),
                                index=kinds.index(editing["kind"]) if editing else 0)
            share = s3.selectbox(t("segments.share"), shares, format_func=lambda s: t(f"segment.share_{s}"),
                                 index=shares.index(editing["share"]) if editing else 0)
            if st.form_submit_button(t("segments.save"), type="primary"):
                values = {"name": name, "rule": rule, "kind": kind, "share": share, "id": editing and editing["id"]}
                if forms.first_submit("seg_save", values):
                    with errors.handled():
                        sid = segments.save(cur, who, name, rule, kind=kind, share=share,
                                            segment_id=editing["id"] if editing else None)
                        forms.remember_submit("seg_save", values)
                        forms.flash(t("segments.saved", name=name.strip()))
                        stop_editing()
                        st.query_params["id"] = str(sid)
                        st.rerun()


# ---------------------------------------------------------------- one segment
def back() -> None:
    st.query_params.pop("id", None)
    state["seg_nonce"] = state.get("seg_nonce", 0) + 1


def edit_rule(seg: dict) -> None:
    state[RULE] = seg["rule"] if seg["kind"] == "dynamic" or seg["rule"].get("items") else empty_rule()
    state[EDIT] = {"id": seg["id"], "name": seg["name"], "kind": seg["kind"], "share": seg["share"]}
    st.query_params.pop("id", None)


def readable(rows: pl.DataFrame) -> pl.DataFrame:
    out = []
    if "stage" in rows.columns:
        out.append(pl.col("stage").replace_strict(stage_names, default=pl.col("stage")))
    if "level" in rows.columns:
        out.append(pl.col("level").replace_strict(level_names, default=pl.col("level")))
    return rows.with_columns(out) if out else rows


def show_segment(sid) -> None:
    seg = segments.get(c, me, segments.segment_id_of(sid))
    st.button(t("segments.back"), key="seg_back", on_click=back, icon=":material/arrow_back:")
    st.subheader(md(seg["name"]))
    st.caption(t("segments.by", name=seg["owner_name"] or "—", share=t(f"segment.share_{seg['share']}")))
    if seg["kind"] == "snapshot":
        st.caption(t("segments.snapshot_of", at=clock.to_local(c, seg["snapshot_at"]).strftime("%Y-%m-%d %H:%M")
                     if seg["snapshot_at"] else "—"))
    else:
        st.caption(t("segments.dynamic_note"))
    if seg["rule"].get("items"):
        with st.expander(t("segments.rule")):
            st.text("\n".join(rule_lines(seg["rule"])))

    df, total, page, pages = tables.current_page(
        "seg_page", PAGE_SIZE, lambda i: segments.members(c, me, seg["id"], page=i, page_size=PAGE_SIZE))
    st.markdown(t("segments.members", n=f"{total:,}") + " · " + t("segments.page", page=page, pages=pages))
    tables.show(readable(df), segments.COLUMNS, key=f"seg_members_{seg['id']}_{page}")
    if pages > 1:
        st.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key="seg_page")

    module = segments.export_module(c, me)
    if module:
        sid_ = seg["id"]
        st.markdown(f"**{t('segments.export')}**")
        export_ui.buttons(c, me, module, lambda cur: readable(segments.export_frame(cur, me, sid_)[0]),
                          segments.COLUMNS, seg["name"], total, key="seg_export")
        st.markdown(f"**{t('segments.mailing')}**")
        st.caption(t("segments.mailing_help"))
        with errors.handled():
            segments.check_mailing(c)
            export_ui.buttons(c, me, module, lambda cur: segments.export_frame(cur, me, sid_, mailing=True)[0],
                              segments.MAILING_COLUMNS, f"{seg['name']} {t('segments.mailing')}", None,
                              key="seg_mailing")

    if access.can(c, me, "campaigns", "edit"):
        found = segments.campaigns(c, me)
        if not found:
            st.caption(t("segments.no_campaigns"))
        else:
            by_id = {x["id"]: x for x in found}
            with st.form("seg_campaign", border=True):
                pick = st.selectbox(t("segments.campaign"), list(by_id), format_func=lambda i: by_id[i]["name"])
                if st.form_submit_button(t("segments.add_to_campaign")):
                    with errors.handled():
                        n = segments.add_to_campaign(c, me, seg["id"], pick)
                        forms.flash(t("segments.added", n=n, name=by_id[pick]["name"]))
                        st.rerun()

    b1, b2, _ = st.columns([2, 2, 4])
    if segments.may(c, me, seg, "edit"):
        b1.button(t("segments.edit_rule"), key="seg_edit", on_click=edit_rule, args=(seg,), icon=":material/edit:")
    if segments.may(c, me, seg, "delete"):
        with b2:
            records.delete_button("seg", seg["id"], seg["name"], lambda: segments.delete(c, me, seg["id"]), back)


# ---------------------------------------------------------------- the list
def list_view() -> None:
    st.caption(t("segments.intro"))
    found = segments.segments(c, me)
    if found.is_empty():
        st.info(t("segments.none"))
    else:
        shown = found.head(LIST_MAX)
        counts = [segments.live_count(c, me, sid) for sid in shown["id"].to_list()]
        shown = shown.with_columns(
            pl.Series("count", counts, dtype=pl.Int64),
            pl.col("kind").map_elements(lambda k: t(f"segment.kind_{k}"), return_dtype=pl.String),
            pl.col("share").map_elements(lambda s: t(f"segment.share_{s}"), return_dtype=pl.String))
        picked = tables.select_one(shown, {"name": "segments.col_name", "count": "segments.col_count",
                                           "kind": "segments.col_kind", "share": "segments.col_share",
                                           "owner_name": "segments.col_owner",
                                           "snapshot_at": "segments.col_snapshot_at"},
                                   key=f"seg_list_{state.get('seg_nonce', 0)}")
        if picked is not None:
            st.query_params["id"] = str(picked)
            st.rerun()
    if access.can(c, me, "segments", "create"):
        editor()


with errors.handled():
    opened = st.query_params.get("id")
    if opened is not None:
        try:
            opened = int(opened)
        except ValueError:
            opened = None
    if opened is not None:
        show_segment(opened)
    else:
        list_view()
