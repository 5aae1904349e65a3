"""SLA in business hours on the mainland calendar (issue 8 point 3), with a controlled clock.

Company time zone Asia/Shanghai (UTC+8), working hours 09:00-18:00 Monday-Friday; the holidays package's
public holidays and make-up working days (调休). `L(...)` is a local wall-clock time as stored (naive UTC).
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from core import clock, db, sla, settings
from core.errors import ValidationError

SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def L(*args) -> dt.datetime:
    return clock.local_to_utc(dt.datetime(*args), SH)


def add_ticket(con, opened_at, priority="medium", status="open", level=None, **cols) -> int:
    """A ticket row planned by sla.plan, as tickets.create_ticket writes it."""
    tid = db.next_id(con, "tickets")
    planned = sla.plan(con, opened_at, priority, level)
    values = {"id": tid, "ticket_no": f"TK{tid:07d}", "subject": "s", "priority": priority, "status": status,
              "opened_at": opened_at, "created_at": opened_at, "updated_at": opened_at, **planned, **cols}
    names = ", ".join(values)
    con.execute(f"INSERT INTO tickets ({names}) VALUES ({', '.join('?' * len(values))})", list(values.values()))
    return tid


def state(con, tid, now):
    sql, params = sla.state_sql(con, now, "SELECT * FROM tickets WHERE id = ?", [tid])
    return db.one(con, f"SELECT * FROM ({sql}) x", params)


def test_prepare_builds_the_calendar_from_the_package(con):
    days = dict(con.execute("SELECT day, workday FROM work_calendar WHERE day IN ('2026-09-20', '2026-10-01', "
                            "'2026-10-05', '2026-10-07', '2026-10-08', '2026-10-10', '2026-10-11')").fetchall())
    assert days == {dt.date(2026, 9, 20): True,    # make-up Sunday
                    dt.date(2026, 10, 1): False, dt.date(2026, 10, 5): False, dt.date(2026, 10, 7): False,
                    dt.date(2026, 10, 8): True,
                    dt.date(2026, 10, 10): True,   # make-up Saturday
                    dt.date(2026, 10, 11): False}
    special = sla.year_days(con, 2026)
    assert {"makeup", "holiday"} == set(special["kind"])
    assert dt.date(2026, 10, 10) in special.filter(special["kind"] == "makeup")["day"].to_list()


def test_a_due_skips_the_weekend(con):
    friday_5pm = L(2026, 11, 20, 17, 0)
    assert sla.due_at(con, friday_5pm, 120) == L(2026, 11, 23, 10, 0)  # 1 h Friday, 1 h Monday
    assert sla.business_minutes(con, friday_5pm, L(2026, 11, 23, 10, 0)) == 120
    # opened on Saturday: the clock starts Monday 09:00; 9 h of work end at 18:00 (not Tuesday 09:00)
    assert sla.due_at(con, L(2026, 11, 21, 11, 0), 540) == L(2026, 11, 23, 18, 0)


def test_national_day_and_its_makeup_days(con):
    opened = L(2026, 9, 30, 16, 0)  # Wednesday before the Oct 1-7 holiday
    planned = sla.plan(con, opened, "high")  # 4 h / 24 h
    assert (planned["first_response_minutes"], planned["resolution_minutes"]) == (240, 1440)
    assert planned["first_response_due"] == L(2026, 10, 8, 11, 0)   # 2 h on Sep 30, 2 h on Oct 8
    assert planned["resolution_due"] == L(2026, 10, 10, 13, 0)      # the make-up Saturday counts
    assert sla.business_minutes(con, opened, L(2026, 10, 8, 9, 0)) == 120  # the holiday week counts nothing
    # the make-up Sunday 2026-09-20 is a working day, the Saturday before it is not
    assert sla.due_at(con, L(2026, 9, 19, 10, 0), 60) == L(2026, 9, 20, 10, 0)


def test_first_response_then_resolution_target(con):
    now = L(2026, 11, 16, 12, 0)
    tid = add_ticket(con, L(2026, 11, 16, 9, 0), "medium")  # 8 h / 48 h
    s = state(con, tid, now)
    assert (s["sla_target"], s["sla_due"], s["sla_left_minutes"]) == ("first_response", L(2026, 11, 16, 17, 0), 300)
    con.execute("UPDATE tickets SET first_response_at = ? WHERE id = ?", [L(2026, 11, 16, 10, 0), tid])
    s = state(con, tid, now)
    assert s["sla_target"] == "resolution"
    assert s["sla_due"] == sla.due_at(con, L(2026, 11, 16, 9, 0), 48 * 60) == L(2026, 11, 23, 12, 0)
    assert s["sla_state"] == "ok" and s["sla_left_minutes"] == 48 * 60 - 180


def test_at_risk_at_the_setting_then_breached(con, company):
    tid = add_ticket(con, L(2026, 11, 16, 9, 0), "critical")  # first response within 60 working minutes
    assert state(con, tid, L(2026, 11, 16, 9, 47))["sla_state"] == "ok"
    s = state(con, tid, L(2026, 11, 16, 9, 48))
    assert s["sla_state"] == "at_risk" and s["sla_used"] == pytest.approx(0.8)
    s = state(con, tid, L(2026, 11, 16, 10, 5))
    assert s["sla_state"] == "breached" and s["sla_left_minutes"] == -5
    # the evening does not count: at 19:00 it is 8 working hours late, still at 09:00 next morning
    assert state(con, tid, L(2026, 11, 16, 19, 0))["sla_left_minutes"] == -480
    assert state(con, tid, L(2026, 11, 17, 9, 0))["sla_left_minutes"] == -480
    settings.set_value(con, company.actor("boss"), "service.at_risk_percent", 50)
    assert state(con, tid, L(2026, 11, 16, 9, 30))["sla_state"] == "at_risk"
    assert state(con, tid, L(2026, 11, 16, 9, 29))["sla_state"] == "ok"


def test_pending_pauses_the_clock_and_moves_the_dues(con):
    tid = add_ticket(con, L(2026, 11, 16, 9, 0), "medium")  # first response due Mon 17:00
    sla.pause(con, tid, L(2026, 11, 16, 10, 0))
    con.execute("UPDATE tickets SET status = 'pending' WHERE id = ?", [tid])
    frozen = state(con, tid, L(2026, 11, 16, 10, 0))["sla_left_minutes"]
    assert frozen == 420
    s = state(con, tid, L(2026, 11, 17, 10, 30))  # a day later, still waiting on the customer
    assert (s["sla_state"], s["sla_left_minutes"]) == ("paused", 420)
    # the customer answers Tuesday 11:00: 8 h Monday + 2 h Tuesday were paused
    assert sla.resume(con, tid, L(2026, 11, 17, 11, 0)) == 600
    con.execute("UPDATE tickets SET status = 'open' WHERE id = ?", [tid])
    row = db.one(con, "SELECT pending_since, paused_minutes, first_response_due, resolution_due FROM tickets "
                      "WHERE id = ?", [tid])
    assert row["pending_since"] is None and row["paused_minutes"] == 600
    assert row["first_response_due"] == L(2026, 11, 17, 18, 0)  # Mon 17:00 + 600 working minutes
    assert row["resolution_due"] == sla.due_at(con, L(2026, 11, 16, 9, 0), 48 * 60 + 600)
    s = state(con, tid, L(2026, 11, 17, 11, 0))
    assert (s["sla_state"], s["sla_left_minutes"]) == ("ok", 420)  # no pending time was counted
    # a later priority change plans again from opened_at, keeping the pause
    con.execute("UPDATE tickets SET priority = 'high' WHERE id = ?", [tid])
    new = sla.replan(con, tid, L(2026, 11, 17, 12, 0))
    assert new["first_response_due"] == sla.due_at(con, L(2026, 11, 16, 9, 0), 240 + 600)


def test_resolved_tickets_met_or_missed(con):
    on_time = add_ticket(con, L(2026, 11, 16, 9, 0), "critical", status="resolved",
                         first_response_at=L(2026, 11, 16, 9, 30), resolved_at=L(2026, 11, 16, 15, 0))
    late = add_ticket(con, L(2026, 11, 16, 9, 0), "critical", status="closed",
                      first_response_at=L(2026, 11, 16, 9, 30), resolved_at=L(2026, 11, 17, 15, 0))
    now = L(2026, 11, 20, 9, 0)
    assert state(con, on_time, now)["sla_state"] == "met" and state(con, on_time, now)["sla_target"] is None
    assert state(con, late, now)["sla_state"] == "missed"


def test_a_merged_duplicate_is_neither_met_nor_missed(con):
    """A duplicate merged into another ticket has no SLA of its own: the kept ticket carries it."""
    kept = add_ticket(con, L(2026, 11, 16, 9, 0), "critical")
    dup = add_ticket(con, L(2026, 11, 16, 9, 0), "critical", status="closed", merged_into=kept,
                     first_response_at=L(2026, 11, 16, 9, 30), closed_at=L(2026, 11, 16, 10, 0))
    late = add_ticket(con, L(2026, 11, 16, 9, 0), "critical", status="closed", merged_into=kept,
                      closed_at=L(2026, 11, 18, 10, 0))
    now = L(2026, 11, 20, 9, 0)
    assert state(con, dup, now)["sla_state"] is None and state(con, late, now)["sla_state"] is None
    assert state(con, kept, now)["sla_state"] == "breached"


def test_targets_per_customer_level(con, company):
    boss = company.actor("boss")
    sla.set_level_targets(con, boss, [{"priority": "high", "level": "A", "first_response_hours": 1,
                                       "resolution_hours": 8}])
    assert sla.targets(con, "high", "A") == (60, 480)
    assert sla.targets(con, "high", "B") == (240, 1440)  # no override: the priority's default
    assert sla.targets(con, "high") == (240, 1440)
    sla.set_targets(con, boss, [{"priority": "high", "first_response_hours": 2, "resolution_hours": 16}])
    assert sla.targets(con, "high", "C") == (120, 960)
    with pytest.raises(ValidationError):
        sla.set_targets(con, boss, [{"priority": "high", "first_response_hours": 20, "resolution_hours": 16}])
    with pytest.raises(ValidationError):
        sla.set_level_targets(con, boss, [{"priority": "high", "level": "Z", "first_response_hours": 1,
                                           "resolution_hours": 2}])


def test_calendar_settings_rebuild_the_calendar(con, company):
    boss = company.actor("boss")
    settings.set_value(con, boss, "service.work_end", "17:00")
    assert db.scalar(con, "SELECT minutes FROM work_calendar WHERE day = '2026-11-16'") == 480
    assert sla.due_at(con, L(2026, 11, 16, 16, 0), 120) == L(2026, 11, 17, 10, 0)
    settings.set_value(con, boss, "service.workdays", "1,2,3,4,5,6")
    assert db.scalar(con, "SELECT workday FROM work_calendar WHERE day = '2026-11-21'") is True
    for key, bad in (("service.work_end", "08:00"), ("service.work_start", "9am"), ("service.workdays", "1,9"),
                     ("service.holiday_country", "XX")):
        with pytest.raises(ValidationError):
            settings.set_value(con, boss, key, bad)
    assert settings.get(con, "service.work_end") == "17:00"  # a refused value is not kept
    assert db.scalar(con, "SELECT minutes FROM work_calendar WHERE day = '2026-11-16'") == 480
    # the company moves to Berlin: the working day 09:00-17:00 local is 08:00-16:00 UTC in November
    settings.set_value(con, boss, "company.timezone", "Europe/Berlin")
    assert db.one(con, "SELECT work_start_utc, work_end_utc FROM work_calendar WHERE day = '2026-11-16'") == {
        "work_start_utc": dt.datetime(2026, 11, 16, 8, 0), "work_end_utc": dt.datetime(2026, 11, 16, 16, 0)}


def test_many_dues_at_once_match_the_one_value_inverse(con):
    opened = [L(2026, 9, 30, 16, 0), L(2026, 11, 20, 17, 30), L(2026, 11, 21, 3, 0), L(2026, 10, 9, 8, 0)]
    ids = [add_ticket(con, o, p) for o, p in zip(opened, ("high", "critical", "low", "medium"))]
    con.execute("UPDATE tickets SET first_response_due = NULL, resolution_due = NULL, paused_minutes = 30 "
                "WHERE id = ?", [ids[0]])
    assert sla.replan_many(con) == 4
    for tid, o, p in zip(ids, opened, ("high", "critical", "low", "medium")):
        first, res = sla.targets(con, p)
        paused = 30 if tid == ids[0] else 0
        row = db.one(con, "SELECT first_response_due, resolution_due FROM tickets WHERE id = ?", [tid])
        assert row["first_response_due"] == sla.due_at(con, o, first + paused)
        assert row["resolution_due"] == sla.due_at(con, o, res + paused)


def test_open_state_leaves_out_tickets_in_the_recycle_bin(con, company):
    """The SLA state of every open ticket counts live tickets only: a deleted one is neither at risk
    nor breached for anybody."""
    from core import tickets

    now = L(2026, 11, 24, 10, 0)
    kept = add_ticket(con, L(2026, 11, 23, 10, 0), "critical", customer_id=company.customers["rep_a"])
    gone = add_ticket(con, L(2026, 11, 23, 10, 0), "critical", customer_id=company.customers["rep_a"])
    tickets.delete_ticket(con, company.actor("boss"), gone)
    for who in ("svc", "boss", "rep_a"):
        found = sla.open_state(con, company.actor(who), now)
        assert kept in found["id"].to_list() and gone not in found["id"].to_list(), who
        assert found.filter(found["id"] == kept)["sla_state"].to_list() == ["breached"]
