"""The service desk screen (views/tickets.py without a ticket open) as agents, the lead and reps meet it:
the queue tabs carry their counts, the agent's queue is sorted by time left with the breached ticket on
top, each row opens its ticket, an unassigned ticket is claimed from its row, the lead assigns several
tickets at once, a rep sees only the own customers' tickets and cannot claim, filters narrow the rows."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import tickets
from core.context import utcnow
from tests.conftest import company_app, logged_in

MONTH = 60 * 24 * 30


@pytest.fixture
def desk_db(tmp_path):
    def prepare(con, company):
        now = utcnow()

        def ticket(subject, priority, customer, assignee, minutes_ago):
            return tickets.create_ticket(
                con, company.actor("svc", now - dt.timedelta(minutes=minutes_ago)),
                {"subject": subject, "customer_id": company.customers[customer], "priority": priority},
                assignee_id=company.users[assignee] if assignee else None)

        company.t = {
            "late": ticket("Printer on fire", "critical", "rep_a", "svc", MONTH),   # long breached
            "fresh": ticket("Cannot log in", "low", "rep_w", "svc", 1),
            "free": ticket("Invoice **wrong**", "medium", "rep_b", None, 2),
            "free2": ticket("Refund please", "low", "rep_a", None, 3),
        }

    with company_app(tmp_path, prepare) as company:
        yield company


def desk_as(username: str, lang: str | None = None) -> AppTest:
    at = logged_in(username, lang).run().switch_page("views/tickets.py").run()
    assert not at.exception, at.exception
    return at


def tabs(at: AppTest) -> list[str]:
    return [o.content for o in at.button_group(key="tq_view").proto.options]


def rows(at: AppTest) -> list[str]:
    """The tickets listed, in order: each row opens its ticket's page."""
    return [b.label.replace("\\", "") for b in at.button if b.key and b.key.startswith("tq_open_")]


def pick_view(at: AppTest, view: str | None) -> AppTest:
    at.button_group(key="tq_view").set_value(view).run()
    assert not at.exception, at.exception
    return at


def test_the_agent_sees_the_tabs_with_counts_and_the_breached_ticket_first(desk_db):
    at = desk_as("svc")
    assert tabs(at) == ["Assigned to me (2)", "My team's unassigned (2)", "At risk (0)", "Breached (1)",
                        "All open (4)"]
    assert at.button_group(key="tq_view").value == "mine"
    assert rows(at) == ["TK%07d · Printer on fire" % desk_db.t["late"], "TK%07d · Cannot log in" % desk_db.t["fresh"]]
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert badges[0].startswith(":red-badge[Overdue") and badges[1].startswith(":blue-badge[")
    breached = pick_view(at, "breached")
    assert rows(breached) == ["TK%07d · Printer on fire" % desk_db.t["late"]]
    # a second click on the tab shown unselects the control: the desk stays on that tab
    again = pick_view(breached, None)
    assert again.button_group(key="tq_view").value == "breached"
    assert rows(again) == ["TK%07d · Printer on fire" % desk_db.t["late"]]


def test_a_row_opens_its_ticket_and_the_desk_keeps_its_view(desk_db):
    at = pick_view(desk_as("svc"), "all")
    at.button(key=f"tq_open_{desk_db.t['fresh']}").click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("id") == str(desk_db.t["fresh"])
    assert any("Cannot log in" in h.value for h in at.title)
    at.button(key="ticket_back").click().run()                    # the ticket page's way back
    assert not at.exception, at.exception
    assert at.button_group(key="tq_view").value == "all"
    at.button(key="tq_new").click().run()                         # "New ticket": the form on the same page
    assert not at.exception, at.exception
    assert at.query_params.get("new") == "1"


def test_an_unassigned_ticket_is_claimed_from_its_row(desk_db):
    at = pick_view(desk_as("svc"), "team_unassigned")
    free = desk_db.t["free"]
    assert "TK%07d · Invoice **wrong**" % free in rows(at)    # the subject shows as typed, not bold
    at.button(key=f"tq_claim_{free}").click().run()
    assert not at.exception, at.exception
    assert any(f"TK{free:07d}" in s.value for s in at.success)
    assert tabs(at)[:2] == ["Assigned to me (3)", "My team's unassigned (1)"]
    assert all(f"TK{free:07d}" not in r for r in rows(at))


def test_the_lead_assigns_several_tickets_at_once(desk_db):
    at = pick_view(desk_as("boss"), "team_unassigned")
    for key in ("free", "free2"):
        at.checkbox(key=f"tq_pick_{desk_db.t[key]}").check().run()
    at.selectbox(key="tq_assign_to").set_value(desk_db.users["svc"]).run()
    assert at.button(key="tq_assign").label == "Assign 2 tickets"
    at.button(key="tq_assign").click().run()
    assert not at.exception, at.exception
    assert any(s.value == "2 tickets assigned to Sue Service." for s in at.success)
    assert tabs(at)[1] == "My team's unassigned (0)"
    svc = desk_as("svc")
    assert tabs(svc)[0] == "Assigned to me (4)"


def test_an_agent_who_is_not_the_lead_claims_but_does_not_assign(desk_db):
    from ui.db import database

    database().cursor().execute(  # the service team names its lead: only the lead assigns now
"UPDATE teams SET lead_id = ? WHERE id = ?", [desk_db.users["boss"],
                                                                              desk_db.teams["service"]])
    at = pick_view(desk_as("svc"), "team_unassigned")
    assert at.button(key=f"tq_claim_{desk_db.t['free']}")
    assert not [cb for cb in at.checkbox if cb.key and cb.key.startswith("tq_pick_")]
    assert not [b for b in at.button if b.key == "tq_assign"]


def test_a_rep_sees_only_own_customers_tickets_in_chinese_and_cannot_claim(desk_db):
    at = desk_as("rep_a", "zh")
    assert at.button_group(key="tq_view").value == "all"
    assert tabs(at)[-1] == "全部未结（2）"
    assert sorted(rows(at)) == sorted(["TK%07d · Printer on fire" % desk_db.t["late"],
                                       "TK%07d · Refund please" % desk_db.t["free2"]])
    assert not [b for b in at.button if b.key and b.key.startswith("tq_claim_")]
    assert not [b for b in at.button if b.key == "tq_assign"]
    assert "未分配" in [c.value for c in at.caption]


def test_filters_narrow_the_rows_and_the_counts(desk_db):
    at = pick_view(desk_as("svc"), "all")
    at.multiselect(key="tq_priority").set_value(["low"]).run()
    assert not at.exception, at.exception
    assert sorted(rows(at)) == sorted(["TK%07d · Cannot log in" % desk_db.t["fresh"],
                                       "TK%07d · Refund please" % desk_db.t["free2"]])
    assert tabs(at)[-1] == "All open (2)"
    at.text_input(key="tq_q").input("rep_w").run()
    assert rows(at) == ["TK%07d · Cannot log in" % desk_db.t["fresh"]]
    at.text_input(key="tq_q").input("nothing like this").run()
    assert rows(at) == [] and any("No ticket matches" in i.value for i in at.info)


def test_a_second_claim_on_the_same_row_claims_nothing_else(desk_db):
    """A double click (or a second tab): the second click is bound to the ticket it was drawn for, finds it
    taken by this user and says so; the ticket that moved up into its row stays unassigned."""
    free, free2 = desk_db.t["free"], desk_db.t["free2"]
    first, second = pick_view(desk_as("svc"), "team_unassigned"), pick_view(desk_as("svc"), "team_unassigned")
    first.button(key=f"tq_claim_{free}").click().run()
    second.button(key=f"tq_claim_{free}").click().run()
    assert not second.exception and not second.error
    assert any(f"Ticket TK{free:07d} is yours already" in s.value for s in second.info)
    assert not any(f"TK{free:07d}" in s.value for s in second.success)
    from ui.db import database

    con = database().cursor()
    assert tickets.get_ticket(con, tickets_actor(con), free2)["assignee_id"] is None
    assert tabs(second)[:2] == ["Assigned to me (3)", "My team's unassigned (1)"]


def tickets_actor(con):
    from core import auth

    return auth.actor_for(con, "svc")
