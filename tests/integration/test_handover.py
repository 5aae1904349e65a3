"""Handover (离职交接): everything a leaving user holds goes to another user in one action, nothing is
lost, the former owner stays in each record's history; the receiver must be active and within the
actor's reach, and a rep never hands over."""
import datetime as dt

import pytest

from core import audit, customers, db, handover, org
from core.errors import NotFound, PermissionDenied, ValidationError
from tests.integration.test_cli import run_cli

T0 = dt.datetime(2026, 10, 1, 8, 0)
_next = iter(range(20_000, 99_999))
# table -> owner column, and what stays with the leaver (closed records)
OWNED = {"customers": "owner_id", "leads": "owner_id", "contacts": "owner_id", "deals": "owner_id",
         "tasks": "assignee_id", "tickets": "assignee_id", "feedback": "owner_id"}


def holdings(c, user_id: int, team_id: int) -> None:
    """Open and closed records of every kind held by `user_id` (plain INSERTs)."""
    for status in ("new", "converted"):
        c.execute("INSERT INTO leads (id, name, status, owner_id, team_id, created_at, updated_at) "
                  "VALUES (?, 'l', ?, ?, ?, ?, ?)", [next(_next), status, user_id, team_id, T0, T0])
    for stage in ("proposal", "negotiation", "won", "lost"):
        c.execute("INSERT INTO deals (id, name, stage, owner_id, team_id, created_at, updated_at) "
                  "VALUES (?, 'd', ?, ?, ?, ?, ?)", [next(_next), stage, user_id, team_id, T0, T0])
    for status in ("open", "done"):
        c.execute("INSERT INTO tasks (id, title, status, assignee_id, team_id, created_at) VALUES (?, 't', ?, ?, ?, ?)",
                  [next(_next), status, user_id, team_id, T0])
    for status in ("open", "pending", "closed"):
        c.execute("INSERT INTO tickets (id, subject, status, assignee_id, team_id, opened_at, created_at, updated_at) "
                  "VALUES (?, 's', ?, ?, ?, ?, ?, ?)", [next(_next), status, user_id, team_id, T0, T0, T0])
    c.execute("INSERT INTO contacts (id, name, owner_id, team_id, created_at, updated_at) VALUES (?, 'p', ?, ?, ?, ?)",
              [next(_next), user_id, team_id, T0, T0])
    c.execute("INSERT INTO feedback (id, kind, status, owner_id, team_id, created_at) "
              "VALUES (?, 'nps', 'open', ?, ?, ?)",
              [next(_next), user_id, team_id, T0])
    # a follow-up logged by the leaver stays theirs: history
    c.execute("INSERT INTO activities (id, customer_id, user_id, team_id, kind, occurred_at, created_at) "
              "VALUES (?, (SELECT min(id) FROM customers WHERE owner_id = ?), ?, ?, 'call', ?, ?)",
              [next(_next), user_id, user_id, team_id, T0, T0])


def held(c, user_id: int) -> dict[str, int]:
    return {t: db.scalar(c, f"SELECT count(*) FROM {t} WHERE {col} = ? AND deleted_at IS NULL", [user_id])
            for t, col in OWNED.items()}


@pytest.fixture
def leaving(company):
    """rep_a leaves: two customers, open and closed records of every kind; then deactivated."""
    c, boss = company.con, company.actor("boss")
    rep_a = company.users["rep_a"]
    customers.create_customer(c, company.actor("rep_a"), {"name": "Second of rep_a"})
    holdings(c, rep_a, company.teams["east"])
    org.update_user(c, boss, rep_a, active=False)
    return rep_a


def test_handover_moves_everything_open_and_loses_nothing(company, leaving):
    c, mgr = company.con, company.actor("mgr")
    rep_a, rep_sh = leaving, company.users["rep_sh"]
    totals = {t: db.scalar(c, f"SELECT count(*) FROM {t}") for t in OWNED}
    before_a, before_sh = held(c, rep_a), held(c, rep_sh)
    shown = handover.preview(c, mgr, rep_a, rep_sh)
    assert shown == {"customers": 2, "leads": 1, "contacts": 1, "deals": 2, "tasks": 1, "tickets": 2, "feedback": 1}
    counts = handover.handover(c, mgr, rep_a, rep_sh)
    assert counts == shown
    after_a, after_sh = held(c, rep_a), held(c, rep_sh)
    # what stays with the leaver is closed history: the converted lead, won and lost deals, done task, closed ticket
    assert after_a == {"customers": 0, "leads": 1, "contacts": 0, "deals": 2, "tasks": 1, "tickets": 1, "feedback": 0}
    for t in OWNED:
        assert after_sh[t] == before_sh[t] + counts[t], t
        assert before_a[t] == after_a[t] + counts[t], t
        assert db.scalar(c, f"SELECT count(*) FROM {t}") == totals[t], t
    # the moved records sit in the receiver's team; the leaver's follow-up keeps who logged it
    teams = c.execute("SELECT DISTINCT team_id FROM customers WHERE owner_id = ?", [rep_sh]).fetchall()
    assert teams == [(company.teams["shanghai"],)]
    assert db.scalar(c, "SELECT count(*) FROM activities WHERE user_id = ?", [rep_a]) == 1


def test_the_former_owner_stays_in_each_records_history(company, leaving):
    c, mgr = company.con, company.actor("mgr")
    rep_a, rep_b = leaving, company.users["rep_b"]
    moved = [r[0] for r in c.execute("SELECT id FROM customers WHERE owner_id = ?", [rep_a]).fetchall()]
    handover.handover(c, mgr, rep_a, rep_b)
    rows = db.rows(c, "SELECT entity, entity_id, field, old_value, new_value, user_id FROM audit_log "
                      "WHERE action = 'handover' AND field IN ('owner_id', 'assignee_id') ORDER BY entity, entity_id")
    assert sorted(r["entity"] for r in rows) == sorted(
        ["customer"] * 2 + ["lead", "contact", "deal", "deal", "task", "ticket", "ticket", "feedback"])
    assert {(r["old_value"], r["new_value"], r["user_id"]) for r in rows} == {
        (str(rep_a), str(rep_b), company.users["mgr"])}
    assert sorted(r["entity_id"] for r in rows if r["entity"] == "customer") == sorted(moved)
    moves = db.rows(c, "SELECT customer_id, from_owner_id, to_owner_id, reason FROM pool_moves ORDER BY customer_id")
    assert moves == [{"customer_id": i, "from_owner_id": rep_a, "to_owner_id": rep_b, "reason": "handover"}
                     for i in sorted(moved)]
    df, _ = audit.search(c, company.actor("boss"), action="handover", entity="customer")
    assert len(df) == 2


def test_the_receiver_must_be_active_and_able_to_hold_customers(company, leaving):
    c, mgr, boss = company.con, company.actor("mgr"), company.actor("boss")
    rep_a, rep_b = leaving, company.users["rep_b"]
    org.update_user(c, boss, rep_b, active=False)
    for target in (rep_b, company.users["mkt"], rep_a):
        with pytest.raises(ValidationError):
            handover.handover(c, boss, rep_a, target)
    assert held(c, rep_a)["customers"] == 2


def test_the_receiver_and_the_leaver_must_be_within_the_actors_reach(company, leaving):
    c, mgr = company.con, company.actor("mgr")
    rep_a, rep_w = leaving, company.users["rep_w"]
    with pytest.raises(PermissionDenied):
        handover.handover(c, mgr, rep_a, rep_w)  # West is not under East
    with pytest.raises(NotFound):
        handover.handover(c, mgr, rep_w, company.users["rep_b"])
    assert rep_w not in [u["id"] for u in handover.receivers(c, mgr)]
    assert {u["id"] for u in handover.leavers(c, mgr)} >= {rep_a, company.users["rep_b"], company.users["rep_sh"]}
    assert rep_w not in {u["id"] for u in handover.leavers(c, mgr)}
    assert held(c, rep_a)["customers"] == 2
    assert handover.handover(c, company.actor("boss"), rep_w, company.users["rep_b"])["customers"] == 1  # an admin may


def test_a_rep_never_hands_over(company, leaving):
    c = company.con
    rep_b = company.actor("rep_b")
    assert not handover.can_handover(c, rep_b)
    with pytest.raises(PermissionDenied):
        handover.handover(c, rep_b, leaving, company.users["rep_b"])
    with pytest.raises(PermissionDenied):
        handover.preview(c, rep_b, leaving)


def test_the_command_line_prints_the_counts_and_a_dry_run_changes_nothing(tmp_path):
    from core import setup
    from tests.conftest import build_company

    path = tmp_path / "crm.duckdb"
    c = db.connect(path)
    setup.prepare(c)
    company = build_company(c)
    holdings(c, company.users["rep_a"], company.teams["east"])
    c.close()
    dry = run_cli("--path", str(path), "handover", "--from", "rep_a", "--to", "rep_b", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "customers" in dry.stdout and " 1\n" in dry.stdout
    c = db.connect(path)
    assert held(c, company.users["rep_a"])["customers"] == 1
    c.close()
    done = run_cli("--path", str(path), "handover", "--from", "rep_a", "--to", "rep_b")
    assert done.returncode == 0, done.stderr
    assert "tickets" in done.stdout
    c = db.connect(path)
    assert held(c, company.users["rep_a"])["customers"] == 0 and held(c, company.users["rep_b"])["customers"] == 2
    c.close()
    bad = run_cli("--path", str(path), "handover", "--from", "rep_a", "--to", "mkt")
    assert bad.returncode == 2 and "cannot hold customers" in bad.stderr


# --------------------------------------------------------------------------------- per kind (issue 10, point 8)
def test_each_kind_goes_where_chosen_the_pool_or_a_person_and_nothing_is_lost(company, leaving):
    c, mgr = company.con, company.actor("mgr")
    rep_a, rep_b, rep_sh, east = leaving, company.users["rep_b"], company.users["rep_sh"], company.teams["east"]
    totals = {t: db.scalar(c, f"SELECT count(*) FROM {t}") for t in OWNED}
    pooled = {t: db.scalar(c, f"SELECT count(*) FROM {t} WHERE {col} IS NULL AND team_id = ?", [east])
              for t, col in OWNED.items()}
    before_a, before_b, before_sh = held(c, rep_a), held(c, rep_b), held(c, rep_sh)
    where = {"customers": "pool", "leads": "pool", "tickets": "pool", "deals": rep_b, "tasks": rep_sh,
             "feedback": rep_b}
    counts = handover.handover(c, mgr, rep_a, None, where)
    assert counts == {"customers": 2, "leads": 1, "contacts": 1, "deals": 2, "tasks": 1, "tickets": 2, "feedback": 1}
    after_a, after_b, after_sh = held(c, rep_a), held(c, rep_b), held(c, rep_sh)
    for t in OWNED:
        assert before_a[t] == after_a[t] + counts[t], t
        assert db.scalar(c, f"SELECT count(*) FROM {t}") == totals[t], t
    # to the pool: the team's pool (contacts follow their customers there), tickets unassigned in their queue
    for t in ("customers", "leads", "contacts", "tickets"):
        col = OWNED[t]
        assert db.scalar(c, f"SELECT count(*) FROM {t} WHERE {col} IS NULL AND team_id = ?", [east]) \
            == pooled[t] + counts[t], t
    assert db.scalar(c, "SELECT count(*) FROM customers WHERE owner_id IS NULL AND pool_reason = 'handover' "
                        "AND pool_since IS NOT NULL") == 2
    # to people
    assert after_b["deals"] == before_b["deals"] + 2 and after_b["feedback"] == before_b["feedback"] + 1
    assert after_sh["tasks"] == before_sh["tasks"] + 1
    # the former owner stays in the history of every moved record
    rows = db.rows(c, "SELECT entity, old_value, new_value FROM audit_log WHERE action = 'handover' "
                      "AND field IN ('owner_id', 'assignee_id')")
    assert len(rows) == sum(counts.values()) and {r["old_value"] for r in rows} == {str(rep_a)}
    assert {r["new_value"] for r in rows if r["entity"] in ("customer", "lead", "ticket", "contact")} == {None}
    moves = db.rows(c, "SELECT from_owner_id, to_owner_id, reason FROM pool_moves")
    assert moves == [{"from_owner_id": rep_a, "to_owner_id": None, "reason": "handover"}] * 2


def test_a_kind_with_nowhere_to_go_is_refused_and_nothing_moves(company, leaving):
    c, mgr = company.con, company.actor("mgr")
    before = held(c, leaving)
    with pytest.raises(ValidationError) as err:
        handover.handover(c, mgr, leaving, None, {"customers": company.users["rep_b"]})
    assert err.value.key == "handover.where_to"
    with pytest.raises(ValidationError) as err:
        handover.handover(c, mgr, leaving, company.users["rep_b"], {"deals": "pool"})
    assert err.value.key == "handover.no_pool"
    assert held(c, leaving) == before


def test_deactivating_a_user_hands_over_in_the_same_unit(company):
    c, boss = company.con, company.actor("boss")
    rep_b, rep_sh = company.users["rep_b"], company.users["rep_sh"]
    holdings(c, rep_b, company.teams["east"])
    before = held(c, rep_b)
    active = "SELECT active FROM users WHERE id = ?"
    with pytest.raises(ValidationError) as err:   # holds records and nowhere for them to go: stays active
        org.deactivate_user(c, boss, rep_b)
    assert err.value.key == "handover.where_to" and db.scalar(c, active, [rep_b])
    c.execute("UPDATE users SET customer_cap = 1 WHERE id = ?", [rep_sh])
    with pytest.raises(ValidationError) as err:   # the receiver at the cap: nothing moves, still active
        org.deactivate_user(c, boss, rep_b, rep_sh)
    assert err.value.key == "pool.cap_reached" and db.scalar(c, active, [rep_b]) and held(c, rep_b) == before
    done = org.deactivate_user(c, boss, rep_b, {"customers": "pool", "leads": company.users["rep_a"],
                                                "deals": company.users["rep_a"], "tasks": company.users["rep_a"],
                                                "tickets": "pool", "feedback": company.users["rep_a"]})
    assert not db.scalar(c, active, [rep_b]) and done["changes"] == {"active": (True, False)}
    assert done["moved"]["customers"] == 1 and held(c, rep_b)["customers"] == 0
    # a user who holds nothing is simply deactivated
    idle = org.create_user(c, boss, "idle", "Idle", "sales", "Start#2026", team_id=company.teams["west"])
    assert org.deactivate_user(c, boss, idle)["moved"]["customers"] == 0
    assert not db.scalar(c, active, [idle])
