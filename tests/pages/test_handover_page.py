"""The handover page as a manager meets it: the leaver and the receiver are picked among the users the
manager may act on, the counts say what moves, one click hands everything over. In Chinese too."""
from __future__ import annotations

import datetime as dt

import pytest

from core import customers, org
from tests.conftest import company_app
from tests.pages.test_merge_page import button, page_as, read

T0 = dt.datetime(2026, 10, 1, 8, 0)
PAGE = "views/handover.py"


@pytest.fixture
def page_db(tmp_path):
    def prepare(con, company):
        rep_a = company.users["rep_a"]
        customers.create_customer(con, company.actor("rep_a"), {"name": "Second of rep_a"})
        con.execute("INSERT INTO deals (id, name, stage, owner_id, team_id, created_at, updated_at) VALUES "
                    "(801, 'Open', 'proposal', ?, ?, ?, ?), (802, 'Won', 'won', ?, ?, ?, ?)",
                    [rep_a, company.teams["east"], T0, T0] * 2)
        con.execute("INSERT INTO tasks (id, title, assignee_id, team_id, created_at) "
                    "VALUES (803, 'Call back', ?, ?, ?)",
                    [rep_a, company.teams["east"], T0])
        org.update_user(con, company.actor("boss"), rep_a, active=False)

    with company_app(tmp_path, prepare) as company:
        yield company


def test_a_manager_hands_over_everything_a_leaver_holds_in_one_click(page_db):
    company = page_db
    at = page_as("mgr", page=PAGE)
    assert not at.exception and not at.error, [e.value for e in at.error]
    leaver = at.selectbox(key="ho_from_0")
    assert "REP_A (East) · inactive · 4 records to hand over" in leaver.options  # plain text, not Markdown
    assert not any("REP_W" in o for o in leaver.options)  # West is not under East
    leaver.set_value(company.users["rep_a"]).run()
    receiver = at.selectbox(key=f"ho_to_0_{company.users['rep_a']}")
    assert not any("REP_W" in o or "Max Marketing" in o or "REP_A" in o for o in receiver.options)
    counts = at.dataframe[0].value
    assert dict(zip(counts.iloc[:, 0], counts.iloc[:, 1])) == {
        "Customers": 2, "Leads (not converted)": 0, "Contacts": 0, "Open deals": 1, "Open tasks": 1,
        "Open tickets": 0, "Open feedback": 0}
    receiver.set_value(company.users["rep_sh"]).run()
    button(at, "Hand over 4 records").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("4 records went from REP\\_A to REP\\_SH" in x.value for x in at.success), [x.value for x in at.success]
    assert read("SELECT count(*) FROM customers WHERE owner_id = ?", [company.users["rep_sh"]]) == [(3,)]
    assert read("SELECT owner_id FROM deals ORDER BY id") == [(company.users["rep_sh"],), (company.users["rep_a"],)]
    assert read("SELECT count(*) FROM audit_log WHERE action = 'handover' AND field IN ('owner_id', 'assignee_id')"
                ) == [(4,)]


def test_the_handover_page_speaks_chinese(page_db):
    company = page_db
    at = page_as("mgr", page=PAGE, lang="zh")
    assert not at.exception and not at.error
    assert at.title[0].value == "离职交接"
    leaver = at.selectbox(key="ho_from_0")
    assert "REP_A（部门：East）· 已停用 · 4 条待交接" in leaver.options
    leaver.select_index(leaver.options.index("REP_A（部门：East）· 已停用 · 4 条待交接")).run()
    assert "进行中的商机" in at.dataframe[0].value.iloc[:, 0].tolist()
