"""Import history (导入记录): the batches the user may see, with object, file, user, time, counts and
status; pick one to download its error file or to undo it (after a confirmation): core.imports.engine.undo
sends the batch's created rows to the recycle bin and restores the fields it updated, with the audit log.
A batch is undone once; the page says what the undo did."""
import json
from pathlib import Path

import polars as pl
import streamlit as st

from core import export
from core.imports import engine
from ui import errors, forms, tables
from ui import imports as words
from ui.i18n import t
from ui.session import actor, con

IMPORT_PAGE = "views/imports.py"
COLUMNS = {"id": "imp_ui.col_batch", "object": "imp_ui.col_object", "filename": "imp_ui.col_filename",
           "user": "imp_ui.col_user", "created_at": "imp_ui.col_time", "rows": "imp_ui.count_rows",
           "created": "imp_ui.count_created", "updated": "imp_ui.count_updated", "rejected": "imp_ui.count_rejected",
           "status": "imp_ui.col_status"}

me, c = actor(), con()
state = st.session_state
st.title(t("page.import_history"))
forms.show_flash()


def _counts(value) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return {}


def readable(df: pl.DataFrame) -> pl.DataFrame:
    """One row per batch as people read it: the object's and the status's names, the counts apart."""
    from core import imports as core_imports

    objects = {name: words.object_name(spec) for name, spec in core_imports.OBJECTS.items()}
    rows = []
    for r in df.iter_rows(named=True):
        counts = _counts(r.get("counts"))
        status = str(r.get("status") or "")
        rows.append({
            "id": r.get("id"),
            "object": objects.get(r.get("object"), str(r.get("object") or "")),
            "filename": r.get("filename") or "",
            "user": r.get("user") or r.get("created_by_name") or r.get("user_name") or "",
            "created_at": r.get("committed_at") or r.get("created_at"),
            "rows": counts.get("rows", r.get("rows_total")),
            "created": counts.get("created", r.get("rows_ok")),
            "updated": counts.get("updated"),
            "rejected": counts.get("rejected", r.get("rows_rejected")),
            "status": words.text_or(f"imp_ui.status_{status}", status),
            "_status": status,
        })
    schema = {"id": pl.Int64, "object": pl.String, "filename": pl.String, "user": pl.String,
              "created_at": pl.Datetime, "rows": pl.Int64, "created": pl.Int64, "updated": pl.Int64,
              "rejected": pl.Int64, "status": pl.String, "_status": pl.String}
    return pl.DataFrame(rows, schema=schema)


def _undo(batch_id: int) -> None:
    try:
        done = engine.undo(c, me, batch_id) or {}
    except Exception as exc:  # noqa: BLE001 - a message, never a trace
        forms.flash(errors.message(exc) if hasattr(exc, "key") else t("error.unexpected"), "error")
        return
    state.pop("imp_hist_confirm", None)
    removed = int(done.get("removed") or done.get("deleted") or done.get("created") or 0)
    restored = int(done.get("restored") or done.get("updated") or 0)
    forms.flash(t("imp_ui.undone", id=batch_id, removed=f"{removed:,}", restored=f"{restored:,}"))


def _error_bytes(row: dict, fmt: str) -> bytes | None:
    """The batch's error file as core wrote it (CSV); Excel made by core from the same rows."""
    maker = getattr(engine, "batch_error_file", None)
    if maker is not None:
        return maker(c, me, row["id"], fmt)
    path = row.get("error_file")
    if fmt == "csv" and path and Path(path).is_file():
        return Path(path).read_bytes()
    return None


def page() -> None:
    df = engine.batches(c, me)
    if df is None or df.is_empty():
        st.info(t("imp_ui.history_none"))
        st.page_link(IMPORT_PAGE, label=t("imp_ui.start_import"), icon=":material/upload_file:")
        return
    shown = readable(df)
    picked = tables.select_one(shown, COLUMNS, key="imp_hist")
    if picked is None:
        st.caption(t("imp_ui.history_pick"))
        return
    row = next(r for r in df.iter_rows(named=True) if r.get("id") == picked)
    info = shown.filter(pl.col("id") == picked).row(0, named=True)
    st.markdown(f"**{t('imp_ui.batch_title', id=picked, name=info['filename'] or '—')}**")
    for fmt, key, mime in (("csv", "imp_ui.error_csv", export.CSV_MIME), ("xlsx", "imp_ui.error_xlsx",
                                                                           export.XLSX_MIME)):
        data = None
        try:
            data = _error_bytes(row, fmt)
        except Exception:  # noqa: BLE001 - no file to offer
            data = None
        if data:
            st.download_button(t(key), data, file_name=f"import-{picked}-errors.{fmt}", mime=mime,
                               key=f"imp_hist_{fmt}_{picked}", on_click="ignore", icon=":material/download:")
    if info["_status"] == "undone":
        st.info(t("imp_ui.already_undone"))
        return
    if info["_status"] not in ("committed", "done", ""):
        return
    if state.get("imp_hist_confirm") != picked:
        st.button(t("imp_ui.undo", id=picked), key=f"imp_hist_undo_{picked}", icon=":material/undo:",
                  on_click=lambda: state.__setitem__("imp_hist_confirm", picked))
        return
    st.warning(t("imp_ui.undo_confirm", id=picked, created=f"{int(info['created'] or 0):,}",
                 updated=f"{int(info['updated'] or 0):,}"))
    a, b, _ = st.columns([2, 1, 3])
    a.button(t("imp_ui.undo_yes", id=picked), key=f"imp_hist_yes_{picked}", type="primary", on_click=_undo,
             args=(picked,))
    b.button(t("imp_ui.cancel"), key=f"imp_hist_no_{picked}", on_click=lambda: state.pop("imp_hist_confirm", None))


with errors.handled():
    page()
