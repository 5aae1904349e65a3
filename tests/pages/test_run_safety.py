"""Each script run has its own cursor (fast reruns overlap on two threads), and an error no page
caught still reaches the user as a message in their language, never as a traceback."""
from __future__ import annotations

import threading

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from core import customers
from core.context import utcnow
from tests.conftest import ROOT, company_app


@pytest.fixture
def app_db(tmp_path):
    with company_app(tmp_path) as company:
        yield company


def test_two_overlapping_runs_never_share_a_cursor(app_db):
    from ui import db as ui_db

    seen, barrier = {}, threading.Barrier(2)

    def run(name):
        first = ui_db.con()
        barrier.wait()
        # both "runs" query at the same moment: with one shared cursor one of them would raise
        # "connection is busy with another call"
        for _ in range(200):
            first.execute("SELECT count(*) FROM range(20000)").fetchall()
        seen[name] = (first, ui_db.con())

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert seen["a"][0] is seen["a"][1] and seen["b"][0] is seen["b"][1]  # one cursor per run
    assert seen["a"][0] is not seen["b"][0]


def test_a_database_error_on_a_page_is_a_message_not_a_traceback(app_db, monkeypatch):
    def broken(con):
        raise duckdb.ConnectionException("Connection Error: something broke")

    monkeypatch.setattr(customers, "stages", broken)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "rep_a"
    at.session_state["name"] = "rep_a"
    at.session_state["_crm_login_at"] = utcnow()
    at.session_state["lang"] = "zh"
    at.session_state["_crm_lang_loaded"] = "rep_a"
    at.run()
    at.switch_page("views/customers.py").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["发生意外错误，已记录日志。请重试或联系管理员。"]
