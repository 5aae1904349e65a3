"""Who a new customer may be given to: a rep keeps it or puts it in the own team's pool; a manager gives
it within the team tree; the owner and team must exist and be active (issue 5, point 7)."""
import pytest

from core import customers, org
from core.errors import PermissionDenied, ValidationError


_n = iter(range(10**6))


def _create(company, who, **where):
    """A new customer with a name of its own (the duplicate guard would warn about a repeated one)."""
    return customers.create_customer(company.con, company.actor(who), {"name": f"Zhang-{next(_n)}-{who}"}, **where)


def test_a_rep_creates_for_self_or_the_own_team_pool(company):
    c = company.con
    mine = _create(company, "rep_a")
    pooled = _create(company, "rep_a", owner_id=None)
    assert c.execute("SELECT owner_id, team_id FROM customers WHERE id = ?", [mine]).fetchall() == [
        (company.users["rep_a"], company.teams["east"])]
    assert c.execute("SELECT owner_id, team_id FROM customers WHERE id = ?", [pooled]).fetchall() == [
        (None, company.teams["east"])]


@pytest.mark.parametrize("where, error", [
    ({"owner_id": "rep_w"}, PermissionDenied),           # a rep of another team
    ({"owner_id": "rep_b"}, PermissionDenied),           # even a colleague: reps never give to reps
    ({"owner_id": None, "team_id": "west"}, PermissionDenied),  # another team's pool
    ({"owner_id": None, "team_id": 999}, ValidationError),      # a team that does not exist
    ({"owner_id": 424242}, ValidationError),                    # a user that does not exist
])
def test_a_rep_cannot_create_for_others_or_other_pools(company, where, error):
    where = {k: (company.users.get(v) if k == "owner_id" and isinstance(v, str) else
                 company.teams.get(v) if k == "team_id" and isinstance(v, str) else v) for k, v in where.items()}
    before = company.con.execute("SELECT count(*) FROM customers").fetchall()
    with pytest.raises(error):
        _create(company, "rep_a", **where)
    assert company.con.execute("SELECT count(*) FROM customers").fetchall() == before


def test_a_manager_assigns_within_the_team_tree_only(company):
    c = company.con
    given = _create(company, "mgr", owner_id=company.users["rep_sh"])
    assert c.execute("SELECT owner_id, team_id FROM customers WHERE id = ?", [given]).fetchall() == [
        (company.users["rep_sh"], company.teams["shanghai"])]
    with pytest.raises(PermissionDenied):
        _create(company, "mgr", owner_id=company.users["rep_w"])
    with pytest.raises(PermissionDenied):
        _create(company, "mgr", owner_id=None, team_id=company.teams["west"])


def test_an_inactive_user_or_a_deleted_team_receives_nothing(company):
    boss = company.actor("boss")
    org.update_user(company.con, boss, company.users["rep_w"], active=False)
    with pytest.raises(ValidationError):
        _create(company, "boss", owner_id=company.users["rep_w"])
    with pytest.raises(ValidationError):  # a marketing user holds no customers
        _create(company, "boss", owner_id=company.users["mkt"])
    with pytest.raises(ValidationError):  # the owner is not in the team named
        _create(company, "boss", owner_id=company.users["rep_a"], team_id=company.teams["west"])


def test_search_finds_chinese_names_emails_and_phone_digits(company):
    c, rep = company.con, company.actor("rep_a")
    cid = customers.create_customer(c, rep, {"name": "星河科技", "email": "Sales@KeJi.cn", "phone": "13912345678"})
    for q in ("科技", "keji", "SALES@", "1234 5678", "１２３４５６７８"):
        assert cid in customers.list_customers(c, rep, {"q": q})[0]["id"].to_list(), q
    assert customers.list_customers(c, rep, {"q": "科技有限"})[1] == 0
