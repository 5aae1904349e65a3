"""A manager downloads the customers list in real Chromium: the file is made on the click (Streamlit's
deferred download, on a thread of its own), holds every row of the filtered list with Chinese headers,
a BOM and neutralised formulas; the Excel file too. Screenshot in test-artifacts/e2e/."""
from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from core import auth, customers, setup
from tests.e2e.test_journey import browser, running_app, settle, shot  # noqa: F401  (the module's browser)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_export")
    con, _ = setup.open_database(tmp / "crm.duckdb", "XS")
    con.execute("UPDATE users SET must_change_password = FALSE WHERE username = 'manager'")
    boss = auth.actor_for(con, "admin")
    manager = auth.actor_for(con, "manager")
    for i in range(60):  # more than a page of the list
        customers.create_customer(con, boss, {"name": f"导出测试 {i:02d}", "city": "=HYPERLINK(\"x\")" if i == 0 else "上海"},
                                  owner_id=manager.id, team_id=manager.team_id)
    con.close()
    with running_app(tmp) as url:
        yield url, tmp


def test_a_manager_downloads_every_row_of_the_filtered_customers_list(server, browser):  # noqa: F811
    url, tmp = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.goto(url)
    settle(page)
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password", exact=True).fill("Demo#2026")
    page.get_by_role("button", name="Log in").click()
    settle(page)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").click()
    page.keyboard.type("简体")  # the picker sits at the foot of a long menu: pick by typing, not by a listed option
    page.keyboard.press("Enter")
    settle(page)
    sidebar.get_by_role("link", name="客户", exact=True).click()
    settle(page)
    page.get_by_label("搜索").first.fill("导出测试")
    page.keyboard.press("Enter")
    settle(page)
    expect(page.get_by_role("button", name="下载 CSV")).to_be_visible(timeout=30_000)
    shot(page, "21-customers-export-buttons-zh")
    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="下载 CSV").click()
    data = open(got.value.path(), "rb").read()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "名称"
    assert len(rows) == 61  # every row of the filtered list, not the first page
    assert any(r[5] == "'=HYPERLINK(\"x\")" for r in rows[1:])
    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="下载 Excel").click()
    assert open(got.value.path(), "rb").read(2) == b"PK"  # a zip: the .xlsx
    assert got.value.suggested_filename.endswith(".xlsx")
