"""The won hand-off (流转单) as each role meets it: the rep is asked for it on the won customer's page
(a won deal, or the stage set to won by hand) and submits it; the service agent sees the onboarding
ticket on the customer's timeline; the manager submits it on the "Pending upgrade" page with a comment;
the admin approves it choosing the level, or returns it. In Chinese too."""
from __future__ import annotations

import datetime as dt

import pytest

from core import handoff
from core.context import utcnow
from tests.conftest import company_app
from tests.pages.test_merge_page import button, page_as, read

T0 = dt.datetime(2026, 10, 1, 8, 0)
PAGE = "views/upgrades.py"
CUSTOMERS = "views/customers.py"
VALUES = {"bought": "20 seats of CRM Pro", "promises": "Training in May"}


def add_won_deal(con, company, rep: str, deal_id: int) -> None:
    con.execute("INSERT INTO deals (id, name, customer_id, amount, stage, closed_on, owner_id, team_id, created_at, "
                "updated_at) VALUES (?, ?, ?, 80000, 'won', ?, ?, (SELECT team_id FROM users WHERE id = ?), ?, ?)",
                [deal_id, f"Deal of {rep}", company.customers[rep], T0.date(), company.users[rep],
                 company.users[rep], T0, T0])
    # what the deals service does on a won move; the page runs on the real clock, so "won recently" is now
    con.execute("UPDATE customers SET won_at = ? WHERE id = ?", [utcnow(), company.customers[rep]])


@pytest.fixture
def won_db(tmp_path):
    """rep_a's customer has a won deal; nothing filled in yet."""
    with company_app(tmp_path, lambda con, company: add_won_deal(con, company, "rep_a", 801)) as company:
        yield company


@pytest.fixture
def filed_db(tmp_path):
    """rep_a (East) and rep_w (West) filled in their customers' hand-offs; rep_sh's was submitted."""
    def prepare(con, company):
        for i, rep in enumerate(("rep_a", "rep_w", "rep_sh")):
            add_won_deal(con, company, rep, 801 + i)
            hid = handoff.submit_handoff(con, company.actor(rep), company.customers[rep], None, VALUES)
        handoff.manager_submit(con, company.actor("mgr"), hid, "Worth an A")

    with company_app(tmp_path, prepare) as company:
        yield company


def test_the_rep_is_asked_for_the_handoff_on_the_won_customers_page_and_submits_it(won_db):
    company = won_db
    cid = company.customers["rep_a"]
    at = page_as("rep_a", page=CUSTOMERS, id=str(cid))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("please fill in the hand-off" in w.value for w in at.warning)
    assert any("For the won deal Deal of rep\\_a" in c.value for c in at.caption)
    at.text_area(key=f"handoff_{cid}_bought").input("20 seats of CRM Pro")
    at.text_area(key=f"handoff_{cid}_promises").input("Training in May")
    button(at, "Submit the hand-off").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Hand-off submitted" in s.value for s in at.success), [s.value for s in at.success]
    assert not any("please fill in the hand-off" in w.value for w in at.warning)        # asked once
    assert read("SELECT category, deal_id, status FROM tickets WHERE customer_id = ?", [cid]) == [
        ("onboarding", 801, "new")]
    assert read("SELECT stage FROM customers WHERE id = ?", [cid]) == [("upgrade",)]
    assert any("Hand-off: Waiting for the manager" in c.value for c in at.caption)
    timeline = [m.value for m in at.markdown]
    assert any("Hand-off filled in" in m for m in timeline) and any("Ticket opened" in m for m in timeline)
    assert "Bought: 20 seats of CRM Pro" in [x.value for x in at.text]


def test_setting_the_stage_to_won_by_hand_asks_for_the_handoff(tmp_path):
    with company_app(tmp_path) as company:
        cid = company.customers["rep_b"]
        at = page_as("rep_b", page=CUSTOMERS, id=str(cid))
        assert not any("please fill in the hand-off" in w.value for w in at.warning)   # not won yet
        at.selectbox(key=f"cust_edit_{cid}_0_stage").set_value("won")
        button(at, "Save").click()
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("please fill in the hand-off" in w.value for w in at.warning)
        at.text_area(key=f"handoff_{cid}_bought").input("Annual maintenance")
        button(at, "Submit the hand-off").click()
        at.run()
        assert not at.error, [e.value for e in at.error]
        assert read("SELECT deal_id, category FROM tickets WHERE customer_id = ?", [cid]) == [(None, "onboarding")]
        assert read("SELECT stage FROM customers WHERE id = ?", [cid]) == [("upgrade",)]


def test_the_service_agent_sees_the_onboarding_ticket_on_the_customers_timeline(filed_db):
    company = filed_db
    at = page_as("svc", page=CUSTOMERS, id=str(company.customers["rep_a"]))
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not any("handoff_" in (x.key or "") for x in at.text_area)                     # not theirs to fill
    assert any("Hand-off: Waiting for the manager" in c.value for c in at.caption)
    assert any("Ticket opened" in m.value for m in at.markdown)
    assert "Onboarding: Customer of rep_a" in [x.value for x in at.text]


def test_the_manager_sees_the_teams_handoffs_and_submits_one_with_a_comment(filed_db):
    company = filed_db
    at = page_as("mgr", page=PAGE)
    assert not at.exception and not at.error, [e.value for e in at.error]
    heads = [m.value for m in at.markdown if m.value.startswith("**Customer")]
    assert heads == ["**Customer of rep\\_a** · Waiting for the manager",                 # not West's
                     "**Customer of rep\\_sh** · Submitted to the admin"]                  # waits for the admin
    assert at.subheader[0].value == "Waiting for you (1)"
    hid = read("SELECT id FROM handoffs WHERE customer_id = ?", [company.customers["rep_a"]])[0][0]
    at.text_area(key=f"up_comment_{hid}").input("Good customer")
    button(at, "Submit to the admin").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("submitted to the admin" in s.value for s in at.success)
    assert read("SELECT status, manager_comment FROM handoffs WHERE id = ?", [hid]) == [("submitted", "Good customer")]
    assert at.subheader[0].value == "Waiting for you (0)"


def test_the_admin_approves_choosing_the_level_or_returns_with_a_comment(filed_db):
    company = filed_db
    at = page_as("boss", page=PAGE)
    assert not at.exception and not at.error, [e.value for e in at.error]
    hid = read("SELECT id FROM handoffs WHERE status = 'submitted'")[0][0]
    assert at.subheader[0].value == "Waiting for your approval (1)"
    assert "Worth an A" in [x.value for x in at.text]                                   # the manager's comment
    at.selectbox(key=f"up_level_{hid}").set_value("A")
    button(at, "Approve the upgrade").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("upgrade approved, level A" in s.value for s in at.success), [s.value for s in at.success]
    assert read("SELECT level FROM customers WHERE id = ?", [company.customers["rep_sh"]]) == [("A",)]
    assert read("SELECT status FROM handoffs WHERE id = ?", [hid]) == [("approved",)]


def test_the_admin_returns_a_handoff_and_the_manager_reads_why(filed_db):
    at = page_as("boss", page=PAGE)
    hid = read("SELECT id FROM handoffs WHERE status = 'submitted'")[0][0]
    button(at, "Return to the manager").click()
    at.run()
    assert any("Comment" in e.value for e in at.error)                                  # say why
    at.text_area(key=f"up_comment_{hid}").input("Which contract?")
    button(at, "Return to the manager").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert read("SELECT status, admin_comment FROM handoffs WHERE id = ?", [hid]) == [("returned", "Which contract?")]
    mgr = page_as("mgr", page=PAGE)
    assert any("Returned by Boss Admin" in w.value for w in mgr.warning)
    assert "Which contract?" in [x.value for x in mgr.text]


def test_the_pending_upgrade_page_speaks_chinese(filed_db):
    at = page_as("mgr", page=PAGE, lang="zh")
    assert not at.exception and not at.error
    assert at.title[0].value == "待升级"
    assert at.subheader[0].value == "待您提交（1）"
    assert any("待经理提交" in m.value for m in at.markdown)


def test_a_rep_cannot_open_the_pending_upgrade_page(filed_db):
    at = page_as("rep_a", page="views/home.py")
    with pytest.raises(ValueError):
        at.switch_page(PAGE)
