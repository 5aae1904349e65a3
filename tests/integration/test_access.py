"""The permission matrix on real rows: a user sees exactly the records their scope names, in a list,
by id and in a count; every service checks again."""
import pytest

from core import access, audit, customers, org, recycle, settings
from core.analytics import kpis
from core.errors import NotFound, PermissionDenied

ALL = {"rep_a", "rep_b", "rep_sh", "rep_w", "pool_east", "pool_west"}
EXPECTED = {
    "own": {"rep_a", "pool_east"},
    "team": {"rep_a", "pool_east", "rep_b"},
    "team_tree": {"rep_a", "pool_east", "rep_b", "rep_sh"},
    "all": ALL,
}


def visible(company, username):
    me = company.actor(username)
    df, total = customers.list_customers(company.con, me, page_size=500)
    by_name = {v: k for k, v in company.customers.items()}
    listed = {by_name[i] for i in df["id"].to_list()}
    assert total == len(listed) == customers.count_customers(company.con, me)
    return listed


@pytest.mark.parametrize("scope", ["own", "team", "team_tree", "all"])
def test_each_scope_shows_a_rep_exactly_its_rows_in_list_by_id_and_count(company, scope):
    boss = company.actor("boss")
    access.set_scope(company.con, boss, "sales", "customers", "view", scope)
    assert visible(company, "rep_a") == EXPECTED[scope]
    rep = company.actor("rep_a")
    for label, cid in company.customers.items():
        if label in EXPECTED[scope]:
            assert customers.get_customer(company.con, rep, cid)["id"] == cid
        else:
            with pytest.raises(NotFound):
                customers.get_customer(company.con, rep, cid)


def test_scope_none_refuses_list_by_id_and_count(company):
    access.set_scope(company.con, company.actor("boss"), "sales", "customers", "view", "none")
    rep = company.actor("rep_a")
    for call in (lambda: customers.list_customers(company.con, rep),
                 lambda: customers.get_customer(company.con, rep, company.customers["rep_a"]),
                 lambda: customers.count_customers(company.con, rep),
                 lambda: kpis.followups_due(company.con, rep)):
        with pytest.raises(PermissionDenied):
            call()
    assert kpis.my_day(company.con, rep)["customers"] is None


def test_a_rep_never_sees_another_reps_customer_by_default(company):
    assert visible(company, "rep_a") == {"rep_a", "pool_east"}
    assert visible(company, "rep_w") == {"rep_w", "pool_west"}


def test_a_manager_sees_the_team_and_sub_teams_but_not_other_teams(company):
    assert visible(company, "mgr") == {"rep_a", "rep_b", "rep_sh", "pool_east"}


def test_marketing_service_and_admin_read_every_customer(company):
    for user in ("mkt", "svc", "boss"):
        assert visible(company, user) == ALL


@pytest.mark.parametrize("role", access.ROLES)
def test_every_role_starts_with_the_default_matrix(con, role):
    for module in access.MODULES:
        for action in access.ACTIONS:
            assert access.role_scope(con, role, module, action) == access.DEFAULTS[(role, module, action)]


def test_default_matrix_follows_the_product_roles():
    d = access.DEFAULTS
    assert all(d[("admin", m, a)] == "all" for m in access.MODULES for a in access.ACTIONS)
    assert all(d[("sales", m, "delete")] == "none" for m in access.MODULES)  # reps cannot delete
    assert d[("sales", "customers", "view")] == "own" and d[("manager", "customers", "view")] == "team_tree"
    assert d[("marketing", "customers", "view")] == "all" and d[("marketing", "customers", "edit")] == "none"
    assert d[("marketing", "segments", "create")] == "all" and d[("service", "tickets", "edit")] == "all"
    assert d[("service", "customers", "edit")] == "none"


@pytest.mark.parametrize("username,call", [
    ("rep_a", lambda c, me, co: org.create_user(c, me, "newbie", "New", "sales", "Start#2026")),
    ("rep_a", lambda c, me, co: recycle.delete(c, me, "customer", [co.customers["rep_a"]])),
    ("rep_a", lambda c, me, co: audit.search(c, me)),
    ("rep_a", lambda c, me, co: settings.set_value(c, me, "recycle.retention_days", 5)),
    ("rep_a", lambda c, me, co: recycle.deleted(c, me)),
    ("mgr", lambda c, me, co: access.set_scope(c, me, "sales", "customers", "view", "all")),
    ("mgr", lambda c, me, co: org.create_team(c, me, "Shadow team")),
    ("mkt", lambda c, me, co: customers.update_customer(c, me, co.customers["rep_a"], {"name": "x"})),
    ("svc", lambda c, me, co: recycle.delete(c, me, "customer", [co.customers["rep_a"]])),
    ("svc", lambda c, me, co: customers.create_customer(c, me, {"name": "x"})),
])
def test_a_service_refuses_a_role_without_the_permission(company, username, call):
    with pytest.raises(PermissionDenied):
        call(company.con, company.actor(username), company)


def test_a_rep_cannot_edit_a_colleagues_customer_even_by_id(company):
    with pytest.raises(NotFound):
        customers.update_customer(company.con, company.actor("rep_a"), company.customers["rep_b"], {"name": "mine"})
    assert customers.get_customer(company.con, company.actor("boss"), company.customers["rep_b"])["name"] == "Customer of rep_b"


def test_a_change_to_the_matrix_takes_effect_at_once(company):
    access.set_scope(company.con, company.actor("boss"), "sales", "customers", "delete", "own")
    rep = company.actor("rep_a")
    assert recycle.delete(company.con, rep, "customer", [company.customers["rep_a"], company.customers["rep_b"]]) == 1
    assert visible(company, "rep_b") == {"rep_b", "pool_east"}


def test_the_admin_cannot_lock_themself_out_of_the_matrix(company):
    from core.errors import ValidationError

    with pytest.raises(ValidationError):
        access.set_scope(company.con, company.actor("boss"), "admin", "settings", "edit", "none")


def test_my_day_counts_only_what_the_viewer_may_see(company):
    import datetime as dt

    c = company.con
    soon = dt.datetime(2026, 11, 23, 8, 0)
    for label in ("rep_a", "rep_b", "rep_w"):
        c.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?", [soon, company.customers[label]])
    rep = kpis.my_day(c, company.actor("rep_a"))
    assert (rep["customers"], rep["pool"], rep["followups_due"]) == (1, 1, 1)
    mgr = kpis.my_day(c, company.actor("mgr"))
    assert (mgr["customers"], mgr["pool"], mgr["followups_due"]) == (3, 1, 2)
    assert kpis.my_day(c, company.actor("boss"))["followups_due"] == 3
    assert kpis.my_day(c, company.actor("mkt"))["open_tickets"] is None
