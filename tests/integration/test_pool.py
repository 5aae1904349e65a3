"""The shared pool (公海), issue 10: caps, claim (daily cap, the former owner's wait, cool-down, cap,
membership), release, lock, moving the excess, the weekly refresh and the assignment log. Controlled
clock: every actor carries its own `now`; the company runs on Asia/Shanghai (UTC+8)."""
from __future__ import annotations

import datetime as dt

import pytest

from core import customers, db, pool, scheduler, settings
from core.errors import PermissionDenied, ValidationError
from tests.conftest import NOW

# NOW = Monday 2026-11-23 09:30 UTC = 17:30 in Shanghai; the company day ends at 16:00 UTC.


def _pooled(company, team: str, n: int, now=NOW, **values) -> list[int]:
    admin = company.actor("boss", now)
    return [customers.create_customer(company.con, admin, {"name": f"{team} pool {now:%j%H%M} {i}", **values},
                                      owner_id=None, team_id=company.teams[team], confirmed=True) for i in range(n)]


def _set(company, key, value):
    settings.set_value(company.con, company.actor("boss"), key, value)


def _owner(con, cid):
    return db.scalar(con, "SELECT owner_id FROM customers WHERE id = ?", [cid])


# ------------------------------------------------------------------------------------------------ caps
def test_the_cap_is_the_users_else_the_teams_else_the_setting(company):
    con, u = company.con, company.users
    assert pool.cap_of(con, [u["rep_a"]]) == {u["rep_a"]: 200}
    con.execute("UPDATE teams SET customer_cap = 50 WHERE id = ?", [company.teams["east"]])
    con.execute("UPDATE users SET customer_cap = 7 WHERE id = ?", [u["rep_b"]])
    assert pool.cap_of(con, [u["rep_a"], u["rep_b"], u["rep_w"]]) == {u["rep_a"]: 50, u["rep_b"]: 7, u["rep_w"]: 200}


def test_the_admin_sets_caps_per_team_and_per_user_and_managers_read_them(company):
    con, u, boss = company.con, company.users, company.actor("boss")
    pool.set_cap(con, boss, team_id=company.teams["east"], customer_cap=30)
    pool.set_cap(con, boss, user_id=u["rep_b"], customer_cap=5, lock_cap=2)
    assert pool.cap_of(con, [u["rep_a"], u["rep_b"]]) == {u["rep_a"]: 30, u["rep_b"]: 5}
    assert pool.lock_cap_of(con, u["rep_b"]) == 2
    seen = pool.caps(con, company.actor("mgr"))
    assert set(seen["teams"]["team_id"].to_list()) == {company.teams["east"], company.teams["shanghai"]}
    rep_b = seen["users"].filter(seen["users"]["user_id"] == u["rep_b"]).to_dicts()[0]
    assert (rep_b["effective_cap"], rep_b["effective_lock_cap"], rep_b["held"]) == (5, 2, 1)
    pool.set_cap(con, boss, user_id=u["rep_b"], customer_cap=None)   # back to the team's; the lock cap stays
    assert pool.cap_of(con, [u["rep_b"]]) == {u["rep_b"]: 30} and pool.lock_cap_of(con, u["rep_b"]) == 2
    assert db.scalar(con, "SELECT count(*) FROM audit_log WHERE field = 'customer_cap'") == 3
    with pytest.raises(PermissionDenied):
        pool.set_cap(con, company.actor("mgr"), team_id=company.teams["east"], customer_cap=10)
    with pytest.raises(PermissionDenied):
        pool.caps(con, company.actor("rep_a"))
    with pytest.raises(ValidationError) as err:
        pool.set_cap(con, boss, team_id=company.teams["east"], customer_cap=0)
    assert err.value.key == "pool.bad_cap"


def test_held_counts_live_customers_that_are_not_won(company):
    con, rep = company.con, company.actor("rep_a")
    extra = [customers.create_customer(con, rep, {"name": f"Mine {i}"}) for i in range(3)]
    assert pool.held(con, [company.users["rep_a"]]) == {company.users["rep_a"]: 4}
    con.execute("UPDATE customers SET stage = 'won' WHERE id = ?", [extra[0]])
    con.execute("UPDATE customers SET deleted_at = ? WHERE id = ?", [NOW, extra[1]])
    assert pool.held(con, [company.users["rep_a"]]) == {company.users["rep_a"]: 2}


def test_check_room_names_the_rep_what_they_hold_and_the_cap(company):
    con, rep_a = company.con, company.users["rep_a"]
    con.execute("UPDATE users SET customer_cap = 3 WHERE id = ?", [rep_a])
    pool.check_room(con, rep_a, 2)   # holds 1: 1 + 2 <= 3
    pool.check_room(con, None, 10_000)  # the pool has no cap
    with pytest.raises(ValidationError) as err:
        pool.check_room(con, rep_a, 3)
    assert err.value.key == "pool.cap_reached"
    assert err.value.params == {"name": "REP_A", "held": 1, "cap": 3}


# ------------------------------------------------------------------------------------------------ claim
def test_a_rep_claims_from_the_own_team_pool_with_a_move_and_an_audit_row(company):
    con, rep = company.con, company.actor("rep_a")
    cid = company.customers["pool_east"]
    assert pool.claim(con, rep, [cid]) == {"done": 1, "refused": {}}
    row = db.one(con, "SELECT owner_id, assigned_at, pool_since FROM customers WHERE id = ?", [cid])
    assert row == {"owner_id": rep.id, "assigned_at": NOW, "pool_since": None}
    assert db.rows(con, "SELECT reason, to_owner_id, moved_at FROM pool_moves WHERE customer_id = ?", [cid]) == [
        {"reason": "claim", "to_owner_id": rep.id, "moved_at": NOW}]
    assert db.scalar(con, "SELECT count(*) FROM audit_log WHERE action = 'claim' AND entity_id = ?", [cid]) == 1


def test_a_rep_cannot_claim_from_another_teams_pool_unless_a_member(company):
    con, rep = company.con, company.actor("rep_a")
    west = company.customers["pool_west"]
    assert pool.claim(con, rep, [west]) == {"done": 0, "refused": {"not_member": 1}}
    con.execute("INSERT INTO pool_members VALUES (?, ?, 'member', ?, NULL)", [company.teams["west"], rep.id, NOW])
    assert pool.claim(con, company.actor("rep_a"), [west])["done"] == 1
    # an owned record is not in a pool
    assert pool.claim(con, rep, [company.customers["rep_b"]])["refused"] == {"not_in_pool": 1}


def test_the_daily_claim_cap_counts_claims_of_the_company_day(company):
    con = company.con
    _set(company, "pool.daily_claim_cap", 2)
    ids = _pooled(company, "east", 5)
    late = dt.datetime(2026, 11, 23, 15, 0)     # 23:00 in Shanghai
    rep = company.actor("rep_a", late)
    assert pool.claim(con, rep, ids[:3]) == {"done": 2, "refused": {"daily_cap": 1}}
    assert pool.claim(con, company.actor("rep_a", dt.datetime(2026, 11, 23, 15, 59)), [ids[2]])["refused"] == {
        "daily_cap": 1}
    # after midnight in Shanghai (16:00 UTC) a new company day begins
    next_day = company.actor("rep_a", dt.datetime(2026, 11, 23, 16, 30))
    assert pool.claim(con, next_day, ids[2:5]) == {"done": 2, "refused": {"daily_cap": 1}}
    # another rep has a cap of their own
    assert pool.claim(con, company.actor("rep_b", late), [ids[4]])["done"] == 1


def test_a_pools_own_settings_override_the_company_settings(company):
    con = company.con
    con.execute("INSERT INTO pool_settings (team_id, daily_claim_cap) VALUES (?, 1)", [company.teams["east"]])
    assert pool.settings_for(con, company.teams["east"])["daily_claim_cap"] == 1
    assert pool.settings_for(con, company.teams["west"])["daily_claim_cap"] == 20
    ids = _pooled(company, "east", 2)
    assert pool.claim(con, company.actor("rep_a"), ids)["refused"] == {"daily_cap": 1}


def test_a_former_owner_waits_before_claiming_a_record_back(company):
    con = company.con
    cid = company.customers["rep_a"]
    assert pool.release(con, company.actor("rep_a"), [cid])["done"] == 1
    six_days = company.actor("rep_a", NOW + dt.timedelta(days=6, hours=23))
    assert pool.claim(con, six_days, [cid]) == {"done": 0, "refused": {"wait": 1}}
    # the wait binds the former owner only
    assert pool.claim(con, company.actor("rep_b", NOW + dt.timedelta(minutes=1)), [cid])["done"] == 1
    pool.release(con, company.actor("rep_b", NOW + dt.timedelta(minutes=2)), [cid])
    assert pool.claim(con, company.actor("rep_a", NOW + dt.timedelta(days=7, minutes=1)), [cid])["done"] == 1
    assert _owner(con, cid) == company.users["rep_a"]


def test_a_newly_pooled_record_cools_down_before_anyone_claims_it(company):
    con = company.con
    _set(company, "pool.claim_cooldown_hours", 24)
    cid = company.customers["rep_a"]
    pool.release(con, company.actor("rep_a"), [cid])
    assert pool.claim(con, company.actor("rep_b", NOW + dt.timedelta(hours=23)), [cid])["refused"] == {"cooldown": 1}
    assert pool.claim(con, company.actor("rep_b", NOW + dt.timedelta(hours=24)), [cid])["done"] == 1


def test_claim_respects_the_customer_cap(company):
    con = company.con
    con.execute("UPDATE users SET customer_cap = 2 WHERE id = ?", [company.users["rep_a"]])
    ids = _pooled(company, "east", 3)
    assert pool.claim(con, company.actor("rep_a"), ids) == {"done": 1, "refused": {"cap": 2}}
    assert pool.held(con, [company.users["rep_a"]])[company.users["rep_a"]] == 2


def test_only_holders_claim(company):
    with pytest.raises(PermissionDenied):
        pool.claim(company.con, company.actor("svc"), [company.customers["pool_east"]])


# ------------------------------------------------------------------------------------------------ release
def test_a_rep_releases_own_customers_to_the_team_pool_and_won_ones_stay(company):
    con, rep = company.con, company.actor("rep_a")
    mine, won = company.customers["rep_a"], customers.create_customer(con, rep, {"name": "Won one"})
    con.execute("UPDATE customers SET stage = 'won' WHERE id = ?", [won])
    got = pool.release(con, rep, [mine, won, company.customers["rep_b"]])
    assert got == {"done": 1, "refused": {"won": 1, "not_allowed": 1}}
    row = db.one(con, "SELECT owner_id, team_id, pool_since, pool_reason FROM customers WHERE id = ?", [mine])
    assert row == {"owner_id": None, "team_id": company.teams["east"], "pool_since": NOW, "pool_reason": "release"}
    assert db.scalar(con, "SELECT reason FROM pool_moves WHERE customer_id = ?", [mine]) == "release"
    assert _owner(con, company.customers["rep_b"]) == company.users["rep_b"]


# ------------------------------------------------------------------------------------------------ lock
def test_the_lock_cap_limits_how_many_customers_a_rep_locks(company):
    con, rep = company.con, company.actor("rep_a")
    con.execute("UPDATE users SET lock_cap = 2 WHERE id = ?", [rep.id])
    ids = [company.customers["rep_a"]] + [customers.create_customer(con, rep, {"name": f"L{i}"}) for i in range(2)]
    assert pool.lock(con, rep, ids) == {"done": 2, "refused": {"lock_cap": 1}}
    assert db.scalar(con, "SELECT count(*) FROM customers WHERE locked_at IS NOT NULL") == 2
    assert pool.lock(con, rep, ids[:1], on=False)["done"] == 1
    assert pool.lock(con, rep, ids[2:])["done"] == 1
    # the setting is the default cap
    con.execute("UPDATE users SET lock_cap = NULL")
    _set(company, "pool.lock_cap", 0)
    assert pool.lock(con, company.actor("rep_b"), [company.customers["rep_b"]])["refused"] == {"lock_cap": 1}
    # a rep locks nobody else's customers
    assert pool.lock(con, rep, [company.customers["rep_b"]])["refused"] == {"not_allowed": 1}


# ------------------------------------------------------------------------------------------------ excess
def test_the_excess_moves_to_the_team_pool_oldest_untouched_first(company):
    con = company.con
    from core import activities

    rep_id = company.users["rep_a"]
    mine = [company.customers["rep_a"]]
    for day in (1, 2, 3):
        mine.append(customers.create_customer(con, company.actor("rep_a", NOW + dt.timedelta(days=day)),
                                              {"name": f"Day {day}"}))
    later = NOW + dt.timedelta(days=5)
    activities.log_followup(con, company.actor("rep_a", later), mine[0], kind="call", subject="hello")
    con.execute("UPDATE users SET customer_cap = 2 WHERE id = ?", [rep_id])
    boss = company.actor("boss", later)
    preview = pool.move_excess(con, boss, user_ids=[rep_id], dry_run=True)
    assert preview["moved"] == 2 and preview["run_id"] is None and _owner(con, mine[1]) == rep_id
    got = pool.move_excess(con, boss, user_ids=[rep_id])
    # the touched one (mine[0]) stays although oldest; the two oldest untouched go
    assert got["per_rep"] == {rep_id: 2} and sorted(got["ids"]) == sorted(mine[1:3])
    assert [_owner(con, c) for c in mine] == [rep_id, None, None, rep_id]
    assert db.rows(con, "SELECT DISTINCT reason, run_id FROM pool_moves WHERE customer_id IN (SELECT unnest(?))",
                   [mine[1:3]]) == [{"reason": "over_limit", "run_id": got["run_id"]}]
    assert db.one(con, "SELECT kind, left_in_pool FROM assignment_runs WHERE id = ?", [got["run_id"]]) == {
        "kind": "over_limit", "left_in_pool": 2}


def test_a_rep_cannot_move_the_excess_split_or_read_the_log(company):
    rep = company.actor("rep_a")
    with pytest.raises(PermissionDenied):
        pool.move_excess(company.con, rep, user_ids=[company.users["rep_b"]])
    with pytest.raises(PermissionDenied):
        pool.split(company.con, rep, ids=[company.customers["pool_east"]], team_ids=[company.teams["east"]])
    with pytest.raises(PermissionDenied):
        pool.runs(company.con, rep)


# ------------------------------------------------------------------------------------------------ refresh
def test_the_resort_ranks_each_pool_by_level_then_recent_activity(company):
    con = company.con
    a, c, none = _pooled(company, "east", 3)
    con.execute("UPDATE customers SET level = 'A' WHERE id = ?", [a])
    con.execute("UPDATE customers SET level = 'C' WHERE id = ?", [c])
    con.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", [NOW, none])
    assert db.scalar(con, "SELECT count(*) FROM customer_levels WHERE code IN ('A', 'C')") == 2
    got = pool.refresh(con, NOW, team_ids=[company.teams["east"]], mode="resort")
    assert got["ranked"] == 4 and got["assigned"] == 0
    ranks = dict(con.execute("SELECT id, pool_rank FROM customers WHERE team_id = ? AND owner_id IS NULL",
                             [company.teams["east"]]).fetchall())
    assert ranks[a] == 1 and ranks[c] == 2 and ranks[none] == 3 and ranks[company.customers["pool_east"]] == 4
    assert db.one(con, "SELECT kind, source FROM assignment_runs WHERE id = ?", [got["runs"][0]]) == {
        "kind": "refresh", "source": "schedule"}
    assert db.scalar(con, "SELECT pool_refreshed_at FROM teams WHERE id = ?", [company.teams["east"]]) == NOW


def test_redistribute_splits_old_unclaimed_pool_records_among_the_teams_reps(company):
    con = company.con
    _set(company, "assignment.skip_reps_with_untouched_raw", False)
    old = _pooled(company, "east", 4, now=NOW - dt.timedelta(days=20))
    new = _pooled(company, "east", 2, now=NOW - dt.timedelta(days=3))
    got = pool.refresh(con, NOW, team_ids=[company.teams["east"]], mode="redistribute")
    assert got["assigned"] == 4   # pooled 20 days ago (refresh_older_days 14); not those of 3 days ago
    owners = [_owner(con, c) for c in old]
    assert set(owners) == {company.users["rep_a"], company.users["rep_b"]}
    assert [_owner(con, c) for c in new] == [None, None]
    assert db.scalar(con, "SELECT count(*) FROM pool_moves WHERE reason = 'refresh'") == 4
    assert db.scalar(con, "SELECT kind FROM assignment_runs WHERE id = ?", [got["runs"][0]]) == "refresh"


def test_the_refresh_job_runs_once_on_the_set_weekday(company):
    con = company.con
    _set(company, "pool.refresh_weekday", 2)   # Tuesday
    assert pool.refresh_job(con, NOW) is None   # Monday 17:30 in Shanghai
    tuesday = dt.datetime(2026, 11, 23, 17, 0)   # Tuesday 01:00 in Shanghai
    assert pool.refresh_job(con, tuesday)["mode"] == "resort"
    assert pool.refresh_job(con, tuesday + dt.timedelta(hours=5)) is None
    assert pool.refresh_job(con, tuesday + dt.timedelta(days=7))["mode"] == "resort"
    assert "pool_refresh" in {j.name for j in scheduler.default_jobs()}


# ------------------------------------------------------------------------------------------------ log, list
def test_the_assignment_log_lists_runs_for_managers_of_the_team(company):
    con = company.con
    _set(company, "assignment.skip_reps_with_untouched_raw", False)
    ids = _pooled(company, "west", 2)
    pool.split(con, company.actor("boss"), ids=ids, team_ids=[company.teams["west"]])
    mgr_view = pool.runs(con, company.actor("mgr"))
    assert mgr_view.height == 0   # West is not in the East manager's tree
    east = _pooled(company, "east", 2)
    pool.split(con, company.actor("mgr"), ids=east, team_ids=[company.teams["east"]])
    mgr_view = pool.runs(con, company.actor("mgr"))
    assert mgr_view["run_by"].to_list() == ["Mia Manager"]
    assert pool.runs(con, company.actor("boss")).height == 2


def test_the_pool_list_masks_hidden_fields_and_says_when_the_rep_may_claim(company):
    con = company.con
    from core import pool_mask

    pool_mask.set_hidden(con, company.actor("boss"), company.teams["east"], ["phone"])
    cid = company.customers["rep_a"]
    pool.release(con, company.actor("rep_a"), [cid])
    frame, total = pool.pool_list(con, company.actor("rep_a"), company.teams["east"], sort="name")
    assert total == 2
    row = frame.filter(frame["id"] == cid).to_dicts()[0]
    assert row["phone"] != "13800130000" and "*" in row["phone"]
    assert row["former_owner_name"] == "REP_A" and row["pool_reason"] == "release"
    assert row["can_claim_at"] == NOW + dt.timedelta(days=7)
    with pytest.raises(PermissionDenied):
        pool.pool_list(con, company.actor("rep_a"), company.teams["west"])
    assert [p["team_id"] for p in pool.pools(con, company.actor("rep_a"))] == [company.teams["east"]]


def test_cli_refresh_and_split_run_on_a_file(tmp_path):
    from core import setup
    from core.__main__ import main
    from tests.conftest import build_company

    path = tmp_path / "crm.duckdb"
    c = db.connect(path)
    setup.prepare(c)
    company = build_company(c)
    settings.set_value(c, company.actor("boss"), "assignment.skip_reps_with_untouched_raw", False)
    ids = _pooled(company, "east", 5)
    c.close()
    (tmp_path / "ids.txt").write_text("\n".join(map(str, ids)))
    assert main(["--path", str(path), "pool", "split", "--team", str(company.teams["east"]), "--ids",
                 str(tmp_path / "ids.txt")]) == 0
    assert main(["--path", str(path), "pool", "refresh", "--json"]) == 0
    c = db.connect(path)
    assert c.execute("SELECT count(*) FROM customers WHERE id IN (SELECT unnest(?)) AND owner_id IS NOT NULL",
                     [ids]).fetchone()[0] == 5
    assert c.execute("SELECT count(*) FROM assignment_runs").fetchone()[0] == 2
    c.close()
