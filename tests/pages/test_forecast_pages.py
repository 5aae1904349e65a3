"""The forecast and targets pages per role: a rep sees only own deals and targets and no form to set
one; a manager sees the team tree (not West) and sets a target for a rep; the admin sees every team;
the pages speak Chinese."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import db, targets
from tests.conftest import company_app, logged_in
from tests.integration.test_forecast import add_deal

TODAY = dt.date.today()   # the app runs on the real clock
SOON = TODAY + dt.timedelta(days=20)


@pytest.fixture(scope="module")
def app_db(tmp_path_factory):
    def prepare(con, company):
        add_deal(company, "rep_a", "negotiation", 2000, SOON, name="Alpha expansion")
        add_deal(company, "rep_b", "proposal", 900, SOON, name="Bravo pilot")
        add_deal(company, "rep_w", "negotiation", 7000, SOON, name="West big deal")
        add_deal(company, "rep_a", "won", 1500, closed=TODAY, name="Alpha won")
        boss = company.actor("boss", dt.datetime.now())
        targets.set_target(con, boss, ("month", TODAY), "won_amount", 3000, user_id=company.users["rep_a"])
        targets.set_target(con, boss, ("month", TODAY), "won_amount", 5000, user_id=company.users["rep_b"])

    with company_app(tmp_path_factory.mktemp("forecast"), prepare) as company:
        yield company


def page(username: str, path: str, lang: str | None = None) -> AppTest:
    at = logged_in(username, lang).run().switch_page(path).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def shown_text(at: AppTest) -> str:
    frames = [df.value.to_string() for df in at.dataframe]
    return "\n".join(frames + [m.value for m in at.markdown] + [c.value for c in at.caption])


def test_a_rep_forecast_shows_only_own_deals(app_db):
    at = page("rep_a", "views/forecast.py")
    text = shown_text(at)
    assert "Alpha expansion" in text and "REP_A" in text
    assert "Bravo pilot" not in text and "West big deal" not in text and "REP_B" not in text
    assert not [s for s in at.selectbox if s.label == "Team"]   # nothing to choose: own deals only
    assert at.get("plotly_chart")


def test_a_manager_forecast_shows_the_team_tree_not_west(app_db):
    at = page("mgr", "views/forecast.py")
    text = shown_text(at)
    assert "Alpha expansion" in text and "Bravo pilot" in text and "REP_B" in text
    assert "West big deal" not in text and "REP_W" not in text
    assert [s for s in at.selectbox if s.label == "Team"][0].value == app_db.teams["east"]


def test_the_admin_forecast_shows_every_team(app_db):
    text = shown_text(page("boss", "views/forecast.py"))
    assert "West big deal" in text and "REP_W" in text


def test_a_rep_reads_own_attainment_and_cannot_set_targets(app_db):
    at = page("rep_a", "views/targets.py")
    text = shown_text(at)
    assert "REP_A" in text and "REP_B" not in text
    assert not [b for b in at.button if b.label == "Save"]
    assert not [h for h in at.subheader if h.value == "Set a target"]


def test_a_manager_sets_a_target_for_a_rep_from_the_page(app_db):
    at = page("mgr", "views/targets.py")
    assert "REP_B" in shown_text(at) and "REP_W" not in shown_text(at)
    who = [s for s in at.selectbox if s.label == "Who"][0]
    assert ("user", app_db.users["rep_w"]) not in who.options and ("user", app_db.users["mgr"]) not in who.options
    who.set_value(("user", app_db.users["rep_sh"]))
    [s for s in at.selectbox if s.label == "Metric"][0].set_value("activities")
    [n for n in at.number_input if n.label == "Target value"][0].set_value(25.0)
    [b for b in at.button if b.label == "Save"][0].click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Target saved" in s.value for s in at.success)
    from ui.db import database  # the app holds the file: read through its own connection

    cur = database().cursor()
    got = db.rows(cur, "SELECT user_id, metric, value::DOUBLE AS value, set_by FROM targets WHERE metric = 'activities'")
    assert got == [{"user_id": app_db.users["rep_sh"], "metric": "activities", "value": 25.0,
                    "set_by": app_db.users["mgr"]}]


def test_the_pages_speak_chinese(app_db):
    at = page("mgr", "views/forecast.py", lang="zh")
    assert at.title[0].value == "销售预测"
    at = page("mgr", "views/targets.py", lang="zh")
    assert at.title[0].value == "业绩目标"
