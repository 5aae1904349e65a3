"""Organisation services apply the scope predicate and the role rank, not only the module check: once an
admin grants managers org rights, a manager acts within their team tree and never on or as an admin."""
import pytest

from core import access, auth, org, settings
from core.errors import NotFound, PermissionDenied, ValidationError
from tests.conftest import PASSWORD


@pytest.fixture
def granted(company):
    """Managers granted org create/edit/delete at scope team_tree (the admin's choice)."""
    boss = company.actor("boss")
    for action in ("create", "edit", "delete"):
        access.set_scope(company.con, boss, "manager", "org", action, "team_tree")
    return company


def password_hash(company, username):
    return company.con.execute("SELECT password_hash FROM users WHERE username = ?", [username]).fetchall()[0][0]


def test_a_manager_cannot_reset_the_admins_password(granted):
    c, mgr = granted.con, granted.actor("mgr")
    before = password_hash(granted, "boss")
    with pytest.raises(NotFound):  # the admin is outside the manager's team tree
        org.reset_password(c, mgr, granted.users["boss"], "Taken#2026x")
    # even an admin inside the manager's team is above the manager's role
    c.execute("UPDATE users SET team_id = ? WHERE username = 'boss'", [granted.teams["east"]])
    with pytest.raises(PermissionDenied):
        org.reset_password(c, mgr, granted.users["boss"], "Taken#2026x")
    assert password_hash(granted, "boss") == before
    assert auth.verify_password(PASSWORD, password_hash(granted, "boss"))


def test_a_manager_cannot_create_an_admin_even_in_the_own_team(granted):
    c, mgr = granted.con, granted.actor("mgr")
    with pytest.raises(PermissionDenied):
        org.create_user(c, mgr, "evil", "Evil Admin", "admin", "Evil#20266", team_id=granted.teams["east"])
    assert not c.execute("SELECT count(*) FROM users WHERE username = 'evil'").fetchall()[0][0]
    assert org.assignable_roles(mgr) == ("manager", "sales", "marketing", "service")


def test_a_manager_creates_users_only_in_the_own_team_tree(granted):
    c, mgr = granted.con, granted.actor("mgr")
    new = org.create_user(c, mgr, "newbie", "New Rep", "sales", "Start#20266", team_id=granted.teams["shanghai"],
                          manager_id=granted.users["mgr"])
    assert org.users(c, mgr, q="newbie")["id"].to_list() == [new]
    for team in (granted.teams["west"], None):
        with pytest.raises(PermissionDenied):
            org.create_user(c, mgr, "outsider", "Out", "sales", "Start#20266", team_id=team)


def test_a_manager_cannot_edit_a_user_of_another_team(granted):
    c, mgr = granted.con, granted.actor("mgr")
    with pytest.raises(NotFound):
        org.update_user(c, mgr, granted.users["rep_w"], name="Hijacked")
    with pytest.raises(NotFound):
        org.update_user(c, mgr, granted.users["boss"], active=False)
    boss = granted.actor("boss")
    assert org.users(c, boss, q="rep_w")["name"].to_list() == ["REP_W"]


def test_a_manager_can_edit_a_rep_of_the_own_team_but_not_raise_them_or_move_them_out(granted):
    c, mgr = granted.con, granted.actor("mgr")
    rep = granted.users["rep_a"]
    assert org.update_user(c, mgr, rep, name="Alice", team_id=granted.teams["shanghai"]) == {
        "name": ("REP_A", "Alice"), "team_id": (granted.teams["east"], granted.teams["shanghai"])}
    with pytest.raises(PermissionDenied):
        org.update_user(c, mgr, rep, role="admin")
    with pytest.raises(PermissionDenied):
        org.update_user(c, mgr, rep, team_id=granted.teams["west"])
    row = org.users(c, granted.actor("boss"), q="rep_a").row(0, named=True)
    assert (row["name"], row["role"], row["team_id"]) == ("Alice", "sales", granted.teams["shanghai"])


def test_a_manager_can_reset_the_password_of_an_own_rep(granted):
    c, mgr = granted.con, granted.actor("mgr")
    org.reset_password(c, mgr, granted.users["rep_a"], "Fresh#20266")
    assert auth.verify_password("Fresh#20266", password_hash(granted, "rep_a"))


def test_nobody_but_an_admin_makes_someone_admin(company):
    c, boss = company.con, company.actor("boss")
    access.set_scope(c, boss, "manager", "org", "edit", "all")
    with pytest.raises(PermissionDenied):
        org.update_user(c, company.actor("mgr"), company.users["rep_w"], role="admin")
    assert org.update_user(c, boss, company.users["rep_w"], role="admin") == {"role": ("sales", "admin")}


def test_a_manager_edits_and_deletes_teams_only_in_the_own_tree(granted):
    c, mgr = granted.con, granted.actor("mgr")
    teams = granted.teams
    org.update_team(c, mgr, teams["shanghai"], name="Shanghai")
    with pytest.raises(NotFound):
        org.update_team(c, mgr, teams["west"], name="Mine now")
    with pytest.raises(NotFound):
        org.delete_team(c, mgr, teams["west"])
    with pytest.raises(PermissionDenied):  # moving the own team out of its parent touches another tree
        org.update_team(c, mgr, teams["east"], parent_id=None)
    with pytest.raises(PermissionDenied):
        org.update_team(c, mgr, teams["shanghai"], parent_id=teams["west"])
    with pytest.raises(PermissionDenied):
        org.create_team(c, mgr, "Rogue", parent_id=teams["west"])
    with pytest.raises(PermissionDenied):
        org.create_team(c, mgr, "Rogue top")
    pudong = org.create_team(c, mgr, "Pudong", parent_id=teams["shanghai"])
    org.delete_team(c, granted.actor("mgr"), pudong)  # a new run: the actor's team tree includes Pudong
    names = org.teams(c, granted.actor("boss"))["name"].to_list()
    assert "West" in names and "Mine now" not in names and "Shanghai" in names and "Pudong" not in names


def test_teams_lists_only_the_teams_in_the_viewers_scope(company):
    c = company.con
    assert sorted(org.teams(c, company.actor("mgr"))["name"].to_list()) == ["East", "East - Shanghai"]
    assert org.teams(c, company.actor("mgr"))["path"].to_list() == ["Sales / East", "Sales / East / East - Shanghai"]
    assert len(org.teams(c, company.actor("boss"))) == c.execute("SELECT count(*) FROM teams").fetchall()[0][0]
    with pytest.raises(PermissionDenied):
        org.teams(c, company.actor("rep_a"))


def test_the_matrix_and_all_settings_need_the_settings_permission(company):
    c = company.con
    for who in ("rep_a", "mgr", "svc"):
        with pytest.raises(PermissionDenied):
            access.matrix(c, company.actor(who))
        with pytest.raises(PermissionDenied):
            settings.all_settings(c, company.actor(who))
    boss = company.actor("boss")
    assert {"role": "sales", "module": "customers", "action": "view", "scope": "own"} in access.matrix(c, boss)
    assert settings.all_settings(c, boss)["recycle.retention_days"] == 30


def test_saving_only_the_name_keeps_a_manager_that_is_not_a_manager_role_user(company):
    c, boss = company.con, company.actor("boss")
    rep_b = company.users["rep_b"]
    org.update_user(c, boss, rep_b, manager_id=company.users["rep_a"])  # a senior rep leads rep_b
    org.update_user(c, boss, rep_b, name="Bob")
    row = org.users(c, boss, q="rep_b").row(0, named=True)
    assert (row["name"], row["manager_id"], row["manager"]) == ("Bob", company.users["rep_a"], "REP_A")
    with pytest.raises(ValidationError):
        org.update_user(c, boss, rep_b, manager_id=rep_b)


def test_deleting_a_team_keeps_a_concurrent_edit_of_it(company, monkeypatch):
    """No update that hands rows back (duckdb 2.0.0 undoes a concurrent update of other columns)."""
    c, boss = company.con, company.actor("boss")
    spare = org.create_team(c, boss, "Spare", region="North")
    a, b = c.cursor(), c.cursor()

    class Interleaved:
        """Cursor A; just before its first UPDATE of teams, cursor B commits an edit of the region."""

        def __init__(self):
            self.fired = False

        def execute(self, sql, *args):
            if not self.fired and sql.lstrip().upper().startswith("UPDATE TEAMS"):
                self.fired = True
                b.execute("UPDATE teams SET region = 'South' WHERE id = ?", [spare])
            return a.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(a, name)

    org.delete_team(Interleaved(), boss, spare)
    assert c.execute("SELECT region, deleted_at IS NOT NULL FROM teams WHERE id = ?", [spare]).fetchall() == [("South", True)]
