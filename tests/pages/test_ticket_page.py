"""The ticket page as agents, reps and the admin meet it: the conversation with replies and internal notes
drawn differently and every text shown as typed (never Markdown or HTML); a reply from the page is the
first response; claim; a rep reads "not found" for a ticket of a customer not theirs; the customer's
history shows only the modules the viewer may view; merge links both tickets; a new ticket starts from
the customer page's link."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import access, auth, deals, tickets
from tests.conftest import company_app, logged_in

EVIL = "**bold** <b>html</b> [click](http://evil.example) :red[x]"


@pytest.fixture
def desk(tmp_path):
    def prepare(con, company):
        svc, boss = company.actor("svc"), company.actor("boss")
        cid = company.customers["rep_a"]
        deals.create_deal(con, company.actor("rep_a"), {"name": "Renewal 2027", "customer_id": cid})
        company.tickets = {
            "a": tickets.create_ticket(con, svc, {"subject": "Cannot log in", "customer_id": cid,
                                                  "description": "From the e-mail: " + EVIL, "category": "technical",
                                                  "sub_category": "login", "priority": "high", "channel": "email"}),
            "dup": tickets.create_ticket(con, svc, {"subject": "Login again", "customer_id": cid}),
            "west": tickets.create_ticket(con, svc, {"subject": "West problem",
                                                     "customer_id": company.customers["rep_w"]}),
        }
        later = dataclasses.replace(svc, now=svc.now + dt.timedelta(minutes=5))
        tickets.reply(con, later, company.tickets["a"], "Reply: " + EVIL, channel="email")
        tickets.add_note(con, later, company.tickets["a"], "Note: " + EVIL)
        # service agents may not view deals here: the history leaves them out for them
        access.set_scope(con, boss, "service", "deals", "view", "none")

    with company_app(tmp_path, prepare) as company:
        yield company


def ticket_as(username: str, lang: str | None = None, **query) -> AppTest:
    return logged_in(username, lang, **query).run().switch_page("views/tickets.py").run()


def cursor():
    from ui.db import database

    return database().cursor()


def markdown_like(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [x.value for x in at.title] + [x.value for x in at.caption]
    parts += [x.value for x in at.subheader] + [x.value for x in at.error] + [x.value for x in at.success]
    return "\n".join(parts)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_the_conversation_shows_replies_and_notes_differently_and_never_renders_user_text(desk):
    tid = desk.tickets["a"]
    at = ticket_as("svc", id=str(tid))
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert any(f"TK{tid:07d}" in x.value and "Cannot log in" in x.value for x in at.title)
    texts = [x.value for x in at.text]
    assert "From the e-mail: " + EVIL in texts and "Reply: " + EVIL in texts and "Note: " + EVIL in texts
    # user text never reaches a Markdown element unescaped
    assert "<b>html</b>" not in markdown_like(at) and "**bold**" not in markdown_like(at)
    # the reply is a chat message; the note a box marked "Internal note"
    assert len(at.chat_message) == 1
    assert any("Internal note" in m.value for m in at.markdown)
    assert "SLA time left" in [m.label for m in at.metric]
    assert any("Sue Service replied" in x.value for x in at.caption)


def test_a_reply_from_the_page_is_the_first_response_and_a_note_is_not(desk):
    tid = desk.tickets["dup"]
    at = ticket_as("svc", id=str(tid))
    at.segmented_control[0].set_value("note")
    next(a for a in at.text_area if a.label == "Text").input("Checked the logs")
    button(at, "Save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Internal note added." in s.value for s in at.success)
    got = tickets.get_ticket(cursor(), auth.actor_for(cursor(), "svc"), tid)
    assert got["first_response_at"] is None and got["status"] == "new"
    next(a for a in at.text_area if a.label == "Text").input("We are on it")
    button(at, "Save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    got = tickets.get_ticket(cursor(), auth.actor_for(cursor(), "svc"), tid)
    assert got["first_response_at"] is not None and got["status"] == "open"
    assert "We are on it" in [x.value for x in at.text]


def test_claim_an_unassigned_ticket(desk):
    tid = desk.tickets["dup"]
    at = ticket_as("svc", id=str(tid))
    button(at, "Claim").click().run()
    assert not at.exception and not at.error
    assert any("You took this ticket." in s.value for s in at.success)
    assert tickets.get_ticket(cursor(), auth.actor_for(cursor(), "svc"), tid)["assignee_id"] == desk.users["svc"]
    assert not [b for b in at.button if b.label == "Claim"]


def test_a_rep_reads_not_found_for_a_ticket_of_a_customer_not_theirs(desk):
    at = ticket_as("rep_a", id=str(desk.tickets["west"]))
    assert not at.exception
    assert any("does not exist, or is not yours to see" in e.value for e in at.error)
    assert "West problem" not in markdown_like(at) and not at.text
    for bad in ("abc", "-1", "99999"):
        at = ticket_as("rep_a", id=bad)
        assert not at.exception and any("not yours to see" in e.value for e in at.error)
    # the own customer's ticket: read, no forms (reps do not work tickets)
    at = ticket_as("rep_a", id=str(desk.tickets["a"]))
    assert not at.exception and not at.error
    assert not [b for b in at.button if b.label in ("Save", "Claim", "Change status")]


def test_the_history_shows_only_the_modules_the_viewer_may_view(desk):
    tid = desk.tickets["a"]
    at = ticket_as("svc", id=str(tid))
    labels = [x.label for x in at.tabs]
    assert any(x.startswith("Earlier tickets") for x in labels) and any(x.startswith("Orders") for x in labels)
    assert not any(x.startswith("Deals") for x in labels)                    # service may not view deals here
    at = ticket_as("boss", id=str(tid))
    assert any(x.startswith("Deals (1)") for x in [x.label for x in at.tabs])


def test_merging_a_duplicate_links_both_pages(desk):
    dup, keep = desk.tickets["dup"], desk.tickets["a"]
    at = ticket_as("svc", id=str(dup))
    next(s for s in at.selectbox if s.label == "Merge this ticket into").set_value(keep)
    button(at, "Merge").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    got = tickets.get_ticket(cursor(), auth.actor_for(cursor(), "svc"), dup)
    assert (got["status"], got["merged_into"]) == ("closed", keep)
    at = ticket_as("svc", id=str(keep))
    assert any(f"Ticket TK{dup:07d} was merged into this one" in b.label for b in at.button)
    at = ticket_as("svc", id=str(dup))
    assert any(f"Merged into ticket TK{keep:07d}" in b.label for b in at.button)


def test_a_link_to_another_ticket_puts_its_id_in_the_address_so_the_next_form_works_on_it(desk):
    """The merged / follow-up / earlier-ticket links are buttons setting ?id= (an st.page_link to the page
    already shown leaves the browser's address at the old id in Streamlit 1.67: the next rerun, e.g. the
    reply form's submit, went back to the old ticket and the typed note was lost)."""
    dup, keep = desk.tickets["dup"], desk.tickets["a"]
    tickets.merge(cursor(), auth.actor_for(cursor(), "svc"), dup, keep)
    at = ticket_as("svc", id=str(dup))
    button(at, f"Merged into ticket TK{keep:07d}").click().run()
    assert not at.exception
    assert at.query_params["id"] in ([str(keep)], str(keep))
    assert any(f"TK{keep:07d}" in x.value for x in at.title)
    # the next rerun, the reply form's submit, lands on the ticket shown: the note is kept on it
    next(w for w in at.text_area if w.label == "Text").input("Checked after the merge")
    button(at, "Save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"TK{keep:07d}" in x.value for x in at.title)
    bodies = tickets.events(cursor(), auth.actor_for(cursor(), "svc"), keep)["body"].to_list()
    assert "Checked after the merge" in bodies
    # the earlier tickets in the customer's history open the same way
    earlier = f"TK{desk.tickets['dup']:07d} · Login again"
    button(at, earlier).click().run()
    assert at.query_params["id"] in ([str(dup)], str(dup)) and any(f"TK{dup:07d}" in x.value for x in at.title)


def test_a_new_ticket_starts_from_the_customer_page(desk):
    cid = desk.customers["rep_a"]
    at = logged_in("svc", id=str(cid)).run().switch_page("views/customers.py").run()
    assert not at.exception
    link = next(x for x in at.get("page_link") if x.label == "New ticket")
    assert link.proto.page.endswith("tickets") or "tickets" in link.proto.page
    at = ticket_as("svc", new="1", customer=str(cid))
    assert not at.exception and not at.error, [e.value for e in at.error]
    next(w for w in at.text_input if w.label == "Subject *").input("Invoice is wrong")
    button(at, "Create").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("created" in s.value for s in at.success)
    new = cursor().execute("SELECT id, status, team_id FROM tickets WHERE subject = 'Invoice is wrong'").fetchall()
    assert len(new) == 1 and new[0][1] == "new" and new[0][2] == desk.teams["service"]
    assert at.query_params["id"] == [str(new[0][0])] or at.query_params["id"] == str(new[0][0])


def test_the_page_speaks_chinese(desk):
    at = ticket_as("svc", "zh", id=str(desk.tickets["a"]))
    assert not at.exception and not at.error
    assert "SLA 剩余时间" in [m.label for m in at.metric]
    assert any(x.value == "沟通记录" for x in at.subheader)


def test_resolving_from_the_page_offers_the_csat_rating_and_a_closed_ticket_only_reopens(desk):
    tid = desk.tickets["a"]
    at = ticket_as("svc", id=str(tid))
    next(s for s in at.selectbox if s.label == "New status").set_value("resolved")
    next(a for a in at.text_area if a.label == "Resolution").input("Reset the password")
    button(at, "Change status").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Status now Resolved." in s.value for s in at.success)
    assert any("Customer satisfaction" in m.value for m in at.markdown)       # ui.csat, once resolved
    next(s for s in at.selectbox if s.label == "New status").set_value("closed")
    button(at, "Change status").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    got = tickets.get_ticket(cursor(), auth.actor_for(cursor(), "svc"), tid)
    assert (got["status"], got["resolution"]) == ("closed", "Reset the password")
    # closed: no reply, no status moves; only a reopen with a reason
    assert not [s for s in at.selectbox if s.label == "New status"]
    assert not [a for a in at.text_area if a.label == "Text"]
    next(a for a in at.text_area if a.label == "Why is it reopened?").input("It broke again")
    button(at, "Reopen").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Ticket reopened." in s.value for s in at.success)
    assert tickets.get_ticket(cursor(), auth.actor_for(cursor(), "svc"), tid)["status"] == "open"


def test_the_admin_adds_custom_fields_to_tickets(desk):
    at = logged_in("boss").run().switch_page("views/admin_fields.py").run()
    control = next(w for w in at.get("button_group") if w.label == "Object")
    assert "ticket" in control.options or any("Ticket" in str(o) for o in control.options)
    control.set_value("ticket").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = at.dataframe[0].value
    assert "Sub-category" in shown.iloc[:, 0].tolist()


def test_a_new_ticket_from_the_desk_finds_its_customer_by_name_among_those_the_user_may_see(desk):
    # a rep searching "Customer of" is offered only the own customers; the agent is offered every one
    at = ticket_as("rep_a", new="1")
    assert not at.exception
    at.text_input(key="ticket_new_q").input("Customer of").run()
    assert list(at.selectbox(key="ticket_new_customer").options) == ["Customer of rep_a"]  # AppTest: labels
    at = ticket_as("svc", new="1")
    at.text_input(key="ticket_new_q").input("Customer of").run()
    pick = at.selectbox(key="ticket_new_customer")
    assert {"Customer of rep_a", "Customer of rep_w"} <= set(pick.options)
    pick.select(desk.customers["rep_w"]).run()
    next(w for w in at.text_input if w.label == "Subject *").input("Parcel lost in the west")
    button(at, "Create").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert cursor().execute("SELECT customer_id FROM tickets WHERE subject = 'Parcel lost in the west'").fetchall() \
        == [(desk.customers["rep_w"],)]
    # nothing matches: the page says so instead of an empty select box
    at = ticket_as("svc", new="1")
    at.text_input(key="ticket_new_q").input("zzz no such customer").run()
    assert "No customer found." in [c.value for c in at.caption]


def test_a_second_claim_from_a_stale_page_says_it_is_yours_already(desk):
    """Two tabs (or a double click) on the same ticket: the second Claim claims nothing and says so."""
    tid = desk.tickets["dup"]
    first, second = ticket_as("svc", id=str(tid)), ticket_as("svc", id=str(tid))
    button(first, "Claim").click().run()
    assert any("You took this ticket." in s.value for s in first.success)
    button(second, "Claim").click().run()
    assert not second.exception and not second.error
    shown = [s.value for s in second.success] + [s.value for s in second.info]
    assert "This ticket is yours already." in shown and "You took this ticket." not in shown
    assert tickets.get_ticket(cursor(), auth.actor_for(cursor(), "svc"), tid)["assignee_id"] == desk.users["svc"]


def test_a_merged_duplicate_has_no_sla_no_rating_and_no_forms_only_the_link(desk):
    dup, keep = desk.tickets["dup"], desk.tickets["a"]
    tickets.merge(cursor(), auth.actor_for(cursor(), "svc"), dup, keep)
    at = ticket_as("svc", id=str(dup))
    assert not at.exception and not at.error
    text = markdown_like(at)
    assert "SLA met" not in text and "SLA missed" not in text and not at.metric
    assert f"No SLA: merged into TK{keep:07d}" in text
    assert "Customer satisfaction" not in text                         # no CSAT widget
    assert not [s for s in at.selectbox if s.label in ("Assign to", "New status")]
    assert any(f"Merged into ticket TK{keep:07d}" in b.label for b in at.button)


def test_the_header_in_chinese_uses_full_width_colons_and_open_reads_in_progress(desk):
    tid = desk.tickets["a"]
    tickets.set_status(cursor(), auth.actor_for(cursor(), "svc"), tid, "open")
    at = ticket_as("svc", "zh", id=str(tid))
    header = next(x.value for x in at.caption if "优先级" in x.value)
    assert "状态：处理中" in header and "优先级：高" in header and "渠道：" in header, header
    assert ":" not in header.replace("：", ""), header


def test_the_earlier_tickets_read_their_status_in_chinese(desk):
    at = ticket_as("svc", "zh", id=str(desk.tickets["a"]))
    earlier = next(d.value for d in at.dataframe if "主题" in d.value.columns)
    row = earlier[earlier["主题"] == "Login again"].to_dict("records")[0]
    assert row["状态"] == "新建" and row["优先级"] == "中", row
