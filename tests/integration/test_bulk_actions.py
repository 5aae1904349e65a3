"""Bulk actions on a selection of customers: every record is checked in core, whatever the page sent."""
import datetime as dt

import pytest

from core import customers
from core.errors import CRMError, PermissionDenied


def test_a_rep_changes_only_the_customers_it_may_edit(company):
    c, rep = company.con, company.actor("rep_a")
    ids = [company.customers[k] for k in ("rep_a", "rep_w", "pool_east")]
    out = customers.bulk_update(c, rep, ids, {"stage": "intent", "level": "B"})
    assert out == {"done": 2, "skipped": 1}
    stages = dict(c.execute("SELECT id, stage FROM customers WHERE id IN (SELECT unnest(?))", [ids]).fetchall())
    assert stages[company.customers["rep_w"]] == "raw" and stages[company.customers["rep_a"]] == "intent"
    assert c.execute("SELECT count(*) FROM audit_log WHERE action = 'update' AND field = 'stage' "
                     "AND entity_id = ?", [company.customers["rep_a"]]).fetchall() == [(1,)]


def test_a_rep_releases_own_customers_to_the_pool_but_never_reassigns(company):
    c, rep = company.con, company.actor("rep_a")
    out = customers.bulk_release(c, rep, [company.customers["rep_a"], company.customers["rep_b"]])
    assert out == {"done": 1, "skipped": 1}
    assert c.execute("SELECT owner_id, team_id FROM customers WHERE id = ?", [company.customers["rep_a"]]).fetchall() \
        == [(None, company.teams["east"])]
    assert c.execute("SELECT reason FROM pool_moves WHERE customer_id = ?", [company.customers["rep_a"]]).fetchall() \
        == [("release",)]
    with pytest.raises(PermissionDenied):
        customers.bulk_reassign(c, rep, [company.customers["pool_east"]], company.users["rep_b"])


def test_a_manager_reassigns_within_the_team_tree(company):
    c, mgr = company.con, company.actor("mgr")
    out = customers.bulk_reassign(c, mgr, [company.customers["rep_a"], company.customers["rep_w"]],
                                  company.users["rep_sh"])
    assert out == {"done": 1, "skipped": 1}  # rep_w's customer is outside the manager's tree
    assert c.execute("SELECT owner_id, team_id FROM customers WHERE id = ?", [company.customers["rep_a"]]).fetchall() \
        == [(company.users["rep_sh"], company.teams["shanghai"])]
    with pytest.raises(PermissionDenied):  # nor to someone outside the tree
        customers.bulk_reassign(c, mgr, [company.customers["rep_b"]], company.users["rep_w"])


def test_a_follow_up_task_per_customer_goes_to_its_owner(company):
    c, mgr = company.con, company.actor("mgr")
    out = customers.bulk_task(c, mgr, [company.customers["rep_a"], company.customers["pool_east"]], "Call back",
                              dt.date(2026, 11, 30))
    assert out["done"] == 2
    owners = sorted(r[0] for r in c.execute("SELECT assignee_id FROM tasks WHERE title = 'Call back'").fetchall())
    assert owners == sorted([company.users["rep_a"], company.users["mgr"]])


@pytest.mark.parametrize("ids", [[], "12", None, list(range(501)), [1.5]])
def test_a_bad_selection_is_refused(company, ids):
    before = company.con.execute("SELECT count(*) FROM audit_log").fetchall()
    with pytest.raises(CRMError):  # ValidationError, or NotFound for an id that is no id
        customers.bulk_update(company.con, company.actor("boss"), ids, {"stage": "intent"})
    assert company.con.execute("SELECT count(*) FROM audit_log").fetchall() == before
