"""A rep's day in real Chromium: scan a business card -> the lead form is pre-filled -> the duplicate
guard warns of the same company held by a colleague -> save anyway -> convert -> log a follow-up due
today -> it is on the customer's timeline and on My day. Screenshots in test-artifacts/e2e/."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from playwright.sync_api import expect

from core import auth, clock, customers, db, setup
from tests.e2e.test_journey import browser, running_app, settle, shot  # noqa: F401  (the module's browser)
from tests.integration.test_cardscan_ocr import CARDS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_card")
    con, _ = setup.open_database(tmp / "crm.duckdb", "XS")
    con.execute("UPDATE users SET must_change_password = FALSE WHERE username IN ('rep', 'manager')")
    boss = auth.actor_for(con, "admin")
    colleague = db.scalar(con, "SELECT id FROM users WHERE role = 'sales' AND username <> 'rep' AND active "
                               "AND team_id <> (SELECT team_id FROM users WHERE username = 'rep') LIMIT 1")
    customers.create_customer(con, boss, {"name": "星河科技", "city": "上海"}, owner_id=colleague)
    con.close()
    with running_app(tmp) as url:
        yield url, tmp


def test_a_card_becomes_a_lead_then_a_customer_with_a_follow_up_on_my_day(server, browser, tmp_path):  # noqa: F811
    url, tmp = server
    card = tmp_path / "card.png"
    card.write_bytes(CARDS[0].render())
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    settle(page)
    page.get_by_label("Username").fill("rep")
    page.get_by_label("Password", exact=True).fill("Demo#2026")
    page.get_by_role("button", name="Log in").click()
    settle(page)

    page.get_by_test_id("stSidebar").get_by_role("link", name="Leads").click()
    settle(page)
    page.get_by_text("New lead").click()
    settle(page)
    page.locator("input[type='file']").set_input_files(str(card))
    expect(page.get_by_label("Name *")).to_have_value("王建国", timeout=90_000)
    settle(page)
    expect(page.get_by_label("Company")).to_have_value("上海星河科技有限公司")
    shot(page, "11-card-scanned-lead-prefilled")

    page.get_by_role("button", name="Create").click()
    settle(page)
    shot(page, "12-duplicate-warning")
    anyway = page.get_by_text("Save anyway: I checked")
    expect(anyway).to_be_visible(timeout=30_000)  # a colleague's customer 星河科技: warned, not blocked
    expect(page.get_by_text("Olivia Wright").or_(page.get_by_text("held by")).first).to_be_visible()
    anyway.click()
    page.get_by_role("button", name="Create").click()
    settle(page)
    expect(page.get_by_text("Lead “王建国” created.")).to_be_visible(timeout=30_000)

    page.get_by_text("Convert to a customer").first.click()
    settle(page)
    page.get_by_role("button", name="Convert to a customer").click()
    settle(page)
    if page.get_by_text("Save anyway: I checked").count():  # the same warning, for the new customer
        page.get_by_text("Save anyway: I checked").click()
        page.get_by_role("button", name="Convert to a customer").click()
        settle(page)
    expect(page.get_by_text("is now a customer")).to_be_visible(timeout=30_000)
    shot(page, "13-converted-customer")

    today = dt.datetime.now(zoneinfo.ZoneInfo(clock.DEFAULT_ZONE)).date()  # the demo's company time zone
    # the date-time picker is made of spin-button segments: type into them from the year on
    page.get_by_label("year, Next follow-up").last.click()
    page.keyboard.type(f"{today:%Y%m%d}2345")
    expect(page.get_by_label("minute, Next follow-up").last).to_have_attribute("aria-valuetext", "45")
    page.get_by_label("Subject").first.fill("Called from the card")
    page.get_by_role("button", name="Log follow-up").click()
    settle(page)
    expect(page.get_by_text("Called from the card").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("No next follow-up planned")).to_have_count(0)  # the customer now has one
    shot(page, "14-timeline-with-follow-up")

    page.get_by_test_id("stSidebar").get_by_role("link", name="My day").click()
    settle(page)
    shot(page, "15-my-day-follow-up-due")
    # my day lists the most overdue first and stops at 20 rows, saying so; today's are then in the whole list
    more = page.get_by_role("link", name="All due today")
    if more.count():
        expect(page.get_by_text("Showing the first 20 of")).to_be_visible()
        more.click()
        settle(page)
        shot(page, "16-customers-due-today")
    # the table draws on a canvas; its cells are in the page for screen readers, but only the rows in
    # view: search the table as a user would
    table = page.get_by_test_id("stDataFrame").last  # the follow-ups table (the others are in closed expanders)
    table.scroll_into_view_if_needed()
    table.hover()
    page.get_by_role("button", name="Search").first.click()
    page.keyboard.type("上海星河")
    settle(page)
    expect(page.locator("[data-testid='stDataFrame'] td", has_text="上海星河科技有限公司").first).to_be_attached(
        timeout=30_000)
    page.close()
