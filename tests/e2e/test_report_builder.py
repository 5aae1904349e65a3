"""The report builder in real Chromium (issue 12, point 4): a manager builds a report (deals by owner with
their amount), sees its chart and table, saves it shared with the team and pins it to the reps' dashboard;
a rep of the team logs in, finds it pinned on the dashboard (with only the rep's own rows) and in the
saved reports, and opens it. The RFM and cohorts pages are looked at too. Screenshots, in English and
Chinese, in test-artifacts/e2e/ (60-...)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from core import db, setup
from tests.conftest import PASSWORD, build_company
from tests.e2e.test_journey import browser, running_app, settle, shot  # noqa: F401  (the module's browser)
from tests.integration.test_forecast import add_deal

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
TODAY = dt.date.today()
NAME = "Team deals by owner"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_reports")
    con = db.connect(tmp / "crm.duckdb")
    setup.prepare(con)
    company = build_company(con)
    con.execute("UPDATE users SET must_change_password = FALSE")
    for owner, stage, amount, name in (("rep_a", "won", 1500, "Alpha won"), ("rep_a", "negotiation", 900, "Alpha open"),
                                       ("rep_b", "won", 700, "Bravo won"), ("rep_sh", "proposal", 1200, "Shanghai"),
                                       ("rep_w", "lost", 9000, "West lost")):
        add_deal(company, owner, stage, amount, TODAY + dt.timedelta(days=20),
                 closed=TODAY if stage in ("won", "lost") else None, name=name)
    # customers with orders over the last year (RFM, cohorts): a few per rep, bought every 1..5 months
    n = 0
    for rep in ("rep_a", "rep_b", "rep_sh", "rep_w"):
        owner = company.users[rep]
        team = db.scalar(con, "SELECT team_id FROM users WHERE id = ?", [owner])
        for k in range(8):
            cid = db.next_id(con, "customers")
            con.execute("INSERT INTO customers (id, name, owner_id, team_id, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [cid, f"Shop {rep} {k}", owner, team, NOW, NOW])
            first, step = 20 + 37 * k, 30 * (1 + k % 5)
            for j, days in enumerate(range(first, 0, -step)):
                n += 1
                con.execute("INSERT INTO orders (id, order_no, customer_id, ordered_at, status, amount, owner_id, "
                            "team_id, created_at) VALUES (?, ?, ?, ?, 'confirmed', ?, ?, ?, ?)",
                            [db.next_id(con, "orders"), f"SO-{n}", cid, NOW - dt.timedelta(days=days), 100 + 40 * k + 10 * j, owner, team, NOW])
    con.close()
    with running_app(tmp) as url:
        yield url, tmp


def log_in(page, url: str, username: str) -> None:
    page.goto(url)
    settle(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    settle(page)


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label`."""
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).first
    box.scroll_into_view_if_needed()
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def to_chinese(page) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").click()
    page.keyboard.type("简体")  # the picker sits at the foot of a long menu: pick by typing, not by a listed option
    page.keyboard.press("Enter")
    settle(page)


def go(page, link: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=link, exact=True).click()
    settle(page)


def result_rows(page) -> list[str]:
    """The text of the result table's cells (Glide data grid: read through its accessible table)."""
    grid = page.get_by_test_id("stDataFrame").filter(has_text="Owner").last
    return grid.locator("[role='gridcell']").all_inner_texts()


def test_a_manager_builds_saves_shares_and_pins_a_report_a_rep_opens_it(server, browser):  # noqa: F811
    url, _tmp = server
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    log_in(page, url, "mgr")
    go(page, "Report builder")
    expect(page.get_by_role("heading", name="Report builder")).to_be_visible(timeout=60_000)

    # deals by owner: count and the sum of the amount, a bar chart beside the table
    choose(page, "Dimension 1", "Owner")
    choose(page, "Measure 2", "Sum")
    # (the sum's field is the first number: the amount; the count counts every record)
    chart = page.locator(".js-plotly-plot").first
    expect(chart).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stDataFrame").last).to_be_visible()
    shot(page, "60-rb-built-en")

    # save it shared with the team, then pin it to the reps' dashboard
    page.get_by_label("Report name").fill(NAME)
    choose(page, "Shared with", "My team")
    page.get_by_role("button", name="Save report").click()
    settle(page)
    expect(page.get_by_text(f'Report "{NAME}" saved.')).to_be_visible(timeout=60_000)
    choose(page, "Pin to the dashboard of", "Sales reps")
    page.get_by_role("button", name="Pin", exact=True).click()
    settle(page)
    expect(page.get_by_text("pinned to the dashboard: Sales reps", exact=False)).to_be_visible(timeout=60_000)
    shot(page, "61-rb-saved-pinned-en")

    # the same page in Chinese: nothing cut off, the chart's labels readable
    to_chinese(page)
    expect(page.get_by_role("heading", name="报表构建器")).to_be_visible(timeout=60_000)
    shot(page, "62-rb-builder-zh")
    # RFM and cohorts, in Chinese then in English
    go(page, "RFM 价值分析")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    shot(page, "63-rfm-zh")
    go(page, "同期群分析")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    shot(page, "64-cohorts-zh")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stSelectbox").click()
    page.keyboard.type("English")
    page.keyboard.press("Enter")
    settle(page)
    go(page, "RFM analysis")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    shot(page, "65-rfm-en")
    # a click on a segment's bar lists its customers under the charts
    bars = page.locator(".js-plotly-plot").first
    bars.scroll_into_view_if_needed()
    bars.locator("g.point path").nth(2).click(force=True)   # the third biggest segment
    settle(page)
    listed = page.get_by_text(re.compile(r"^\d+ customers? in "))
    expect(listed).to_be_visible(timeout=60_000)
    segment = listed.inner_text().split(" in ", 1)[1]
    assert segment in " ".join(bars.locator("g.ytick text").all_text_contents())
    listed.scroll_into_view_if_needed()
    shot(page, "65b-rfm-segment-customers-en")
    go(page, "Cohorts")
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    shot(page, "66-cohorts-en")
    page.close()

    # a rep of the team: the report is pinned on the rep's dashboard, run with the rep's own rows
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    log_in(page, url, "rep_a")
    go(page, "Dashboard")
    expect(page.get_by_role("heading", name="Pinned reports")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(NAME).first).to_be_visible()
    pinned = page.locator(".js-plotly-plot").first
    expect(pinned).to_be_visible(timeout=60_000)
    ticks = " ".join(pinned.locator("g.xtick text").all_text_contents())
    assert "REP_A" in ticks and "REP_B" not in ticks, ticks
    page.get_by_role("link", name="Open in the report builder").first.scroll_into_view_if_needed()
    shot(page, "67-rep-dashboard-pinned-en")

    # opened from the dashboard: the builder holds the report, the table only the rep's row
    page.get_by_role("link", name="Open in the report builder").first.click()
    settle(page)
    expect(page.get_by_role("heading", name="Report builder")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(f'Report "{NAME}" by Mia Manager', exact=False)).to_be_visible(timeout=60_000)
    # and it is in the rep's list of saved reports
    page.get_by_text(re.compile(r"^Saved reports \(\d+\)$")).click()
    settle(page)
    expect(page.get_by_test_id("stExpander").first.get_by_test_id("stDataFrame")).to_be_visible(timeout=60_000)
    shot(page, "68-rep-opens-report-en")
    ticks = " ".join(page.locator(".js-plotly-plot").first.locator("g.xtick text").all_text_contents())
    assert "REP_A" in ticks and "REP_B" not in ticks, ticks

    # the rep in Chinese: the pinned report on the dashboard
    to_chinese(page)
    go(page, "数据看板")
    expect(page.get_by_role("heading", name="固定的报表")).to_be_visible(timeout=60_000)
    page.get_by_role("link", name="在报表构建器中打开").first.scroll_into_view_if_needed()
    shot(page, "69-rep-dashboard-pinned-zh")
    context.close()
