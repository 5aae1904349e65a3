"""Follow-ups (跟进记录): logging one moves the record's last contact (never backwards) and sets its next
follow-up, which My day lists; a reminder answered by a follow-up is cleared; the record must be in the
actor's scope (NotFound otherwise, nothing written); bad values are refused naming the field; overdue
means before the start of the company's today."""
from __future__ import annotations

import datetime as dt

import pytest

from core import access, activities, audit, contacts, customers
from core.analytics import kpis
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tests.conftest import NOW

D = dt.datetime
H = dt.timedelta(hours=1)


def dates(company, label):
    return company.con.execute("SELECT last_activity_at, next_followup_at FROM customers WHERE id = ?",
                               [company.customers[label]]).fetchone()


def count(company, sql, params=None):
    return company.con.execute(sql, params or []).fetchone()[0]


def test_logging_a_followup_moves_the_last_contact_and_sets_the_next_followup(company):
    rep = company.actor("rep_a")
    cid = company.customers["rep_a"]
    assert dates(company, "rep_a") == (None, None)
    aid = activities.log_followup(company.con, rep, cid, kind="call", subject="Intro call", outcome="interested",
                                  occurred_at=NOW - 2 * H, next_followup_at=NOW + 48 * H)
    assert dates(company, "rep_a") == (NOW - 2 * H, NOW + 48 * H)
    row = company.con.execute("SELECT customer_id, user_id, team_id, kind, subject, outcome FROM activities "
                              "WHERE id = ?", [aid]).fetchone()
    assert row == (cid, company.users["rep_a"], company.teams["east"], "call", "Intro call", "interested")
    logged = {(r[0], r[1], r[2]) for r in company.con.execute(
        "SELECT action, entity, field FROM audit_log WHERE user_id = ? AND logged_at = ?",
        [company.users["rep_a"], NOW]).fetchall()}
    assert ("create", "activity", "subject") in logged
    assert {("update", "customer", "last_activity_at"), ("update", "customer", "next_followup_at")} <= logged


def test_an_older_followup_never_moves_the_last_contact_backwards(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    activities.log_followup(company.con, rep, cid, kind="visit", subject="On site", occurred_at=NOW - 1 * H)
    activities.log_followup(company.con, rep, cid, kind="note", body="Typed in late: last week's call",
                            occurred_at=NOW - 7 * 24 * H)
    assert dates(company, "rep_a")[0] == NOW - 1 * H


def test_the_default_time_of_a_followup_is_now(company):
    rep = company.actor("rep_a")
    activities.log_followup(company.con, rep, company.customers["rep_a"], kind="call", outcome="no_answer")
    assert dates(company, "rep_a")[0] == NOW


def test_a_followup_without_a_next_date_clears_the_reminder_it_answered_and_keeps_a_later_one(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    company.con.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?", [NOW - 24 * H, cid])
    activities.log_followup(company.con, rep, cid, kind="call", outcome="connected", occurred_at=NOW)
    assert dates(company, "rep_a")[1] is None  # the overdue reminder was answered
    later = NOW + 72 * H
    company.con.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?", [later, cid])
    activities.log_followup(company.con, rep, cid, kind="call", outcome="busy", occurred_at=NOW)
    assert dates(company, "rep_a")[1] == later


def test_the_new_next_followup_is_what_my_day_lists(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    start, end = kpis.today_bounds(company.con, rep)
    assert cid not in kpis.followups_due(company.con, rep)["id"].to_list()
    activities.log_followup(company.con, rep, cid, kind="call", subject="Call back this afternoon",
                            occurred_at=NOW, next_followup_at=start + 20 * H)
    assert NOW < start + 20 * H < end  # 20:00 tonight, company time
    assert cid in kpis.followups_due(company.con, rep)["id"].to_list()
    assert kpis.my_day(company.con, rep)["followups_due"] == 1


def test_a_changed_next_followup_moves_the_customers_version_so_an_open_form_is_told(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    seen = customers.get_customer(company.con, rep, cid)
    activities.log_followup(company.con, rep, cid, kind="call", subject="x", next_followup_at=NOW + 24 * H)
    with pytest.raises(Conflict):
        customers.update_customer(company.con, rep, cid, {"next_followup_at": NOW + 96 * H}, seen=seen)
    assert dates(company, "rep_a")[1] == NOW + 24 * H


@pytest.mark.parametrize("target", ["rep_w", "pool_west", "missing", "bad"])
def test_a_customer_out_of_scope_is_not_found_and_nothing_is_written(company, target):
    rep = company.actor("rep_a")
    cid = {"missing": 999_999, "bad": "1 OR 1=1"}.get(target) or company.customers[target]
    before = count(company, "SELECT count(*) FROM activities")
    with pytest.raises(NotFound) as err:
        activities.log_followup(company.con, rep, cid, kind="call", subject="probe")
    assert err.value.key == "customer.not_found"
    assert count(company, "SELECT count(*) FROM activities") == before
    if target in ("rep_w", "pool_west"):
        assert dates(company, target) == (None, None)


def test_the_own_team_pool_is_in_a_reps_scope(company):
    activities.log_followup(company.con, company.actor("rep_a"), company.customers["pool_east"], kind="call",
                            subject="Checking the pool customer")
    assert dates(company, "pool_east")[0] == NOW


def test_roles_without_activities_create_are_refused_and_service_may_log_on_customers_it_sees(company):
    with pytest.raises(PermissionDenied):
        activities.log_followup(company.con, company.actor("mkt"), company.customers["rep_a"], kind="call",
                                subject="x")
    activities.log_followup(company.con, company.actor("svc"), company.customers["rep_w"], kind="call",
                            subject="Support call about the invoice")
    assert dates(company, "rep_w")[0] == NOW


@pytest.mark.parametrize("values, label", [
    ({"kind": "fax", "subject": "x"}, "activity.kind"),
    ({"kind": None, "subject": "x"}, "activity.kind"),
    ({"kind": "call", "outcome": "maybe"}, "activity.outcome"),
    ({"kind": "call", "subject": "x" * 201}, "activity.subject"),
    ({"kind": "note", "body": "x" * 4001}, "activity.body"),
    ({"kind": "call", "subject": "x", "occurred_at": NOW + 25 * H}, "activity.occurred_at"),
    ({"kind": "call", "subject": "x", "occurred_at": "yesterday"}, "activity.occurred_at"),
    ({"kind": "call", "subject": "x", "occurred_at": NOW, "next_followup_at": NOW - H}, "activity.next_followup_at"),
    ({"kind": "call", "subject": "  ", "body": "\n"}, "activity.subject"),
    ({"kind": "call", "subject": "bad\x00text"}, "activity.subject"),
])
def test_bad_values_are_refused_naming_the_field(company, values, label):
    before = dates(company, "rep_a")
    with pytest.raises(ValidationError) as err:
        activities.log_followup(company.con, company.actor("rep_a"), company.customers["rep_a"], **values)
    assert err.value.params.get("field") == label
    assert dates(company, "rep_a") == before
    assert count(company, "SELECT count(*) FROM activities") == 0


def test_a_followup_may_be_logged_up_to_a_day_ahead(company):
    activities.log_followup(company.con, company.actor("rep_a"), company.customers["rep_a"], kind="meeting",
                            subject="Meeting tomorrow morning (entered tonight)", occurred_at=NOW + 20 * H)


def test_a_followup_belongs_to_one_record_and_links_only_its_own_contact(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    with pytest.raises(ValidationError) as err:
        activities.log_followup(company.con, rep, kind="call", subject="x")
    assert err.value.key == "activity.one_record"
    other = contacts.create_contact(company.con, company.actor("rep_b"), company.customers["rep_b"], {"name": "Wang"})
    with pytest.raises(ValidationError) as err:
        activities.log_followup(company.con, rep, cid, kind="call", subject="x", contact_id=other)
    assert err.value.params["field"] == "activity.contact"
    mine = contacts.create_contact(company.con, rep, cid, {"name": "Li"})
    aid = activities.log_followup(company.con, rep, cid, kind="call", subject="x", contact_id=mine)
    assert activities.list_followups(company.con, rep, cid)["contact_name"].to_list() == ["Li"]
    assert aid


def _lead(company, owner="rep_a", team="east"):
    company.con.execute(
        "INSERT INTO leads (id, name, owner_id, team_id, created_at, updated_at) VALUES (900, 'Lead 900', ?, ?, ?, ?)",
        [company.users[owner], company.teams[team], NOW - 48 * H, NOW - 48 * H])
    return 900


def test_a_followup_on_a_lead_moves_the_leads_dates_and_its_scope_is_the_leads(company):
    lead = _lead(company)
    activities.log_followup(company.con, company.actor("rep_a"), lead_id=lead, kind="message",
                            subject="WeChat intro", next_followup_at=NOW + 24 * H)
    assert company.con.execute("SELECT last_activity_at, next_followup_at FROM leads WHERE id = ?",
                               [lead]).fetchone() == (NOW, NOW + 24 * H)
    with pytest.raises(NotFound) as err:
        activities.log_followup(company.con, company.actor("rep_w"), lead_id=lead, kind="call", subject="x")
    assert err.value.key == "lead.not_found"
    listed = activities.list_followups(company.con, company.actor("rep_a"), lead_id=lead)
    assert listed["subject"].to_list() == ["WeChat intro"]


def test_followups_are_listed_newest_first_for_whoever_may_view_the_customer(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    for hours, subject in ((5, "first"), (1, "third"), (3, "second")):
        activities.log_followup(company.con, rep, cid, kind="call", subject=subject, occurred_at=NOW - hours * H)
    assert activities.list_followups(company.con, rep, cid)["subject"].to_list() == ["third", "second", "first"]
    assert activities.list_followups(company.con, company.actor("mgr"), cid).height == 3
    assert activities.list_followups(company.con, rep, cid, before=NOW - 2 * H)["subject"].to_list() == \
        ["second", "first"]
    with pytest.raises(NotFound):
        activities.list_followups(company.con, company.actor("rep_w"), cid)


def test_overdue_means_before_the_start_of_the_company_today(company):
    c = company.con
    now = D(2026, 11, 23, 16, 30)  # 2026-11-24 00:30 in Shanghai
    assert activities.overdue_cutoff(c, now) == D(2026, 11, 23, 16, 0)
    assert activities.is_overdue(c, now, D(2026, 11, 23, 15, 59))        # 23:59 local yesterday
    assert not activities.is_overdue(c, now, D(2026, 11, 23, 16, 10))    # 00:10 local today
    assert not activities.is_overdue(c, now, None)
    rep = company.actor("rep_a", now)
    assert activities.overdue_cutoff(c, rep) == D(2026, 11, 23, 16, 0)  # the acting user's now
    c.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?", [D(2026, 11, 23, 15, 59),
                                                                           company.customers["rep_a"]])
    assert activities.followup_status(c, rep, company.customers["rep_a"])["overdue"] is True


def test_the_audit_names_every_field_of_a_followup_in_both_languages(company):
    from core.i18n import catalogue

    activities.log_followup(company.con, company.actor("rep_a"), company.customers["rep_a"], kind="call",
                            subject="x", outcome="connected", body="notes", next_followup_at=NOW + H)
    logged = [r[0] for r in company.con.execute(
        "SELECT DISTINCT field FROM audit_log WHERE entity = 'activity' AND field IS NOT NULL").fetchall()]
    for field in logged:
        keys = audit.field_label_keys("activity", field)
        assert keys and all(k in catalogue("zh") for k in keys), field
    assert access.can(company.con, company.actor("mkt"), "activities", "view")
