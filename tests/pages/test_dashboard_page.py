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
ENTERED = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=30)
ROLES = {"admin": "boss", "manager": "mgr", "sales": "rep_a", "marketing": "mkt", "service": "svc"}


@pytest.fixture(scope="module")
def app_db(tmp_path_factory):
    def prepare(con, company):
        ids = [add_deal(company, "rep_a", "won", 1500, closed=TODAY, name="Alpha won"),
               add_deal(company, "rep_b", "won", 700, closed=TODAY, name="Bravo won"),
               add_deal(company, "rep_w", "won", 9000, closed=TODAY, name="West won"),
               add_deal(company, "rep_a", "negotiation", 2000, TODAY + dt.timedelta(days=20), name="Alpha open")]
        # the stage history the funnel reads (every deal entered the pipeline this month)
        paths = (("prospecting", "proposal", "won"), ("prospecting", "won"), ("prospecting", "won"),
                 ("prospecting", "qualification", "negotiation"))
        for deal_id, path in zip(ids, paths):
            prev = None
            for i, stage in enumerate(path):
                con.execute("INSERT INTO deal_stage_history (id, deal_id, from_stage, to_stage, changed_at) "
                            "VALUES ((SELECT coalesce(max(id), 0) + 1 FROM deal_stage_history), ?, ?, ?, ?)",
                            [deal_id, prev, stage, ENTERED + dt.timedelta(minutes=i)])
                prev = stage
        # leads of this month: rep_a's two (one converted), rep_w's one (outside the manager's tree)
        for i, (owner, converted) in enumerate((("rep_a", True), ("rep_a", False), ("rep_w", False))):
            uid = company.users[owner]
            con.execute("INSERT INTO leads (id, name, status, owner_id, team_id, converted_customer_id, converted_at, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, (SELECT team_id FROM users WHERE id = ?), ?, ?, "
                        "?, ?)", [9000 + i, f"Lead {owner} {i}", "converted" if converted else "new", uid, uid,
                                  company.customers.get(owner) if converted else None,
                                  ENTERED if converted else None, ENTERED, ENTERED])

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


def _deal_funnel(username):
    from core import pipelines
    from core.analytics import funnel
    from ui.db import database

    c = database().cursor()
    a = auth.actor_for(c, username, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    return funnel.deal_funnel(c, a, pipelines.default_pipeline(c), m.month_to_date(c, a))


def _chart(at: AppTest, key_start: str) -> dict:
    import json

    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart") if el.proto.id and key_start in el.proto.id]
    assert specs, key_start
    return specs[0]["data"][0]


def test_the_managers_dashboard_shows_the_deal_funnel_of_the_funnel_module(app_db):
    at = dashboard("mgr")
    fn = _deal_funnel("mgr")
    # rep_a's and rep_b's three deals (West is outside the manager's tree); won is the last step
    assert dict(zip(fn["stage"], fn["reached"])) == {"prospecting": 3, "qualification": 1, "proposal": 1,
                                                     "negotiation": 1, "won": 2}
    trace = _chart(at, "dash_deal_funnel")
    assert trace["type"] == "funnel"
    assert trace["x"] == fn["reached"].to_list() and trace["customdata"] == fn["stage"].to_list()
    assert trace["y"][0] == "Prospecting"
    # the label: reached, conversion to the next step, drop-off
    assert trace["text"][0] == "3 reached · 100.0 % to next · 0 dropped"
    assert trace["text"][-1] == "2 reached"
    assert [s.label for s in at.selectbox if s.label == "Pipeline"]
    zh = dashboard("mgr", "zh")
    assert _chart(zh, "dash_deal_funnel")["y"][0] == "初步接洽"


def test_a_funnel_steps_records_are_the_deals_behind_its_count(app_db):
    from ui import dashboard as ui

    at = dashboard("mgr")
    fn = _deal_funnel("mgr")
    at.session_state[ui.DRILL] = {"key": "funnel_deal", "title": "Prospecting", "narrow": {}, "period": None,
                                  "page": 0, "funnel": {"which": "deal", "stage": "prospecting", "pipeline_id": 1}}
    at.run()
    assert not at.exception, at.exception
    reached = fn.filter(fn["stage"] == "prospecting")["reached"][0]
    assert any(x.value.startswith(f"{reached} records") for x in at.caption)
    frames = "\n".join(df.value.to_string() for df in at.dataframe)
    assert "Alpha open" in frames and "Bravo won" in frames and "West won" not in frames


def test_a_lead_funnel_steps_records_agree_with_its_count(app_db):
    from core.analytics import funnel
    from ui import dashboard as ui
    from ui.db import database

    c = database().cursor()
    a = auth.actor_for(c, "mgr", dt.datetime.now(dt.UTC).replace(tzinfo=None))
    reached = funnel.lead_funnel(c, a, m.month_to_date(c, a))["reached"][0]
    assert reached == 2   # rep_a's two; rep_w's is outside the manager's tree
    at = dashboard("mgr")
    at.session_state[ui.DRILL] = {"key": "funnel_lead", "title": "Leads", "narrow": {}, "period": None,
                                  "page": 0, "funnel": {"which": "lead", "stage": "leads", "pipeline_id": None}}
    at.run()
    assert not at.exception, at.exception
    assert any(x.value.startswith(f"{reached} record") for x in at.caption), [x.value for x in at.caption]
    frames = "\n".join(df.value.to_string() for df in at.dataframe)
    assert "Lead rep_a 0" in frames and "Lead rep_a 1" in frames and "rep_w" not in frames
