"""Issue 9, tests (property-based): malformed files and values thrown at the reader and the date parser.
No exception but ValidationError (with a catalogue key) escapes; every record written is read back
(blank ones skipped but counted in "_row"); every value that is no date is flagged."""
from __future__ import annotations

import codecs
import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings, strategies as st

from core.errors import ValidationError
from core.i18n import catalogue
from core.imports import reader
from core.imports.dates import parse_dates

FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)
KEYS = set(catalogue("en"))


def _read_or_refuse(data: bytes, name: str, **kw):
    try:
        info = reader.sniff(data, name, **kw)
        frame = reader.read(data, info)
    except ValidationError as err:
        assert err.key in KEYS, err.key
        return None
    assert frame.columns[-1] == "_row" and frame.schema["_row"] == pl.Int64
    assert all(t == pl.String for c, t in frame.schema.items() if c != "_row")
    rows = frame["_row"].to_list()
    assert rows == sorted(set(rows)) and (not rows or rows[0] >= 1)
    return info, frame


@FAST
@given(st.binary(max_size=600), st.sampled_from(["x.csv", "x.xlsx", "x.txt", "x.csv.gz", ""]))
def test_random_bytes_never_crash(data, name):
    _read_or_refuse(data, name)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_behind_file_signatures(tail):
    for head in (b"PK\x03\x04", b"\x1f\x8b\x08\x00", codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                 b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        _read_or_refuse(head + tail, "f.xlsx" if head[:1] in (b"P", b"\xd0") else "f.csv")


def _write(rows, delimiter, terminator) -> str:
    """RFC 4180 as spreadsheets write it: a cell with the delimiter, a quote, CR or LF is quoted
    (Python's csv.writer leaves a lone CR bare when the line end is LF: a spreadsheet would split there)."""
    def cell(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if any(ch in c for ch in (delimiter, '"', "\r", "\n")) else c
    return "".join(delimiter.join(cell(c) for c in r) + terminator if r != [""] else '""' + terminator
                   for r in rows)


CELL = st.text(alphabet=st.sampled_from(list('ab 中é,;\t"\n\r0') + ["\u3000", "x"]), max_size=8)


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(rows=st.lists(st.lists(CELL, min_size=0, max_size=5), min_size=1, max_size=12),
       delimiter=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
       terminator=st.sampled_from(["\r\n", "\n"]))
def test_csv_text_round_trips(rows, delimiter, encoding, terminator):
    data = _write(rows, delimiter, terminator).encode(encoding)
    # without hints: never anything but a ValidationError
    _read_or_refuse(data, "f.csv")
    # with the file's delimiter and encoding: every non-blank record comes back, in place
    got = _read_or_refuse(data, "f.csv", delimiter=delimiter, encoding=encoding, has_header=True)
    nonblank = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not nonblank:
        assert got is None
        return
    info, frame = got
    width = max(len(r) for r in rows)
    data_rows = nonblank[1:]
    assert frame.height == len(data_rows)
    assert frame["_row"].to_list() == [n for n, _ in data_rows]
    assert frame.width - 1 == max(width, 1)
    expected = [tuple((r[i] if i < len(r) and r[i] != "" else None) for i in range(frame.width - 1)) + (n,)
                for n, r in data_rows]
    assert frame.rows() == expected


@FAST
@given(st.lists(st.one_of(st.none(), st.text(max_size=25),
                          st.text(alphabet="0123456789/-.:年月日 TZ", max_size=20)), max_size=30),
       st.sampled_from(["auto", "ymd", "mdy", "dmy"]), st.booleans(), st.sampled_from([None, True, False]))
def test_random_date_strings_are_parsed_or_flagged(values, order, with_time, serials):
    s = pl.Series("d", values, dtype=pl.String)
    r = parse_dates(s, order=order, with_time=with_time, serials=serials)
    assert len(r.values) == len(r.bad) == len(s)
    assert r.values.dtype == pl.Datetime("us") and r.bad.dtype == pl.Boolean
    empty = [v is None or v.strip(WHITE) == "" for v in values]
    for v, value, bad, e in zip(values, r.values.to_list(), r.bad.to_list(), empty):
        assert bad == (not e and value is None), (v, value, bad)
    assert r.order in ("ymd", "mdy", "dmy")


WHITE = " \t\n\x0b\x0c\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200b)))
# Unicode White_Space (what polars strips); Python's str.strip() also strips \x1c-\x1f: those are values


DAYS = st.datetimes(min_value=dt.datetime(1931, 1, 1), max_value=dt.datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0))
FORMS = {
    "iso": lambda d: d.strftime("%Y-%m-%d %H:%M:%S"),
    "isoT": lambda d: d.strftime("%Y-%m-%dT%H:%M:%S"),
    "slash": lambda d: f"{d.year}/{d.month}/{d.day} {d.hour}:{d.minute:02d}:{d.second:02d}",
    "compact": lambda d: d.strftime("%Y%m%d%H%M%S"),
    "cn": lambda d: f"{d.year}年{d.month}月{d.day}日 {d.hour}时{d.minute}分{d.second}秒",
    "mdy": lambda d: f"{d.month}/{d.day}/{d.year} {d.hour % 12 or 12}:{d.minute:02d}:{d.second:02d} "
                     f"{'PM' if d.hour >= 12 else 'AM'}",
    "dmy": lambda d: f"{d.day}.{d.month}.{d.year} {d.hour}:{d.minute:02d}:{d.second:02d}",
    "serial": lambda d: repr(round((d - dt.datetime(1899, 12, 30)).total_seconds() / 86400, 9)),
}


@FAST
@given(st.lists(DAYS, min_size=1, max_size=20), st.sampled_from(sorted(FORMS)))
def test_written_dates_read_back(days, form):
    s = pl.Series([FORMS[form](d) for d in days])
    order = {"mdy": "mdy", "dmy": "dmy"}.get(form, "auto")
    r = parse_dates(s, order=order)
    assert not r.bad.any()
    assert r.values.to_list() == days
    auto = parse_dates(s)
    if form in ("mdy", "dmy") and not auto.ambiguous:
        # told apart by the column itself: a day over 12 somewhere
        assert auto.values.to_list() == days or any(d.day == d.month for d in days)
