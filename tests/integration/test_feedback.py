"""Feedback (issue 8 point 5): CSAT recorded on a resolved ticket (ticket, feedback row and ticket event
in one unit; re-rating replaces), NPS per customer and its score for a period, complaints with an owner
and a due date (suggestions without), the daily reminder of due complaints, the one scope rule (a rep:
own customers' feedback; service: all), and bad input refused with a message."""
from __future__ import annotations

import datetime as dt

import pytest

from core import db, feedback, notifications, timeline
from core.errors import NotFound, PermissionDenied, ValidationError
from tests.conftest import NOW

TODAY = dt.date(2026, 11, 23)  # NOW (09:30 UTC) is 17:30 in Shanghai, the same day


def make_ticket(company, label: str, status: str = "resolved", tid: int | None = None) -> int:
    c = company.con
    tid = tid or db.next_id(c, "tickets")
    c.execute("INSERT INTO tickets (id, ticket_no, customer_id, subject, priority, status, assignee_id, team_id, "
              "opened_at, resolved_at, created_by, created_at, updated_at) VALUES "
              "(?, ?, ?, 'Printer jams', 'medium', ?, ?, ?, ?, ?, ?, ?, ?)",
              [tid, f"TK{tid:07d}", company.customers[label], status, company.users["svc"], company.teams["service"],
               NOW - dt.timedelta(days=2), NOW - dt.timedelta(hours=3) if status in ("resolved", "closed") else None,
               company.users["svc"], NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=2)])
    return tid


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


# ------------------------------------------------------------------------------------------ CSAT
def test_csat_writes_the_ticket_the_feedback_row_and_a_ticket_event_together(company):
    tid = make_ticket(company, "rep_a")
    fid = feedback.record_csat(company.con, company.actor("svc"), tid, 4, comment="Fixed on the phone")
    assert q(company.con, "SELECT satisfaction FROM tickets WHERE id = ?", [tid]) == [(4.0,)]
    assert q(company.con, "SELECT id, kind, score, comment, channel, customer_id FROM feedback WHERE ticket_id = ?",
             [tid]) == [(fid, "csat", 4.0, "Fixed on the phone", "callback", company.customers["rep_a"])]
    assert q(company.con, "SELECT kind, from_value, to_value, user_id FROM ticket_events WHERE ticket_id = ?",
             [tid]) == [("csat", None, "4", company.users["svc"])]


def test_rating_again_replaces_the_score_and_keeps_one_row_audited(company):
    tid = make_ticket(company, "rep_a", "closed")
    svc = company.actor("svc")
    first = feedback.record_csat(company.con, svc, tid, 2)
    again = feedback.record_csat(company.con, company.actor("svc", NOW + dt.timedelta(hours=1)), tid, "5",
                                 comment="Called back, happy now")
    assert again == first
    assert q(company.con, "SELECT count(*), max(score) FROM feedback WHERE ticket_id = ? AND kind = 'csat'",
             [tid]) == [(1, 5.0)]
    assert q(company.con, "SELECT satisfaction FROM tickets WHERE id = ?", [tid]) == [(5.0,)]
    assert q(company.con, "SELECT from_value, to_value FROM ticket_events WHERE ticket_id = ? ORDER BY id",
             [tid]) == [(None, "2"), ("2", "5")]
    assert q(company.con, "SELECT old_value, new_value FROM audit_log WHERE entity = 'feedback' AND entity_id = ? "
                          "AND action = 'update' AND field = 'score'", [first]) == [("2.0", "5.0")]


def test_a_ticket_not_resolved_cannot_be_rated_and_nothing_is_written(company):
    tid = make_ticket(company, "rep_a", "open")
    with pytest.raises(ValidationError) as err:
        feedback.record_csat(company.con, company.actor("svc"), tid, 5)
    assert err.value.key == "feedback.csat_not_resolved"
    assert q(company.con, "SELECT satisfaction FROM tickets WHERE id = ?", [tid]) == [(None,)]
    assert q(company.con, "SELECT count(*) FROM feedback") == [(0,)]
    assert q(company.con, "SELECT count(*) FROM ticket_events") == [(0,)]


@pytest.mark.parametrize("score", [0, 6, "4.5", "abc", True, None, float("nan")])
def test_a_csat_score_outside_1_to_5_is_refused_with_the_fields_name(company, score):
    tid = make_ticket(company, "rep_a")
    with pytest.raises(ValidationError) as err:
        feedback.record_csat(company.con, company.actor("svc"), tid, score)
    assert err.value.params.get("field") == "feedback.csat_score"


def test_full_width_digits_are_read_as_digits(company):
    tid = make_ticket(company, "rep_a")
    feedback.record_csat(company.con, company.actor("svc"), tid, "５")
    fid = feedback.record_nps(company.con, company.actor("svc"), company.customers["rep_b"], "１０")
    assert q(company.con, "SELECT satisfaction FROM tickets WHERE id = ?", [tid]) == [(5.0,)]
    assert q(company.con, "SELECT score FROM feedback WHERE id = ?", [fid]) == [(10.0,)]


def test_a_megabyte_comment_is_refused_by_the_field_limits(company):
    tid = make_ticket(company, "rep_a")
    with pytest.raises(ValidationError) as err:
        feedback.record_csat(company.con, company.actor("svc"), tid, 3, comment="x" * 1_000_000)
    assert err.value.key == "field.too_long" and err.value.params["field"] == "feedback.comment"
    with pytest.raises(ValidationError):
        feedback.create_feedback(company.con, company.actor("svc"), {
            "kind": "suggestion", "customer_id": company.customers["rep_a"], "subject": "More colours",
            "comment": "y" * 1_000_000})
    assert q(company.con, "SELECT count(*) FROM feedback") == [(0,)]


def test_a_ticket_or_customer_the_user_cannot_see_is_not_found(company):
    tid = make_ticket(company, "rep_b")
    mgr = company.actor("mgr")  # east team tree: sees rep_b's customer, not rep_w's
    with pytest.raises(NotFound):
        feedback.record_nps(company.con, mgr, company.customers["rep_w"], 9)
    with pytest.raises(NotFound):
        feedback.record_nps(company.con, company.actor("svc"), 10 ** 9, 9)
    with pytest.raises(NotFound):
        feedback.record_csat(company.con, company.actor("svc"), "12abc", 3)
    with pytest.raises(PermissionDenied):  # a rep may view feedback, not record it (the default matrix)
        feedback.record_csat(company.con, company.actor("rep_b"), tid, 3)
    west = make_ticket(company, "rep_w")
    with pytest.raises(NotFound):
        feedback.record_csat(company.con, mgr, west, 3)
    feedback.record_csat(company.con, mgr, tid, 3)  # the manager's team tree customer
    assert q(company.con, "SELECT count(*) FROM feedback") == [(1,)]


# ------------------------------------------------------------------------------------------ NPS
def test_nps_of_a_period_is_promoters_minus_detractors_in_percent(company):
    svc = company.actor("svc")
    for score, days_ago in ((10, 1), (9, 2), (8, 3), (3, 4), (10, 40)):
        feedback.record_nps(company.con, company.actor("svc", NOW - dt.timedelta(days=days_ago)),
                            company.customers["rep_a"], score)
    found = feedback.nps(company.con, svc, (TODAY - dt.timedelta(days=30), TODAY))
    assert found == {"responses": 4, "promoters": 2, "passives": 1, "detractors": 1, "score": 25.0}
    assert feedback.nps(company.con, svc)["responses"] == 5
    assert feedback.nps(company.con, svc, (TODAY, TODAY))["score"] is None
    with pytest.raises(ValidationError):
        feedback.record_nps(company.con, svc, company.customers["rep_a"], 11)


# ------------------------------------------------------------------------------------------ complaints
def complaint(company, **over):
    values = {"kind": "complaint", "customer_id": company.customers["rep_a"], "subject": "Late delivery",
              "comment": "Third time this month", "owner_id": company.users["svc"],
              "due_on": TODAY + dt.timedelta(days=2)}
    values.update(over)
    return values


def test_a_complaint_needs_an_owner_and_a_due_date_a_suggestion_does_not(company):
    svc = company.actor("svc")
    for missing, label in (("owner_id", "feedback.owner_id"), ("due_on", "feedback.due_on")):
        with pytest.raises(ValidationError) as err:
            feedback.create_feedback(company.con, svc, complaint(company, **{missing: None}))
        assert err.value.params["field"] == label
    fid = feedback.create_feedback(company.con, svc, complaint(company))
    sid = feedback.create_feedback(company.con, svc, {"kind": "suggestion", "customer_id": company.customers["rep_a"],
                                                      "subject": "Open on Saturdays"})
    rows = dict(q(company.con, "SELECT id, status FROM feedback"))
    assert rows == {fid: "open", sid: "open"}
    got = feedback.get_feedback(company.con, svc, fid)
    assert (got["owner_name"], got["due_on"], got["customer_name"]) == ("Sue Service", TODAY + dt.timedelta(days=2),
                                                                       "Customer of rep_a")


def test_a_complaint_owner_must_be_someone_who_works_feedback_and_the_due_date_not_past(company):
    svc = company.actor("svc")
    with pytest.raises(ValidationError) as err:
        feedback.create_feedback(company.con, svc, complaint(company, owner_id=company.users["rep_a"]))
    assert err.value.key == "feedback.bad_owner"
    with pytest.raises(ValidationError) as err:
        feedback.create_feedback(company.con, svc, complaint(company, due_on=TODAY - dt.timedelta(days=1)))
    assert err.value.key == "feedback.due_in_past"


def test_a_complaint_links_only_a_ticket_of_its_customer(company):
    mine, other = make_ticket(company, "rep_a", "open"), make_ticket(company, "rep_b", "open")
    svc = company.actor("svc")
    with pytest.raises(ValidationError) as err:
        feedback.create_feedback(company.con, svc, complaint(company, ticket_id=other))
    assert err.value.key == "feedback.ticket_not_of_customer"
    fid = feedback.create_feedback(company.con, svc, complaint(company, ticket_id=mine))
    assert feedback.get_feedback(company.con, svc, fid)["ticket_no"] == f"TK{mine:07d}"


def test_closing_a_complaint_needs_a_resolution_and_can_be_undone(company):
    svc = company.actor("svc")
    fid = feedback.create_feedback(company.con, svc, complaint(company))
    seen = feedback.get_feedback(company.con, svc, fid)
    with pytest.raises(ValidationError):
        feedback.close_feedback(company.con, svc, fid, "  ")
    feedback.close_feedback(company.con, svc, fid, "Refunded the shipping", seen=seen)
    got = feedback.get_feedback(company.con, svc, fid)
    assert (got["status"], got["resolution"], got["closed_at"]) == ("closed", "Refunded the shipping", NOW)
    with pytest.raises(ValidationError):
        feedback.close_feedback(company.con, svc, fid, "again")
    later = company.actor("svc", NOW + dt.timedelta(minutes=5))
    from core.errors import Conflict
    with pytest.raises(Conflict):  # a form opened before the close
        feedback.update_feedback(company.con, later, fid, {"subject": "x"}, seen=seen)
    feedback.reopen_feedback(company.con, later, fid)
    assert feedback.get_feedback(company.con, svc, fid)["status"] == "open"


def test_editing_a_complaint_cannot_drop_its_owner_and_is_audited(company):
    svc = company.actor("svc")
    fid = feedback.create_feedback(company.con, svc, complaint(company))
    with pytest.raises(ValidationError):
        feedback.update_feedback(company.con, svc, fid, {"owner_id": None})
    changed = feedback.update_feedback(company.con, svc, fid, {"owner_id": company.users["boss"],
                                                               "due_on": "2026-12-01"})
    assert changed["owner_id"] == (company.users["svc"], company.users["boss"])
    assert q(company.con, "SELECT new_value FROM audit_log WHERE entity = 'feedback' AND entity_id = ? "
                          "AND action = 'update' AND field = 'due_on'", [fid]) == [("2026-12-01",)]


# ------------------------------------------------------------------------------------------ scope
def test_a_rep_sees_the_feedback_of_own_customers_service_sees_all(company):
    svc = company.actor("svc")
    for label in ("rep_a", "rep_b", "rep_w"):
        feedback.record_nps(company.con, svc, company.customers[label], 9)
    feedback.create_feedback(company.con, svc, complaint(company))
    df, total = feedback.list_feedback(company.con, company.actor("rep_a"))
    assert total == 2 and set(df["customer_name"]) == {"Customer of rep_a"}
    assert feedback.list_feedback(company.con, svc)[1] == 4
    mgr_df, mgr_total = feedback.list_feedback(company.con, company.actor("mgr"), {"kind": "nps"})
    assert mgr_total == 2 and set(mgr_df["customer_name"]) == {"Customer of rep_a", "Customer of rep_b"}
    assert feedback.nps(company.con, company.actor("rep_a"))["responses"] == 1
    other = q(company.con, "SELECT id FROM feedback WHERE customer_id = ?", [company.customers["rep_w"]])[0][0]
    with pytest.raises(NotFound):
        feedback.get_feedback(company.con, company.actor("rep_a"), other)


def test_the_list_filters_overdue_complaints_and_flags_them(company):
    past = company.actor("svc", NOW - dt.timedelta(days=5))
    late = feedback.create_feedback(company.con, past, complaint(company, due_on=TODAY - dt.timedelta(days=1)))
    today = feedback.create_feedback(company.con, past, complaint(company, due_on=TODAY))
    feedback.create_feedback(company.con, past, complaint(company, due_on=TODAY + dt.timedelta(days=3)))
    svc = company.actor("svc")
    df, total = feedback.list_feedback(company.con, svc, {"overdue": True})
    assert total == 1 and df["id"].to_list() == [late] and df["overdue"].to_list() == [True]
    due, n = feedback.list_feedback(company.con, svc, {"due": True}, sort="due_on", desc=False)
    assert due["id"].to_list() == [late, today] and due["due_today"].to_list() == [False, True]
    with pytest.raises(ValidationError):
        feedback.list_feedback(company.con, svc, {"kind": "gossip"})


# ------------------------------------------------------------------------------------------ reminder
def test_owners_of_due_complaints_are_notified_once_a_day(company):
    past = company.actor("svc", NOW - dt.timedelta(days=5))
    late = feedback.create_feedback(company.con, past, complaint(company, due_on=TODAY - dt.timedelta(days=1)))
    feedback.create_feedback(company.con, past, complaint(company, due_on=TODAY + dt.timedelta(days=1)))
    closed = feedback.create_feedback(company.con, past, complaint(company, due_on=TODAY))
    feedback.close_feedback(company.con, past, closed, "Done")
    assert feedback.due_complaints(company.con, NOW) == 1
    assert feedback.due_complaints(company.con, NOW + dt.timedelta(hours=1)) == 0  # same company day
    got = notifications.unread(company.con, company.actor("svc"))
    assert got["kind"].to_list() == ["complaint_due"] and got["object_id"].to_list() == [late]
    assert got["params"][0]["subject"] == "Late delivery" and got["params"][0]["customer"] == "Customer of rep_a"
    assert feedback.due_complaints(company.con, NOW + dt.timedelta(days=1)) == 2  # next day: both are due
    assert notifications.unread_count(company.con, company.actor("boss")) == 0


# ------------------------------------------------------------------------------------------ timeline
def test_the_customers_timeline_shows_csat_nps_and_complaints(company):
    tid = make_ticket(company, "rep_a")
    svc = company.actor("svc")
    feedback.record_csat(company.con, svc, tid, 5)
    feedback.record_nps(company.con, svc, company.customers["rep_a"], 7)
    feedback.create_feedback(company.con, svc, complaint(company))
    df = timeline.customer_timeline(company.con, company.actor("rep_a"), company.customers["rep_a"], kinds="feedback")
    assert sorted(zip(df["new_value"].to_list(), df["amount"].to_list(), df["title"].to_list()),
                  key=str) == sorted([("csat", 5.0, None), ("nps", 7.0, None), ("complaint", None, "Late delivery")],
                                     key=str)


def test_two_agents_rating_one_ticket_at_once_leave_one_csat_row(company, monkeypatch):
    """Both read "no rating yet" at the same moment: the ticket row is written first, so the second unit
    conflicts, runs again after the first committed, and replaces the score instead of adding a row."""
    import threading
    import time

    tid = make_ticket(company, "rep_a")
    real_insert, first = feedback._insert, threading.Event()

    def slow_insert(con, actor, row):  # the first inserter holds its unit open a moment
        if not first.is_set():
            first.set()
            time.sleep(0.15)
        return real_insert(con, actor, row)

    monkeypatch.setattr(feedback, "_insert", slow_insert)
    start, errors, svc = threading.Barrier(2), [], company.actor("svc")
    cursors = {s: company.con.cursor() for s in (2, 5)}

    def rate(score):
        cur = cursors[score]
        start.wait()
        try:
            feedback.record_csat(cur, svc, tid, score)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=rate, args=(s,)) for s in (2, 5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    rows = q(company.con, "SELECT score FROM feedback WHERE ticket_id = ? AND kind = 'csat'", [tid])
    assert len(rows) == 1
    assert q(company.con, "SELECT satisfaction FROM tickets WHERE id = ?", [tid]) == rows
    assert q(company.con, "SELECT count(*) FROM ticket_events WHERE ticket_id = ? AND kind = 'csat'", [tid]) == [(2,)]


def test_marketing_reads_feedback_without_ticket_numbers(company):
    tid = make_ticket(company, "rep_a")
    fid = feedback.record_csat(company.con, company.actor("svc"), tid, 4)
    df, total = feedback.list_feedback(company.con, company.actor("mkt"), {"kind": "csat"})
    assert total == 1 and df["ticket_no"].to_list() == [None] and df["score"].to_list() == [4.0]
    assert feedback.get_feedback(company.con, company.actor("mkt"), fid)["ticket_no"] is None
    assert feedback.get_feedback(company.con, company.actor("rep_a"), fid)["ticket_no"] == f"TK{tid:07d}"
