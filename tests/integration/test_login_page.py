"""The login page as the app runs it (AppTest over app.py on a database file), with the browser's
cookie supplied to `st.context.cookies` and the cookies the app sets captured: replaying an old cookie,
forged cookies, the one answer for every refused login, the language picked on the login page."""
from __future__ import annotations

import time
import types

import extra_streamlit_components as stx
import jwt
import pytest
import streamlit.runtime.context as st_context
from streamlit.testing.v1 import AppTest

from core import auth, config, db, settings
from core.context import utcnow
from tests.conftest import PASSWORD, ROOT, company_app

APP = ROOT / "app.py"
COOKIE = "crm_auth"


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("login_page")
    with company_app(folder) as company:
        yield types.SimpleNamespace(company=company, path=folder / "crm.duckdb",
                                    key=config.cookie_key(folder / "secrets.toml"))


@pytest.fixture
def browser(monkeypatch):
    """The cookie jar of one browser: what it sends (`st.context.cookies`) and what the app sets in it."""
    jar: dict[str, str] = {}
    original_set, original_delete = stx.CookieManager.set, stx.CookieManager.delete

    def set_cookie(self, cookie, val, *args, **kwargs):
        jar[cookie] = val
        return original_set(self, cookie, val, *args, **kwargs)

    def delete_cookie(self, cookie, *args, **kwargs):
        jar.pop(cookie, None)
        self.cookies.setdefault(cookie, "")
        return original_delete(self, cookie, *args, **kwargs)

    monkeypatch.setattr(stx.CookieManager, "set", set_cookie)
    monkeypatch.setattr(stx.CookieManager, "delete", delete_cookie)
    sent: dict[str, str] = {}
    client = types.SimpleNamespace(headers=[], cookies=sent, remote_ip=None)
    monkeypatch.setattr(st_context, "_get_client_context", lambda: client)
    return types.SimpleNamespace(jar=jar, sends=sent)


def fresh_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=30)


def texts(at: AppTest) -> str:
    return "\n".join([str(m.value) for m in at.markdown] + [str(e.value) for e in at.error]
                     + [str(i.value) for i in at.info] + [str(b.label) for b in at.button])


def at_login_form(at: AppTest) -> bool:
    return [t.label for t in at.text_input][:2] == ["Username", "Password"] and not at.exception


def logged_in(at: AppTest) -> bool:
    return any(b.key == "crm_logout" for b in at.button) and not at.exception


def log_in(at: AppTest, username: str, password: str) -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["Username"].input(username)
    inputs["Password"].input(password)
    next(b for b in at.button if b.label == "Log in").click()
    return at.run()


def with_cookie(token: str, browser) -> AppTest:
    browser.sends.clear()
    browser.sends[COOKIE] = token
    return fresh_app().run()


# ------------------------------------------------------------------------------------- 10. replay
def test_a_cookie_kept_from_before_a_logout_is_refused_after_the_session_days_setting_shrinks(crm, browser):
    """Reproduces issue 5 point 10: log in, keep the cookie, log out, set auth.session_days 3 -> 1,
    present the old cookie in a fresh browser: not logged in. (The logout is what the sidebar button
    runs: AppTest runs a page's file alone after the first run of a navigation, so a click in the
    sidebar cannot be replayed here; the browser test clicks it.)"""
    at = log_in(fresh_app().run(), "rep_a", PASSWORD)
    assert logged_in(at)
    kept = browser.jar[COOKIE]
    assert logged_in(with_cookie(kept, browser))  # the kept cookie is a login while the session lasts

    con = db.connect(crm.path)  # the app's own database (one instance per process)
    auth.logout_everywhere(con, auth.actor_for(con, "rep_a"))
    settings.set_value(con, auth.actor_for(con, "boss"), "auth.session_days", 1)
    try:
        replay = with_cookie(kept, browser)
        assert at_login_form(replay) and not logged_in(replay)
        assert not replay.error and "Your session has ended" in texts(replay)
    finally:
        settings.set_value(con, auth.actor_for(con, "boss"), "auth.session_days", 3)


def test_a_password_change_reissues_this_browsers_cookie_and_refuses_the_old_one(crm, browser):
    at = log_in(fresh_app().run(), "rep_sh", PASSWORD)
    before = browser.jar[COOKIE]
    at.switch_page("views/account.py").run()  # AppTest runs the page's file alone here (no sidebar)
    inputs = {t.label: t for t in at.text_input}
    inputs["Current password"].input(PASSWORD)
    inputs["New password"].input("Changed#2027")
    inputs["Repeat the new password"].input("Changed#2027")
    next(b for b in at.button if b.label == "Change password").click().run()
    assert not at.exception and [m.value for m in at.success] == ["Password changed. Your other sessions have been logged out."]
    after = browser.jar[COOKIE]
    assert after != before
    assert at_login_form(with_cookie(before, browser))
    assert logged_in(with_cookie(after, browser))


# ------------------------------------------------------------------------------------ 13. forged
def forged(key: str) -> dict[str, str]:
    exp = time.time() + 86400
    claims = {"username": "boss", "iat": time.time(), "exp": exp, "exp_date": exp}
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode()).decode()
    return {
        "alg none": f"{header}.{body}.",
        "HS512 with the right key": jwt.encode(claims, key, algorithm="HS512"),
        "wrong key": jwt.encode(claims, "w" * 64, algorithm="HS256"),
        "garbage": "garbage",
        "old format, right key": jwt.encode({"username": "boss", "exp_date": exp}, key, algorithm="HS256"),
    }


@pytest.mark.parametrize("kind", ["alg none", "HS512 with the right key", "wrong key", "garbage",
                                  "old format, right key"])
def test_a_forged_or_old_cookie_ends_at_the_login_form_without_an_error(crm, browser, kind, caplog):
    at = with_cookie(forged(crm.key)[kind], browser)
    assert at_login_form(at) and not logged_in(at)
    assert not at.error and "unexpected" not in texts(at)
    assert any("login cookie refused" in r.getMessage() for r in caplog.records)


def test_a_good_cookie_still_logs_in(crm, browser):
    token = auth.issue_session_token("rep_w", crm.key, utcnow(), 3)
    at = with_cookie(token, browser)
    assert logged_in(at) and at.session_state["username"] == "rep_w"


# -------------------------------------------------------------------------------- 11. one answer
def test_the_login_form_answers_alike_for_unknown_locked_and_wrong_password(crm, browser):
    answers = {}
    for i in range(5):  # locks mkt
        at = log_in(fresh_app().run(), "mkt", f"Wrong#{i}")
    answers["locked, wrong password"] = at.error[0].value
    answers["locked, right password"] = log_in(fresh_app().run(), "mkt", PASSWORD).error[0].value
    answers["unknown"] = log_in(fresh_app().run(), "nobody", PASSWORD).error[0].value
    answers["wrong password"] = log_in(fresh_app().run(), "svc", "Wrong#2026").error[0].value
    assert set(answers.values()) == {"Wrong username or password."}, answers
    con = db.connect(crm.path)
    assert auth.locked_until(con, "mkt") is not None


# --------------------------------------------------------------------------------- 21. language
def test_the_language_picked_on_the_login_page_is_kept_and_stored_on_the_user(crm, browser):
    con = db.connect(crm.path)
    assert auth.actor_for(con, "rep_b").language == "en"
    at = fresh_app().run()
    at.selectbox(key="login_lang").select("zh").run()
    assert [t.label for t in at.text_input][:2] == ["用户名", "密码"]
    inputs = at.text_input
    inputs[0].input("rep_b")
    inputs[1].input(PASSWORD)
    next(b for b in at.button if b.label == "登录").click()
    at.run()
    assert any(b.key == "crm_logout" and b.label == "退出登录" for b in at.button), texts(at)
    assert auth.actor_for(con, "rep_b").language == "zh"


def test_without_a_pick_the_users_stored_language_is_used(crm, browser):
    con = db.connect(crm.path)
    auth.set_language(con, auth.actor_for(con, "mgr"), "zh")
    at = log_in(fresh_app().run(), "mgr", PASSWORD)
    assert any(b.key == "crm_logout" and b.label == "退出登录" for b in at.button)
    assert auth.actor_for(con, "mgr").language == "zh"
