"""The admin's service-desk rules page (issue 8 points 3-4) and the notifications on "my day": working
hours rebuild the calendar, the year's holidays and make-up days come from the package, SLA targets and
team leads are saved, a breach reaches the assignee's my day with a link, and is marked read."""
from __future__ import annotations

import datetime as dt

import pytest

from core import sla
from tests.conftest import company_app, logged_in
from tests.integration.test_sla import L, add_ticket


@pytest.fixture
def service_db(tmp_path):
    def prepare(con, company):
        company.breach = add_ticket(con, L(2026, 11, 16, 9, 0), "critical", subject="Printer on fire",
                                    assignee_id=company.users["svc"], team_id=company.teams["service"])
        sla.escalate(con, L(2026, 11, 16, 11, 0))

    with company_app(tmp_path, prepare) as company:
        yield company


def cursor():
    from ui.db import database

    return database().cursor()


def page(username="boss", lang=None):
    return logged_in(username, lang).run().switch_page("views/admin_service.py").run()


def widget(items, label):
    return next(w for w in items if w.label == label)


def test_the_year_shows_holidays_and_makeup_days_from_the_calendar(service_db):
    at = page()
    assert not at.exception, at.exception
    widget(at.selectbox, "Calendar year").set_value(2026).run()
    days = next(d.value for d in at.dataframe if "Holiday" in d.value.columns)
    rows = {r["Day"]: (r["Kind"], r["Holiday"]) for r in days.to_dict("records")}
    assert rows["2026-10-10"] == ("Make-up working day", "")
    assert rows["2026-09-20"][0] == "Make-up working day"
    assert rows["2026-10-01"] == ("Day off", "National Day")
    assert "2026-10-04" not in rows  # a Sunday off anyway is not a special day


def test_working_hours_rebuild_the_calendar_and_bad_hours_are_refused(service_db):
    at = page()
    widget(at.time_input, "Service desk: working day ends (HH:MM)").set_value(dt.time(17, 0))
    widget(at.multiselect, "Working weekdays").set_value([1, 2, 3, 4, 5, 6])
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception and not at.error, at.error
    cur = cursor()
    assert cur.execute("SELECT minutes FROM work_calendar WHERE day = '2026-11-16'").fetchall()[0][0] == 480
    assert cur.execute("SELECT workday FROM work_calendar WHERE day = '2026-11-21'").fetchall()[0][0] is True
    # the end before the start: a message, nothing saved
    widget(at.time_input, "Service desk: working day starts (HH:MM)").set_value(dt.time(18, 0))
    next(b for b in at.button if b.label == "Save").click().run()
    assert any("must be later" in e.value for e in at.error)
    assert cur.execute("SELECT minutes FROM work_calendar WHERE day = '2026-11-16'").fetchall()[0][0] == 480


def test_targets_and_team_lead_are_saved(service_db):
    at = page()
    widget([w for w in at.number_input if w.key == "svc_fr_critical"], "First response (hours)").set_value(2.0)
    next(b for b in at.button if b.label == "Save" and "service_targets" in str(b.form_id)).click().run()
    assert not at.exception and not at.error, at.error
    cur = cursor()
    assert cur.execute("SELECT first_response_hours FROM sla_targets WHERE priority = 'critical'").fetchall() == [(2.0,)]
    widget(at.selectbox, "Team").set_value(service_db.teams["service"])
    widget(at.selectbox, "Lead").set_value(service_db.users["svc"])
    next(b for b in at.button if b.label == "Save" and "service_lead" in str(b.form_id)).click().run()
    assert not at.exception and not at.error, at.error
    assert cur.execute("SELECT lead_id FROM teams WHERE id = ?", [service_db.teams["service"]]).fetchall() == [
        (service_db.users["svc"],)]


def test_a_breach_shows_on_my_day_and_is_marked_read(service_db):
    at = logged_in("svc").run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown]
    assert any("breached its first response target" in v and "Printer on fire" in v for v in shown)
    assert any(b.label == "Open the ticket" for b in at.button)
    next(b for b in at.button if b.label == "Mark read").click().run()
    assert not any("breached" in m.value for m in at.markdown)
    assert cursor().execute("SELECT count(*) FROM notifications WHERE read_at IS NULL AND user_id = ?",
                            [service_db.users["svc"]]).fetchall() == [(0,)]


def test_my_day_in_chinese_names_the_target(service_db):
    at = logged_in("svc", "zh").run()
    assert not at.exception, at.exception
    assert any("首次响应" in m.value and "Printer on fire" in m.value for m in at.markdown)


def test_the_ticket_link_opens_the_ticket_and_marks_it_read(service_db):
    at = logged_in("svc").run()
    next(b for b in at.button if b.label == "Open the ticket").click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("id") in (str(service_db.breach), [str(service_db.breach)])
    assert cursor().execute("SELECT count(*) FROM notifications WHERE read_at IS NULL AND user_id = ?",
                            [service_db.users["svc"]]).fetchall() == [(0,)]


def test_the_app_starts_one_scheduler_per_process_and_never_fails_for_it(service_db, monkeypatch):
    import streamlit as st

    from core import scheduler
    from ui import scheduler as ui_scheduler

    monkeypatch.setenv("CRM_SCHEDULER", "on")
    st.cache_resource.clear()
    first = ui_scheduler.start()
    try:
        assert first is not None and first.running
        assert ui_scheduler.start() is first  # the second run of the script finds it
        assert {"sla_escalation", "complaints_due"} <= {j.name for j in first.jobs}
    finally:
        st.cache_resource.clear()  # released: the thread stops
    first._thread.join(5)
    assert not first.running

    def broken(*args, **kwargs):
        raise RuntimeError("no thread for you")

    monkeypatch.setattr(scheduler.Scheduler, "start", broken)
    assert ui_scheduler.start() is None  # logged, the app goes on
    at = logged_in("svc").run()
    assert not at.exception and not at.error


def test_the_calendar_in_chinese_names_the_holidays_in_chinese(service_db):
    at = page(lang="zh")
    assert not at.exception, at.exception
    widget(at.selectbox, "日历年份").set_value(2026).run()
    days = next(d.value for d in at.dataframe if "节日" in d.value.columns)
    rows = {r["日期"]: (r["类型"], r["节日"]) for r in days.to_dict("records")}
    assert rows["2026-10-01"] == ("放假", "国庆节")
    assert rows["2026-10-10"] == ("调休上班", "")


def test_the_calendar_in_chinese_names_the_weekdays_in_chinese(service_db):
    """The weekday column reads 星期四, not the English day name (2026-10-01 is a Thursday)."""
    at = page(lang="zh")
    assert not at.exception, at.exception
    widget(at.selectbox, "日历年份").set_value(2026).run()
    days = next(d.value for d in at.dataframe if "节日" in d.value.columns)
    weekdays = {r["日期"]: r["星期"] for r in days.to_dict("records")}
    assert weekdays["2026-10-01"] == "星期四"
    assert weekdays["2026-10-10"] == "星期六"
    assert not any(name in " ".join(map(str, weekdays.values())) for name in ("day", "Thu", "Sat"))
