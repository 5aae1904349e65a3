"""English counts agree with their noun ("1 user", "2 users"); Chinese has one form for every count."""
import pytest

from core.i18n import catalogue, is_one, translate

PLURAL_MESSAGES = ["action.saved", "audit.count", "customers.count", "recycle.purged", "teams.members", "users.count"]


@pytest.mark.parametrize("n", [1, "1", "1.0", "\\1"])
def test_one_is_one_however_it_was_formatted(n):
    assert is_one(n)


@pytest.mark.parametrize("n", [0, 2, "0", "11", "1,234", "21", "", "one", True, None, 1.5])
def test_other_counts_are_not_one(n):
    assert not is_one(n)


def test_english_uses_the_singular_for_one():
    assert translate("en", "users.count", n="1") == "1 user"
    assert translate("en", "users.count", n=1) == "1 user"
    assert translate("en", "action.saved", n=1) == "Saved (1 change)."
    assert translate("en", "customers.count", n="1", page=1, pages="1") == "1 customer · page 1 of 1"
    assert translate("en", "teams.members", n="1") == "1 member"
    assert translate("en", "recycle.purged", n="1") == "1 record purged."
    assert translate("en", "audit.count", n="1") == "1 entry"


def test_english_uses_the_plural_for_other_counts():
    assert translate("en", "users.count", n="0") == "0 users"
    assert translate("en", "users.count", n="1,234") == "1,234 users"
    assert translate("en", "action.saved", n=2) == "Saved (2 changes)."


def test_chinese_has_one_form_for_every_count():
    assert translate("zh", "users.count", n="1") == "共 1 个用户"
    assert translate("zh", "users.count", n="5") == "共 5 个用户"
    assert translate("zh", "action.saved", n=1) == "已保存（1 处修改）。"


def test_every_english_count_message_has_its_singular():
    en = catalogue("en")
    for key in PLURAL_MESSAGES:
        assert key + "_one" in en, key
        assert "{n}" in en[key + "_one"]
