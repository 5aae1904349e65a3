"""User data shown in Markdown-rendering elements reads exactly as typed: no bold, links, headings,
emoji or colour directives smuggled in through a name."""
import html

import pytest
from markdown_it import MarkdownIt

from ui.text import md

NAMES = ["**Bold** Ltd", "[click](https://evil.example)", "# Heading Co", "_x_ & <b>y</b>", "Price $5 - $10",
         "A:red[B]C", "`code` \\ back", "1. Not a list", "- dash", "上海*星辰*科技有限公司", "a|b|c", "x!=[y]"]


@pytest.mark.parametrize("name", NAMES)
def test_an_escaped_name_renders_as_the_same_text(name):
    rendered = MarkdownIt("commonmark").render(md(name)).strip()
    assert rendered.startswith("<p>") and rendered.endswith("</p>")
    assert html.unescape(rendered[3:-4]) == name


def test_ui_texts_escape_their_parameters_but_not_the_catalogue_text():
    from ui import i18n

    text = i18n.t("users.edit", name="**boss**")
    assert MarkdownIt("commonmark").render(text).strip() == "<p>Edit **boss**</p>"
