"""Escalation of breached tickets (issue 8 point 4): once per ticket, target and due; the assignee and the
team's lead are told in-app; the in-process scheduler runs the rule and survives a failing job."""
from __future__ import annotations

import datetime as dt
import threading
import time
import zoneinfo

from core import clock, db, notifications, org, scheduler, sla
from tests.conftest import PASSWORD
from tests.integration.test_sla import add_ticket

SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def L(*args) -> dt.datetime:
    return clock.local_to_utc(dt.datetime(*args), SH)


OPENED = L(2026, 11, 16, 9, 0)          # Monday 09:00; critical: first response due 10:00
BREACHED = L(2026, 11, 16, 10, 30)


def lead_of_service(company) -> int:
    boss = company.actor("boss")
    lead = org.create_user(company.con, boss, "lead", "Lee Lead", "service", PASSWORD, team_id=company.teams["service"])
    company.con.execute("UPDATE teams SET lead_id = ? WHERE id = ?", [lead, company.teams["service"]])
    return lead


def notes(con, user_id):
    return db.rows(con, "SELECT kind, object, object_id, params FROM notifications WHERE user_id = ? ORDER BY id",
                   [user_id])


def test_a_breach_escalates_once_to_assignee_and_lead(company):
    con = company.con
    lead = lead_of_service(company)
    svc = company.users["svc"]
    tid = add_ticket(con, OPENED, "critical", assignee_id=svc, team_id=company.teams["service"])
    calm = add_ticket(con, OPENED, "low", assignee_id=svc, team_id=company.teams["service"])
    assert sla.escalate(con, L(2026, 11, 16, 9, 59)) == 0  # not yet breached
    assert sla.escalate(con, BREACHED) == 1
    assert db.rows(con, "SELECT ticket_id, target, due_at FROM escalations") == [
        {"ticket_id": tid, "target": "first_response", "due_at": L(2026, 11, 16, 10, 0)}]
    for user in (svc, lead):
        found = notes(con, user)
        assert [(n["kind"], n["object"], n["object_id"]) for n in found] == [("sla_breach", "ticket", tid)]
    assert notes(con, company.users["mgr"]) == []  # the lead is the team's lead, nobody else
    # the rule runs again (every few minutes): nothing new is written
    assert sla.escalate(con, BREACHED + dt.timedelta(minutes=5)) == 0
    assert db.scalar(con, "SELECT count(*) FROM notifications") == 2
    assert calm not in [r[0] for r in con.execute("SELECT ticket_id FROM escalations").fetchall()]
    # on "my day": the assignee's unread list names the ticket
    unread = notifications.unread(con, company.actor("svc"))
    assert unread["object_id"].to_list() == [tid] and unread["params"][0]["target"] == "first_response"
    # the first response comes, then the resolution target breaches too: a second, separate escalation
    con.execute("UPDATE tickets SET first_response_at = ? WHERE id = ?", [L(2026, 11, 16, 11, 0), tid])
    assert sla.escalate(con, L(2026, 11, 17, 9, 30)) == 1  # critical resolution: 8 working hours
    assert sorted(r[0] for r in con.execute("SELECT target FROM escalations").fetchall()) == [
        "first_response", "resolution"]


def test_a_moved_due_that_breaches_again_escalates_again(company):
    con = company.con
    svc = company.users["svc"]
    tid = add_ticket(con, OPENED, "critical", assignee_id=svc, team_id=company.teams["service"])
    assert sla.escalate(con, BREACHED) == 1
    sla.pause(con, tid, BREACHED)
    sla.resume(con, tid, L(2026, 11, 16, 12, 30))  # 2 h paused: the due moves to 12:00... still breached
    assert sla.escalate(con, L(2026, 11, 16, 13, 0)) == 1
    assert sla.escalate(con, L(2026, 11, 16, 13, 5)) == 0
    assert db.scalar(con, "SELECT count(*) FROM escalations WHERE ticket_id = ?", [tid]) == 2


def test_without_a_lead_the_managers_are_told(company):
    con = company.con
    # a ticket of the East team (no lead): its manager; a ticket without a team: the assignee's manager
    east = add_ticket(con, OPENED, "critical", assignee_id=company.users["rep_a"], team_id=company.teams["east"])
    loose = add_ticket(con, OPENED, "critical", assignee_id=company.users["rep_w"])
    assert sla.escalate(con, BREACHED) == 2
    mgr = sorted(n["object_id"] for n in notes(con, company.users["mgr"]))
    assert mgr == sorted([east, loose])
    assert [n["object_id"] for n in notes(con, company.users["rep_a"])] == [east]
    assert [n["object_id"] for n in notes(con, company.users["rep_w"])] == [loose]


def test_resolved_paused_and_deleted_tickets_do_not_escalate(company):
    con = company.con
    add_ticket(con, OPENED, "critical", status="resolved", resolved_at=L(2026, 11, 16, 9, 30),
               first_response_at=L(2026, 11, 16, 9, 10))
    paused = add_ticket(con, OPENED, "critical", status="pending")
    sla.pause(con, paused, L(2026, 11, 16, 9, 30))
    add_ticket(con, OPENED, "critical", deleted_at=OPENED)
    assert sla.escalate(con, BREACHED) == 0


def test_the_scheduler_runs_jobs_and_survives_a_failing_one(tmp_path):
    path = tmp_path / "crm.duckdb"
    shared = db.connect(path)
    from core import setup

    setup.prepare(shared)
    runs: list[str] = []

    def good(con, now):  # a unit of work of its own: it must not find one left open by the failed job
        db.write(con, lambda: con.execute("INSERT INTO escalations VALUES (?, 'resolution', ?, ?)",
                                          [len(runs) + 1, now, now]))
        runs.append("good")

    def bad(con, now):  # opens a transaction by hand, writes, and fails
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO notifications (id, user_id, kind, created_at) VALUES (1, 1, 'x', ?)", [now])
        raise RuntimeError("boom")

    sched = scheduler.Scheduler(shared, jobs=[scheduler.Job("bad", 0.05, bad), scheduler.Job("good", 0.05, good)],
                                tick=0.01)
    sched.start()
    try:
        deadline = time.time() + 10
        while runs.count("good") < 3 and time.time() < deadline:
            time.sleep(0.02)
    finally:
        sched.stop()
    assert not sched.running
    assert runs.count("good") >= 3                     # a failing job does not stop the others
    status = sched.status()
    assert status["bad"]["failures"] >= 3 and "boom" in status["bad"]["last_error"]
    assert status["good"]["failures"] == 0
    assert shared.execute("SELECT count(*) FROM notifications").fetchall()[0][0] == 0  # rolled back
    assert shared.execute("SELECT count(*) FROM escalations").fetchall()[0][0] == runs.count("good")  # committed
    assert not any(th.name.startswith("crm-scheduler") and th.is_alive() for th in threading.enumerate())
    shared.close()


def test_the_scheduler_runs_the_escalation_on_its_setting(company):
    con = company.con
    tid = add_ticket(con, OPENED, "critical", assignee_id=company.users["svc"], team_id=company.teams["service"])
    job = next(j for j in scheduler.default_jobs(con) if j.name == "sla_escalation")
    assert job.interval(con) == 5 * 60  # service.escalation_every_minutes
    con.execute("INSERT INTO settings (key, value) VALUES ('service.escalation_every_minutes', '2')")
    assert job.interval(con) == 2 * 60
    job.fn(con, BREACHED)
    assert [n["object_id"] for n in notes(con, company.users["svc"])] == [tid]
