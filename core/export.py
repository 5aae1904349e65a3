"""One export service for every table: CSV (UTF-8 with a BOM, so Excel reads Chinese) and Excel .xlsx.

Both:
- check the `export` permission of the table's module first (a sales rep has none by default);
- write the frame the caller gives and nothing else: the caller has already read it under the
  actor's scope and the user's filters (a list's rows, a report's table). Nothing here queries rows;
  `all_rows` only calls the list function the page itself calls, with one large page;
- write the columns of `labels` (column -> catalogue key), in that order, headed by their labels in
  the user's language, except a column headed by a field the user's role may not see (core.fields
  view_roles, built-in or custom): field permissions hold whatever frame the caller passes;
- show values as the lists show them: timestamps (stored naive UTC) in the company's time zone
  (core.clock), dates as YYYY-MM-DD, booleans as ✓, missing values as empty cells;
- neutralise formula injection (CSV injection): a text cell starting with = + - @ tab or CR gets an
  apostrophe in front, so a spreadsheet shows it as text instead of running it. Numbers stay numbers:
  numeric columns are never touched, and a text cell that is a plain negative number ("-12.5") is left
  as it is;
- write one audit row (action "export", entity = the module, field "rows", new value = the row count)
  in its own unit of work, after the file was built.

At most MAX_ROWS rows per file (a larger frame is refused with a translated message): measured on this
2-core machine, 200,000 rows x 12 columns take about 1 s as CSV and about 8 s as .xlsx (see
tests/integration/test_export.py and the helper's note); the page fetches at most MAX_ROWS rows and
says so when the list holds more.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any, Callable

import duckdb
import polars as pl

from core import access, audit, clock, db
from core.context import Actor
from core.errors import PermissionDenied, ValidationError
from core.i18n import translate

MAX_ROWS = 100_000
BOM = "\ufeff".encode("utf-8")
CSV_MIME = "text/csv"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_DANGER = r"^[=+\-@\t\r]"          # what a spreadsheet may read as the start of a formula
_PLAIN_NEGATIVE = r"^-\d+(\.\d+)?$"  # ...except a plain negative number, which stays a number
_DATETIME_FMT = "%Y-%m-%d %H:%M"    # as the lists show a time (ui.tables.display_frame)
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor, module: str) -> bool:
    """Whether the actor may export this module's tables (the page shows the buttons or not)."""
    return access.can(con, actor, module, "export")


def _require(con: duckdb.DuckDBPyConnection, actor: Actor, module: str) -> None:
    if not access.can(con, actor, module, "export"):
        raise PermissionDenied("export.denied", module=module)


def hidden_labels(con: duckdb.DuckDBPyConnection, role: str) -> set[str]:
    """The label keys of the fields (built-in and custom, of every object) the role may not see."""
    from core import fields

    return {f.label for obj in fields.OBJECTS for f in fields.definitions(con, obj).values()
            if not f.visible_to(role)}


def _visible(con: duckdb.DuckDBPyConnection, actor: Actor, labels: dict[str, str]) -> dict[str, str]:
    """Field permissions: a column headed by a field the actor's role may not see is never written,
    whatever the frame the caller passed holds."""
    hidden = hidden_labels(con, actor.role)
    return {col: key for col, key in labels.items() if key not in hidden}


def all_rows(list_fn: Callable[..., tuple[pl.DataFrame, int]], con: duckdb.DuckDBPyConnection, actor: Actor,
             *args: Any, limit: int = MAX_ROWS, **kwargs: Any) -> tuple[pl.DataFrame, int]:
    """What a list shows under its filters, every page at once (up to `limit` <= MAX_ROWS rows), and how
    many rows the list holds in all: the list function the page calls (so the same scope, filters and
    sort), asked once for one large page, never row by row."""
    from core import listing

    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ROWS:
        raise ValidationError("export.too_many", max=f"{MAX_ROWS:,}")
    with listing.large_pages(MAX_ROWS):
        return list_fn(con, actor, *args, page=0, page_size=limit, **kwargs)


# ------------------------------------------------------------------------------------- the frame
def neutralise(expr: pl.Expr) -> pl.Expr:
    """A text column with every formula-like cell prefixed by an apostrophe (see the module doc)."""
    danger = expr.str.contains(_DANGER) & ~expr.str.contains(_PLAIN_NEGATIVE)
    return pl.when(danger.fill_null(False)).then(pl.lit("'") + expr).otherwise(expr)


def _headers(labels: dict[str, str], present: list[str], lang: str) -> list[str]:
    """The columns' labels in the user's language, made unique (a sheet needs distinct headers)."""
    out: list[str] = []
    for col in present:
        text = translate(lang, labels[col])
        if re.match(_DANGER, text):
            text = "'" + text
        base, n = text, 2
        while text in out:
            text, n = f"{base} ({n})", n + 1
        out.append(text)
    return out


def _prepared(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, labels: dict[str, str], lang: str,
              for_xlsx: bool) -> pl.DataFrame:
    """The labelled columns as the user reads them, text neutralised, headed by translated labels."""
    if not isinstance(frame, pl.DataFrame):
        raise ValidationError("export.bad_table")
    if frame.height > MAX_ROWS:
        raise ValidationError("export.too_many", max=f"{MAX_ROWS:,}")
    present = [c for c in labels if c in frame.columns]
    tz = clock.zone(con).key
    out = []
    for name in present:
        dtype, col = frame.schema[name], pl.col(name)
        if isinstance(dtype, pl.Datetime):
            local = col.dt.replace_time_zone("UTC") if dtype.time_zone is None else col
            local = local.dt.convert_time_zone(tz).dt.replace_time_zone(None)
            out.append(local.dt.truncate("1m") if for_xlsx else local.dt.strftime(_DATETIME_FMT))
        elif dtype == pl.Date:
            out.append(col if for_xlsx else col.dt.strftime("%Y-%m-%d"))
        elif dtype == pl.Boolean:
            out.append(pl.when(col).then(pl.lit("✓")).otherwise(pl.lit("")))
        elif isinstance(dtype, pl.Decimal):
            out.append(col.cast(pl.Float64) if for_xlsx else col)
        elif dtype.is_numeric():
            out.append(col)
        elif dtype == pl.Null:
            out.append(col.cast(pl.String))
        elif isinstance(dtype, (pl.List, pl.Array)):
            out.append(neutralise(col.cast(pl.List(pl.String)).list.join(", ")))
        else:
            out.append(neutralise(col.cast(pl.String)))
    prepared = frame.select([e.alias(n) for e, n in zip(out, present)])
    return prepared.rename(dict(zip(present, _headers(labels, present, lang))))


def _audit(con: duckdb.DuckDBPyConnection, actor: Actor, module: str, rows: int) -> None:
    db.write(con, lambda: audit.record(con, actor, "export", module, None, {"rows": (None, rows)}))


# ------------------------------------------------------------------------------------- the files
def to_csv(con: duckdb.DuckDBPyConnection, actor: Actor, module: str, frame: pl.DataFrame,
           labels: dict[str, str], lang: str | None = None) -> bytes:
    """The frame's labelled columns as CSV: UTF-8 with a BOM, a header row of translated labels."""
    _require(con, actor, module)
    table = _prepared(con, frame, _visible(con, actor, labels), lang or actor.language, for_xlsx=False)
    buffer = io.BytesIO()
    buffer.write(BOM)
    table.write_csv(buffer, null_value="")
    _audit(con, actor, module, table.height)
    return buffer.getvalue()


def _sheet_name(name: str | None) -> str:
    text = _SHEET_BAD.sub(" ", (name or "").strip()).strip("'")[:31]
    return text or "Sheet1"


def to_xlsx(con: duckdb.DuckDBPyConnection, actor: Actor, module: str, frame: pl.DataFrame,
            labels: dict[str, str], lang: str | None = None, sheet: str | None = None) -> bytes:
    """The frame's labelled columns as an Excel workbook (one sheet, header row frozen); text cells are
    written as text (never as formulas or links), numbers as numbers, times as Excel times."""
    import xlsxwriter

    _require(con, actor, module)
    table = _prepared(con, frame, _visible(con, actor, labels), lang or actor.language, for_xlsx=True)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"constant_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False, "strings_to_numbers": False})
    ws = book.add_worksheet(_sheet_name(sheet))
    bold = book.add_format({"bold": True})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    formats = []
    for i, (name, dtype) in enumerate(table.schema.items()):
        fmt = stamp if isinstance(dtype, pl.Datetime) else day if dtype == pl.Date else None
        formats.append(fmt)
        ws.set_column(i, i, min(max(len(name) * 2, 10), 40), fmt)
    ws.freeze_panes(1, 0)
    for i, name in enumerate(table.columns):
        ws.write_string(0, i, name, bold)
    kinds = ["s" if dtype == pl.String else "n" if dtype.is_numeric() else "d"
             for dtype in table.schema.values()]
    write_string, write_number, write_datetime = ws.write_string, ws.write_number, ws.write_datetime
    for r, row in enumerate(table.iter_rows(), start=1):
        for i, value in enumerate(row):
            if value is None or value == "":
                continue
            kind = kinds[i]
            if kind == "s":
                write_string(r, i, value)
            elif kind == "n":
                if value == value and value not in (float("inf"), float("-inf")):  # NaN/inf: empty
                    write_number(r, i, value)
            elif isinstance(value, (dt.datetime, dt.date)):
                write_datetime(r, i, value, formats[i])
            else:
                write_string(r, i, str(value))
    book.close()
    _audit(con, actor, module, table.height)
    return buffer.getvalue()


def file_name(name: str, today: dt.date, extension: str) -> str:
    """A download's file name: the table's name (no path or reserved characters) and the day."""
    base = re.sub(r'[\\/:*?"<>|\r\n\t]+', " ", name or "").strip() or "export"
    return f"{base[:80]}-{today.isoformat()}.{extension}"
