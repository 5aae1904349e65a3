"""The import wizard in real Chromium (issue 9, points 3, 5 and 9): the admin uploads the Maven CRM
pipeline file (set_input_files), picks "Opportunities", reads what was detected, the suggested column
mapping and the stage values, runs the dry run (a progress bar, then the counts and the error file),
commits, reads the result and opens the import history, which lists the batch; then the same wizard in
中文 up to its dry run. Screenshots are kept in the test's tmp folder (look at them: nothing cut off)."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from core import db, setup
from tests.conftest import ROOT, build_company
from tests.e2e.test_journey import browser, running_app, settle  # noqa: F401  (the module's browser)
from tests.e2e.test_pool_journey import log_in, open_page

MAVEN = ROOT.parent / "shared" / "data" / "maven_crm" / "sales_pipeline.csv"
if not MAVEN.exists():
    MAVEN = Path("/work/shared/data/maven_crm/sales_pipeline.csv")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e_import")
    con = db.connect(tmp / "crm.duckdb")
    setup.prepare(con)
    build_company(con)
    con.execute("UPDATE users SET must_change_password = FALSE")
    con.close()
    return tmp


def shot(page, folder, name: str, full: bool = True) -> None:
    settle(page)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full)


def main(page):
    return page.get_by_test_id("stMain")


def next_step(page, label: str = "Next") -> None:
    main(page).get_by_role("button", name=label, exact=True).click()
    settle(page)


def pick(page, label: str, typed: str) -> None:
    """Choose in a select box by typing, as a person does."""
    box = main(page).get_by_test_id("stSelectbox").filter(has_text=label).first
    box.click()
    page.keyboard.type(typed)
    page.keyboard.press("Enter")
    settle(page)


def dry_run(page, folder, prefix: str, button: str, running: str, title: str) -> None:
    main(page).get_by_role("button", name=button).click()
    bar = main(page).get_by_test_id("stProgress")
    try:  # the bar shows while the rows are checked (a fast machine may be done before the shot)
        expect(bar.filter(has_text=running).first).to_be_visible(timeout=10_000)
        page.screenshot(path=str(folder / f"{prefix}-progress.png"), full_page=True)
    except AssertionError:
        pass
    settle(page)
    expect(page.get_by_text(title, exact=True)).to_be_visible(timeout=120_000)


def test_the_admin_imports_the_maven_pipeline_through_the_wizard_and_finds_it_in_the_history(folder, browser):  # noqa: F811
    with running_app(folder, CRM_SCHEDULER="off") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        log_in(page, url, "boss")
        open_page(page, "Import")
        expect(page.get_by_role("heading", name="Import")).to_be_visible(timeout=30_000)
        pick(page, "What the file holds", "Opportunities")
        page.locator("input[type='file']").set_input_files(str(MAVEN))
        settle(page)
        expect(main(page).get_by_text("File: sales_pipeline.csv")).to_be_visible(timeout=30_000)
        shot(page, folder, "01-upload")
        next_step(page)
        expect(main(page).get_by_text("8,800")).to_be_visible(timeout=30_000)
        shot(page, folder, "02-detected")
        next_step(page)
        expect(main(page).get_by_text("Column in the file")).to_be_visible(timeout=30_000)
        shot(page, folder, "03-columns")
        next_step(page)
        expect(main(page).get_by_text("Engaging").first).to_be_visible(timeout=30_000)
        pick(page, "Our value for Engaging", "Qualification")  # the file's "Engaging" is our "Qualification"
        shot(page, folder, "04-values")
        next_step(page)
        expect(main(page).get_by_text("When a row matches a record we already have").first).to_be_visible()
        shot(page, folder, "05-options")
        next_step(page)
        dry_run(page, folder, "06", "Run the dry run", "Checking the rows", "What the import would do")
        expect(main(page).get_by_test_id("stMetric").filter(has_text="Rows").first).to_contain_text("8,800")
        invalid = main(page).get_by_test_id("stMetric").filter(has_text="Invalid").first.inner_text()
        assert "1,589" not in invalid  # the mapped "Engaging" rows are no longer refused
        expect(main(page).get_by_role("button", name="Error file (CSV)")).to_be_visible()
        shot(page, folder, "06-dry-run")
        next_step(page, "Go to import")
        commit = main(page).get_by_role("button", name="Import ")
        expect(commit).to_be_visible()
        shot(page, folder, "07-commit")
        commit.click()
        try:
            expect(main(page).get_by_test_id("stProgress").filter(has_text="Importing").first).to_be_visible(
                timeout=10_000)
            page.screenshot(path=str(folder / "07-progress.png"), full_page=True)
        except AssertionError:
            pass
        expect(main(page).get_by_text("Import done: batch #")).to_be_visible(timeout=120_000)
        expect(main(page).get_by_test_id("stMetric").filter(has_text="Created").first).to_be_visible()
        shot(page, folder, "08-done")
        main(page).get_by_role("link", name="Open the import history").click()
        settle(page)
        expect(page.get_by_role("heading", name="Import history")).to_be_visible(timeout=30_000)
        expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible()
        shot(page, folder, "09-history")

        # ----------------------------------------------------------------------------- the same in 中文
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_test_id("stSelectbox").last.scroll_into_view_if_needed()
        sidebar.get_by_test_id("stSelectbox").last.click()
        page.keyboard.type("简体")
        page.keyboard.press("Enter")
        settle(page)
        expect(page.get_by_role("heading", name="导入记录")).to_be_visible(timeout=30_000)
        shot(page, folder, "10-history-zh")
        open_page(page, "数据导入")
        expect(main(page).get_by_text("导入完成：批次 #")).to_be_visible(timeout=30_000)
        shot(page, folder, "11-done-zh")
        main(page).get_by_role("button", name="开始新的导入").click()
        settle(page)
        page.locator("input[type='file']").set_input_files(str(MAVEN))
        settle(page)
        shot(page, folder, "12-upload-zh")
        for name in ("13-detected-zh", "14-columns-zh", "15-values-zh", "16-options-zh"):
            next_step(page, "下一步")
            shot(page, folder, name)
        next_step(page, "下一步")
        dry_run(page, folder, "17", "开始试运行", "正在检查", "导入预计结果")
        shot(page, folder, "17-dry-run-zh")
        page.close()
