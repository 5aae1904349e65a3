"""The pool dashboard (core.pool_stats): per rep held vs cap, untouched for 5/10/20 working days, claimed and
reclaimed this week, locked; per pool size, age and claim rate; managers see their teams, admins all, reps
only themselves."""
from __future__ import annotations

import datetime as dt

import pytest

from core import auth, clock, customers, pool_stats, reclaim, sla
from core.errors import PermissionDenied
from tests.conftest import build_company


def utc(con, y, m, d, hh=10, mm=0):
    return clock.to_utc(con, dt.datetime(y, m, d, hh, mm))


@pytest.fixture
def co(con):
    company = build_company(con)
    sla.ensure_calendar(con)
    return company


def held_since(con, cid, assigned, followed_up=None):
    con.execute("UPDATE customers SET assigned_at = ?, last_activity_at = ? WHERE id = ?", [assigned, followed_up, cid])


def by(frame, key, value):
    return next(r for r in frame.to_dicts() if r[key] == value)


def test_a_reps_row_counts_held_against_cap_untouched_days_locks_and_the_weeks_moves(co):
    con = co.con
    rep_a = co.actor("rep_a")
    extra = [customers.create_customer(con, rep_a, {"name": f"Extra {i}", "phone": f"1390013900{i}"}) for i in range(4)]
    won = customers.create_customer(con, rep_a, {"name": "Won one", "phone": "13900139010"})
    con.execute("UPDATE customers SET stage = 'won' WHERE id = ?", [won])
    con.execute("UPDATE users SET customer_cap = 50 WHERE id = ?", [co.users["rep_a"]])
    con.execute("UPDATE teams SET customer_cap = 30 WHERE id = ?", [co.teams["east"]])
    # rep_b's customer is reclaimed on Tue Oct 20 (this week)
    held_since(con, co.customers["rep_b"], utc(con, 2026, 9, 1), utc(con, 2026, 9, 30))
    assert reclaim.run(con, now=utc(con, 2026, 10, 20, 2))["moved"] == 1
    # Thu Oct 22 2026: followed up Oct 16 (4 working days: 19 20 21 22), Oct 14 (6), Oct 8 (11), Sep 2 (20+)
    held_since(con, co.customers["rep_a"], utc(con, 2026, 9, 1), utc(con, 2026, 10, 16))
    held_since(con, extra[0], utc(con, 2026, 9, 1), utc(con, 2026, 10, 14))
    held_since(con, extra[1], utc(con, 2026, 9, 1), utc(con, 2026, 10, 8))
    held_since(con, extra[2], utc(con, 2026, 9, 1), utc(con, 2026, 9, 2))
    held_since(con, extra[3], utc(con, 2026, 10, 21), None)  # just got it
    con.execute("UPDATE customers SET locked_at = ? WHERE id = ?", [utc(con, 2026, 10, 1), extra[3]])
    # this week (from Mon Oct 19): a claim by rep_a, and a reclaim of one of rep_b's
    con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, reason, "
                "moved_by, moved_at) VALUES (900, ?, NULL, ?, ?, ?, 'claim', ?, ?), "
                "(901, ?, NULL, ?, ?, ?, 'claim', ?, ?)",
                [extra[3], co.users["rep_a"], co.teams["east"], co.teams["east"], co.users["rep_a"], utc(con, 2026, 10, 21),
                 extra[2], co.users["rep_a"], co.teams["east"], co.teams["east"], co.users["rep_a"], utc(con, 2026, 10, 12)])
    now = utc(con, 2026, 10, 22, 15)
    reps = pool_stats.dashboard(con, auth.actor_for(con, "boss", now))["reps"]
    a = by(reps, "user_id", co.users["rep_a"])
    assert (a["held"], a["cap"]) == (5, 50)  # the won one is not held against the cap
    assert (a["untouched_5"], a["untouched_10"], a["untouched_20"]) == (3, 2, 1)
    assert (a["claimed_week"], a["reclaimed_week"], a["locked"]) == (1, 0, 1)
    b = by(reps, "user_id", co.users["rep_b"])
    assert (b["held"], b["cap"], b["reclaimed_week"]) == (0, 30, 1)  # the team's cap
    assert by(reps, "user_id", co.users["rep_w"])["cap"] == 200  # the company setting
    assert a["team"] == "East"


def test_pools_show_size_age_and_the_weeks_claim_rate(co):
    con = co.con
    admin = co.actor("boss")
    for i in range(3):
        customers.create_customer(con, admin, {"name": f"Pooled {i}", "phone": f"1390013901{i}"}, owner_id=None,
                                  team_id=co.teams["east"])
    con.execute("UPDATE customers SET pool_since = ? WHERE owner_id IS NULL AND team_id = ?",
                [dt.datetime(2026, 11, 3, 9, 30), co.teams["east"]])
    con.execute("UPDATE customers SET pool_since = ? WHERE id = ?", [dt.datetime(2026, 11, 13, 9, 30),
                                                                   co.customers["pool_east"]])
    con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, reason, "
                "moved_by, moved_at) VALUES (900, ?, NULL, ?, ?, ?, 'claim', ?, ?)",
                [co.customers["rep_a"], co.users["rep_a"], co.teams["east"], co.teams["east"], co.users["rep_a"],
                 dt.datetime(2026, 11, 23, 2, 0)])
    now = dt.datetime(2026, 11, 23, 9, 30)  # Monday: the week began at 00:00 Shanghai (Sun 16:00 UTC)
    pools = pool_stats.dashboard(con, auth.actor_for(con, "boss", now))["pools"]
    east = by(pools, "team_id", co.teams["east"])
    assert (east["size"], east["median_age_days"], east["oldest_days"]) == (4, 20.0, 20.0)
    assert east["claimed_week"] == 1 and east["claim_rate"] == pytest.approx(1 / 5)
    west = by(pools, "team_id", co.teams["west"])
    assert west["size"] == 1 and west["claimed_week"] == 0 and west["claim_rate"] == 0


def test_managers_see_their_teams_admins_all_reps_themselves_and_others_nothing(co):
    con = co.con
    everyone = {co.users[u] for u in ("rep_a", "rep_b", "rep_sh", "rep_w")}
    admin = pool_stats.dashboard(con, co.actor("boss"))
    assert set(admin["reps"]["user_id"]) == everyone
    assert {co.teams["east"], co.teams["west"]} <= set(admin["pools"]["team_id"])
    mgr = pool_stats.dashboard(con, co.actor("mgr"))
    assert set(mgr["reps"]["user_id"]) == everyone - {co.users["rep_w"]}
    assert co.teams["west"] not in set(mgr["pools"]["team_id"]) and co.teams["east"] in set(mgr["pools"]["team_id"])
    rep = pool_stats.dashboard(con, co.actor("rep_a"))
    assert rep["reps"]["user_id"].to_list() == [co.users["rep_a"]]
    assert rep["pools"]["team_id"].to_list() == [co.teams["east"]]
    for other in ("mkt", "svc"):
        with pytest.raises(PermissionDenied):
            pool_stats.dashboard(con, co.actor(other))
