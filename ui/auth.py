"""The login gate: streamlit-authenticator draws the form and keeps the cookie; the rules (password
check and lockout, forced password change, sessions that end on logout, password change,
deactivation or reset) are core.auth's.

Two parts of the library are replaced by core's, on the objects the library builds itself:
- the password check (`AuthenticationModel.check_credentials`) is `core.auth.login`, which refuses an
  unknown name, a locked or inactive account and a wrong password alike, in about the same time;
- the cookie's token (`CookieModel._token_encode/_token_decode`) is `core.auth.issue_session_token /
  read_session_token`: it carries its issue time, which the server compares with the user's
  `sessions_valid_after` on every run, and a token that does not decode is no login (never an error).
"""
from __future__ import annotations

import dataclasses
import logging
import time

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.models import AuthenticationModel, CookieModel

from core import auth, config, settings
from core.context import Actor, utcnow
from core.errors import CRMError
from core.i18n import LANGUAGE_NAMES, LANGUAGES
from ui import errors
from ui.text import md
from ui.i18n import t

log = logging.getLogger("crm.auth")

COOKIE = "crm_auth"
_STATE_KEYS = ("name", "username", "authentication_status", "email", "roles", "_crm_login_at", "_crm_actor",
               "_crm_lang_loaded")


@st.cache_resource(show_spinner=False)
def _cookie_key() -> str:
    return config.cookie_key()


class SessionCookie(CookieModel):
    """The library's cookie, with core's token: username, issue time and expiry, signed with HS256."""

    def _token_encode(self) -> str:
        issued = st.session_state.get("_crm_login_at") or utcnow()
        return auth.issue_session_token(st.session_state["username"], self.cookie_key, issued,
                                        self.cookie_expiry_days)

    def _token_decode(self) -> dict | bool:
        return auth.read_session_token(self.token, self.cookie_key) or False


class CorePasswordCheck(AuthenticationModel):
    """The library's login, with core's password check (lockout, same answer for every refusal)."""

    crm_con = None

    def check_credentials(self, username: str, password: str) -> bool:
        return auth.login(self.crm_con, username, password)


def _authenticator(con) -> stauth.Authenticate:
    creds = auth.credentials(con)
    days = float(settings.get(con, "auth.session_days"))
    authenticator = stauth.Authenticate(
        creds, COOKIE, _cookie_key(), days, auto_hash=False, login_sleep_time=0
    )
    # the library builds these objects (and mounts its one cookie component) itself: give them core's
    # token and password check without building them again
    authenticator.cookie_controller.cookie_model.__class__ = SessionCookie
    model = authenticator.authentication_controller.authentication_model
    model.__class__ = CorePasswordCheck
    model.crm_con = con
    return authenticator


def _cookie_login(authenticator: stauth.Authenticate) -> None:
    """Log in from the browser's cookie, if it holds a token this server signed; remember when that
    login was issued. A cookie that is no good is ignored for the rest of the session."""
    cookie = authenticator.cookie_controller.cookie_model
    try:
        authenticator.login(location="unrendered")
    except Exception as exc:  # noqa: BLE001 - whatever the library raises about a cookie, it is no login
        log.warning("login cookie refused: %s: %s", type(exc).__name__, exc)
        st.session_state["authentication_status"] = None
    if st.session_state.get("authentication_status"):
        claims = cookie.token if isinstance(cookie.token, dict) else {}
        st.session_state["_crm_login_at"] = claims.get("issued_at")
    elif cookie.token is not None:  # a cookie was sent and refused: don't decode it again on every run
        st.session_state["logout"] = True


def _end_session(authenticator: stauth.Authenticate, notice: str | None) -> None:
    authenticator.authentication_controller.logout()
    try:
        authenticator.cookie_controller.delete_cookie()
    except Exception:  # noqa: BLE001 - no cookie to delete
        pass
    for key in _STATE_KEYS:
        st.session_state.pop(key, None)
    if notice:
        st.session_state["_crm_notice"] = notice


def _language_switch(key: str) -> None:
    """The language of the login page; the one picked here is kept at login and stored on the user."""
    current = st.session_state.get("lang", "en")
    choice = st.selectbox(
        t("nav.language"), LANGUAGES, index=LANGUAGES.index(current) if current in LANGUAGES else 0,
        format_func=LANGUAGE_NAMES.get, key=key,
    )
    if choice != current:
        st.session_state["lang"] = choice
        st.session_state["_crm_lang_picked"] = choice
        st.rerun()


def _login_page(con, authenticator: stauth.Authenticate) -> None:
    left, right = st.columns([3, 2])
    with right:
        _language_switch("login_lang")
    with left:
        st.title(t("app.title"))
        st.caption(t("app.tagline"))
    notice = st.session_state.pop("_crm_notice", None)
    if notice:
        st.info(t(notice))

    def on_login(_event: dict) -> None:  # core.auth.login has counted the success
        st.session_state["_crm_login_at"] = utcnow()

    try:
        authenticator.login(
            location="main",
            fields={"Form name": t("auth.login"), "Username": t("auth.username"), "Password": t("auth.password"),
                    "Login": t("auth.login_button")},
            callback=on_login,
        )
    except CRMError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library's LoginError and the like: a refused login
        log.warning("login refused by the login library: %s: %s", type(exc).__name__, exc)
        st.session_state["authentication_status"] = False
    # a refusal stays on screen across reruns until the next attempt; it never says why (unknown name,
    # locked account or wrong password): the owner of a locked account is told by e-mail
    if st.session_state.get("authentication_status") is False:
        st.error(t("auth.failed"))
    _demo_hint(con)


def _session_language(con, actor: Actor) -> Actor:
    """At login: a language picked on the login page is kept and stored on the user; otherwise the
    user's stored language is the session's."""
    picked = st.session_state.pop("_crm_lang_picked", None)
    if picked in LANGUAGES and picked != actor.language:
        try:
            auth.set_language(con, actor, picked)
            actor = dataclasses.replace(actor, language=picked)
        except CRMError as exc:  # not stored (the session still shows the picked language)
            log.warning("language not stored for %s: %s", actor.username, exc)
    st.session_state["lang"] = picked if picked in LANGUAGES else actor.language
    st.session_state["_crm_lang_loaded"] = actor.username
    return actor


def _demo_hint(con) -> None:
    """While the demo users still have their initial password, the login page says how to log in."""
    from core import demo

    pending = auth.demo_logins_pending(con, [u for u, _r in demo.DEMO_LOGINS])
    if pending:
        with st.expander(t("auth.demo_logins"), expanded=True):
            st.markdown(t("auth.demo_hint", password=demo.DEMO_PASSWORD))
            st.table({t("auth.username"): [u for u, _r in pending], t("auth.role"): [t(f"role.{r}") for _u, r in pending]})


def _password_change(con, actor: Actor, authenticator: stauth.Authenticate) -> bool:
    """The forced password change of a first login. True once changed (in this run)."""
    st.title(t("auth.change_password"))
    st.info(t("auth.must_change"))
    with st.form("forced_password_change"):
        old = st.text_input(t("auth.current_password"), type="password")
        new = st.text_input(t("auth.new_password"), type="password")
        repeat = st.text_input(t("auth.repeat_password"), type="password")
        submitted = st.form_submit_button(t("auth.change_password"), type="primary")
    if submitted:
        try:
            auth.change_password(con, actor, old, new, repeat)
        except CRMError as exc:
            errors.show(exc)
            return False
        password_changed(authenticator)
        st.success(t("auth.password_changed"))
        return True
    return False


def password_changed(authenticator: stauth.Authenticate | None = None) -> None:
    """This session survives its own password change: it is re-issued after it, with a new cookie."""
    st.session_state["_crm_login_at"] = utcnow()
    authenticator = authenticator or st.session_state.get("_crm_authenticator")
    if authenticator is not None:
        authenticator.cookie_controller.set_cookie()


def _gate_only() -> None:
    """Before login (and before a forced password change) no page but this screen exists: without a
    navigation of its own Streamlit would list and serve every file of a pages/ folder (this app has none: its screens live in views/)."""
    st.navigation([st.Page(_gate_page, title=t("auth.login"), default=True)], position="hidden")


def _gate_page() -> None:  # the screen itself is drawn by require_login
    return None


def require_login(con) -> Actor:
    """The acting user of this run, or the login page and st.stop()."""
    authenticator = _authenticator(con)
    st.session_state["_crm_authenticator"] = authenticator
    if "lang" not in st.session_state:
        st.session_state["lang"] = settings.get(con, "company.default_language")
    if not st.session_state.get("authentication_status"):
        _cookie_login(authenticator)  # checked against the users table below
    if not st.session_state.get("authentication_status"):
        _gate_only()
        _login_page(con, authenticator)
        if not st.session_state.get("authentication_status"):
            st.stop()
        # logged in by the form in this run: start a clean run, so the filled-in login form does not
        # stay on screen above the first page (or above the forced password change). The cookie was
        # handed to the browser while the form ran.
        time.sleep(0.3)
        st.rerun()
    username = st.session_state.get("username")
    user = auth.session_user(con, username, st.session_state.get("_crm_login_at"))
    if user is None:
        _end_session(authenticator, "auth.session_ended")
        st.rerun()
    actor = auth.actor_for(con, username)
    if st.session_state.get("_crm_lang_loaded") != username:
        actor = _session_language(con, actor)
    if user["must_change_password"]:
        if not _password_change(con, actor, authenticator):
            _gate_only()
            st.stop()
    return actor


def sidebar(con, actor: Actor) -> None:
    """Who is logged in, the language switch (remembered on the user) and logout."""
    authenticator = st.session_state.get("_crm_authenticator")
    with st.sidebar:
        st.markdown(f"**{md(actor.name)}**  \n{t('role.' + actor.role)}")
        current = st.session_state.get("lang", "en")
        choice = st.selectbox(
            t("nav.language"), LANGUAGES, index=LANGUAGES.index(current),
            format_func=LANGUAGE_NAMES.get, key="sidebar_lang",
        )
        if choice != current:
            with errors.handled():
                auth.set_language(con, actor, choice)
                st.session_state["lang"] = choice
                st.rerun()
        if st.button(t("auth.logout"), key="crm_logout", width="stretch"):
            with errors.handled():
                auth.logout_everywhere(con, actor)
            _end_session(authenticator, "auth.logged_out")
            st.rerun()
