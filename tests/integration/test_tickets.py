"""Tickets (issue 8 points 1, 6, 9 and "Bad input"): create with every field, the status flow and its
refusals, pause / resume / replan through core.sla, the conversation (replies vs notes, first response),
claim and bulk assign, merge, reopen within the window and after it, the customer's history as the
viewer may see it, the one scope rule, and two agents replying at once."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest

from core import access, auth, contacts, db, deals, fields, orders, settings, setup, sla, tickets
from core.context import utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tests.conftest import NOW, build_company

MON = dt.datetime(2026, 11, 23, 2, 0)     # Monday 10:00 in Shanghai (UTC+8), working hours 09:00-18:00


def rows(c, sql, params=None):
    return db.rows(c, sql, params)


def at(company, username, when):
    return dataclasses.replace(company.actor(username), now=when)


def new_ticket(company, username="svc", when=MON, **values):
    base = {"subject": "Cannot log in", "customer_id": company.customers["rep_a"], "category": "technical",
            "sub_category": "login", "priority": "high", "channel": "phone"}
    base.update(values)
    return tickets.create_ticket(company.con, at(company, username, when), base)


# ---------------------------------------------------------------------------------------- creating
def test_a_ticket_is_created_with_every_field_a_number_the_service_queue_and_business_hour_dues(company):
    c = company.con
    rep = company.actor("rep_a")
    person = contacts.create_contact(c, rep, company.customers["rep_a"], {"name": "Li Lei", "phone": "13900000001"})
    order = orders.create_order(c, rep, {"customer_id": company.customers["rep_a"]},
                                [{"description": "Licence", "quantity": 1, "unit_price": 100}])
    tid = new_ticket(company, description="It says **wrong password** <b>twice</b>", contact_id=person,
                     order_id=order)
    t = tickets.get_ticket(c, at(company, "svc", MON), tid)
    assert t["ticket_no"] == f"TK{tid:07d}" and t["status"] == "new"
    assert (t["category"], t["sub_category"], t["priority"], t["channel"]) == ("technical", "login", "high", "phone")
    assert (t["contact_name"], t["order_id"], t["customer_name"]) == ("Li Lei", order, "Customer of rep_a")
    assert t["team_id"] == company.teams["service"] and t["assignee_id"] is None
    assert t["description"] == "It says **wrong password** <b>twice</b>"       # stored as typed
    # high: 4 business hours to first response, 24 to resolution, counted in working hours (09:00-18:00)
    assert (t["first_response_minutes"], t["resolution_minutes"]) == (240, 1440)
    assert t["first_response_due"] == dt.datetime(2026, 11, 23, 6, 0)          # Monday 14:00 local
    assert t["resolution_due"] == sla.due_at(c, MON, 1440) == dt.datetime(2026, 11, 25, 8, 0)  # Wed 16:00 local
    assert t["sla_target"] == "first_response" and t["sla_state"] == "ok"
    ev = tickets.events(c, company.actor("svc"), tid)
    assert ev["kind"].to_list() == ["created"]
    assert rows(c, "SELECT count(*) AS n FROM audit_log WHERE entity = 'ticket' AND entity_id = ? AND action = 'create'",
                [tid])[0]["n"] > 0


def test_a_custom_field_of_tickets_is_validated_and_stored(company):
    c, boss = company.con, company.actor("boss")
    fields.save_field(c, boss, "ticket", None, kind="choice", label_en="Severity", label_zh="严重程度",
                      options=[("s1", "S1", "一级"), ("s2", "S2", "二级")])
    name = [k for k, f in fields.definitions(c, "ticket").items() if f.custom][0]
    tid = new_ticket(company, **{name: "s1"})
    assert tickets.get_ticket(c, company.actor("svc"), tid)[name] == "s1"
    with pytest.raises(ValidationError):
        new_ticket(company, **{name: "s9"})


@pytest.mark.parametrize("values, key", [
    ({"sub_category": "invoice"}, "ticket.subcategory_mismatch"),             # billing's, not technical's
    ({"category": None}, "ticket.subcategory_mismatch"),                      # a sub-category needs its category
    ({"channel": "pigeon"}, "field.bad_choice"),
    ({"priority": "urgent"}, "field.bad_choice"),
    ({"subject": "   "}, "field.required"),
])
def test_bad_values_are_refused_with_a_message(company, values, key):
    with pytest.raises(ValidationError) as err:
        new_ticket(company, **values)
    assert err.value.key == key


def test_the_contact_and_order_must_be_the_customers(company):
    c = company.con
    other = contacts.create_contact(c, company.actor("rep_b"), company.customers["rep_b"], {"name": "Not hers"})
    with pytest.raises(ValidationError) as err:
        new_ticket(company, contact_id=other)
    assert err.value.key == "ticket.bad_contact"


def test_a_ticket_for_a_customer_the_actor_cannot_see_is_not_found(company):
    with pytest.raises(NotFound):
        new_ticket(company, "rep_b", customer_id=company.customers["rep_a"])
    with pytest.raises(PermissionDenied):
        new_ticket(company, "mkt")                                            # marketing opens no tickets


# ---------------------------------------------------------------------------------------- scope
def test_a_rep_sees_own_customers_tickets_a_manager_the_tree_an_agent_all(company):
    c = company.con
    mine = new_ticket(company)
    theirs = new_ticket(company, customer_id=company.customers["rep_w"])
    assert tickets.get_ticket(c, company.actor("rep_a"), mine)["id"] == mine
    with pytest.raises(NotFound):
        tickets.get_ticket(c, company.actor("rep_a"), theirs)
    with pytest.raises(NotFound):
        tickets.events(c, company.actor("rep_a"), theirs)
    with pytest.raises(NotFound):
        tickets.get_ticket(c, company.actor("mgr"), theirs)                   # west is not under east
    assert tickets.get_ticket(c, company.actor("mgr"), mine)["id"] == mine
    assert {tickets.get_ticket(c, company.actor("svc"), i)["id"] for i in (mine, theirs)} == {mine, theirs}
    assert set(tickets.list_open(c, company.actor("rep_a"))["id"].to_list()) == {mine}
    with pytest.raises(NotFound):
        tickets.get_ticket(c, company.actor("svc"), "1 OR 1=1")


# ---------------------------------------------------------------------------------------- conversation
def test_replies_and_notes_are_events_and_only_an_agents_reply_is_the_first_response(company):
    c = company.con
    tid = new_ticket(company)
    tickets.add_note(c, at(company, "svc", MON + dt.timedelta(minutes=10)), tid, "Checked the logs <script>")
    t = tickets.get_ticket(c, company.actor("svc"), tid)
    assert t["first_response_at"] is None and t["status"] == "new"            # a note never counts
    reply_at = MON + dt.timedelta(minutes=30)
    tickets.reply(c, at(company, "svc", reply_at), tid, "Please reset via **this** [link](http://x)", channel="email")
    t = tickets.get_ticket(c, company.actor("svc"), tid)
    assert t["first_response_at"] == reply_at and t["status"] == "open"       # the first reply opens it
    assert t["sla_target"] == "resolution"
    tickets.reply(c, at(company, "svc", reply_at + dt.timedelta(hours=1)), tid, "Any luck?")
    assert tickets.get_ticket(c, company.actor("svc"), tid)["first_response_at"] == reply_at
    ev = tickets.events(c, company.actor("svc"), tid)
    assert ev["kind"].to_list() == ["created", "note", "reply", "status", "reply"]
    assert ev["body"].to_list()[1:3] == ["Checked the logs <script>", "Please reset via **this** [link](http://x)"]
    assert ev["channel"].to_list()[2] == "email" and ev["user_name"].to_list()[2] == "Sue Service"
    with pytest.raises(ValidationError):
        tickets.reply(c, company.actor("svc"), tid, "  ")
    with pytest.raises(PermissionDenied):
        tickets.reply(c, company.actor("rep_a"), tid, "reps read tickets, agents answer them")


# ---------------------------------------------------------------------------------------- status flow
def test_the_status_flow_and_an_invalid_move_refused_with_a_message(company):
    c = company.con
    svc = company.actor("svc")
    tid = new_ticket(company)
    tickets.set_status(c, svc, tid, "open")
    with pytest.raises(ValidationError) as err:
        tickets.set_status(c, svc, tid, "new")
    assert err.value.key == "ticket.no_back_to_new"
    tickets.set_status(c, svc, tid, "resolved", resolution="Reset the password")
    with pytest.raises(ValidationError) as err:
        tickets.set_status(c, svc, tid, "pending")
    assert err.value.key == "ticket.resolved_moves"
    tickets.set_status(c, svc, tid, "closed")
    with pytest.raises(ValidationError) as err:
        tickets.set_status(c, svc, tid, "pending")                             # closed -> pending
    assert err.value.key == "ticket.closed_moves"
    from core.i18n import translate
    assert translate("zh", err.value.key) == "已关闭的工单只能重新打开。"
    t = tickets.get_ticket(c, svc, tid)
    assert (t["status"], t["resolution"]) == ("closed", "Reset the password")
    assert t["resolved_at"] is not None and t["closed_at"] is not None
    ev = tickets.events(c, svc, tid).filter(tickets.events(c, svc, tid)["kind"] == "status")
    assert list(zip(ev["from_value"], ev["to_value"])) == [("new", "open"), ("open", "resolved"), ("resolved", "closed")]
    with pytest.raises(ValidationError):
        tickets.set_status(c, svc, tid, "done")


def test_pending_pauses_the_sla_clock_and_the_answer_moves_the_due_later(company):
    c = company.con
    tid = new_ticket(company)                                                 # first response due Mon 14:00 local
    due = tickets.get_ticket(c, company.actor("svc"), tid)["first_response_due"]
    tickets.set_status(c, at(company, "svc", MON + dt.timedelta(hours=1)), tid, "pending")
    t = tickets.get_ticket(c, at(company, "svc", MON + dt.timedelta(hours=3)), tid)
    assert t["pending_since"] == MON + dt.timedelta(hours=1) and t["sla_state"] == "paused"
    assert t["sla_left_minutes"] == pytest.approx(180)                        # frozen at the pause
    tickets.set_status(c, at(company, "svc", MON + dt.timedelta(hours=3)), tid, "open")
    t = tickets.get_ticket(c, company.actor("svc"), tid)
    assert t["pending_since"] is None and t["paused_minutes"] == 120
    assert t["first_response_due"] == due + dt.timedelta(hours=2)
    assert tickets.events(c, company.actor("svc"), tid)["kind"].to_list() == ["created", "status", "status"]


def test_a_priority_change_replans_the_sla_and_is_an_event(company):
    c = company.con
    tid = new_ticket(company, priority="low")
    assert tickets.get_ticket(c, company.actor("svc"), tid)["first_response_minutes"] == 24 * 60
    tickets.update_ticket(c, at(company, "svc", MON + dt.timedelta(minutes=5)), tid, {"priority": "critical"})
    t = tickets.get_ticket(c, company.actor("svc"), tid)
    assert (t["priority"], t["first_response_minutes"]) == ("critical", 60)
    assert t["first_response_due"] == MON + dt.timedelta(hours=1)
    ev = tickets.events(c, company.actor("svc"), tid).to_dicts()[-1]
    assert (ev["kind"], ev["from_value"], ev["to_value"]) == ("priority", "low", "critical")
    with pytest.raises(ValidationError):
        tickets.update_ticket(c, company.actor("svc"), tid, {"status": "closed"})
    with pytest.raises(ValidationError):
        tickets.update_ticket(c, company.actor("svc"), tid, {"customer_id": company.customers["rep_b"]})


def test_a_stale_edit_is_a_conflict(company):
    c = company.con
    tid = new_ticket(company)
    seen = tickets.get_ticket(c, company.actor("svc"), tid)
    tickets.update_ticket(c, at(company, "svc", MON + dt.timedelta(minutes=1)), tid, {"subject": "First edit"})
    with pytest.raises(Conflict):
        tickets.update_ticket(c, at(company, "svc", MON + dt.timedelta(minutes=2)), tid, {"subject": "Second"},
                              seen=seen)


# ---------------------------------------------------------------------------------------- claim, assign
def test_claim_an_unassigned_ticket_and_someone_elses_is_refused(company):
    c = company.con
    tid = new_ticket(company)
    tickets.claim(c, company.actor("svc"), tid)
    t = tickets.get_ticket(c, company.actor("svc"), tid)
    assert t["assignee_id"] == company.users["svc"] and t["assignee_name"] == "Sue Service"
    ev = tickets.events(c, company.actor("svc"), tid).to_dicts()[-1]
    assert (ev["kind"], ev["to_name"]) == ("assign", "Sue Service")
    with pytest.raises(Conflict) as err:
        tickets.claim(c, company.actor("boss"), tid)
    assert err.value.params == {"by": "Sue Service"}


def test_bulk_assign_is_the_service_leads_and_writes_an_event_per_ticket(company):
    c, boss = company.con, company.actor("boss")
    ids = [new_ticket(company) for _ in range(3)]
    helper = auth.actor_for(c, "svc", NOW)
    from core import org
    org.create_user(c, boss, "svc2", "Sam Service", "service", "Start#2026", team_id=company.teams["service"])
    c.execute("UPDATE teams SET lead_id = ? WHERE id = ?", [company.users["svc"], company.teams["service"]])
    sam = company.actor("svc2")
    assert tickets.can_assign(c, helper) and not tickets.can_assign(c, sam)
    with pytest.raises(PermissionDenied):
        tickets.assign(c, sam, ids, sam.id)
    assert tickets.assign(c, helper, ids, sam.id) == 3
    assert tickets.assign(c, helper, ids, sam.id) == 0                        # nothing changed the second time
    assert {tickets.get_ticket(c, helper, i)["assignee_id"] for i in ids} == {sam.id}
    assert rows(c, "SELECT count(*) AS n FROM ticket_events WHERE kind = 'assign' AND to_value = ?",
                [str(sam.id)])[0]["n"] == 3
    with pytest.raises(ValidationError):
        tickets.assign(c, helper, ids, company.users["mkt"])                  # marketing works no tickets
    with pytest.raises(PermissionDenied):
        tickets.assign(c, company.actor("rep_a"), ids, sam.id)


# ---------------------------------------------------------------------------------------- merge, reopen
def test_merge_moves_every_event_and_closes_the_duplicate_with_a_link(company):
    c, svc = company.con, company.actor("svc")
    keep = new_ticket(company)
    dup = new_ticket(company, subject="Login again", when=MON + dt.timedelta(minutes=5))
    tickets.reply(c, at(company, "svc", MON + dt.timedelta(minutes=6)), dup, "Answered on the duplicate")
    tickets.add_note(c, at(company, "svc", MON + dt.timedelta(minutes=7)), dup, "Note on the duplicate")
    before = tickets.events(c, svc, dup)
    result = tickets.merge(c, at(company, "svc", MON + dt.timedelta(minutes=8)), dup, keep)
    assert result == {"into": keep, "moved": before.height}
    after = tickets.events(c, svc, keep)
    moved = after.filter(after["moved_from"] == dup)
    assert sorted(moved["id"].to_list()) == sorted(before["id"].to_list())     # every event kept
    d = tickets.get_ticket(c, svc, dup)
    assert (d["status"], d["merged_into"], d["merged_into_no"]) == ("closed", keep, f"TK{keep:07d}")
    k = tickets.get_ticket(c, svc, keep)
    assert k["merged_here"] == [{"id": dup, "ticket_no": f"TK{dup:07d}"}]
    assert k["first_response_at"] == MON + dt.timedelta(minutes=6)            # the reply answered the customer
    with pytest.raises(ValidationError):
        tickets.merge(c, svc, keep, keep)
    other = new_ticket(company, customer_id=company.customers["rep_b"])
    with pytest.raises(ValidationError) as err:
        tickets.merge(c, svc, other, keep)
    assert err.value.key == "ticket.merge_other_customer"


def test_reopen_within_the_window_is_the_same_ticket_after_it_a_new_linked_one(company):
    c = company.con
    settings_days = 7
    tid = new_ticket(company)
    tickets.set_status(c, at(company, "svc", MON), tid, "resolved")
    again = tickets.reopen(c, at(company, "svc", MON + dt.timedelta(days=settings_days - 1)), tid, "Still broken")
    assert again == tid
    t = tickets.get_ticket(c, company.actor("svc"), tid)
    assert (t["status"], t["reopen_count"], t["resolved_at"]) == ("open", 1, None)
    tickets.set_status(c, at(company, "svc", MON + dt.timedelta(days=7)), tid, "closed")
    late = MON + dt.timedelta(days=7 + settings_days + 1)
    with pytest.raises(ValidationError) as err:
        tickets.set_status(c, at(company, "svc", late), tid, "open")
    assert err.value.key == "ticket.reopen_window_passed" and err.value.params == {"days": 7}
    new_id = tickets.reopen(c, at(company, "svc", late), tid, "Broken once more")
    assert new_id != tid
    n = tickets.get_ticket(c, company.actor("svc"), new_id)
    assert (n["parent_id"], n["status"], n["customer_id"], n["subject"]) == (tid, "new", t["customer_id"],
                                                                            "Cannot log in")
    assert n["description"] == "Broken once more"
    assert tickets.get_ticket(c, company.actor("svc"), tid)["follow_ups"] == [{"id": new_id, "ticket_no": n["ticket_no"]}]
    assert tickets.events(c, company.actor("svc"), tid)["kind"].to_list()[-1] == "reopen"


def test_a_reopened_ticket_gets_a_fresh_resolution_clock_not_its_old_breached_due(company):
    c = company.con
    tid = new_ticket(company, priority="high")                                # Mon 10:00 local
    tickets.reply(c, at(company, "svc", MON + dt.timedelta(minutes=30)), tid, "Try again please")
    old = tickets.get_ticket(c, company.actor("svc"), tid)
    tickets.set_status(c, at(company, "svc", MON + dt.timedelta(hours=2)), tid, "resolved")
    back = MON + dt.timedelta(days=3)                     # Thursday 10:00 local, long past the old due
    assert back > old["resolution_due"]
    assert tickets.reopen(c, at(company, "svc", back), tid, "Still broken") == tid
    t = tickets.get_ticket(c, at(company, "svc", back), tid)
    # the resolution clock starts again at the reopen with the full target: not breached at once
    assert (t["sla_target"], t["sla_state"]) == ("resolution", "ok")
    assert t["sla_left_minutes"] == pytest.approx(old["resolution_minutes"])
    assert t["resolution_due"] == sla.due_at(c, back, old["resolution_minutes"])
    assert t["first_response_due"] == old["first_response_due"]               # the first response was met: history
    # a priority change after the reopen plans from the reopen too
    tickets.update_ticket(c, at(company, "svc", back + dt.timedelta(minutes=5)), tid, {"priority": "low"})
    t = tickets.get_ticket(c, at(company, "svc", back + dt.timedelta(minutes=5)), tid)
    assert t["resolution_due"] == sla.due_at(c, back, t["resolution_minutes"]) and t["sla_state"] == "ok"
    # set_status back to open (the page's other way to reopen) restarts the clock the same way
    tickets.set_status(c, at(company, "svc", back + dt.timedelta(hours=1)), tid, "resolved")
    again = back + dt.timedelta(days=1)
    tickets.set_status(c, at(company, "svc", again), tid, "open")
    t = tickets.get_ticket(c, at(company, "svc", again), tid)
    assert t["resolution_due"] == sla.due_at(c, again, t["resolution_minutes"]) and t["sla_state"] == "ok"
    # the bulk replan (demo, import) plans a reopened ticket the same way
    assert sla.replan_many(c, "t.id = ?", [tid]) == 1
    bulk = tickets.get_ticket(c, at(company, "svc", again), tid)
    assert (bulk["resolution_due"], bulk["first_response_due"]) == (t["resolution_due"], t["first_response_due"])


def test_the_reopen_window_is_the_setting(company):
    c = company.con
    settings.set_value(c, company.actor("boss"), "service.reopen_days", 1)
    tid = new_ticket(company)
    tickets.set_status(c, at(company, "svc", MON), tid, "resolved")
    assert tickets.reopen(c, at(company, "svc", MON + dt.timedelta(days=2)), tid, "Again") != tid


# ---------------------------------------------------------------------------------------- history
def test_the_customer_history_shows_what_the_viewer_may_see(company):
    c = company.con
    rep = company.actor("rep_a")
    cid = company.customers["rep_a"]
    deals.create_deal(c, rep, {"name": "Renewal", "customer_id": cid})
    orders.create_order(c, rep, {"customer_id": cid}, [{"description": "Licence", "quantity": 1, "unit_price": 50}])
    from core import activities
    activities.log_followup(c, rep, cid, kind="call", subject="Called about the renewal")
    earlier = new_ticket(company)
    current = new_ticket(company, subject="Now")
    h = tickets.customer_history(c, company.actor("svc"), cid, exclude_ticket=current)
    assert h["tickets"]["id"].to_list() == [earlier]
    assert h["deals"]["name"].to_list() == ["Renewal"] and h["orders"].height == 1
    assert h["followups"]["subject"].to_list() == ["Called about the renewal"]
    # the admin takes the deals view away from service agents: the history leaves deals out
    access.set_scope(c, company.actor("boss"), "service", "deals", "view", "none")
    h = tickets.customer_history(c, company.actor("svc"), cid)
    assert h["deals"] is None and h["orders"] is not None
    data = tickets.page_data(c, company.actor("svc"), current)
    assert data["ticket"]["id"] == current and data["events"].height == 1 and data["history"]["deals"] is None


# ---------------------------------------------------------------------------------------- two agents at once
def test_a_unit_run_again_after_a_conflict_reads_after_the_winner_in_the_conversation(company):
    """Agent A clicks first (10:00:00) but loses the conflict; B (10:00:01) commits first; A's unit runs
    again with A's click time. The conversation must read in the order the changes took effect: A's reply and
    status change after B's, the last status event being the ticket's status."""
    c = company.con
    tid = new_ticket(company)
    click_a, click_b = MON + dt.timedelta(minutes=10), MON + dt.timedelta(minutes=10, seconds=1)
    tickets.reply(c, at(company, "svc", click_b), tid, "B: we are on it", status="open")      # the winner
    tickets.reply(c, at(company, "svc", click_a), tid, "A: please send a screenshot", status="pending")  # the rerun
    ev = tickets.events(c, company.actor("svc"), tid)                          # as the page shows it
    assert [b for b in ev["body"].to_list() if b and b[1] == ":"] == ["B: we are on it", "A: please send a screenshot"]
    statuses = ev.filter(ev["kind"] == "status")["to_value"].to_list()
    assert statuses == ["open", "pending"]
    assert tickets.get_ticket(c, company.actor("svc"), tid)["status"] == statuses[-1] == "pending"
    assert ev["occurred_at"].is_sorted()


def test_a_bulk_assignment_and_a_rating_run_again_late_still_read_after_the_latest_event(company):
    """The same rule for the services that write several tickets' events at once (bulk assign) and for the
    CSAT: a unit whose click time is earlier than the ticket's latest event is dated at that event."""
    from core import feedback

    c = company.con
    tid = new_ticket(company)
    later = MON + dt.timedelta(minutes=30)
    tickets.reply(c, at(company, "svc", later), tid, "Fixed on our side", status="resolved")
    tickets.assign(c, at(company, "boss", MON + dt.timedelta(minutes=5)), [tid], company.users["svc"])
    feedback.record_csat(c, at(company, "svc", MON + dt.timedelta(minutes=6)), tid, 4)
    ev = tickets.events(c, company.actor("svc"), tid)
    assert ev["kind"].to_list()[-2:] == ["assign", "csat"]
    assert ev["occurred_at"].is_sorted() and ev["occurred_at"].to_list()[-1] == later


def test_two_agents_replying_at_once_both_land_and_the_status_is_the_last_ones(tmp_path):
    c = db.connect(tmp_path / "crm.duckdb")
    setup.prepare(c)
    company = build_company(c)
    from core import org
    org.create_user(c, company.actor("boss"), "svc2", "Sam Service", "service", "Start#2026",
                    team_id=company.teams["service"])
    tid = tickets.create_ticket(c, company.actor("svc"), {"subject": "Race", "customer_id": company.customers["rep_a"]})
    barrier = threading.Barrier(2)
    outcomes = {}

    def answer(username, status):
        cur = c.cursor()
        barrier.wait()
        try:
            actor = dataclasses.replace(auth.actor_for(cur, username, NOW), now=utcnow())
            outcomes[username] = tickets.reply(cur, actor, tid, f"Answer of {username}", status=status)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcomes[username] = exc

    # waiting on the customer / open again: each may follow the other, whichever commits first
    threads = [threading.Thread(target=answer, args=("svc", "pending")),
               threading.Thread(target=answer, args=("svc2", "open"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(isinstance(v, int) for v in outcomes.values()), outcomes
    ev = tickets.events(c, company.actor("svc"), tid)
    replies = ev.filter(ev["kind"] == "reply")
    assert sorted(replies["body"].to_list()) == ["Answer of svc", "Answer of svc2"]
    # the unit that committed last chose it, and the conversation (as the page shows it) ends with its choice
    statuses = ev.filter(ev["kind"] == "status")
    assert statuses.height == 2                                               # both choices kept
    assert tickets.get_ticket(c, company.actor("svc"), tid)["status"] == statuses["to_value"].to_list()[-1]
    assert statuses["id"].is_sorted()                                         # shown in the order they took effect
    c.close()
