"""Drill-down (issue 11, point 5): the records behind a KPI are the rows it counted — for every drillable
KPI the total (or the sum of amounts) equals the figure, with the dashboard's filters applied — and a
rep's drill-down never shows another rep's rows. Bars (breakdowns) add up to the same figure."""
from __future__ import annotations

import datetime as dt

import pytest

from core.analytics import dashboards, drill, metrics as m
from tests.integration.test_metrics import NOV, activity, customer, deal, lead, order, ticket, utc

D = dt.date


@pytest.fixture
def data(company):
    for rep in ("rep_a", "rep_b", "rep_w"):
        c = customer(company, rep, created="2026-11-03 10:00", last="2026-10-01 10:00", next_due="2026-11-10 10:00",
                     level="A", source="web")
        customer(company, rep, created="2026-06-03 10:00", level="B")                # never followed up
        activity(company, rep, c, "2026-11-05 09:00")
        activity(company, rep, c, "2026-10-25 09:00")                                 # previous period
        lead(company, rep, "2026-11-04 10:00", source="ad")
        lead(company, rep, "2026-11-06 10:00", "2026-11-08 10:00", source="web")
        deal(company, rep, "won", 100, closed_on=D(2026, 11, 10), customer_id=c)
        deal(company, rep, "won", 250, closed_on=D(2026, 11, 12), customer_id=c, source="ad")
        deal(company, rep, "lost", 70, closed_on=D(2026, 11, 13), customer_id=c)
        deal(company, rep, "won", 999, closed_on=D(2026, 10, 13), customer_id=c)      # previous period
        deal(company, rep, "qualification", 400, created="2026-10-01 10:00", customer_id=c)
        deal(company, rep, "proposal", 600, created="2026-11-02 10:00", customer_id=c,
             history=(("qualification", "2026-11-02 10:00"), ("proposal", "2026-11-09 10:00")))
        order(company, rep, c, "2026-11-07 10:00", 300)
        order(company, rep, c, "2026-11-08 10:00", -40, status="refunded")
        order(company, rep, c, "2026-11-09 10:00", 500, status="draft")
        ticket(company, c, "2026-11-02 10:00", first=1, done=5)
        ticket(company, c, "2026-11-20 10:00", first=2, status="open")
    return company


USERS = ("boss", "mgr", "rep_a", "rep_w", "svc", "mkt")
FILTERS = (m.Filters(), m.Filters(owner_id=None, level="A"), m.Filters(source="web"))


@pytest.mark.parametrize("username", USERS)
def test_the_drill_down_total_equals_the_kpi_for_every_drillable_kpi(data, username):
    a = data.actor(username)
    for filters in FILTERS:
        figs = {f.key: f for f in m.compute(data.con, a, NOV, filters)}
        for key, how in drill.EXACT.items():
            page = drill.records(data.con, a, key, NOV, filters, page_size=2)
            want = figs[key].value
            got = page.total if how == "count" else page.amount
            if want is None:   # a filter the records do not carry, or a module the viewer may not view
                assert page.total == 0, (username, key, filters)
            else:
                assert got == pytest.approx(want), (username, key, filters, got, want)
                assert page.frame.height == min(2, page.total)


def test_the_numbers_are_not_trivially_zero(data):
    a = data.actor("mgr")
    figs = {f.key: f.value for f in m.compute(data.con, a, NOV)}
    # east: rep_a, rep_b, rep_sh (and the east pool); rep_w is in the west; each rep also holds
    # the base customer of build_company, never followed up
    assert figs["won_deals"] == 4 and figs["won_revenue"] == 700
    assert figs["open_pipeline"] == 2000 and figs["order_revenue"] == 520
    assert figs["new_leads"] == 4 and figs["forgotten_never"] == 5 and figs["backlog"] == 2
    page = drill.records(data.con, a, "won_revenue", NOV)
    assert sorted(page.frame["amount"].cast(float).to_list()) == [100, 100, 250, 250]


def test_a_reps_drill_down_never_shows_another_reps_rows(data):
    a = data.actor("rep_a")
    mine = data.users["rep_a"]
    for key in drill.SETS:
        page = drill.records(data.con, a, key, NOV, page_size=500)
        owners = set(page.frame["owner_id"].to_list()) if page.total else set()
        if key.endswith("tickets") or key == "backlog":   # tickets: the customers rep_a may open
            custs = set(page.frame["customer_id"].to_list()) if page.total else set()
            assert custs <= {data.customers["rep_a"], data.customers["pool_east"]} | set(
                r[0] for r in data.con.execute("SELECT id FROM customers WHERE owner_id = ?", [mine]).fetchall())
        else:
            assert owners <= {mine, None}, (key, owners)
    manager = drill.records(data.con, data.actor("mgr"), "won_deals", NOV).total
    assert drill.records(data.con, a, "won_deals", NOV).total == 2 < manager


def test_bars_add_up_to_the_figure_and_a_bars_table_has_its_height(data):
    a = data.actor("boss")
    by_rep = drill.breakdown(data.con, a, "won_deals", NOV, "owner")
    assert by_rep["amount"].sum() == m.won_revenue(data.con, a, NOV).value
    for row in by_rep.iter_rows(named=True):
        page = drill.records(data.con, a, "won_deals", NOV, m.Filters(owner_id=row["grp"]))
        assert (page.total, page.amount) == (row["n"], pytest.approx(row["amount"]))
    lost = drill.breakdown(data.con, a, "lost_deals", NOV, "reason")
    assert lost["n"].sum() == 3
    stages = drill.breakdown(data.con, a, "open_deals", NOV, "status")
    assert dict(zip(stages["grp"], stages["n"])) == {"qualification": 3, "proposal": 3}
    page = drill.records(data.con, a, "open_deals", NOV, narrow={"status": "proposal"})
    assert page.total == 3 and page.amount == 1800


def test_the_leaderboard_is_one_row_per_rep_and_agrees_with_the_rep_filtered_figures(data):
    a = data.actor("mgr")
    board = dashboards.leaderboard(data.con, a, NOV)
    row = board.filter(board["owner_id"] == data.users["rep_a"]).to_dicts()[0]
    one = {f.key: f.value for f in m.compute(data.con, a, NOV, m.Filters(owner_id=data.users["rep_a"]))}
    assert row["won_revenue"] == one["won_revenue"] and row["won_deals"] == one["won_deals"]
    assert row["win_rate"] == pytest.approx(one["win_rate"]) and row["followups"] == one["followups"]
    assert data.users["rep_w"] not in board["owner_id"].to_list()     # west is outside the manager's tree


def test_the_trend_has_twelve_months_beside_the_twelve_before(data):
    a = data.actor("boss")
    trend = dashboards.revenue_trend(data.con, a, NOV)
    assert trend.height == 12 and trend["month"][-1] == D(2026, 11, 1)
    assert trend["amount"][-1] == 1050 and trend["amount"][-2] == 2997
    assert trend["previous_month"][-1] == D(2025, 11, 1)


def test_an_unknown_kpi_or_grouping_is_refused(data):
    with pytest.raises(m.ValidationError):
        drill.records(data.con, data.actor("boss"), "nope", NOV)
    with pytest.raises(m.ValidationError):
        drill.breakdown(data.con, data.actor("boss"), "won_deals", NOV, "id; DROP TABLE x")


def prio_ticket(company, opened, priority, done=None):
    company.con.execute("INSERT INTO tickets (id, subject, customer_id, status, priority, opened_at, resolved_at, "
                        "created_at, updated_at) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM tickets), 'T', ?, ?, ?, "
                        "?, ?, ?, ?)", [company.customers["rep_a"], "resolved" if done else "open", priority,
                                        utc(opened), done and utc(done), utc(opened), utc(opened)])


def test_the_backlog_by_age_and_priority_and_each_segments_tickets(company):
    """Age at the period's end (now, 23 Nov 17:30 Shanghai, while November runs): 0-1, 1-3, 3-7, 7-30,
    over 30 days; a segment's table holds exactly its tickets."""
    for opened, prio in (("2026-11-23 05:30", "high"), ("2026-11-22 17:30", "medium"),  # 12 h; exactly 1 day
                         ("2026-11-21 17:30", "medium"), ("2026-11-18 17:30", "high"),
                         ("2026-11-13 17:30", "low"), ("2026-10-01 10:00", "critical")):
        prio_ticket(company, opened, prio)
    prio_ticket(company, "2026-11-20 10:00", "high", done="2026-11-21 10:00")   # resolved: no backlog
    svc = company.actor("svc")
    bars = drill.breakdown(company.con, svc, "backlog", NOV, "age", then="priority")
    got = {(r["grp"], r["grp2"]): r["n"] for r in bars.iter_rows(named=True)}
    assert got == {("d0_1", "high"): 1, ("d1_3", "medium"): 2, ("d3_7", "high"): 1, ("d7_30", "low"): 1,
                   ("d30", "critical"): 1}
    assert bars["n"].sum() == m.backlog(company.con, svc, NOV).value == 6
    for (age, prio), n in got.items():
        assert drill.records(company.con, svc, "backlog", NOV, None, {"age": age, "priority": prio}).total == n
    # at the end of October the 1 October ticket was 30 days old (30 Oct 10:00 .. 1 Nov 00:00 Shanghai)
    octo = m.period("2026-10-01", "2026-10-31")
    assert {r["grp"] for r in drill.breakdown(company.con, svc, "backlog", octo, "age").iter_rows(named=True)} == {"d30"}
    with pytest.raises(Exception):
        drill.records(company.con, svc, "backlog", NOV, None, {"age": "d99"})


def test_the_forecast_by_close_month_weighted_and_best_case(company):
    """From the company's month (November: NOW is 23 November) for six months; weighted = amount x
    probability (won: the amount), best case = won + commit + best case amounts (core.forecast)."""
    def open_deal(owner, stage, amount, prob, close):
        did = deal(company, owner, stage, amount, probability=prob)
        company.con.execute("UPDATE deals SET expected_close = ? WHERE id = ?", [close, did])

    open_deal("rep_a", "proposal", 1000, 60, D(2026, 12, 10))       # best case band (50..74)
    open_deal("rep_b", "qualification", 500, 20, D(2026, 12, 20))   # pipeline: not in the best case
    open_deal("rep_w", "negotiation", 2000, 90, D(2026, 12, 5))     # commit; West: not the manager's
    open_deal("rep_a", "proposal", 700, 60, D(2027, 6, 1))          # beyond the six months
    deal(company, "rep_a", "won", 300, closed_on=D(2026, 11, 5))
    deal(company, "rep_a", "lost", 900, closed_on=D(2026, 11, 6))
    fc = dashboards.forecast_months(company.con, company.actor("mgr"))
    assert fc["month"].to_list() == [D(2026, 11, 1), D(2026, 12, 1)] + [D(2027, i, 1) for i in range(1, 5)]
    assert fc["weighted"].to_list()[:3] == [pytest.approx(300), pytest.approx(700), 0]
    assert fc["best_case"].to_list()[:2] == [pytest.approx(300), pytest.approx(1000)]
    boss = dashboards.forecast_months(company.con, company.actor("boss"))
    assert boss["weighted"][1] == pytest.approx(2500) and boss["best_case"][1] == pytest.approx(3000)
    rep_b = dashboards.forecast_months(company.con, company.actor("mgr"), m.Filters(owner_id=company.users["rep_b"]))
    assert rep_b["weighted"].to_list()[:2] == [0, pytest.approx(100)] and rep_b["best_case"][1] == 0
    assert dashboards.forecast_months(company.con, company.actor("mgr"), m.Filters(source="web")) is None
    assert dashboards.manager(company.con, company.actor("mgr"), NOV)["forecast"]["weighted"][1] == pytest.approx(700)
