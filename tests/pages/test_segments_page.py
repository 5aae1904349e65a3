"""The segments page: marketing builds a rule, sees the live count follow it and saves the segment; a
manager reads a shared segment (only the team tree's customers) without the editor; both languages."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import segments
from tests.conftest import company_app, logged_in


@pytest.fixture
def seg_db(tmp_path):
    def prepare(con, company):
        company.shared = segments.save(con, company.actor("mkt"), "Shanghai customers",
                                       {"op": "and", "items": [{"field": "province", "op": "contains", "value": "上海"}]},
                                       share="all")
        segments.save(con, company.actor("mkt"), "Private list", {"op": "and", "items": []})

    with company_app(tmp_path, prepare) as company:
        yield company


def page_as(username: str, lang: str | None = None, **query) -> AppTest:
    return logged_in(username, lang, **query).run().switch_page("views/segments.py").run()


def live_count(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label in ("Customers matching now", "当前符合的客户"))


def test_marketing_builds_a_rule_sees_the_count_and_saves_it(seg_db):
    at = page_as("mkt")
    assert not at.exception, at.exception
    assert live_count(at) == "6"  # no condition yet: every customer
    at.selectbox(key="seg_field").set_value("region").run()
    at.multiselect(key="seg_v_region_in_multi").set_value(["East"]).run()
    at.button(key="seg_add").click().run()
    assert not at.exception, at.exception
    assert live_count(at) == "3"
    assert any("Region is one of East" in x.value for x in at.text)
    # AND a group holding: no province
    at.button(key="seg_add_group").click().run()
    at.selectbox(key="seg_target").set_value(at.selectbox(key="seg_target").options[1]).run()
    at.selectbox(key="seg_field").set_value("province").run()
    at.selectbox(key="seg_op_province").set_value("empty").run()
    at.button(key="seg_add").click().run()
    assert live_count(at) == "1"  # East AND (a group: no province): the East pool only
    name = next(w for w in at.text_input if w.label == "Segment name")
    name.input("East without province")
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception, at.exception
    assert any("East without province" in s.value for s in at.success)
    assert at.query_params.get("id")
    assert any("East without province" in s.value for s in at.subheader)


def test_a_manager_reads_a_shared_segment_without_the_editor(seg_db):
    at = page_as("mgr")
    assert not at.exception and not at.error
    listed = at.dataframe[0].value
    assert listed.iloc[:, 0].tolist() == ["Shanghai customers"]
    assert listed.iloc[0, 1] == 3          # the live count covers the manager's team tree only
    assert not at.metric                   # no rule editor for a reader
    at = page_as("mgr", id=str(seg_db.shared))
    assert not at.exception and not at.error
    assert sorted(at.dataframe[0].value.iloc[:, 0].tolist()) == ["Customer of rep_a", "Customer of rep_b",
                                                                 "Customer of rep_sh"]
    assert not [b for b in at.button if b.label == "Edit the rule"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_page_renders_in_both_languages_for_each_reader(seg_db, lang):
    for user in ("mkt", "mgr", "boss"):
        at = page_as(user, lang)
        assert not at.exception, (user, at.exception)
        assert not at.error, (user, [e.value for e in at.error])
        at = page_as(user, lang, id=str(seg_db.shared))
        assert not at.exception, (user, at.exception)
        assert not at.error, (user, [e.value for e in at.error])
    assert at.title[0].value == ("客户细分" if lang == "zh" else "Segments")


def test_marketing_edits_the_rule_of_a_segment_in_place(seg_db):
    at = page_as("mkt", id=str(seg_db.shared))
    at.button(key="seg_edit").click().run()
    assert not at.exception, at.exception
    assert any("Editing the rule of “Shanghai customers”" in s.value for s in at.subheader)
    assert any("Province contains 上海" in x.value for x in at.text)
    assert live_count(at) == "4"
    at.selectbox(key="seg_field").set_value("region").run()
    at.multiselect(key="seg_v_region_in_multi").set_value(["West"]).run()
    at.button(key="seg_add").click().run()
    assert live_count(at) == "1"
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("id") == [str(seg_db.shared)] or at.query_params.get("id") == str(seg_db.shared)
    assert any("Region is one of West" in x.value for x in at.text)       # the saved rule
    assert any(m.value.startswith("1 customer ·") for m in at.markdown)  # rep_w: in Shanghai and in the West


def test_a_snapshot_shows_its_day_and_a_broken_consent_setting_stops_only_the_mailing_list(tmp_path):
    from core import settings

    def prepare(con, company):
        company.snap = segments.save(con, company.actor("mkt"), "On the day", {"op": "and", "items": []},
                                     kind="snapshot")
        settings.set_value(con, company.actor("boss"), "marketing.do_not_contact_field", "gone_field")

    with company_app(tmp_path, prepare) as company:
        at = page_as("mkt", id=str(company.snap))
        assert not at.exception, at.exception
        assert any(x.value.startswith("Snapshot of 20") for x in at.caption)
        assert [e.value for e in at.error] == [
            "The do-not-contact field “gone\\_field” named in the settings does not exist: ask the admin to correct "
            "the setting."]
        assert len(at.get("download_button")) == 2          # the full export still, not the mailing list
