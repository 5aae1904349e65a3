"""Every page renders for every role that may open it, without exception, and each role's menu
holds exactly the pages its permissions allow."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, company_app, logged_in

APP = ROOT / "app.py"

ROLE_USERS = {"admin": "boss", "manager": "mgr", "sales": "rep_a", "marketing": "mkt", "service": "svc"}
WORK = ["views/home.py", "views/dashboard.py", "views/customers.py", "views/pool.py", "views/contacts.py",
        "views/leads.py", "views/deals.py", "views/orders.py", "views/tickets.py", "views/feedback.py",
        "views/account.py", "views/forecast.py", "views/targets.py", "views/duplicates.py"]
# the shared pool is for who holds customers (reps, managers, admins): marketing and service claim nothing
NO_POOL = [p for p in WORK if p != "views/pool.py"]
# managers and admins also see the pool dashboard (their teams; admins every team)
LEAD_WORK = [q for p in WORK for q in ([p, "views/pool_dashboard.py"] if p == "views/targets.py" else [p])]
# service agents see no leads; the duplicate check is for everyone who may view customers or leads
NO_LEADS = [p for p in NO_POOL if p != "views/leads.py"]
ADMIN = ["views/admin_users.py", "views/admin_teams.py", "views/admin_permissions.py", "views/admin_fields.py",
         "views/admin_pipelines.py", "views/admin_settings.py", "views/admin_service.py", "views/admin_pool.py",
         "views/admin_backup.py", "views/admin_recycle.py", "views/admin_audit.py"]
# managers and admins: merge customers, hand over a leaver's records, review won hand-offs (pending upgrade)
LEAD = ["views/merge.py", "views/handover.py", "views/upgrades.py"]
# marketing works no tickets: no service desk
NO_TICKETS = [p for p in NO_POOL if p != "views/tickets.py"]
# analysis: RFM and cohorts for the roles that work segments; the report builder for everyone with analytics
ANALYSIS = ["views/rfm.py", "views/cohorts.py", "views/reports.py"]
REPORTS = ["views/reports.py"]
# segments (客户细分): marketing builds them, managers and admins read them
SEGMENTS = ["views/segments.py"]
# import and its history: the roles with the import action on some module (admins, managers, marketing: leads)
IMPORT = ["views/imports.py", "views/import_history.py"]
MENU = {"admin": LEAD_WORK + LEAD + ANALYSIS + SEGMENTS + IMPORT + ADMIN,
        "manager": LEAD_WORK + LEAD + ANALYSIS + SEGMENTS + IMPORT,
        "sales": WORK + REPORTS, "marketing": NO_TICKETS + ANALYSIS + SEGMENTS + IMPORT, "service": NO_LEADS + REPORTS}


@pytest.fixture(scope="module")
def crm_db(tmp_path_factory):
    def first_login_pending(con, company):  # rep_b has not changed the initial password yet
        con.execute("UPDATE users SET must_change_password = TRUE WHERE username = 'rep_b'")

    with company_app(tmp_path_factory.mktemp("pages"), first_login_pending) as company:
        yield company


def app_as(username: str, lang: str | None = None) -> AppTest:
    return logged_in(username, lang)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [t.value for t in at.title] + [c.value for c in at.caption]
    parts += [str(m.label) + " " + str(m.value) for m in at.metric]
    return "\n".join(parts)


def test_without_login_the_app_shows_only_the_login_form(crm_db):
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert [t.label for t in at.text_input][:2] == ["Username", "Password"]
    assert not at.dataframe


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_each_role_can_reach_exactly_the_pages_of_its_menu(crm_db, role):
    from ui import nav

    at = app_as(ROLE_USERS[role]).run()
    assert not at.exception, at.exception
    reachable = []
    for spec in nav.PAGES:
        try:
            at.switch_page(spec.path)
            reachable.append(spec.path)
        except ValueError as exc:
            assert "Could not find a navigation page" in str(exc)
    assert reachable == MENU[role]


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_every_page_of_a_role_renders_without_exception(crm_db, role):
    at = app_as(ROLE_USERS[role]).run()
    for page in MENU[role]:
        at.switch_page(page).run()
        assert not at.exception, (role, page, at.exception)
        assert not at.error, (role, page, [e.value for e in at.error])


def test_the_customers_page_of_a_rep_lists_only_their_customers_and_pool(crm_db):
    at = app_as("rep_a").run()
    at.switch_page("views/customers.py").run()
    shown = at.dataframe[0].value
    assert sorted(shown.iloc[:, 0].tolist()) == ["Customer of rep_a", "Pool customer east"]


def test_the_customers_page_of_a_manager_lists_the_team_and_sub_teams(crm_db):
    at = app_as("mgr").run()
    at.switch_page("views/customers.py").run()
    names = sorted(at.dataframe[0].value.iloc[:, 0].tolist())
    assert names == ["Customer of rep_a", "Customer of rep_b", "Customer of rep_sh", "Pool customer east"]


def test_my_day_shows_the_real_counts_of_the_viewer(crm_db):
    at = app_as("rep_a").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["My customers"] == "1" and metrics["Open leads"] == "0"


def test_the_pages_speak_chinese_when_the_user_chose_it(crm_db):
    at = app_as("rep_a", lang="zh").run()
    assert "我的客户" in [m.label for m in at.metric]
    at.switch_page("views/customers.py").run()
    assert at.title[0].value == "客户"
    assert "名称" in list(at.dataframe[0].value.columns)


def test_a_first_login_must_change_the_password_before_anything_else(crm_db):
    at = app_as("rep_b").run()
    assert not at.exception
    assert at.title[0].value == "Change password"
    assert not at.metric and not at.dataframe
