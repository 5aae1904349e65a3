"""The dashboard page per role (issue 11, points 3 and 5): it renders without exception in English and
Chinese; the manager's cards show the numbers metrics.compute gives; the filters and period in the URL
are applied (a shared link shows the same view); a card's records table lists the rows behind it."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import auth
from core.analytics import metrics as m
from tests.conftest import company_app, logged_in
from tests.integration.test_forecast import add_deal

TODAY = dt.date.today()   # the app runs on the real clock
ROLES = {"admin": "boss", "manager": "mgr", "sales": "rep_a", "marketing": "mkt", "service": "svc"}


@pytest.fixture(scope="module")
def app_db(tmp_path_factory):
    def prepare(con, company):
        add_deal(company, "rep_a", "won", 1500, closed=TODAY, name="Alpha won")
        add_deal(company, "rep_b", "won", 700, closed=TODAY, name="Bravo won")
        add_deal(company, "rep_w", "won", 9000, closed=TODAY, name="West won")
        add_deal(company, "rep_a", "negotiation", 2000, TODAY + dt.timedelta(days=20), name="Alpha open")

    with company_app(tmp_path_factory.mktemp("dash"), prepare) as company:
        yield company


def dashboard(username: str, lang: str | None = None, **query) -> AppTest:
    at = logged_in(username, lang, **query).run()
    at.switch_page("views/dashboard.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def card(at: AppTest, label: str) -> str:
    return [x.value for x in at.metric if x.label == label][0]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("role", list(ROLES))
def test_each_roles_dashboard_renders_in_both_languages(app_db, role, lang):
    at = dashboard(ROLES[role], lang)
    assert at.metric, role
    title = at.title[0].value
    assert title == ("数据看板" if lang == "zh" else "Dashboard")


def _figures(username, filters=None):
    """The metrics layer's figures on the app's own database (the process's cached connection)."""
    from ui.db import database

    c = database().cursor()
    a = auth.actor_for(c, username, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    return {f.key: f for f in m.compute(c, a, m.month_to_date(c, a), filters)}


def test_the_managers_cards_show_the_numbers_of_the_metrics_layer(app_db):
    at = dashboard("mgr")
    figs = _figures("mgr")
    assert figs["won_revenue"].value == 2200           # rep_a + rep_b; West is outside the tree
    assert card(at, "Won revenue") == f"{figs['won_revenue'].value:,.0f}"
    assert card(at, "Deals won") == "2"
    boss = dashboard("boss")
    assert card(boss, "Won revenue") == "11,200"


def test_filters_in_the_url_are_applied_and_kept(app_db):
    rep_a = app_db.users["rep_a"]
    at = dashboard("mgr", owner_id=str(rep_a))
    assert card(at, "Won revenue") == "1,500"
    assert [s for s in at.selectbox if s.label == "Rep"][0].value == rep_a
    assert at.query_params["owner_id"] == [str(rep_a)] or at.query_params["owner_id"] == str(rep_a)
    at = dashboard("mgr", period="last_month")
    assert card(at, "Won revenue") == "0"


def test_a_cards_records_button_opens_the_rows_behind_the_number(app_db):
    at = dashboard("mgr")
    buttons = [b for b in at.button if b.key == "mgr_won_revenue"]
    buttons[0].click().run()
    assert not at.exception, at.exception
    frames = "\n".join(df.value.to_string() for df in at.dataframe)
    assert "Alpha won" in frames and "Bravo won" in frames and "West won" not in frames
