"""Targets (KPI考核): who may set them, what each viewer may read, and attainment computed live from the
records, on a small hand-made company with the expected numbers worked out here."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from core import db, targets
from core.errors import NotFound, PermissionDenied, ValidationError
from tests.conftest import NOW
from tests.integration.test_forecast import add_deal

D = dt.date
NOV = ("month", D(2026, 11, 5))


def log(company, who: str, when: dt.datetime, n: int = 1) -> None:
    con = company.con
    uid = company.users[who]
    team = db.scalar(con, "SELECT team_id FROM users WHERE id = ?", [uid])
    for _ in range(n):
        con.execute("INSERT INTO activities (id, customer_id, user_id, team_id, kind, occurred_at, created_at) "
                    "VALUES (?, ?, ?, ?, 'call', ?, ?)",
                    [db.next_id(con, "activities"), company.customers[who], uid, team, when, when])


def row(df, name: str, metric: str) -> dict:
    found = [r for r in df.iter_rows(named=True) if r["name"] == name and r["metric"] == metric]
    assert len(found) == 1, (name, metric, found)
    return found[0]


def test_periods_are_calendar_months_quarters_and_years():
    assert targets.period_bounds("month", D(2026, 2, 14)) == (D(2026, 2, 1), D(2026, 2, 28))
    assert targets.period_bounds("quarter", "2026-11-23") == (D(2026, 10, 1), D(2026, 12, 31))
    assert targets.period_bounds("year", D(2027, 6, 1)) == (D(2027, 1, 1), D(2027, 12, 31))
    with pytest.raises(ValidationError):
        targets.period_bounds("week", D(2026, 1, 1))


def test_a_manager_sets_targets_for_the_team_tree_and_its_people_only(company):
    con, mgr = company.con, company.actor("mgr")
    targets.set_target(con, mgr, NOV, "won_amount", 10000, user_id=company.users["rep_a"])
    targets.set_target(con, mgr, NOV, "activities", 40, user_id=company.users["rep_sh"])   # a sub-team
    targets.set_target(con, mgr, NOV, "won_deals", 5, team_id=company.teams["shanghai"])
    targets.set_target(con, mgr, NOV, "won_amount", 30000, team_id=company.teams["east"])
    with pytest.raises(PermissionDenied):
        targets.set_target(con, mgr, NOV, "won_amount", 1, user_id=company.users["rep_w"])
    with pytest.raises(PermissionDenied):
        targets.set_target(con, mgr, NOV, "won_amount", 1, team_id=company.teams["west"])
    with pytest.raises(PermissionDenied):  # a manager's own quota comes from above
        targets.set_target(con, mgr, NOV, "won_amount", 1, user_id=company.users["mgr"])
    targets.set_target(con, company.actor("boss"), NOV, "won_amount", 1, user_id=company.users["mgr"])
    assert db.scalar(con, "SELECT count(*) FROM targets") == 5


def test_a_rep_cannot_set_any_target(company):
    con, rep = company.con, company.actor("rep_a")
    assert not targets.can_set(con, rep)
    for subject in ({"user_id": company.users["rep_a"]}, {"user_id": company.users["rep_b"]},
                    {"team_id": company.teams["east"]}):
        with pytest.raises(PermissionDenied):
            targets.set_target(con, rep, NOV, "won_amount", 100, **subject)
    assert db.scalar(con, "SELECT count(*) FROM targets") == 0


def test_setting_a_target_again_changes_it_and_every_change_is_audited(company):
    con, mgr = company.con, company.actor("mgr")
    first = targets.set_target(con, mgr, NOV, "won_amount", 10000, user_id=company.users["rep_a"])
    again = targets.set_target(con, mgr, ("month", D(2026, 11, 30)), "won_amount", "12000.50",
                               user_id=company.users["rep_a"])
    assert first == again
    assert db.scalar(con, "SELECT value::DOUBLE FROM targets WHERE id = ?", [first]) == 12000.5
    log_rows = db.rows(con, "SELECT action, field, old_value, new_value, user_id FROM audit_log "
                            "WHERE entity = 'target' AND entity_id = ? ORDER BY id", [first])
    assert {"action": "update", "field": "value", "old_value": "10000.0", "new_value": "12000.5",
            "user_id": company.users["mgr"]} in log_rows
    assert any(r["action"] == "create" and r["field"] == "value" for r in log_rows)
    targets.clear_target(con, mgr, first)
    assert db.scalar(con, "SELECT count(*) FROM targets") == 0
    assert db.scalar(con, "SELECT count(*) FROM audit_log WHERE entity = 'target' AND action = 'delete'") == 1


def test_bad_target_values_are_refused(company):
    con, boss, rep = company.con, company.actor("boss"), company.users["rep_a"]
    for metric, value in (("won_amount", -1), ("won_amount", "lots"), ("won_deals", 2.5), ("activities", 1e9)):
        with pytest.raises(ValidationError):
            targets.set_target(con, boss, NOV, metric, value, user_id=rep)
    with pytest.raises(ValidationError):
        targets.set_target(con, boss, NOV, "smiles", 3, user_id=rep)
    with pytest.raises(ValidationError):  # a target is a person's or a team's, not both
        targets.set_target(con, boss, NOV, "won_deals", 3, user_id=rep, team_id=company.teams["east"])


def test_a_rep_reads_only_their_own_targets(company):
    con, boss = company.con, company.actor("boss")
    for who in ("rep_a", "rep_b"):
        targets.set_target(con, boss, NOV, "won_deals", 3, user_id=company.users[who])
    targets.set_target(con, boss, NOV, "won_deals", 9, team_id=company.teams["east"])
    seen = targets.list_targets(con, company.actor("rep_a"), NOV)
    assert seen["name"].to_list() == ["REP_A"]
    assert sorted(targets.list_targets(con, company.actor("mgr"), NOV)["name"].to_list()) == ["East", "REP_A", "REP_B"]
    with pytest.raises(NotFound):
        targets.attainment(con, company.actor("rep_a"), NOV, user_id=company.users["rep_b"])
    with pytest.raises(NotFound):
        targets.attainment(con, company.actor("mgr"), NOV, team_id=company.teams["west"])


@pytest.fixture
def november(company):
    """November 2026: rep_a won 4,000 and 1,000 (plus 2,500 won in October, a lost deal and a won deal
    deleted); rep_sh won 700; rep_w won 9,000; calls: rep_a 3 in November (one at 23:30 on 30 Nov in
    Shanghai = 15:30 UTC) and one at 00:30 on 1 Dec in Shanghai (16:30 UTC on 30 Nov), rep_sh 2."""
    con = company.con
    add_deal(company, "rep_a", "won", 4000, closed=D(2026, 11, 10))
    add_deal(company, "rep_a", "won", 1000, closed=D(2026, 11, 30))
    add_deal(company, "rep_a", "won", 2500, closed=D(2026, 10, 31))
    add_deal(company, "rep_a", "lost", 8000, closed=D(2026, 11, 12))
    gone = add_deal(company, "rep_a", "won", 6000, closed=D(2026, 11, 12))
    con.execute("UPDATE deals SET deleted_at = ? WHERE id = ?", [NOW, gone])
    add_deal(company, "rep_sh", "won", 700, closed=D(2026, 11, 2))
    add_deal(company, "rep_w", "won", 9000, closed=D(2026, 11, 2))
    log(company, "rep_a", dt.datetime(2026, 11, 3, 2, 0), 2)
    log(company, "rep_a", dt.datetime(2026, 11, 30, 15, 30))
    log(company, "rep_a", dt.datetime(2026, 11, 30, 16, 30))   # already 1 December in Shanghai
    log(company, "rep_sh", dt.datetime(2026, 11, 20, 1, 0), 2)
    boss = company.actor("boss")
    targets.set_target(con, boss, NOV, "won_amount", 10000, user_id=company.users["rep_a"])
    targets.set_target(con, boss, NOV, "activities", 6, user_id=company.users["rep_a"])
    targets.set_target(con, boss, ("quarter", D(2026, 10, 1)), "won_amount", 60000, team_id=company.teams["east"])
    return company


def test_attainment_of_a_rep_is_computed_from_the_records(november):
    df = targets.attainment(november.con, november.actor("rep_a"), NOV)
    assert set(df["name"].to_list()) == {"REP_A"}
    won = row(df, "REP_A", "won_amount")
    assert (won["target"], won["actual"]) == (10000, 4000 + 1000) and won["ratio"] == pytest.approx(0.5)
    assert row(df, "REP_A", "won_deals")["actual"] == 2
    calls = row(df, "REP_A", "activities")
    assert calls["actual"] == 3 and calls["ratio"] == pytest.approx(3 / 6)
    # build_company created "Customer of rep_a" on 23 Nov 2026 as rep_a
    assert row(df, "REP_A", "new_customers")["actual"] == 1
    assert row(df, "REP_A", "new_customers")["target"] is None and row(df, "REP_A", "new_customers")["ratio"] is None


def test_a_manager_sees_the_team_and_each_rep(november):
    df = targets.attainment(november.con, november.actor("mgr"), NOV)
    assert set(df["name"].to_list()) == {"East", "Mia Manager", "REP_A", "REP_B", "REP_SH"}  # not West's REP_W
    team = row(df, "East", "won_amount")
    assert team["level"] == "team"
    assert team["actual"] == 4000 + 1000 + 700     # East and East - Shanghai; not West's 9,000
    assert team["target"] == pytest.approx(20000)  # a third of the quarter's 60,000
    assert team["ratio"] == pytest.approx(5700 / 20000)
    assert row(df, "East", "activities")["actual"] == 3 + 2
    assert row(df, "East", "new_customers")["actual"] == 3   # customers of rep_a, rep_b, rep_sh
    assert row(df, "REP_SH", "won_deals")["actual"] == 1
    quarter = targets.attainment(november.con, november.actor("mgr"), ("quarter", D(2026, 12, 1)))
    q = row(quarter, "East", "won_amount")
    assert (q["target"], q["actual"]) == (60000, 4000 + 1000 + 2500 + 700)


def test_the_admin_sees_every_top_level_team(november):
    df = targets.attainment(november.con, november.actor("boss"), NOV)
    sales = row(df, "Sales", "won_amount")
    assert sales["actual"] == 4000 + 1000 + 700 + 9000
    assert sales["target"] == pytest.approx(20000)   # no target of its own: its sub-teams' (East's)
    assert set(df["level"].to_list()) == {"team"}


def test_two_managers_setting_the_same_target_at_once_leave_one_target(company, monkeypatch):
    """Both units looked for the target, found none and inserted one each (appends never conflict): now
    the second conflicts on the subject's row, runs again, finds the first's target and changes it."""
    con = company.con
    held, go, out = threading.Event(), threading.Event(), {}
    real_one, real_conflict = db.one, db._is_conflict

    def one(c, sql, params=None):
        found = real_one(c, sql, params)
        if "FROM targets WHERE metric" in sql:
            who = threading.current_thread().name
            if who == "first" and not held.is_set():
                held.set()
                go.wait(5)   # hold the first unit open until the second looked too, or conflicted
            elif who == "second":
                go.set()
        return found

    def conflict(exc):
        hit = real_conflict(exc)
        if hit and threading.current_thread().name == "second":
            go.set()
        return hit

    monkeypatch.setattr(db, "one", one)
    monkeypatch.setattr(db, "_is_conflict", conflict)

    def run(who, value, cur):
        try:
            out[who] = targets.set_target(cur, company.actor("mgr" if who == "first" else "boss"), NOV, "won_amount",
                                          value, **subject)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test looks at
            out[who] = exc

    version = db.scalar(con, "SELECT updated_at FROM users WHERE id = ?", [company.users["rep_a"]])
    for subject in ({"user_id": company.users["rep_a"]}, {"team_id": company.teams["east"]}):
        held.clear()
        go.clear()
        a = threading.Thread(target=run, args=("first", 1000, con.cursor()), name="first")
        a.start()
        assert held.wait(5)
        b = threading.Thread(target=run, args=("second", 2000, con.cursor()), name="second")
        b.start()
        a.join(15)
        b.join(15)
        key = "user_id" if "user_id" in subject else "team_id"
        got = db.rows(con, f"SELECT id, value::DOUBLE AS value FROM targets WHERE {key} = ?", [subject[key]])
        assert got == [{"id": out["first"], "value": 2000.0}], (subject, out)
        assert out["second"] == out["first"]
    # the subject's row is unchanged by the claim
    assert db.scalar(con, "SELECT updated_at FROM users WHERE id = ?", [company.users["rep_a"]]) == version
    assert not db.scalar(con, "SELECT is_new_hire_pool FROM teams WHERE id = ?", [company.teams["east"]])
