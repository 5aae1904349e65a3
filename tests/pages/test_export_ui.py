"""The download buttons under the lists: shown to the roles that may export, never to a sales rep."""
from __future__ import annotations

import pytest

from tests.conftest import company_app, logged_in


@pytest.fixture
def app_db(tmp_path):
    with company_app(tmp_path) as company:
        yield company


def page_as(username: str, page: str, lang: str | None = None):
    return logged_in(username, lang).run().switch_page(page).run()


def test_a_manager_sees_csv_and_excel_downloads_on_the_customers_list(app_db):
    at = page_as("mgr", "views/customers.py")
    assert not at.exception
    assert [b.label for b in at.download_button] == ["Download CSV", "Download Excel"]
    at = page_as("mgr", "views/customers.py", lang="zh")
    assert [b.label for b in at.download_button] == ["下载 CSV", "下载 Excel"]


def test_a_rep_sees_no_download_on_the_customers_list(app_db):
    at = page_as("rep_a", "views/customers.py")
    assert not at.exception and not at.error
    assert len(at.dataframe) == 1  # the list is there...
    assert len(at.download_button) == 0  # ...but no way to take it away


def on_list(at, page: str):
    if page == "views/deals.py":  # the deals page opens on the board: switch to its list
        next(w for w in at.segmented_control if w.key == "deal_view").set_value("list").run()
    return at


@pytest.mark.parametrize("page", ["views/leads.py", "views/orders.py", "views/deals.py"])
def test_the_other_lists_offer_the_download_to_a_manager_only(app_db, page):
    at = on_list(page_as("mgr", page), page)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.dataframe) >= 1
    assert [b.label for b in at.download_button] == ["Download CSV", "Download Excel"]
    at = on_list(page_as("rep_a", page), page)
    assert not at.exception and not at.error
    assert len(at.dataframe) >= 1 and len(at.download_button) == 0
