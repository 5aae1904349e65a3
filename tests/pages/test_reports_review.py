"""Found by a review of the report builder (issue 12): the same date field twice with the same bucket (day of
week by day of week) drew a table whose second column was headed by a raw code ("created_at_dow"); it is
now refused with a message naming the field, in the user's language."""
from __future__ import annotations

from tests.pages.test_reports_page import app_db, page  # noqa: F401  (the module's fixture)


def test_the_same_dimension_twice_is_refused_in_words_not_drawn_with_a_code(app_db):  # noqa: F811
    for lang, word in (("en", "already"), ("zh", "已按同样的方式")):
        at = page("mgr", lang)
        for key, value in dict(rb_obj="deals", rb_d0="created_at", rb_b0="dow", rb_d1="created_at", rb_b1="dow",
                               rb_a0="count", rb_chart="table").items():
            at.session_state[key] = value
        at.run()
        assert not at.exception, at.exception
        assert any(word in e.value for e in at.error), [e.value for e in at.error]
        headers = [str(c) for d in at.dataframe for c in d.value.columns]
        assert not any("created_at" in h for h in headers), headers
