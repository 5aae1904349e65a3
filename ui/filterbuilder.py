"""The filter builder and saved views: conditions over any field of an object (custom fields included,
only those the viewer may see), and named sets of filters per user, optionally shared."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from core import fields as core_fields
from core import filters as core_filters
from core import saved_views
from ui import errors, forms
from ui.fieldform import field_label, option_label
from ui.i18n import t


def conditions(con, defs: dict[str, core_fields.Field], role: str, key: str, labels: dict | None = None) -> list[dict]:
    """Draw the list of conditions kept in session_state[key] with an "add" row; returns them."""
    state = st.session_state
    current: list[dict] = state.setdefault(key, [])
    usable = {n: f for n, f in defs.items() if f.visible_to(role) and f.kind in core_filters.OPS}
    with st.expander(t("filters.title") + (f" ({len(current)})" if current else ""), expanded=bool(current)):
        for i, cond in enumerate(list(current)):
            f = usable.get(cond["field"])
            if f is None:
                continue
            a, b = st.columns([6, 1], vertical_alignment="center")
            value = cond.get("value")
            if isinstance(value, list):
                value = ", ".join(option_label(f, v, labels) for v in value)
            elif f.kind in ("choice", "multichoice") and isinstance(value, str):
                value = option_label(f, value, labels)
            elif isinstance(value, bool):
                value = t("filters.yes") if value else t("filters.no")
            a.text(f"{field_label(f)} {t('filters.op_' + cond['op'])} {'' if value is None else value}")
            if b.button(t("filters.remove"), key=f"{key}_rm_{i}"):
                current.pop(i)
                st.rerun()
        c1, c2, c3, c4 = st.columns([3, 2, 3, 1], vertical_alignment="bottom")
        name = c1.selectbox(t("filters.field"), list(usable), format_func=lambda n: field_label(usable[n]),
                            key=f"{key}_field")
        f = usable[name]
        op = c2.selectbox(t("filters.op"), core_filters.OPS[f.kind], format_func=lambda o: t(f"filters.op_{o}"),
                          key=f"{key}_op_{name}")
        value = None
        with c3:
            if op in ("empty", "not_empty"):
                st.empty()
            elif f.kind in ("int", "number"):
                value = st.number_input(t("filters.value"), value=None, key=f"{key}_num_{name}")
            elif f.kind in ("date", "datetime"):
                value = st.date_input(t("filters.value"), value=None, key=f"{key}_date_{name}")
            elif f.kind == "bool":
                value = st.toggle(t("filters.value"), key=f"{key}_bool_{name}")
            elif f.kind in ("choice", "multichoice"):
                opts = list(f.options if f.options is not None else f.options_from(con))
                if op == "in":
                    value = st.multiselect(t("filters.value"), opts, format_func=lambda v: option_label(f, v, labels),
                                           key=f"{key}_multi_{name}")
                else:
                    value = st.selectbox(t("filters.value"), opts, format_func=lambda v: option_label(f, v, labels),
                                         key=f"{key}_one_{name}")
            else:
                value = st.text_input(t("filters.value"), key=f"{key}_text_{name}", max_chars=200)
        if c4.button(t("filters.add"), key=f"{key}_add"):
            if isinstance(value, dt.date):
                value = value.isoformat()
            current.append({"field": name, "op": op, "value": value})
            st.rerun()
    return list(current)


def saved(con, actor, obj: str, keys: dict[str, str], current: dict, check) -> None:
    """Pick a saved view (it sets the list's filter widgets `keys`: filter name -> widget key), save
    the current filters as one, or remove one of the user's own."""
    state = st.session_state
    rows = saved_views.views(con, actor, obj)
    by_id = {r["id"]: r for r in rows}

    def apply() -> None:
        view = by_id.get(state.get(f"_{obj}_view"))
        if view is None:
            return
        for name, widget in keys.items():
            if name in view["filters"]:
                state[widget] = view["filters"][name]
            elif widget in state:
                del state[widget]

    with st.expander(t("views.pick")):
        v1, v2 = st.columns([3, 2], vertical_alignment="bottom")
        picked = v1.selectbox(
            t("views.pick"), [None, *by_id], key=f"_{obj}_view", on_change=apply, label_visibility="collapsed",
            format_func=lambda i: t("views.none") if i is None else by_id[i]["name"] + (
                "" if by_id[i]["mine"] else f" · {t('views.by', name=by_id[i]['owner_name'])}"))
        if picked is not None and by_id[picked]["mine"] and v2.button(t("views.delete"), key=f"_{obj}_view_rm"):
            with errors.handled():
                saved_views.delete_view(con, actor, picked)
                forms.flash(t("views.deleted", name=by_id[picked]["name"]))
                state.pop(f"_{obj}_view", None)
                st.rerun()
        with st.form(f"_{obj}_view_save", clear_on_submit=True, border=False):
            s1, s2, s3 = st.columns([3, 3, 2], vertical_alignment="bottom")
            name = s1.text_input(t("views.name"), max_chars=60)
            shared = s2.checkbox(t("views.shared"))
            if s3.form_submit_button(t("views.save")):
                with errors.handled():
                    saved_views.save_view(con, actor, obj, name, current, shared, check=check)
                    forms.flash(t("views.saved", name=name.strip()))
                    st.rerun()
