"""Orders and payments (交易记录): what is invoiced, received and outstanding worked out by hand, payment
plans covered earliest first and the overdue list, orders from won deals, the status rules, the scope,
versions and bad input."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from core import audit, db, orders, recycle
from core.errors import Conflict, DuplicateError, NotFound, PermissionDenied, ValidationError
from tests.conftest import NOW


@pytest.fixture
def shop(company):
    c = company.con
    c.execute("INSERT INTO products (id, code, name, name_zh, series, list_price, created_at) VALUES "
              "(1, 'ERP-STD', 'ERP Standard', 'ERP 标准版', 'software', 1000, ?), "
              "(2, 'SVC-DAY', 'Consulting day', '咨询服务（天）', 'service', 500, ?)", [NOW, NOW])
    return company


def _order(company, rep, lines, confirm=True, customer=None):
    actor = company.actor(rep)
    oid = orders.create_order(company.con, actor, {"customer_id": customer or company.customers[rep]}, lines)
    if confirm:
        orders.set_status(company.con, actor, oid, "confirmed")
    return oid


def _deal(company, rep, stage="won", amount=5000, name="Big deal"):
    c = company.con
    deal_id = db.next_id(c, "deals")
    c.execute("INSERT INTO deals (id, name, customer_id, amount, currency, stage, owner_id, team_id, created_at, updated_at) "
              "SELECT ?, ?, ?, ?, 'CNY', ?, u.id, u.team_id, ?, ? FROM users u WHERE u.username = ?",
              [deal_id, name, company.customers[rep], amount, stage, NOW, NOW, rep])
    return deal_id


def test_invoiced_received_outstanding_and_revenue_worked_out_by_hand(shop):
    c, rep = shop.con, shop.actor("rep_a")
    # 3 x 1000 at 10% off = 2700, plus a consulting day at 500 = 3200
    big = _order(shop, "rep_a", [{"product_id": 1, "quantity": 3, "unit_price": 1000, "discount": 10},
                                 {"description": "Installation", "quantity": 1, "unit_price": 500}])
    small = _order(shop, "rep_a", [{"product_id": 2, "quantity": 2, "unit_price": 400}])          # 800
    _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}], confirm=False)  # a draft
    dropped = _order(shop, "rep_a", [{"product_id": 2, "quantity": 1, "unit_price": 300}])
    orders.set_status(c, rep, dropped, "cancelled")
    orders.add_payment(c, rep, big, {"paid_on": dt.date(2026, 11, 20), "amount": 1000, "method": "bank_transfer"})
    orders.add_payment(c, rep, small, {"paid_on": "2026-11-21", "amount": "800"})

    assert orders.get_order(c, rep, big)["amount"] == 3200.0
    s = orders.order_summary(c, rep, big)
    assert (s["invoiced"], s["received"], s["outstanding"]) == (3200.0, 1000.0, 2200.0)
    money = orders.customer_money(c, rep, shop.customers["rep_a"])
    # invoiced 3200 + 800 (the draft and the cancelled order do not count); received 1000 + 800
    assert (money["invoiced"], money["received"], money["outstanding"]) == (4000.0, 1800.0, 2200.0)
    assert (money["revenue"], money["order_count"], money["drafts"]) == (4000.0, 2, 1)
    assert money["last_order_at"] is not None

    # refunded: the small order's 800 went back; it stops counting as invoiced, received and revenue
    orders.set_status(c, rep, small, "refunded")
    money = orders.customer_money(c, rep, shop.customers["rep_a"])
    assert (money["invoiced"], money["received"], money["outstanding"], money["revenue"], money["order_count"]) == (
        3200.0, 1000.0, 2200.0, 3200.0, 1)
    assert orders.order_summary(c, rep, small)["refunded"] == 800.0
    # an imported credit note (a retail "C…" cancellation with a negative amount) is netted off the revenue
    c.execute("INSERT INTO orders (id, order_no, customer_id, ordered_at, status, amount, owner_id, team_id, created_at, "
              "updated_at) SELECT nextval('seq_orders'), 'C-IMPORT', ?, ?, 'cancelled', -200, u.id, u.team_id, ?, ? "
              "FROM users u WHERE u.username = 'rep_a'", [shop.customers["rep_a"], NOW, NOW, NOW])
    money = orders.customer_money(c, rep, shop.customers["rep_a"])
    assert (money["invoiced"], money["revenue"]) == (3200.0, 3000.0)


def test_payments_cover_the_earliest_plans_first_and_the_rest_is_overdue(shop):
    c, rep, mgr = shop.con, shop.actor("rep_a"), shop.actor("mgr")
    oid = _order(shop, "rep_a", [{"product_id": 1, "quantity": 3, "unit_price": 1000}])  # 3000
    # added out of order on purpose: the allocation follows the due dates, not the order of entry
    orders.add_plan(c, rep, oid, {"due_on": dt.date(2026, 11, 1), "amount": 1200})
    orders.add_plan(c, rep, oid, {"due_on": dt.date(2026, 10, 1), "amount": 1000})
    orders.add_plan(c, rep, oid, {"due_on": dt.date(2026, 12, 31), "amount": 800, "note": "final"})
    orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 22), "amount": 1500})

    plans = orders.order_plans(c, rep, oid)
    # 1500 received: the October plan (1000) is covered, then 500 of November's 1200; December is not due
    assert plans.select("due_on", "covered", "open", "overdue").rows() == [
        (dt.date(2026, 10, 1), 1000.0, 0.0, False), (dt.date(2026, 11, 1), 500.0, 700.0, True),
        (dt.date(2026, 12, 31), 0.0, 800.0, False)]
    assert orders.order_summary(c, rep, oid)["overdue"] == 700.0
    assert orders.customer_money(c, rep, shop.customers["rep_a"])["overdue"] == 700.0

    df, summary = orders.overdue(c, mgr)
    assert df.select("order_id", "due_on", "amount", "covered", "open", "days_overdue").rows() == [
        (oid, dt.date(2026, 11, 1), 1200.0, 500.0, 700.0, 22)]     # NOW is 2026-11-23 (company day too)
    assert df["customer_name"].to_list() == ["Customer of rep_a"] and df["owner_name"].to_list() == ["REP_A"]
    assert (summary["plans"], summary["orders"], summary["customers"], summary["amount"]) == (1, 1, 1, 700.0)
    # a month later the December plan is due too: 700 + 800
    later = orders.overdue(c, mgr, as_of=dt.date(2027, 1, 15))[1]
    assert later["amount"] == 1500.0 and later["plans"] == 2

    orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 23), "amount": 700})
    assert orders.overdue(c, mgr)[0].is_empty()
    assert orders.overdue(c, mgr)[1]["amount"] == 0.0


def test_the_overdue_list_is_for_managers_and_stays_in_their_scope(shop):
    c = shop.con
    for rep in ("rep_a", "rep_w"):
        oid = _order(shop, rep, [{"product_id": 2, "quantity": 2, "unit_price": 500}])
        orders.add_plan(c, shop.actor(rep), oid, {"due_on": dt.date(2026, 9, 1), "amount": 1000})
    draft = _order(shop, "rep_a", [{"product_id": 2, "quantity": 1, "unit_price": 500}], confirm=False)
    orders.add_plan(c, shop.actor("rep_a"), draft, {"due_on": dt.date(2026, 9, 1), "amount": 500})  # not invoiced yet

    assert orders.overdue(c, shop.actor("mgr"))[0]["owner_name"].to_list() == ["REP_A"]   # East only
    assert sorted(orders.overdue(c, shop.actor("boss"))[0]["owner_name"].to_list()) == ["REP_A", "REP_W"]
    assert orders.can_see_overdue(c, shop.actor("mgr")) and not orders.can_see_overdue(c, shop.actor("rep_a"))
    for who in ("rep_a", "mkt", "svc"):
        with pytest.raises(PermissionDenied):
            orders.overdue(c, shop.actor(who))


def test_an_order_from_a_won_deal_copies_its_lines_and_links_both_ways(shop):
    c, rep = shop.con, shop.actor("rep_a")
    deal = _deal(shop, "rep_a", amount=4400)
    c.execute("INSERT INTO deal_lines VALUES (1, ?, 1, 1, 'ERP Standard', 4, 1000, 10, 3600), "
              "(2, ?, 2, 2, NULL, 2, 400, 0, 800)", [deal, deal])
    oid = orders.create_from_deal(c, rep, deal)
    order = orders.get_order(c, rep, oid)
    assert order["deal_id"] == deal and order["status"] == "draft" and order["customer_id"] == shop.customers["rep_a"]
    assert [(x["product_id"], x["quantity"], x["unit_price"], x["discount"], x["amount"]) for x in order["lines"]] == [
        (1, 4.0, 1000.0, 10.0, 3600.0), (2, 2.0, 400.0, 0.0, 800.0)]
    assert order["amount"] == 4400.0 and order["lines"][1]["description"] == "Consulting day"  # the product's name
    assert [o["id"] for o in orders.orders_of_deal(c, rep, deal)] == [oid]   # the deal page finds it
    assert orders.list_orders(c, rep, {"deal_id": deal})[1] == 1

    with pytest.raises(DuplicateError) as refused:
        orders.create_from_deal(c, rep, deal)
    assert refused.value.key == "order.deal_has_order" and refused.value.params["order_no"] == order["order_no"]
    second = orders.create_from_deal(c, rep, deal, again=True)
    assert len(orders.orders_of_deal(c, rep, deal)) == 2 and second != oid


def test_a_deal_without_lines_gives_one_line_for_its_amount_and_open_deals_are_refused(shop):
    c, rep = shop.con, shop.actor("rep_a")
    bare = _deal(shop, "rep_a", amount=12345.6, name="Annual licence")
    order = orders.get_order(c, rep, orders.create_from_deal(c, rep, bare))
    assert [(x["description"], x["quantity"], x["unit_price"], x["amount"]) for x in order["lines"]] == [
        ("Annual licence", 1.0, 12345.6, 12345.6)]
    with pytest.raises(ValidationError) as refused:
        orders.create_from_deal(c, rep, _deal(shop, "rep_a", stage="proposal"))
    assert refused.value.key == "order.deal_not_won"
    with pytest.raises(NotFound):   # another rep's deal is not there for rep_a
        orders.create_from_deal(c, rep, _deal(shop, "rep_w"))
    with pytest.raises(NotFound):
        orders.create_from_deal(c, rep, "12 OR 1=1")


def test_status_moves_follow_the_rules(shop):
    c, rep = shop.con, shop.actor("rep_a")
    empty = orders.create_order(c, rep, {"customer_id": shop.customers["rep_a"]}, [])
    with pytest.raises(ValidationError) as refused:
        orders.set_status(c, rep, empty, "confirmed")
    assert refused.value.key == "order.no_lines"
    with pytest.raises(ValidationError) as refused:
        orders.set_status(c, rep, empty, "refunded")                 # a draft is cancelled, not refunded
    assert refused.value.key == "order.cannot_become_refunded"

    oid = _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}])
    with pytest.raises(ValidationError) as refused:
        orders.set_status(c, rep, oid, "draft")
    assert refused.value.key == "order.cannot_become_draft" and refused.value.params["kind"] == "order.status_confirmed"
    with pytest.raises(ValidationError) as refused:                  # a confirmed order's lines are locked
        orders.update_order(c, rep, oid, lines=[{"product_id": 1, "quantity": 2, "unit_price": 1000}])
    assert refused.value.key == "order.locked"
    assert orders.update_order(c, rep, oid, {"notes": "PO 4711"})["notes"] == (None, "PO 4711")  # notes stay open
    with pytest.raises(ValidationError) as refused:                  # nothing received: nothing to refund
        orders.set_status(c, rep, oid, "refunded")
    assert refused.value.key == "order.refund_unpaid"
    orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 1), "amount": 400})
    with pytest.raises(ValidationError) as refused:                  # money in: refund, don't cancel
        orders.set_status(c, rep, oid, "cancelled")
    assert refused.value.key == "order.cancel_paid"
    assert orders.set_status(c, rep, oid, "refunded") == {"from": "confirmed", "to": "refunded"}
    for to in ("confirmed", "cancelled", "draft"):
        with pytest.raises(ValidationError):
            orders.set_status(c, rep, oid, to)
    with pytest.raises(ValidationError) as refused:
        orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 2), "amount": 100})
    assert refused.value.key == "order.pay_not_confirmed"
    draft = _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}], confirm=False)
    with pytest.raises(ValidationError):
        orders.add_payment(c, rep, draft, {"paid_on": dt.date(2026, 11, 2), "amount": 100})
    orders.set_status(c, rep, draft, "cancelled")
    with pytest.raises(ValidationError):
        orders.set_status(c, rep, draft, "confirmed")


def test_a_draft_is_edited_and_its_total_follows_the_lines(shop):
    c, rep = shop.con, shop.actor("rep_a")
    oid = _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}], confirm=False)
    seen = orders.get_order(c, rep, oid)
    diff = orders.update_order(c, rep, oid, {"ordered_at": dt.date(2026, 11, 2)},
                               lines=[{"product_id": 1, "quantity": 2, "unit_price": 999.99, "discount": 5}], seen=seen)
    assert float(diff["amount"][1]) == 1899.98         # 2 x 999.99 x 0.95 = 1899.981 -> 1899.98
    order = orders.get_order(c, rep, oid)
    assert order["amount"] == pytest.approx(1899.98) and order["ordered_at"] == dt.datetime(2026, 11, 2, 1, 0)
    with pytest.raises(Conflict) as stale:   # the form opened before that edit is refused, naming what changed
        orders.update_order(c, rep, oid, {"notes": "x"}, seen=seen)
    assert "order.amount" in stale.value.params["fields"] and stale.value.params["by"] == "REP_A"
    with pytest.raises(Conflict):
        orders.set_status(c, rep, oid, "confirmed", seen=seen)
    orders.set_status(c, rep, oid, "confirmed", seen=orders.get_order(c, rep, oid))
    with pytest.raises(ValidationError) as refused:
        orders.update_order(c, rep, oid, {"customer_id": shop.customers["rep_b"]})
    assert refused.value.key == "order.customer_fixed"


def test_payments_and_plans_are_refused_beyond_the_order(shop):
    c, rep = shop.con, shop.actor("rep_a")
    oid = _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}])
    orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 1), "amount": 600})
    with pytest.raises(ValidationError) as refused:
        orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 2), "amount": 400.01})
    assert refused.value.key == "order.overpaid" and refused.value.params["outstanding"] == "400.00"
    with pytest.raises(ValidationError) as refused:
        orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 24), "amount": 100})   # tomorrow
    assert refused.value.key == "order.paid_in_future"
    orders.add_plan(c, rep, oid, {"due_on": dt.date(2026, 12, 1), "amount": 700})
    with pytest.raises(ValidationError) as refused:
        orders.add_plan(c, rep, oid, {"due_on": dt.date(2027, 1, 1), "amount": 300.5})
    assert refused.value.key == "order.plan_too_large" and refused.value.params["left"] == "300.00"
    assert orders.order_summary(c, rep, oid)["outstanding"] == 400.0


@pytest.mark.parametrize("line, key", [
    ({"product_id": 1, "quantity": -1, "unit_price": 10}, "field.out_of_range"),
    ({"product_id": 1, "quantity": 1, "unit_price": -5}, "field.out_of_range"),
    ({"product_id": 1, "quantity": 1, "unit_price": 10, "discount": 150}, "field.out_of_range"),
    ({"product_id": 1, "quantity": "abc", "unit_price": 10}, "field.not_a_number"),
    ({"product_id": 1, "quantity": 1, "unit_price": float("nan")}, "field.not_finite"),
    ({"product_id": 1, "quantity": 1, "unit_price": 1e30}, "field.out_of_range"),
    ({"product_id": 1, "quantity": True, "unit_price": 10}, "field.not_a_number"),
    ({"product_id": 99, "quantity": 1, "unit_price": 10}, "order.unknown_product"),
    ({"quantity": 1, "unit_price": 10}, "order.line_needs_product"),
    ({"product_id": 1, "unit_price": 10}, "field.required"),
    ({"product_id": 1, "quantity": 1, "unit_price": 10, "sku": "x"}, "field.unknown"),
    ("1 x ERP", "field.bad_values"),
])
def test_bad_lines_are_refused_with_a_message(shop, line, key):
    with pytest.raises(ValidationError) as refused:
        orders.create_order(shop.con, shop.actor("rep_a"), {"customer_id": shop.customers["rep_a"]}, [line])
    assert refused.value.key == key
    assert orders.list_orders(shop.con, shop.actor("boss"))[1] == 0


def test_bad_amounts_dates_and_ids_are_refused(shop):
    c, rep = shop.con, shop.actor("rep_a")
    oid = _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}])
    for values in ({"paid_on": dt.date(2026, 11, 1), "amount": 0}, {"paid_on": dt.date(2026, 11, 1), "amount": -5},
                   {"paid_on": "yesterday", "amount": 5}, {"paid_on": dt.date(2026, 11, 1), "amount": 5, "method": "gold"},
                   {"amount": 5}):
        with pytest.raises(ValidationError):
            orders.add_payment(c, rep, oid, values)
    for values in ({"due_on": "2026-13-01", "amount": 5}, {"due_on": dt.date(2026, 12, 1), "amount": "1e400"},
                   {"due_on": dt.date(1900, 1, 1), "amount": 5}):
        with pytest.raises(ValidationError):
            orders.add_plan(c, rep, oid, values)
    with pytest.raises(ValidationError):
        orders.create_order(c, rep, {"customer_id": shop.customers["rep_a"]},
                            [{"product_id": 1, "quantity": 1_000_000, "unit_price": 1_000_000_000}])  # 10^15
    with pytest.raises(ValidationError):
        orders.create_order(c, rep, {"customer_id": shop.customers["rep_a"]}, [{"description": "x", "quantity": 1,
                                                                                 "unit_price": 1}] * 201)
    for bad in ("1; DROP TABLE orders", "", None, 1.5, True, "²"):
        with pytest.raises(NotFound):
            orders.get_order(c, rep, bad)
    with pytest.raises(ValidationError):
        orders.set_status(c, rep, oid, "paid")
    with pytest.raises(ValidationError):
        orders.list_orders(c, rep, {"status": ["open"]})
    assert orders.order_summary(c, rep, oid)["received"] == 0.0


def test_a_rep_sees_and_touches_only_own_orders(shop):
    c = shop.con
    rep_a, rep_b, mgr, mkt = (shop.actor(u) for u in ("rep_a", "rep_b", "mgr", "mkt"))
    mine = _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}])
    west = _order(shop, "rep_w", [{"product_id": 1, "quantity": 2, "unit_price": 1000}])
    for call in (lambda: orders.get_order(c, rep_b, mine), lambda: orders.order_summary(c, rep_b, mine),
                 lambda: orders.add_payment(c, rep_b, mine, {"paid_on": dt.date(2026, 11, 1), "amount": 1}),
                 lambda: orders.set_status(c, rep_b, mine, "cancelled"),
                 lambda: orders.create_order(c, rep_a, {"customer_id": shop.customers["rep_w"]}, []),
                 lambda: orders.customer_money(c, rep_a, shop.customers["rep_w"]),
                 lambda: orders.customer_orders(c, rep_a, shop.customers["rep_w"])):
        with pytest.raises(NotFound):
            call()
    assert orders.list_orders(c, rep_b)[1] == 0
    assert orders.list_orders(c, rep_a)[0]["id"].to_list() == [mine]
    assert orders.list_orders(c, mgr)[0]["id"].to_list() == [mine]             # East's tree, not West
    assert sorted(orders.list_orders(c, mkt)[0]["id"].to_list()) == sorted([mine, west])   # reads all
    with pytest.raises(PermissionDenied):
        orders.set_status(c, mkt, west, "cancelled")
    with pytest.raises(PermissionDenied):                                      # reps cannot delete
        orders.delete_order(c, rep_a, mine)
    # the manager's money on rep_a's customer is the same as the rep's
    assert orders.customer_money(c, mgr, shop.customers["rep_a"])["invoiced"] == 1000.0


def test_deleting_goes_to_the_recycle_bin_and_every_write_is_audited(shop):
    c, rep, mgr, boss = shop.con, shop.actor("rep_a"), shop.actor("mgr"), shop.actor("boss")
    oid = _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}])
    plan = orders.add_plan(c, rep, oid, {"due_on": dt.date(2026, 12, 1), "amount": 1000})
    pay = orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 1), "amount": 250})
    with pytest.raises(PermissionDenied):
        orders.delete_payment(c, rep, pay)
    orders.delete_payment(c, mgr, pay)
    orders.delete_plan(c, rep, plan)
    assert orders.order_summary(c, rep, oid)["received"] == 0.0 and orders.order_plans(c, rep, oid).is_empty()
    fields = [r[0] for r in c.execute("SELECT field FROM audit_log WHERE entity = 'order' AND entity_id = ? "
                                      "ORDER BY id", [oid]).fetchall()]
    assert {"status", "plan", "payment", "order_no", "amount"} <= set(fields)
    orders.delete_order(c, mgr, oid)
    with pytest.raises(NotFound):
        orders.get_order(c, rep, oid)
    assert orders.customer_money(c, rep, shop.customers["rep_a"])["invoiced"] == 0.0
    assert recycle.deleted(c, boss, "order")["id"].to_list() == [oid]
    recycle.restore(c, boss, "order", [oid])
    assert orders.customer_money(c, rep, shop.customers["rep_a"])["invoiced"] == 1000.0
    assert audit.field_label_keys("order", "payment") == ["order.payment"]


def test_the_list_filters_by_status_customer_owner_and_date(shop):
    c, mgr = shop.con, shop.actor("mgr")
    a = _order(shop, "rep_a", [{"product_id": 1, "quantity": 1, "unit_price": 1000}])
    b = _order(shop, "rep_b", [{"product_id": 1, "quantity": 1, "unit_price": 2000}], confirm=False)
    orders.update_order(c, shop.actor("rep_b"), b, {"ordered_at": dt.date(2026, 10, 5)})
    orders.add_payment(c, shop.actor("rep_a"), a, {"paid_on": dt.date(2026, 11, 1), "amount": 300})
    df, total = orders.list_orders(c, mgr, sort="amount", desc=True)
    assert total == 2 and df["id"].to_list() == [b, a]
    row = df.filter(df["id"] == a).row(0, named=True)
    assert (row["received"], row["outstanding"], row["customer_name"]) == (300.0, 700.0, "Customer of rep_a")
    assert orders.list_orders(c, mgr, {"status": ["draft"]})[0]["id"].to_list() == [b]
    assert orders.list_orders(c, mgr, {"customer_id": shop.customers["rep_a"]})[0]["id"].to_list() == [a]
    assert orders.list_orders(c, mgr, {"owner_id": shop.users["rep_b"]})[0]["id"].to_list() == [b]
    october = {"date_from": dt.date(2026, 10, 1), "date_to": dt.date(2026, 10, 31)}
    assert orders.list_orders(c, mgr, october)[0]["id"].to_list() == [b]
    assert orders.list_orders(c, mgr, {"q": "so"}, page=0, page_size=1)[1] == 2
    assert orders.list_orders(c, mgr, page=1, page_size=1)[0].height == 1


# ------------------------------------------------------------------ issue 7 review: races, money, dates, oracle
def hold_race(monkeypatch, module, name, first, second):
    """Run `first` in a thread held just after its call of module.name (inside its unit of work) until
    `second`, in another thread, either gets as far (pre-fix: both went through) or hits a write
    conflict (the fix: the second unit conflicts on a row the first wrote); returns {thread: result}."""
    held, go, out = threading.Event(), threading.Event(), {}
    real, real_conflict = getattr(module, name), db._is_conflict

    def hooked(*args, **kwargs):
        result = real(*args, **kwargs)
        who = threading.current_thread().name
        if who == "first" and not held.is_set():
            held.set()
            go.wait(5)
        elif who == "second":
            go.set()
        return result

    def conflict(exc):
        found = real_conflict(exc)
        if found and threading.current_thread().name == "second":
            go.set()
        return found

    monkeypatch.setattr(module, name, hooked)
    monkeypatch.setattr(db, "_is_conflict", conflict)

    def run(who, call):
        try:
            out[who] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test looks at
            out[who] = exc

    a = threading.Thread(target=run, args=("first", first), name="first")
    a.start()
    assert held.wait(5)
    b = threading.Thread(target=run, args=("second", second), name="second")
    b.start()
    a.join(15)
    b.join(15)
    return out


def test_two_tabs_making_an_order_from_one_won_deal_make_one_order(shop, monkeypatch):
    c, rep = shop.con, shop.actor("rep_a")
    deal = _deal(shop, "rep_a", amount=500)
    cur_a, cur_b = c.cursor(), c.cursor()
    out = hold_race(monkeypatch, orders, "_clean_lines", lambda: orders.create_from_deal(cur_a, rep, deal),
                    lambda: orders.create_from_deal(cur_b, rep, deal))
    assert db.scalar(c, "SELECT count(*) FROM orders WHERE deal_id = ?", [deal]) == 1
    assert isinstance(out["first"], int)
    # the second ran again after the conflict and was told which order the deal already has
    assert isinstance(out["second"], DuplicateError) and out["second"].key == "order.deal_has_order"


def test_unit_prices_keep_four_decimals_and_quantities_three(shop):
    c, rep = shop.con, shop.actor("rep_a")
    oid = _order(shop, "rep_a", [{"description": "SMS", "quantity": 1_000_000, "unit_price": 0.0004},
                                 {"description": "Storage GB", "quantity": "2.125", "unit_price": "0.0125"},
                                 {"description": "Half cent", "quantity": 1, "unit_price": 10.005}], confirm=False)
    order = orders.get_order(c, rep, oid)
    assert [(x["quantity"], x["unit_price"], x["amount"]) for x in order["lines"]] == [
        (1_000_000.0, 0.0004, 400.0), (2.125, 0.0125, 0.03), (1.0, 10.005, 10.01)]  # 0.0265625 -> 0.03; half up
    assert order["amount"] == 410.04
    # a price too small for 4 decimals is refused, never stored as 0
    with pytest.raises(ValidationError) as refused:
        orders.create_order(c, rep, {"customer_id": shop.customers["rep_a"]},
                            [{"description": "SMS", "quantity": 1_000_000, "unit_price": "0.00004"}])
    assert refused.value.key == "field.too_precise" and refused.value.params["smallest"] == "0.0001"
    # a change in the fourth decimal is a change (audited with every decimal)
    orders.update_order(c, rep, oid, lines=[{"description": "SMS", "quantity": 1_000_000, "unit_price": 0.0005}])
    assert orders.get_order(c, rep, oid)["amount"] == 500.0
    assert db.scalar(c, "SELECT new_value FROM audit_log WHERE entity = 'order' AND entity_id = ? AND field = 'lines' "
                        "ORDER BY id DESC LIMIT 1", [oid]) == "SMS 1,000,000 x 0.0005"


def test_every_field_keeps_two_decimals_unless_it_says_otherwise():
    from core import fields, money
    from core.fields import Field

    assert fields.clean_number(Field("amount", "number", "deal.amount"), "10.123456") == 10.12
    assert fields.clean_number(Field("p", "number", "order.unit_price", decimals=4), "10.123456") == 10.1235
    # in decimal, half up, once per line: 3 x 0.335 = 1.005 -> 1.01; 1.005 -> 1.01 (float round gives 1.0)
    assert (money.line_amount(3, "0.335"), money.line_amount(1, 1.005), round(1.005, 2)) == (
        money.cents("1.01"), money.cents("1.01"), 1.0)
    assert money.line_amount(1000, 100, 12.35) == money.cents("87650")


def test_orders_accept_whatever_a_valid_deal_holds(shop):
    from core import money

    c, rep = shop.con, shop.actor("rep_a")
    # a deal's limits (core.money, shared with core.deals): 10^9 units, 10^13 a unit and in all
    assert (orders.LINE["quantity"].max, orders.LINE["unit_price"].max, orders.MAX_TOTAL) == (
        money.QUANTITY_MAX, money.UNIT_PRICE_MAX, money.AMOUNT_MAX)
    credits = _deal(shop, "rep_a", amount=100_000, name="SMS credits")
    c.execute("INSERT INTO deal_lines VALUES (1, ?, 1, NULL, 'SMS credits', 2000000, 0.05, 0, 100000)", [credits])
    assert orders.get_order(c, rep, orders.create_from_deal(c, rep, credits))["amount"] == 100_000.0
    big = _deal(shop, "rep_a", amount=2_500_000_000, name="Nationwide rollout")
    assert orders.get_order(c, rep, orders.create_from_deal(c, rep, big))["amount"] == 2_500_000_000.0
    largest = _deal(shop, "rep_a", amount=10**13, name="Largest deal")
    oid = orders.create_from_deal(c, rep, largest)
    orders.set_status(c, rep, oid, "confirmed")
    orders.add_plan(c, rep, oid, {"due_on": dt.date(2026, 12, 1), "amount": 10**13})
    orders.add_payment(c, rep, oid, {"paid_on": dt.date(2026, 11, 20), "amount": 10**13})
    assert orders.order_summary(c, rep, oid)["received"] == 1e13


def test_an_order_cannot_be_dated_after_today_nor_count_a_future_date_as_last_order(shop):
    c, rep, cid = shop.con, shop.actor("rep_a"), shop.customers["rep_a"]
    line = [{"description": "x", "quantity": 1, "unit_price": 5}]
    for day in ("2099-12-31", NOW.date() + dt.timedelta(days=1)):
        with pytest.raises(ValidationError) as refused:
            orders.create_order(c, rep, {"customer_id": cid, "ordered_at": day}, line)
        assert refused.value.key == "order.dated_in_future"
    oid = orders.create_order(c, rep, {"customer_id": cid, "ordered_at": NOW.date()}, line)  # today is fine
    with pytest.raises(ValidationError):
        orders.update_order(c, rep, oid, {"ordered_at": "2099-12-31"})
    # a draft dated in the future (imported, or written before this rule) cannot be confirmed
    c.execute("UPDATE orders SET ordered_at = '2099-12-31 09:00' WHERE id = ?", [oid])
    with pytest.raises(ValidationError, match="order.dated_in_future"):
        orders.set_status(c, rep, oid, "confirmed")
    # and a confirmed one in the future never becomes the customer's last order date
    c.execute("UPDATE orders SET status = 'confirmed' WHERE id = ?", [oid])
    past = _order(shop, "rep_a", line)
    money = orders.customer_money(c, rep, cid)
    assert money["last_order_at"] == orders.get_order(c, rep, past)["ordered_at"]


def test_deleting_a_missing_plan_or_payment_answers_like_one_out_of_scope(shop):
    c = shop.con
    west = _order(shop, "rep_w", [{"description": "x", "quantity": 1, "unit_price": 100}])
    boss = shop.actor("boss")
    plan = orders.add_plan(c, boss, west, {"due_on": dt.date(2026, 12, 1), "amount": 50})
    pay = orders.add_payment(c, boss, west, {"paid_on": dt.date(2026, 11, 20), "amount": 10})
    rep_a, mgr = shop.actor("rep_a"), shop.actor("mgr")
    keys = set()
    for call in (lambda: orders.delete_plan(c, rep_a, plan), lambda: orders.delete_plan(c, rep_a, 10**9),
                 lambda: orders.delete_plan(c, rep_a, "x"),
                 lambda: orders.delete_payment(c, mgr, pay), lambda: orders.delete_payment(c, mgr, 10**9)):
        with pytest.raises(NotFound) as missing:
            call()
        keys.add(missing.value.key)
    assert keys == {"order.not_found"}
