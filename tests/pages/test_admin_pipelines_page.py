"""The "Pipelines and products" admin page as the admin meets it: the stages of the chosen pipeline with
how many deals sit in each, a new stage, a stage holding deals removed by moving them (the page offers
the move), a bad probability and a taken sku explained in words, the catalogue edited; the page speaks
Chinese; a rep or a manager does not get it. The lost reasons list shows on the "Fields and lists" page."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import db, pipelines
from tests.conftest import company_app, logged_in
from tests.integration.test_pipelines import add_deal

PAGE = "views/admin_pipelines.py"


@pytest.fixture
def crm(tmp_path):
    def prepare(con, company):
        company.deals = [add_deal(company, "proposal"), add_deal(company, "proposal")]
        pipelines.save_product(con, company.actor("boss"), {"code": "CRM-STD", "name": "CRM Standard",
                                                           "name_zh": "CRM 标准版", "series": "Software",
                                                           "list_price": 12800})

    with company_app(tmp_path, prepare) as company:
        yield company


def cursor():
    from ui.db import database

    return database().cursor()


def page_as(username: str = "boss", lang: str | None = None) -> AppTest:
    at = logged_in(username, lang).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def stage_table(at: AppTest):
    return at.dataframe[0].value


def widget(items, prefix: str):
    return next(w for w in items if w.key and w.key.startswith(prefix))


def said(items) -> list[str]:
    """The messages as the user reads them (Markdown escapes dropped)."""
    return [m.value.replace("\\", "") for m in items]


def submit(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def test_the_admin_sees_the_stages_of_the_chosen_pipeline_with_their_deals(crm):
    at = page_as()
    assert at.title[0].value == "Pipelines and products"
    shown = stage_table(at).set_index("English name")
    assert list(shown.index) == ["Prospecting", "Qualification", "Proposal", "Negotiation", "Won", "Lost"]
    assert shown.loc["Proposal", "Deals"] == 2 and shown.loc["Won", "Kind"] == "Won"
    at.selectbox(key="pl_pick").set_value(2).run()
    assert list(stage_table(at)["English name"]) == ["Renewal review", "Quote sent", "Verbal commit", "Renewed",
                                                     "Churned"]


def test_the_admin_adds_a_stage_and_a_bad_probability_is_explained(crm):
    at = page_as()
    widget(at.text_input, "pl_new_en_1").input("Contract")
    widget(at.text_input, "pl_new_zh_1").input("签约")
    widget(at.number_input, "pl_new_prob_1").set_value(150)
    submit(at, "pl_new_go_1")
    assert said(at.error) == ["Probability (%) must be between 0 and 100."]
    widget(at.number_input, "pl_new_prob_1").set_value(90)
    submit(at, "pl_new_go_1")
    assert not at.error and said(at.success) == ["Stage Contract added."]
    assert list(stage_table(at)["English name"])[-1] == "Contract"
    assert [s["name_zh"] for s in pipelines.stages(cursor(), 1)][-1] == "签约"


def test_removing_a_stage_with_deals_offers_to_move_them_and_moves_them(crm):
    at = page_as()
    at.selectbox(key="pl_stage_1").set_value("proposal").run()
    move = at.selectbox(key="pl_move_to_proposal")
    assert move.label == "Move its 2 deals to" and move.options == ["Prospecting", "Qualification", "Negotiation"]
    move.set_value("negotiation")
    submit(at, "pl_remove_proposal")
    assert not at.error and said(at.success) == ["Stage Proposal removed; 2 deals moved."]
    assert "Proposal" not in list(stage_table(at)["English name"])
    assert stage_table(at).set_index("English name").loc["Negotiation", "Deals"] == 2
    moved = db.rows(cursor(), "SELECT from_stage, to_stage FROM deal_stage_history WHERE deal_id IN "
                              "(SELECT unnest(?)) AND from_stage IS NOT NULL", [crm.deals])
    assert moved == [{"from_stage": "proposal", "to_stage": "negotiation"}] * 2


def test_a_stage_edit_saves_and_the_form_shows_the_stored_values(crm):
    at = page_as()
    at.selectbox(key="pl_stage_1").set_value("won").run()
    widget(at.text_input, "pl_st_en_won").input("Signed")
    widget(at.number_input, "pl_st_prob_won").set_value(40)  # a won stage counts 100 % whatever is typed
    submit(at, "pl_st_save_won")
    assert said(at.success) == ["Stage Signed saved."]
    assert widget(at.number_input, "pl_st_prob_won").value == 100
    assert pipelines.stage(cursor(), "won")["name_en"] == "Signed"
    assert [c.value for c in at.caption if "stay" in c.value]  # no remove button for the won stage
    assert not [b for b in at.button if b.key == "pl_remove_won"]


def test_the_admin_adds_a_product_and_a_taken_sku_is_explained(crm):
    at = page_as()
    widget(at.text_input, "pr_sku_new").input("crm-std")
    widget(at.text_input, "pr_en_new").input("Another")
    widget(at.text_input, "pr_zh_new").input("另一个")
    submit(at, "pr_save")
    assert said(at.error) == ["The SKU crm-std is used by another product."]
    widget(at.text_input, "pr_sku_new").input("CRM-PRO")
    widget(at.number_input, "pr_price_new").set_value(25600.0)
    submit(at, "pr_save")
    assert not at.error and said(at.success) == ["Product CRM-PRO saved."]
    catalogue = next(d.value for d in at.dataframe if "SKU" in d.value.columns)
    assert sorted(catalogue["SKU"]) == ["CRM-PRO", "CRM-STD"]
    assert [p["list_price"] for p in pipelines.products(cursor()) if p["code"] == "CRM-PRO"] == [25600.0]


def test_the_page_speaks_chinese(crm):
    at = page_as(lang="zh")
    assert at.title[0].value == "销售漏斗与产品"
    shown = stage_table(at)
    assert list(shown.columns[:3]) == ["英文名称", "中文名称", "赢单概率（%）"]
    assert list(shown["类型"])[-2:] == ["赢单", "输单"]


@pytest.mark.parametrize("username", ["rep_a", "mgr"])
def test_a_rep_or_a_manager_does_not_get_the_page(crm, username):
    at = logged_in(username).run()
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)


def test_the_lost_reasons_list_is_on_the_fields_and_lists_page(crm):
    at = logged_in("boss").run()
    at.switch_page("views/admin_fields.py").run()
    at.button_group(key="opt_list").set_value("lost_reason").run()
    assert not at.exception and not at.error
    assert at.button_group(key="opt_list").formatted_values == ["Lost reasons"]
    shown = [t.value for t in at.text]
    assert "Price too high / 价格太高" in shown and "Chose a competitor / 选择了竞争对手" in shown
