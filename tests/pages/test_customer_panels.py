"""The customer record's panels (ui/customer_panels.py) as their users meet them: log a follow-up and see
it on the timeline at once, an overdue follow-up stands out, bad values are told naming the field, user
text shows as typed, contacts are added (a phone held elsewhere is refused with its holder), roles that
may only read get no forms, and Chinese users read Chinese. The panels run in a small page of their own
here, as the customer record page calls them."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import activities, clock, contacts, customers
from core.context import utcnow
from tests.conftest import company_app

PAGE = '''
import streamlit as st
from core import auth
from ui import customer_panels, errors, forms
from ui.session import con

c = con()
st.session_state["lang"] = st.session_state.get("_test_lang", "en")
me = auth.actor_for(c, st.session_state["_test_user"])
cid = st.session_state["_test_cid"]
forms.show_flash()
with errors.handled():
    customer_panels.followup_form(c, me, cid)
with errors.handled():
    customer_panels.timeline(c, me, cid)
with errors.handled():
    customer_panels.contacts(c, me, cid)
'''
DAY = dt.timedelta(days=1)


@pytest.fixture
def panels(tmp_path):
    def prepare(con, company):
        rep = company.actor("rep_a", utcnow())
        cid = company.customers["rep_a"]
        activities.log_followup(con, rep, cid, kind="call", subject="<b>Intro</b> **call** [x](http://e.vil)",
                                outcome="connected", occurred_at=utcnow() - 3 * DAY,
                                next_followup_at=utcnow() - 2 * DAY)
        contacts.create_contact(con, rep, cid, {"name": "Zhang San", "title": "CTO", "phone": "13900001111"})
        customers.update_customer(con, rep, cid, {"city": "Hangzhou", "stage": "intent"})

    script = tmp_path / "panels_page.py"
    script.write_text(PAGE)
    with company_app(tmp_path, prepare) as company:
        yield company, script


def open_as(script, company, username: str, customer: str = "rep_a", lang: str = "en") -> AppTest:
    at = AppTest.from_file(str(script), default_timeout=30)
    at.session_state["_test_user"] = username
    at.session_state["_test_cid"] = company.customers[customer]
    at.session_state["_test_lang"] = lang
    return at.run()


def read(sql, params=None):
    from ui.db import database

    return database().cursor().execute(sql, params or []).fetchall()


def problems(at) -> list[str]:
    """Error messages other than the overdue follow-up's."""
    return [e.value for e in at.error if e.icon != ":material/alarm:"]


def widget(items, label):
    return next(w for w in items if w.label == label)


def test_a_rep_logs_a_followup_and_sees_it_on_the_timeline_at_once(panels):
    company, script = panels
    at = open_as(script, company, "rep_a")
    assert not at.exception and len(at.error) == 1  # the overdue reminder (see below), nothing else
    widget(at.selectbox, "Kind *").set_value("visit")
    widget(at.selectbox, "Outcome").set_value("met")
    widget(at.text_input, "Subject").input("Visited the plant")
    widget(at.text_area, "Notes").input("Met the plant manager.\nWants a demo.")
    tomorrow_10 = dt.datetime.combine(clock.local_today(_con(), utcnow()) + DAY, dt.time(10))
    widget(at.datetime_input, "Next follow-up").set_value(tomorrow_10)
    widget(at.button, "Log follow-up").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Follow-up logged."]
    cid = company.customers["rep_a"]
    kind, subject, next_at = read("SELECT kind, subject, next_followup_at FROM activities WHERE customer_id = ? "
                                  "ORDER BY id DESC LIMIT 1", [cid])[0]
    assert (kind, subject) == ("visit", "Visited the plant")
    assert read("SELECT next_followup_at FROM customers WHERE id = ?", [cid])[0][0] == next_at
    assert clock.to_local(_con(), next_at) == tomorrow_10  # typed in company time, stored in UTC
    heads = [m.value.split(" · ")[0] for m in at.markdown if " · " in m.value]
    assert heads.index(":material/directions_walk: **Visit**") < heads.index(":material/call: **Call**")
    texts = [t.value for t in at.text]
    assert "Visited the plant" in texts and "Met the plant manager.\nWants a demo." in texts
    assert f"Met the decision maker · Next follow-up: {tomorrow_10:%Y-%m-%d %H:%M}" in texts
    assert any(f"{tomorrow_10:%Y-%m-%d %H:%M}" in i.value.replace("\\", "") for i in at.info)
    assert not at.error  # the overdue reminder was replaced by the new date
    assert widget(at.text_input, "Subject").value == ""  # a fresh form


def _con():
    from ui.db import database

    return database().cursor()


def test_an_overdue_followup_stands_out_until_it_is_answered(panels):
    company, script = panels
    at = open_as(script, company, "rep_a")
    assert "overdue" in at.error[0].value.lower()
    assert any(":red-badge[" in m.value and "Overdue" in m.value for m in at.markdown)
    widget(at.selectbox, "Outcome").set_value("no_answer")
    widget(at.button, "Log follow-up").click()
    at.run()
    assert not at.error and not any(":red-badge[" in m.value for m in at.markdown)
    assert any("No next follow-up planned" in c.value for c in at.caption)


@pytest.mark.parametrize("fill, message", [
    ({}, "Write a subject, notes or an outcome"),
    ({"When *": 5}, "When cannot be more than a day from now."),
    ({"Next follow-up": -5, "Subject": "x"}, "Next follow-up cannot be before the follow-up itself."),
])
def test_bad_values_are_told_naming_the_field_and_nothing_is_logged(panels, fill, message):
    company, script = panels
    at = open_as(script, company, "rep_a")
    before = read("SELECT count(*) FROM activities")[0][0]
    now_local = clock.to_local(_con(), utcnow()).replace(second=0, microsecond=0)
    for label, value in fill.items():
        if isinstance(value, int):
            widget(at.datetime_input, label).set_value(now_local + value * DAY)
        else:
            widget(at.text_input, label).input(value)
    widget(at.button, "Log follow-up").click()
    at.run()
    assert not at.exception
    assert any(message in e.replace("\\", "") for e in problems(at)), problems(at)
    assert read("SELECT count(*) FROM activities")[0][0] == before


def test_what_users_typed_shows_as_typed(panels):
    company, script = panels
    at = open_as(script, company, "rep_a")
    assert "<b>Intro</b> **call** [x](http://e.vil)" in [t.value for t in at.text]


def test_a_contact_is_added_and_a_phone_held_elsewhere_is_refused_with_its_holder(panels):
    company, script = panels
    at = open_as(script, company, "rep_a")
    assert at.dataframe[0].value["Name"].tolist() == ["Zhang San"]
    widget(at.text_input, "Name *").input("Li Si")
    widget(at.text_input, "Phone").input("13800130003")  # rep_w's customer's phone (conftest)
    widget(at.button, "Create").click()
    at.run()
    assert not at.exception
    assert any("REP\\_W (West)" in e for e in problems(at)), problems(at)
    widget(at.text_input, "Phone").input("13900002222")
    widget(at.button, "Create").click()
    at.run()
    assert not at.exception and not problems(at), problems(at)
    assert any("Li Si" in s.value for s in at.success)
    assert sorted(at.dataframe[0].value["Name"].tolist()) == ["Li Si", "Zhang San"]


def test_roles_that_may_only_read_get_no_forms(panels):
    company, script = panels
    at = open_as(script, company, "mkt")  # views customers, may not log follow-ups or edit contacts
    assert not at.exception and not problems(at)
    assert not [b for b in at.button if b.label in ("Log follow-up", "Create")]
    captions = [c.value for c in at.caption]
    assert any("not log follow-ups" in c for c in captions) and any("not change them" in c for c in captions)
    assert "Campaigns" in at.pills[0].options and "Tickets" not in at.pills[0].options


def test_a_customer_out_of_scope_shows_not_found_without_a_trace(panels):
    company, script = panels
    at = open_as(script, company, "rep_w")
    assert not at.exception
    assert len(at.error) == 3 and all("not found" in e.value.lower() for e in at.error)


def test_the_timeline_filters_by_kind(panels):
    company, script = panels
    at = open_as(script, company, "rep_a")
    assert any("**Call**" in m.value for m in at.markdown)
    at.pills[0].set_value(["change"])
    at.run()
    assert not any("**Call**" in m.value for m in at.markdown)
    assert any("**Customer created**" in m.value for m in at.markdown)
    texts = [t.value for t in at.text]  # who changed what from what to what, in the user's words
    assert "City: (empty) → Hangzhou" in texts and "Stage: Raw → Intent" in texts
    assert sum("**Changed** ·" in m.value and "REP\\_A" in m.value for m in at.markdown) == 2


def test_chinese_users_read_chinese(panels):
    company, script = panels
    at = open_as(script, company, "rep_a", lang="zh")
    assert not at.exception
    assert any(b.label == "保存跟进" for b in at.button)
    assert any("**电话**" in m.value for m in at.markdown)
    assert "已接通 · 下次跟进：" in " ".join(t.value for t in at.text)
    assert "城市：由 （空） 改为 Hangzhou" in [t.value for t in at.text]
    assert "跟进已逾期" in at.error[0].value
