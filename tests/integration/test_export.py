"""The export service (core/export.py): what a spreadsheet user gets from a CSV or Excel download, who
may download, and that every download leaves an audit row."""
from __future__ import annotations

import csv
import datetime as dt
import io

import polars as pl
import pytest

from core import customers, db, export, settings
from core.errors import PermissionDenied, ValidationError
from core.i18n import translate

LABELS = {"name": "customer.name", "phone": "customer.phone", "city": "customer.city",
          "amount": "order.amount", "last_activity_at": "customer.last_activity_at"}


def frame(**extra) -> pl.DataFrame:
    base = {"name": ["Alpha", "客户乙"], "phone": ["13800138000", "13800138001"], "city": ["上海", "Hangzhou"],
            "amount": [-1250.5, 3000.0], "last_activity_at": [dt.datetime(2026, 11, 22, 16, 30), None],
            "internal": ["not exported", "not exported"]}
    return pl.DataFrame({**base, **extra})


def rows_of(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))


def xlsx_rows(data: bytes) -> list[tuple]:
    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [tuple(c.value for c in row) for row in sheet.iter_rows()]


def test_csv_has_a_bom_and_translated_headers_in_the_users_language(company):
    mgr = company.actor("mgr")
    data = export.to_csv(company.con, mgr, "customers", frame(), LABELS, lang="zh")
    rows = rows_of(data)
    assert rows[0] == [translate("zh", k) for k in LABELS.values()]
    assert rows[0][:3] == ["名称", "电话", "城市"]  # real Chinese, not the keys
    assert "internal" not in data.decode("utf-8-sig") and "not exported" not in data.decode("utf-8-sig")
    assert rows[2][0] == "客户乙"


def test_timestamps_are_written_in_the_company_time_zone_as_the_lists_show_them(company):
    mgr = company.actor("mgr")
    rows = rows_of(export.to_csv(company.con, mgr, "customers", frame(), LABELS))
    assert rows[1][4] == "2026-11-23 00:30"  # 16:30 UTC is half past midnight next day in Shanghai
    assert rows[2][4] == ""  # missing: an empty cell, never "None"
    settings.set_value(company.con, company.actor("boss"), "company.timezone", "America/New_York")
    rows = rows_of(export.to_csv(company.con, mgr, "customers", frame(), LABELS))
    assert rows[1][4] == "2026-11-22 11:30"  # the company's zone, not the server's or a fixed one
    sheet = xlsx_rows(export.to_xlsx(company.con, mgr, "customers", frame(), LABELS))
    assert sheet[1][4] == dt.datetime(2026, 11, 22, 11, 30)


@pytest.mark.parametrize("evil", ["=1+2", "+SUM(A1)", "-2+3", "@SUM(A1)", "\tcmd", "\r=cmd",
                                  "=cmd|' /C calc'!A0", "-A1"])
def test_a_text_cell_that_a_spreadsheet_would_run_is_neutralised(company, evil):
    mgr = company.actor("mgr")
    df = frame(city=[evil, "ok"])
    rows = rows_of(export.to_csv(company.con, mgr, "customers", df, LABELS))
    assert rows[1][2] == "'" + evil
    assert rows[2][2] == "ok"
    sheet = xlsx_rows(export.to_xlsx(company.con, mgr, "customers", df, LABELS))
    # written as text, never as a formula (openpyxl leaves Excel's escape of a CR, _x000D_, as it is)
    assert sheet[1][2].replace("_x000D_", "\r") == "'" + evil
    assert isinstance(sheet[1][2], str)


def test_numbers_stay_numbers(company):
    mgr = company.actor("mgr")
    df = frame(city=["-42", "-3.5"])  # a plain negative number typed as text is not a formula
    rows = rows_of(export.to_csv(company.con, mgr, "customers", df, LABELS))
    assert [r[3] for r in rows[1:]] == ["-1250.5", "3000.0"]
    assert [r[2] for r in rows[1:]] == ["-42", "-3.5"]
    sheet = xlsx_rows(export.to_xlsx(company.con, mgr, "customers", df, LABELS))
    assert [r[3] for r in sheet[1:]] == [-1250.5, 3000.0]  # numeric cells, sums work in Excel


def test_xlsx_reads_back_with_translated_headers(company):
    mgr = company.actor("mgr")
    sheet = xlsx_rows(export.to_xlsx(company.con, mgr, "customers", frame(), LABELS, lang="zh", sheet="客户"))
    assert sheet[0] == tuple(translate("zh", k) for k in LABELS.values())
    assert sheet[1][:3] == ("Alpha", "13800138000", "上海")
    assert len(sheet) == 3


def test_a_rep_may_not_export_and_is_told_so_in_their_language(company):
    rep = company.actor("rep_a")
    for make in (export.to_csv, export.to_xlsx):
        with pytest.raises(PermissionDenied) as err:
            make(company.con, rep, "customers", frame(), LABELS)
        assert err.value.key == "export.denied"
    assert translate("zh", "export.denied", module="客户") == "您无权导出客户。"
    assert not export.allowed(company.con, rep, "customers")
    assert export.allowed(company.con, company.actor("mgr"), "customers")
    assert db.scalar(company.con, "SELECT count(*) FROM audit_log WHERE action = 'export'") == 0


def test_every_export_leaves_an_audit_row_with_the_module_and_the_row_count(company):
    mgr = company.actor("mgr")
    export.to_csv(company.con, mgr, "customers", frame(), LABELS)
    export.to_xlsx(company.con, mgr, "orders", frame().head(1), LABELS)
    logged = db.rows(company.con, "SELECT user_id, action, entity, field, new_value FROM audit_log "
                                  "WHERE action = 'export' ORDER BY id")
    assert [(r["user_id"], r["entity"], r["field"], r["new_value"]) for r in logged] == [
        (company.users["mgr"], "customers", "rows", "2"), (company.users["mgr"], "orders", "rows", "1")]


def test_all_rows_is_the_list_the_user_sees_every_page_in_one_query_and_capped(company):
    mgr, rep = company.actor("mgr"), company.actor("rep_a")
    boss = company.actor("boss")
    for i in range(30):
        customers.create_customer(company.con, boss, {"name": f"Bulk {i:02d}"}, owner_id=company.users["rep_a"],
                                  team_id=company.teams["east"])
    df, total = export.all_rows(customers.list_customers, company.con, mgr, {"q": "Bulk"}, sort="name", desc=False)
    assert total == 30 and df.height == 30
    assert df["name"].to_list() == [f"Bulk {i:02d}" for i in range(30)]
    # the rep's own scope, not more
    df, total = export.all_rows(customers.list_customers, company.con, rep, None)
    assert set(df["owner_id"].drop_nulls().to_list()) == {company.users["rep_a"]}
    # the cap: never more rows than asked, the list's own total kept
    df, total = export.all_rows(customers.list_customers, company.con, mgr, {"q": "Bulk"}, limit=10)
    assert (df.height, total) == (10, 30)
    with pytest.raises(ValidationError):
        export.all_rows(customers.list_customers, company.con, mgr, None, limit=export.MAX_ROWS + 1)
    # outside an export the lists keep their page limit
    with pytest.raises(ValidationError):
        customers.list_customers(company.con, mgr, None, page_size=501)


def test_a_frame_over_the_maximum_is_refused(company, monkeypatch):
    monkeypatch.setattr(export, "MAX_ROWS", 1)
    with pytest.raises(ValidationError) as err:
        export.to_csv(company.con, company.actor("mgr"), "customers", frame(), LABELS)
    assert err.value.key == "export.too_many"
