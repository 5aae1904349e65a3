"""The customers page as its users meet it: a record opens by its id (a link), only what the user
changed is saved, the list shows the change at once, read-only roles get a view instead of a greyed
form, a page number jumps anywhere, a new filter closes the open record, delete says what happened."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, customers
from core.analytics import kpis
from tests.conftest import company_app, logged_in



@pytest.fixture
def page_db(tmp_path):
    def prepare(con, company):
        boss = company.actor("boss")
        for i in range(120):  # three pages of the admin's list
            customers.create_customer(con, boss, {"name": f"Bulk {i:03d}"}, owner_id=None,
                                      team_id=company.teams["west"])
        con.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?",
                    [dt.datetime(2026, 11, 24, 7, 50, 33), company.customers["rep_a"]])

    with company_app(tmp_path, prepare) as company:
        yield company, tmp_path / "crm.duckdb"


def page_as(username: str, **query) -> AppTest:
    return logged_in(username, **query).run().switch_page("views/customers.py").run()


def read(path, sql, params=None):
    from ui.db import database

    return database().cursor().execute(sql, params or []).fetchall()


def test_a_link_opens_the_customer_and_saving_writes_only_what_changed(page_db):
    company, path = page_db
    cid = company.customers["rep_a"]
    at = page_as("rep_a", id=str(cid))
    assert not at.exception
    assert "Customer of rep\\_a" in [s.value for s in at.subheader]
    city = next(w for w in at.text_input if w.label == "City")
    city.input("Hangzhou")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Saved" in s.value for s in at.success)
    row = read(path, "SELECT city, next_followup_at FROM customers WHERE id = ?", [cid])[0]
    assert row == ("Hangzhou", dt.datetime(2026, 11, 24, 7, 50, 33))  # the follow-up kept its minutes
    fields = read(path, "SELECT field FROM audit_log WHERE entity = 'customer' AND entity_id = ? AND action = 'update'",
                  [cid])
    assert fields == [("city",)]
    assert [w.value for w in at.text_input if w.label == "City"] == ["Hangzhou"]
    next(b for b in at.button if b.label == "Back to the list").click()
    at.run()
    assert "Hangzhou" in at.dataframe[0].value["City"].tolist()  # the list shows the saved value at once


def test_a_customer_outside_the_scope_is_not_found_without_a_trace(page_db):
    company, _ = page_db
    at = page_as("rep_a", id=str(company.customers["rep_w"]))
    assert not at.exception
    assert any("not found" in e.value.lower() for e in at.error)
    at = page_as("rep_a", id="1 OR 1=1")
    assert not at.exception and any("not found" in e.value.lower() for e in at.error)


@pytest.mark.parametrize("who", ["mkt", "svc"])
def test_read_only_roles_see_a_view_not_a_greyed_form(page_db, who):
    company, _ = page_db
    at = page_as(who, id=str(company.customers["rep_a"]))
    assert not at.exception
    assert not [b for b in at.button if b.label == "Save"]
    assert not [w for w in at.text_input if w.label == "City"]
    assert "Customer of rep_a" in [x.value for x in at.text]
    assert any("not change" in c.value for c in at.caption)


def test_a_page_number_jumps_to_any_page(page_db):
    at = page_as("boss")
    assert any("page 1 of 3" in c.value for c in at.caption)
    at.number_input(key="cust_page").set_value(3).run()
    assert not at.exception
    assert any("page 3 of 3" in c.value for c in at.caption)
    assert len(at.dataframe[0].value) == 126 - 100


def test_back_to_the_list_keeps_the_filters_and_the_page(page_db):
    company, _ = page_db
    at = page_as("boss")
    at.text_input(key="cust_q").input("Bulk").run()
    at.number_input(key="cust_page").set_value(2).run()
    assert any("120 customers · page 2 of 3" in c.value for c in at.caption)
    at.query_params["id"] = str(company.customers["rep_b"])
    at.run()
    assert "Customer of rep\\_b" in [s.value for s in at.subheader]
    assert not at.dataframe  # the record's own page, not the list
    next(b for b in at.button if b.label == "Back to the list").click()
    at.run()
    assert not at.exception and "id" not in at.query_params
    assert at.text_input(key="cust_q").value == "Bulk"
    assert any("120 customers · page 2 of 3" in c.value for c in at.caption)


def test_delete_confirms_what_happened(page_db):
    company, path = page_db
    cid = company.customers["rep_b"]
    at = page_as("boss", id=str(cid))
    next(b for b in at.button if b.label == "Yes, move it to the recycle bin").click()
    at.run()
    assert not at.exception and not at.error
    assert any("moved to the recycle bin" in s.value for s in at.success)
    assert read(path, "SELECT deleted_at IS NOT NULL FROM customers WHERE id = ?", [cid]) == [(True,)]


def test_a_stale_form_is_refused_and_says_what_changed(page_db):
    company, path = page_db
    cid = company.customers["rep_a"]
    at = page_as("rep_a", id=str(cid))
    from ui.db import database

    cur = database().cursor()
    boss = auth.actor_for(cur, "boss")
    customers.update_customer(cur, boss, cid, {"industry": "Changed by boss"})
    next(w for w in at.text_input if w.label == "City").input("Ningbo")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.exception
    assert any("Boss Admin changed this customer" in e.value and "Industry" in e.value for e in at.error)
    assert read(path, "SELECT city, industry FROM customers WHERE id = ?", [cid]) == [(None, "Changed by boss")]


@pytest.mark.parametrize("who", ["rep_a", "mgr", "boss"])
def test_the_my_day_follow_up_numbers_equal_the_lists_they_open(page_db, who):
    company, path = page_db
    from ui.db import database

    cur = database().cursor()
    me = auth.actor_for(cur, who)
    start, end = kpis.today_bounds(cur, me)
    for n, (label, when) in enumerate([("rep_a", start + dt.timedelta(hours=2)), ("rep_b", start - dt.timedelta(hours=1)),
                                       ("rep_sh", end + dt.timedelta(hours=1)), ("rep_w", start + dt.timedelta(hours=23))]):
        cur.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?", [when, company.customers[label]])
    figures = kpis.my_day(cur, me)
    for due, key in (("today", "followups_due"), ("overdue", "followups_overdue")):
        at = page_as(who, due=due, holder="owned")
        assert not at.exception
        caption = next(c.value for c in at.caption if "page" in c.value)
        assert caption.startswith(f"{figures[key]} customer"), (due, caption, figures[key])


def test_a_contact_has_a_link_of_its_own(page_db):
    company, _ = page_db
    from core import contacts

    cur = cursor_of_app()
    rep = auth.actor_for(cur, "rep_a")
    contact_id = contacts.create_contact(cur, rep, company.customers["rep_a"], {"name": "赵小姐", "title": "采购经理"})
    at = page_as("rep_a", contact=str(contact_id))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.query_params.get("id") == str(company.customers["rep_a"])
    assert any("赵小姐" in m.value for m in at.markdown)
    assert "赵小姐" in [w.value for w in at.text_input if w.label == "Name *"]  # its edit form is open
    at = page_as("rep_w", contact=str(contact_id))
    assert not at.exception and any("not found" in e.value.lower() for e in at.error)


def cursor_of_app():
    from ui.db import database

    return database().cursor()
