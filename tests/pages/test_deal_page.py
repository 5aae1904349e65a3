"""The deal page as reps, managers and the admin meet it: a rep opens an own deal, moves it along the
stage bar and reads the history; Lost asks for a reason; another rep reads "not found" and nothing of
the deal; a manager reopens a closed deal the rep cannot; a new deal starts from the customer's link."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, contacts, deals
from tests.conftest import company_app, logged_in


@pytest.fixture
def deals_db(tmp_path):
    def prepare(con, company):
        rep_a = company.actor("rep_a")
        company.deals = {
            "a": deals.create_deal(con, rep_a, {"name": "ERP rollout 二期", "customer_id": company.customers["rep_a"],
                                                "amount": 88000, "competitor": "Acme"}),
            "won": deals.create_deal(con, rep_a, {"name": "Closed one", "customer_id": company.customers["rep_a"]}),
        }
        deals.move_stage(con, rep_a, company.deals["won"], "lost", lost_reason="price")

    with company_app(tmp_path, prepare) as company:
        yield company


def deal_as(username: str, lang: str | None = None, **query) -> AppTest:
    return logged_in(username, lang, **query).run().switch_page("views/deals.py").run()


def cursor():
    from ui.db import database

    return database().cursor()


def shown(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [x.value for x in at.title] + [x.value for x in at.caption]
    parts += [x.value for x in at.subheader] + [x.value for x in at.error] + [x.value for x in at.text]
    parts += [str(m.label) + " " + str(m.value) for m in at.metric]
    return "\n".join(parts)


def stage_bar(at: AppTest, label: str = "Stage"):
    return next(w for w in at.get("button_group") if w.label == label)


def test_a_rep_opens_an_own_deal_moves_it_and_sees_the_history(deals_db):
    did = deals_db.deals["a"]
    at = deal_as("rep_a", id=str(did))
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any("ERP rollout 二期" in x.value for x in at.title)
    assert "88,000.00 CNY" in shown(at) and "Created in Prospecting" in shown(at)
    stage_bar(at).set_value("proposal").run()
    assert any("Proposal" in m.value for m in at.markdown)  # the move asks to confirm
    next(b for b in at.button if b.label == "Move").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Moved from Prospecting to Proposal" in s.value for s in at.success)
    assert "Prospecting → Proposal" in shown(at)
    got = deals.get_deal(cursor(), auth.actor_for(cursor(), "rep_a"), did)
    assert got["stage"] == "proposal"


def test_lost_asks_for_a_reason_in_the_users_language(deals_db):
    did = deals_db.deals["a"]
    at = deal_as("rep_a", "zh", id=str(did))
    stage_bar(at, "阶段").set_value("lost").run()
    next(b for b in at.button if b.label == "移动").click().run()
    assert not at.exception
    assert any("输单原因" in e.value for e in at.error)
    assert deals.get_deal(cursor(), auth.actor_for(cursor(), "rep_a"), did)["stage"] == "prospecting"
    next(s for s in at.selectbox if s.label.startswith("输单原因")).select_index(1)  # price, the first reason
    next(b for b in at.button if b.label == "移动").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    got = deals.get_deal(cursor(), auth.actor_for(cursor(), "rep_a"), did)
    assert (got["stage"], got["lost_reason"]) == ("lost", "price")


def test_another_rep_reads_not_found_and_nothing_of_the_deal(deals_db):
    at = deal_as("rep_b", id=str(deals_db.deals["a"]))
    assert not at.exception
    assert any("does not exist, or is not yours to see" in e.value for e in at.error)
    text = shown(at)
    assert "ERP rollout" not in text and "88,000" not in text and "Acme" not in text and "REP_A" not in text
    assert not at.get("button_group") and not at.dataframe
    for bad in ("abc", "-1", "99999"):
        at = deal_as("rep_b", id=bad)
        assert not at.exception and any("not yours to see" in e.value for e in at.error)


def test_a_closed_deal_is_reopened_by_the_manager_not_by_the_rep(deals_db):
    did = deals_db.deals["won"]
    at = deal_as("rep_a", id=str(did))
    assert not at.exception and not at.error
    assert stage_bar(at).disabled
    assert not [b for b in at.button if b.label == "Reopen"]
    assert "Only the owner's manager or an administrator can reopen it." in shown(at)
    assert "Lost: Price too high" in "\n".join(i.value for i in at.info)
    at = deal_as("mgr", id=str(did))
    next(b for b in at.button if b.label == "Reopen").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert deals.get_deal(cursor(), auth.actor_for(cursor(), "mgr"), did)["stage"] == "prospecting"


def test_marketing_reads_a_deal_without_forms(deals_db):
    at = deal_as("mkt", id=str(deals_db.deals["a"]))
    assert not at.exception and not at.error
    assert "You can read this deal but not change it." in shown(at)
    assert stage_bar(at).disabled
    assert not [b for b in at.button if b.label in ("Save", "Save lines", "Move")]


def test_a_new_deal_starts_from_the_customer_link(deals_db):
    cid = deals_db.customers["rep_a"]
    at = deal_as("rep_a", new="1", customer=str(cid))
    assert not at.exception and not at.error
    name = next(w for w in at.text_input if w.label == "Deal name *")
    assert name.value == "Deal with Customer of rep_a"
    name.input("Cloud migration")
    next(b for b in at.button if b.label == "Create").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.query_params.get("id")
    assert any("Cloud migration" in x.value for x in at.title)
    # another rep's customer: not found, no form
    at = deal_as("rep_a", new="1", customer=str(deals_db.customers["rep_w"]))
    assert any("Customer not found" in e.value for e in at.error)
    assert not [w for w in at.text_input if w.label == "Deal name *"]


def test_the_customer_page_offers_a_new_deal(deals_db):
    at = logged_in("rep_a", id=str(deals_db.customers["rep_a"])).run().switch_page("views/customers.py").run()
    assert not at.exception
    links = [x for x in at.get("page_link") if "New deal" in str(x.proto.label)]
    assert links


def test_the_lines_editor_rows_become_lines_with_the_list_price_by_default(deals_db):
    from ui.deal_page import editor_lines

    nan = float("nan")
    rows = [{"product": "SKU-1 · Licence", "description": nan, "quantity": 3.0, "unit_price": nan, "discount": nan},
            {"product": None, "description": None, "quantity": nan, "unit_price": nan, "discount": nan},
            {"product": None, "description": "Setup", "quantity": nan, "unit_price": 200.0, "discount": 10.0}]
    lines = editor_lines(rows, {"SKU-1 · Licence": {"id": 901, "list_price": 1000.0}})
    assert [(x["product_id"], x["quantity"], x["unit_price"], x["discount"]) for x in lines] == \
        [(901, 3.0, 1000.0, 0), (None, 1, 200.0, 10.0)]


@pytest.fixture
def cross_db(tmp_path):
    """rep_a's own deal on a customer rep_a cannot see (the manager opened it for rep_a on rep_b's customer:
    as after the customer was reassigned or released to the pool, the deal staying with its owner)."""
    def prepare(con, company):
        mgr = company.actor("mgr")
        who = contacts.create_contact(con, mgr, company.customers["rep_b"], {"name": "Wang Fang"})
        company.deal = deals.create_deal(con, mgr, {"name": "Cross deal", "customer_id": company.customers["rep_b"],
                                                    "contact_id": who}, owner_id=company.users["rep_a"])

    with company_app(tmp_path, prepare) as company:
        yield company


def test_an_own_deal_on_a_customer_no_longer_visible_opens_with_its_contact_by_name(cross_db):
    at = deal_as("rep_a", id=str(cross_db.deal))
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any("Cross deal" in x.value for x in at.title)
    assert "Customer of rep_b" in shown(at)                       # named, not linked
    contact = next(w for w in at.selectbox if w.label.startswith("Contact"))
    assert contact.format_func(contact.value) == "Wang Fang"
    next(b for b in at.button if b.label == "Save").click().run()  # the form still saves (nothing changed)
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_an_open_deal_shows_its_stages_win_rate_beside_the_probability(deals_db):
    # the "won" fixture deal went from Prospecting to Lost: of the deals that reached Prospecting, 0 % won
    did = deals_db.deals["a"]
    at = deal_as("rep_a", id=str(did))
    assert not at.exception and not at.error
    assert "Stage win rate: 0 %" in shown(at) and "⚠" not in shown(at)   # probability 10: not 20 points above
    deals.update_deal(cursor(), auth.actor_for(cursor(), "rep_a"), did, {"probability": 30})
    at = deal_as("rep_a", id=str(did))
    assert "⚠ Stage win rate: 0 %, the probability is 20 points or more above it" in shown(at)
    at = deal_as("rep_a", id=str(deals_db.deals["won"]))   # a closed deal: no rate to show
    assert not at.exception and "Stage win rate" not in shown(at)
