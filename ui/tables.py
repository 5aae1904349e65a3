"""Tables: frames from core shown with translated headers."""
from __future__ import annotations

import hashlib

import polars as pl
import streamlit as st

from ui.i18n import t


ROW_PX, MAX_ROWS_SHOWN = 35, 50  # st.dataframe's row height; taller lists scroll inside the table


def display_frame(df: pl.DataFrame, height: int | str = "auto") -> tuple[pl.DataFrame, int | str]:
    """A frame as people read it, and the table's height.

    Timestamps (stored naive UTC) in the company's time zone, without seconds; dates as YYYY-MM-DD;
    booleans as ✓ or nothing; a missing value as an empty cell, never "None". The height shows every
    row up to MAX_ROWS_SHOWN (then the table scrolls), unless the caller gives one."""
    from core import clock
    from ui.session import con

    tz = clock.zone(con()).key
    out = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            local = col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col
            out.append(local.dt.convert_time_zone(tz).dt.strftime("%Y-%m-%d %H:%M").fill_null(""))
        elif dtype == pl.Date:
            out.append(col.dt.strftime("%Y-%m-%d").fill_null(""))
        elif dtype == pl.Boolean:
            out.append(pl.when(col).then(pl.lit("✓")).otherwise(pl.lit("")).alias(name))
        elif dtype in (pl.String, pl.Categorical, pl.Null):
            out.append(col.cast(pl.String).fill_null(""))
        elif dtype.is_numeric() and df[name].null_count():
            out.append(col.cast(pl.String).fill_null(""))
        else:
            out.append(col)
    view = df.select(out) if out else df
    if height == "auto":
        height = ROW_PX * (min(max(df.height, 1), MAX_ROWS_SHOWN) + 1) + 3
    return view, height


def show(df: pl.DataFrame, columns: dict[str, str], key: str, selectable: bool = False, height: int | str = "auto"):
    """Show the given columns (name -> label key) of a frame; returns the selected row indexes."""
    df, height = display_frame(df, height)
    present = [c for c in columns if c in df.columns]
    view = df.select(present).rename({c: t(columns[c]) for c in present})
    if selectable:
        event = st.dataframe(view, key=key, hide_index=True, on_select="rerun", selection_mode="single-row",
                             width="stretch", height=height)
        return list(event.selection.rows) if event and event.selection else []
    st.dataframe(view, key=key, hide_index=True, width="stretch", height=height)
    return []


def select_one(df: pl.DataFrame, columns: dict[str, str], key: str, id_column: str = "id",
               height: int | str = "auto"):
    """Show a table whose rows can be picked; returns the picked record's id (or None).

    The selection follows the record, not the position: the widget's key carries a digest of the ids
    shown, so when the rows change (another page, filter, search, a write) the old selection is
    dropped instead of pointing at whichever record now sits in that position."""
    ids = df[id_column].to_list() if id_column in df.columns else []
    digest = hashlib.sha1(repr(ids).encode()).hexdigest()[:12]
    picked = show(df, columns, key=f"{key}_{digest}", selectable=True, height=height)
    return ids[picked[0]] if picked and 0 <= picked[0] < len(ids) else None


def select_many(df: pl.DataFrame, columns: dict[str, str], key: str, id_column: str = "id",
                height: int | str = "auto") -> list:
    """A table whose rows can be ticked; returns the ticked records' ids (dropped when the rows change,
    like `select_one`)."""
    ids = df[id_column].to_list() if id_column in df.columns else []
    digest = hashlib.sha1(repr(ids).encode()).hexdigest()[:12]
    present = [c for c in columns if c in df.columns]
    view, height = display_frame(df.select(present).rename({c: t(columns[c]) for c in present}), height)
    event = st.dataframe(view, key=f"{key}_{digest}", hide_index=True, on_select="rerun",
                         selection_mode="multi-row", width="stretch", height=height)
    rows = list(event.selection.rows) if event and event.selection else []
    return [ids[i] for i in rows if 0 <= i < len(ids)]


def current_page(state_key: str, page_size: int, fetch) -> tuple[pl.DataFrame, int, int, int]:
    """The page the user is on (1-based, kept in session state under `state_key`), read with
    `fetch(page_index) -> (rows, total)`; when the list shrank under the user (a filter, someone's write)
    its last page instead. Returns (rows, total, page, pages)."""
    state = st.session_state
    page = int(state.get(state_key, 1))
    df, total = fetch(page - 1)
    pages = max(1, -(-total // page_size))
    if page > pages:
        state[state_key] = page = pages
        df, total = fetch(page - 1)
    return df, total, page, pages
