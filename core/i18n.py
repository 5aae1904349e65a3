"""Message catalogues: English and 简体中文. Every string a user reads has a key here.

Plurals: a message with a count takes it as the parameter `n`. When `n` is one and the catalogue has
the key `KEY_one`, that text is used instead of `KEY` ("{n} user" vs "{n} users"). `n` may arrive as
a number or already formatted ("1", "1,234", escaped for Markdown). Only English needs `_one` forms:
Chinese has no plural, so a `KEY_one` may be missing from zh.json (then zh uses `KEY` for every n)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}
_DIR = Path(__file__).with_name("locales")


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    return json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))


PLURAL_ONE = "_one"


def is_one(n) -> bool:
    """True when a count, as a number or as formatted text ("1", "1,234", "1\\.0"), is one."""
    if isinstance(n, bool):
        return False
    if isinstance(n, (int, float)):
        return n == 1
    text = str(n).replace("\\", "")
    for sep in (",", "_", " ", "\u00a0", "\u202f", "'"):
        text = text.replace(sep, "")
    try:
        return float(text) == 1
    except ValueError:
        return False


def translate(lang: str, key: str, **params) -> str:
    """The text of `key` in `lang` (English when missing), with {params} filled in; `KEY_one` when
    the count `n` is one and that form exists in the language."""
    lang = lang if lang in LANGUAGES else "en"
    text = None
    if "n" in params and is_one(params["n"]):
        text = catalogue(lang).get(key + PLURAL_ONE) or (
            None if key in catalogue(lang) else catalogue("en").get(key + PLURAL_ONE))
    text = text or catalogue(lang).get(key) or catalogue("en").get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text
