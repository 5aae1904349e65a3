"""Shared fixtures: a migrated DuckDB and a small company built through the services themselves."""
from __future__ import annotations

import datetime as dt
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import auth, customers, db, org, setup  # noqa: E402
from core.context import Actor  # noqa: E402

PASSWORD = "Start#2026"
NOW = dt.datetime(2026, 11, 23, 9, 30)


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch):
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def con():
    c = db.connect(":memory:")
    setup.prepare(c)
    yield c
    c.close()


@dataclass
class Company:
    con: object
    teams: dict
    users: dict          # username -> id
    customers: dict      # label -> id

    def actor(self, username: str, now: dt.datetime = NOW) -> Actor:
        return auth.actor_for(self.con, username, now)


def build_company(c) -> Company:
    """Sales > East > East-Shanghai, Sales > West, Marketing, Service; one admin, one manager of East,
    reps in East, East-Shanghai and West, a marketer and a service agent; a customer of each rep and
    one in each of the East and West shared pools."""
    admin_id = setup.create_first_admin(c, "boss", "Boss Admin", PASSWORD, now=NOW)
    admin = auth.actor_for(c, "boss", NOW)
    teams = {}
    teams["sales"] = org.create_team(c, admin, "Sales")
    teams["east"] = org.create_team(c, admin, "East", teams["sales"], region="East")
    teams["shanghai"] = org.create_team(c, admin, "East - Shanghai", teams["east"])
    teams["west"] = org.create_team(c, admin, "West", teams["sales"], region="West")
    teams["marketing"] = org.create_team(c, admin, "Marketing")
    teams["service"] = org.create_team(c, admin, "Service")
    users = {"boss": admin_id}
    users["mgr"] = org.create_user(c, admin, "mgr", "Mia Manager", "manager", PASSWORD, team_id=teams["east"])
    for name, team in (("rep_a", "east"), ("rep_b", "east"), ("rep_sh", "shanghai"), ("rep_w", "west")):
        users[name] = org.create_user(c, admin, name, name.upper(), "sales", PASSWORD, team_id=teams[team],
                                      manager_id=users["mgr"])
    users["mkt"] = org.create_user(c, admin, "mkt", "Max Marketing", "marketing", PASSWORD, team_id=teams["marketing"])
    users["svc"] = org.create_user(c, admin, "svc", "Sue Service", "service", PASSWORD, team_id=teams["service"])
    company = Company(c, teams, users, {})
    phones = iter(f"1380013{n:04d}" for n in range(1000))
    for rep in ("rep_a", "rep_b", "rep_sh", "rep_w"):
        company.customers[rep] = customers.create_customer(
            c, company.actor(rep), {"name": f"Customer of {rep}", "phone": next(phones), "province": "上海"})
    for team in ("east", "west"):
        company.customers[f"pool_{team}"] = customers.create_customer(
            c, admin, {"name": f"Pool customer {team}", "phone": next(phones)}, owner_id=None, team_id=teams[team])
    return company


@pytest.fixture
def company(con) -> Company:
    return build_company(con)


@contextmanager
def company_app(folder: Path, prepare=None):
    """The small company on a database file the app under test opens (CRM_DB, CRM_SECRETS point at
    `folder`); `prepare(con, company)` runs before the file is handed over. Yields the company."""
    import streamlit as st

    path = folder / "crm.duckdb"
    c = db.connect(path)
    setup.prepare(c)
    company = build_company(c)
    c.execute("UPDATE users SET must_change_password = FALSE")
    if prepare:
        prepare(c, company)
    c.close()
    mp = pytest.MonkeyPatch()
    mp.setenv("CRM_DB", str(path))
    mp.setenv("CRM_SECRETS", str(folder / "secrets.toml"))
    mp.setenv("CRM_SCHEDULER", "off")  # no background jobs under AppTest (tests run the jobs themselves)
    st.cache_resource.clear()
    try:
        yield company
    finally:
        st.cache_resource.clear()
        mp.undo()


def logged_in(username: str, lang: str | None = None, **query):
    """The app (app.py under AppTest) with `username` logged in, as a login would leave the session;
    `lang` as picked, `query` as the URL's parameters. Not run yet."""
    from streamlit.testing.v1 import AppTest

    from core.context import utcnow

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["name"] = username
    at.session_state["_crm_login_at"] = utcnow()
    if lang:
        at.session_state["lang"] = lang
        at.session_state["_crm_lang_loaded"] = username
    for key, value in query.items():
        at.query_params[key] = value
    return at
