"""The merge page as a manager meets it: a link with two customer ids opens them side by side, each
differing field offers both values, the counts say what will move, the merge confirms and links to the
survivor, and the history (and the audit log, for an admin) undoes it. In Chinese too."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import customers
from tests.conftest import ROOT, company_app, logged_in

APP = ROOT / "app.py"
T0 = dt.datetime(2026, 10, 1, 8, 0)


@pytest.fixture
def page_db(tmp_path):
    def prepare(con, company):
        boss = company.actor("boss")
        loser = company.customers["rep_b"]
        customers.update_customer(con, boss, loser, {"city": "Hangzhou", "industry": "Textiles"})
        for i in range(3):
            con.execute("INSERT INTO activities (id, customer_id, kind, occurred_at, created_at) "
                        "VALUES (?, ?, 'call', ?, ?)", [900 + i, loser, T0, T0])
        con.execute("INSERT INTO deals (id, name, customer_id, stage, created_at, updated_at) "
                    "VALUES (901, 'Big deal', ?, 'proposal', ?, ?)", [loser, T0, T0])

    with company_app(tmp_path, prepare) as company:
        yield company


def page_as(username: str, page: str = "views/merge.py", lang: str | None = None, **query) -> AppTest:
    return logged_in(username, lang, **query).run().switch_page(page).run()


def read(sql, params=None):
    from ui.db import database

    return database().cursor().execute(sql, params or []).fetchall()


def button(at, text):
    return next(b for b in at.button if text in b.label)


def test_a_link_opens_both_records_and_the_merge_takes_the_chosen_values(page_db):
    company = page_db
    s, loser = company.customers["rep_a"], company.customers["rep_b"]
    at = page_as("mgr", a=str(s), b=str(loser))
    assert not at.exception and not at.error, [e.value for e in at.error]
    radios = {r.label: r for r in at.radio}
    assert {"Name", "Phone", "City", "Industry"} <= set(radios)
    assert "Hangzhou" in radios["City"].options[1]
    assert radios["City"].value == "loser"  # the survivor's city is empty: the loser's is suggested
    counts = at.dataframe[0].value
    shown = dict(zip(counts.iloc[:, 0], counts.iloc[:, 1]))
    assert shown["Follow-ups"] == 3 and shown["Deals"] == 1
    radios["Name"].set_value("loser")
    at.run()
    button(at, "Merge “Customer of rep").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("was merged into" in x.value and "4 records moved" in x.value for x in at.success)
    assert read("SELECT name, city FROM customers WHERE id = ?", [s]) == [("Customer of rep_b", "Hangzhou")]
    assert read("SELECT merged_into_id, deleted_at IS NOT NULL FROM customers WHERE id = ?", [loser]) == [(s, True)]
    assert read("SELECT count(*) FROM activities WHERE customer_id = ?", [s]) == [(3,)]
    link = at.get("page_link")[0].proto  # the survivor's own page, one click away
    assert (link.page, link.query_string) == ("customers", f"id={s}") and "Open" in link.label
    assert "a" not in at.query_params and "b" not in at.query_params


def test_the_history_undoes_a_merge(page_db):
    company = page_db
    s, loser = company.customers["rep_a"], company.customers["rep_b"]
    at = page_as("mgr", a=str(s), b=str(loser))
    button(at, "Merge “").click()
    at.run()
    assert read("SELECT deleted_at IS NOT NULL FROM customers WHERE id = ?", [loser]) == [(True,)]
    button(at, "Undo this merge").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("The merge was undone" in x.value for x in at.success)
    assert read("SELECT deleted_at IS NULL, merged_into_id FROM customers WHERE id = ?", [loser]) == [(True, None)]
    assert read("SELECT count(*) FROM activities WHERE customer_id = ?", [loser]) == [(3,)]


def test_a_customer_outside_the_managers_tree_is_not_found(page_db):
    company = page_db
    at = page_as("mgr", a=str(company.customers["rep_a"]), b=str(company.customers["rep_w"]))
    assert not at.exception
    assert any("not found" in e.value.lower() for e in at.error)
    assert not [b for b in at.button if b.label.startswith("Merge “")]
    assert read("SELECT count(*) FROM customers WHERE deleted_at IS NOT NULL") == [(0,)]


def test_the_merge_page_speaks_chinese(page_db):
    company = page_db
    at = page_as("mgr", lang="zh", a=str(company.customers["rep_a"]), b=str(company.customers["rep_b"]))
    assert not at.exception and not at.error
    assert at.title[0].value == "合并客户"
    assert "城市" in [r.label for r in at.radio]
    assert any(b.label.startswith("把“") for b in at.button)
    assert "跟进记录" in at.dataframe[0].value.iloc[:, 0].tolist()


def test_the_audit_log_shows_a_merge_in_a_line_and_undoes_it(page_db):
    company = page_db
    s, loser = company.customers["rep_a"], company.customers["rep_b"]
    at = page_as("boss", a=str(s), b=str(loser))
    button(at, "Merge “").click()
    at.run()
    at = page_as("boss", page="views/admin_audit.py")
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    line = table[table["Action"] == "Merge"]
    assert line["New value"].tolist() == [
        f"Merged “Customer of rep_b” (#{loser}) into this customer; 4 records moved."]
    button(at, "Undo this merge").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("The merge was undone" in x.value for x in at.success)
    assert read("SELECT deleted_at IS NULL FROM customers WHERE id = ?", [loser]) == [(True,)]
    assert "Undo merge" in at.dataframe[0].value["Action"].tolist()
