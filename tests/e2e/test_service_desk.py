"""An agent's service desk in real Chromium: the team's queue holds a ticket long past its SLA -> the
breached view lists it -> the agent claims it from its row -> opens it, replies to the customer,
resolves it, records the customer's satisfaction (CSAT) -> back on the desk the breached view is empty.
Screenshots in test-artifacts/e2e/."""
from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from core import db, setup, tickets
from core.context import utcnow
from core.i18n import translate
from tests.conftest import PASSWORD, build_company
from tests.e2e.test_journey import browser, running_app, settle, shot  # noqa: F401  (the module's browser)


def en(key: str, **params) -> str:
    return translate("en", key, **params)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_desk")
    con = db.connect(tmp / "crm.duckdb")
    setup.prepare(con)
    company = build_company(con)
    con.execute("UPDATE users SET must_change_password = FALSE")
    now = utcnow()

    def ticket(subject: str, priority: str, customer: str, minutes_ago: int) -> int:
        agent = company.actor("svc", now - dt.timedelta(minutes=minutes_ago))
        return tickets.create_ticket(con, agent, {"subject": subject, "priority": priority,
                                                  "customer_id": company.customers[customer]})

    late = ticket("Printer on fire", "high", "rep_a", 60 * 24 * 30)     # a month old: long breached
    ticket("Invoice question", "low", "rep_b", 5)                       # fresh, in the same team queue
    con.close()
    with running_app(tmp) as url:
        yield url, late


def test_an_agent_claims_a_breached_ticket_answers_resolves_and_records_csat(server, browser):  # noqa: F811
    url, late = server
    number = f"TK{late:07d}"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    settle(page)
    page.get_by_label("Username").fill("svc")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    settle(page)

    page.get_by_test_id("stSidebar").get_by_role("link", name=en("page.service_desk")).click()
    settle(page)
    # nothing is the agent's yet: the desk opens on the team's unassigned tickets
    expect(page.get_by_role("radio", name=en("queue.view_team_unassigned", n=2))).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"{number} · Printer on fire")).to_be_visible()
    shot(page, "21-service-desk-team-queue")

    page.get_by_role("radio", name=en("queue.view_breached", n=1)).click()
    settle(page)
    expect(page.get_by_text(f"{number} · Printer on fire")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Invoice question")).to_have_count(0)
    expect(page.get_by_text("Overdue").first).to_be_visible()
    shot(page, "22-breached-view")

    page.get_by_role("button", name=en("queue.claim")).click()
    settle(page)
    expect(page.get_by_text(en("queue.claimed", no=number))).to_be_visible(timeout=30_000)
    expect(page.get_by_role("radio", name=en("queue.view_mine", n=1))).to_be_visible()
    shot(page, "23-claimed")

    page.get_by_role("button", name=f"{number} · Printer on fire").click()
    settle(page)
    expect(page.get_by_role("button", name=en("ticket.back_to_desk"))).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name=f"{number} · Printer on fire")).to_be_visible()
    shot(page, "24-ticket-open")
    reply = page.get_by_test_id("stForm").filter(has=page.get_by_label(en("ticket.body"), exact=True))
    reply.get_by_label(en("ticket.body"), exact=True).fill("We replaced the fuser; please try printing again.")
    reply.get_by_role("button", name=en("ticket.send")).click()
    settle(page)
    expect(page.get_by_text(en("ticket.replied"))).to_be_visible(timeout=30_000)
    expect(page.get_by_text("We replaced the fuser").first).to_be_visible()
    shot(page, "25-ticket-replied")

    page.get_by_label(en("ticket.set_status")).click()
    page.get_by_role("option", name=en("ticket.status_resolved")).click()
    page.get_by_label(en("ticket.resolution")).fill("Fuser replaced on site.")
    page.get_by_role("button", name=en("ticket.change_status")).click()
    settle(page)
    expect(page.get_by_text(en("ticket.status_changed", status=en("ticket.status_resolved")))).to_be_visible(
        timeout=30_000)
    expect(page.get_by_text(en("csat.title"))).to_be_visible()
    shot(page, "26-ticket-resolved-csat-form")

    page.get_by_text(f"5 · {en('csat.score_5')}").click()
    page.get_by_role("button", name=en("csat.save")).click()
    settle(page)
    expect(page.get_by_text(en("csat.saved", score=5))).to_be_visible(timeout=30_000)
    expect(page.get_by_text(en("csat.rated", score="5"))).to_be_visible()
    shot(page, "27-csat-recorded")

    page.get_by_role("button", name=en("ticket.back_to_desk")).click()
    settle(page)
    # back on the desk in the view it was left in, whose count and list no longer hold the ticket
    expect(page.get_by_role("radio", name=en("queue.view_breached", n=0))).to_be_checked(timeout=30_000)
    expect(page.get_by_text(en("queue.none_breached"))).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"{number} · Printer on fire")).to_have_count(0)
    expect(page.get_by_role("radio", name=en("queue.view_mine", n=0))).to_be_visible()
    shot(page, "28-breached-view-empty")
    page.close()
