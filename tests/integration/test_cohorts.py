"""Cohorts (core.analytics.cohorts): retention by first-purchase month and revenue per cohort, and leads ->
customers by creation month, on hand-made data with the shares worked out here. Months are company
months (Asia/Shanghai, UTC+8); NOW is 2026-11-23, so November 2026 is the last month shown.

Customers (rep_a's unless said), company time, purchases unless said:
    P  Jul 5: 100, Aug 10: 50, Aug 12: credit note -20, Oct 31 23:30: 30
    Q  Jul 20: 200, Sep 1 00:30 (still August in UTC): 70
    R  Jul 31: 300; a draft of 999 in August, our own cancelled order of 999 in September (neither counts)
    S  Aug 15: 40, Sep 15: 5, Sep 20: 6 (two purchases in one month: one customer buying)
    T  Jun 10: 1000, Jul 10: 1000 (first purchase in June: not in the July cohort)
    U  only a credit note of -5 in August (never bought: in no cohort)
    W  rep_w's: Jul 2: 400
July cohort (boss): P, Q, R, W = 4; buying in month 1 (Aug) P = 1/4, month 2 (Sep) Q = 1/4, month 3 (Oct) P =
1/4, month 4 (Nov) nobody; revenue 1000, 30, 70, 30, 0. August cohort: S = 1; Sep 1/1 (revenue 11), Oct 0,
Nov 0. rep_a's July cohort: P, Q, R = 3.
"""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

from core.analytics import cohorts
from core.errors import ValidationError

_ids = itertools.count(70_000)
JUL, AUG = dt.date(2026, 7, 1), dt.date(2026, 8, 1)


def utc(local: str) -> dt.datetime:
    return dt.datetime.fromisoformat(local) - dt.timedelta(hours=8)


def team_of(company, username):
    return company.con.execute("SELECT team_id FROM users WHERE id = ?", [company.users[username]]).fetchone()[0]


@pytest.fixture
def shop(company):
    con = company.con
    plan = {"P": ("rep_a", [("2026-07-05 10:00", 100), ("2026-08-10 10:00", 50), ("2026-08-12 10:00", -20, "refunded"),
                            ("2026-10-31 23:30", 30)]),
            "Q": ("rep_a", [("2026-07-20 10:00", 200), ("2026-09-01 00:30", 70)]),
            "R": ("rep_a", [("2026-07-31 10:00", 300), ("2026-08-10 10:00", 999, "draft"),
                            ("2026-09-10 10:00", 999, "cancelled")]),
            "S": ("rep_a", [("2026-08-15 10:00", 40), ("2026-09-15 10:00", 5), ("2026-09-20 10:00", 6)]),
            "T": ("rep_a", [("2026-06-10 10:00", 1000), ("2026-07-10 10:00", 1000)]),
            "U": ("rep_a", [("2026-08-10 10:00", -5, "cancelled")]),
            "W": ("rep_w", [("2026-07-02 10:00", 400)])}
    ids = {}
    for name, (owner, orders) in plan.items():
        cid = ids[name] = next(_ids)
        con.execute("INSERT INTO customers (id, name, owner_id, team_id, created_at, updated_at) VALUES "
                    "(?, ?, ?, ?, TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-01')",
                    [cid, name, company.users[owner], team_of(company, owner)])
        for local, amount, *status in orders:
            con.execute("INSERT INTO orders (id, customer_id, ordered_at, status, amount, owner_id, team_id, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [next(_ids), cid, utc(local), (status or ["confirmed"])[0],
                                                           amount, company.users[owner], team_of(company, owner),
                                                           utc(local)])
    return ids


def table(frame):
    return {(r["cohort"], r["month"]): (r["size"], r["customers"], r["share"], r["revenue"])
            for r in frame.iter_rows(named=True)}


def test_retention_by_first_purchase_month_with_revenue(company, shop):
    got = table(cohorts.retention(company.con, company.actor("boss"), "2026-07-01", "2026-08-31", horizon=6))
    assert got == {
        (JUL, 0): (4, 4, 1.0, 1000), (JUL, 1): (4, 1, 0.25, 30), (JUL, 2): (4, 1, 0.25, 70),
        (JUL, 3): (4, 1, 0.25, 30), (JUL, 4): (4, 0, 0.0, 0),            # December is not shown yet
        (AUG, 0): (1, 1, 1.0, 40), (AUG, 1): (1, 1, 1.0, 11), (AUG, 2): (1, 0, 0.0, 0), (AUG, 3): (1, 0, 0.0, 0)}


def test_retention_horizon_and_a_reps_scope(company, shop):
    got = table(cohorts.retention(company.con, company.actor("rep_a"), "2026-07-15", "2026-07-15", horizon=2))
    assert got == {(JUL, 0): (3, 3, 1.0, 600), (JUL, 1): (3, 1, 1 / 3, 30), (JUL, 2): (3, 1, 1 / 3, 70)}


def lead(company, owner, created, converted=None, deleted=False):
    company.con.execute(
        "INSERT INTO leads (id, name, status, owner_id, team_id, created_at, updated_at, converted_at, deleted_at) "
        "VALUES (?, 'L', ?, ?, ?, ?, ?, ?, ?)",
        [next(_ids), "converted" if converted else "new", company.users[owner], team_of(company, owner), utc(created),
         utc(created), converted and utc(converted), utc(created) if deleted else None])


def test_lead_cohorts_convert_by_the_end_of_each_month(company, shop):
    lead(company, "rep_a", "2026-07-03 10:00", "2026-07-20 10:00")
    lead(company, "rep_a", "2026-07-10 10:00", "2026-09-02 10:00")
    lead(company, "rep_a", "2026-07-31 23:00")
    lead(company, "rep_a", "2026-08-01 00:30", "2026-08-05 10:00")     # August in company time
    lead(company, "rep_w", "2026-07-15 10:00")
    lead(company, "rep_a", "2026-07-15 10:00", "2026-07-16 10:00", deleted=True)
    frame = cohorts.lead_cohorts(company.con, company.actor("boss"), "2026-07-01", "2026-08-01", horizon=12)
    got = {(r["cohort"], r["month"]): (r["size"], r["converted"], r["share"]) for r in frame.iter_rows(named=True)}
    assert got == {(JUL, 0): (4, 1, 0.25), (JUL, 1): (4, 1, 0.25), (JUL, 2): (4, 2, 0.5), (JUL, 3): (4, 2, 0.5),
                   (JUL, 4): (4, 2, 0.5), (AUG, 0): (1, 1, 1.0), (AUG, 1): (1, 1, 1.0), (AUG, 2): (1, 1, 1.0),
                   (AUG, 3): (1, 1, 1.0)}
    mine = cohorts.lead_cohorts(company.con, company.actor("rep_a"), "2026-07-01", "2026-07-01", horizon=2)
    assert mine["size"].to_list() == [3, 3, 3] and mine["share"].to_list() == pytest.approx([1 / 3, 1 / 3, 2 / 3])


def test_bad_ranges_are_refused(company):
    con, boss = company.con, company.actor("boss")
    for start, end, horizon in (("2026-08-01", "2026-07-01", 12), ("2026-07-01", "2026-07-01", 0),
                                ("2000-01-01", "2026-07-01", 12), ("July", "2026-07-01", 12)):
        with pytest.raises(ValidationError):
            cohorts.retention(con, boss, start, end, horizon)
