"""Login rules of issue 5 at the level of core: the login cookie's token and what revokes it, one
answer (message and time) for every refused login, the lockout e-mail, passwords with surrounding
spaces."""
from __future__ import annotations

import datetime as dt
import logging
import random
import statistics
import time

import jwt
import pytest

from core import auth, org, settings, setup
from core.context import utcnow
from core.errors import AuthError, ValidationError
from core.i18n import translate
from tests.conftest import NOW, PASSWORD

KEY = "k" * 64


def token_for(username: str, issued_at: dt.datetime, days: float = 3) -> str:
    return auth.issue_session_token(username, KEY, issued_at, days)


def still_logged_in(con, token: str, now: dt.datetime | None = None) -> bool:
    """What the server does with a cookie on every run: decode it, then check the user and the time."""
    claims = auth.read_session_token(token, KEY)
    return claims is not None and auth.session_user(con, claims["username"], claims["issued_at"], now) is not None


# ------------------------------------------------------------------------------------- 10. revocation
@pytest.mark.parametrize("days_after", [1, 3, 30])
def test_a_cookie_from_before_a_logout_stays_refused_whatever_the_session_days_become(company, days_after):
    c = company.con
    issued = utcnow() - dt.timedelta(minutes=5)
    token = token_for("rep_a", issued)
    assert still_logged_in(c, token)
    auth.logout_everywhere(c, company.actor("rep_a", utcnow()))
    settings.set_value(c, company.actor("boss"), "auth.session_days", days_after)
    assert not still_logged_in(c, token)
    assert still_logged_in(c, token_for("rep_a", utcnow()))  # a login after the logout counts


def revoke_by_logout(company):
    auth.logout_everywhere(company.con, company.actor("rep_a", utcnow()))


def revoke_by_password_change(company):
    auth.change_password(company.con, company.actor("rep_a", utcnow()), PASSWORD, "Other#2027", "Other#2027")


def revoke_by_reset(company):
    org.reset_password(company.con, company.actor("boss", utcnow()), company.users["rep_a"], "Reset#2027")


def revoke_by_deactivation(company):
    org.update_user(company.con, company.actor("boss", utcnow()), company.users["rep_a"], active=False)


@pytest.mark.parametrize("revoke", [revoke_by_logout, revoke_by_password_change, revoke_by_reset,
                                    revoke_by_deactivation])
def test_logout_password_change_reset_and_deactivation_revoke_every_earlier_cookie(company, revoke):
    c = company.con
    older, old = token_for("rep_a", utcnow() - dt.timedelta(days=1)), token_for("rep_a", utcnow())
    assert still_logged_in(c, older) and still_logged_in(c, old)
    revoke(company)
    assert not still_logged_in(c, older) and not still_logged_in(c, old)
    settings.set_value(c, company.actor("boss"), "auth.session_days", 1)
    assert not still_logged_in(c, older) and not still_logged_in(c, old)
    later = token_for("rep_a", utcnow())
    assert still_logged_in(c, later) == (revoke is not revoke_by_deactivation)


def test_the_cookie_carries_its_issue_time_to_the_microsecond(company):
    issued = dt.datetime(2026, 11, 23, 9, 30, 15, 123457)
    claims = auth.read_session_token(auth.issue_session_token("rep_a", KEY, issued, 30000), KEY)
    assert claims["issued_at"] == issued and claims["username"] == "rep_a"
    # a login a moment after a logout counts, one a moment before does not
    auth.logout_everywhere(company.con, company.actor("rep_a", issued))
    after = issued + dt.timedelta(microseconds=1)
    assert auth.session_user(company.con, "rep_a", after, now=issued) is not None
    assert auth.session_user(company.con, "rep_a", issued - dt.timedelta(microseconds=1), now=issued) is None


def old_format(username: str = "rep_a") -> str:
    """The cookie streamlit-authenticator 0.4.2 makes by itself: username and expiry, no issue time."""
    exp = (dt.datetime.now() + dt.timedelta(days=3)).timestamp()
    return jwt.encode({"username": username, "exp_date": exp}, KEY, algorithm="HS256")


def forged_cookies() -> dict[str, str]:
    exp = time.time() + 86400
    claims = {"username": "boss", "iat": time.time(), "exp": exp, "exp_date": exp}
    header_none = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode()).decode()
    return {
        "old format": old_format("boss"),
        "alg none": f"{header_none}.{body}.",
        "HS512 with the right key": jwt.encode(claims, KEY, algorithm="HS512"),
        "wrong key": jwt.encode(claims, "x" * 64, algorithm="HS256"),
        "garbage": "not-a-token",
        "three dots": "a.b.c",
        "binary": "\x00\xff\ufffd.\x01",
        "iat not a number": jwt.encode({**claims, "iat": "yesterday"}, KEY, algorithm="HS256"),
        "exp_date not a number": jwt.encode({**claims, "exp_date": "never"}, KEY, algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": time.time() - 1, "exp_date": time.time() - 1}, KEY, algorithm="HS256"),
        "no username": jwt.encode({k: v for k, v in claims.items() if k != "username"}, KEY, algorithm="HS256"),
    }


@pytest.mark.parametrize("name", list(forged_cookies()))
def test_an_old_or_forged_cookie_is_no_login_never_an_error_and_leaves_a_log_line(name, caplog):
    token = forged_cookies()[name]
    with caplog.at_level(logging.WARNING, logger="crm.auth"):
        assert auth.read_session_token(token, KEY) is None
    assert any("login cookie refused" in r.getMessage() for r in caplog.records)


def test_the_login_librarys_cookie_uses_the_checked_token():
    """The library's CookieModel, as the app re-classes it, answers False (no login) for any bad cookie
    instead of raising jwt.InvalidAlgorithmError, and decodes its own tokens."""
    from ui.auth import SessionCookie

    cookie = object.__new__(SessionCookie)  # no Streamlit run: the model without its browser component
    cookie.cookie_key = KEY
    for token in forged_cookies().values():
        cookie.token = token
        assert cookie._token_decode() is False
    cookie.token = token_for("rep_a", utcnow())
    assert cookie._token_decode()["username"] == "rep_a"


def test_the_library_methods_the_app_replaces_still_exist():
    """ui.auth replaces these methods of streamlit-authenticator; a new version without them must fail here."""
    from streamlit_authenticator.models import AuthenticationModel, CookieModel

    assert callable(CookieModel._token_encode) and callable(CookieModel._token_decode)
    assert callable(AuthenticationModel.check_credentials)


# ------------------------------------------------------------------------------------ 11. enumeration
def test_unknown_locked_inactive_and_wrong_password_get_the_same_answer(company):
    c = company.con
    settings.set_value(c, company.actor("boss"), "auth.lockout_attempts", 2)
    for _ in range(2):
        with pytest.raises(AuthError):
            auth.authenticate(c, "rep_b", "wrong")
    assert auth.locked_until(c, "rep_b") is not None
    org.update_user(c, company.actor("boss"), company.users["rep_w"], active=False)
    answers = set()
    for username, password in (("nobody", PASSWORD), ("rep_b", PASSWORD), ("rep_b", "wrong"),
                               ("rep_w", PASSWORD), ("rep_a", "wrong")):
        with pytest.raises(AuthError) as err:
            auth.authenticate(c, username, password)
        answers.add((err.value.key, tuple(sorted(err.value.params.items()))))
        assert auth.login(c, username, password) is False
    assert answers == {("auth.failed", ())}


def test_unknown_locked_and_wrong_password_take_about_the_same_time(company, capsys):
    """The answer's time tells nothing either: a bcrypt of the users' cost runs for an unknown name and a
    locked account as for a wrong password (before: 4 ms against 233 ms). The cases are interleaved with
    a bare bcrypt check; on a shared machine load only adds time, so each case is judged by its fastest
    run (the medians are printed too)."""
    c = company.con
    hashed = auth.hash_password(PASSWORD, rounds=10)
    c.execute("UPDATE users SET password_hash = ?", [hashed])
    settings.set_value(c, company.actor("boss"), "auth.lockout_attempts", 100)
    c.execute("UPDATE users SET locked_until = ? WHERE username = 'rep_b'", [utcnow() + dt.timedelta(days=1)])

    def refused(username):
        with pytest.raises(AuthError):
            auth.authenticate(c, username, "Wrong#2026")

    cases = {"wrong password": lambda: refused("rep_a"), "unknown user": lambda: refused("nobody_here"),
             "locked user": lambda: refused("rep_b"), "one bcrypt": lambda: auth.verify_password("Wrong#2026", hashed)}
    refused("nobody_here")  # the dummy hash is made once per process
    times = {case: [] for case in cases}
    for _ in range(15):
        order = list(cases)
        random.shuffle(order)
        for case in order:
            start = time.perf_counter()
            cases[case]()
            times[case].append(time.perf_counter() - start)
    fastest = {case: min(ts) for case, ts in times.items()}
    with capsys.disabled():
        print("\nlogin refusals, ms (fastest / median):",
              {k: (round(fastest[k] * 1000, 1), round(statistics.median(ts) * 1000, 1)) for k, ts in times.items()})
    bcrypt_time = fastest["one bcrypt"]
    assert fastest["wrong password"] > 0.8 * bcrypt_time
    for case in ("unknown user", "locked user"):
        assert abs(fastest[case] - fastest["wrong password"]) < 0.25 * bcrypt_time, fastest


def test_a_lock_mails_the_owner_in_their_language_once(company):
    c = company.con
    org.update_user(c, company.actor("boss"), company.users["rep_a"], email="rep.a@example.cn", language="zh")
    for i in range(7):
        auth.login(c, "rep_a", "wrong", NOW + dt.timedelta(minutes=i))
    mails = c.execute("SELECT to_addr, subject, body, status FROM outbox").fetchall()
    assert len(mails) == 1
    to_addr, subject, body, status = mails[0]
    until = "2026-11-23 17:49 (Asia/Shanghai)"  # 09:49 UTC, told in the company's time zone
    assert to_addr == "rep.a@example.cn" and status == "queued"
    assert subject == translate("zh", "auth.locked_mail_subject", until=until) and "锁定" in subject
    assert "rep_a" in body and until in body and "5" in body


def test_a_lock_of_a_user_without_e_mail_is_seen_by_the_admin(company):
    c = company.con
    for i in range(5):
        auth.login(c, "rep_b", "wrong", NOW + dt.timedelta(minutes=i))
    assert c.execute("SELECT count(*) FROM outbox").fetchall() == [(0,)]
    assert c.execute("SELECT locked_until FROM users WHERE username = 'rep_b'").fetchall() == [
        (NOW + dt.timedelta(minutes=19),)]


# ------------------------------------------------------------------------- 12. surrounding spaces
SPACED = ["SvcNew1234 ", " SvcNew1234", "SvcNew1234\t", "\u3000SvcNew1234", "SvcNew1234\n"]


@pytest.mark.parametrize("password", SPACED)
def test_a_password_beginning_or_ending_with_a_space_is_refused_wherever_it_is_set(company, password):
    c = company.con
    boss = company.actor("boss")
    attempts = [
        lambda: auth.change_password(c, company.actor("rep_a"), PASSWORD, password, password),
        lambda: org.reset_password(c, boss, company.users["rep_b"], password),
        lambda: org.create_user(c, boss, "newbie", "New Bie", "sales", password, team_id=company.teams["east"]),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError) as err:
            attempt()
        assert err.value.key == "auth.password_spaces"
    assert auth.authenticate(c, "rep_a", PASSWORD).username == "rep_a"  # nothing changed


def test_the_first_admin_cannot_get_a_spaced_password(con):
    with pytest.raises(ValidationError) as err:
        setup.create_first_admin(con, "chief", "Chief", "Go#live2026 ")
    assert err.value.key == "auth.password_spaces"


def test_spaces_inside_a_password_are_fine_and_it_logs_in_as_typed(company):
    auth.change_password(company.con, company.actor("rep_a"), PASSWORD, "Two words 2026", "Two words 2026")
    assert auth.authenticate(company.con, "rep_a", "Two words 2026").username == "rep_a"


def test_the_spaces_message_is_in_both_languages():
    en, zh = translate("en", "auth.password_spaces"), translate("zh", "auth.password_spaces")
    assert "space" in en and "空格" in zh
