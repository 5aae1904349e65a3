"""The Feedback screen per role (issue 8 point 5): the service agent sees every complaint with the overdue
one flagged, records a complaint from the customer's link and closes it with a resolution; a rep sees the
feedback of own customers only and records nothing; the NPS tab shows the period's score; the CSAT
widget of the ticket page records a rating once the ticket is resolved, and shows it afterwards."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, clock, feedback
from core.context import utcnow
from tests.conftest import company_app, logged_in


def _ticket(con, company, label: str, status: str, tid: int) -> int:
    now = utcnow()
    con.execute("INSERT INTO tickets (id, ticket_no, customer_id, subject, priority, status, assignee_id, team_id, "
                "opened_at, resolved_at, created_by, created_at, updated_at) VALUES "
                "(?, ?, ?, 'Printer jams', 'medium', ?, ?, ?, ?, ?, ?, ?, ?)",
                [tid, f"TK{tid:07d}", company.customers[label], status, company.users["svc"], company.teams["service"],
                 now - dt.timedelta(days=2), now - dt.timedelta(hours=3) if status == "resolved" else None,
                 company.users["svc"], now - dt.timedelta(days=2), now - dt.timedelta(days=2)])
    return tid


@pytest.fixture
def fb_db(tmp_path):
    def prepare(con, company):
        now = utcnow()
        past = auth.actor_for(con, "svc", now - dt.timedelta(days=5))
        today = clock.local_today(con, now)
        company.tickets = {"resolved": _ticket(con, company, "rep_a", "resolved", 9001),
                           "open": _ticket(con, company, "rep_a", "open", 9002)}
        company.fb = {
            "late": feedback.create_feedback(con, past, {
                "kind": "complaint", "customer_id": company.customers["rep_a"], "subject": "Late delivery",
                "owner_id": company.users["svc"], "due_on": today - dt.timedelta(days=1)}),
            "west": feedback.create_feedback(con, past, {
                "kind": "complaint", "customer_id": company.customers["rep_w"], "subject": "Rude driver",
                "owner_id": company.users["svc"], "due_on": today + dt.timedelta(days=3)}),
        }
        for score, label in ((10, "rep_a"), (9, "rep_w"), (3, "rep_b"), (8, "rep_a")):
            feedback.record_nps(con, auth.actor_for(con, "svc", now - dt.timedelta(days=1)), company.customers[label],
                                score)

    with company_app(tmp_path, prepare) as company:
        yield company


def feedback_as(username: str, lang: str | None = None, **query) -> AppTest:
    return logged_in(username, lang, **query).run().switch_page("views/feedback.py").run()


def cursor():
    from ui.db import database

    return database().cursor()


def subjects(at: AppTest) -> list[str]:
    return sorted(at.dataframe[0].value["Subject"].tolist())


def test_the_service_agent_sees_every_complaint_and_the_overdue_one_stands_out(fb_db):
    at = feedback_as("svc")
    assert not at.exception, at.exception
    assert subjects(at) == ["Late delivery", "Rude driver"]
    table = at.dataframe[0].value
    flags = dict(zip(table["Subject"], table["Due"]))
    assert "Overdue" in flags["Late delivery"] and flags["Rude driver"] == ""
    assert any("1 complaint is overdue" in w.value for w in at.warning)
    assert any(b.label == "New complaint" for b in at.button)


def test_a_rep_sees_only_the_feedback_of_own_customers_and_records_none(fb_db):
    at = feedback_as("rep_a")
    assert not at.exception and not at.error
    assert subjects(at) == ["Late delivery"]
    assert not any(b.label in ("New complaint", "Record NPS") for b in at.button)
    nps = {m.label: m.value for m in at.metric}
    assert nps["Promoters (9–10)"] == "1" and nps["Passives (7–8)"] == "1"  # rep_a's customer only


def test_the_nps_tab_shows_promoters_minus_detractors_for_the_period(fb_db):
    at = feedback_as("svc")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["NPS"] == "+25"  # 2 promoters, 1 passive, 1 detractor of 4
    assert metrics["Detractors (0–6)"] == "1"


def test_a_complaint_recorded_from_the_customer_link_opens_and_closes_with_a_resolution(fb_db):
    at = feedback_as("svc", new="complaint", customer=str(fb_db.customers["rep_b"]))
    assert not at.exception, at.exception
    next(w for w in at.text_input if w.label == "Subject *").input("Invoice wrong twice")
    next(w for w in at.text_area if w.label == "Comment").input("**bold** <b>html</b>")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    fid = int(at.query_params["id"][0] if isinstance(at.query_params["id"], list) else at.query_params["id"])
    svc = auth.actor_for(cursor(), "svc")
    got = feedback.get_feedback(cursor(), svc, fid)
    assert (got["subject"], got["owner_id"], got["customer_id"]) == ("Invoice wrong twice", fb_db.users["svc"],
                                                                    fb_db.customers["rep_b"])
    assert "**bold** <b>html</b>" in [tx.value for tx in at.text]  # shown as typed, never rendered
    next(b for b in at.button if b.label == "Close with this resolution").click()
    at.run()
    assert any("Resolution is required" in e.value for e in at.error)
    next(w for w in at.text_area if w.label == "Resolution *").input("Credit note sent")
    next(b for b in at.button if b.label == "Close with this resolution").click()
    at.run()
    assert not at.exception
    assert feedback.get_feedback(cursor(), svc, fid)["status"] == "closed"


def test_a_complaint_out_of_the_reps_scope_is_not_found(fb_db):
    at = feedback_as("rep_a", id=str(fb_db.fb["west"]))
    assert not at.exception
    assert any("not found" in e.value.lower() for e in at.error)
    assert "Rude driver" not in "\n".join(s.value for s in at.subheader)


def test_the_page_speaks_chinese(fb_db):
    at = feedback_as("svc", lang="zh")
    assert at.title[0].value == "客户反馈"
    assert "主题" in list(at.dataframe[0].value.columns)


def test_the_due_flag_is_a_word_any_font_shows_and_the_columns_read_chinese(fb_db):
    """No 🔴/🟠 emoji (a box without a colour-emoji font): the flag is the plain word; in Chinese the
    kind and status columns are Chinese too (labels made in the session, not on polars' threads)."""
    table = feedback_as("svc").dataframe[0].value
    flags = dict(zip(table["Subject"], table["Due"]))
    assert flags["Late delivery"] == "Overdue" and flags["Rude driver"] == ""
    zh = feedback_as("svc", lang="zh").dataframe[0].value
    row = zh[zh["主题"] == "Late delivery"].to_dict("records")[0]
    assert row["到期"] == "已逾期", row
    assert row["类型"] == "投诉", row


# ------------------------------------------------------------------------------------------ the CSAT widget
def csat_page(username: str, ticket_id: int) -> None:
    from core import auth
    from ui import forms
    from ui.csat import csat_form
    from ui.db import con

    c = con()
    forms.show_flash()
    csat_form(c, auth.actor_for(c, username), ticket_id)


def widget(username: str, ticket_id: int) -> AppTest:
    return AppTest.from_function(csat_page, kwargs={"username": username, "ticket_id": ticket_id},
                                 default_timeout=30).run()


def test_the_csat_widget_records_a_rating_on_a_resolved_ticket_and_then_shows_it(fb_db):
    tid = fb_db.tickets["resolved"]
    at = widget("svc", tid)
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "Save rating").click()
    at.run()
    assert any("Pick a score" in w.value for w in at.warning)
    at.radio[0].set_value(4)
    next(w for w in at.text_area if w.label == "Comment").input("Happy with the fix")
    next(b for b in at.button if b.label == "Save rating").click()
    at.run()
    assert not at.exception and not at.error
    assert cursor().execute("SELECT satisfaction FROM tickets WHERE id = ?", [tid]).fetchall() == [(4.0,)]
    assert any("Satisfaction: 4 / 5" in m.value for m in at.markdown)
    assert not at.radio  # rated: no form until "Change rating"


def test_the_csat_widget_shows_nothing_before_the_ticket_is_resolved(fb_db):
    at = widget("svc", fb_db.tickets["open"])
    assert not at.exception and not at.error
    assert not at.radio and not at.button


# ------------------------------------------------------------------------------------------ the customer page
def customer_page(username: str, label: str, fb_db) -> AppTest:
    return logged_in(username, id=str(fb_db.customers[label])).run().switch_page("views/customers.py").run()


def test_the_customer_page_offers_nps_and_complaint_and_its_timeline_shows_the_complaint(fb_db):
    at = customer_page("svc", "rep_a", fb_db)
    assert not at.exception, at.exception
    links = {str(x.proto.label): x.proto.query_string for x in at.get("page_link")}
    cid = fb_db.customers["rep_a"]
    assert links["Record NPS"] == f"new=nps&customer={cid}"
    assert links["New complaint"] == f"new=complaint&customer={cid}"
    assert "Late delivery" in [tx.value for tx in at.text]  # the complaint's subject on the timeline
    rep = customer_page("rep_a", "rep_a", fb_db)  # a rep may view feedback, not record it
    assert not rep.exception
    assert not any(str(x.proto.label) in ("Record NPS", "New complaint") for x in rep.get("page_link"))
    assert "Late delivery" in [tx.value for tx in rep.text]


def test_a_complaint_for_a_customer_out_of_scope_is_refused_as_not_found(fb_db):
    at = feedback_as("mgr", new="complaint", customer=str(fb_db.customers["rep_w"]))  # west: not the manager's
    assert not at.exception
    assert any("not found" in e.value.lower() for e in at.error)
    assert not any(w.label == "Subject *" for w in at.text_input)
