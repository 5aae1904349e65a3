"""The import wizard and the import history as users meet them (issue 9, points 3, 5 and 9): the admin
uploads the real Maven pipeline file, reads what was detected, maps the columns, picks the options, runs
the dry run (counts, error file) and commits once (a second click imports nothing more); the history lists
the batch, and "undo" (after a confirmation) puts its records in the recycle bin. The chosen file and
choices survive a visit to another page. A rep has no import menu; a bad file, an over-sized file and
ambiguous dates each get a clear message; every step renders in 中文 too."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, company_app, logged_in

IMPORT_PAGE, HISTORY_PAGE = "views/imports.py", "views/import_history.py"
MAVEN = ROOT.parent / "shared" / "data" / "maven_crm" / "sales_pipeline.csv"
if not MAVEN.exists():  # the data sets sit beside the working tree
    MAVEN = Path("/work/shared/data/maven_crm/sales_pipeline.csv")


def plain(text) -> str:
    return str(text).replace("\\", "")


def ok(at):
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def page(username: str, lang: str | None = None):
    return ok(logged_in(username, lang).run().switch_page(IMPORT_PAGE).run())


def wiz(at) -> dict:
    return at.session_state["_imp"]


def button(at, key: str):
    return at.button(key=key)


def next_step(at, step: int):
    button(at, f"imp_next_{step}").click().run()
    return ok(at)


def select(at, label: str):
    return next(s for s in at.selectbox if plain(s.label) == label)


def upload(at, name: str, data: bytes):
    at.file_uploader[0].set_value((name, data, "text/csv")).run()
    return at


def shown(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success]
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [e.value for e in at.error]
    return plain("\n".join(parts))


def read(sql, params=None):
    from ui.db import database

    return database().cursor().execute(sql, params or []).fetchall()


def finish(at):
    """Wait for the background dry run / commit of the page, then run the page again (a browser's
    progress fragment does that by itself)."""
    for task in list((at.session_state["_imp_jobs"] if "_imp_jobs" in at.session_state else {}).values()):
        task["thread"].join(120)
    at.run()
    return ok(at)


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def app(tmp_path):
    with company_app(tmp_path) as company:
        yield company


def walk_to_options(at, company):
    """Upload the Maven pipeline as customers: the opportunity id as the external id, the account as the
    name, the sales agent as the owner (agents who are no user here: created inactive in East)."""
    upload(at, "sales_pipeline.csv", MAVEN.read_bytes())
    ok(at)
    assert "sales_pipeline.csv" in shown(at)
    at = next_step(at, 0)
    found = metrics(at)
    assert found["Encoding"] == "UTF-8" and found["Rows"] == "8,800" and found["Header row"] == "Yes"
    assert "Comma" in found["Delimiter"]
    assert list(at.dataframe[0].value.columns)[:4] == ["Row", "opportunity_id", "sales_agent", "product"]
    at = next_step(at, 1)
    box = select(at, "Field for column account")
    assert {"Name", "External ID", "Owner", "— ignore —"} <= {plain(o) for o in box.options}
    for column, field in (("opportunity_id", "external_ref"), ("account", "name"), ("sales_agent", "owner"),
                          ("product", None), ("deal_stage", None), ("engage_date", None), ("close_date", None),
                          ("close_value", None)):
        select(at, f"Field for column {column}").set_value(field).run()
        ok(at)
    assert wiz(at)["mapping"]["account"] == "name"
    at = next_step(at, 2)
    at = next_step(at, 3)
    assert at.radio(key="imp_owner_0").value == "file"
    teams = select(at, "Team of the new users")
    assert "Sales / East" in [plain(o) for o in teams.options]
    teams.set_value(company.teams["east"]).run()
    return ok(at)


def test_the_admin_imports_the_maven_pipeline_commits_once_and_undoes_it_from_the_history(app):
    at = walk_to_options(page("boss"), app)
    at = next_step(at, 4)
    button(at, "imp_dry_0").click().run()
    ok(at)
    if at.session_state["_imp_jobs"]:  # still checking: the progress bar says so
        assert "Checking the rows" in plain(at.get("progress")[0].proto.text)
    finish(at)
    dry = metrics(at)
    assert dry["Rows"] == "8,800"
    new = int(dry["New"].replace(",", ""))
    assert new > 0 and int(dry["Invalid"].replace(",", "")) + new <= 8800
    assert "What the import would do" in shown(at)
    assert [b.label for b in at.get("download_button")] == ["Error file (CSV)", "Error file (Excel)"]
    assert read("SELECT count(*) FROM customers WHERE import_id IS NOT NULL") == [(0,)]  # a dry run writes nothing
    at = next_step(at, 5)
    commit = button(at, "imp_commit")
    assert commit.label == f"Import {new:,} rows"
    commit.click().run()
    ok(at)
    if at.session_state["_imp_jobs"][f"commit:{wiz(at)['preview']['sig']}"]["status"] == "running":
        assert button(at, "imp_commit").disabled  # no second click while it runs
    finish(at)
    batch = wiz(at)["result"]["batch_id"]
    assert f"Import done: batch #{batch}." in shown(at)
    assert metrics(at)["Created"] == f"{new:,}"
    assert sum(int(metrics(at)[k].replace(",", "")) for k in metrics(at) if k != "Rows") == 8800  # rows add up
    assert read("SELECT count(*) FROM customers WHERE import_id = ?", [batch]) == [(new,)]
    # a second click (or a rerun that still carries the click) imports nothing more
    at.session_state["_imp_go"] = wiz(at)["result"]["sig"]
    at.run()
    ok(at)
    assert read("SELECT count(*) FROM imports") == [(1,)]
    assert read("SELECT count(*) FROM customers WHERE import_id IS NOT NULL") == [(new,)]
    assert any(plain(p.label) == "Open the import history" for p in at.get("page_link"))

    at.switch_page(HISTORY_PAGE).run()
    ok(at)
    table = at.dataframe[0]
    rows = table.value
    assert rows["Batch"].tolist() == [batch] and rows["File"].tolist() == ["sales_pipeline.csv"]
    assert rows["Object"].tolist() == ["Customers"] and rows["Status"].tolist() == ["Imported"]
    assert rows["Created"].tolist() == [new] and rows["By"].tolist() == ["Boss Admin"]
    at.session_state[table.key] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    ok(at)
    button(at, f"imp_hist_undo_{batch}").click().run()
    ok(at)
    assert f"Undo batch #{batch}?" in shown(at)
    assert read("SELECT count(*) FROM customers WHERE import_id = ? AND deleted_at IS NULL", [batch]) == [(new,)]
    button(at, f"imp_hist_yes_{batch}").click().run()
    ok(at)
    assert f"Batch #{batch} undone: {new:,} records to the recycle bin" in shown(at)
    assert read("SELECT count(*) FROM customers WHERE import_id = ? AND deleted_at IS NULL", [batch]) == [(0,)]
    assert read("SELECT status FROM imports WHERE id = ?", [batch]) == [("undone",)]
    assert at.dataframe[0].value["Status"].tolist() == ["Undone"]


def test_the_uploaded_file_and_the_choices_survive_a_visit_to_another_page(app):
    at = walk_to_options(page("boss"), app)
    at.switch_page("views/customers.py").run()
    ok(at)
    at.switch_page(IMPORT_PAGE).run()
    ok(at)
    assert wiz(at)["step"] == 4 and wiz(at)["file"]["name"] == "sales_pipeline.csv"
    assert "sales_pipeline.csv → Customers" in shown(at)
    button(at, "imp_back_4").click().run()
    button(at, "imp_back_3").click().run()
    ok(at)
    assert select(at, "Field for column account").value == "name"  # the mapping is still there


def test_a_rep_without_the_import_right_has_no_import_menu(app):
    at = logged_in("rep_a").run()
    for path in (IMPORT_PAGE, HISTORY_PAGE):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(path)
    mkt = logged_in("mkt").run().switch_page(IMPORT_PAGE).run()
    ok(mkt)  # marketing imports leads (and its campaigns' results), not customers or deals
    objects = [plain(o) for o in select(mkt, "What the file holds").options]
    assert "Leads" in objects and "Customers" not in objects and "Deals" not in objects


def test_a_file_that_is_no_table_gets_a_clear_message(app):
    at = page("boss")
    at.file_uploader[0].set_value(("broken.xlsx", b"PK\x03\x04 this is no workbook" * 10, "application/zip")).run()
    assert not at.exception
    assert "This file cannot be read. Save it as CSV (UTF-8) or Excel .xlsx and upload it again." in shown(at)
    assert button(at, "imp_next_0").disabled


def test_a_file_larger_than_the_setting_is_refused(app):
    from core import auth, settings

    cur = _con()
    settings.set_value(cur, auth.actor_for(cur, "boss", None), "import.max_file_mb", 1)
    at = page("boss")
    upload(at, "big.csv", b"name,phone\n" + b"x" * (1024 * 1024 + 10) + b",1\n")
    assert not at.exception
    assert "larger than the 1 MB an import accepts" in shown(at) or "imports accept at most 1 MB" in shown(at)
    assert button(at, "imp_next_0").disabled


def _con():
    from ui.db import database

    return database().cursor()


def test_dates_that_read_both_ways_are_asked_before_going_on(app):
    at = page("boss")
    data = "name,phone,next follow-up\nAda,13800138001,03/05/2027\nBob,13800138002,04/06/2027\n".encode()
    upload(at, "people.csv", data)
    at = next_step(at, 0)
    at = next_step(at, 1)
    assert wiz(at)["mapping"].get("next follow-up") == "next_followup_at"
    at = next_step(at, 2)
    assert "read both ways" in shown(at)
    assert button(at, "imp_next_3").disabled
    radio = next(r for r in at.radio if r.key.startswith("imp_dates_"))
    radio.set_value("dmy").run()
    ok(at)
    assert not button(at, "imp_next_3").disabled
    assert wiz(at)["date_order"] == "dmy"


def test_every_step_speaks_chinese(app):
    at = page("boss", lang="zh")
    assert at.title[0].value == "数据导入"
    upload(at, "sales_pipeline.csv", MAVEN.read_bytes())
    ok(at)
    for step in range(5):
        at = next_step(at, step)
    button(at, "imp_dry_0").click().run()
    finish(at)
    assert "导入预计结果" in shown(at)
    assert {"总行数", "新建", "文件内重复", "与系统重复", "无效"} <= set(metrics(at))
    at = next_step(at, 5)
    assert button(at, "imp_commit").label.startswith("导入 ")
    at.switch_page(HISTORY_PAGE).run()
    ok(at)
    assert at.title[0].value == "导入记录"


def test_a_dry_run_or_commit_job_starts_once_however_often_it_is_asked(app):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string("""
import threading
import streamlit as st
from ui import imports

gate = st.session_state.setdefault("gate", threading.Event())
ran = st.session_state.setdefault("ran", [])

def work(cur, progress):
    ran.append(1)
    progress(0.5, "write")
    gate.wait(20)
    return "written"

st.session_state["first"] = imports.start("commit:x", work)
st.session_state["second"] = imports.start("commit:x", work)  # a double click, an overlapping rerun
""", default_timeout=30).run()
    assert not at.exception, at.exception
    assert at.session_state["first"] is True and at.session_state["second"] is False
    task = at.session_state["_imp_jobs"]["commit:x"]
    assert task["status"] == "running" and task["done"] == 0.5
    at.session_state["gate"].set()
    task["thread"].join(20)
    assert task["status"] == "done" and task["result"] == "written"
    at.run()  # asked again after it is done: still not repeated
    assert at.session_state["first"] is False and at.session_state["ran"] == [1]


def test_a_mapping_saved_by_name_is_offered_and_applied_on_the_next_import(app):
    at = walk_to_options(page("boss"), app)
    button(at, "imp_back_4").click().run()
    button(at, "imp_back_3").click().run()
    ok(at)
    name_box = next(x for x in at.text_input if plain(x.label) == "Name of the mapping")
    name_box.input("Maven pipeline as customers").run()
    next(b for b in at.button if b.label == "Save mapping").click().run()
    ok(at)
    assert 'Mapping "Maven pipeline as customers" saved.' in shown(at)
    # a new import of another layout: the saved mapping is offered and applied in one click
    at.session_state["_imp"] = {"step": 0, "gen": 7}
    at.run()
    upload(at, "pipeline_copy.csv", MAVEN.read_bytes().replace(b"opportunity_id", b"opp"))
    at = next_step(at, 0)
    at = next_step(at, 1)
    saved = next(s for s in at.selectbox if plain(s.label) == "Saved mapping")
    assert "Maven pipeline as customers" in [plain(o) for o in saved.options]
    ident = next(i for i, o in enumerate(saved.options) if "Maven" in plain(o))
    saved.set_value(_option_value(ident)).run()
    next(b for b in at.button if b.label == "Apply").click().run()
    ok(at)
    assert select(at, "Field for column account").value == "name"
    assert select(at, "Field for column sales_agent").value == "owner"


def _option_value(index):
    """The saved mapping behind the `index`-th option of the picker (it shows names; None comes first)."""
    from core import auth
    from core.imports import mapping
    from ui.db import database

    cur = database().cursor()
    rows = mapping.mappings(cur, auth.actor_for(cur, "boss"), "customers")
    return [None, *[r["id"] for r in rows]][index]


def test_file_values_of_a_select_field_are_mapped_to_our_codes(app):
    at = page("boss")
    data = ("name,phone,level\nAda,13800138001,Gold\nBob,13800138002,Platinum\nCy,13800138003,gold\n").encode()
    upload(at, "levels.csv", data)
    at = next_step(at, 0)
    at = next_step(at, 1)
    assert wiz(at)["mapping"]["level"] == "level"
    at = next_step(at, 2)
    boxes = [s for s in at.selectbox if s.key and s.key.startswith("imp_val_")]
    texts = [plain(x.value) for x in at.text]
    assert any(v.startswith("Gold") for v in texts) and any(v.startswith("Platinum") for v in texts)
    codes = [o for o in boxes[0].options]
    assert len(codes) > 2  # our levels, plus "automatic" (and "create" for admins)
    platinum = next(b for b in boxes if "Platinum" in plain(b.label))
    from core import customers
    from ui.db import database

    levels = [r["code"] for r in customers.levels(database().cursor())]
    platinum.set_value(levels[0]).run()
    gold = next(b for b in at.selectbox if b.key and b.key.startswith("imp_val_") and "Gold" in plain(b.label))
    gold.set_value(levels[1]).run()
    ok(at)
    assert wiz(at)["value_map"]["level"] == {"Platinum": levels[0], "Gold": levels[1]}
    assert not any(plain(x.value).startswith("gold") for x in at.text)  # "gold" is the same value as "Gold"
    for step in (3, 4):
        at = next_step(at, step)
    button(at, "imp_dry_0").click().run()
    finish(at)
    assert metrics(at)["Invalid"] == "0" and metrics(at)["New"] == "3"  # every value mapped to one of ours


def test_exact_copies_are_said_under_the_counts_of_the_dry_run_and_of_the_import(app):
    """They are neither created nor refused: without the line under the metrics the rows would not add up."""
    at = page("boss")
    data = ("name,phone\nAda,13800138001\nBob,13800138002\nAda,13800138001\nAda,13800138001\n"
            "Cy,10086\n").encode()
    upload(at, "copies.csv", data)
    for step in (0, 1, 2, 3, 4):
        at = next_step(at, step)
    button(at, "imp_dry_0").click().run()
    finish(at)
    assert metrics(at)["New"] == "2" and metrics(at)["Invalid"] == "1"
    assert "2 rows repeated another row exactly and were counted once." in shown(at)
    at = next_step(at, 5)
    button(at, "imp_commit").click().run()
    finish(at)
    got = {k: int(v.replace(",", "")) for k, v in metrics(at).items()}
    assert got["Created"] == 2 and got["Refused"] == 1
    assert "2 rows repeated another row exactly and were counted once." in shown(at)
    assert sum(v for k, v in got.items() if k != "Rows") + 2 == got["Rows"] == 5
