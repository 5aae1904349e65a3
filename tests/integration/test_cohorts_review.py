"""Cohort months in a time zone with summer time (found in review while making retention set-based and fast
at scale L: the month of an order is computed by arithmetic when the company's UTC offset never changes,
and by the months' UTC starts otherwise). Europe/Berlin is UTC+2 in April: an order at 00:30 local on
April 1st (22:30 UTC on March 31st) belongs to the April cohort, not March."""
from __future__ import annotations

import datetime as dt

from core import settings
from core.analytics import cohorts
from tests.integration.test_cohorts import team_of


def test_a_summer_time_zone_puts_an_order_in_its_local_month(company):
    con, boss = company.con, company.actor("boss")
    settings.set_value(con, boss, "company.timezone", "Europe/Berlin")
    con.execute("INSERT INTO customers (id, name, owner_id, team_id, created_at, updated_at) VALUES "
                "(71001, 'Berlin', ?, ?, TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-01')",
                [company.users["rep_a"], team_of(company, "rep_a")])
    for i, (utc, amount) in enumerate([(dt.datetime(2026, 3, 31, 22, 30), 10),     # April 1st, 00:30 local
                                       (dt.datetime(2026, 5, 31, 22, 15), 20)]):   # June 1st, 00:15 local
        con.execute("INSERT INTO orders (id, customer_id, ordered_at, status, amount, owner_id, team_id, created_at) "
                    "VALUES (?, 71001, ?, 'confirmed', ?, ?, ?, ?)",
                    [71100 + i, utc, amount, company.users["rep_a"], team_of(company, "rep_a"), utc])
    got = cohorts.retention(con, boss, "2026-03-01", "2026-04-30", horizon=3)
    rows = {(r["cohort"], r["month"]): (r["customers"], r["revenue"]) for r in got.iter_rows(named=True)}
    assert set(got["cohort"].to_list()) == {dt.date(2026, 4, 1)}
    assert rows[(dt.date(2026, 4, 1), 0)] == (1, 10) and rows[(dt.date(2026, 4, 1), 2)] == (1, 20)
