"""The contacts page as each role meets it: a list of the contacts of the customers the user may see,
searched by name, phone or e-mail; a contact's own page by link (?id=…) with a link back to its
customer, its follow-ups, an edit form for who may edit the customer, a view for the others, delete
for who may delete the customer, and nothing at all outside the user's scope."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import activities, contacts
from tests.conftest import company_app, logged_in


@pytest.fixture
def page_db(tmp_path):
    ids = {}

    def prepare(con, company):
        rep_a, rep_w, boss = company.actor("rep_a"), company.actor("rep_w"), company.actor("boss")
        ids["zhao"] = contacts.create_contact(con, rep_a, company.customers["rep_a"],
                                              {"name": "赵小姐", "title": "采购经理", "phone": "13912345678",
                                               "email": "zhao@xinghe.cn"})
        ids["pool"] = contacts.create_contact(con, boss, company.customers["pool_east"], {"name": "Pool Person"})
        ids["west"] = contacts.create_contact(con, rep_w, company.customers["rep_w"], {"name": "West Person",
                                                                                         "phone": "13912340000"})
        activities.log_followup(con, rep_a, company.customers["rep_a"], kind="call", subject="价格谈判",
                                outcome="interested", occurred_at=dt.datetime(2026, 11, 20, 2, 0),
                                contact_id=ids["zhao"])

    with company_app(tmp_path, prepare) as company:
        yield company, ids, tmp_path / "crm.duckdb"


def page_as(username: str, **query) -> AppTest:
    return logged_in(username, **query).run().switch_page("views/contacts.py").run()


def listed(at: AppTest) -> list[str]:
    return sorted(at.dataframe[0].value["Name"].tolist()) if at.dataframe else []


def read(sql, params=None):
    from ui.db import database

    return database().cursor().execute(sql, params or []).fetchall()


@pytest.mark.parametrize("who, sees", [
    ("rep_a", ["Pool Person", "赵小姐"]),                      # own customers and the team's pool
    ("rep_w", ["West Person"]),
    ("mgr", ["Pool Person", "赵小姐"]),                        # the East team tree
    ("boss", ["Pool Person", "West Person", "赵小姐"]),
    ("svc", ["Pool Person", "West Person", "赵小姐"]),         # service may view every customer
])
def test_each_role_lists_the_contacts_of_the_customers_it_may_see(page_db, who, sees):
    at = page_as(who)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert listed(at) == sees


def test_the_list_searches_names_phones_and_e_mails_and_opens_the_picked_contact(page_db):
    _company, ids, _ = page_db
    at = page_as("boss")
    for typed, found in (("赵", ["赵小姐"]), ("1391234", ["West Person", "赵小姐"]), ("XINGHE.cn", ["赵小姐"]),
                         ("person", ["Pool Person", "West Person"]), ("nobody", [])):
        next(w for w in at.text_input if w.label == "Search").input(typed)
        at.run()
        assert not at.exception and listed(at) == found, typed
    assert any("No contacts match" in i.value for i in at.info)


def test_a_contact_has_a_page_of_its_own_with_its_customer_and_follow_ups(page_db):
    company, ids, path = page_db
    at = page_as("rep_a", id=str(ids["zhao"]))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "赵小姐" in [s.value for s in at.subheader]
    back = [p for p in at.get("page_link") if "Customer of rep" in p.proto.label]
    assert back and back[0].proto.page == "customers"
    assert f"id={company.customers['rep_a']}" in back[0].proto.query_string
    follow = at.dataframe[0].value
    assert follow["Subject"].tolist() == ["价格谈判"] and follow["Outcome"].tolist() == ["Interested"]
    title = next(w for w in at.text_input if w.label == "Title")
    assert title.value == "采购经理"
    title.input("总经理")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert read("SELECT title FROM contacts WHERE id = ?", [ids["zhao"]]) == [("总经理",)]
    assert read("SELECT field FROM audit_log WHERE entity = 'contact' AND entity_id = ? AND action = 'update'",
                [ids["zhao"]]) == [("title",)]


@pytest.mark.parametrize("who", ["mkt", "svc"])
def test_read_only_roles_see_the_contact_without_a_form_or_delete(page_db, who):
    _company, ids, _ = page_db
    at = page_as(who, id=str(ids["zhao"]))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "赵小姐" in [s.value for s in at.subheader]
    assert not [b for b in at.button if b.label == "Save"] and not [w for w in at.text_input if w.label == "Title"]
    assert "采购经理" in [x.value for x in at.text]
    assert not [p for p in at.get("popover") if "Delete" in p.proto.label]
    assert any("not change it" in c.value for c in at.caption)


def test_a_contact_outside_the_scope_or_a_bad_link_is_not_found(page_db):
    _company, ids, _ = page_db
    for who, link in (("rep_w", str(ids["zhao"])), ("rep_a", str(ids["west"])), ("rep_a", "1 OR 1=1")):
        at = page_as(who, id=link)
        assert not at.exception and any("not found" in e.value.lower() for e in at.error), (who, link)
        assert "赵小姐" not in [s.value for s in at.subheader] and "West Person" not in [s.value for s in at.subheader]


def test_who_may_delete_the_customer_deletes_the_contact_to_the_recycle_bin(page_db):
    _company, ids, _ = page_db
    at = page_as("rep_a", id=str(ids["zhao"]))  # reps edit but never delete
    assert [b for b in at.button if b.label == "Save"]
    assert not [b for b in at.button if b.label == "Yes, move it to the recycle bin"]
    at = page_as("mgr", id=str(ids["zhao"]))
    next(b for b in at.button if b.label == "Yes, move it to the recycle bin").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert read("SELECT deleted_at IS NOT NULL FROM contacts WHERE id = ?", [ids["zhao"]]) == [(True,)]
    assert at.query_params.get("id") is None and "赵小姐" not in listed(at)
