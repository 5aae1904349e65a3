"""One renderer for every object's fields: form inputs, read-only view and the set of changed values,
all drawn from the field definitions in core (core.fields.Field), so pages don't hand-write forms.

Times are stored in UTC and shown in the company's time zone; the renderer converts both ways.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import streamlit as st

from core import clock
from core import fields as core_fields
from core.fields import Field
from core.i18n import translate
from ui.i18n import lang, t

EMPTY = "—"


def field_label(f: Field) -> str:
    """A field's name in the user's language (a custom field's own names, else the catalogue's)."""
    return core_fields.label_of(f, lang(), translate)


def option_label(f: Field, code: str, labels: dict | None = None) -> str:
    """An option's name: the page's labels for built-in lists, a custom select's own names."""
    if labels and f.name in labels:
        return labels[f.name](code)
    for c, en, zh in f.option_labels or ():
        if c == code:
            return zh if lang() == "zh" and zh else en
    return code


def _shown(con, f: Field, value: Any) -> Any:
    """The value as the input shows it (local time for moments, '' for empty text)."""
    if f.kind == "datetime":
        return clock.to_local(con, value) if value is not None else None
    if f.kind in ("text", "longtext", "phone", "email"):
        return value or ""
    if f.kind == "number" and value is not None:
        return float(value)
    return value


def _input(con, f: Field, value: Any, key: str, disabled: bool, choice_labels: dict[str, Callable]) -> Any:
    label = field_label(f) + (" *" if f.required else "")
    if f.kind == "longtext":
        return st.text_area(label, value, key=key, disabled=disabled, max_chars=f.max_len)
    if f.kind in ("text", "phone", "email"):
        return st.text_input(label, value, key=key, disabled=disabled, max_chars=f.max_len)
    if f.kind == "int":
        return st.number_input(label, value=value, step=1, min_value=int(f.min) if f.min is not None else None,
                               max_value=int(f.max) if f.max is not None else None, key=key, disabled=disabled)
    if f.kind == "number":
        return st.number_input(label, value=value, step=1000.0, format="%.2f", key=key, disabled=disabled,
                               min_value=float(f.min) if f.min is not None else None,
                               max_value=float(f.max) if f.max is not None else None)
    if f.kind == "datetime":
        return st.datetime_input(label, value=value, key=key, disabled=disabled, format="YYYY-MM-DD",
                                 step=dt.timedelta(minutes=15))
    if f.kind == "bool":
        return st.checkbox(label, bool(value), key=key, disabled=disabled)
    if f.kind == "choice":
        options = list(f.options if f.options is not None else f.options_from(con))
        if not f.required and f.nullable:
            options = [None, *options]
        if value is not None and value not in options:
            options.append(value)
        return st.selectbox(label, options, index=options.index(value) if value in options else 0, key=key,
                            format_func=lambda v: EMPTY if v is None else option_label(f, v, choice_labels),
                            disabled=disabled)
    if f.kind == "multichoice":
        options = list(f.options if f.options is not None else f.options_from(con))
        return st.multiselect(label, options, default=[v for v in value or [] if v in options], key=key,
                              format_func=lambda v: option_label(f, v, choice_labels), disabled=disabled)
    if f.kind == "date":
        return st.date_input(label, value=value, key=key, disabled=disabled, format="YYYY-MM-DD")
    raise ValueError(f.kind)  # pragma: no cover


def inputs(con, defs: dict[str, Field], record: dict, *, key: str, names: list[str] | None = None,
           disabled: bool = False, choice_labels: dict[str, Callable] | None = None, columns: int = 3,
           more: bool = True) -> dict[str, Any]:
    """Draw the inputs of the named fields (default: required and common, with the extra tier under
    "more"); returns name -> the value as typed (in the shown form; see `changes`)."""
    names = names or list(defs)
    main = [n for n in names if defs[n].tier != "extra"]
    extra = [n for n in names if defs[n].tier == "extra"]
    out: dict[str, Any] = {}

    def draw(group: list[str]) -> None:
        for start in range(0, len(group), columns):
            cols = st.columns(columns)
            for col, name in zip(cols, group[start:start + columns]):
                with col:
                    out[name] = _input(con, defs[name], _shown(con, defs[name], record.get(name)),
                                       f"{key}_{name}", disabled, choice_labels or {})

    draw(main)
    if extra and more:
        with st.expander(t("form.more_fields")):
            draw(extra)
    return out


def changes(con, defs: dict[str, Field], record: dict, typed: dict[str, Any]) -> dict[str, Any]:
    """Only what the user changed, converted for core (local times back to UTC, '' to empty)."""
    out = {}
    for name, value in typed.items():
        f = defs[name]
        before = _shown(con, f, record.get(name))
        if isinstance(value, str) and isinstance(before, str) and value.strip() == before.strip():
            continue
        if f.kind == "multichoice" and not value:
            value = None
        if value == before:
            continue
        if (f.kind == "datetime" and value is not None and before is not None
                and value.replace(second=0, microsecond=0, tzinfo=None) == before.replace(second=0, microsecond=0)):
            continue  # the picker shows minutes: an untouched time keeps its seconds
        if f.kind in ("text", "longtext", "phone", "email") and isinstance(value, str) and not value.strip():
            value = None
        if f.kind == "datetime" and value is not None:
            value = clock.to_utc(con, value.replace(tzinfo=None))
        out[name] = value
    return out


def view(con, defs: dict[str, Field], record: dict, *, names: list[str] | None = None,
         choice_labels: dict[str, Callable] | None = None, columns: int = 3) -> None:
    """A read-only view of the fields: label and value, empty values left blank."""
    names = [n for n in (names or list(defs))]
    labels = choice_labels or {}
    for start in range(0, len(names), columns):
        cols = st.columns(columns)
        for col, name in zip(cols, names[start:start + columns]):
            f, value = defs[name], record.get(name)
            if value is None or value == "":
                text = ""
            elif f.kind == "datetime":
                text = clock.fmt(con, value)
            elif f.kind == "choice":
                text = option_label(f, value, labels)
            elif f.kind == "multichoice":
                text = ", ".join(option_label(f, v, labels) for v in value)
            elif f.kind == "bool":
                text = t("filters.yes") if value else t("filters.no")
            elif f.kind == "number":
                text = f"{float(value):,.2f}"
            else:
                text = str(value)
            with col:
                st.caption(field_label(f))
                st.text(text or " ")
