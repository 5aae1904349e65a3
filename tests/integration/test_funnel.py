"""The sales funnel (core.analytics.funnel), issue 11 point 4: counts from the stage history (a deal counts
once at every stage it reached, however often it re-entered; a skipped stage is not reached), conversion,
drop-off and median days in each stage worked out by hand below; a rep's funnel never counts another
rep's deals; the drill-down's total equals the step's count; the leads -> customers -> won funnel.

The clock: NOW is 2026-11-23 09:30 UTC (17:30 in Shanghai); the period is November 2026 (company days).
Times below are Shanghai wall-clock times."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

from core.analytics import funnel
from core.analytics import metrics as m
from core.errors import NotFound, ValidationError

NOV = m.period("2026-11-01", "2026-11-30")
OCT = m.period("2026-10-01", "2026-10-31")
STEPS = ["prospecting", "qualification", "proposal", "negotiation", "won"]
_ids = itertools.count(200_000)


def utc(local: str) -> dt.datetime:
    return dt.datetime.fromisoformat(local) - dt.timedelta(hours=8)


def who(company, username):
    return company.users[username], company.con.execute("SELECT team_id FROM users WHERE id = ?",
                                                         [company.users[username]]).fetchone()[0]


def deal(company, owner, path, pipeline_id=1, deleted=False, name="D"):
    """A deal that went through `path` [(stage, "YYYY-MM-DD HH:MM"), ...], with the history rows the deal
    service writes (from_stage = the stage left; the first row's is NULL)."""
    uid, team = who(company, owner)
    did = next(_ids)
    first = utc(path[0][1])
    company.con.execute(
        "INSERT INTO deals (id, name, customer_id, stage, amount, owner_id, team_id, pipeline_id, created_at, "
        "updated_at, deleted_at) VALUES (?, ?, ?, ?, 1000, ?, ?, ?, ?, ?, ?)",
        [did, name, company.customers.get(owner), path[-1][0], uid, team, pipeline_id, first, first,
         first if deleted else None])
    prev = None
    for stage, at in path:
        company.con.execute("INSERT INTO deal_stage_history (id, deal_id, from_stage, to_stage, changed_at) "
                            "VALUES (?, ?, ?, ?, ?)", [next(_ids), did, prev, stage, utc(at)])
        prev = stage
    return did


@pytest.fixture
def deals(company):
    """rep_a's November deals (d1..d7), rep_b's d6, rep_w's d10, and deals that must not count."""
    d = {}
    # re-enters prospecting and qualification (each counted once; the visits' days summed), then wins:
    # prospecting 2 + 1 = 3 days, qualification 1 + 2 = 3 days, proposal 2 days
    d["d1"] = deal(company, "rep_a", [("prospecting", "2026-11-02 10:00"), ("qualification", "2026-11-04 10:00"),
                                      ("prospecting", "2026-11-05 10:00"), ("qualification", "2026-11-06 10:00"),
                                      ("proposal", "2026-11-08 10:00"), ("won", "2026-11-10 10:00")])
    # skips qualification, lost in proposal: prospecting 1 day, proposal 2 days
    d["d2"] = deal(company, "rep_a", [("prospecting", "2026-11-02 10:00"), ("proposal", "2026-11-03 10:00"),
                                      ("lost", "2026-11-05 10:00")])
    # lost in prospecting after 1.5 days
    d["d3"] = deal(company, "rep_a", [("prospecting", "2026-11-03 10:00"), ("lost", "2026-11-04 22:00")])
    # lost in negotiation: prospecting 2, qualification 1, proposal 1, negotiation 3 days
    d["d4"] = deal(company, "rep_a", [("prospecting", "2026-11-02 10:00"), ("qualification", "2026-11-04 10:00"),
                                      ("proposal", "2026-11-05 10:00"), ("negotiation", "2026-11-06 10:00"),
                                      ("lost", "2026-11-09 10:00")])
    # still open in qualification: prospecting 1 day, qualification not left (no days)
    d["d5"] = deal(company, "rep_a", [("prospecting", "2026-11-10 10:00"), ("qualification", "2026-11-11 10:00")])
    # lost in qualification: prospecting 1 day, qualification 2 days
    d["d7"] = deal(company, "rep_a", [("prospecting", "2026-11-12 10:00"), ("qualification", "2026-11-13 10:00"),
                                      ("lost", "2026-11-15 10:00")])
    # another rep of the same team, and a rep of another team
    d["d6"] = deal(company, "rep_b", [("prospecting", "2026-11-02 10:00"), ("qualification", "2026-11-03 10:00"),
                                      ("won", "2026-11-04 10:00")])
    d["d10"] = deal(company, "rep_w", [("prospecting", "2026-11-02 10:00"), ("won", "2026-11-06 10:00")])
    # not of the November cohort: entered in October; of another pipeline; in the recycle bin
    d["old"] = deal(company, "rep_a", [("prospecting", "2026-10-20 10:00"), ("qualification", "2026-11-02 10:00"),
                                       ("won", "2026-11-05 10:00")])
    d["renewal"] = deal(company, "rep_a", [("renew_review", "2026-11-02 10:00"), ("renew_won", "2026-11-03 10:00")],
                        pipeline_id=2)
    d["deleted"] = deal(company, "rep_a", [("prospecting", "2026-11-02 10:00"), ("won", "2026-11-03 10:00")],
                        deleted=True)
    return d


def rows(company, username, p=NOV, **filters) -> dict[str, dict]:
    df = funnel.deal_funnel(company.con, company.actor(username), 1, p, m.Filters(**filters))
    return {r["stage"]: r for r in df.iter_rows(named=True)}


# ---------------------------------------------------------------------------------------- deal funnel
def test_each_stage_counts_the_deals_that_reached_it_once_with_conversion_drop_off_and_median_days(company, deals):
    df = funnel.deal_funnel(company.con, company.actor("rep_a"), 1, NOV)
    assert df["stage"].to_list() == STEPS                 # open stages in order, won last, lost is no step
    assert df["position"].to_list() == [1, 2, 3, 4, 5]
    assert df["name_zh"].to_list()[0] == "初步接洽"
    got = {r["stage"]: r for r in df.iter_rows(named=True)}
    # reached: d1 re-entered prospecting and qualification and counts once; d2 skipped qualification
    assert [got[s]["reached"] for s in STEPS] == [6, 4, 3, 1, 1]
    # went further: prospecting all but d3; qualification d1, d4 (d5 still there, d7 lost); proposal d1, d4
    assert [got[s]["advanced"] for s in STEPS] == [5, 2, 2, 0, None]
    assert got["prospecting"]["converted_to_next"] == pytest.approx(5 / 6)
    assert got["qualification"]["converted_to_next"] == pytest.approx(0.5)
    assert got["proposal"]["converted_to_next"] == pytest.approx(2 / 3)
    assert got["negotiation"]["converted_to_next"] == 0
    assert got["won"]["converted_to_next"] is None
    # lost at each stage: d3 prospecting, d7 qualification, d2 proposal, d4 negotiation
    assert [got[s]["dropped"] for s in STEPS] == [1, 1, 1, 1, 0]
    assert [got[s]["pending"] for s in STEPS] == [0, 1, 0, 0, None]      # d5 still in qualification
    # median days: prospecting (3, 1, 1.5, 2, 1, 1) -> 1.25; qualification (3, 1, 2; d5 has not left) -> 2;
    # proposal (2, 2, 1) -> 2; negotiation (3) -> 3; won: none
    assert [got[s]["median_days_in_stage"] for s in STEPS] == [pytest.approx(1.25), pytest.approx(2.0),
                                                                 pytest.approx(2.0), pytest.approx(3.0), None]


def test_the_cohort_is_the_deals_that_entered_in_the_period_followed_to_its_end(company, deals):
    oct_ = rows(company, "rep_a", OCT)
    # "old" entered on 20 October; at the end of October it was still in prospecting (it moved on in November)
    assert oct_["prospecting"]["reached"] == 1 and oct_["prospecting"]["pending"] == 1
    assert oct_["qualification"]["reached"] == 0 and oct_["won"]["reached"] == 0
    assert oct_["prospecting"]["median_days_in_stage"] is None
    # and it is not in November's cohort, though its later moves happened in November
    assert rows(company, "rep_a")["won"]["reached"] == 1


def test_a_reps_funnel_never_counts_another_reps_deals(company, deals):
    rep_a, rep_b = rows(company, "rep_a"), rows(company, "rep_b")
    mgr, boss = rows(company, "mgr"), rows(company, "boss")
    # the manager (East and its sub-teams) sees rep_a's and rep_b's deals, not rep_w's (West)
    assert [mgr[s]["reached"] for s in STEPS] == [7, 5, 3, 1, 2]
    assert [rep_b[s]["reached"] for s in STEPS] == [1, 1, 0, 0, 1]
    for s in STEPS:
        assert mgr[s]["reached"] == rep_a[s]["reached"] + rep_b[s]["reached"]
        assert boss[s]["reached"] == mgr[s]["reached"] + (1 if s in ("prospecting", "won") else 0)
    # the manager narrowed to rep_a (the dashboard's rep filter) is rep_a's own funnel
    assert rows(company, "mgr", owner_id=company.users["rep_a"]) == rep_a
    # a team filter: West alone (the admin) is rep_w's deal
    west = rows(company, "boss", team_id=company.teams["west"])
    assert [west[s]["reached"] for s in STEPS] == [1, 0, 0, 0, 1]
    # rep_a's drill-down lists none of rep_b's deals
    ids, _total = funnel.stage_deals(company.con, company.actor("rep_a"), 1, "prospecting", NOV, page_size=100)
    assert deals["d6"] not in ids["id"].to_list() and deals["d10"] not in ids["id"].to_list()


@pytest.mark.parametrize("username", ["rep_a", "mgr", "boss"])
def test_the_drill_down_total_equals_the_stage_count_and_its_pages_hold_those_deals(company, deals, username):
    actor = company.actor(username)
    got = rows(company, username)
    for s in STEPS:
        for which in ("reached", "advanced", "dropped", "pending"):
            expected = got[s][which]
            if expected is None:
                continue
            seen = []
            for page in (1, 2, 3, 4, 5):
                df, total = funnel.stage_deals(company.con, actor, 1, s, NOV, page=page, page_size=2, which=which)
                assert total == expected, (s, which)
                seen += df["id"].to_list()
            assert len(seen) == len(set(seen)) == expected
    df, total = funnel.stage_deals(company.con, company.actor("rep_a"), 1, "proposal", NOV, which="dropped")
    assert total == 1 and df["id"].to_list() == [deals["d2"]]
    row = df.row(0, named=True)
    assert row["stage"] == "lost" and row["owner_name"] == "REP_A" and row["customer_name"] == "Customer of rep_a"
    assert row["amount"] == 1000 and row["entered_at"] == utc("2026-11-02 10:00")


def test_unknown_pipelines_and_stages_are_refused(company, deals):
    a = company.actor("rep_a")
    with pytest.raises(NotFound):
        funnel.deal_funnel(company.con, a, 99, NOV)
    with pytest.raises(ValidationError):
        funnel.stage_deals(company.con, a, 1, "renew_review", NOV)     # a stage of another pipeline
    with pytest.raises(ValidationError):
        funnel.stage_deals(company.con, a, 1, "proposal", NOV, which="everything")


def test_the_renewals_pipeline_has_its_own_funnel(company, deals):
    df = funnel.deal_funnel(company.con, company.actor("rep_a"), 2, NOV)
    assert df["stage"].to_list() == ["renew_review", "renew_quote", "renew_commit", "renew_won"]
    assert df["reached"].to_list() == [1, 0, 0, 1]
    assert df["converted_to_next"].to_list()[0] == 1.0


# ---------------------------------------------------------------------------------------- leads funnel
def lead(company, owner, created, converted=None, customer_won=None, invalid=False):
    uid, team = who(company, owner)
    cid = None
    if converted:
        cid = next(_ids)
        company.con.execute("INSERT INTO customers (id, name, owner_id, team_id, created_at, updated_at, won_at) "
                            "VALUES (?, 'C', ?, ?, ?, ?, ?)", [cid, uid, team, utc(converted), utc(converted),
                                                               customer_won and utc(customer_won)])
    lid = next(_ids)
    company.con.execute(
        "INSERT INTO leads (id, name, status, owner_id, team_id, created_at, updated_at, converted_at, "
        "converted_customer_id, disqualified_at) VALUES (?, 'L', ?, ?, ?, ?, ?, ?, ?, ?)",
        [lid, "invalid" if invalid else "converted" if converted else "new", uid, team, utc(created),
         utc(created), converted and utc(converted), cid, utc("2026-11-07 10:00") if invalid else None])
    return lid


@pytest.fixture
def leads(company):
    out = {
        "l1": lead(company, "rep_a", "2026-11-02 10:00", "2026-11-05 10:00", "2026-11-10 10:00"),
        "l2": lead(company, "rep_a", "2026-11-02 10:00", "2026-11-06 10:00"),
        "l3": lead(company, "rep_a", "2026-11-02 10:00", invalid=True),
        "l4": lead(company, "rep_a", "2026-11-08 10:00"),
        # converted into a customer won in January, before the lead existed: a customer, not a win of it
        "l5": lead(company, "rep_a", "2026-11-03 10:00", "2026-11-04 10:00", "2026-01-01 10:00"),
        "l6": lead(company, "rep_a", "2026-10-20 10:00", "2026-11-02 10:00", "2026-11-03 10:00"),  # October
        "l7": lead(company, "rep_b", "2026-11-02 10:00", "2026-11-03 10:00", "2026-11-04 10:00"),
    }
    return out


def test_the_lead_funnel_counts_leads_customers_and_wins_of_the_leads_created_in_the_period(company, leads):
    df = funnel.lead_funnel(company.con, company.actor("rep_a"), NOV)
    got = {r["stage"]: r for r in df.iter_rows(named=True)}
    assert df["stage"].to_list() == ["leads", "customers", "won"]
    assert df["name_zh"].to_list() == ["线索", "客户", "成交"]
    assert [got[s]["reached"] for s in ("leads", "customers", "won")] == [5, 3, 1]
    assert got["leads"]["converted_to_next"] == pytest.approx(0.6)
    assert got["customers"]["converted_to_next"] == pytest.approx(1 / 3)
    assert got["won"]["converted_to_next"] is None
    assert got["leads"]["dropped"] == 1 and got["leads"]["pending"] == 1     # l3 disqualified, l4 still new
    # days to convert (3, 4, 1) -> 3; converted -> won (5) -> 5
    assert got["leads"]["median_days_in_stage"] == pytest.approx(3.0)
    assert got["customers"]["median_days_in_stage"] == pytest.approx(5.0)
    # one definition: the first step's conversion is the metrics layer's lead_conversion
    kpi = m.lead_conversion(company.con, company.actor("rep_a"), NOV)
    assert kpi.value == pytest.approx(got["leads"]["converted_to_next"])
    # the manager sees rep_b's lead too; rep_a never does
    mgr = funnel.lead_funnel(company.con, company.actor("mgr"), NOV)
    mgr = dict(zip(mgr["stage"].to_list(), mgr["reached"].to_list()))
    assert mgr == {"leads": 6, "customers": 4, "won": 2}


def test_the_lead_drill_down_total_equals_the_step_count(company, leads):
    a = company.actor("rep_a")
    for step, expected in (("leads", {"l1", "l2", "l3", "l4", "l5"}), ("customers", {"l1", "l2", "l5"}),
                           ("won", {"l1"})):
        df, total = funnel.stage_leads(company.con, a, step, NOV, page_size=50)
        assert total == len(expected) and set(df["id"].to_list()) == {leads[k] for k in expected}
    df, total = funnel.stage_leads(company.con, a, "leads", NOV, which="dropped")
    assert total == 1 and df["id"].to_list() == [leads["l3"]]


def test_a_filter_leads_do_not_carry_gives_no_figures_rather_than_unfiltered_ones(company, leads):
    df = funnel.lead_funnel(company.con, company.actor("rep_a"), NOV, m.Filters(level="A"))
    assert df["reached"].to_list() == [None, None, None]
