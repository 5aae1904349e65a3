"""My day counts days of the company's calendar (Asia/Shanghai), shows each role the figures of its
work under labels that say what they count, and the rows behind a figure agree with it."""
from __future__ import annotations

import datetime as dt

import pytest

from core import clock, ticket_queue
from core.analytics import kpis

D = dt.datetime
# 2026-11-24 00:30 in Shanghai (a Tuesday), still 2026-11-23 in UTC
NOW = D(2026, 11, 23, 16, 30)
TODAY_2300 = D(2026, 11, 24, 15, 0)        # 23:00 local today; "tomorrow" in UTC terms
YESTERDAY_2330 = D(2026, 11, 23, 15, 30)   # 23:30 local yesterday; "today" in UTC terms
TOMORROW_0030 = D(2026, 11, 24, 16, 30)    # 00:30 local tomorrow


def followup(company, label, when):
    company.con.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?", [when, company.customers[label]])


YESTERDAY_1000 = D(2026, 11, 23, 2, 0)     # Monday 10:00 local, a working hour
YESTERDAY_1200 = D(2026, 11, 23, 4, 0)     # Monday 12:00 local
NEXT_WEEK = D(2026, 12, 1, 4, 0)


def add_tickets(c, company):
    """Tickets of the service team as the desk sees them (first response done unless said):
    1 open, resolution due 23:00 local today: due today;
    2 pending since Monday 10:00, stored resolution due Monday 23:30 (passed): paused, NOT overdue;
    3 open, due 00:30 local tomorrow: neither;
    4 resolved: none;
    5 open, never answered, first response due Monday 23:30 (passed), resolution next week: overdue;
    6 open, resolution due Monday 12:00: overdue;
    7 open, nobody assigned, resolution next week: the team's queue;
    8 pending since Monday 10:00, stored resolution due Monday 12:00 (passed): paused, NOT overdue."""
    svc, team = company.users["svc"], company.teams["service"]
    rows = [  # (id, status, assignee, first response at, first response due, resolution due, pending since)
        (1, "open", svc, NOW, None, TODAY_2300, None),
        (2, "pending", svc, NOW, None, YESTERDAY_2330, YESTERDAY_1000),
        (3, "open", svc, NOW, None, TOMORROW_0030, None),
        (4, "resolved", svc, NOW, None, TODAY_2300, None),
        (5, "open", svc, None, YESTERDAY_2330, NEXT_WEEK, None),
        (6, "open", svc, YESTERDAY_1000, None, YESTERDAY_1200, None),
        (7, "open", None, NOW, None, NEXT_WEEK, None),
        (8, "pending", svc, NOW, None, YESTERDAY_1200, YESTERDAY_1000),
    ]
    for i, status, who, answered, first_due, due, pending in rows:
        c.execute("INSERT INTO tickets (id, ticket_no, subject, status, priority, assignee_id, team_id, opened_at, "
                  "first_response_at, first_response_due, resolution_due, pending_since, resolved_at, created_at, "
                  "updated_at) VALUES (?, ?, ?, ?, 'high', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [i, f"TK{i:07d}", f"Ticket {i}", status, who, team, D(2026, 11, 20, 2, 0), answered, first_due, due,
                   pending, NOW if status == "resolved" else None, NOW, NOW])


def add_leads(c, company):
    rep_a, east = company.users["rep_a"], company.teams["east"]
    rows = [  # (created, status, owner)
        (D(2026, 11, 22, 16, 30), "new", rep_a),        # Monday 00:30 local: this week
        (D(2026, 11, 22, 15, 30), "contacted", rep_a),  # Sunday 23:30 local: last week
        (D(2026, 11, 20, 1, 0), "converted", rep_a),
        (D(2026, 11, 23, 1, 0), "new", company.users["rep_w"]),
    ]
    for i, (created, status, owner) in enumerate(rows, start=1):
        c.execute("INSERT INTO leads (id, name, status, owner_id, team_id, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)", [i, f"Lead {i}", status, owner, east, created, created])


def add_tasks(c, company):
    rep_a = company.users["rep_a"]
    for i, (due, status) in enumerate([(TODAY_2300, "open"), (YESTERDAY_2330, "open"), (TOMORROW_0030, "open"),
                                       (TODAY_2300, "done")], start=1):
        c.execute("INSERT INTO tasks (id, title, status, assignee_id, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                  [i, f"Task {i}", status, rep_a, due, NOW])


def test_today_is_the_company_day_near_midnight(company):
    assert clock.local_today(company.con, NOW) == dt.date(2026, 11, 24)
    assert kpis.today_bounds(company.con, company.actor("rep_a", NOW)) == (D(2026, 11, 23, 16), D(2026, 11, 24, 16))


def test_a_followup_at_23_30_local_counts_for_that_local_day(company):
    followup(company, "rep_a", TODAY_2300)         # today in Shanghai, tomorrow in UTC
    followup(company, "rep_b", YESTERDAY_2330)     # yesterday in Shanghai, today in UTC
    followup(company, "rep_sh", TOMORROW_0030)     # tomorrow in Shanghai
    rep = kpis.my_day(company.con, company.actor("rep_a", NOW))
    assert (rep["followups_due"], rep["followups_overdue"]) == (1, 0)
    mgr = kpis.my_day(company.con, company.actor("mgr", NOW))
    assert (mgr["followups_due"], mgr["followups_overdue"]) == (1, 1)
    due = kpis.followups_due(company.con, company.actor("mgr", NOW))
    assert due["id"].to_list() == [company.customers["rep_b"], company.customers["rep_a"]]  # most overdue first


def test_the_due_filter_windows_are_the_local_day(company):
    me = company.actor("rep_a", NOW)
    assert kpis.followup_window(company.con, me, "today") == (D(2026, 11, 23, 16), D(2026, 11, 24, 16))
    assert kpis.followup_window(company.con, me, "overdue") == (None, D(2026, 11, 23, 16))


def test_each_role_gets_the_figures_of_its_work_labelled_by_scope(company):
    c = company.con
    day = {u: kpis.my_day(c, company.actor(u, NOW)) for u in ("rep_a", "mgr", "boss", "mkt", "svc")}
    assert (day["rep_a"]["customers_scope"], day["rep_a"]["customers"], day["rep_a"]["pool"]) == ("own", 1, 1)
    assert (day["mgr"]["customers_scope"], day["mgr"]["customers"], day["mgr"]["pool"]) == ("team", 3, 1)
    assert (day["boss"]["customers_scope"], day["boss"]["customers"], day["boss"]["pool"]) == ("all", 6, 2)
    # marketing and service do not work customers: no "my customers" counting the whole company
    for role in ("mkt", "svc"):
        assert day[role]["customers"] is None and day[role]["followups_due"] is None
    assert day["mkt"]["new_leads"] is not None and day["mkt"]["open_tickets"] is None
    assert day["svc"]["tickets_due"] is not None and day["svc"]["open_leads"] is None
    assert day["rep_a"]["new_leads"] is None and day["rep_a"]["tickets_due"] is None


def test_ticket_figures_use_the_desks_sla_state_and_agree_with_their_rows(company):
    c = company.con
    add_tickets(c, company)
    svc = company.actor("svc", NOW)
    day = kpis.my_day(c, svc)
    # a pending ticket whose stored due passed is paused, not overdue; an unanswered ticket past its
    # first-response due is overdue although its resolution is due next week
    assert (day["tickets_due"], day["tickets_overdue"]) == (1, 2)
    # an agent's open tickets are the own queue, with the team's unassigned ones beside it
    assert (day["tickets_scope"], day["open_tickets"], day["team_unassigned"]) == ("mine", 6, 1)
    for card, ids in (("open_tickets", [6, 5, 1, 3, 8, 2]), ("team_unassigned", [7]), ("tickets_due", [1]),
                      ("tickets_overdue", [6, 5])):
        rows = kpis.card_rows(c, svc, card)
        assert rows.height == day[card] and rows["id"].to_list() == ids, card
    assert kpis.card_rows(c, svc, "tickets_overdue")["sla_state"].to_list() == ["breached", "breached"]


@pytest.mark.parametrize("user", ["svc", "boss"])
def test_ticket_figures_equal_the_desks_tab_counts(company, user):
    c = company.con
    add_tickets(c, company)
    me = company.actor(user, NOW)
    day, desk = kpis.my_day(c, me), ticket_queue.counts(c, me)
    assert day["tickets_overdue"] == desk["breached"] > 0
    assert (day["open_tickets"], day["team_unassigned"]) == (desk["mine"], desk["team_unassigned"])


def test_people_who_do_not_work_tickets_keep_the_open_tickets_of_their_scope(company):
    c = company.con
    add_tickets(c, company)
    c.execute("UPDATE tickets SET customer_id = ? WHERE id IN (1, 2, 4)", [company.customers["rep_a"]])
    rep = company.actor("rep_a", NOW)
    day = kpis.my_day(c, rep)
    assert (day["tickets_scope"], day["open_tickets"]) == ("scope", 2)   # the own customers' open tickets
    assert day["team_unassigned"] is None and day["tickets_overdue"] is None
    assert sorted(kpis.card_rows(c, rep, "open_tickets")["id"].to_list()) == [1, 2]


def test_new_leads_this_week_start_on_the_local_monday_and_agree_with_their_rows(company):
    c = company.con
    add_leads(c, company)
    mkt = company.actor("mkt", NOW)
    day = kpis.my_day(c, mkt)
    assert (day["new_leads"], day["open_leads"]) == (2, 3)
    assert sorted(kpis.card_rows(c, mkt, "new_leads")["id"].to_list()) == [1, 4]
    assert kpis.card_rows(c, mkt, "open_leads").height == 3
    rep = company.actor("rep_a", NOW)   # a rep's open leads are their own
    assert kpis.my_day(c, rep)["open_leads"] == kpis.card_rows(c, rep, "open_leads").height == 2


def test_tasks_due_are_the_viewers_open_tasks_until_the_end_of_the_local_day(company):
    c = company.con
    add_tasks(c, company)
    rep = company.actor("rep_a", NOW)
    assert kpis.my_day(c, rep)["tasks_due"] == 2
    assert kpis.card_rows(c, rep, "tasks_due")["id"].to_list() == [2, 1]
    assert kpis.my_day(c, company.actor("rep_b", NOW))["tasks_due"] == 0


def test_rows_of_a_card_that_does_not_apply_are_empty(company):
    assert kpis.card_rows(company.con, company.actor("rep_a", NOW), "tickets_due").is_empty()
    with pytest.raises(ValueError):
        kpis.card_rows(company.con, company.actor("rep_a", NOW), "customers")


# ---------------------------------------------------------------- the page (AppTest)
from tests.pages.test_pages import app_as, crm_db  # noqa: E402,F401  (module fixture: a company on a file)


def cards(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def links(at) -> list[tuple[str, str]]:
    """(label, page?query) of the cards' links, in order."""
    return [(el.proto.label, f"{el.proto.page}?{el.proto.query_string}") for el in at.get("page_link")]


def test_my_day_page_labels_say_what_each_number_counts(crm_db):
    rep = app_as("rep_a").run()
    assert not rep.exception
    assert cards(rep)["My customers"] == "1"
    # each card opens the list behind its number on the customers page
    assert links(rep) == [("Open the list", "customers?holder=owned"), ("1 in the shared pool", "customers?holder=pool"),
                          ("Open the list", "customers?holder=owned&due=today"),
                          ("0 overdue", "customers?holder=owned&due=overdue")]
    boss = app_as("boss").run()
    assert cards(boss)["All customers"] == "6" and links(boss)[0] == ("Open the list", "customers?holder=all")
    assert "Team customers" in cards(app_as("mgr").run())
    for user in ("mkt", "svc"):
        at = app_as(user).run()
        assert not at.exception
        assert not {"My customers", "All customers", "Team customers"} & set(cards(at)), cards(at)
    assert "New leads this week" in cards(app_as("mkt").run())
    svc = app_as("svc").run()
    assert "Tickets due today" in cards(svc)
    # a service agent's open tickets are the own queue, not the whole company's
    assert "My open tickets" in cards(svc) and "Open tickets" not in cards(svc)
    assert ("Open the service desk", "tickets?") in links(svc)
    assert any("unassigned in my team's queue" in el.value for el in svc.caption)
