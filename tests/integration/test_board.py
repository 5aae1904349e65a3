"""The pipeline board and the deals list (core.board) on small hand-made data: each column's count and
sum are the ones worked out here, a rep's board holds only the rep's deals, the won and lost columns
hold only deals closed in the window, the list's filters, and the overdue / stale warnings."""
from __future__ import annotations

import datetime as dt

import pytest

from core import board, db, settings
from core.errors import PermissionDenied, ValidationError
from tests.conftest import NOW

TODAY = dt.date(2026, 11, 23)  # NOW (09:30 UTC) is 17:30 in Shanghai, the same day


def add_deal(company, owner: str, stage: str, amount, *, pipeline: int = 1, name: str | None = None,
             closed_days_ago: int | None = None, close_in_days: int | None = 30, entered_days_ago: int = 1,
             touched_days_ago: int | None = 1, source: str = "web", deleted: bool = False) -> int:
    """A deal written directly, with every date the board reads under the test's control."""
    c = company.con
    uid = company.users[owner]
    team = db.scalar(c, "SELECT team_id FROM users WHERE id = ?", [uid])
    did = db.next_id(c, "deals")
    entered = NOW - dt.timedelta(days=entered_days_ago)
    c.execute(
        "INSERT INTO deals (id, name, customer_id, amount, stage, pipeline_id, source, expected_close, closed_on, "
        "owner_id, team_id, created_at, updated_at, stage_changed_at, last_activity_at, deleted_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [did, name or f"{owner} {stage} {amount}", company.customers.get(owner), amount, stage, pipeline, source,
         None if close_in_days is None else TODAY + dt.timedelta(days=close_in_days),
         None if closed_days_ago is None else TODAY - dt.timedelta(days=closed_days_ago),
         uid, team, entered - dt.timedelta(days=10), entered, entered,
         None if touched_days_ago is None else NOW - dt.timedelta(days=touched_days_ago),
         NOW if deleted else None])
    return did


@pytest.fixture
def deals(company):
    d = {
        "a1": add_deal(company, "rep_a", "prospecting", 100),
        "a2": add_deal(company, "rep_a", "prospecting", 250, source="referral"),
        "a3": add_deal(company, "rep_a", "proposal", 1000, close_in_days=-3, name="Overdue 大单"),
        "b1": add_deal(company, "rep_b", "prospecting", 40, touched_days_ago=20, entered_days_ago=20),
        "sh": add_deal(company, "rep_sh", "negotiation", 5000),
        "w1": add_deal(company, "rep_w", "prospecting", 999),
        "won_recent": add_deal(company, "rep_a", "won", 500, closed_days_ago=5, close_in_days=-10),
        "won_old": add_deal(company, "rep_a", "won", 7000, closed_days_ago=100, close_in_days=-120),
        "lost_recent": add_deal(company, "rep_b", "lost", 300, closed_days_ago=2, touched_days_ago=60),
        "gone": add_deal(company, "rep_a", "prospecting", 12345, deleted=True),
        "renewal": add_deal(company, "rep_a", "renew_quote", 800, pipeline=2),
    }
    return d


def columns(result) -> dict:
    return {c["code"]: (c["count"], c["amount"]) for c in result["columns"]}


def card_ids(result, code=None) -> set:
    return {card["id"] for c in result["columns"] if code in (None, c["code"]) for card in c["cards"]}


def test_each_column_counts_and_sums_the_deals_a_manager_sees(company, deals):
    got = board.board(company.con, company.actor("mgr"), 1, {})
    # East and East - Shanghai: a1 + a2 + b1 = 390 in prospecting; rep_w (West) is not the manager's
    assert columns(got) == {"prospecting": (3, 390.0), "qualification": (0, 0.0), "proposal": (1, 1000.0),
                            "negotiation": (1, 5000.0), "won": (1, 500.0), "lost": (1, 300.0)}
    assert [c["code"] for c in got["columns"]] == ["prospecting", "qualification", "proposal", "negotiation",
                                                   "won", "lost"]
    assert deals["w1"] not in card_ids(got) and deals["gone"] not in card_ids(got)


def test_the_admin_sees_every_live_deal_of_the_pipeline(company, deals):
    got = board.board(company.con, company.actor("boss"), 1, {})
    assert columns(got)["prospecting"] == (4, 1389.0)
    assert deals["renewal"] not in card_ids(got)
    renewals = board.board(company.con, company.actor("boss"), 2, {})
    assert columns(renewals) == {"renew_review": (0, 0.0), "renew_quote": (1, 800.0), "renew_commit": (0, 0.0),
                                 "renew_won": (0, 0.0), "renew_lost": (0, 0.0)}


def test_a_reps_board_holds_only_own_deals(company, deals):
    got = board.board(company.con, company.actor("rep_a"), 1, {})
    assert columns(got)["prospecting"] == (2, 350.0)
    assert card_ids(got) == {deals["a1"], deals["a2"], deals["a3"], deals["won_recent"]}
    other = board.board(company.con, company.actor("rep_b"), 1, {})
    assert card_ids(other) == {deals["b1"], deals["lost_recent"]}


def test_closed_columns_hold_only_deals_closed_in_the_window(company, deals):
    con, mgr = company.con, company.actor("mgr")
    assert columns(board.board(con, mgr, 1, {"closed_days": 365}))["won"] == (2, 7500.0)
    assert columns(board.board(con, mgr, 1, {"closed_days": 3}))["won"] == (0, 0.0)
    assert columns(board.board(con, mgr, 1, {"closed_days": 3}))["lost"] == (1, 300.0)
    hidden = board.board(con, mgr, 1, {"closed_days": 0})
    assert columns(hidden)["won"] == (0, 0.0) and columns(hidden)["prospecting"] == (3, 390.0)
    period = {"closed_from": TODAY - dt.timedelta(days=120), "closed_to": TODAY - dt.timedelta(days=90)}
    assert card_ids(board.board(con, mgr, 1, period), "won") == {deals["won_old"]}
    with pytest.raises(ValidationError):
        board.board(con, mgr, 1, {"closed_from": TODAY, "closed_to": TODAY - dt.timedelta(days=1)})


def test_cards_carry_days_in_stage_and_the_warnings(company, deals):
    got = board.board(company.con, company.actor("mgr"), 1, {})
    cards = {card["id"]: card for c in got["columns"] for card in c["cards"]}
    assert cards[deals["a3"]]["overdue"] and not cards[deals["a3"]]["stale"]
    assert cards[deals["b1"]]["stale"] and not cards[deals["b1"]]["overdue"]
    assert cards[deals["b1"]]["days_in_stage"] == 20
    assert not cards[deals["a1"]]["overdue"] and not cards[deals["a1"]]["stale"]
    # closed deals never warn, however old their close date or last follow-up
    assert not cards[deals["lost_recent"]]["stale"] and not cards[deals["won_recent"]]["overdue"]
    assert cards[deals["a1"]]["customer_name"] == "Customer of rep_a"
    assert cards[deals["a1"]]["owner_name"] == "REP_A" and cards[deals["a1"]]["updated_at"] is not None


def test_stale_follows_the_setting(company, deals):
    con, mgr = company.con, company.actor("mgr")
    settings.set_value(con, company.actor("boss"), "pipeline.stale_days", 30)
    got = board.board(con, mgr, 1, {})
    cards = {card["id"]: card for c in got["columns"] for card in c["cards"]}
    assert not cards[deals["b1"]]["stale"]  # 20 days without a follow-up is fine when the company says 30


def test_only_the_first_cards_of_a_column_are_read_and_the_count_stays_whole(company, deals):
    for n in range(5):
        add_deal(company, "rep_a", "qualification", 10 * (n + 1), close_in_days=n + 1)
    got = board.board(company.con, company.actor("rep_a"), 1, {}, per_column=2)
    qual = next(c for c in got["columns"] if c["code"] == "qualification")
    assert (qual["count"], qual["amount"]) == (5, 150.0)
    assert [card["amount"] for card in qual["cards"]] == [10.0, 20.0]  # soonest close first
    by_amount = board.board(company.con, company.actor("rep_a"), 1, {}, per_column=2, sort="amount")
    qual = next(c for c in by_amount["columns"] if c["code"] == "qualification")
    assert [card["amount"] for card in qual["cards"]] == [50.0, 40.0]


def test_board_filters_narrow_counts_and_cards_alike(company, deals):
    con, mgr = company.con, company.actor("mgr")
    mine = board.board(con, mgr, 1, {"owner": company.users["rep_b"]})
    assert columns(mine)["prospecting"] == (1, 40.0) and columns(mine)["won"] == (0, 0.0)
    assert columns(board.board(con, mgr, 1, {"source": ["referral"]}))["prospecting"] == (1, 250.0)
    assert columns(board.board(con, mgr, 1, {"amount_min": 100, "amount_max": 300}))["prospecting"] == (2, 350.0)
    assert columns(board.board(con, mgr, 1, {"stale": True}))["prospecting"] == (1, 40.0)
    assert columns(board.board(con, mgr, 1, {"overdue": True}))["proposal"] == (1, 1000.0)
    shanghai = board.board(con, mgr, 1, {"team": company.teams["shanghai"]})
    assert card_ids(shanghai) == {deals["sh"]}


def test_the_list_pages_through_the_visible_deals_with_filters(company, deals):
    con, mgr = company.con, company.actor("mgr")
    df, total = board.list_deals(con, mgr, {})
    # every live deal of East and its sub-team, both pipelines, closed ones too, none of West's
    assert total == 9 and deals["w1"] not in df["id"].to_list() and deals["gone"] not in df["id"].to_list()
    assert board.list_deals(con, mgr, {"pipeline": 2})[1] == 1
    assert set(board.list_deals(con, mgr, {"stage": ["won", "lost"]})[0]["id"]) == {
        deals["won_recent"], deals["won_old"], deals["lost_recent"]}
    assert set(board.list_deals(con, mgr, {"status": "won"})[0]["id"]) == {deals["won_recent"], deals["won_old"]}
    assert board.list_deals(con, mgr, {"status": "open"})[1] == 6
    assert set(board.list_deals(con, mgr, {"owner": [company.users["rep_b"]]})[0]["id"]) == {
        deals["b1"], deals["lost_recent"]}
    assert set(board.list_deals(con, mgr, {"team": company.teams["east"]})[0]["id"]) >= {deals["sh"], deals["a1"]}
    assert set(board.list_deals(con, mgr, {"source": "referral"})[0]["id"]) == {deals["a2"]}
    assert set(board.list_deals(con, mgr, {"amount_min": 900, "amount_max": 1000})[0]["id"]) == {deals["a3"]}
    assert set(board.list_deals(con, mgr, {"stale": True})[0]["id"]) == {deals["b1"]}
    assert set(board.list_deals(con, mgr, {"q": "大单"})[0]["id"]) == {deals["a3"]}
    # close month: the close date of closed deals, the expected one of open deals
    month = (TODAY - dt.timedelta(days=100)).strftime("%Y-%m")
    assert set(board.list_deals(con, mgr, {"close_month": month})[0]["id"]) == {deals["won_old"]}
    page, total = board.list_deals(con, mgr, {}, sort="amount", desc=True, page=1, page_size=4)
    assert total == 9 and page["amount"].to_list() == [500.0, 300.0, 250.0, 100.0]  # 7000 5000 1000 800 | these | 40
    row = board.list_deals(con, mgr, {"q": "大单"})[0].row(0, named=True)
    assert row["overdue"] and not row["stale"] and row["customer_name"] == "Customer of rep_a"


def test_a_reps_list_holds_only_own_deals(company, deals):
    df, total = board.list_deals(company.con, company.actor("rep_b"), {})
    assert total == 2 and set(df["id"]) == {deals["b1"], deals["lost_recent"]}
    # asking for another rep's deals by owner finds nothing, it does not widen the scope
    assert board.list_deals(company.con, company.actor("rep_b"), {"owner": company.users["rep_a"]})[1] == 0


def test_bad_filters_are_refused(company, deals):
    con, mgr = company.con, company.actor("mgr")
    for bad in ({"owner": "rep_a"}, {"close_month": "2026-13"}, {"status": "maybe"}, {"nonsense": 1},
                {"amount_min": -5}, {"amount_min": 10, "amount_max": 5}, {"stale": "yes"}):
        with pytest.raises(ValidationError):
            board.list_deals(con, mgr, bad)
    with pytest.raises(ValidationError):
        board.board(con, mgr, 1, {"closed_days": -1})
    with pytest.raises(ValidationError):
        board.board(con, mgr, 1, {}, sort="1; DROP TABLE deals")


def test_who_cannot_see_deals_gets_no_board(company, deals):
    con = company.con
    con.execute("UPDATE permissions SET scope = 'none' WHERE role = 'service' AND module = 'deals'")
    with pytest.raises(PermissionDenied):
        board.board(con, company.actor("svc"), 1, {})
    with pytest.raises(PermissionDenied):
        board.list_deals(con, company.actor("svc"), {})


def test_the_pickers_offer_what_the_scope_holds(company):
    con = company.con
    assert [u["id"] for u in board.owners(con, company.actor("rep_a"))] == [company.users["rep_a"]]
    mgr_owners = {u["id"] for u in board.owners(con, company.actor("mgr"))}
    assert {company.users[u] for u in ("mgr", "rep_a", "rep_b", "rep_sh")} <= mgr_owners
    assert company.users["rep_w"] not in mgr_owners
    assert board.teams(con, company.actor("rep_a")) == []
    assert {t["id"] for t in board.teams(con, company.actor("mgr"))} == {company.teams["east"],
                                                                        company.teams["shanghai"]}


def test_the_search_finds_percent_and_underscore_as_typed(company):
    con, mgr = company.con, company.actor("mgr")
    ids = {name: add_deal(company, "rep_a", "prospecting", 10, name=name)
           for name in ("Discount 50% off", "Order 500 units", "A_B test", "AXB test", "Path C:\\x")}
    found = lambda q: {n for n, i in ids.items() if i in board.list_deals(con, mgr, {"q": q})[0]["id"].to_list()}
    assert found("50%") == {"Discount 50% off"}
    assert found("a_b") == {"A_B test"}
    assert found("C:\\") == {"Path C:\\x"}
    assert found("50") == {"Discount 50% off", "Order 500 units"}
    assert {card["name"] for c in board.board(con, mgr, 1, {"q": "50%"})["columns"] for card in c["cards"]} == {
        "Discount 50% off"}


def test_each_open_row_of_the_list_carries_its_stages_historical_win_rate(company, monkeypatch):
    from core import deals as deal_service, forecast

    con, rep = company.con, company.actor("rep_a")
    made = {}
    for key, path in (("lost_early", ["lost"]), ("won", ["proposal", "won"]), ("lost", ["proposal", "lost"]),
                      ("open_proposal", ["proposal"]), ("open_new", [])):
        made[key] = deal_service.create_deal(con, rep, {"name": key, "customer_id": company.customers["rep_a"]})
        for stage in path:
            deal_service.move_stage(con, rep, made[key], stage, lost_reason="price" if stage == "lost" else None)
    deal_service.update_deal(con, rep, made["open_proposal"], {"probability": 80})
    calls = []
    real = forecast.stage_win_rates
    monkeypatch.setattr(forecast, "stage_win_rates", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    df, _total = board.list_deals(con, rep, {})
    rates = dict(zip(df["name"].to_list(), df["win_rate"].to_list()))
    # proposal: reached by won, lost, open_proposal; closed 2, won 1. prospecting: all five; closed 3, won 1
    assert rates == {"open_proposal": 0.5, "open_new": pytest.approx(1 / 3), "won": None, "lost": None,
                     "lost_early": None}
    assert calls == [1]   # one set-based query for the page's pipeline, none per row
    # another rep's history is not theirs to learn from
    other = deal_service.create_deal(con, company.actor("rep_b"), {"name": "b", "customer_id": company.customers["rep_b"]})
    assert board.list_deals(con, company.actor("rep_b"), {})[0]["win_rate"].to_list() == [None]
    assert other
