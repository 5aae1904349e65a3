"""A manager's dashboard in real Chromium (issue 11, points 4 and 5): the manager opens the dashboard,
clicks a step of the deal funnel, and the records behind it appear under the charts, as many as the
step's figure says; they download as CSV; a row opens its deal. The chart's toolbar saves a PNG.
Screenshots in test-artifacts/e2e/."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from playwright.sync_api import expect

from core import db, setup
from tests.conftest import PASSWORD, build_company
from tests.e2e.test_journey import browser, running_app, settle, shot  # noqa: F401  (the module's browser)
from tests.integration.test_forecast import add_deal

ENTERED = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_dash")
    con = db.connect(tmp / "crm.duckdb")
    setup.prepare(con)
    company = build_company(con)
    con.execute("UPDATE users SET must_change_password = FALSE")
    today = dt.date.today()
    # five deals of the manager's tree entered the pipeline this month (one of West's, outside the tree)
    deals = (("rep_a", "won", ("prospecting", "proposal", "won"), "Alpha won"),
             ("rep_b", "won", ("prospecting", "won"), "Bravo won"),
             ("rep_a", "negotiation", ("prospecting", "qualification", "negotiation"), "Alpha open"),
             ("rep_b", "lost", ("prospecting", "qualification", "lost"), "Bravo lost"),
             ("rep_a", "qualification", ("qualification",), "Alpha late start"),
             ("rep_w", "won", ("prospecting", "won"), "West won"))
    for owner, stage, path, name in deals:
        closed = today if stage in ("won", "lost") else None
        deal_id = add_deal(company, owner, stage, 1000, today + dt.timedelta(days=20), closed=closed, name=name)
        prev = None
        for i, to in enumerate(path):
            con.execute("INSERT INTO deal_stage_history (id, deal_id, from_stage, to_stage, changed_at) VALUES "
                        "((SELECT coalesce(max(id), 0) + 1 FROM deal_stage_history), ?, ?, ?, ?)",
                        [deal_id, prev, to, ENTERED + dt.timedelta(minutes=i)])
            prev = to
    con.close()
    with running_app(tmp) as url:
        yield url, tmp


def test_a_manager_clicks_a_funnel_step_and_sees_the_deals_behind_its_count(server, browser):  # noqa: F811
    url, _tmp = server
    page = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page.goto(url)
    settle(page)
    page.get_by_label("Username").fill("mgr")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    settle(page)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Dashboard", exact=True).click()
    settle(page)
    expect(page.get_by_role("heading", name="Deal funnel", exact=False)).to_be_visible(timeout=60_000)
    funnel = page.locator(".js-plotly-plot").filter(has=page.locator("g.funnellayer, .trace.funnel")).last
    expect(funnel).to_be_visible(timeout=60_000)
    funnel.scroll_into_view_if_needed()
    settle(page)
    shot(page, "31-manager-dashboard")

    # the steps as drawn: "<n> reached · ..." on each bar; Prospecting reached by four of the tree's deals
    labels = funnel.locator("g.point text, text.bartext")
    expect(labels.first).to_be_visible(timeout=30_000)
    texts = [t or "" for t in labels.all_text_contents()]
    first = next(t for t in texts if "reached" in t)
    shown = int(re.match(r"([\d,]+) reached", first).group(1).replace(",", ""))
    assert shown == 4, texts

    # the chart's toolbar saves it as a PNG named after the chart and the day (Plotly's toImage)
    funnel.hover()
    camera = funnel.get_by_role("button", name="Download plot as a PNG")
    expect(camera).to_have_count(1)
    with page.expect_download(timeout=60_000) as png:
        camera.click()
    assert re.fullmatch(r"Deal funnel.* \d{4}-\d{2}-\d{2}\.png", png.value.suggested_filename)
    assert open(png.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    settle(page)

    # click the Prospecting bar: the records behind it open under the charts
    bar = funnel.locator("g.point path").first
    bar.click(force=True)
    settle(page)
    caption = page.get_by_text(re.compile(r"^\d+ records? from "))
    expect(caption).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Records behind:", exact=False)).to_be_visible()
    caption.scroll_into_view_if_needed()
    shot(page, "32-funnel-step-records")
    total = int(re.match(r"(\d+) record", caption.inner_text()).group(1))
    assert total == shown
    # the records table downloads as CSV: every deal behind the step, in the file made on the click
    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="Download CSV").last.click()
    rows = list(csv.reader(io.StringIO(open(got.value.path(), "rb").read().decode("utf-8-sig"))))
    assert rows[0][0] == "Name" and len(rows) == 1 + shown
    assert {r[0] for r in rows[1:]} == {"Alpha won", "Bravo won", "Alpha open", "Bravo lost"}
    settle(page)

    # newest first: Bravo lost is the first row; picking it opens the deal (West's and the late starter
    # are not behind the step, and a row opens its record)
    grid = page.get_by_test_id("stDataFrame").last
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)   # the first row's tick box, under the header row
    settle(page)
    expect(page.get_by_text("Bravo lost").first).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)
    assert "id=" in page.url
    shot(page, "33-funnel-record-opened")
    page.close()
