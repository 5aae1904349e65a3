"""Every string a user reads exists in English and in 简体中文."""
import re

from core import access, recycle, settings
from core.i18n import catalogue, translate
from tests.conftest import ROOT

SOURCES = [ROOT / "app.py", *(ROOT / "pages").rglob("*.py"), *(ROOT / "ui").rglob("*.py"), *(ROOT / "core").rglob("*.py")]


def used_keys() -> set[str]:
    keys = set()
    for path in SOURCES:
        text = path.read_text()
        keys |= set(re.findall(r"\bt\(\s*\"([a-z_]+\.[A-Za-z0-9_.]+)\"", text))
        keys |= set(re.findall(r"(?:Error|Denied|NotFound|Conflict|Busy)\(\s*\"([a-z_]+\.[a-z0-9_.]+)\"", text))
        keys |= set(re.findall(r"\"((?:page|nav)\.[a-z_]+)\"", text))
    # keys built from fixed lists
    keys |= {f"role.{r}" for r in access.ROLES} | {f"scope.{s}" for s in access.SCOPES}
    keys |= {f"module.{m}" for m in access.MODULES} | {f"action.{a}" for a in access.ACTIONS}
    keys |= {f"entity.{e}" for e in recycle.ENTITIES} | {f"setting.{k}" for k in settings.DEFAULTS}
    return keys


def test_both_catalogues_have_the_same_keys():
    assert set(catalogue("en")) == set(catalogue("zh"))


def test_every_key_the_code_uses_is_in_both_catalogues():
    missing = sorted(k for k in used_keys() if k not in catalogue("en") or k not in catalogue("zh"))
    assert missing == []


def test_chinese_texts_are_chinese():
    zh = catalogue("zh")
    untranslated = [k for k, v in zh.items() if not re.search(r"[\u4e00-\u9fff]", v)]
    assert untranslated == []


def test_placeholders_match_between_languages():
    en, zh = catalogue("en"), catalogue("zh")
    odd = [k for k in en if set(re.findall(r"{(\w+)}", en[k])) != set(re.findall(r"{(\w+)}", zh[k]))]
    assert odd == []


def test_the_crm_terms_of_the_product_are_used_in_chinese():
    assert translate("zh", "module.leads") == "线索" and translate("zh", "entity.customer") == "客户"
    assert translate("zh", "page.recycle") == "回收站" and translate("zh", "scope.team_tree") == "本部门及下属"
    assert translate("zh", "auth.locked", until="10:00").endswith("10:00。")
