"""User data shown in Streamlit elements that render Markdown (titles, captions, markdown, buttons,
alerts) is escaped, so a name like `**x**`, `[link](…)` or `:red[x]` shows as typed."""
from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def md(value: object) -> str:
    """The value as literal text inside Markdown."""
    return _SPECIAL.sub(r"\\\1", "" if value is None else str(value))
