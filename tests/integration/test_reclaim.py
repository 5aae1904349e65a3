"""Reclaim (回收) with a controlled clock: each rule (no follow-up, no deal, not won; AND vs OR; a level's own
rule), the exemptions (won, locked, open deals when set), a fresh claim, the count over National Day 2026
with its make-up Saturday, the preview of tomorrow's run and the warnings of "my day", the run's records
(pool move with its reason, audit, assignment log, contacts, one notification per former owner), the
command line and the daily job."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys

import holidays
import pytest

from core import auth, clock, contacts, customers, db, notifications, reclaim, scheduler, settings, setup, sla
from core.context import SYSTEM
from core.errors import PermissionDenied, ValidationError
from tests.conftest import ROOT, build_company


def utc(con, y, m, d, hh=10, mm=0):
    """A company-local wall-clock time as stored (naive UTC)."""
    return clock.to_utc(con, dt.datetime(y, m, d, hh, mm))


def held_since(con, cid, assigned, followed_up=None, **extra):
    """Shape a customer's history: when its owner got it and when it was last followed up (local times)."""
    sets = {"assigned_at": assigned, "last_activity_at": followed_up, **extra}
    con.execute("UPDATE customers SET " + ", ".join(f"{k} = ?" for k in sets) + " WHERE id = ?",
                [*sets.values(), cid])


def system_at(now):
    return dataclasses.replace(SYSTEM, now=now)


def owner(con, cid):
    return db.scalar(con, "SELECT owner_id FROM customers WHERE id = ?", [cid])


def ids(frame):
    return set(frame["customer_id"].to_list())


@pytest.fixture
def co(con):
    company = build_company(con)
    sla.ensure_calendar(con)
    return company


def test_the_holiday_package_knows_national_day_2026_and_its_makeup_saturday():
    cn = holidays.country_holidays("CN", years=2026)
    assert all(dt.date(2026, 10, d) in cn for d in (1, 2, 3, 5, 6, 7))
    assert dt.date(2026, 10, 8) not in cn
    assert dt.date(2026, 10, 10) in cn.weekend_workdays and dt.date(2026, 9, 20) in cn.weekend_workdays


def test_ten_working_days_over_national_day_count_the_makeup_saturday_and_skip_the_holiday(co):
    con, cid = co.con, co.customers["rep_a"]
    # followed up on Wed 30 Sep; Oct 1-7 are off, Sat Oct 10 is a make-up working day:
    # workdays after: Oct 8, 9, 10, 12, 13, 14, 15, 16, 19, 20 -> the 10th is Tue Oct 20
    held_since(con, cid, utc(con, 2026, 9, 1), utc(con, 2026, 9, 30, 17))
    on_oct10 = auth.actor_for(con, "rep_a", utc(con, 2026, 10, 10, 12))
    warned = reclaim.warnings(con, on_oct10, days=7).to_dicts()
    assert [(w["id"], w["due_day"], w["workdays_left"]) for w in warned] == [(cid, dt.date(2026, 10, 20), 7)]
    assert reclaim.run(con, now=utc(con, 2026, 10, 19, 2))["moved"] == 0
    assert owner(con, cid) == co.users["rep_a"]
    done = reclaim.run(con, now=utc(con, 2026, 10, 20, 2))
    assert done["moved"] == 1 and done["by_reason"] == {"no_followup": 1}
    move = done["moves"].to_dicts()[0]
    assert move["customer_id"] == cid and move["detail"] == "no follow-up for 10 working days"
    assert move["idle_workdays"] == 10 and move["due_day"] == dt.date(2026, 10, 20)
    row = db.one(con, "SELECT owner_id, team_id, pool_reason, pool_since FROM customers WHERE id = ?", [cid])
    assert row == {"owner_id": None, "team_id": co.teams["east"], "pool_reason": "reclaim",
                   "pool_since": utc(con, 2026, 10, 20, 2)}


def test_a_fresh_claim_is_not_reclaimed_at_once(co):
    con, cid = co.con, co.customers["pool_east"]
    # in the pool, last followed up in August; the manager gives it to rep_a on Wed Oct 14
    con.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", [utc(con, 2026, 8, 3), cid])
    mgr = auth.actor_for(con, "mgr", utc(con, 2026, 10, 14, 11))
    customers.bulk_reassign(con, mgr, [cid], co.users["rep_a"])
    for other in ("rep_a", "rep_b", "rep_sh", "rep_w"):  # the others were just followed up
        held_since(con, co.customers[other], utc(con, 2026, 10, 14), utc(con, 2026, 10, 27))
    assert cid not in ids(reclaim.candidates(con, utc(con, 2026, 10, 15, 2)))
    # ten working days after Oct 14: 15 16 19 20 21 22 23 26 27 28
    assert reclaim.run(con, now=utc(con, 2026, 10, 27, 2))["moved"] == 0
    done = reclaim.run(con, now=utc(con, 2026, 10, 28, 2))
    assert ids(done["moves"]) == {cid}


def test_no_deal_rule_takes_a_customer_without_a_new_deal_and_leaves_one_with_a_deal(co):
    con = co.con
    a, b = co.customers["rep_a"], co.customers["rep_b"]
    reclaim.save_rule(con, co.actor("boss"), no_deal_days=5)
    for cid in (a, b):  # followed up every day, got on Mon Oct 12
        held_since(con, cid, utc(con, 2026, 10, 12), utc(con, 2026, 10, 19, 9))
    con.execute("INSERT INTO deals (id, name, customer_id, stage, owner_id, team_id, created_at, updated_at) "
                "VALUES (1, 'D', ?, 'lost', ?, ?, ?, ?)",
                [b, co.users["rep_b"], co.teams["east"], utc(con, 2026, 10, 13), utc(con, 2026, 10, 13)])
    assert reclaim.run(con, now=utc(con, 2026, 10, 16, 2))["moved"] == 0  # 4 working days
    done = reclaim.run(con, now=utc(con, 2026, 10, 19, 2))  # 13 14 15 16 19
    assert ids(done["moves"]) == {a} and done["by_reason"] == {"no_deal": 1}
    assert done["moves"]["detail"].to_list() == ["no deal within 5 working days of getting it"]


def test_not_won_rule_takes_a_followed_up_customer_held_too_long_but_never_a_won_one(co):
    con = co.con
    a, b = co.customers["rep_a"], co.customers["rep_b"]
    reclaim.save_rule(con, co.actor("boss"), not_won_days=5)
    for cid in (a, b):
        held_since(con, cid, utc(con, 2026, 10, 12), utc(con, 2026, 10, 19, 9))
    con.execute("UPDATE customers SET stage = 'won' WHERE id = ?", [b])
    done = reclaim.run(con, now=utc(con, 2026, 10, 19, 2))
    assert ids(done["moves"]) == {a} and done["by_reason"] == {"not_won": 1}
    assert owner(con, b) == co.users["rep_b"]


def test_conditions_combined_with_and_need_all_and_with_or_need_one(co):
    con, boss = co.con, co.actor("boss")
    x, y = co.customers["rep_a"], co.customers["rep_b"]
    for cid in (x, y):  # got and last followed up on Mon Oct 12
        held_since(con, cid, utc(con, 2026, 10, 12), utc(con, 2026, 10, 12, 15))
    con.execute("INSERT INTO deals (id, name, customer_id, stage, owner_id, team_id, created_at, updated_at) "
                "VALUES (1, 'D', ?, 'proposal', ?, ?, ?, ?)",
                [y, co.users["rep_b"], co.teams["east"], utc(con, 2026, 10, 13), utc(con, 2026, 10, 13)])
    rule = reclaim.save_rule(con, boss, combine="all", no_followup_days=3, no_deal_days=5)
    oct15, oct19 = utc(con, 2026, 10, 15, 2), utc(con, 2026, 10, 19, 2)
    assert ids(reclaim.candidates(con, oct15)) == set()  # 3 days idle, but only 3 of 5 without a deal
    late = reclaim.candidates(con, oct19)
    assert ids(late) == {x}  # y has a deal: never both
    assert late["detail"].to_list() == ["no follow-up for 3 working days and no deal within 5 working days of getting it"]
    assert late["due_day"].to_list() == [dt.date(2026, 10, 19)]
    reclaim.save_rule(con, boss, rule_id=rule, combine="any", no_followup_days=3, no_deal_days=5)
    early = reclaim.candidates(con, oct15)
    assert ids(early) == {x, y} and set(early["reason"]) == {"no_followup"}


def test_a_level_rule_overrides_the_default_for_that_level_only(co):
    con = co.con
    a, b = co.customers["rep_a"], co.customers["rep_b"]
    for cid, level in ((a, "A"), (b, "B")):
        held_since(con, cid, utc(con, 2026, 10, 12), utc(con, 2026, 10, 12, 15), level=level)
    reclaim.save_rule(con, co.actor("boss"), level="A", no_followup_days=3)
    found = reclaim.candidates(con, utc(con, 2026, 10, 15, 2))  # 3 working days: A's rule, not the default 10
    assert ids(found) == {a}
    assert found["detail"].to_list() == ["no follow-up for 3 working days (rule for level A - key account)"]
    # the default (no row: pool.reclaim_after_working_days = 10) still holds for B
    assert ids(reclaim.candidates(con, utc(con, 2026, 10, 26, 2))) == {a, b}
    with pytest.raises(ValidationError):
        reclaim.save_rule(con, co.actor("boss"), level="A", no_deal_days=4)  # one rule per level and team
    with pytest.raises(ValidationError):
        reclaim.save_rule(con, co.actor("boss"), level="B")  # no condition
    with pytest.raises(PermissionDenied):
        reclaim.save_rule(con, co.actor("mgr"), level="B", no_followup_days=2)


def test_a_team_rule_applies_to_its_team_a_level_rule_beats_it_and_a_deleted_rule_falls_back(co):
    con, boss = co.con, co.actor("boss")
    w, a = co.customers["rep_w"], co.customers["rep_a"]
    for cid in (w, a):
        held_since(con, cid, utc(con, 2026, 10, 12), utc(con, 2026, 10, 12, 15))
    team_rule = reclaim.save_rule(con, boss, team_id=co.teams["west"], no_followup_days=2)
    oct14, oct15 = utc(con, 2026, 10, 14, 2), utc(con, 2026, 10, 15, 2)
    assert ids(reclaim.candidates(con, oct14)) == {w}  # West's 2 days; East keeps the default 10
    con.execute("UPDATE customers SET level = 'A' WHERE id = ?", [w])
    level_rule = reclaim.save_rule(con, boss, level="A", no_followup_days=3)
    assert ids(reclaim.candidates(con, oct14)) == set()
    assert ids(reclaim.candidates(con, oct15)) == {w}
    reclaim.delete_rule(con, boss, level_rule)
    assert ids(reclaim.candidates(con, oct14)) == {w}
    assert reclaim.rules(con)["id"].to_list() == [team_rule]
    assert db.scalar(con, "SELECT count(*) FROM audit_log WHERE entity = 'reclaim_rule'") >= 3


def test_won_locked_deleted_merged_pooled_and_with_open_deals_are_exempt(co):
    con, boss = co.con, co.actor("boss")
    won, locked, deal, plain = (co.customers[k] for k in ("rep_a", "rep_b", "rep_sh", "rep_w"))
    merged = customers.create_customer(con, co.actor("rep_a"), {"name": "Merged away", "phone": "13900139001"})
    for cid in (won, locked, deal, plain, merged, co.customers["pool_east"]):
        held_since(con, cid, utc(con, 2026, 8, 3), utc(con, 2026, 8, 3))
    con.execute("UPDATE customers SET merged_into_id = ? WHERE id = ?", [won, merged])
    con.execute("UPDATE customers SET stage = 'won' WHERE id = ?", [won])
    con.execute("UPDATE customers SET locked_at = ?, locked_by = ? WHERE id = ?",
                [utc(con, 2026, 8, 4), co.users["rep_b"], locked])
    con.execute("INSERT INTO deals (id, name, customer_id, stage, owner_id, team_id, created_at, updated_at) "
                "VALUES (1, 'D', ?, 'negotiation', ?, ?, ?, ?)",
                [deal, co.users["rep_sh"], co.teams["shanghai"], utc(con, 2026, 8, 3), utc(con, 2026, 8, 3)])
    at = utc(con, 2026, 10, 20, 2)
    assert ids(reclaim.candidates(con, at)) == {deal, plain}  # open deals count only when the setting says so
    settings.set_value(con, boss, "pool.exempt_open_deals", True)
    assert ids(reclaim.candidates(con, at)) == {plain}
    con.execute("UPDATE customers SET deleted_at = ?, deleted_by = ? WHERE id = ?", [at, co.users["boss"], plain])
    assert reclaim.run(con, now=at)["moved"] == 0


def test_preview_lists_tomorrows_moves_per_rep_with_reasons_and_the_run_takes_exactly_those(co):
    con = co.con
    a, b, w = co.customers["rep_a"], co.customers["rep_b"], co.customers["rep_w"]
    held_since(con, a, utc(con, 2026, 9, 1), utc(con, 2026, 9, 30, 17))   # due Tue Oct 20
    held_since(con, b, utc(con, 2026, 9, 1), utc(con, 2026, 9, 29, 17))   # due Mon Oct 19 (already)
    held_since(con, w, utc(con, 2026, 9, 1), utc(con, 2026, 10, 9, 17))   # due later
    held_since(con, co.customers["rep_sh"], utc(con, 2026, 10, 19), None)
    evening = utc(con, 2026, 10, 19, 20)
    boss = auth.actor_for(con, "boss", evening)
    shown = reclaim.preview(con, boss)
    assert shown["customer_id"].to_list() == [a, b]  # per rep (by name: REP_A, REP_B)
    assert shown["owner_name"].to_list() == ["REP_A", "REP_B"]
    assert set(shown["reason"]) == {"no_followup"} and shown["due_day"].to_list() == [dt.date(2026, 10, 20),
                                                                                      dt.date(2026, 10, 19)]
    # a rep sees only their own; the page of a rep shows nothing of others
    assert ids(reclaim.preview(con, auth.actor_for(con, "rep_a", evening))) == {a}
    assert ids(reclaim.preview(con, auth.actor_for(con, "rep_w", evening))) == set()
    assert ids(reclaim.preview(con, boss, dt.date(2026, 10, 23))) == {a, b, w}
    done = reclaim.run(con, now=utc(con, 2026, 10, 20, 2))
    assert done["moves"].select("customer_id", "reason", "detail").to_dicts() == \
        shown.select("customer_id", "reason", "detail").to_dicts()


def test_warnings_list_a_reps_customers_within_the_warning_days(co):
    con = co.con
    a, b = co.customers["rep_a"], co.customers["rep_b"]
    extra = customers.create_customer(con, co.actor("rep_a"), {"name": "Second of rep_a", "phone": "13900139000"})
    held_since(con, a, utc(con, 2026, 9, 1), utc(con, 2026, 10, 12, 17))      # due Mon Oct 26
    held_since(con, extra, utc(con, 2026, 9, 1), utc(con, 2026, 10, 19, 17))  # due Mon Nov 2
    held_since(con, b, utc(con, 2026, 9, 1), utc(con, 2026, 10, 12, 17))      # rep_b's
    rep_a = auth.actor_for(con, "rep_a", utc(con, 2026, 10, 21, 9))           # Wed
    warned = reclaim.warnings(con, rep_a)  # pool.warn_days = 3: Thu, Fri, Mon
    assert warned.to_dicts() == [{"id": a, "name": "Customer of rep_a", "reason": "no_followup",
                                  "detail": "no follow-up for 10 working days", "due_day": dt.date(2026, 10, 26),
                                  "workdays_left": 3}]
    assert reclaim.warnings(con, rep_a, days=2).is_empty()
    assert set(reclaim.warnings(con, rep_a, days=10)["id"]) == {a, extra}
    zh = dataclasses.replace(rep_a, language="zh")
    assert reclaim.warnings(con, zh)["detail"].to_list() == ["10 个工作日未跟进"]


def test_a_run_records_each_move_audit_log_contacts_and_tells_each_former_owner_once(co):
    con = co.con
    a, b = co.customers["rep_a"], co.customers["rep_b"]
    second = customers.create_customer(con, co.actor("rep_a"), {"name": "Second of rep_a", "phone": "13900139000"})
    contact = contacts.create_contact(con, co.actor("rep_a"), a, {"name": "Li Lei"})
    for cid in (a, b, second):
        held_since(con, cid, utc(con, 2026, 9, 1), utc(con, 2026, 9, 30))
    at = utc(con, 2026, 10, 20, 2)
    counts = lambda: [db.scalar(con, f"SELECT count(*) FROM {t}") for t in  # noqa: E731
                      ("pool_moves", "audit_log", "assignment_runs", "notifications")]
    before = counts()
    dry = reclaim.run(con, now=at, dry_run=True)
    assert dry["moved"] == 3 and dry["run_id"] is None and counts() == before and owner(con, a) == co.users["rep_a"]
    done = reclaim.run(con, now=at)
    assert done["moved"] == 3 and ids(done["moves"]) == ids(dry["moves"]) == {a, b, second}
    moves = db.rows(con, "SELECT customer_id, from_owner_id, to_owner_id, reason, run_id, detail FROM pool_moves "
                         "WHERE reason = 'reclaim' ORDER BY customer_id")
    assert [(m["customer_id"], m["from_owner_id"], m["to_owner_id"], m["run_id"]) for m in moves] == sorted(
        [(a, co.users["rep_a"], None, done["run_id"]), (b, co.users["rep_b"], None, done["run_id"]),
         (second, co.users["rep_a"], None, done["run_id"])])
    assert {m["detail"] for m in moves} == {"no follow-up for 10 working days"}
    logged = db.rows(con, "SELECT entity_id, old_value, new_value FROM audit_log WHERE action = 'reclaim' "
                          "AND entity = 'customer' ORDER BY entity_id")
    assert logged == sorted([{"entity_id": a, "old_value": str(co.users["rep_a"]), "new_value": None},
                             {"entity_id": b, "old_value": str(co.users["rep_b"]), "new_value": None},
                             {"entity_id": second, "old_value": str(co.users["rep_a"]), "new_value": None}],
                            key=lambda r: r["entity_id"])
    run_row = db.one(con, "SELECT kind, source, requested, left_in_pool, reasons, per_rep, dry_run FROM assignment_runs "
                          "WHERE id = ?", [done["run_id"]])
    assert run_row["kind"] == "reclaim" and run_row["source"] == "schedule" and run_row["left_in_pool"] == 3
    assert json.loads(run_row["reasons"]) == {"no_followup": 3}
    assert json.loads(run_row["per_rep"]) == {str(co.users["rep_a"]): 2, str(co.users["rep_b"]): 1}
    assert db.scalar(con, "SELECT owner_id FROM contacts WHERE id = ?", [contact]) is None
    told = notifications.unread(con, auth.actor_for(con, "rep_a", at)).to_dicts()
    assert [(n["kind"], n["params"]["n"]) for n in told] == [("pool_reclaim", 2)]
    assert [n["params"]["n"] for n in notifications.unread(con, auth.actor_for(con, "rep_b", at)).to_dicts()] == [1]
    assert reclaim.run(con, now=at)["moved"] == 0  # nothing left to take: they sit in the pool


def test_reps_cannot_run_the_reclaim_and_a_manager_runs_it_over_the_own_teams(co):
    con = co.con
    for rep in ("rep_a", "rep_w"):
        held_since(con, co.customers[rep], utc(con, 2026, 9, 1), utc(con, 2026, 9, 30))
    at = utc(con, 2026, 10, 20, 2)
    with pytest.raises(PermissionDenied):
        reclaim.run(con, auth.actor_for(con, "rep_a", at))
    done = reclaim.run(con, auth.actor_for(con, "mgr", at))
    assert ids(done["moves"]) == {co.customers["rep_a"]}  # West is not the manager's
    assert db.scalar(con, "SELECT source FROM assignment_runs WHERE id = ?", [done["run_id"]]) == "manual"


def test_the_daily_job_runs_once_per_company_day_after_the_set_time(co):
    con = co.con
    held_since(con, co.customers["rep_a"], utc(con, 2026, 9, 1), utc(con, 2026, 9, 30))
    held_since(con, co.customers["rep_b"], utc(con, 2026, 9, 1), utc(con, 2026, 10, 8))
    job = next(j for j in scheduler.default_jobs(con) if j.name == "pool_reclaim")
    assert job.fn(con, utc(con, 2026, 10, 20, 1, 30)) is None  # before pool.reclaim_at (02:00 local)
    first = job.fn(con, utc(con, 2026, 10, 20, 2, 5))
    assert first["moved"] == 1 and owner(con, co.customers["rep_a"]) is None
    assert job.fn(con, utc(con, 2026, 10, 20, 14)) is None  # once a day
    assert job.fn(con, utc(con, 2026, 10, 20, 23, 59)) is None
    second = job.fn(con, utc(con, 2026, 10, 21, 2, 1))  # rep_b: Oct 8 .. 21 = 10 working days
    assert second["moved"] == 1 and owner(con, co.customers["rep_b"]) is None
    assert db.scalar(con, "SELECT count(*) FROM assignment_runs WHERE kind = 'reclaim' AND source = 'schedule'") == 2


def test_the_command_line_prints_the_moves_by_reason(tmp_path):
    path = tmp_path / "crm.duckdb"
    con = db.connect(path)
    setup.prepare(con)
    company = build_company(con)
    sla.ensure_calendar(con)
    for rep in ("rep_a", "rep_b"):
        held_since(con, company.customers[rep], utc(con, 2026, 9, 1), utc(con, 2026, 9, 30))
    reclaim.save_rule(con, company.actor("boss"), level="B", not_won_days=3)
    con.execute("UPDATE customers SET level = 'B' WHERE id = ?", [company.customers["rep_b"]])
    con.close()
    env = {**os.environ, "CRM_DB": str(path)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "core", "pool", "reclaim", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    out = cli("--dry-run", "--json", "--now", "2026-10-19T18:00")  # Oct 20 02:00 in Shanghai
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["dry_run"] is True and got["moved"] == 2 and got["run_id"] is None
    assert got["by_reason"] == {"no_followup": 1, "not_won": 1}
    assert {m["customer_id"]: m["detail"] for m in got["moves"]} == {
        company.customers["rep_a"]: "no follow-up for 10 working days",
        company.customers["rep_b"]: "not won within 3 working days of getting it (rule for level B - regular)"}
    out = cli("--now", "2026-10-19T18:00")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("2 customers went back to their team pools")
    assert lines[1:] == ["  No follow-up: 1", "  Not won: 1"]
    con = db.connect(path, read_only=True)
    try:
        assert db.scalar(con, "SELECT count(*) FROM customers WHERE pool_reason = 'reclaim'") == 2
    finally:
        con.close()
    assert cli("--now", "yesterday").returncode == 2
