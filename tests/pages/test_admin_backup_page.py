"""The admin's backup page: back up now and see it listed, restore with a confirmation, the daily
backup's settings; in English and in Chinese; nobody else reaches it."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import customers, settings
from tests.conftest import company_app, logged_in

PAGE = "views/admin_backup.py"


@pytest.fixture
def app_db(tmp_path):
    with company_app(tmp_path) as company:
        company.folder = tmp_path
        yield company


def page_as(username: str, lang: str | None = None) -> AppTest:
    return logged_in(username, lang).run().switch_page(PAGE).run()


def cursor():
    from ui.db import database

    return database().cursor()


def boss():
    from core import auth
    from tests.conftest import NOW

    return auth.actor_for(cursor(), "boss", NOW)


def button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [s.value for s in at.success] + [i.value for i in at.info]
                     + [c.value for c in at.caption] + [e.value for e in at.error]).replace("\\", "")  # md escapes


@pytest.mark.parametrize("lang, now_label, written, manual", [
    ("en", "Back up now", "Backup written: crm-", "Manual"),
    ("zh", "立即备份", "备份已写入：crm-", "手动"),
])
def test_the_admin_backs_up_and_sees_the_backup_listed(app_db, lang, now_label, written, manual):
    at = page_as("boss", lang)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert button(at, "bk_now").label == now_label
    assert not at.dataframe  # no backup yet
    button(at, "bk_now").click().run()
    assert not at.exception
    assert written in texts(at)
    made = list((app_db.folder / "backups").glob("crm-*.duckdb"))
    assert len(made) == 1
    table = at.dataframe[0].value
    assert table.iloc[0, 0] == made[0].name and table.iloc[0, 3] == manual
    assert [b.label.replace("\\", "") for b in at.download_button] == [("Download " if lang == "en" else "下载 ") + made[0].name]


def test_a_restore_needs_the_confirmation_and_brings_the_data_back(app_db):
    at = page_as("boss")
    button(at, "bk_now").click().run()
    kept = app_db.customers["rep_a"]
    customers.update_customer(cursor(), boss(), kept, {"name": "Changed after the backup"})
    at.run()
    restore = button(at, "bk_restore")
    assert restore.disabled  # nothing happens without the tick
    next(c for c in at.checkbox if c.key.startswith("bk_sure_")).check().run()
    button(at, "bk_restore").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Restored crm-" in texts(at)
    assert customers.get_customer(cursor(), boss(), kept)["name"] == "Customer of rep_a"
    kinds = at.dataframe[0].value.iloc[:, 3].tolist()
    assert "Before a restore" in kinds  # the data just replaced is kept as a backup


def test_the_daily_backup_settings_are_saved_and_a_bad_time_is_explained(app_db):
    at = page_as("boss", "zh")
    next(t for t in at.text_input if t.key == "bk_at").set_value("25:61")
    next(b for b in at.button if "FormSubmitter" in b.id).click().run()
    assert "请按 HH:MM 格式填写时间" in texts(at)
    assert settings.get(cursor(), "backup.at") == "03:00"
    next(t for t in at.text_input if t.key == "bk_at").set_value("1:30")
    next(n for n in at.number_input if n.key == "bk_keep").set_value(7)
    next(b for b in at.button if "FormSubmitter" in b.id).click().run()
    assert not at.exception
    assert settings.get(cursor(), "backup.at") == "01:30" and settings.get(cursor(), "backup.keep_days") == 7


def test_a_manager_cannot_open_the_backup_page(app_db):
    at = logged_in("mgr").run()
    with pytest.raises(ValueError):  # not in the manager's menu
        at.switch_page(PAGE)
