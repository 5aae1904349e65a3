"""The leads page as reps, managers and marketing meet it: a rep's list holds only own and pool leads,
a new lead opens its own page, conversion lands on the new customer, disqualifying asks for a reason,
marketing reads without a form, a saved view brings its filters back."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, fields, leads, saved_views
from tests.conftest import company_app, logged_in



@pytest.fixture
def leads_db(tmp_path):
    def prepare(con, company):
        rep_a, rep_w = company.actor("rep_a"), company.actor("rep_w")
        company.leads = {
            "a": leads.create_lead(con, rep_a, {"name": "Lead of A", "company": "Alpha 有限公司", "source": "web"}),
            "pool": leads.create_lead(con, rep_a, {"name": "Pool lead", "source": "event"}, owner_id=None),
            "w": leads.create_lead(con, rep_w, {"name": "Lead of W", "source": "web"}),
        }
        fields.save_field(con, company.actor("boss"), "lead", None, kind="choice", label_en="Budget band",
                          label_zh="预算区间", options=[("low", "Low", "低"), ("high", "High", "高")])

    with company_app(tmp_path, prepare) as company:
        yield company


def leads_as(username: str, **query) -> AppTest:
    return logged_in(username, **query).run().switch_page("views/leads.py").run()


def cursor():
    from ui.db import database

    return database().cursor()


def test_a_rep_lists_own_and_pool_leads_only(leads_db):
    at = leads_as("rep_a")
    assert not at.exception and not at.error
    assert sorted(at.dataframe[0].value["Name"].tolist()) == ["Lead of A", "Pool lead"]


def test_a_new_lead_opens_its_own_page(leads_db):
    at = leads_as("rep_b")
    next(w for w in at.text_input if w.label == "Name *").input("王建国")
    next(w for w in at.text_input if w.label == "Phone").input("１３９ １２３４ ５６７８")
    next(b for b in at.button if b.label == "Create").click()
    at.run()
    assert not at.exception, at.exception
    assert any("王建国" in s.value for s in at.success)
    assert at.query_params.get("id")
    assert any("王建国" in s.value for s in at.subheader)


def test_converting_lands_on_the_new_customer(leads_db):
    at = leads_as("rep_a", id=str(leads_db.leads["a"]))
    assert any("Lead of A" in s.value for s in at.subheader)
    convert = [b for b in at.button if b.label == "Convert to a customer"]
    convert[-1].click()
    at.run()
    assert not at.exception, at.exception
    lead = leads.get_lead(cursor(), auth.actor_for(cursor(), "rep_a"), leads_db.leads["a"])
    assert lead["status"] == "converted" and lead["converted_customer_id"]


def test_disqualifying_asks_for_a_reason(leads_db):
    at = leads_as("rep_a", id=str(leads_db.leads["a"]))
    next(b for b in at.button if b.label == "Disqualify").click()
    at.run()
    assert any("Choose why" in e.value for e in at.error)
    reason = next(s for s in at.selectbox if s.label == "Reason")
    reason.set_value("no_budget")
    next(b for b in at.button if b.label == "Disqualify").click()
    at.run()
    assert not at.exception and not at.error
    assert leads.get_lead(cursor(), auth.actor_for(cursor(), "rep_a"), leads_db.leads["a"])["status"] == "invalid"


def test_marketing_reads_a_lead_without_a_form(leads_db):
    at = leads_as("mkt", id=str(leads_db.leads["w"]))
    assert not at.exception
    assert not [b for b in at.button if b.label == "Save"]
    assert "Lead of W" in [x.value for x in at.text]


def test_a_saved_view_brings_its_filters_back(leads_db):
    at = leads_as("rep_a")
    at.multiselect(key="lead_source").set_value(["event"]).run()
    assert at.dataframe[0].value["Name"].tolist() == ["Pool lead"]
    next(w for w in at.text_input if w.label == "View name").input("Events")
    next(b for b in at.button if b.label == "Save these filters as a view").click()
    at.run()
    assert any("Events" in s.value for s in at.success)
    at.multiselect(key="lead_source").set_value([]).run()
    assert len(at.dataframe[0].value) == 2
    rows = saved_views.views(cursor(), auth.actor_for(cursor(), "rep_a"), "lead")
    at.selectbox(key="_lead_view").set_value(rows[0]["id"]).run()
    assert not at.exception
    assert at.dataframe[0].value["Name"].tolist() == ["Pool lead"]


def test_a_lead_changed_by_someone_else_says_so_in_the_leads_words(leads_db):
    at = leads_as("rep_a", id=str(leads_db.leads["a"]))
    cur = cursor()
    leads.update_lead(cur, auth.actor_for(cur, "mgr"), leads_db.leads["a"], {"city": "Ningbo"})
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("changed this lead" in w for w in warnings), warnings
    assert not any("customer" in w for w in warnings), warnings
