"""The orders page as reps, managers, marketing and the admin meet it: a rep lists own orders and no
overdue tab, a manager sees the team's overdue receivables, the order page shows invoiced / received /
outstanding and takes a payment, a new order and an order from a won deal open their own page, another
rep's order is not found, marketing reads without forms, the customer page shows the money panel."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, clock, db, orders
from tests.conftest import NOW, company_app, logged_in


@pytest.fixture
def shop_db(tmp_path):
    def prepare(con, company):
        con.execute("INSERT INTO products (id, code, name, name_zh, series, list_price, created_at) VALUES "
                    "(1, 'ERP-STD', 'ERP Standard', 'ERP 标准版', 'software', 1000, ?)", [NOW])
        today = clock.local_today(con, _utcnow())
        rep_a, rep_w = company.actor("rep_a", now=_utcnow()), company.actor("rep_w", now=_utcnow())
        a = orders.create_order(con, rep_a, {"customer_id": company.customers["rep_a"]},
                                [{"product_id": 1, "quantity": 3, "unit_price": 1000, "discount": 10}])  # 2700
        orders.set_status(con, rep_a, a, "confirmed")
        orders.add_plan(con, rep_a, a, {"due_on": today - dt.timedelta(days=40), "amount": 1000})
        orders.add_plan(con, rep_a, a, {"due_on": today - dt.timedelta(days=10), "amount": 1700})
        orders.add_payment(con, rep_a, a, {"paid_on": today - dt.timedelta(days=5), "amount": 1200})
        w = orders.create_order(con, rep_w, {"customer_id": company.customers["rep_w"]},
                                [{"description": "West thing", "quantity": 1, "unit_price": 999}])
        deal = db.next_id(con, "deals")
        con.execute("INSERT INTO deals (id, name, customer_id, amount, currency, stage, owner_id, team_id, created_at, "
                    "updated_at) VALUES (?, 'Won deal', ?, 8000, 'CNY', 'won', ?, ?, ?, ?)",
                    [deal, company.customers["rep_a"], company.users["rep_a"], company.teams["east"], NOW, NOW])
        company.orders = {"a": a, "w": w, "deal": deal}

    with company_app(tmp_path, prepare) as company:
        yield company


def _utcnow():
    from core.context import utcnow

    return utcnow()


def orders_as(username: str, lang: str | None = None, **query) -> AppTest:
    return logged_in(username, lang, **query).run().switch_page("views/orders.py").run()


def cursor():
    from ui.db import database

    return database().cursor()


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def test_a_rep_lists_own_orders_without_the_overdue_tab(shop_db):
    at = orders_as("rep_a")
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert at.dataframe[0].value["Order no."].tolist() == [f"SO{shop_db.orders['a']:08d}"]
    assert not at.tabs


def test_a_manager_sees_the_overdue_receivables_of_the_team(shop_db):
    at = orders_as("mgr")
    assert not at.exception and not at.error
    assert [t.label for t in at.tabs] == ["Orders", "Overdue receivables"]
    # 1200 received covers the 1000 plan due 40 days ago and 200 of the 1700 due 10 days ago: 1500 overdue
    assert metrics(at)["Overdue"] == "1,500.00"
    overdue = at.dataframe[1].value
    assert overdue["Still due"].tolist() == [1500.0] and overdue["Days overdue"].tolist() == [10]


def test_the_order_page_shows_the_money_and_takes_a_payment(shop_db):
    oid = shop_db.orders["a"]
    at = orders_as("rep_a", id=str(oid))
    assert not at.exception and not at.error
    shown = metrics(at)
    assert (shown["Invoiced"], shown["Received"], shown["Outstanding"], shown["Overdue"]) == (
        "2,700.00", "1,200.00", "1,500.00", "1,500.00")
    next(n for n in at.number_input if n.label == "Amount paid").set_value(500.0)
    next(b for b in at.button if b.label == "Record the payment").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("Payment of 500") for s in at.success)
    assert metrics(at)["Received"] == "1,700.00"
    assert orders.order_summary(cursor(), auth.actor_for(cursor(), "rep_a"), oid)["outstanding"] == 1000.0


def test_a_payment_above_the_outstanding_amount_is_refused_in_the_users_language(shop_db):
    at = orders_as("rep_a", "zh", id=str(shop_db.orders["a"]))
    assert not at.exception
    next(n for n in at.number_input if n.label == "回款金额").set_value(2000.0)
    next(b for b in at.button if b.label == "登记回款").click()
    at.run()
    assert not at.exception
    assert any("1,500" in e.value and "未回款" in e.value for e in at.error), [e.value for e in at.error]


def test_another_reps_order_is_not_found(shop_db):
    at = orders_as("rep_b", id=str(shop_db.orders["a"]))
    assert not at.exception
    assert any("This order does not exist, or is not yours to see." in e.value for e in at.error)
    assert not at.metric


def test_marketing_reads_an_order_without_forms(shop_db):
    at = orders_as("mkt", id=str(shop_db.orders["w"]))
    assert not at.exception and not at.error
    assert any("may view this order but not change it" in c.value for c in at.caption)
    assert not [b for b in at.button if b.label in ("Record the payment", "Add a payment plan", "Save")]


def test_a_new_order_for_a_customer_opens_its_own_page(shop_db):
    at = orders_as("rep_a", new="1", customer=str(shop_db.customers["rep_a"]))
    assert not at.exception and not at.error
    at.selectbox(key=next(s.key for s in at.selectbox if s.key and s.key.endswith("_p0"))).set_value(1)
    at.number_input(key=next(n.key for n in at.number_input if n.key and n.key.endswith("_q0"))).set_value(2.0)
    next(b for b in at.button if b.label == "Create").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    new_id = int(at.query_params["id"][0] if isinstance(at.query_params["id"], list) else at.query_params["id"])
    order = orders.get_order(cursor(), auth.actor_for(cursor(), "rep_a"), new_id)
    assert order["status"] == "draft" and order["amount"] == 2000.0     # 2 x the list price
    assert metrics(at)["Amount"] == "2,000.00"


def test_an_order_from_a_won_deal(shop_db):
    at = orders_as("rep_a", deal=str(shop_db.orders["deal"]))
    assert not at.exception and not at.error
    next(b for b in at.button if b.label == "Create the order").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    made = orders.orders_of_deal(cursor(), auth.actor_for(cursor(), "rep_a"), shop_db.orders["deal"])
    assert [o["amount"] for o in made] == [8000.0]
    # back on the deal's link: the existing order is named and a second one needs a tick
    again = orders_as("rep_a", deal=str(shop_db.orders["deal"]))
    assert next(b for b in again.button if b.label == "Create the order").disabled
    # the existing order opens on this same page through the address (?id=N, the deal's link dropped): a
    # page_link to the page already shown would leave the browser's address behind (FACTS)
    link = next(b for b in again.button if b.label.startswith(made[0]["order_no"]))
    link.click()
    again.run()
    assert not again.exception
    assert dict(again.query_params) in ({"id": [str(made[0]["id"])]}, {"id": str(made[0]["id"])})
    assert metrics(again)["Amount"] == "8,000.00"


def test_confirming_a_draft_from_its_page(shop_db):
    at = orders_as("mkt", id=str(shop_db.orders["w"]))
    assert not [b for b in at.button if b.label == "Confirm"]
    at = orders_as("rep_w", id=str(shop_db.orders["w"]))
    next(b for b in at.button if b.key == f"ord_to_confirmed_{shop_db.orders['w']}").click()
    at.run()
    assert not at.exception and not at.error
    assert orders.get_order(cursor(), auth.actor_for(cursor(), "rep_w"), shop_db.orders["w"])["status"] == "confirmed"


def test_the_customer_page_shows_the_money_panel(shop_db):
    at = logged_in("rep_a", id=str(shop_db.customers["rep_a"])).run().switch_page("views/customers.py").run()
    assert not at.exception
    shown = metrics(at)
    assert (shown["Invoiced"], shown["Received"], shown["Outstanding"], shown["Revenue"], shown["Orders"]) == (
        "2,700.00", "1,200.00", "1,500.00", "2,700.00", "1")


@pytest.mark.parametrize("user", ["boss", "mgr", "rep_a", "mkt", "svc"])
def test_the_orders_page_renders_for_every_role_in_both_languages(shop_db, user):
    for lang in ("en", "zh"):
        at = orders_as(user, lang)
        assert not at.exception and not at.error, (user, lang, at.exception)
        assert at.title[0].value == ("Orders" if lang == "en" else "交易记录")


def test_a_unit_price_below_a_cent_is_entered_and_kept(shop_db):
    at = orders_as("rep_a", new="1", customer=str(shop_db.customers["rep_a"]))
    price = next(n for n in at.number_input if n.key and n.key.endswith("_u0"))
    assert price.proto.format == "%.4f"                                  # the input shows 4 decimals
    at.text_input(key=next(x.key for x in at.text_input if x.key and x.key.endswith("_d0"))).set_value("SMS")
    at.number_input(key=next(n.key for n in at.number_input if n.key and n.key.endswith("_q0"))).set_value(100000.0)
    price.set_value(0.0004)
    next(b for b in at.button if b.label == "Create").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    new_id = int(at.query_params["id"][0] if isinstance(at.query_params["id"], list) else at.query_params["id"])
    order = orders.get_order(cursor(), auth.actor_for(cursor(), "rep_a"), new_id)
    assert [(x["quantity"], x["unit_price"], x["amount"]) for x in order["lines"]] == [(100000.0, 0.0004, 40.0)]


def test_a_payment_plan_is_picked_and_removed_from_the_order_page(shop_db):
    oid = shop_db.orders["a"]
    sql = "SELECT id FROM payment_plans WHERE order_id = ? AND deleted_at IS NULL ORDER BY due_on"
    plans = cursor().execute(sql, [oid]).fetchall()
    at = orders_as("rep_a", id=str(oid))
    remove = lambda: next(b for b in at.button if b.label == "Remove" and "plan_rm" in b.key)  # noqa: E731
    assert remove().disabled                                             # nothing picked yet
    next(s for s in at.selectbox if s.label == "Payment plan to remove").select_index(1).run()
    remove().click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(plans) == 2 and cursor().execute(sql, [oid]).fetchall() == plans[1:]
