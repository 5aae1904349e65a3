"""The won hand-off (流转单) in real Chromium against `streamlit run`, role by role: the rep moves a deal
to Won and fills in the hand-off that the deal page asks for -> the service agent sees the onboarding
ticket (there is no service queue page yet: it shows on the customer's timeline, where an agent can see
it today) -> the manager submits the upgrade on "Pending upgrade" with a comment -> the admin approves
it choosing the level -> the customer's timeline shows every step. Screenshots in test-artifacts/e2e/."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core import auth, customers, deals, setup
from tests.e2e.test_journey import browser, running_app, settle, shot  # noqa: F401  (the module's browser)

CUSTOMER = "星辰物流 E2E"
DEAL = "星辰物流 fleet licences"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_handoff")
    con, _ = setup.open_database(tmp / "crm.duckdb", "XS")
    con.execute("UPDATE users SET must_change_password = FALSE "
                "WHERE username IN ('rep', 'manager', 'admin', 'service')")
    rep = auth.actor_for(con, "rep")
    cid = customers.create_customer(con, rep, {"name": CUSTOMER, "city": "上海"}, confirmed=True)
    did = deals.create_deal(con, rep, {"name": DEAL, "customer_id": cid, "amount": 120000})
    con.close()
    with running_app(tmp) as url:
        yield url, cid, did


def log_in(browser, url: str, username: str):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    settle(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("Demo#2026")
    page.get_by_role("button", name="Log in").click()
    settle(page)
    expect(page.get_by_role("button", name="Log out")).to_be_visible(timeout=30_000)
    return page


def open_pending_upgrade(page) -> None:
    """The menu item (the sidebar folds a long menu under "View more")."""
    sidebar = page.get_by_test_id("stSidebar")
    more = sidebar.get_by_text("View", exact=False).filter(has_text="more")
    if more.count():
        more.first.click()
    sidebar.get_by_role("link", name="Pending upgrade").click()
    settle(page)
    expect(page.get_by_role("heading", name="Pending upgrade")).to_be_visible(timeout=30_000)


def card(page, name: str):
    """The bordered card of one hand-off on the Pending upgrade page."""
    return page.get_by_test_id("stVerticalBlock").filter(has=page.get_by_text(name, exact=True)).filter(
        has=page.get_by_test_id("stForm")).last


def test_a_won_deal_goes_from_the_reps_handoff_to_the_admins_approval(server, browser):  # noqa: F811
    url, cid, did = server

    # the rep wins the deal; the deal page asks for the hand-off at once
    page = log_in(browser, url, "rep")
    page.goto(f"{url}/deals?id={did}")
    settle(page)
    expect(page.get_by_role("heading", name=DEAL)).to_be_visible(timeout=30_000)
    page.get_by_role("radio", name="Won", exact=True).click()  # the stage bar
    settle(page)
    page.get_by_role("button", name="Move", exact=True).click()
    settle(page)
    expect(page.get_by_text("Hand-off to service (流转单)")).to_be_visible(timeout=30_000)
    page.get_by_label("What was bought *").fill("50 fleet licences, 2 years")
    page.get_by_label("Key contacts").fill("刘总 (CIO) 13900139000")
    page.get_by_label("Promises made").fill("On-site training in the first month")
    page.get_by_label("Notes").fill("Invoice to the Shanghai office")
    shot(page, "21-rep-won-deal-handoff-form")
    page.get_by_role("button", name="Submit the hand-off").click()
    settle(page)
    expect(page.get_by_text("Hand-off submitted")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Hand-off to service (流转单)")).to_have_count(0)        # asked once
    shot(page, "22-rep-handoff-submitted")
    page.close()

    # the service agent sees the onboarding ticket on the customer's timeline (no ticket queue page yet)
    page = log_in(browser, url, "service")
    page.goto(f"{url}/customers?id={cid}")
    settle(page)
    expect(page.get_by_text(f"Onboarding: {CUSTOMER}")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Ticket opened").first).to_be_visible()
    expect(page.get_by_text("Hand-off: Waiting for the manager")).to_be_visible()
    page.get_by_text(f"Onboarding: {CUSTOMER}").scroll_into_view_if_needed()  # the timeline, beside the form
    shot(page, "23-service-sees-onboarding-ticket")
    page.close()

    # the manager submits the upgrade with a comment
    page = log_in(browser, url, "manager")
    open_pending_upgrade(page)
    mine = card(page, CUSTOMER)
    expect(mine).to_be_visible(timeout=30_000)
    mine.get_by_label("Comment").fill("Strategic logistics account: worth an A")
    shot(page, "24-manager-pending-upgrade")
    mine.get_by_role("button", name="Submit to the admin").click()
    settle(page)
    expect(page.get_by_text(f"{CUSTOMER}: submitted to the admin.")).to_be_visible(timeout=30_000)
    page.close()

    # the admin approves it choosing the level
    page = log_in(browser, url, "admin")
    open_pending_upgrade(page)
    theirs = card(page, CUSTOMER)
    expect(theirs).to_be_visible(timeout=30_000)
    expect(theirs.get_by_text("Strategic logistics account: worth an A")).to_be_visible()
    level = theirs.get_by_role("combobox")                                   # the level: B, then A
    for name in ("B - regular", "A - key account"):
        level.click()
        level.press("ArrowDown")
        page.get_by_role("option", name=name).click()
        expect(level).to_have_value(name)
    shot(page, "25-admin-approves-upgrade")
    theirs.get_by_role("button", name="Approve the upgrade").click()
    settle(page)
    expect(page.get_by_text(f"{CUSTOMER}: upgrade approved, level A - key account.")).to_be_visible(timeout=30_000)

    # every step is on the customer's timeline
    page.goto(f"{url}/customers?id={cid}")
    settle(page)
    for step in ("Upgrade approved", "Hand-off submitted to the admin", "Hand-off filled in", "Ticket opened"):
        expect(page.get_by_text(step).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Hand-off: Upgrade approved")).to_be_visible()
    page.get_by_text("Hand-off filled in").first.scroll_into_view_if_needed()
    shot(page, "26-customer-timeline-after-approval")
    page.close()
