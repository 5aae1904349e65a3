"""Found by a review of the pool pages in the browser (issue 10): the admin's pool rules say what a choice
does in words (no raw codes such as "won_deals" or "resort" in a Chinese label), and a daily reclaim time
the clock cannot have (25:99) is refused with a message, not stored and then silently ignored; full-width
digits typed on a Chinese keyboard are read as digits."""
from __future__ import annotations

import pytest

from core import reclaim
from core.context import SYSTEM, utcnow
from tests.conftest import company_app
from tests.pages.test_pool_pages import _idle, page, pool_db, read, table, view  # noqa: F401  (the module's fixture)


def _save(at):
    next(b for b in at.button if b.proto.form_id == "ap_settings" and b.proto.type == "primary").click().run()
    assert not at.exception, at.exception
    return at


def test_the_admins_pool_rules_name_the_choices_without_codes(pool_db):  # noqa: F811
    for lang in ("en", "zh"):
        at = page("boss", "views/admin_pool.py", lang)
        labels = [w.label for w in at.selectbox]
        for code in ("resort", "redistribute", "won_deals", "followups"):
            assert not any(code in label for label in labels), (lang, code, labels)


def test_a_reclaim_time_of_25_99_is_refused_and_full_width_digits_are_read(pool_db):  # noqa: F811
    at = page("boss", "views/admin_pool.py")
    at.text_input(key="ap_pool.reclaim_at").set_value("25:99")
    _save(at)
    assert at.error and "25:99" in at.error[0].value.replace("\\", "")
    assert read("SELECT value FROM settings WHERE key = 'pool.reclaim_at'") == []
    at = page("boss", "views/admin_pool.py", "zh")
    at.text_input(key="ap_pool.reclaim_at").set_value("３：３０")
    _save(at)
    assert not at.error, [e.value for e in at.error]
    assert read("SELECT value FROM settings WHERE key = 'pool.reclaim_at'") == [('"03:30"',)]


def test_the_splits_weighting_shows_as_the_setting_says_not_an_english_placeholder(pool_db):  # noqa: F811
    at = page("mgr", "views/pool.py", "zh")
    box = at.selectbox(key="pool_split_weighting")
    # None as the value showed Streamlit's "Choose an option" (English) in an empty box
    assert box.index == 0 and box.value is not None
    assert box.options[0] == "按系统设置"
    at.multiselect(key="pool_split_teams").set_value([pool_db.teams["east"]]).run()
    at.button(key="pool_split_dry").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "pool_split_go" in [b.key for b in at.button]


@pytest.fixture
def scheduled_db(tmp_path):
    def prepare(con, company):
        _idle(con, company.customers["rep_a"])
        reclaim.run(con, SYSTEM, now=utcnow(), source="schedule")

    with company_app(tmp_path, prepare) as company:
        yield company


def test_a_scheduled_run_in_the_assignment_log_is_by_the_system_in_the_users_language(scheduled_db):
    at = view(page("mgr", "views/pool.py", "zh"), "log")
    log = table(at, "操作人")
    assert log["操作人"].tolist() == ["系统"], log.to_dict("records")
