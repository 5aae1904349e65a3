"""Tables: frames from core shown with translated headers."""
from __future__ import annotations

import polars as pl
import streamlit as st

from ui.i18n import t


def show(df: pl.DataFrame, columns: dict[str, str], key: str, selectable: bool = False, height: int | str = "auto"):
    """Show the given columns (name -> label key) of a frame; returns the selected row indexes."""
    present = [c for c in columns if c in df.columns]
    view = df.select(present).rename({c: t(columns[c]) for c in present})
    if selectable:
        event = st.dataframe(view, key=key, hide_index=True, on_select="rerun", selection_mode="single-row",
                             width="stretch", height=height)
        return list(event.selection.rows) if event and event.selection else []
    st.dataframe(view, key=key, hide_index=True, width="stretch", height=height)
    return []
