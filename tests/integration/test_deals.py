"""Deals (销售机会) and their stage history: every move writes a history row with the change, going back
too; Won needs a close date (today by default), Lost a reason from the admin's list; a closed deal is
reopened only by the owner's manager or an admin; a move from a stale view is a Conflict; a rep never
sees or moves another rep's deal; the amount follows the lines; bad input is refused by field."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from core import activities, contacts, db, deals, fields, i18n, leads, pipelines, recycle, settings
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tests.conftest import NOW


def history(company, deal_id):
    return company.con.execute("SELECT from_stage, to_stage, changed_at, changed_by FROM deal_stage_history "
                               "WHERE deal_id = ? ORDER BY id", [deal_id]).fetchall()


def row(company, deal_id):
    cur = company.con.execute("SELECT * FROM deals WHERE id = ?", [deal_id])
    return dict(zip([d[0] for d in cur.description], cur.fetchone()))


def later(company, username, minutes):
    return company.actor(username, NOW + dt.timedelta(minutes=minutes))


@pytest.fixture
def deal(company):
    rep = company.actor("rep_a")
    return deals.create_deal(company.con, rep, {"name": "ERP rollout", "customer_id": company.customers["rep_a"],
                                                "amount": 120000, "expected_close": "2026-12-20"})


# ---------------------------------------------------------------------------------------- creating
def test_a_new_deal_starts_at_the_first_open_stage_with_its_probability_and_a_history_row(company, deal):
    got = deals.get_deal(company.con, company.actor("rep_a"), deal)
    assert (got["stage"], got["probability"], got["pipeline_id"]) == ("prospecting", 10, 1)
    assert got["currency"] == "CNY" and got["owner_name"] == "REP_A" and got["customer_name"] == "Customer of rep_a"
    assert history(company, deal) == [(None, "prospecting", NOW, company.users["rep_a"])]
    assert row(company, deal)["stage_changed_at"] == NOW
    assert company.con.execute("SELECT count(*) FROM audit_log WHERE entity = 'deal' AND entity_id = ? "
                               "AND action = 'create'", [deal]).fetchone()[0] > 0


def test_the_company_currency_is_the_default_of_a_new_deal(company):
    settings.set_value(company.con, company.actor("boss"), "company.currency", "usd")
    d = deals.create_deal(company.con, company.actor("rep_a"), {"name": "X", "customer_id": company.customers["rep_a"]})
    assert row(company, d)["currency"] == "USD"
    with pytest.raises(ValidationError):
        settings.set_value(company.con, company.actor("boss"), "company.currency", "dollars")


def test_a_deal_on_a_customer_the_user_cannot_see_is_not_found(company):
    with pytest.raises(NotFound) as err:
        deals.create_deal(company.con, company.actor("rep_a"), {"name": "Theirs", "customer_id": company.customers["rep_w"]})
    assert err.value.key == "customer.not_found"
    assert company.con.execute("SELECT count(*) FROM deals").fetchone()[0] == 0


def test_a_deal_in_the_second_pipeline_starts_at_its_first_stage(company):
    d = deals.create_deal(company.con, company.actor("rep_a"),
                          {"name": "Renewal", "customer_id": company.customers["rep_a"], "pipeline_id": 2})
    assert row(company, d)["stage"] == "renew_review"
    with pytest.raises(ValidationError) as err:  # a stage of another pipeline
        deals.move_stage(company.con, company.actor("rep_a"), d, "proposal")
    assert err.value.key == "deal.stage_not_in_pipeline"


# ---------------------------------------------------------------------------------------- stage history
def test_every_move_writes_a_history_row_going_back_too(company, deal):
    con, rep = company.con, company.actor("rep_a")
    deals.move_stage(con, later(company, "rep_a", 10), deal, "proposal")
    deals.move_stage(con, later(company, "rep_a", 20), deal, "qualification")  # back
    deals.move_stage(con, later(company, "rep_a", 30), deal, "negotiation")
    moves = [(f, t) for f, t, _w, _u in history(company, deal)]
    assert moves == [(None, "prospecting"), ("prospecting", "proposal"), ("proposal", "qualification"),
                     ("qualification", "negotiation")]
    got = row(company, deal)
    assert got["stage"] == "negotiation" and got["probability"] == 75
    assert got["stage_changed_at"] == NOW + dt.timedelta(minutes=30)
    timeline = deals.stage_timeline(con, rep, deal)
    assert timeline["to_stage"].to_list() == ["prospecting", "proposal", "qualification", "negotiation"]
    assert timeline["who"].to_list() == ["REP_A"] * 4
    assert timeline["current"].to_list() == [False, False, False, True]
    # days in each stage: 10 minutes in prospecting, and so on
    assert timeline["days"].to_list()[:3] == [round(600 / 86400, 1)] * 3


def test_days_in_stage_count_until_the_next_move(company, deal):
    deals.move_stage(company.con, company.actor("rep_a", NOW + dt.timedelta(days=3)), deal, "proposal")
    timeline = deals.stage_timeline(company.con, company.actor("rep_a", NOW + dt.timedelta(days=5)), deal)
    assert timeline["days"].to_list() == [3.0, 2.0]


def test_a_move_and_its_history_row_are_one_unit(company, deal, monkeypatch):
    def broken(*_a, **_k):
        raise RuntimeError("audit down")

    monkeypatch.setattr(deals.audit, "record", broken)
    with pytest.raises(RuntimeError):
        deals.move_stage(company.con, company.actor("rep_a"), deal, "proposal")
    assert row(company, deal)["stage"] == "prospecting"
    assert len(history(company, deal)) == 1


def test_the_owners_probability_survives_moves_until_it_is_cleared(company, deal):
    con, rep = company.con, company.actor("rep_a")
    deals.update_deal(con, rep, deal, {"probability": 35})
    deals.move_stage(con, rep, deal, "proposal")
    assert row(company, deal)["probability"] == 35
    deals.update_deal(con, rep, deal, {"probability": None})
    assert (row(company, deal)["probability"], row(company, deal)["probability_set"]) == (50, False)
    deals.move_stage(con, rep, deal, "negotiation")
    assert row(company, deal)["probability"] == 75


# ---------------------------------------------------------------------------------------- won and lost
def test_won_takes_today_as_close_date_by_default_or_the_date_given(company, deal):
    con, rep = company.con, company.actor("rep_a")
    result = deals.move_stage(con, rep, deal, "won")
    assert result["won"] and not result["lost"] and result["from"] == "prospecting"
    got = row(company, deal)
    assert got["closed_on"] == dt.date(2026, 11, 23) and got["probability"] == 100
    other = deals.create_deal(con, rep, {"name": "Second", "customer_id": company.customers["rep_a"]})
    deals.move_stage(con, rep, other, "won", closed_on="2026-11-20")
    assert row(company, other)["closed_on"] == dt.date(2026, 11, 20)
    with pytest.raises(ValidationError) as err:
        deals.move_stage(con, rep, deals.create_deal(con, rep, {"name": "3", "customer_id": company.customers["rep_a"]}),
                         "won", closed_on="2027-01-01")
    assert err.value.key == "deal.closed_in_future"


def test_the_company_day_decides_today_for_a_won_deal(company, deal):
    # 17:00 UTC on the 23rd is already the 24th in Shanghai
    deals.move_stage(company.con, company.actor("rep_a", dt.datetime(2026, 11, 23, 17, 0)), deal, "won")
    assert row(company, deal)["closed_on"] == dt.date(2026, 11, 24)


def test_lost_without_a_reason_is_refused_in_the_users_language(company, deal):
    with pytest.raises(ValidationError) as err:
        deals.move_stage(company.con, company.actor("rep_a"), deal, "lost")
    assert err.value.key == "deal.lost_reason_required"
    assert "输单原因" in i18n.translate("zh", err.value.key, **err.value.params)
    with pytest.raises(ValidationError) as err:
        deals.move_stage(company.con, company.actor("rep_a"), deal, "lost", lost_reason="because")
    assert err.value.key == "field.bad_choice"
    assert row(company, deal)["stage"] == "prospecting" and len(history(company, deal)) == 1


def test_lost_keeps_the_reason_and_the_competitor(company, deal):
    result = deals.move_stage(company.con, company.actor("rep_a"), deal, "lost", lost_reason="competitor",
                              competitor="Acme CRM")
    assert result["lost"]
    got = row(company, deal)
    assert (got["stage"], got["lost_reason"], got["competitor"], got["probability"]) == \
        ("lost", "competitor", "Acme CRM", 0)
    assert got["closed_on"] == dt.date(2026, 11, 23)


def test_the_first_won_deal_of_a_customer_asks_for_the_hand_off(company, deal):
    con, rep = company.con, company.actor("rep_a")
    assert deals.move_stage(con, rep, deal, "won")["handoff_needed"] is True
    second = deals.create_deal(con, rep, {"name": "More", "customer_id": company.customers["rep_a"]})
    assert deals.move_stage(con, rep, second, "won")["handoff_needed"] is False


# ---------------------------------------------------------------------------------------- reopen
def test_a_won_deal_makes_its_customer_won_and_a_pending_upgrade_stays(company, deal):
    con, rep, cid = company.con, company.actor("rep_a"), company.customers["rep_a"]
    con.execute("UPDATE customers SET stage = 'intent' WHERE id = ?", [cid])
    deals.move_stage(con, rep, deal, "won")
    assert con.execute("SELECT stage, won_at IS NOT NULL FROM customers WHERE id = ?", [cid]).fetchone() == ("won", True)
    assert con.execute("SELECT count(*) FROM audit_log WHERE entity = 'customer' AND entity_id = ? "
                       "AND field = 'stage' AND new_value = 'won'", [cid]).fetchone()[0] == 1
    con.execute("UPDATE customers SET stage = 'upgrade' WHERE id = ?", [cid])
    second = deals.create_deal(con, rep, {"name": "Add-on", "customer_id": cid})
    deals.move_stage(con, rep, second, "won")
    assert con.execute("SELECT stage FROM customers WHERE id = ?", [cid]).fetchone()[0] == "upgrade"


def test_only_the_owners_manager_or_an_admin_reopens_a_closed_deal(company, deal):
    con = company.con
    deals.move_stage(con, company.actor("rep_a"), deal, "proposal")
    deals.move_stage(con, company.actor("rep_a"), deal, "lost", lost_reason="price")
    for username in ("rep_a", "rep_w"):
        with pytest.raises((PermissionDenied, NotFound)):
            deals.reopen(con, company.actor(username), deal)
    with pytest.raises(PermissionDenied):  # the rep cannot leave a closed stage by a move either
        deals.move_stage(con, company.actor("rep_a"), deal, "negotiation")
    assert not deals.can_reopen(con, company.actor("rep_a"), deals.get_deal(con, company.actor("rep_a"), deal))
    result = deals.reopen(con, company.actor("mgr"), deal)
    assert (result["from"], result["to"]) == ("lost", "proposal")  # back where it was before it closed
    got = row(company, deal)
    assert got["closed_on"] is None and got["lost_reason"] is None and got["probability"] == 50
    assert history(company, deal)[-1][:2] == ("lost", "proposal")
    assert company.con.execute("SELECT count(*) FROM audit_log WHERE entity = 'deal' AND entity_id = ? "
                               "AND action = 'reopen'", [deal]).fetchone()[0] > 0
    deals.move_stage(con, company.actor("rep_a"), deal, "won")
    deals.reopen(con, company.actor("boss"), deal, to_stage="qualification")
    assert row(company, deal)["stage"] == "qualification"


def test_a_manager_of_another_team_cannot_reopen(company):
    con, admin = company.con, company.actor("boss")
    from core import org

    west_mgr = org.create_user(con, admin, "mgr_w", "West Manager", "manager", "Start#2026",
                               team_id=company.teams["west"])
    assert west_mgr
    d = deals.create_deal(con, company.actor("rep_a"), {"name": "East deal", "customer_id": company.customers["rep_a"]})
    deals.move_stage(con, company.actor("rep_a"), d, "won")
    with pytest.raises(NotFound):  # out of the west manager's scope altogether
        deals.reopen(con, company.actor("mgr_w"), d)


# ---------------------------------------------------------------------------------------- stale views
def test_moving_a_deal_someone_else_just_moved_is_a_conflict(company, deal):
    con = company.con
    seen_by_rep = deals.get_deal(con, company.actor("rep_a"), deal)
    seen_by_mgr = deals.get_deal(con, company.actor("mgr"), deal)
    deals.move_stage(con, later(company, "mgr", 1), deal, "negotiation", seen=seen_by_mgr)
    with pytest.raises(Conflict) as err:
        deals.move_stage(con, later(company, "rep_a", 2), deal, "proposal", seen=seen_by_rep)
    assert err.value.key == "deal.changed_since" and err.value.params["by"] == "Mia Manager"
    assert "deal.stage" in err.value.params["fields"]
    assert row(company, deal)["stage"] == "negotiation" and len(history(company, deal)) == 2


def test_a_stale_edit_is_refused_and_only_changed_fields_are_written(company, deal):
    con, rep = company.con, company.actor("rep_a")
    seen = deals.get_deal(con, rep, deal)
    deals.update_deal(con, later(company, "mgr", 1), deal, {"next_step": "Call the CFO"})
    with pytest.raises(Conflict):
        deals.update_deal(con, rep, deal, {"competitor": "Acme"}, seen=seen)
    fresh = deals.get_deal(con, rep, deal)
    diff = deals.update_deal(con, later(company, "rep_a", 2), deal, {"competitor": "Acme", "name": "ERP rollout"},
                             seen=fresh)
    assert set(diff) == {"competitor"}


# ---------------------------------------------------------------------------------------- scope
def test_a_rep_never_sees_or_moves_another_reps_deal(company, deal):
    con, other = company.con, company.actor("rep_b")
    with pytest.raises(NotFound):
        deals.get_deal(con, other, deal)
    with pytest.raises(NotFound):
        deals.move_stage(con, other, deal, "proposal")
    with pytest.raises(NotFound):
        deals.update_deal(con, other, deal, {"name": "Mine now"})
    with pytest.raises(NotFound):
        deals.set_lines(con, other, deal, [{"description": "x", "quantity": 1, "unit_price": 1}])
    with pytest.raises(NotFound):
        deals.stage_timeline(con, other, deal)
    assert not deals.allowed(con, other, deal, "view")
    assert row(company, deal)["stage"] == "prospecting" and len(history(company, deal)) == 1
    # the manager of the team sees and moves it; marketing reads it without moving it
    deals.move_stage(con, company.actor("mgr"), deal, "proposal")
    assert deals.get_deal(con, company.actor("mkt"), deal)["stage"] == "proposal"
    with pytest.raises(PermissionDenied):
        deals.move_stage(con, company.actor("mkt"), deal, "negotiation")


def test_reassign_needs_the_assign_right_and_moves_the_team_along(company, deal):
    con = company.con
    with pytest.raises(PermissionDenied):
        deals.reassign(con, company.actor("rep_a"), [deal], company.users["rep_b"])
    assert deals.reassign(con, company.actor("mgr"), [deal], company.users["rep_sh"]) == {"done": 1, "skipped": 0}
    got = row(company, deal)
    assert got["owner_id"] == company.users["rep_sh"] and got["team_id"] == company.teams["shanghai"]
    with pytest.raises(NotFound):
        deals.get_deal(con, company.actor("rep_a"), deal)
    with pytest.raises(PermissionDenied):  # west is outside the east manager's tree
        deals.reassign(con, company.actor("mgr"), [deal], company.users["rep_w"])


def test_delete_moves_a_deal_to_the_recycle_bin(company, deal):
    with pytest.raises(PermissionDenied):
        deals.delete_deal(company.con, company.actor("rep_a"), deal)
    deals.delete_deal(company.con, company.actor("mgr"), deal)
    with pytest.raises(NotFound):
        deals.get_deal(company.con, company.actor("rep_a"), deal)
    binned = recycle.deleted(company.con, company.actor("boss"), "deal")
    assert binned["id"].to_list() == [deal]


# ---------------------------------------------------------------------------------------- lines and amount
def test_the_amount_follows_the_lines(company, deal):
    con, rep = company.con, company.actor("rep_a")
    con.execute("INSERT INTO products (id, code, name, name_zh, series, list_price, created_at) "
                "VALUES (901, 'SKU-1', 'Licence', '许可证', 'software', 1000, ?)", [NOW])
    result = deals.set_lines(con, rep, deal, [
        {"product_id": 901, "quantity": 3, "unit_price": 1000, "discount": 10},
        {"description": "Installation", "quantity": 1, "unit_price": 500.5}])
    assert result == {"amount": 3200.5, "lines": 2}
    got = deals.get_deal(con, rep, deal)
    assert float(got["amount"]) == 3200.5
    assert [x["amount"] for x in got["lines"]] == [2700.0, 500.5]
    assert got["lines"][0]["product_name_zh"] == "许可证"
    with pytest.raises(ValidationError) as err:  # the amount of a deal with lines is theirs
        deals.update_deal(con, rep, deal, {"amount": 1})
    assert err.value.key == "deal.amount_from_lines"
    created = deals.create_deal(con, rep, {"name": "With lines", "customer_id": company.customers["rep_a"],
                                           "amount": 5}, lines=[{"product_id": 901, "quantity": 2, "unit_price": 10}])
    assert float(row(company, created)["amount"]) == 20.0


@pytest.mark.parametrize("line, key", [
    ({"description": "x", "quantity": -1, "unit_price": 1}, "field.out_of_range"),
    ({"description": "x", "quantity": 1, "unit_price": -5}, "field.out_of_range"),
    ({"description": "x", "quantity": 1, "unit_price": 1e15}, "field.out_of_range"),
    ({"description": "x", "quantity": 1, "unit_price": 1, "discount": 101}, "field.out_of_range"),
    ({"description": "x", "quantity": "lots", "unit_price": 1}, "field.not_a_number"),
    ({"description": "x", "quantity": float("nan"), "unit_price": 1}, "field.not_finite"),
    ({"quantity": 1, "unit_price": 1}, "deal.line_needs_product"),
    ({"product_id": 424242, "quantity": 1, "unit_price": 1}, "field.bad_choice"),
    ({"description": "x", "quantity": 1, "unit_price": 1, "colour": "red"}, "field.unknown"),
])
def test_bad_lines_are_refused_by_field(company, deal, line, key):
    with pytest.raises(ValidationError) as err:
        deals.set_lines(company.con, company.actor("rep_a"), deal, [line])
    assert err.value.key == key
    assert company.con.execute("SELECT count(*) FROM deal_lines").fetchone()[0] == 0


@pytest.mark.parametrize("values, key", [
    ({"amount": -1}, "field.out_of_range"),
    ({"amount": 1e14}, "field.out_of_range"),
    ({"probability": 101}, "field.out_of_range"),
    ({"probability": 50.5}, "field.not_whole_number"),
    ({"expected_close": "2026-02-30"}, "field.bad_date"),
    ({"name": ""}, "field.required"),
    ({"stage": "won"}, "deal.stage_by_move"),
    ({"customer_id": 1}, "deal.customer_fixed"),
])
def test_bad_deal_values_are_refused_by_field(company, deal, values, key):
    with pytest.raises(ValidationError) as err:
        deals.update_deal(company.con, company.actor("rep_a"), deal, values)
    assert err.value.key == key


def test_a_move_to_an_unknown_stage_or_a_bad_id_is_refused(company, deal):
    with pytest.raises(ValidationError):
        deals.move_stage(company.con, company.actor("rep_a"), deal, "nirvana")
    with pytest.raises(NotFound):
        deals.move_stage(company.con, company.actor("rep_a"), "1 OR 1=1", "won")
    with pytest.raises(ValidationError):
        deals.move_stage(company.con, company.actor("rep_a"), deal, "won", closed_on="yesterday")


def test_a_contact_of_another_customer_is_refused(company, deal):
    other = contacts.create_contact(company.con, company.actor("rep_b"), company.customers["rep_b"], {"name": "B's"})
    with pytest.raises(ValidationError) as err:
        deals.update_deal(company.con, company.actor("rep_a"), deal, {"contact_id": other})
    assert err.value.key == "deal.bad_contact"


def test_custom_deal_fields_are_validated_and_stored(company, deal):
    fields.save_field(company.con, company.actor("boss"), "deal", None, kind="int", label_en="Seats", label_zh="席位数",
                      min_value=1, max_value=10000)
    deals.update_deal(company.con, company.actor("rep_a"), deal, {"cf_seats": 25})
    assert deals.get_deal(company.con, company.actor("rep_a"), deal)["cf_seats"] == 25
    with pytest.raises(ValidationError):
        deals.update_deal(company.con, company.actor("rep_a"), deal, {"cf_seats": 0})


# ---------------------------------------------------------------------------------------- the rest of the house
def test_a_follow_up_on_the_deal_moves_its_last_activity_forward(company, deal):
    con, rep = company.con, company.actor("rep_a")
    when = NOW - dt.timedelta(hours=2)
    activities.log_followup(con, rep, customer_id=company.customers["rep_a"], kind="call", subject="Budget",
                            occurred_at=when, deal_id=deal)
    assert row(company, deal)["last_activity_at"] == when
    activities.log_followup(con, rep, customer_id=company.customers["rep_a"], kind="note", subject="Older",
                            occurred_at=when - dt.timedelta(days=1), deal_id=deal)
    assert row(company, deal)["last_activity_at"] == when  # never backwards


def test_lead_conversion_creates_its_deal_through_the_deal_service(company):
    con, rep = company.con, company.actor("rep_a")
    lead = leads.create_lead(con, rep, {"name": "Zhou", "company": "Zhou Ltd", "source": "web"})
    out = leads.convert_lead(con, rep, lead, deal={"amount": 800})
    got = deals.get_deal(con, rep, out["deal_id"])
    assert (got["name"], got["stage"], got["lead_id"], got["source"]) == ("Zhou Ltd", "prospecting", lead, "web")
    assert history(company, out["deal_id"]) == [(None, "prospecting", NOW, company.users["rep_a"])]


def test_the_forecast_category_offers_only_what_the_forecast_counts(company, deal):
    # "closed" is what a won deal counts as: on an open deal the forecast would ignore it
    con, rep = company.con, company.actor("rep_a")
    assert deals.FIELDS["forecast_category"].options == ("pipeline", "best_case", "commit")
    for write in (lambda: deals.update_deal(con, rep, deal, {"forecast_category": "closed"}),
                  lambda: deals.create_deal(con, rep, {"name": "x", "customer_id": company.customers["rep_a"],
                                                       "forecast_category": "closed"})):
        with pytest.raises(ValidationError) as err:
            write()
        assert (err.value.key, err.value.params.get("field")) == ("field.bad_choice", "deal.forecast_category")
    assert deals.get_deal(con, rep, deal)["forecast_category"] is None
    deals.update_deal(con, rep, deal, {"forecast_category": "commit"})
    assert deals.get_deal(con, rep, deal)["forecast_category"] == "commit"


# ---------------------------------------------------------------------------------------- races with the admin
def _paused_target_stage(monkeypatch):
    """deals._target_stage that stops after reading the stage until `go` is set (the admin acts then)."""
    read, go = threading.Event(), threading.Event()
    real = deals._target_stage

    def paused(c, code, pid):
        found = real(c, code, pid)
        if not read.is_set():
            read.set()
            go.wait(5)
        return found
    monkeypatch.setattr(deals, "_target_stage", paused)
    return read, go


def _in_thread(fn):
    out: dict = {}

    def run():
        try:
            out["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - the test looks at what the user would get
            out["error"] = exc
    th = threading.Thread(target=run)
    th.start()
    return th, out


def _stage_of(company, deal_id):
    return company.con.execute("SELECT d.stage, s.active FROM deals d JOIN pipeline_stages s ON s.code = d.stage "
                               "WHERE d.id = ?", [deal_id]).fetchone()


@pytest.mark.parametrize("admin", ["remove", "deactivate"])
def test_a_move_into_a_stage_the_admin_removes_meanwhile_is_refused_not_lost(company, deal, monkeypatch, admin):
    con, rep, boss = company.con, company.actor("rep_a"), company.actor("boss")
    read, go = _paused_target_stage(monkeypatch)
    th, out = _in_thread(lambda: deals.move_stage(con.cursor(), rep, deal, "proposal"))
    assert read.wait(5)
    if admin == "remove":
        pipelines.remove_stage(con.cursor(), boss, "proposal")
    else:
        pipelines.save_stage(con.cursor(), boss, {"active": False}, code="proposal")
    go.set()
    th.join(10)
    assert isinstance(out.get("error"), ValidationError) and out["error"].key == "deal.stage_not_in_pipeline"
    assert _stage_of(company, deal) == ("prospecting", True)       # still on the board, where it was
    assert [h[1] for h in history(company, deal)] == ["prospecting"]


def test_a_deal_created_in_a_stage_the_admin_removes_meanwhile_is_refused(company, monkeypatch):
    con, rep, boss = company.con, company.actor("rep_a"), company.actor("boss")
    read, go = _paused_target_stage(monkeypatch)
    th, out = _in_thread(lambda: deals.create_deal(con.cursor(), rep, {
        "name": "Late", "customer_id": company.customers["rep_a"], "stage": "proposal"}))
    assert read.wait(5)
    pipelines.remove_stage(con.cursor(), boss, "proposal")
    go.set()
    th.join(10)
    assert isinstance(out.get("error"), ValidationError) and out["error"].key == "deal.stage_not_in_pipeline"
    assert con.execute("SELECT count(*) FROM deals WHERE name = 'Late'").fetchone()[0] == 0


def test_removing_a_stage_a_deal_is_moving_into_waits_for_it_and_then_finds_the_deal(company, deal, monkeypatch):
    con, rep, boss = company.con, company.actor("rep_a"), company.actor("boss")
    held = threading.Event()
    real = deals._history

    def slow(*args):  # the move has written the stage's row; it commits a moment later
        held.set()
        time.sleep(0.05)
        return real(*args)
    monkeypatch.setattr(deals, "_history", slow)
    th, out = _in_thread(lambda: deals.move_stage(con.cursor(), rep, deal, "proposal"))
    assert held.wait(5)
    with pytest.raises(pipelines.StageHasDeals):
        pipelines.remove_stage(con.cursor(), boss, "proposal")
    th.join(10)
    assert "error" not in out and _stage_of(company, deal) == ("proposal", True)


def test_moves_of_four_deals_into_one_stage_at_once_all_land_with_their_history(company, monkeypatch):
    con = company.con
    reps = [company.actor(u) for u in ("rep_a", "rep_a", "rep_b", "rep_b")]
    ids = [deals.create_deal(con, r, {"name": f"D{i}", "customer_id": company.customers[r.username]})
           for i, r in enumerate(reps)]
    start = threading.Barrier(4)
    conflicts, first = [], threading.Lock()
    real_conflict, real_history = db._is_conflict, deals._history

    def counted(exc):
        found = real_conflict(exc)
        conflicts.append(found)
        return found

    def slow_first(*args):  # the first move holds the stage a little longer: the others must retry
        if first.acquire(blocking=False):
            time.sleep(0.05)
        return real_history(*args)
    monkeypatch.setattr(db, "_is_conflict", counted)
    monkeypatch.setattr(deals, "_history", slow_first)

    def move(r, did):
        start.wait(5)
        return deals.move_stage(con.cursor(), r, did, "proposal")
    runs = [_in_thread(lambda r=r, d=d: move(r, d)) for r, d in zip(reps, ids)]
    for th, _out in runs:
        th.join(30)
    assert any(conflicts)                                             # the retry path was taken
    assert [out.get("error") for _th, out in runs] == [None] * 4     # and no conflict reached a user
    assert [_stage_of(company, d) for d in ids] == [("proposal", True)] * 4
    assert [[h[1] for h in history(company, d)] for d in ids] == [["prospecting", "proposal"]] * 4


def test_sub_cent_prices_keep_their_decimals_and_a_deal_becomes_an_order_whatever_its_size(company, deal):
    from core import orders
    con, rep = company.con, company.actor("rep_a")
    deals.set_lines(con, rep, deal, [{"description": "SMS", "quantity": 1_000_000, "unit_price": 0.0004}])
    assert row(company, deal)["amount"] == 400                           # 0.0004 was stored as 0.00 before
    assert deals.get_deal(con, rep, deal)["lines"][0]["unit_price"] == pytest.approx(0.0004)
    with pytest.raises(ValidationError):                                 # too small to store: refused, not 0
        deals.set_lines(con, rep, deal, [{"description": "x", "quantity": 1, "unit_price": 0.00001}])
    big = deals.create_deal(con, rep, {"name": "Big", "customer_id": company.customers["rep_a"], "amount": 2.5e9})
    deals.move_stage(con, rep, big, "won")
    order = orders.create_from_deal(con, rep, big)                        # the order limits match the deal's
    assert con.execute("SELECT amount FROM orders WHERE id = ?", [order]).fetchone()[0] == 2_500_000_000
