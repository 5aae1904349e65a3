"""The even split (平均分配), issue 10 point 2: fairness, weights, each skipping rule, the cap, nothing left
silently (reasons), the assignment log and its moves, and reps denied."""
from __future__ import annotations

import datetime as dt

import pytest

from core import activities, db, org, pool, settings
from core.errors import PermissionDenied, ValidationError
from tests.conftest import NOW, PASSWORD


def _set(company, key, value):
    settings.set_value(company.con, company.actor("boss"), key, value)


def _pooled(company, team: str, n: int) -> list[int]:
    """n customers in a team's pool, loaded in one statement (a batch as an import leaves it)."""
    con = company.con
    first = db.scalar(con, "SELECT coalesce(max(id), 0) + 1000 FROM customers")
    con.execute("INSERT INTO customers (id, name, stage, team_id, pool_since, created_at, updated_at) "
                "SELECT ? + i, 'Batch ' || (? + i), 'raw', ?, ?, ?, ? FROM range(?) t(i)",
                [first, first, company.teams[team], NOW, NOW, NOW, n])
    return list(range(first, first + n))


def _reps(company, team: str, n: int, prefix: str = "r", **kw) -> list[int]:
    admin = company.actor("boss")
    return [org.create_user(company.con, admin, f"{team}_{prefix}{i}", f"{team.title()} {prefix} {i}", "sales", PASSWORD,
                            team_id=company.teams[team], **kw) for i in range(n)]


def _counts(con, ids) -> dict[int, int]:
    return dict(con.execute("SELECT owner_id, count(*) FROM customers WHERE id IN (SELECT unnest(?)) "
                            "AND owner_id IS NOT NULL GROUP BY owner_id", [ids]).fetchall())


@pytest.fixture
def east(company):
    """East with rep_a, rep_b and five more reps; no skipping of untouched reps unless a test asks."""
    _set(company, "assignment.skip_reps_with_untouched_raw", False)
    _set(company, "assignment.weighted_by_performance", False)
    company.users.update({f"east_r{i}": u for i, u in enumerate(_reps(company, "east", 5))})
    return company


def test_equal_weights_share_a_batch_within_one_and_log_the_run(east):
    con, boss = east.con, east.actor("boss")
    ids = _pooled(east, "east", 101)
    got = pool.split(con, boss, ids=ids, team_ids=[east.teams["east"]])
    assert got["assigned"] == 101 and got["left_in_pool"] == 0 and got["reasons"] == {}
    counts = _counts(con, ids)
    assert len(counts) == 7 and max(counts.values()) - min(counts.values()) <= 1
    assert counts == {u: n for u, n in got["per_rep"].items() if n}
    run = db.one(con, "SELECT kind, source, requested, assigned, left_in_pool, weighting, run_by FROM assignment_runs "
                      "WHERE id = ?", [got["run_id"]])
    assert run == {"kind": "split", "source": "selection", "requested": 101, "assigned": 101, "left_in_pool": 0,
                   "weighting": "equal", "run_by": boss.id}
    assert db.scalar(con, "SELECT count(*) FROM pool_moves WHERE run_id = ? AND reason = 'split'",
                     [got["run_id"]]) == 101
    assert db.scalar(con, "SELECT count(*) FROM audit_log WHERE action = 'reassign' AND entity_id IN "
                          "(SELECT unnest(?))", [ids]) == 101
    row = db.one(con, "SELECT team_id, assigned_at, pool_since FROM customers WHERE id = ?", [ids[0]])
    assert row == {"team_id": east.teams["east"], "assigned_at": NOW, "pool_since": None}


def test_the_contacts_of_split_customers_follow_their_new_owner(east):
    from core import contacts

    con = east.con
    cid = east.customers["pool_east"]
    contacts.create_contact(con, east.actor("boss"), cid, {"name": "Wang Wei"})
    got = pool.split(con, east.actor("boss"), ids=[cid], team_ids=[east.teams["east"]])
    owner = next(u for u, n in got["per_rep"].items() if n)
    assert db.one(con, "SELECT owner_id, team_id FROM contacts WHERE customer_id = ?", [cid]) == {
        "owner_id": owner, "team_id": east.teams["east"]}


def test_the_split_interleaves_reps_round_robin(east):
    con = east.con
    ids = _pooled(east, "east", 14)
    pool.split(con, east.actor("boss"), ids=ids, team_ids=[east.teams["east"]])
    owners = [r[0] for r in con.execute("SELECT owner_id FROM customers WHERE id IN (SELECT unnest(?)) ORDER BY id",
                                        [ids]).fetchall()]
    assert len(set(owners[:7])) == 7 and len(set(owners[7:])) == 7


def test_weights_follow_recent_follow_ups(company):
    con = company.con
    _set(company, "assignment.skip_reps_with_untouched_raw", False)
    _set(company, "assignment.weight_by", "followups")
    rep_a = company.actor("rep_a", NOW - dt.timedelta(days=2))
    for i in range(3):
        activities.log_followup(con, rep_a, company.customers["rep_a"], kind="call", subject=f"call {i}")
    # a follow-up older than assignment.performance_days (30) does not count
    activities.log_followup(con, company.actor("rep_b", NOW - dt.timedelta(days=40)), company.customers["rep_b"],
                            kind="call", subject="long ago")
    ids = _pooled(company, "east", 100)
    got = pool.split(con, company.actor("boss"), ids=ids, team_ids=[company.teams["east"]])
    # weight 1 + follow-ups: 4 to 1
    assert got["weighting"] == "followups"
    assert _counts(con, ids) == {company.users["rep_a"]: 80, company.users["rep_b"]: 20}
    # the setting off: equal shares
    more = _pooled(company, "east", 100)
    got = pool.split(con, company.actor("boss"), ids=more, team_ids=[company.teams["east"]], weighting="equal")
    assert _counts(con, more) == {company.users["rep_a"]: 50, company.users["rep_b"]: 50}


def test_weights_follow_recent_won_deals_and_are_equal_when_nobody_has_any(company):
    con = company.con
    _set(company, "assignment.skip_reps_with_untouched_raw", False)
    ids = _pooled(company, "east", 10)
    pool.split(con, company.actor("boss"), ids=ids, team_ids=[company.teams["east"]])
    assert set(_counts(con, ids).values()) == {5}
    won = db.scalar(con, "SELECT code FROM pipeline_stages WHERE is_won LIMIT 1")
    con.execute("INSERT INTO deals (id, name, stage, owner_id, team_id, closed_on, created_at, updated_at) "
                "VALUES (900001, 'Big', ?, ?, ?, ?, ?, ?)",
                [won, company.users["rep_b"], company.teams["east"], NOW.date(), NOW, NOW])
    more = _pooled(company, "east", 30)
    got = pool.split(con, company.actor("boss"), ids=more, team_ids=[company.teams["east"]])
    assert got["weighting"] == "won_deals"
    assert _counts(con, more) == {company.users["rep_a"]: 10, company.users["rep_b"]: 20}


def test_new_hires_are_skipped_unless_the_setting_gives_them_new_data(east):
    con = east.con
    hire = _reps(east, "east", 1, prefix="hire", is_new_hire=True)[0]
    ids = _pooled(east, "east", 16)
    got = pool.split(con, east.actor("boss"), ids=ids, team_ids=[east.teams["east"]])
    assert got["skipped_reps"] == {hire: "new_hire"} and hire not in _counts(con, ids)
    _set(east, "assignment.new_hires_get_new_data", True)
    more = _pooled(east, "east", 16)
    pool.split(con, east.actor("boss"), ids=more, team_ids=[east.teams["east"]])
    assert _counts(con, more)[hire] == 2


def test_reps_with_untouched_raw_customers_are_skipped_when_the_setting_says_so(company):
    con = company.con
    # rep_a and rep_b each hold a raw customer given to them at NOW, never followed up
    ids = _pooled(company, "east", 4)
    got = pool.split(con, company.actor("boss"), ids=ids, team_ids=[company.teams["east"]])
    assert got["skipped_reps"] == {company.users["rep_a"]: "untouched_raw", company.users["rep_b"]: "untouched_raw"}
    assert got["assigned"] == 0 and got["left_in_pool"] == 4 and got["reasons"] == {"no_reps": 4}
    assert _counts(con, ids) == {}
    activities.log_followup(con, company.actor("rep_a", NOW + dt.timedelta(hours=1)), company.customers["rep_a"],
                            kind="call", subject="first call")
    got = pool.split(con, company.actor("boss", NOW + dt.timedelta(hours=2)), ids=ids, team_ids=[company.teams["east"]])
    assert got["skipped_reps"] == {company.users["rep_b"]: "untouched_raw"}
    assert _counts(con, ids) == {company.users["rep_a"]: 4}
    # the argument overrides the setting
    more = _pooled(company, "east", 2)
    got = pool.split(con, company.actor("boss"), ids=more, team_ids=[company.teams["east"]], skip_untouched=False)
    assert got["skipped_reps"] == {} and got["assigned"] == 2


def test_the_split_respects_each_reps_cap_and_says_why_the_rest_stayed(east):
    con = east.con
    con.execute("UPDATE users SET customer_cap = 3 WHERE team_id = ?", [east.teams["east"]])
    ids = _pooled(east, "east", 30)
    got = pool.split(con, east.actor("boss"), ids=ids, team_ids=[east.teams["east"]])
    # rep_a and rep_b hold 1 each (room 2); five new reps room 3
    assert got["assigned"] == 2 * 2 + 5 * 3 and got["left_in_pool"] == 30 - 19
    assert got["reasons"] == {"reps_full": 11}
    assert all(pool.held(con, [u])[u] <= 3 for u in got["per_rep"])
    assert db.scalar(con, "SELECT count(*) FROM customers WHERE id IN (SELECT unnest(?)) AND owner_id IS NULL "
                          "AND team_id = ?", [ids, east.teams["east"]]) == 11
    # everyone full now: skipped at_cap
    again = pool.split(con, east.actor("boss"), ids=ids, team_ids=[east.teams["east"]])
    assert set(again["skipped_reps"].values()) == {"at_cap"} and again["reasons"] == {"owned": 19, "reps_full": 11}
    assert db.one(con, "SELECT reasons FROM assignment_runs WHERE id = ?", [again["run_id"]])["reasons"]


def test_nothing_is_left_silently_owned_won_missing_and_teamless_records(east):
    con = east.con
    ids = _pooled(east, "east", 4)
    con.execute("UPDATE customers SET stage = 'won' WHERE id = ?", [ids[0]])
    con.execute("UPDATE customers SET team_id = NULL, import_id = 77 WHERE id IN (?, ?)", [ids[1], ids[2]])
    selection = ids + [east.customers["rep_b"], 987654]
    got = pool.split(con, east.actor("boss"), ids=selection, team_ids=[east.teams["west"]])
    # West has rep_w only (skipping is off here): rep_w takes the three placeable ones
    assert got["requested"] == 6 and got["reasons"] == {"won": 1, "owned": 1, "not_found": 1}
    assert got["assigned"] == 3
    assert db.scalar(con, "SELECT owner_id FROM customers WHERE id = ?", [east.customers["rep_b"]]) == east.users["rep_b"]
    # a batch without a team and nobody to take it: it goes to the first chosen team's pool
    con.execute("UPDATE customers SET owner_id = NULL, team_id = NULL WHERE id IN (?, ?)", [ids[1], ids[2]])
    empty = org.create_team(con, east.actor("boss"), "Nobody here")
    got = pool.split(con, east.actor("boss"), import_id=77, team_ids=[empty])
    assert got["reasons"] == {"no_reps": 2} and got["left_in_pool"] == 2
    assert db.rows(con, "SELECT DISTINCT owner_id, team_id FROM customers WHERE import_id = 77") == [
        {"owner_id": None, "team_id": empty}]
    assert db.scalar(con, "SELECT count(*) FROM pool_moves WHERE run_id = ?", [got["run_id"]]) == 2


def test_a_dry_run_changes_nothing(east):
    con = east.con
    ids = _pooled(east, "east", 10)
    got = pool.split(con, east.actor("boss"), ids=ids, team_ids=[east.teams["east"]], dry_run=True)
    assert got["assigned"] == 10 and got["run_id"] is None
    assert _counts(con, ids) == {} and db.scalar(con, "SELECT count(*) FROM assignment_runs") == 0


def test_splitting_a_pool_and_the_managers_scope(east):
    con = east.con
    _pooled(east, "west", 3)
    mgr = east.actor("mgr")
    with pytest.raises(PermissionDenied):   # West is outside the East manager's tree
        pool.split(con, mgr, pool_team_id=east.teams["west"], team_ids=[east.teams["west"]])
    got = pool.split(con, mgr, pool_team_id=east.teams["west"], team_ids=[east.teams["east"]])
    assert got["requested"] == 0   # the West pool is out of the manager's scope: nothing to take
    got = pool.split(con, east.actor("boss"), pool_team_id=east.teams["west"], team_ids=[east.teams["west"]])
    assert got["assigned"] == 4 and _counts(con, [east.customers["pool_west"]]) == {east.users["rep_w"]: 1}


def test_a_rep_cannot_split_records_to_other_reps(company):
    rep = company.actor("rep_a")
    ids = _pooled(company, "east", 2)
    for kw in ({"ids": ids}, {"pool_team_id": company.teams["east"]}):
        with pytest.raises(PermissionDenied):
            pool.split(company.con, rep, team_ids=[company.teams["east"]], **kw)
    assert _counts(company.con, ids) == {}


def test_bad_requests_are_refused_by_key(east):
    boss = east.actor("boss")
    with pytest.raises(ValidationError) as err:
        pool.split(east.con, boss, ids=[1], team_ids=[])
    assert err.value.key == "pool.no_teams"
    with pytest.raises(ValidationError) as err:
        pool.split(east.con, boss, ids=[1], pool_team_id=2, team_ids=[east.teams["east"]])
    assert err.value.key == "pool.no_source"
    with pytest.raises(ValidationError) as err:
        pool.split(east.con, boss, ids=["x"], team_ids=[east.teams["east"]])
    assert err.value.key == "pool.bad_selection"
    with pytest.raises(ValidationError) as err:
        pool.split(east.con, boss, ids=[1], team_ids=[east.teams["east"]], weighting="luck")
    assert err.value.key == "pool.bad_weighting"


@pytest.mark.parametrize("n, weights, rooms", [
    (100_000, [1] * 50, [10_000] * 50),
    (97, [1, 1, 1], [100, 100, 100]),
    (50, [3, 1], [100, 100]),
    (50, [1, 1, 1], [5, 100, 100]),
    (10, [1, 1], [2, 3]),
])
def test_quotas_are_proportional_capped_and_complete(n, weights, rooms):
    reps = [(i + 1, w, r) for i, (w, r) in enumerate(zip(weights, rooms))]
    q = pool.quotas(n, reps)
    assert sum(q.values()) == min(n, sum(rooms))
    assert all(q[u] <= r for u, _w, r in reps)
    free = [q[u] for u, w, r in reps if q[u] < r and w == 1]
    if free:
        assert max(free) - min(free) <= 1
