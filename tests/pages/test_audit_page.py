"""The audit log speaks the user's language: actions, entities, fields and values are named in Chinese
for a Chinese user, empty cells are empty, times are the company's local time without seconds."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from core import access, customers, org, settings
from core.context import utcnow
from tests.conftest import company_app
from tests.pages.test_pages import app_as

ENGLISH_CODES = {"create", "update", "delete", "restore", "purge", "lock", "logout", "reset_password",
                 "customer", "user", "team", "setting", "permission", "True", "False", "None", "none"}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def audited_db(tmp_path_factory):
    """A company whose log holds creates, updates of a customer, a user, a setting and a permission,
    with booleans, ids, timestamps and empty values among them."""
    def prepare(con, company):
        boss = company.actor("boss", now=utcnow())
        settings.set_value(con, boss, "auth.session_days", 2)
        access.set_scope(con, boss, "marketing", "customers", "export", "none")
        org.update_user(con, boss, company.users["rep_b"], is_new_hire=True)
        customers.update_customer(con, boss, company.customers["rep_a"],
                                  {"next_followup_at": dt.datetime(2026, 11, 30, 1, 45, 7), "city": "杭州"})

    with company_app(tmp_path_factory.mktemp("audit_page"), prepare) as company:
        yield company


def audit_page(lang: str):
    at = app_as("boss", lang=lang).run()
    at.switch_page("views/admin_audit.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_audit_log_in_chinese_names_actions_entities_and_fields_in_chinese(audited_db):
    at = audit_page("zh")
    table = at.dataframe[0].value
    assert list(table.columns) == ["时间", "用户", "操作", "对象", "记录 ID", "字段", "原值", "新值"]
    assert len(table) > 20
    for column in ("操作", "对象"):
        assert all(CJK.search(v) for v in table[column]), table[column].tolist()
    cells = {str(v) for column in table.columns for v in table[column]}
    assert not cells & ENGLISH_CODES, cells & ENGLISH_CODES
    fields = set(table["字段"])
    # customer, user, team, setting and permission fields by their names in the catalogue
    assert {"城市", "下次跟进", "用户名", "角色"} <= fields
    assert any("市场" in f and "客户" in f for f in fields)          # marketing · customers · export
    assert not any(re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", f) for f in fields if f), fields
    assert {"是", "否"} <= set(table["原值"]) | set(table["新值"])    # is_new_hire False -> True
    assert "无权限" in set(table["新值"])                              # the scope "none" by its name


def test_the_audit_filters_speak_chinese(audited_db):
    at = audit_page("zh")
    entity = at.selectbox(key="aud_entity")
    assert "客户" in entity.options and "用户" in entity.options and "权限" in entity.options
    assert not [o for o in entity.options if not CJK.search(o)]
    assert not [o for o in at.selectbox(key="aud_action").options if not CJK.search(o)]
    assert all("customer, user" not in (ti.placeholder or "") for ti in at.text_input)


def test_empty_cells_are_empty_and_times_are_local_without_seconds(audited_db):
    at = audit_page("en")
    table = at.dataframe[0].value
    assert table["When"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}").all()
    followup = table[table["Field"] == "Next follow-up"]
    assert followup["New value"].tolist() == ["2026-11-30 09:45"]   # 01:45:07 UTC is 09:45 in Shanghai
    created = table[(table["Action"] == "Create") & (table["Entity"] == "Customer")]
    assert set(created["Old value"]) == {""}                          # nothing before a create
    setting = table[table["Entity"] == "Setting"]
    assert setting["Record id"].tolist() == [""]                      # a setting has no record id
    assert not table.isin(["None", "True", "False"]).any().any()
