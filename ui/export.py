"""The two download buttons (CSV, Excel) under a table, for the users who may export it (core.export).

The file is made only when the user clicks: Streamlit 1.67 takes a callable as `data` and runs it on
a thread of its own when the button is pressed (not on the page's run), so drawing a list costs
nothing for its export. That thread takes its own cursor (a cursor is never shared between threads)
and gets everything else (the actor, the language, the labels) as plain values captured here.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import polars as pl
import streamlit as st

from core import clock, export
from core.context import Actor, utcnow
from ui.db import database
from ui.i18n import lang, t

# a frame, or a function of a cursor returning it (made only when a button is clicked)
FrameSource = pl.DataFrame | Callable[[Any], pl.DataFrame]


def _maker(actor: Actor, module: str, source: FrameSource, labels: dict[str, str], language: str,
           kind: str, sheet: str) -> Callable[[], bytes]:
    shared = database()

    def make() -> bytes:
        cur = shared.cursor()
        try:
            who = dataclasses.replace(actor, now=utcnow())  # the audit row carries the click's time
            frame = source(cur) if callable(source) else source
            if kind == "csv":
                return export.to_csv(cur, who, module, frame, labels, lang=language)
            return export.to_xlsx(cur, who, module, frame, labels, lang=language, sheet=sheet)
        finally:
            cur.close()

    return make


def buttons(con, actor: Actor, module: str, frame: FrameSource,
            labels: dict[str, str], name: str, total: int | None = None, key: str | None = None) -> None:
    """CSV and Excel download buttons for `frame` (or for what `frame(cursor)` returns when clicked),
    its `labels` (column -> catalogue key) as headers; nothing when the actor may not export `module`.
    `total`: how many rows the table holds in all (a caption says when a download holds only the first
    core.export.MAX_ROWS); `name`: the file's name (translated), the day is appended."""
    if not export.allowed(con, actor, module):
        return
    key = key or f"export_{module}"
    language = lang()
    today = clock.local_today(con, actor.now)
    rows = total if total is not None else (frame.height if isinstance(frame, pl.DataFrame) else None)
    help_text = t("export.help", n=f"{min(rows, export.MAX_ROWS):,}") if rows is not None else None
    a, b, note = st.columns([1, 1, 4], vertical_alignment="center")
    a.download_button(t("export.csv"), _maker(actor, module, frame, labels, language, "csv", name),
                      file_name=export.file_name(name, today, "csv"), mime=export.CSV_MIME, key=f"{key}_csv",
                      on_click="ignore", icon=":material/download:", help=help_text, disabled=rows == 0)
    b.download_button(t("export.xlsx"), _maker(actor, module, frame, labels, language, "xlsx", name),
                      file_name=export.file_name(name, today, "xlsx"), mime=export.XLSX_MIME, key=f"{key}_xlsx",
                      on_click="ignore", icon=":material/table_view:", help=help_text, disabled=rows == 0)
    if rows is not None and rows > export.MAX_ROWS:
        note.caption(t("export.capped", total=f"{rows:,}", max=f"{export.MAX_ROWS:,}"))
