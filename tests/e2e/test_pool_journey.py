"""The shared pool in real Chromium (issue 10): the admin splits a batch of new records evenly among the
East reps after a dry run; a rep claims a customer from the East pool; the clock moves on (the app has
no clock to set, so the app is stopped, the claimed customer's last follow-up and assignment are dated
60 days back, and the app starts again); the reclaim preview names the customer with its reason; the
admin runs the reclaim; the customer is back in the pool, saying why; the same pages in 中文.
Screenshots are kept in the test's tmp folder."""
from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from core import customers, db, settings, setup
from core.context import utcnow
from tests.conftest import PASSWORD, build_company
from tests.e2e.test_journey import browser, running_app, settle  # noqa: F401  (the module's browser)

BATCH = [f"新客户 {i}" for i in range(1, 7)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_pool")
    con = db.connect(tmp / "crm.duckdb")
    setup.prepare(con)
    company = build_company(con)
    con.execute("UPDATE users SET must_change_password = FALSE")
    boss = company.actor("boss", utcnow())
    # a batch of new records waits in the West pool; the split gives it to the East reps
    for name in BATCH:
        customers.create_customer(con, boss, {"name": name, "city": "杭州"}, owner_id=None, team_id=company.teams["west"])
    settings.set_value(con, boss, "assignment.skip_reps_with_untouched_raw", False)
    # everyone followed up today: only what the test dates back is due for reclaim
    con.execute("UPDATE customers SET last_activity_at = ?, assigned_at = coalesce(assigned_at, ?)",
                [utcnow(), utcnow()])
    con.close()
    return tmp, company


def shot(page, folder, name: str) -> None:
    settle(page)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def log_in(page, url: str, username: str) -> None:
    page.goto(url)
    settle(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    settle(page)
    expect(page.get_by_role("button", name="Log out")).to_be_visible(timeout=30_000)


def open_page(page, name: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=name, exact=True).click()
    settle(page)


def tick_row(page, table, row: int) -> None:
    """Tick a row of a multi-row st.dataframe (a canvas): click its row marker at the left edge."""
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * row + 17)
    settle(page)


def tab(page, name: str) -> None:
    """A view of the pool page (a segmented control)."""
    page.get_by_test_id("stButtonGroup").get_by_text(name, exact=True).click()


def cell(page, text: str):
    return page.locator("[data-testid='stDataFrame'] td", has_text=text)


def test_split_claim_reclaim_preview_run_and_back_in_the_pool(folder, browser):  # noqa: F811
    folder, company = folder
    # ------------------------------------------------------------------ the admin splits the batch
    with running_app(folder, CRM_SCHEDULER="off") as url:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        log_in(page, url, "boss")
        open_page(page, "Shared pool")
        expect(page.get_by_role("heading", name="Shared pool")).to_be_visible()
        page.get_by_test_id("stMain").get_by_test_id("stSelectbox").first.click()
        page.keyboard.type("West")
        page.keyboard.press("Enter")
        settle(page)
        expect(page.get_by_text("7 customers in this pool")).to_be_visible(timeout=30_000)
        shot(page, folder, "00-west-pool")
        expect(cell(page, BATCH[0]).first).to_be_attached(timeout=30_000)
        page.get_by_text("Split evenly among teams").click()
        settle(page)
        page.get_by_test_id("stMultiSelect").filter(has_text="Teams to receive").click()
        page.get_by_role("option", name="Sales / East", exact=True).click()
        page.keyboard.press("Escape")
        settle(page)
        page.get_by_text("The whole pool").click()
        settle(page)
        page.get_by_role("button", name="Dry run").first.click()
        settle(page)
        expect(page.get_by_text("The plan (nothing has moved yet)")).to_be_visible(timeout=30_000)
        expect(cell(page, "REP_A (East)").first).to_be_attached()
        page.get_by_role("button", name="Assign 7 as shown").scroll_into_view_if_needed()
        settle(page)
        page.screenshot(path=str(folder / "01-split-dry-run.png"))  # the plan, in view
        page.get_by_role("button", name="Assign 7 as shown").click()
        settle(page)
        expect(page.get_by_text("7 customers assigned; 0 stay in the pool")).to_be_visible(timeout=30_000)
        shot(page, folder, "02-split-done")
        page.close()

        # ------------------------------------------------------------ a rep claims from the East pool
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        log_in(page, url, "rep_a")
        open_page(page, "Shared pool")
        table = page.get_by_test_id("stDataFrame").first
        expect(cell(page, "Pool customer east").first).to_be_attached(timeout=30_000)
        tick_row(page, table, 0)
        page.get_by_role("button", name="Claim 1").click()
        settle(page)
        expect(page.get_by_text("1 customer claimed: it is yours now.")).to_be_visible(timeout=30_000)
        shot(page, folder, "03-rep-claimed")
        page.close()

    with db.connect(folder / "crm.duckdb") as con:
        held = con.execute("SELECT name FROM customers WHERE owner_id = ? ORDER BY name",
                           [company.users["rep_a"]]).fetchall()
        assert ("Pool customer east",) in held and len(held) in (1 + 3 + 1, 1 + 4 + 1)  # own, half of 7, the claim
        # --------------------------------------------- the clock moves: 60 days without a follow-up
        long_ago = utcnow() - dt.timedelta(days=60)
        con.execute("UPDATE customers SET last_activity_at = ?, assigned_at = ? WHERE name = 'Pool customer east'",
                    [long_ago, long_ago])

    with running_app(folder, CRM_SCHEDULER="off") as url:
        # the rep's day warns first
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        log_in(page, url, "rep_a")
        expect(page.get_by_text("Customers about to return to the pool (1)")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("link", name="Pool customer east")).to_be_visible()
        shot(page, folder, "04-my-day-warning")
        page.close()

        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        log_in(page, url, "boss")
        open_page(page, "Shared pool")
        tab(page, "Reclaim preview")
        settle(page)
        expect(page.get_by_text("would take 1 customer back to its pool", exact=False)).to_be_visible(timeout=30_000)
        expect(cell(page, "Pool customer east").first).to_be_attached(timeout=30_000)
        expect(cell(page, "No follow-up").first).to_be_attached()
        shot(page, folder, "05-reclaim-preview")
        page.get_by_role("button", name="Run reclaim now").click()
        settle(page)
        expect(page.get_by_text("Reclaim done: 1 customer went back to its pool.")).to_be_visible(timeout=30_000)
        shot(page, folder, "06-reclaim-done")
        tab(page, "Pool")
        settle(page)
        expect(cell(page, "Pool customer east").first).to_be_attached(timeout=30_000)
        expect(cell(page, "Reclaimed").first).to_be_attached()
        shot(page, folder, "07-back-in-the-pool")

        # ------------------------------------------------------------------------ the same in 中文
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_test_id("stSelectbox").last.scroll_into_view_if_needed()
        sidebar.get_by_test_id("stSelectbox").last.click()
        page.keyboard.type("简体")
        page.keyboard.press("Enter")
        settle(page)
        expect(page.get_by_role("heading", name="公海")).to_be_visible(timeout=30_000)
        expect(cell(page, "回收").first).to_be_attached(timeout=30_000)
        shot(page, folder, "08-pool-zh")
        tab(page, "回收预览")
        settle(page)
        shot(page, folder, "09-preview-zh")
        tab(page, "分配日志")
        settle(page)
        expect(cell(page, "平均分配").first).to_be_attached(timeout=30_000)
        shot(page, folder, "10-log-zh")
        tab(page, "公海")
        page.get_by_text("平均分配给团队").click()
        settle(page)
        page.get_by_test_id("stMultiSelect").filter(has_text="接收团队").click()
        page.get_by_role("option", name="Sales / West", exact=True).click()
        page.keyboard.press("Escape")
        page.get_by_text("整个公海", exact=True).click()
        settle(page)
        page.get_by_role("button", name="试运行").first.click()
        settle(page)
        expect(page.get_by_text("分配方案（尚未移动任何记录）")).to_be_visible(timeout=30_000)
        page.get_by_text("分配方案（尚未移动任何记录）").scroll_into_view_if_needed()
        settle(page)
        page.screenshot(path=str(folder / "10b-split-plan-zh.png"))
        open_page(page, "公海看板")
        shot(page, folder, "11-dashboard-zh")
        open_page(page, "公海规则")
        shot(page, folder, "12-rules-zh")
        for name, heading in (("13-reclaim-rules-zh", "回收规则"), ("14-pools-zh", "各公海"), ("15-caps-zh", "客户上限")):
            page.get_by_role("heading", name=heading).scroll_into_view_if_needed()
            settle(page)
            page.screenshot(path=str(folder / f"{name}.png"))
        page.close()

    with db.connect(folder / "crm.duckdb") as con:
        assert con.execute("SELECT owner_id, pool_reason FROM customers WHERE name = 'Pool customer east'"
                           ).fetchall() == [(None, "reclaim")]
        reason, detail = con.execute("SELECT reason, detail FROM pool_moves m JOIN customers c ON c.id = m.customer_id "
                                     "WHERE c.name = 'Pool customer east' ORDER BY m.id DESC LIMIT 1").fetchone()
        assert reason == "reclaim" and "no follow-up" in detail
    print("screenshots:", folder)
