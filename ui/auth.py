"""The login gate: streamlit-authenticator draws the form and keeps the cookie; the rules (lockout,
forced password change, sessions that end on logout or password change) are core.auth's."""
from __future__ import annotations

import datetime as dt

import jwt
import streamlit as st
import streamlit_authenticator as stauth

from core import auth, config, settings
from core.context import Actor, utcnow
from core.errors import CRMError
from core.i18n import LANGUAGE_NAMES, LANGUAGES
from ui import errors
from ui.text import md
from ui.i18n import t

COOKIE = "crm_auth"
_STATE_KEYS = ("name", "username", "authentication_status", "email", "roles", "_crm_login_at", "_crm_actor")


@st.cache_resource(show_spinner=False)
def _cookie_key() -> str:
    return config.cookie_key()


def _authenticator(con) -> tuple[stauth.Authenticate, dict, float]:
    creds = auth.credentials(con)
    days = float(settings.get(con, "auth.session_days"))
    authenticator = stauth.Authenticate(
        creds, COOKIE, _cookie_key(), days, auto_hash=False, login_sleep_time=0
    )
    return authenticator, creds, days


def _cookie_issued_at(days: float) -> dt.datetime | None:
    """When the login cookie this browser sent was issued (its expiry less its lifetime)."""
    token = st.context.cookies.get(COOKIE) if st.context.cookies else None
    if not token:
        return None
    try:
        data = jwt.decode(token, _cookie_key(), algorithms=["HS256"])
        issued = float(data["exp_date"]) - days * 86400
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None
    return dt.datetime.fromtimestamp(issued, tz=dt.timezone.utc).replace(tzinfo=None)


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
    current = st.session_state.get("lang", "en")
    choice = st.selectbox(
        t("nav.language"), LANGUAGES, index=LANGUAGES.index(current) if current in LANGUAGES else 0,
        format_func=LANGUAGE_NAMES.get, key=key,
    )
    if choice != current:
        st.session_state["lang"] = choice
        st.rerun()


def _login_page(con, authenticator: stauth.Authenticate, creds: dict) -> None:
    left, right = st.columns([3, 2])
    with right:
        _language_switch("login_lang")
    with left:
        st.title(t("app.title"))
        st.caption(t("app.tagline"))
    notice = st.session_state.pop("_crm_notice", None)
    if notice:
        st.info(t(notice))

    def on_login(event: dict) -> None:
        auth.record_success(con, event["username"])
        st.session_state["_crm_login_at"] = utcnow()

    try:
        authenticator.login(
            location="main",
            fields={"Form name": t("auth.login"), "Username": t("auth.username"), "Password": t("auth.password"),
                    "Login": t("auth.login_button")},
            callback=on_login,
        )
    except stauth.LoginError:
        st.error(t("auth.failed"))
    failed = auth.note_failed_logins(con, creds)
    if failed:
        _username, until = failed
        st.session_state["_crm_login_error"] = (
            ("auth.locked", {"until": until.strftime("%Y-%m-%d %H:%M") + " UTC"}) if until else ("auth.failed", {}))
    elif st.session_state.get("authentication_status") is False and "_crm_login_error" not in st.session_state:
        st.session_state["_crm_login_error"] = ("auth.failed", {})
    if st.session_state.get("authentication_status"):
        st.session_state.pop("_crm_login_error", None)
    elif "_crm_login_error" in st.session_state:  # kept across reruns until the next attempt
        key, params = st.session_state["_crm_login_error"]
        st.error(t(key, **params))
    _demo_hint(con)


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
    navigation of its own Streamlit would list and serve every file of pages/."""
    st.navigation([st.Page(_gate_page, title=t("auth.login"), default=True)], position="hidden")


def _gate_page() -> None:  # the screen itself is drawn by require_login
    return None


def require_login(con) -> Actor:
    """The acting user of this run, or the login page and st.stop()."""
    authenticator, creds, days = _authenticator(con)
    st.session_state["_crm_authenticator"] = authenticator
    if "lang" not in st.session_state:
        st.session_state["lang"] = settings.get(con, "company.default_language")
    if not st.session_state.get("authentication_status"):
        try:  # a valid login cookie logs in without a form (checked against the users table below)
            authenticator.login(location="unrendered")
        except stauth.LoginError:
            pass
    if not st.session_state.get("authentication_status"):
        _gate_only()
        _login_page(con, authenticator, creds)
        if not st.session_state.get("authentication_status"):
            st.stop()
    username = st.session_state.get("username")
    issued = st.session_state.get("_crm_login_at") or _cookie_issued_at(days)
    user = auth.session_user(con, username, issued) if issued else None
    if user is None:
        _end_session(authenticator, "auth.session_ended")
        st.rerun()
    if not st.session_state.get("_crm_lang_loaded") == username:
        st.session_state["lang"] = user["language"]
        st.session_state["_crm_lang_loaded"] = username
    actor = auth.actor_for(con, username)
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
