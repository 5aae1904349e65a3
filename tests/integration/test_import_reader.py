"""Issue 9, point 1 (files): every real file of ../shared/data is sniffed and read whole, compared with an
independent reading (Python's csv module; the sheet XML for .xlsx); encodings (UTF-8, BOM, GB18030,
an override of a wrong guess), delimiters (comma, semicolon, tab) with quoted multi-line fields, blank
rows skipped but counted in "_row", headers trimmed and made unique, text kept as text (leading zeros),
Excel workbooks through fastexcel, and bad files refused with a typed error and a catalogue key."""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import re
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest

from core.errors import ValidationError
from core.i18n import translate
from core.imports import reader
from core.imports.dates import parse_dates

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FILES = sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".gz", ".xlsx"))
pytestmark = pytest.mark.skipif(not FILES, reason="../shared/data is not here")


def _csv_rows(path: Path, encoding: str) -> list[list[str]]:
    """The independent reading: Python's csv module, blank records dropped."""
    opener = gzip.open if path.suffix == ".gz" else open
    csv.field_size_limit(1 << 30)
    with opener(path, "rt", encoding=encoding, newline="") as f:
        return [r for r in csv.reader(f) if any(c.strip() for c in r)]


def _xlsx_rows(path: Path) -> int:
    """Rows with at least one value in the first sheet's XML, counted without fastexcel."""
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    return sum(1 for body in re.findall(r"<row[^>]*>(.*?)</row>", xml, re.S) if "<v>" in body or "<is>" in body)


def _as_rows(frame: pl.DataFrame) -> list[list[str | None]]:
    return [list(r) for r in frame.drop("_row").iter_rows()]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_real_file_reads_whole(path):
    info = reader.sniff(path, path.name)
    frame = reader.read(path, info)
    assert frame.columns[-1] == "_row" and frame.schema["_row"] == pl.Int64
    assert all(t == pl.String for c, t in frame.schema.items() if c != "_row")
    assert len(set(frame.columns)) == frame.width
    if path.suffix == ".xlsx":
        assert info.kind == "xlsx" and info.sheet == "Sheet1"
        assert frame.height == _xlsx_rows(path) - 1
        return
    assert info.kind == "csv" and info.delimiter == ","
    enc = "gb18030" if "gb18030" in path.name else "utf-8"
    assert info.encoding == enc
    rows = _csv_rows(path, enc)
    assert frame.height == len(rows) - 1                       # the header is not a row
    assert info.headers == [" ".join(h.split()) for h in rows[0]]
    assert info.sample.height == min(100, frame.height)
    expected = [[c if c != "" else None for c in r] for r in rows[1:]]
    if path.stat().st_size < 5_000_000:                         # every cell, as text
        assert _as_rows(frame) == expected
    else:
        assert _as_rows(frame.head(50)) == expected[:50]
        assert _as_rows(frame.tail(50)) == expected[-50:]
    # no blank record in these files: the row a spreadsheet shows is the record's position + 1
    assert frame["_row"].to_list()[:3] == [2, 3, 4]


def test_full_retail_file_reads_in_seconds():
    path = DATA / "online_retail" / "online_retail_full.csv.gz"
    start = time.perf_counter()
    info = reader.sniff(path, path.name)
    frame = reader.read(path, info)
    took = time.perf_counter() - start
    assert info.compressed == "gzip"
    assert frame.height == 541_909
    assert frame["_row"][-1] == 541_910
    assert took < 15, took        # about 0.5 s on the build machine; generous for a busy CI box
    # text stays text: stock codes such as "85123A" and invoice "C536379" (a cancellation)
    assert frame.filter(pl.col("InvoiceNo").str.starts_with("C")).height > 9000


def test_chinese_customers_same_frame_in_utf8_and_gb18030():
    folder = DATA / "cn_customers"
    utf8 = folder / "cn_customers_faker_1000.csv"
    gb = folder / "cn_customers_faker_1000.gb18030.csv"
    i1, i2 = reader.sniff(utf8, utf8.name), reader.sniff(gb, gb.name)
    assert (i1.encoding, i2.encoding) == ("utf-8", "gb18030")
    f1, f2 = reader.read(utf8, i1), reader.read(gb, i2)
    assert f1.height == 1000 and f1.equals(f2)
    assert "手机号" in f1.columns and "注册日期" in f1.columns
    # ids and post codes stay text with their zeros
    assert f1["邮编"].str.len_chars().min() == 6
    assert f1["身份证号"].str.len_chars().max() == 18
    # a wrong manual choice is refused with a message, not garbage
    with pytest.raises(ValidationError) as err:
        reader.read(gb, reader.FileInfo(**{**i2.__dict__, "encoding": "utf-8"}))
    assert err.value.key == "import.bad_encoding"


def test_maven_pipeline_resaved_by_excel_reads_to_the_same_dates():
    folder = DATA / "maven_crm"
    iso, xl = folder / "sales_pipeline.csv", folder / "sales_pipeline_resaved_by_excel.csv"
    a = reader.read(iso, reader.sniff(iso, iso.name))
    b = reader.read(xl, reader.sniff(xl, xl.name))
    assert a.height == b.height == 8800
    assert a["opportunity_id"].equals(b["opportunity_id"])
    assert b["engage_date"].drop_nulls()[0].count("/") == 2
    for col in ("engage_date", "close_date"):
        ra, rb = parse_dates(a[col]), parse_dates(b[col])
        assert (ra.order, rb.order, rb.ambiguous) == ("ymd", "mdy", False)
        assert not ra.bad.any() and not rb.bad.any()
        assert ra.values.equals(rb.values)
        assert ra.values.null_count() == a[col].null_count() > 0      # open deals have no close date


def test_xlsx_sample_is_text_with_row_numbers():
    path = DATA / "online_retail" / "online_retail_sample_40k.xlsx"
    info = reader.sniff(path, path.name)
    assert info.sheets == ["Sheet1"] and info.headers[:2] == ["InvoiceNo", "StockCode"]
    frame = reader.read(path, info)
    assert frame.height == 40_000 and frame["_row"].to_list()[:2] == [2, 3]
    ids = frame["CustomerID"].drop_nulls()
    assert ids.str.contains(r"\.").sum() == 0                     # 17850, not 17850.0
    when = parse_dates(frame["InvoiceDate"])
    assert not when.bad.any() and when.values.min() >= dt.datetime(2010, 12, 1)


def _workbook(path: Path):
    import xlsxwriter
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Clients")
    wb.add_worksheet("Notes").write(0, 0, "nothing here")
    hidden = wb.add_worksheet("Secret")
    hidden.hide()
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(2, 1, [" name ", "phone", "since", "name"])       # the table starts at B3
    ws.write_row(3, 1, ["王伟", "0138000", None, "x"])
    ws.write_datetime(3, 3, dt.datetime(2024, 3, 5), day)
    ws.write_row(5, 1, ["Li", 13800000000, 45357])                  # row 5 left blank; a raw serial
    wb.close()


def test_xlsx_rows_as_the_spreadsheet_shows_them(tmp_path):
    path = tmp_path / "clients.xlsx"
    _workbook(path)
    info = reader.sniff(path.read_bytes(), "clients.xlsx")
    assert info.sheets == ["Clients", "Notes"] and info.sheet == "Clients"
    assert info.headers == ["name", "phone", "since", "name_2"]
    frame = reader.read(path.read_bytes(), info)
    assert frame.rows() == [("王伟", "0138000", "2024-03-05 00:00:00", "x", 4),
                            ("Li", "13800000000", "45357", None, 6)]
    assert (info.header_row, info.rows, info.blank_rows) == (3, 2, 1)
    dates = parse_dates(frame["since"])
    assert dates.values.to_list() == [dt.datetime(2024, 3, 5), dt.datetime(2024, 3, 6)]
    other = reader.sniff(path, "clients.xlsx", sheet="Notes")
    assert other.sheet == "Notes" and other.headers == ["nothing here"]
    with pytest.raises(ValidationError) as err:
        reader.sniff(path, "clients.xlsx", sheet="Missing")
    assert err.value.key == "import.no_sheet"


MULTILINE = [["id", "name", "note"],
             ["007", "Wang, Wei", "first line\nsecond line"],
             ["008", 'say "hi"', "a;b\tc"],
             ["009", "", "x"]]


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_delimiters_with_quoted_multiline_fields_and_blank_lines(delimiter):
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerows(MULTILINE[:2])
    buf.write("\r\n")                                        # a blank line: row 4 of the spreadsheet
    w.writerows(MULTILINE[2:])
    data = buf.getvalue().encode("utf-8")
    info = reader.sniff(data, "x.csv")
    assert info.delimiter == delimiter and info.has_header and info.headers == ["id", "name", "note"]
    frame = reader.read(data, info)
    assert frame.rows() == [("007", "Wang, Wei", "first line\nsecond line", 2),
                            ("008", 'say "hi"', "a;b\tc", 4),
                            ("009", None, "x", 5)]
    assert (info.rows, info.blank_rows, info.header_row) == (3, 1, 1)


def test_bom_is_not_part_of_the_first_header():
    data = codecs.BOM_UTF8 + "客户,电话\n王伟,013800000000\n".encode("utf-8")
    info = reader.sniff(data, "bom.csv")
    assert info.encoding == "utf-8-sig" and info.headers == ["客户", "电话"]
    assert reader.read(data, info).rows() == [("王伟", "013800000000", 2)]


def test_utf16_excel_unicode_text():
    data = "name\tphone\nWang\t0138\n".encode("utf-16")
    info = reader.sniff(data, "unicode.txt")
    assert info.encoding == "utf-16" and info.delimiter == "\t"
    assert reader.read(data, info).rows() == [("Wang", "0138", 2)]


def test_override_of_a_wrong_guess():
    text = "name;city\nRéne;Köln\nZoë;Montréal\n"
    data = text.encode("cp1252")
    guessed = reader.sniff(data, "west.csv")
    assert guessed.encoding != "utf-8"                       # not UTF-8: the guess is a guess
    fixed = reader.sniff(data, "west.csv", encoding="cp1252")
    assert fixed.encoding == "cp1252" and fixed.detected["encoding"] is None
    assert reader.read(data, fixed).rows() == [("Réne", "Köln", 2), ("Zoë", "Montréal", 3)]
    # delimiter and header overrides
    raw = b"13800000000,Wang\n13900000000,Li\n"
    info = reader.sniff(raw, "nohead.csv")
    assert not info.has_header and info.headers == ["column_1", "column_2"]
    assert reader.read(raw, info)["_row"].to_list() == [1, 2]
    forced = reader.sniff(raw, "nohead.csv", has_header=True)
    assert forced.headers == ["13800000000", "Wang"] and reader.read(raw, forced).height == 1
    semi = b"a;b,c\n1;2,3\n"
    assert reader.sniff(semi, "s.csv", delimiter=",").headers == ["a;b", "c"]
    assert reader.sniff(semi, "s.csv", delimiter=";").headers == ["a", "b,c"]


def test_headers_trimmed_unique_and_never_row():
    data = b" name ,name,,_row,Name\n1,2,3,4,5\n"
    info = reader.sniff(data, "h.csv")
    assert info.headers == ["name", "name_2", "column_3", "_row_2", "Name_3"]
    assert reader.read(data, info).row(0) == ("1", "2", "3", "4", "5", 2)


def test_ragged_rows_and_stray_quotes_are_kept():
    data = b'id,name\n1,a,EXTRA\n2\n3,5" screen\n4,"x"y\n'
    info = reader.sniff(data, "r.csv")
    frame = reader.read(data, info)
    assert frame.height == 4 and frame["_row"].to_list() == [2, 3, 4, 5]
    assert frame.columns == ["id", "name", "column_3", "_row"]
    assert frame["column_3"].to_list() == ["EXTRA", None, None, None]
    assert frame["name"].to_list()[2] == '5" screen'


def test_cr_only_line_ends():
    data = b"a,b\r1,2\r3,4\r"
    assert reader.read(data, reader.sniff(data, "mac.csv")).rows() == [("1", "2", 2), ("3", "4", 3)]


@pytest.mark.parametrize("data,name,key", [
    (b"", "e.csv", "import.empty"),
    (b"   \n\n", "e.csv", "import.empty"),
    (b"a,b\n\n,\n", "e.csv", None),                          # a header and blank rows: an empty frame
    (b"\x00\x01\x02binary\x00", "b.csv", "import.bad_file"),
    (b"a,b\n1,2\n", "not_really.xlsx", "import.bad_file"),
    (b"PK\x03\x04broken zip", "x.xlsx", "import.bad_file"),
    (b"\x1f\x8bnot gzip", "x.csv.gz", "import.bad_file"),
])
def test_bad_files_are_refused_with_a_message(data, name, key):
    if key is None:
        info = reader.sniff(data, name)
        assert reader.read(data, info).height == 0 and info.headers == ["a", "b"]
        return
    with pytest.raises(ValidationError) as err:
        reader.read(data, reader.sniff(data, name))
    assert err.value.key == key
    for lang in ("en", "zh"):
        assert translate(lang, err.value.key, **err.value.params) != err.value.key


def test_too_big_and_gzip(tmp_path):
    body = ("id,name\n" + "".join(f"{i:06d},n{i}\n" for i in range(50_000))).encode()
    gz = tmp_path / "big.csv.gz"
    gz.write_bytes(gzip.compress(body))
    info = reader.sniff(gz, gz.name)
    frame = reader.read(gz, info)
    assert frame.height == 50_000 and frame["id"][0] == "000000"
    with pytest.raises(ValidationError) as err:
        reader.sniff(gz, gz.name, max_mb=0.5)               # the limit applies to what it unpacks to
    assert err.value.key == "import.too_big" and err.value.params["max"] == 0.5
    with pytest.raises(ValidationError) as err:
        reader.read(body, info, max_mb=0.1)
    assert err.value.key == "import.too_big"


def test_gbk_saved_by_chinese_excel_is_detected_and_named_gb18030():
    text = "姓名,手机号,城市\r\n王伟,013800000000,上海\r\n李娜,13900000000,北京\r\n"
    data = text.encode("gbk")
    info = reader.sniff(data, "excel_cn.csv")
    assert info.encoding == "gb18030" and info.headers == ["姓名", "手机号", "城市"]
    assert reader.read(data, info).rows() == [("王伟", "013800000000", "上海", 2), ("李娜", "13900000000", "北京", 3)]
    assert reader.sniff(data, "excel_cn.csv", encoding="GBK").encoding == "gb18030"
    with pytest.raises(ValidationError) as err:
        reader.sniff(data, "excel_cn.csv", encoding="no-such-codec")
    assert err.value.key == "import.bad_encoding"


def test_sample_of_a_big_file_is_what_read_returns():
    long_note = "line\n" * 2000                                  # 10 kB cells over many lines
    rows = [["id", "note"]] + [[f"{i:04d}", f"{i} {long_note}"] for i in range(120)]
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows(rows)
    data = buf.getvalue().encode("utf-8")
    assert len(data) > reader.SNIFF_BYTES
    info = reader.sniff(data, "long.csv")
    frame = reader.read(data, info)
    assert frame.height == 120
    assert info.sample.height < 120 and info.sample.equals(frame.head(info.sample.height))


def test_leading_blank_lines_and_a_late_ragged_row_in_a_big_file():
    data = b"\r\n\r\nname,phone\r\nWang,0138\r\n"
    info = reader.sniff(data, "lead.csv")
    assert info.headers == ["name", "phone"]
    assert reader.read(data, info).rows() == [("Wang", "0138", 4)]
    assert (info.header_row, info.blank_rows) == (3, 0)
    body = "id,name\n" + "".join(f"{i},n{i}\n" for i in range(300_000)) + 'late,"a\nb",EXTRA\n'
    start = time.perf_counter()
    frame = reader.read(body.encode(), reader.sniff(body.encode(), "big.csv"))
    took = time.perf_counter() - start
    assert frame.height == 300_001 and frame.columns == ["id", "name", "column_3", "_row"]
    assert frame.tail(1).rows() == [("late", "a\nb", "EXTRA", 300_002)]
    assert took < 10, took     # bulk (polars + numpy), not the Python csv module: about 0.3 s
