"""The main journey in real Chromium against `streamlit run`: log in, forced password change, switch to
中文, see the customers list, log out. Screenshots are kept in test-artifacts/e2e/."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import ROOT

SHOTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(folder, **env_extra):
    """`streamlit run app.py` on a free port of 127.0.0.1 with its database and secrets in `folder`;
    yields the URL once the app answers its health check, stops it afterwards."""
    port = free_port()
    env = {**os.environ, "CRM_DB": str(folder / "crm.duckdb"), "CRM_SECRETS": str(folder / "secrets.toml"),
           **env_extra}
    log = open(folder / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError((folder / "streamlit.log").read_text())
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    with running_app(tmp, CRM_DEMO_SCALE="XS") as url:
        yield url, tmp


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), "Debian's chromium is needed for the browser tests (apt-get install chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    settle(page)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def settle(page) -> None:
    """Wait until the app is idle (no script run under way), as a person reading the page would: the
    cookie component reruns the script once after it mounts, and a submit during that rerun is lost."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
    page.wait_for_timeout(700)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)


def log_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    settle(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_rep_logs_in_changes_the_password_works_in_chinese_and_logs_out(server, browser):
    url, tmp = server
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    expect(page.get_by_text("Demo logins")).to_be_visible(timeout=60_000)
    expect(page.locator("a[href*='admin'], a[href*='customers'], a[href*='account']")).to_have_count(0)  # no page listed
    for hidden in ("admin_users", "customers"):
        page.goto(f"{url}/{hidden}")
        expect(page.get_by_label("Username")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("heading", name="Customers")).to_have_count(0)
    page.goto(url)
    shot(page, "01-login")

    log_in(page, url, "rep", "Demo#2026")
    expect(page.get_by_text("This is your first login")).to_be_visible(timeout=30_000)
    shot(page, "02-forced-password-change")
    settle(page)
    page.get_by_label("Current password", exact=True).fill("Demo#2026")
    page.get_by_label("New password", exact=True).fill("Rep#Secret2026")
    page.get_by_label("Repeat the new password").fill("Rep#Secret2026")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("My customers").first).to_be_visible(timeout=30_000)
    shot(page, "03-my-day")

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").click()
    page.keyboard.type("简体")  # the picker sits at the foot of a long menu: pick by typing, not by a listed option
    page.keyboard.press("Enter")
    expect(page.get_by_text("我的客户").first).to_be_visible(timeout=30_000)
    shot(page, "04-my-day-zh")

    sidebar.get_by_role("link", name="客户", exact=True).click()
    expect(page.get_by_role("heading", name="客户").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("共", exact=False).first).to_be_visible()
    page.wait_for_selector("[data-testid='stDataFrame']", timeout=30_000)
    shot(page, "05-customers-zh")

    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_label("用户名")).to_be_visible(timeout=30_000)
    shot(page, "06-logged-out")

    # the old password no longer works; the new one does, without a forced change, and the language stuck
    settle(page)
    log_in_zh = page.get_by_label("用户名")
    log_in_zh.fill("rep")
    page.get_by_label("密码", exact=True).fill("Rep#Secret2026")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("首次登录")).to_have_count(0)
    page.close()


def test_wrong_passwords_lock_the_account_without_telling_a_stranger(server, browser):
    """Five failures lock the account, but the form answers a locked account, an unknown name and a
    wrong password alike (the owner learns of the lock by e-mail, the admin in the user list)."""
    url, _tmp = server
    page = browser.new_page()
    for _ in range(5):
        log_in(page, url, "service", "not-the-password")
        expect(page.get_by_text("Wrong username or password")).to_be_visible(timeout=30_000)
    log_in(page, url, "service", "Demo#2026")  # the right password, refused while locked
    expect(page.get_by_text("Wrong username or password")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("locked", exact=False)).to_have_count(0)
    expect(page.get_by_text("This is your first login")).to_have_count(0)
    shot(page, "07-locked")
    log_in(page, url, "nobody-of-that-name", "Demo#2026")
    expect(page.get_by_text("Wrong username or password")).to_be_visible(timeout=30_000)
    page.close()


def test_a_kept_cookie_stays_refused_after_logout_and_forged_cookies_end_at_the_login_form(server, browser):
    """Issue 5, points 10 and 13, in the browser: log in, keep the cookie, log out, the admin sets
    auth.session_days from 3 to 1, the kept cookie in a fresh browser is no login; forged cookies
    (alg none, HS512 with the server's own key, another key, garbage) end at the login form."""
    import tomllib

    import jwt

    url, tmp = server

    def first_login(page, username: str, new_password: str) -> None:
        log_in(page, url, username, "Demo#2026")
        expect(page.get_by_text("This is your first login")).to_be_visible(timeout=30_000)
        settle(page)
        page.get_by_label("Current password", exact=True).fill("Demo#2026")
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("Repeat the new password").fill(new_password)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible(timeout=30_000)
        settle(page)

    def kept_cookie(context) -> dict:
        return next(c for c in context.cookies() if c["name"] == "crm_auth")

    def opens_logged_out(cookie_value: str) -> None:
        context = browser.new_context()
        context.add_cookies([{"name": "crm_auth", "value": cookie_value, "url": url}])
        page = context.new_page()
        page.goto(url)
        settle(page)
        expect(page.get_by_label("Username")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Log out")).to_have_count(0)
        expect(page.get_by_text("unexpected error", exact=False)).to_have_count(0)
        expect(page.get_by_text("Traceback")).to_have_count(0)
        context.close()

    rep = browser.new_context()
    page = rep.new_page()
    first_login(page, "manager", "Mgr#Secret2026")
    kept = kept_cookie(rep)

    # the kept cookie is a login in another browser while the session lasts
    other = browser.new_context()
    other.add_cookies([{"name": "crm_auth", "value": kept["value"], "url": url}])
    other_page = other.new_page()
    other_page.goto(url)
    expect(other_page.get_by_role("button", name="Log out")).to_be_visible(timeout=30_000)
    other.close()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Username")).to_be_visible(timeout=30_000)
    rep.close()

    admin = browser.new_context()
    page = admin.new_page()
    first_login(page, "admin", "Adm#Secret2026")
    page.goto(f"{url}/admin_settings")
    settle(page)
    lifetime = page.get_by_label("Login cookie lifetime (days)")
    expect(lifetime).to_have_value("3", timeout=30_000)
    lifetime.fill("1")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved", exact=False)).to_be_visible(timeout=30_000)
    shot(page, "08-session-days-1")
    admin.close()

    opens_logged_out(kept["value"])

    key = tomllib.loads((tmp / "secrets.toml").read_text())["crm"]["cookie_key"]
    exp = time.time() + 86400
    claims = {"username": "admin", "iat": time.time(), "exp": exp, "exp_date": exp}
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode()).decode()
    for forged in (f"{header}.{body}.", jwt.encode(claims, key, algorithm="HS512"),
                   jwt.encode(claims, "another-key-" * 6, algorithm="HS256"), "garbage"):
        opens_logged_out(forged)
    log = (tmp / "streamlit.log").read_text()
    assert "login cookie refused: InvalidAlgorithmError" in log
