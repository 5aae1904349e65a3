"""The metrics layer (core.analytics.metrics): each KPI on tiny hand-made data with the number worked out
here; a rep's figure never counts another rep's rows (the manager's over the same data is the sum);
periods are company days (Asia/Shanghai by default); tickets and feedback of sales roles are those of
the customers they may open.

The company's clock: NOW is 2026-11-23 09:30 UTC = 17:30 in Shanghai. The period is November 2026
(company days), compared with the 30 days before it (2 .. 31 October) or November 2025."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

from core import i18n, settings, targets
from core.analytics import metrics as m
from tests.conftest import NOW

NOV = m.period("2026-11-01", "2026-11-30")
_ids = itertools.count(100_000)


def utc(local: str) -> dt.datetime:
    """A Shanghai wall-clock time as stored (naive UTC)."""
    return dt.datetime.fromisoformat(local) - dt.timedelta(hours=8)


def who(company, username):
    return company.users[username], company.con.execute("SELECT team_id FROM users WHERE id = ?",
                                                         [company.users[username]]).fetchone()[0]


def lead(company, owner, created, converted=None, source="web"):
    uid, team = who(company, owner)
    company.con.execute("INSERT INTO leads (id, name, status, source, owner_id, team_id, created_at, updated_at, "
                        "converted_at) VALUES (?, 'L', ?, ?, ?, ?, ?, ?, ?)",
                        [next(_ids), "converted" if converted else "new", source, uid, team, utc(created),
                         utc(created), utc(converted) if converted else None])


def customer(company, owner, created="2026-01-05 10:00", last=None, next_due=None, won=None, **extra):
    uid, team = who(company, owner)
    cid = next(_ids)
    company.con.execute("INSERT INTO customers (id, name, owner_id, team_id, created_at, updated_at, last_activity_at, "
                        "next_followup_at, won_at, level, industry, source) VALUES (?, 'C', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [cid, uid, team, utc(created), utc(created), last and utc(last), next_due and utc(next_due),
                         won and utc(won), extra.get("level"), extra.get("industry"), extra.get("source")])
    return cid


def activity(company, user, customer_id, occurred):
    uid, team = who(company, user)
    company.con.execute("INSERT INTO activities (id, customer_id, user_id, team_id, kind, occurred_at, created_at) "
                        "VALUES (?, ?, ?, ?, 'call', ?, ?)", [next(_ids), customer_id, uid, team, utc(occurred),
                                                               utc(occurred)])


def deal(company, owner, stage, amount, created="2026-09-01 10:00", closed_on=None, engaged_on=None,
         probability=None, history=(), customer_id=None, source="web"):
    uid, team = who(company, owner)
    did = next(_ids)
    company.con.execute("INSERT INTO deals (id, name, customer_id, stage, amount, probability, source, engaged_on, "
                        "closed_on, owner_id, team_id, created_at, updated_at) VALUES (?, 'D', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [did, customer_id, stage, amount, probability, source, engaged_on, closed_on, uid, team,
                         utc(created), utc(created)])
    for to_stage, at in history:
        company.con.execute("INSERT INTO deal_stage_history (id, deal_id, to_stage, changed_at) VALUES (?, ?, ?, ?)",
                            [next(_ids), did, to_stage, utc(at)])
    return did


def order(company, owner, customer_id, ordered, amount, status="confirmed"):
    uid, team = who(company, owner)
    company.con.execute("INSERT INTO orders (id, customer_id, ordered_at, status, amount, owner_id, team_id, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [next(_ids), customer_id, utc(ordered), status, amount, uid, team, utc(ordered)])


def ticket(company, customer_id, opened, first=None, done=None, fr_due=None, res_due=None, sat=None,
           status="closed"):
    svc, team = who(company, "svc")
    o = utc(opened)
    h = lambda x: None if x is None else o + dt.timedelta(hours=x)  # noqa: E731
    company.con.execute("INSERT INTO tickets (id, subject, customer_id, status, assignee_id, team_id, opened_at, "
                        "first_response_at, resolved_at, first_response_due, resolution_due, satisfaction, "
                        "created_at, updated_at) VALUES (?, 'T', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [next(_ids), customer_id, status, svc, team, o, h(first), h(done), h(fr_due), h(res_due),
                         sat, o, o])


def nps(company, customer_id, score, created):
    company.con.execute("INSERT INTO feedback (id, customer_id, kind, score, created_at) VALUES (?, ?, 'nps', ?, ?)",
                        [next(_ids), customer_id, score, utc(created)])


def fig(company, username, key, p=NOV, compare="previous", **filters):
    return getattr(m, key)(company.con, company.actor(username), p, m.Filters(**filters), compare)


def vals(company, username, key, **kw):
    f = fig(company, username, key, **kw)
    return f.value, f.previous


# ---------------------------------------------------------------------------------------- periods
def test_the_comparison_period_is_the_same_length_before_or_the_same_days_a_year_earlier():
    assert m.comparison(NOV, "previous") == m.Period(dt.date(2026, 10, 2), dt.date(2026, 10, 31))
    assert m.comparison(NOV, "year") == m.Period(dt.date(2025, 11, 1), dt.date(2025, 11, 30))
    leap = m.period("2028-02-29", "2028-02-29")
    assert m.comparison(leap, "year") == m.Period(dt.date(2027, 2, 28), dt.date(2027, 2, 28))
    with pytest.raises(m.ValidationError):
        m.period("2026-11-30", "2026-11-01")
    with pytest.raises(m.ValidationError):
        m.comparison(NOV, "lastweek")


def test_a_follow_up_at_half_past_midnight_shanghai_on_the_first_belongs_to_that_month(company):
    c = company.customers["rep_a"]
    activity(company, "rep_a", c, "2026-11-01 00:30")   # 31 Oct 16:30 UTC
    activity(company, "rep_a", c, "2026-10-31 23:30")   # 31 Oct 15:30 UTC
    assert vals(company, "rep_a", "followups") == (1, 1)
    oct_ = m.period("2026-10-01", "2026-10-31")
    assert fig(company, "rep_a", "followups", p=oct_).value == 1
    # the company's time zone decides, not the server's: in UTC both are on 31 October
    settings.set_value(company.con, company.actor("boss"), "company.timezone", "UTC")
    assert vals(company, "rep_a", "followups") == (0, 2)


# ---------------------------------------------------------------------------------------- leads
def test_new_leads_and_lead_conversion_by_the_end_of_each_period(company):
    for created, converted in (("2026-11-02 10:00", "2026-11-03 10:00"), ("2026-11-05 10:00", None),
                               ("2026-11-06 10:00", None), ("2026-11-30 23:00", None),
                               ("2026-10-10 10:00", "2026-10-20 10:00"),
                               ("2026-10-11 10:00", "2026-11-05 10:00")):  # converted after October ended
        lead(company, "rep_a", created, converted)
    lead(company, "rep_w", "2026-11-03 10:00", "2026-11-04 10:00")
    f = fig(company, "rep_a", "new_leads")
    assert (f.value, f.previous, f.delta, f.delta_kind) == (4, 2, 100.0, "pct")
    f = fig(company, "rep_a", "lead_conversion")
    assert (f.value, f.previous, f.delta, f.delta_kind) == (0.25, 0.5, -0.25, "abs")
    assert vals(company, "boss", "new_leads") == (5, 2)
    lead(company, "rep_a", "2025-11-30 10:00")    # the same period last year (the months between are not read)
    lead(company, "rep_a", "2026-06-30 10:00")
    assert vals(company, "rep_a", "new_leads", compare="year") == (4, 1)
    assert vals(company, "boss", "lead_conversion") == (2 / 5, 0.5)


# ---------------------------------------------------------------------------------------- deals
def test_win_rate_won_revenue_deal_size_and_sales_cycle_of_the_deals_closed_in_the_period(company):
    d = dt.date
    deal(company, "rep_a", "won", 100, closed_on=d(2026, 11, 10), engaged_on=d(2026, 11, 1))     # 9 days
    deal(company, "rep_a", "won", 300, closed_on=d(2026, 11, 20), engaged_on=d(2026, 10, 21))    # 30 days
    deal(company, "rep_a", "renew_won", 200, closed_on=d(2026, 11, 21), engaged_on=d(2026, 11, 20))  # 1 day
    deal(company, "rep_a", "lost", 500, closed_on=d(2026, 11, 15))
    deal(company, "rep_a", "renew_lost", 500, closed_on=d(2026, 11, 16))
    deal(company, "rep_a", "won", 150, closed_on=d(2026, 10, 15), engaged_on=d(2026, 10, 5))     # previous
    deal(company, "rep_a", "lost", 80, closed_on=d(2026, 10, 16))
    deal(company, "rep_a", "won", 999, closed_on=d(2026, 9, 15))                                  # neither
    deal(company, "rep_w", "won", 1000, closed_on=d(2026, 11, 12), engaged_on=d(2026, 11, 2))
    assert vals(company, "rep_a", "win_rate") == (3 / 5, 1 / 2)
    f = fig(company, "rep_a", "won_revenue")
    assert (f.value, f.previous, f.delta) == (600, 150, 300.0)
    assert vals(company, "rep_a", "won_deals") == (3, 1)
    assert vals(company, "rep_a", "avg_deal_size") == (200, 150)
    assert vals(company, "rep_a", "cycle_median_days") == (9, 10)
    assert vals(company, "rep_a", "cycle_mean_days") == (pytest.approx(40 / 3), 10)
    assert fig(company, "rep_a", "cycle_mean_days").lower_is_better
    assert vals(company, "boss", "won_revenue") == (1600, 150)
    assert vals(company, "boss", "win_rate") == (4 / 6, 1 / 2)


def test_open_and_weighted_pipeline_are_taken_from_the_stage_history_at_the_end_of_each_period(company):
    # X: prospecting (10 %) since 1 Oct, proposal (50 %) since 10 Nov, still open
    deal(company, "rep_a", "proposal", 1000, created="2026-10-01 09:00", probability=50,
         history=[("prospecting", "2026-10-01 09:00"), ("proposal", "2026-11-10 09:00")])
    # Y: open (prospecting) at the end of October, won on 12 Nov
    deal(company, "rep_a", "won", 200, created="2026-10-05 09:00", closed_on=dt.date(2026, 11, 12), probability=100,
         history=[("prospecting", "2026-10-05 09:00"), ("won", "2026-11-12 09:00")])
    # Z: created in November, the owner's own probability 30 %
    deal(company, "rep_a", "prospecting", 400, created="2026-11-05 09:00", probability=30,
         history=[("prospecting", "2026-11-05 09:00")])
    # lost before October ended: never open at either instant
    deal(company, "rep_a", "lost", 700, created="2026-09-01 09:00", closed_on=dt.date(2026, 10, 20),
         history=[("prospecting", "2026-09-01 09:00"), ("lost", "2026-10-20 09:00")])
    # now: X 1000 x 50 % + Z 400 x 30 %; end of October: X 1000 x 10 % + Y 200 x 10 %
    assert vals(company, "rep_a", "open_pipeline") == (1400, 1200)
    assert vals(company, "rep_a", "weighted_pipeline") == (pytest.approx(620), pytest.approx(120))
    assert vals(company, "rep_b", "open_pipeline") == (0, 0)


# ---------------------------------------------------------------------------------------- follow-ups
def test_follow_ups_coverage_overdue_and_forgotten_customers(company):
    c1 = company.customers["rep_a"]
    company.con.execute("UPDATE customers SET last_activity_at = ?, next_followup_at = ? WHERE id = ?",
                        [utc("2026-11-20 10:00"), utc("2026-11-25 10:00"), c1])
    c2 = customer(company, "rep_a", last="2026-10-10 10:00", next_due="2026-11-20 10:00")
    customer(company, "rep_a")                                   # never followed up
    activity(company, "rep_a", c1, "2026-11-20 10:00")
    activity(company, "rep_a", c1, "2026-10-30 10:00")
    activity(company, "rep_a", c2, "2026-10-10 10:00")
    for day in ("2026-11-03 10:00", "2026-11-04 10:00"):
        activity(company, "rep_b", company.customers["rep_b"], day)
    # followed up in the last 30 company days: now c1; at the end of October c1 and c2
    f = fig(company, "rep_a", "followup_coverage")
    assert (f.value, f.previous) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert vals(company, "rep_a", "followups") == (1, 2)
    assert vals(company, "rep_a", "followups_per_rep") == (1, 2)
    assert vals(company, "mgr", "followups") == (3, 2)
    assert vals(company, "mgr", "followups_per_rep") == (1.5, 2)
    assert vals(company, "rep_a", "overdue_followups") == (1, None)
    # today is 23 Nov: c2 was last contacted 44 days ago, the third never
    got = {n: fig(company, "rep_a", f"forgotten_{n}").value for n in (7, 15, 30, 90, 180, "never")}
    assert got == {7: 1, 15: 1, 30: 1, 90: 0, 180: 0, "never": 1}
    f = fig(company, "rep_a", "forgotten_never")
    assert f.previous is None and f.compared is None and f.delta is None   # a state of now only


def test_customer_conversion_counts_customers_won_by_the_end_of_the_period(company):
    company.con.execute("UPDATE customers SET created_at = ?", [utc("2026-01-05 10:00")])  # the fixture's
    customer(company, "rep_a", created="2026-11-02 10:00", won="2026-11-20 10:00")
    customer(company, "rep_a", created="2026-11-03 10:00")
    customer(company, "rep_a", created="2026-10-03 10:00", won="2026-11-02 10:00")  # won after October
    customer(company, "rep_a", created="2026-10-04 10:00", won="2026-10-30 10:00")
    assert vals(company, "rep_a", "new_customers") == (2, 2)
    assert vals(company, "rep_a", "customer_conversion") == (0.5, 0.5)


# ---------------------------------------------------------------------------------------- orders
def test_order_revenue_and_repeat_purchase_rate_follow_core_orders_money(company):
    c1 = company.customers["rep_a"]
    c2, c3 = customer(company, "rep_a"), customer(company, "rep_a")
    order(company, "rep_a", c1, "2026-09-01 10:00", 100)          # bought before
    order(company, "rep_a", c1, "2026-11-03 10:00", 200)
    order(company, "rep_a", c2, "2026-11-05 10:00", 50)
    order(company, "rep_a", c2, "2026-11-08 10:00", 70)           # twice in the period
    order(company, "rep_a", c3, "2026-11-09 10:00", 30)           # first purchase
    order(company, "rep_a", c3, "2026-11-10 10:00", -20, "cancelled")  # an imported credit note
    order(company, "rep_a", c3, "2026-11-11 10:00", 500, "cancelled")  # our own cancellation: nothing
    order(company, "rep_a", c3, "2026-11-12 10:00", 999, "draft")
    order(company, "rep_a", c1, "2026-10-12 10:00", 100)
    order(company, "rep_w", company.customers["rep_w"], "2026-11-03 10:00", 5000)
    assert vals(company, "rep_a", "order_revenue") == (330, 100)
    assert vals(company, "rep_a", "repeat_purchase_rate") == (pytest.approx(2 / 3), 1.0)
    assert vals(company, "boss", "order_revenue") == (5330, 100)


# ---------------------------------------------------------------------------------------- targets
def test_target_attainment_uses_core_targets_for_the_subject_of_the_view(company):
    mgr = company.actor("mgr")
    targets.set_target(company.con, mgr, ("month", "2026-11-01"), "won_amount", 1000, user_id=company.users["rep_a"])
    targets.set_target(company.con, mgr, ("month", "2026-11-01"), "won_amount", 4000, team_id=company.teams["east"])
    deal(company, "rep_a", "won", 600, closed_on=dt.date(2026, 11, 10))
    deal(company, "rep_b", "won", 1400, closed_on=dt.date(2026, 11, 11))
    deal(company, "rep_w", "won", 9000, closed_on=dt.date(2026, 11, 11))
    assert vals(company, "rep_a", "target_attainment") == (0.6, None)   # no October target
    assert fig(company, "mgr", "target_attainment").value == 0.5       # (600 + 1400) / 4000
    assert fig(company, "mgr", "target_attainment", owner_id=company.users["rep_a"]).value == 0.6
    assert fig(company, "mgr", "target_attainment", source="web").value is None  # targets have no source


# ---------------------------------------------------------------------------------------- service
def test_ticket_figures_first_response_resolution_sla_csat_and_backlog(company):
    c = company.customers["rep_a"]
    ticket(company, c, "2026-11-02 10:00", first=2, done=10, fr_due=4, res_due=24, sat=5)
    ticket(company, c, "2026-11-03 10:00", first=6, done=30, fr_due=4, res_due=48, sat=3)
    ticket(company, c, "2026-11-04 10:00", first=4, status="open")
    ticket(company, c, "2026-10-20 10:00", first=1, done=384, fr_due=4, res_due=48, sat=1)  # resolved 5 Nov
    assert vals(company, "svc", "new_tickets") == (3, 1)
    assert vals(company, "svc", "backlog") == (1, 1)      # now: the open one; end of October: the 20 Oct one
    assert vals(company, "svc", "first_response_median_h") == (pytest.approx(4), pytest.approx(1))
    assert fig(company, "svc", "first_response_p90_h").value == pytest.approx(5.6)     # 4 + 0.8 x (6 - 4)
    assert fig(company, "svc", "resolution_median_h").value == pytest.approx(30)
    assert fig(company, "svc", "resolution_p90_h").value == pytest.approx(313.2)       # 30 + 0.8 x 354
    assert fig(company, "svc", "sla_compliance").value == pytest.approx(1 / 3)
    assert fig(company, "svc", "csat").value == pytest.approx(3)
    assert fig(company, "svc", "backlog").lower_is_better


def test_a_merged_duplicate_does_not_count_in_sla_compliance(company):
    """The duplicate merged into another ticket (closed with merged_into set) is neither met nor missed:
    the card and the split by agent leave it out, as core.sla.state_sql gives it no state."""
    c = company.customers["rep_a"]
    ticket(company, c, "2026-11-02 10:00", first=2, done=10, fr_due=4, res_due=24)   # met
    ticket(company, c, "2026-11-03 10:00", first=6, done=30, fr_due=4, res_due=48)   # missed (first response)
    ticket(company, c, "2026-11-05 10:00", first=1, done=2, fr_due=4, res_due=24)    # met, then merged
    kept, *_, dup = [r[0] for r in company.con.execute("SELECT id FROM tickets ORDER BY opened_at").fetchall()]
    company.con.execute("UPDATE tickets SET merged_into = ? WHERE id = ?", [kept, dup])
    assert fig(company, "svc", "sla_compliance").value == pytest.approx(1 / 2)
    by_agent = {r["grp"]: r for r in m.tickets_by(company.con, company.actor("svc"), NOV, None, "agent")
                .iter_rows(named=True)}
    svc = company.users["svc"]
    assert (by_agent[svc]["sla_due"], by_agent[svc]["sla_met"]) == (2, 1)
    assert by_agent[svc]["resolved"] == 3  # still a resolved ticket: only the SLA leaves it out


def test_nps_is_promoters_minus_detractors(company):
    c = company.customers["rep_a"]
    for score in (10, 9, 7, 3):
        nps(company, c, score, "2026-11-10 10:00")
    nps(company, c, 2, "2026-10-10 10:00")
    assert vals(company, "svc", "nps") == (25, -100)


def test_a_sales_role_counts_the_tickets_and_feedback_of_the_customers_it_may_open(company):
    """The rule of point 2: a rep is never a ticket's assignee, yet sees the tickets of the own
    customers (and the own team's pool); a manager those of the team tree's customers."""
    for label in ("rep_a", "rep_a", "rep_b", "rep_sh", "rep_w", "pool_east"):
        ticket(company, company.customers[label], "2026-11-05 10:00", first=1, done=2)
        nps(company, company.customers[label], 10, "2026-11-05 10:00")
    assert fig(company, "rep_a", "new_tickets").value == 3     # two of the own customer, one of the east pool
    assert fig(company, "rep_w", "new_tickets").value == 1
    assert fig(company, "mgr", "new_tickets").value == 5       # everything but West's
    assert fig(company, "svc", "new_tickets").value == 6       # service: the tickets module's own scope (all)
    assert fig(company, "rep_a", "nps").value == 100 and fig(company, "mgr", "nps").value == 100
    assert fig(company, "mkt", "new_tickets").value is None    # marketing may not view tickets


# ---------------------------------------------------------------------------------------- scope
ADDITIVE = ("new_leads", "won_revenue", "won_deals", "followups", "order_revenue", "overdue_followups",
            "open_pipeline")


def test_a_reps_figures_never_count_another_reps_rows_and_the_managers_are_their_sum(company):
    for i, rep in enumerate(("rep_a", "rep_b", "rep_sh", "rep_w")):
        c = company.customers[rep]
        company.con.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?", [utc("2026-11-01 10:00"), c])
        for k in range(i + 1):
            lead(company, rep, f"2026-11-0{k + 2} 10:00")
            deal(company, rep, "won", 100 * (i + 1), closed_on=dt.date(2026, 11, 10))
            deal(company, rep, "proposal", 10 * (i + 1), created="2026-10-01 10:00")
            activity(company, rep, c, "2026-11-05 10:00")
            order(company, rep, c, "2026-11-06 10:00", 1000 * (i + 1))
    one = {rep: {k: fig(company, rep, k).value for k in ADDITIVE} for rep in ("rep_a", "rep_b", "rep_sh", "rep_w")}
    # each rep: exactly their own rows (rep_x has index i: i + 1 rows of each kind)
    assert one["rep_a"] == {"new_leads": 1, "won_revenue": 100, "won_deals": 1, "followups": 1, "order_revenue": 1000,
                            "overdue_followups": 1, "open_pipeline": 10}
    assert one["rep_w"]["won_revenue"] == 4 * 400 and one["rep_w"]["new_leads"] == 4
    for k in ADDITIVE:
        east = sum(one[r][k] for r in ("rep_a", "rep_b", "rep_sh"))
        assert fig(company, "mgr", k).value == east, k
        assert fig(company, "boss", k).value == east + one["rep_w"][k], k


def test_dashboard_filters_narrow_every_figure_and_an_inapplicable_filter_gives_none(company):
    ca = customer(company, "rep_a", level="A", industry="retail")
    cb = customer(company, "rep_a", level="B", industry="energy")
    deal(company, "rep_a", "won", 100, closed_on=dt.date(2026, 11, 10), customer_id=ca, source="web")
    deal(company, "rep_a", "won", 200, closed_on=dt.date(2026, 11, 10), customer_id=cb, source="event")
    deal(company, "rep_w", "won", 400, closed_on=dt.date(2026, 11, 10), source="web")
    lead(company, "rep_a", "2026-11-02 10:00")
    assert fig(company, "boss", "won_revenue", level="A").value == 100
    assert fig(company, "boss", "won_revenue", industry="energy").value == 200
    assert fig(company, "boss", "won_revenue", source="web").value == 500
    assert fig(company, "boss", "won_revenue", team_id=company.teams["west"]).value == 400
    assert fig(company, "boss", "won_revenue", team_id=company.teams["sales"]).value == 700   # sub-teams included
    assert fig(company, "boss", "won_revenue", region="East").value == 300
    assert fig(company, "boss", "won_revenue", owner_id=company.users["rep_w"]).value == 400
    assert fig(company, "rep_a", "won_revenue", owner_id=company.users["rep_w"]).value == 0  # never beyond scope
    assert fig(company, "boss", "new_leads").value == 1
    assert fig(company, "boss", "new_leads", level="A").value is None    # a lead has no level


# ---------------------------------------------------------------------------------------- registry
def test_every_kpi_is_registered_with_a_label_in_both_languages_and_compute_agrees_with_each_function(company):
    lead(company, "rep_a", "2026-11-02 10:00")
    deal(company, "rep_a", "won", 100, closed_on=dt.date(2026, 11, 10))
    all_ = {f.key: f for f in m.compute(company.con, company.actor("mgr"), NOV, None, "year")}
    assert set(all_) == set(m.REGISTRY)
    for key, kpi in m.REGISTRY.items():
        assert i18n.translate("en", kpi.label_key) != kpi.label_key, key
        assert i18n.translate("zh", kpi.label_key) != i18n.translate("en", kpi.label_key), key
        assert fig(company, "mgr", key, compare="year") == all_[key], key
    assert all_["won_revenue"].compared == m.Period(dt.date(2025, 11, 1), dt.date(2025, 11, 30))
    frame = m.frame(list(all_.values()))
    assert frame.height == len(m.REGISTRY) and frame.filter(frame["key"] == "new_leads")["value"].item() == 1


# ---------------------------------------------------------------------------------------- campaigns
def campaign(company, cost=None, per_contact=None, deleted=False, owner="mkt"):
    uid, team = who(company, owner)
    cid = next(_ids)
    company.con.execute("INSERT INTO campaigns (id, name, channel, status, cost, cost_per_contact, owner_id, team_id, "
                        "created_at, updated_at, deleted_at) VALUES (?, ?, 'email', 'done', ?, ?, ?, ?, ?, ?, ?)",
                        [cid, f"Campaign {cid}", cost, per_contact, uid, team, NOW, NOW, NOW if deleted else None])
    return cid


def member(company, campaign_id, sent=None, responded=None, converted=None, revenue=None):
    company.con.execute("INSERT INTO campaign_members (campaign_id, customer_id, added_at, sent_at, responded_at, "
                        "converted_at, revenue) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [campaign_id, company.customers["rep_a"], utc("2026-09-01 10:00"), sent and utc(sent),
                         responded and utc(responded), converted and utc(converted), revenue])


def test_campaign_response_rate_and_roi_over_the_sends_of_the_period(company):
    a = campaign(company, cost=1000)            # five sends in all: each carries 200 of the cost
    member(company, a, "2026-11-02 10:00", "2026-11-05 10:00", "2026-11-06 10:00", 3000)
    member(company, a, "2026-11-02 10:00", "2026-11-10 10:00")
    member(company, a, "2026-11-02 10:00")
    member(company, a, "2026-11-02 10:00")
    member(company, a, "2026-10-20 10:00", "2026-10-21 10:00")          # the previous period
    member(company, a)                                                    # added, never sent: no send, no cost
    b = campaign(company, per_contact=10)       # no total cost known: 10 a contact
    member(company, b, "2026-11-15 10:00", "2026-11-16 10:00", "2026-11-17 10:00", 100)
    member(company, b, "2026-11-15 10:00")
    gone = campaign(company, cost=50, deleted=True)
    member(company, gone, "2026-11-15 10:00", "2026-11-16 10:00")
    # November: 6 sends, 3 responses; revenue 3,100 against 4 x 200 + 2 x 10 = 820
    assert vals(company, "mkt", "campaign_response_rate") == (pytest.approx(0.5), pytest.approx(1.0))
    assert vals(company, "mkt", "campaign_roi") == (pytest.approx((3100 - 820) / 820), pytest.approx(-1.0))
    assert fig(company, "mkt", "campaign_roi").delta == pytest.approx((3100 - 820) / 820 + 1)  # absolute
    # scope: the campaigns module (a rep has none; the manager's tree holds none of marketing's campaigns)
    assert fig(company, "rep_a", "campaign_response_rate").value is None
    assert fig(company, "mgr", "campaign_roi").value is None
    assert fig(company, "boss", "campaign_response_rate").value == pytest.approx(0.5)
    # a customer filter does not apply to a campaign: None, not silently unfiltered
    assert fig(company, "mkt", "campaign_roi", source="web").value is None
    # each campaign's part: the rows add up to the cards
    rows = m.campaign_results(company.con, company.actor("mkt"), NOV)
    assert rows["campaign_id"].to_list() == [a, b]
    assert rows["sent"].to_list() == [4, 2] and rows["responded"].to_list() == [2, 1]
    assert rows["cost"].to_list() == [pytest.approx(800), pytest.approx(20)]
    assert rows["roi"][0] == pytest.approx((3000 - 800) / 800)
    assert rows["responded"].sum() / rows["sent"].sum() == fig(company, "mkt", "campaign_response_rate").value


# ---------------------------------------------------------------------------------------- service by agent, category
def agent_ticket(company, assignee, category, opened, first=None, done=None, sat=None, res_due=None,
                 status="closed"):
    uid = company.users[assignee] if assignee else None
    o = utc(opened)
    h = lambda x: None if x is None else o + dt.timedelta(hours=x)  # noqa: E731
    company.con.execute("INSERT INTO tickets (id, subject, customer_id, status, category, assignee_id, opened_at, "
                        "first_response_at, resolved_at, resolution_due, satisfaction, created_at, updated_at) "
                        "VALUES (?, 'T', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [next(_ids), company.customers["rep_a"], status, category, uid, o, h(first), h(done),
                         h(res_due), sat, o, o])


def test_service_figures_by_agent_and_category_add_up_to_the_cards(company):
    agent_ticket(company, "svc", "billing", "2026-11-02 10:00", first=1, done=10, sat=5, res_due=24)
    agent_ticket(company, "svc", "billing", "2026-11-03 10:00", first=3, done=30, sat=4, res_due=24)
    agent_ticket(company, "svc", "refund", "2026-11-04 10:00", first=2, done=6, sat=1, res_due=24)
    agent_ticket(company, "boss", "refund", "2026-11-05 10:00", first=4, done=8, res_due=24)   # not rated
    agent_ticket(company, "boss", "billing", "2026-11-06 10:00", first=5, done=2, sat=2)        # inconsistent
    agent_ticket(company, None, None, "2026-11-07 10:00", first=1, status="open")
    svc, boss = company.users["svc"], company.users["boss"]
    by_agent = {r["grp"]: r for r in m.tickets_by(company.con, company.actor("svc"), NOV, None, "agent")
                .iter_rows(named=True)}
    assert set(by_agent) == {svc, boss, None}
    assert by_agent[svc]["csat"] == pytest.approx(10 / 3) and by_agent[svc]["rated"] == 3
    assert by_agent[svc]["sla_compliance"] == pytest.approx(2 / 3)      # 30 h missed the 24 h due
    assert by_agent[svc]["first_response_median_h"] == pytest.approx(2)
    assert by_agent[svc]["resolution_median_h"] == pytest.approx(10)
    assert by_agent[boss]["csat"] == pytest.approx(2) and by_agent[boss]["tickets_inconsistent"] == 1
    assert by_agent[boss]["resolution_median_h"] == pytest.approx(8)    # the inconsistent one (2 h) left out
    assert by_agent[None]["backlog"] == 1 and by_agent[None]["csat"] is None
    cards = {f.key: f.value for f in m.compute(company.con, company.actor("svc"), NOV)}
    for rows in (by_agent.values(), m.tickets_by(company.con, company.actor("svc"), NOV, None, "category")
                 .iter_rows(named=True)):
        rows = list(rows)
        assert sum(r["new_tickets"] for r in rows) == cards["new_tickets"] == 6
        assert sum(r["backlog"] for r in rows) == cards["backlog"] == 1
        assert sum(r["tickets_inconsistent"] for r in rows) == cards["tickets_inconsistent"] == 1
        assert sum(r["sla_met"] for r in rows) / sum(r["sla_due"] for r in rows) == pytest.approx(cards["sla_compliance"])
        rated = [r for r in rows if r["csat"] is not None]
        assert sum(r["csat"] * r["rated"] for r in rated) / sum(r["rated"] for r in rated) == pytest.approx(cards["csat"])
    by_cat = {r["grp"]: r for r in m.tickets_by(company.con, company.actor("svc"), NOV, None, "category")
              .iter_rows(named=True)}
    assert by_cat["refund"]["csat"] == pytest.approx(1) and by_cat["billing"]["csat"] == pytest.approx(11 / 3)
    # the scope of the cards: a rep sees the tickets of the own customer, marketing none
    assert sum(m.tickets_by(company.con, company.actor("rep_a"), NOV, None, "agent")["new_tickets"]) == 6
    assert m.tickets_by(company.con, company.actor("mkt"), NOV, None, "agent").height == 0
    with pytest.raises(Exception):
        m.tickets_by(company.con, company.actor("svc"), NOV, None, "customer")
