"""Login rules: hashed passwords, lockout, forced password change, sessions that end."""
import datetime as dt

import pytest

from core import auth, config, org, settings
from core.errors import AuthError, ValidationError
from tests.conftest import NOW, PASSWORD


def test_passwords_are_stored_as_bcrypt_hashes_never_in_clear(company):
    stored = company.con.execute("SELECT password_hash FROM users").fetchall()
    assert stored and all(h.startswith("$2") and PASSWORD not in h for (h,) in stored)


def test_five_failed_logins_in_fifteen_minutes_lock_the_account_for_fifteen_minutes(company):
    c = company.con
    for i in range(5):
        assert auth.locked_until(c, "rep_a", NOW + dt.timedelta(minutes=i)) is None
        with pytest.raises(AuthError) as err:
            auth.authenticate(c, "rep_a", "wrong", NOW + dt.timedelta(minutes=i))
        assert err.value.key == "auth.failed"
    assert auth.locked_until(c, "rep_a", NOW + dt.timedelta(minutes=4)) == NOW + dt.timedelta(minutes=19)
    # the right password is refused while locked, with the same answer as a wrong one
    with pytest.raises(AuthError) as err:
        auth.authenticate(c, "rep_a", PASSWORD, NOW + dt.timedelta(minutes=10))
    assert err.value.key == "auth.failed"
    assert auth.authenticate(c, "rep_a", PASSWORD, NOW + dt.timedelta(minutes=20)).username == "rep_a"


def test_failures_spread_over_more_than_the_window_do_not_lock(company):
    for i in range(8):
        with pytest.raises(AuthError) as err:
            auth.authenticate(company.con, "rep_a", "wrong", NOW + dt.timedelta(minutes=4 * i))
        assert err.value.key == "auth.failed"
    assert auth.locked_until(company.con, "rep_a", NOW + dt.timedelta(minutes=29)) is None


def test_a_successful_login_starts_the_failure_count_again(company):
    c = company.con
    for i in range(4):
        with pytest.raises(AuthError):
            auth.authenticate(c, "rep_a", "wrong", NOW + dt.timedelta(minutes=i))
    auth.authenticate(c, "rep_a", PASSWORD, NOW + dt.timedelta(minutes=5))
    with pytest.raises(AuthError) as err:
        auth.authenticate(c, "rep_a", "wrong", NOW + dt.timedelta(minutes=6))
    assert err.value.key == "auth.failed"


def test_the_lockout_rule_follows_the_settings(company):
    settings.set_value(company.con, company.actor("boss"), "auth.lockout_attempts", 2)
    with pytest.raises(AuthError):
        auth.authenticate(company.con, "rep_b", "wrong", NOW)
    assert auth.locked_until(company.con, "rep_b", NOW) is None
    with pytest.raises(AuthError):
        auth.authenticate(company.con, "rep_b", "wrong", NOW)
    assert auth.locked_until(company.con, "rep_b", NOW) is not None


def test_the_login_form_check_counts_failures_and_locks_like_the_api(company):
    c = company.con
    for i in range(5):
        assert auth.login(c, "rep_a", "wrong", NOW + dt.timedelta(minutes=i)) is False
    assert auth.locked_until(c, "rep_a", NOW + dt.timedelta(minutes=5)) == NOW + dt.timedelta(minutes=19)
    assert auth.login(c, "rep_a", PASSWORD, NOW + dt.timedelta(minutes=5)) is False
    locked = auth.credentials(c, NOW + dt.timedelta(minutes=5))["usernames"]["rep_a"]["password"]
    assert not auth.verify_password(PASSWORD, locked)
    assert auth.login(c, " REP_A ", PASSWORD, NOW + dt.timedelta(minutes=20)) is True


def test_inactive_users_get_a_hash_no_password_matches(company):
    org.update_user(company.con, company.actor("boss"), company.users["rep_b"], active=False)
    entry = auth.credentials(company.con)["usernames"]["rep_b"]
    assert not auth.verify_password(PASSWORD, entry["password"])
    with pytest.raises(AuthError):
        auth.authenticate(company.con, "rep_b", PASSWORD)


def test_new_users_must_change_their_initial_password(company):
    row = company.con.execute("SELECT must_change_password FROM users WHERE username = 'rep_a'").fetchall()[0]
    assert row == (True,)
    user = auth.session_user(company.con, "rep_a", NOW, now=NOW)
    assert user["must_change_password"] is True


def test_changing_the_password_clears_the_flag_and_ends_older_sessions(company):
    c = company.con
    me = company.actor("rep_a", NOW)
    before = NOW - dt.timedelta(hours=1)
    assert auth.session_user(c, "rep_a", before, now=NOW) is not None
    auth.change_password(c, me, PASSWORD, "Better#2027", "Better#2027")
    assert auth.session_user(c, "rep_a", before, now=NOW) is None
    after = auth.session_user(c, "rep_a", NOW + dt.timedelta(seconds=1), now=NOW)
    assert after is not None and after["must_change_password"] is False
    assert auth.authenticate(c, "rep_a", "Better#2027").id == me.id


@pytest.mark.parametrize("old,new,repeat,key", [
    ("nope", "Better#2027", "Better#2027", "auth.old_password_wrong"),
    (PASSWORD, "Better#2027", "Better#2028", "auth.passwords_differ"),
    (PASSWORD, PASSWORD, PASSWORD, "auth.password_unchanged"),
    (PASSWORD, "short1", "short1", "auth.password_too_short"),
    (PASSWORD, "onlyletters", "onlyletters", "auth.password_letters_digits"),
])
def test_a_bad_new_password_is_refused_with_its_reason(company, old, new, repeat, key):
    with pytest.raises(ValidationError) as err:
        auth.change_password(company.con, company.actor("rep_a"), old, new, repeat)
    assert err.value.key == key


def test_logout_ends_every_session_of_the_user(company):
    me = company.actor("rep_a", NOW)
    auth.logout_everywhere(company.con, me)
    assert auth.session_user(company.con, "rep_a", NOW - dt.timedelta(seconds=1), now=NOW) is None
    assert auth.session_user(company.con, "rep_b", NOW - dt.timedelta(seconds=1), now=NOW) is not None


def test_deactivating_a_user_ends_their_sessions(company):
    org.update_user(company.con, company.actor("boss"), company.users["rep_a"], active=False)
    assert auth.session_user(company.con, "rep_a", NOW + dt.timedelta(days=1), now=NOW + dt.timedelta(days=1)) is None


def test_an_admin_reset_forces_a_change_and_lifts_a_lockout(company):
    c = company.con
    for i in range(5):
        with pytest.raises(AuthError):
            auth.authenticate(c, "rep_a", "wrong", NOW)
    assert auth.locked_until(c, "rep_a", NOW)
    org.reset_password(c, company.actor("boss"), company.users["rep_a"], "Fresh#2027")
    assert auth.locked_until(c, "rep_a", NOW) is None
    assert auth.authenticate(c, "rep_a", "Fresh#2027", NOW).username == "rep_a"
    assert auth.session_user(c, "rep_a", NOW + dt.timedelta(seconds=1), now=NOW)["must_change_password"] is True


def test_the_cookie_key_is_random_generated_once_and_kept(tmp_path):
    path = tmp_path / "secrets.toml"
    key = config.cookie_key(path)
    assert len(key) >= 32 and config.cookie_key(path) == key
    assert config.cookie_key(tmp_path / "other.toml") != key
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_login_older_than_the_session_days_setting_no_longer_counts(company):
    c = company.con
    assert auth.session_user(c, "rep_a", NOW - dt.timedelta(days=2), now=NOW) is not None
    settings.set_value(c, company.actor("boss"), "auth.session_days", 1)
    assert auth.session_user(c, "rep_a", NOW - dt.timedelta(days=2), now=NOW) is None
    assert auth.session_user(c, "rep_a", NOW - dt.timedelta(hours=23), now=NOW) is not None


def test_language_is_remembered_on_the_user(company):
    auth.set_language(company.con, company.actor("rep_a"), "zh")
    assert company.actor("rep_a").language == "zh"
    with pytest.raises(ValidationError):
        auth.set_language(company.con, company.actor("rep_a"), "fr")


def test_every_account_answers_at_one_bcrypt_cost(company):
    """A hash of another cost (an older default, the demo's) would make that account answer in another
    time than an unknown name: a successful login moves it to the current cost."""
    import bcrypt

    c = company.con
    old = bcrypt.hashpw(b"Older#2026pw", bcrypt.gensalt(rounds=5)).decode()
    c.execute("UPDATE users SET password_hash = ? WHERE username = 'rep_a'", [old])
    assert auth.login(c, "rep_a", "Older#2026pw")
    stored = c.execute("SELECT password_hash FROM users WHERE username = 'rep_a'").fetchall()[0][0]
    assert stored.split("$")[2] == f"{auth.BCRYPT_ROUNDS:02d}" and auth.verify_password("Older#2026pw", stored)


def test_the_demo_hashes_at_the_current_cost(con):
    from core import demo

    demo.build(con, "XS")
    costs = {r[0].split("$")[2] for r in con.execute("SELECT password_hash FROM users").fetchall()}
    assert costs == {f"{auth.BCRYPT_ROUNDS:02d}"}
