"""Reading a user's file (读取导入文件): CSV (comma, semicolon, tab, pipe; quoted multi-line fields),
UTF-8 / UTF-8 with BOM / GBK-GB18030 / UTF-16 (detected, an explicit choice wins), gzip, and Excel
.xlsx/.xls through fastexcel.

    info = sniff(data, "clients.csv")          # encoding, delimiter, header, sheets, headers, sample
    frame = read(data, info)                   # every column String + "_row" (Int64)

Every cell is read as text, nothing is inferred (a phone "0138..." or an id "007" keeps its zeros).
Headers are trimmed and made unique ("name", "name_2"; blank ones become "column_3"). Blank rows
(no value in any cell) are skipped, but they still count in "_row": "_row" is the row number the
user sees in a spreadsheet (header = row 1), so an error file can point at the row to fix.

Speed: polars' native CSV reader on bytes (a GB18030 file is decoded to UTF-8 once, in bulk);
only a malformed file (stray quotes) falls back to Python's lenient csv module. Bad input never
raises anything but ValidationError("import.bad_file" | "import.bad_encoding" | "import.too_big" |
"import.empty" | "import.no_sheet").
"""
from __future__ import annotations

import codecs
import csv
import gzip
import html
import io
import re
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from core.errors import ValidationError

ROW = "_row"
SAMPLE_ROWS = 100
SNIFF_BYTES = 256 * 1024
DELIMITERS = (",", ";", "\t", "|")
DEFAULT_MAX_MB = 1024          # the default of the setting import.max_file_mb

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # legacy .xls
_GZIP = b"\x1f\x8b"


@dataclass
class FileInfo:
    filename: str
    kind: str                      # "csv" | "xlsx" (also .xls / .xlsm / .ods: calamine reads them)
    encoding: str | None           # "utf-8" | "utf-8-sig" | "gb18030" | "utf-16" | ... (None for Excel)
    delimiter: str | None          # None for Excel
    has_header: bool
    sheet: str | None              # Excel: the sheet read
    sheets: list[str]              # Excel: the visible sheets
    headers: list[str]             # trimmed, unique, never "_row"
    sample: pl.DataFrame           # the first rows, as read() returns them
    size: int = 0                  # bytes after decompression
    compressed: str | None = None  # "gzip"
    detected: dict = field(default_factory=dict)   # what sniff guessed, before overrides
    header_row: int = 1            # the header's row number in the spreadsheet (0: no header)
    rows: int | None = None        # set by read(): data rows read
    blank_rows: int | None = None  # set by read(): blank rows skipped (they still count in "_row")


# ---------------------------------------------------------------------------------------- bytes

def _limit(max_mb: float | None) -> int:
    return int((DEFAULT_MAX_MB if max_mb is None else max_mb) * 1024 * 1024)


def _too_big(size: int, limit: int):
    raise ValidationError("import.too_big", mb=round(size / 1024 / 1024, 1), max=round(limit / 1024 / 1024, 1))


# sniff(path) then read(path) (the command line): the file read and decoded once. sniff leaves what it read and
# decoded for this thread's next read of the same unchanged file, which takes it (nothing is kept after that).
_HANDOVER = threading.local()


def _file_key(data) -> tuple | None:
    if not isinstance(data, (str, Path)):
        return None
    try:
        st = Path(data).stat()
    except OSError:
        return None
    return str(Path(data).resolve()), st.st_size, st.st_mtime_ns


def _hand_over(data, raw: bytes, enc: str, utf8: bytes) -> None:
    key = _file_key(data)
    _HANDOVER.value = None if key is None else (key, raw, enc, utf8)


def _taken_over(data, raw: bytes, enc: str | None) -> bytes | None:
    """The UTF-8 bytes sniff made of this very file with the same encoding (or its guess), else None."""
    held, _HANDOVER.value = getattr(_HANDOVER, "value", None), None
    if held is None or held[1] is not raw or (enc is not None and enc != held[2]):
        return None
    return held[3]


def _load(data: bytes | bytearray | memoryview | str | Path, max_mb: float | None,
          reuse: bool = False) -> tuple[bytes, str | None]:
    """The file's bytes (gzip undone, size checked) and the compression seen. reuse: the bytes sniff read of
    this unchanged file, when it left them."""
    limit = _limit(max_mb)
    held = getattr(_HANDOVER, "value", None)
    if reuse and held is not None and _file_key(data) == held[0] and len(held[1]) <= limit:
        return held[1], None
    if isinstance(data, (str, Path)):
        path = Path(data)
        try:
            if path.stat().st_size > limit:
                _too_big(path.stat().st_size, limit)
            raw = path.read_bytes()
        except OSError:
            raise ValidationError("import.bad_file") from None
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise ValidationError("import.bad_file")
    if len(raw) > limit:
        _too_big(len(raw), limit)
    if raw[:2] == _GZIP:
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = d.decompress(raw, limit + 1)
            if len(out) > limit:
                _too_big(len(out), limit)
            # concatenated gzip members (rare) - gzip module handles them; size already bounded
            raw = out if d.eof and not d.unused_data else gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise ValidationError("import.bad_file") from None
        if len(raw) > limit:
            _too_big(len(raw), limit)
        return raw, "gzip"
    return raw, None


def _kind(raw: bytes, filename: str) -> str:
    if raw[:4] == _ZIP or raw[:8] == _OLE2:
        return "xlsx"
    if filename.lower().endswith((".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")):
        raise ValidationError("import.bad_file")   # named like a workbook, but it is not one
    return "csv"


# ------------------------------------------------------------------------------------- encoding

def _norm_encoding(name: str) -> str:
    try:
        n = codecs.lookup(name).name
    except LookupError:
        raise ValidationError("import.bad_encoding", encoding=str(name)[:40]) from None
    return {"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gbk": "gb18030", "gb2312": "gb18030",
            "gb18030": "gb18030"}.get(n, n)


def detect_encoding(raw: bytes) -> str:
    """BOM first; then strict UTF-8 over the whole file; then GB18030 (GBK/GB2312 are subsets);
    then Windows-1252 (a Western Excel export). A manual override always wins over this guess."""
    return _decode(raw, None)[0]


def _utf16(raw: bytes) -> str | None:
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    head = raw[:4000]
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4 and head[0::2].count(0) == 0:
        return "utf-16-le"
    if len(head) >= 4 and head[0::2].count(0) > len(head) // 4 and head[1::2].count(0) == 0:
        return "utf-16-be"
    return None


def _decode(raw: bytes, encoding: str | None) -> tuple[str, bytes]:
    """(encoding, the file as UTF-8 bytes without BOM), each decoded at most once, in bulk (C).
    With an encoding given, bad_encoding when the bytes are not that encoding."""
    if encoding is None:
        if raw[:3] == codecs.BOM_UTF8:
            encoding = "utf-8-sig"
        else:
            encoding = _utf16(raw)
    if encoding is None:
        for enc in ("utf-8", "gb18030", "cp1252"):
            try:
                return enc, _to_utf8(raw, enc)
            except ValidationError:
                continue
        return "latin-1", _to_utf8(raw, "latin-1")
    return encoding, _to_utf8(raw, encoding)


def _to_utf8(raw: bytes, encoding: str) -> bytes:
    """The file as UTF-8 bytes without BOM; bad_encoding if it does not decode."""
    try:
        if encoding in ("utf-8", "utf-8-sig"):
            if raw[:3] == codecs.BOM_UTF8:
                raw = raw[3:]
            raw.decode("utf-8")            # validates (fast, C); polars gets the bytes as they are
            return _newlines(raw)
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise ValidationError("import.bad_encoding", encoding=encoding) from None
    if text[:1] == "\ufeff":
        text = text[1:]
    return _newlines(text.encode("utf-8"))


def _newlines(utf8: bytes) -> bytes:
    """Old Mac files end lines with CR only: polars needs LF."""
    if b"\n" not in utf8 and b"\r" in utf8:
        return utf8.replace(b"\r", b"\n")
    return utf8


# ------------------------------------------------------------------------------------ delimiter

def _complete_head(text: str, limit_records: int = 400, truncated: bool = False) -> str:
    """The first records of the text, cut at a line end outside quotes; when the text is only the
    head of the file, a last record without its line end may be cut short: it is left out."""
    return text[: _cut(text, limit_records, truncated)]


def _cut(text: str, limit_records: int, truncated: bool = False) -> int:
    inside = False
    records = 0
    i = 0
    last = 0
    n = len(text)
    while i < n:
        j = text.find("\n", i)
        if j < 0:
            break
        inside ^= text.count('"', i, j) % 2 == 1
        if not inside:
            records += 1
            last = j + 1
            if records >= limit_records:
                return last
        i = j + 1
    return last if truncated and last else n


def detect_delimiter(text: str) -> str:
    """The candidate giving the most consistent field count (> 1) over the first records;
    a one-column file is read with ","."""
    best, best_score = ",", (0.0, 0)
    csv.field_size_limit(1 << 30)
    head = _complete_head(text)
    for d in DELIMITERS:
        if d not in head:
            continue
        counts = [len(r) for r in csv.reader(io.StringIO(head, newline=""), delimiter=d, strict=False) if r]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score > best_score:
            best, best_score = d, score
    return best


# ------------------------------------------------------------------------------------- parsing

def _csv_raw(utf8: bytes, delimiter: str) -> pl.DataFrame:
    """All records (header included) as String columns c0..cN; blank lines are rows of nulls."""
    if not utf8 or utf8.isspace():
        return pl.DataFrame()
    try:
        df = _polars_csv(utf8, delimiter, None)
    except Exception:  # noqa: BLE001 - more fields further down than in the first line (or a blank first line)
        try:
            df = _polars_csv(utf8, delimiter, _widest(utf8, delimiter))
        except Exception:  # noqa: BLE001 - stray quotes: the lenient reader keeps every row (slower, Python)
            return _csv_raw_lenient(utf8.decode("utf-8", errors="replace"), delimiter)
    return df.rename({c: f"c{i}" for i, c in enumerate(df.columns)})


def _polars_csv(utf8: bytes, delimiter: str, width: int | None) -> pl.DataFrame:
    extra = {} if width is None else {"schema": {f"c{i}": pl.String for i in range(width)},
                                      "missing_columns": "insert"}
    return pl.read_csv(io.BytesIO(utf8), has_header=False, separator=delimiter, infer_schema=False,
                       quote_char='"', encoding="utf8", truncate_ragged_lines=False,
                       raise_if_empty=False, comment_prefix=None, **extra)


def _widest(utf8: bytes, delimiter: str) -> int:
    """The largest number of fields of any record, counted in bulk (numpy): delimiters and line ends
    outside quotes (an even number of quotes before them)."""
    import numpy as np

    d = delimiter.encode("utf-8")
    if len(d) != 1:
        raise ValueError("multi-byte delimiter")
    arr = np.frombuffer(utf8, dtype=np.uint8)
    quotes = np.flatnonzero(arr == 34)
    ends = np.flatnonzero(arr == 10)
    ends = ends[np.searchsorted(quotes, ends) % 2 == 0]
    delims = np.flatnonzero(arr == d[0])
    delims = delims[np.searchsorted(quotes, delims) % 2 == 0]
    if not len(delims):
        return 1
    return int(np.bincount(np.searchsorted(ends, delims)).max()) + 1


def _csv_raw_lenient(text: str, delimiter: str) -> pl.DataFrame:
    csv.field_size_limit(1 << 30)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False))
    except csv.Error:
        raise ValidationError("import.bad_file") from None
    return _rows_frame(rows)


def _rows_frame(rows: list[list[str]]) -> pl.DataFrame:
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        return pl.DataFrame()
    cols = [[(r[i] if i < len(r) and r[i] != "" else None) for r in rows] for i in range(width)]
    return pl.DataFrame({f"c{i}": c for i, c in enumerate(cols)}, schema={f"c{i}": pl.String for i in range(width)})


_NUMBERISH = re.compile(r"^\s*[-+]?[\d][\d\s.,/:\-]*\s*$")


def _guess_header(first: list[str | None], rest: pl.DataFrame) -> bool:
    """A first row with a label and no number or date in it is a header (a headerless file of
    plain words is taken as one too: the wizard shows it and the user can say "no header")."""
    vals = [v.strip() for v in first if v is not None and v.strip()]
    if not vals:
        return False
    return not any(_NUMBERISH.match(v) for v in vals)


def clean_headers(names: list[str | None]) -> list[str]:
    """Trimmed, blank -> column_N (1-based), repeats -> name_2, name_3; never the reserved "_row"."""
    out: list[str] = []
    seen = {ROW.lower()}
    for i, n in enumerate(names):
        base = " ".join(str(n).split()) if n is not None else ""
        base = base.lstrip("\ufeff") or f"column_{i + 1}"
        name, k = base, 1
        while name.lower() in seen:
            k += 1
            name = f"{base}_{k}"
        seen.add(name.lower())
        out.append(name)
    return out


def _finish(raw: pl.DataFrame, has_header: bool | None) -> tuple[pl.DataFrame, bool, int, int]:
    """From the raw records (row i = spreadsheet row i + 1) to the named frame with "_row";
    also (has_header, the header's row number or 0, the blank rows skipped below it)."""
    if raw.width == 0 or raw.height == 0:
        raise ValidationError("import.empty")
    raw = raw.with_columns(pl.when(pl.col(c).str.len_bytes() == 0).then(None).otherwise(pl.col(c)).alias(c)
                           for c in raw.columns)
    raw = raw.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    cols = [c for c in raw.columns if c != ROW]
    # a blank row: every cell empty or spaces. Looked for in full only among rows whose first cell is blank.
    def empty(c: str) -> pl.Expr:
        return pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "")
    maybe = raw.filter(empty(cols[0]))
    blank_rows = maybe.filter(pl.all_horizontal([empty(c) for c in cols]))[ROW]
    raw = raw.with_columns(pl.col(ROW).is_in(blank_rows.implode()).alias("_blank") if blank_rows.len()
                           else pl.lit(False).alias("_blank"))
    kept = raw.filter(~pl.col("_blank")).drop("_blank") if blank_rows.len() else raw.drop("_blank")
    if kept.height == 0:
        raise ValidationError("import.empty")
    first = list(kept.row(0))[1:]
    if has_header is None:
        has_header = _guess_header(first, kept.slice(1, SAMPLE_ROWS).drop(ROW))
    if has_header:
        names = clean_headers(first)
        header_row = int(kept[ROW][0])
        body = kept.slice(1)
    else:
        names = clean_headers([None] * len(cols))
        header_row = 0
        body = kept
    blanks = int(raw.filter(pl.col("_blank") & (pl.col(ROW) > max(header_row, int(kept[ROW][0]) - 1))).height)
    body = body.rename(dict(zip(cols, names)))
    return body.select(*names, ROW), has_header, header_row, blanks


# ---------------------------------------------------------------------------------------- excel

def _workbook(raw: bytes):
    import fastexcel
    try:
        return fastexcel.read_excel(raw)
    except Exception:  # noqa: BLE001 - a corrupt or encrypted workbook
        raise ValidationError("import.bad_file") from None


def _visible_sheets(book, raw: bytes) -> list[str]:
    """The sheets a user sees (hidden ones left out), read from workbook.xml without loading any
    sheet; .xls / other formats: every sheet."""
    names = list(book.sheet_names)
    if raw[:4] != _ZIP:
        return names
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            xml = z.read("xl/workbook.xml").decode("utf-8", errors="replace")
    except (KeyError, zipfile.BadZipFile, OSError):
        return names
    hidden = set()
    for tag in re.findall(r"<(?:\w+:)?sheet\b[^>]*>", xml):
        if re.search(r'\bstate="(?:hidden|veryHidden)"', tag):
            m = re.search(r'\bname="([^"]*)"', tag)
            if m:
                hidden.add(html.unescape(m.group(1)))
    return [n for n in names if n not in hidden] or names


def _xlsx_raw(book, sheet: str | None, n_rows: int | None = None) -> pl.DataFrame:
    try:
        s = book.load_sheet(sheet if sheet is not None else 0, header_row=None, skip_rows=0,
                            dtypes="string", n_rows=n_rows)
        df = s.to_polars()
    except ValidationError:
        raise
    except Exception:  # noqa: BLE001
        raise ValidationError("import.bad_file") from None
    if df.width == 0:
        return pl.DataFrame()
    df = df.rename({c: f"c{i}" for i, c in enumerate(df.columns)})
    return df.with_columns(pl.col(c).cast(pl.String) for c in df.columns)


def _pick_sheet(sheets: list[str], all_names: list[str], sheet) -> str:
    if sheet is None or sheet == "":
        if not sheets:
            raise ValidationError("import.empty")
        return sheets[0]
    if isinstance(sheet, int) and 0 <= sheet < len(all_names):
        return all_names[sheet]
    if sheet in all_names:
        return sheet
    raise ValidationError("import.no_sheet", sheet=str(sheet)[:60])


# ----------------------------------------------------------------------------------------- API

def sniff(data: bytes | Path, filename: str, *, encoding: str | None = None, delimiter: str | None = None,
          has_header: bool | None = None, sheet: str | None = None, max_mb: float | None = None) -> FileInfo:
    """Looks at a file: its kind, encoding, delimiter, header row, sheets, headers and first rows.
    Any argument given wins over the guess (the wizard's "encoding: GB18030" etc.)."""
    try:
        return _sniff(data, filename, encoding, delimiter, has_header, sheet, max_mb)
    except ValidationError:
        raise
    except Exception:  # noqa: BLE001 - whatever the bytes are, the user gets a message, never a trace
        raise ValidationError("import.bad_file") from None


def _sniff(data, filename, encoding, delimiter, has_header, sheet, max_mb) -> FileInfo:
    filename = str(filename or (data.name if isinstance(data, Path) else "") or "")
    raw, compressed = _load(data, max_mb)
    if not raw or raw.isspace():
        raise ValidationError("import.empty")
    kind = _kind(raw, filename)
    if kind == "xlsx":
        book = _workbook(raw)
        names = list(book.sheet_names)
        sheets = _visible_sheets(book, raw)
        chosen = _pick_sheet(sheets, names, sheet)
        sample, hh, hrow, _ = _finish(_xlsx_raw(book, chosen, n_rows=SAMPLE_ROWS + 50), has_header)
        return FileInfo(filename, "xlsx", None, None, hh, chosen, sheets,
                        [c for c in sample.columns if c != ROW], sample.head(SAMPLE_ROWS), len(raw), compressed,
                        {"sheet": sheets[0] if sheets else None, "has_header": hh if has_header is None else None},
                        hrow)
    enc, utf8 = _decode(raw, _norm_encoding(encoding) if encoding else None)
    _hand_over(data, raw, enc, utf8)
    guessed_enc = enc if not encoding else None
    if b"\x00" in utf8[:SNIFF_BYTES]:
        raise ValidationError("import.bad_file")      # binary, not text
    head_text = utf8[:SNIFF_BYTES].decode("utf-8", errors="ignore")
    guessed_delim = detect_delimiter(head_text)
    delim = delimiter if delimiter else guessed_delim
    if delim in ("\\t", "tab", "TAB"):
        delim = "\t"
    if len(delim) != 1 or delim in ('"', "\n", "\r"):
        raise ValidationError("import.bad_delimiter", delimiter=delim[:5])
    head = _complete_head(head_text, SAMPLE_ROWS + 50, truncated=len(utf8) > SNIFF_BYTES)
    sample, hh, hrow, _ = _finish(_csv_raw(head.encode("utf-8"), delim), has_header)
    return FileInfo(filename, "csv", enc, delim, hh, None, [], [c for c in sample.columns if c != ROW],
                    sample.head(SAMPLE_ROWS), len(raw), compressed,
                    {"encoding": guessed_enc, "delimiter": guessed_delim, "has_header": hh if has_header is None else None},
                    hrow)


def read(data: bytes | Path, info: FileInfo, *, max_mb: float | None = None) -> pl.DataFrame:
    """The whole file as a frame: the columns of info.headers (String) and "_row" (Int64), read
    with info's encoding, delimiter, header flag and sheet. Blank rows skipped (still counted in
    "_row"; their number goes to info.blank_rows, the rows read to info.rows); no other row is ever
    dropped."""
    try:
        return _read(data, info, max_mb)
    except ValidationError:
        raise
    except Exception:  # noqa: BLE001
        raise ValidationError("import.bad_file") from None
    finally:
        _HANDOVER.value = None


def _read(data, info: FileInfo, max_mb) -> pl.DataFrame:
    raw, _ = _load(data, max_mb, reuse=True)
    if not raw or raw.isspace():
        raise ValidationError("import.empty")
    if info.kind == "xlsx":
        book = _workbook(raw)
        names = list(book.sheet_names)
        chosen = _pick_sheet(_visible_sheets(book, raw), names, info.sheet)
        frame, _, _, blanks = _finish(_xlsx_raw(book, chosen), info.has_header)
    else:
        enc = _norm_encoding(info.encoding) if info.encoding else None
        utf8 = _taken_over(data, raw, enc)
        if utf8 is None:
            _, utf8 = _decode(raw, enc)
        if b"\x00" in utf8[:SNIFF_BYTES]:
            raise ValidationError("import.bad_file")
        delim = info.delimiter or detect_delimiter(utf8[:SNIFF_BYTES].decode("utf-8", errors="ignore"))
        frame, _, _, blanks = _finish(_csv_raw(utf8, delim), info.has_header)
    info.rows, info.blank_rows = frame.height, blanks
    return frame
