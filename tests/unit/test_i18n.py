"""Every string a user reads exists in English and in 简体中文."""
import re

from core import access, recycle, settings
from core.i18n import PLURAL_ONE, catalogue, translate
from tests.conftest import ROOT

SOURCES = [ROOT / "app.py", *(ROOT / "views").rglob("*.py"), *(ROOT / "ui").rglob("*.py"), *(ROOT / "core").rglob("*.py")]


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


def plural_forms(texts: dict[str, str]) -> set[str]:
    """The `KEY_one` singular forms (core.i18n): optional in a language without plurals."""
    return {k for k in texts if k.endswith(PLURAL_ONE) and k[: -len(PLURAL_ONE)] in texts}


def test_both_catalogues_have_the_same_keys():
    en, zh = catalogue("en"), catalogue("zh")
    assert set(en) - plural_forms(en) == set(zh) - plural_forms(zh)


def test_a_singular_form_belongs_to_a_message_with_a_count_in_both_catalogues():
    en, zh = catalogue("en"), catalogue("zh")
    for lang in (en, zh):
        for k in plural_forms(lang):
            base = k[: -len(PLURAL_ONE)]
            assert base in en and base in zh and "{n}" in en[base], k
    assert {k for k in en if k.endswith(PLURAL_ONE)} == plural_forms(en)


def test_every_key_the_code_uses_is_in_both_catalogues():
    missing = sorted(k for k in used_keys() if k not in catalogue("en") or k not in catalogue("zh"))
    assert missing == []


def test_chinese_texts_are_chinese():
    zh = catalogue("zh")
    untranslated = [k for k, v in zh.items() if not re.search(r"[\u4e00-\u9fff]", v)]
    assert untranslated == []


def test_placeholders_match_between_languages():
    en, zh = catalogue("en"), catalogue("zh")
    odd = [k for k in en if k in zh and set(re.findall(r"{(\w+)}", en[k])) != set(re.findall(r"{(\w+)}", zh[k]))]
    assert odd == []
    # a singular form takes the same parameters as its message
    for texts in (en, zh):
        odd += [k for k in plural_forms(texts)
                if set(re.findall(r"{(\w+)}", texts[k])) != set(re.findall(r"{(\w+)}", en[k[: -len(PLURAL_ONE)]]))]
    assert odd == []


def test_the_crm_terms_of_the_product_are_used_in_chinese():
    assert translate("zh", "module.leads") == "线索" and translate("zh", "entity.customer") == "客户"
    assert translate("zh", "page.recycle") == "回收站" and translate("zh", "scope.team_tree") == "本部门及下属"
    assert translate("zh", "auth.locked", until="10:00").endswith("10:00。")
