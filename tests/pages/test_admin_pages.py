"""The admin pages after a write: the table shows the new values at once with a message saying what
happened; a user's manager survives a save; the users table speaks names, not codes."""
from __future__ import annotations

import pytest
import streamlit as st

from core import access, auth, db, recycle, setup
from tests.conftest import NOW, build_company
from tests.pages.test_pages import app_as


@pytest.fixture
def crm(tmp_path, monkeypatch):
    """A fresh company in a file for each test; `prepare(con, company)` may change it before the app opens it."""
    path = tmp_path / "crm.duckdb"
    monkeypatch.setenv("CRM_DB", str(path))
    monkeypatch.setenv("CRM_SECRETS", str(tmp_path / "secrets.toml"))

    def prepare(change=None):
        con = db.connect(path)
        setup.prepare(con)
        company = build_company(con)
        con.execute("UPDATE users SET must_change_password = FALSE")
        if change:
            change(con, company)
        con.close()
        st.cache_resource.clear()
        return company

    yield prepare
    st.cache_resource.clear()


def users_page(username: str = "boss"):
    at = app_as(username).run()
    at.switch_page("views/admin_users.py").run()
    assert not at.exception, at.exception
    return at


def table(at):
    return at.dataframe[0].value.set_index("Username")


def pick(at, username: str):
    frame = at.dataframe[0]
    row = frame.value["Username"].tolist().index(username)
    at.session_state[frame.key] = {"selection": {"rows": [row], "columns": []}}
    return at.run()


def press(at, label: str):
    [button] = [b for b in at.button if b.label == label]
    return button.click().run()


def test_the_users_table_shows_language_names_and_marks_not_codes_or_true_false(crm):
    crm(lambda con, co: con.execute("UPDATE users SET language = 'zh' WHERE username = 'rep_b'"))
    shown = table(users_page())
    assert shown.loc["rep_b", "Language"] == "简体中文" and shown.loc["rep_a", "Language"] == "English"
    assert shown.loc["rep_a", "Active"] == "✓" and shown.loc["rep_a", "New hire"] == ""
    cells = {str(v) for v in shown.to_numpy().ravel()}
    assert not cells & {"True", "False", "en", "zh"}


def test_deactivating_a_user_shows_inactive_in_the_table_at_once(crm):
    crm()
    at = pick(users_page(), "rep_b")
    [active] = [c for c in at.checkbox if c.label == "Active"]
    active.uncheck()
    at = press(at, "Save")
    assert not at.exception and not at.error, [e.value for e in at.error]
    # rep_b holds a customer: the save asks where it goes before the user is deactivated
    assert table(at).loc["rep_b", "Active"] == "✓"
    [where] = [s for s in at.selectbox if s.key and s.key.startswith("users_leaving_") and s.key.endswith("_customers")]
    where.select("pool")
    at = at.run()
    at = press(at, "Deactivate and hand over 1 record")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success, "the deactivation says it went through"
    assert table(at).loc["rep_b", "Active"] == ""


def test_saving_a_user_keeps_a_manager_who_is_not_a_manager_role_user(crm):
    def senior_rep_leads_rep_b(con, co):
        con.execute("UPDATE users SET manager_id = ? WHERE username = 'rep_b'", [co.users["rep_a"]])

    crm(senior_rep_leads_rep_b)
    at = pick(users_page(), "rep_b")
    [name] = [x for x in at.text_input if x.label == "Name"]
    name.input("Bob")
    at = press(at, "Save")
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = table(at.run())  # one more run: what is stored, whatever the page showed right after the save
    assert shown.loc["rep_b", "Name"] == "Bob" and shown.loc["rep_b", "Manager"] == "REP_A"


def test_a_password_reset_says_so_and_the_table_shows_the_user_must_change_it(crm):
    crm()
    at = pick(users_page(), "rep_b")
    [pw] = [x for x in at.text_input if x.label == "Initial password"]
    pw.input("Fresh#20266")
    at = press(at, "Reset password")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Password of REP\\_B reset."]
    assert table(at).loc["rep_b", "Must change password"] == "✓"


def test_a_manager_with_org_rights_sees_the_own_tree_and_cannot_pick_the_admin_role(crm):
    def grant(con, co):
        boss = auth.actor_for(con, "boss", NOW)
        for action in ("view", "create", "edit"):
            access.set_scope(con, boss, "manager", "org", action, "team_tree")

    crm(grant)
    at = users_page("mgr")
    assert sorted(table(at).index) == ["mgr", "rep_a", "rep_b", "rep_sh"]
    roles = [s for s in at.selectbox if s.label == "Role"]
    assert roles and all("Admin" not in s.options for s in roles[1:])  # the first one is the list's filter


def test_restore_on_the_recycle_page_confirms_and_refreshes_the_list(crm):
    def bin_one(con, co):
        recycle.delete(con, auth.actor_for(con, "boss", NOW), "customer", [co.customers["rep_w"]])

    crm(bin_one)
    at = app_as("boss").run()
    at.switch_page("views/admin_recycle.py").run()
    frame = at.dataframe[0]
    assert frame.value.iloc[:, 1].tolist() == ["Customer of rep_w"]
    at.session_state[frame.key] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    at = press(at, "Restore Customer of rep\\_w")  # labels are Markdown: user data comes escaped
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Restored: Customer of rep\\_w."]
    assert not at.dataframe and [i.value for i in at.info] == ["The recycle bin is empty."]
