"""The report builder page (issue 12, point 4) per role, in English and Chinese: it renders without
exception; a manager builds a report (deals by owner), sees its chart and table, saves it shared with the
team and pins it to the reps' dashboard; a rep opening that shared report (from the list, a link, or the
dashboard) sees only the rep's own rows; a table row opens the records behind it."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import company_app, logged_in
from tests.integration.test_forecast import add_deal

TODAY = dt.date.today()
ROLES = {"admin": "boss", "manager": "mgr", "sales": "rep_a", "marketing": "mkt", "service": "svc"}


@pytest.fixture(scope="module")
def app_db(tmp_path_factory):
    def prepare(con, company):
        add_deal(company, "rep_a", "won", 1500, closed=TODAY, name="Alpha won")
        add_deal(company, "rep_a", "negotiation", 900, TODAY + dt.timedelta(days=20), name="Alpha open")
        add_deal(company, "rep_b", "won", 700, closed=TODAY, name="Bravo won")
        add_deal(company, "rep_b", "lost", 300, closed=TODAY, name="Bravo lost")
        add_deal(company, "rep_w", "lost", 9000, closed=TODAY, name="West lost")

    with company_app(tmp_path_factory.mktemp("reports"), prepare) as company:
        yield company


def page(username: str, lang: str | None = None, **query) -> AppTest:
    at = logged_in(username, lang, **query).run()
    at.switch_page("views/reports.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def select(at: AppTest, key: str, value) -> AppTest:
    at.selectbox(key=key).set_value(value).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def frames(at: AppTest) -> str:
    return "\n".join(df.value.to_string() for df in at.dataframe)


def save(at: AppTest, name: str, share_label: str) -> AppTest:
    next(w for w in at.text_input if w.label == "Report name").set_value(name)
    next(w for w in at.selectbox if w.label == "Shared with").set_value(
        {"Only me": "private", "My team": "team", "Everyone": "all"}[share_label])
    next(b for b in at.button if b.label == "Save report").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def saved_id(username: str, name: str) -> int:
    from core import auth
    from core.analytics import reports
    from core.context import utcnow
    from ui.db import database

    c = database().cursor()
    return reports.by_name(c, auth.actor_for(c, username, utcnow()), name)["id"]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("role", list(ROLES))
def test_the_report_builder_renders_for_every_role_in_both_languages(app_db, role, lang):
    at = page(ROLES[role], lang)
    assert at.title[0].value == ("报表构建器" if lang == "zh" else "Report builder")
    # the default report (the first object the role may group by) draws a table of its result
    assert at.dataframe, role


def test_a_manager_builds_deals_by_owner_and_sees_the_teams_rows_only(app_db):
    at = page("mgr")
    select(at, "rb_obj", "deals")
    select(at, "rb_d0", "owner")
    result = at.dataframe[-1].value
    assert dict(zip(result["Owner"], result["Count"])) == {"REP_A": 2, "REP_B": 2}   # West is outside the tree
    assert at.get("plotly_chart"), "the bar chart is drawn beside the table"


def test_a_saved_team_report_opened_by_a_rep_shows_only_the_reps_rows(app_db):
    at = page("mgr")
    select(at, "rb_obj", "deals")
    select(at, "rb_d0", "owner")
    select(at, "rb_a1", "sum")
    select(at, "rb_f1", "amount")
    save(at, "Deals by owner", "My team")
    assert any("Deals by owner" in s.value for s in at.success)
    rid = saved_id("mgr", "Deals by owner")

    # the rep: the report is in the list, and opened it runs under the rep's own scope
    rep = page("rep_a")
    listed = rep.dataframe[0].value
    assert "Deals by owner" in listed.iloc[:, 0].tolist()
    rep = page("rep_a", report=str(rid))
    assert any("Deals by owner" in s.value for s in rep.subheader)
    result = rep.dataframe[-1].value
    assert result["Owner"].tolist() == ["REP_A"]
    assert result.iloc[0].tolist()[1:] == [2, 2400]
    assert "REP_B" not in frames(rep)
    # a rep may not pin or delete the manager's report, but may save a copy
    assert not [b for b in rep.button if b.key in ("rb_pin", "rb_delete")]

    # the rep of another team does not see the team's report at all
    west = page("rep_w")
    assert "Deals by owner" not in frames(west)


def test_a_pinned_report_shows_on_the_reps_dashboard_with_the_reps_rows(app_db):
    at = page("mgr")
    select(at, "rb_obj", "deals")
    select(at, "rb_d0", "stage")
    select(at, "rb_chart", "table")
    save(at, "Deals by stage", "My team")
    select(at, "rb_pin_to", "rep")
    next(b for b in at.button if b.key == "rb_pin").click()
    at.run()
    assert not at.exception and not at.error
    assert any("pinned" in s.value for s in at.success)

    dash = logged_in("rep_a").run()
    dash.switch_page("views/dashboard.py").run()
    assert not dash.exception, dash.exception
    assert "Pinned reports" in [s.value for s in dash.subheader]
    assert any("Deals by stage" in m.value for m in dash.markdown)
    shown = frames(dash)
    # the stages by name; West's and REP_B's lost deals are not the rep's
    assert "Won" in shown and "Negotiation" in shown and "Lost" not in shown
    # the manager's own dashboard (managers) does not carry the pin made for the reps
    mgr = logged_in("mgr").run()
    mgr.switch_page("views/dashboard.py").run()
    assert "Pinned reports" not in [s.value for s in mgr.subheader]


def test_picking_a_row_opens_the_records_behind_it(app_db):
    at = page("mgr")
    select(at, "rb_obj", "deals")
    select(at, "rb_d0", "owner")
    table = at.dataframe[-1]
    rows = table.value["Owner"].tolist()
    # select REP_A's row in the result table (the selection state as the browser sends it)
    at.session_state[table.key] = {"selection": {"rows": [rows.index("REP_A")], "columns": []}}
    at.run()
    assert not at.exception, at.exception
    assert any("Records behind" in s.value for s in at.subheader)
    assert "Alpha won" in frames(at) and "Alpha open" in frames(at) and "Bravo won" not in frames(at)


def test_a_ratio_of_two_measures_won_over_closed_deals(app_db):
    at = page("mgr")
    select(at, "rb_obj", "deals")
    select(at, "rb_d0", "owner")
    select(at, "rb_w0", "won")
    select(at, "rb_a1", "count")
    select(at, "rb_w1", "closed")
    at.checkbox(key="rb_ratio").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = at.dataframe[-1].value.set_index("Owner")
    ratio = [col for col in result.columns if "/" in col or "÷" in col or "ratio" in col.lower()]
    assert ratio, list(result.columns)
    # REP_A: one won of one closed (the open deal is not closed); REP_B: one won of two closed
    assert result.loc["REP_A", ratio[0]] == 1.0 and result.loc["REP_B", ratio[0]] == 0.5


@pytest.mark.parametrize("lang, monday", [("en", "Mon"), ("zh", "周一")])
def test_day_of_week_buckets_read_as_weekday_names(app_db, lang, monday):
    at = page("mgr", lang)
    select(at, "rb_obj", "deals")
    select(at, "rb_d0", "created_at")
    select(at, "rb_b0", "dow")
    result = at.dataframe[-1].value
    assert result.iloc[:, 0].tolist() == [monday]        # every deal was created on Monday 2026-11-23
    assert result.iloc[0, 1] == 4


def test_a_filter_narrows_the_rows_counted(app_db):
    at = page("mgr")
    select(at, "rb_obj", "deals")
    select(at, "rb_d0", "owner")
    select(at, "rb_ff", "amount")
    select(at, "rb_fo_amount", "gte")
    at.number_input(key="rb_fv_num_amount").set_value(1000).run()
    next(b for b in at.button if b.key == "rb_fadd").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = at.dataframe[-1].value
    assert dict(zip(result["Owner"], result["Count"])) == {"REP_A": 1}   # Alpha won (1,500); the rest is smaller


def test_choice_values_read_as_their_names_in_the_users_language(app_db):
    at = page("mgr", "zh")
    select(at, "rb_obj", "deals")
    select(at, "rb_d0", "stage")
    stages = at.dataframe[-1].value.iloc[:, 0].tolist()
    assert sorted(stages) == sorted(["赢单", "谈判审核", "输单"])     # won, negotiation, lost (REP_B's)


def test_marketing_keeps_the_customers_behind_a_row_as_a_segment(app_db):
    from core import auth, segments
    from core.context import utcnow
    from ui.db import database

    at = page("mkt")
    select(at, "rb_obj", "customers")
    select(at, "rb_d0", "owner")
    table = at.dataframe[-1]
    owners = table.value["Owner"].tolist()
    at.session_state[table.key] = {"selection": {"rows": [owners.index("REP_A")], "columns": []}}
    at.run()
    assert not at.exception and not at.error
    next(w for w in at.text_input if w.label == "Segment name").set_value("Customers of A")
    next(b for b in at.button if b.label == "Save as a segment").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Customers of A" in s.value for s in at.success)
    c = database().cursor()
    mkt = auth.actor_for(c, "mkt", utcnow())
    listed = segments.segments(c, mkt)
    sid = listed.filter(listed["name"] == "Customers of A")["id"][0]
    members, total = segments.members(c, mkt, sid)
    assert total == 1 and members["name"].to_list() == ["Customer of rep_a"]
