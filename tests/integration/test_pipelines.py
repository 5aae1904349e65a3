"""Pipelines and stages, the product catalogue and the lost reasons, as the admin edits them: a stage
holding deals is removed only by moving its deals (each move in the stage history, in the same unit of
work), a pipeline keeps one won and one lost stage, probabilities stay within 0-100, names are given in
both languages and refused when huge, a sku is unique among live products, only the admin edits."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from core import db, options, pipelines
from core.errors import DuplicateError, NotFound, PermissionDenied, ValidationError
from tests.conftest import NOW

EARLIER = NOW - dt.timedelta(days=30)


def add_deal(company, stage: str, probability: int = 50, probability_set: bool = False, deleted: bool = False) -> int:
    """A deal of rep_a sitting in `stage` since 30 days, with its first stage-history row."""
    con = company.con
    deal_id = db.next_id(con, "deals")
    pipeline_id = pipelines.stage(con, stage)["pipeline_id"]
    con.execute("INSERT INTO deals (id, name, customer_id, stage, probability, probability_set, owner_id, team_id, "
                "pipeline_id, created_at, updated_at, stage_changed_at, deleted_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [deal_id, f"Deal {deal_id}", company.customers["rep_a"], stage, probability, probability_set,
                 company.users["rep_a"], company.teams["east"], pipeline_id, EARLIER, EARLIER, EARLIER,
                 EARLIER if deleted else None])
    con.execute("INSERT INTO deal_stage_history VALUES (nextval('seq_deal_stage_history'), ?, NULL, ?, ?, ?)",
                [deal_id, stage, EARLIER, company.users["rep_a"]])
    return deal_id


def deal(company, deal_id: int) -> dict:
    return db.one(company.con, "SELECT stage, probability, stage_changed_at, updated_at FROM deals WHERE id = ?",
                  [deal_id])


def history(company, deal_id: int) -> list[tuple]:
    return company.con.execute("SELECT from_stage, to_stage, changed_at, changed_by FROM deal_stage_history "
                               "WHERE deal_id = ? ORDER BY id", [deal_id]).fetchall()


def codes(con, pipeline_id=1) -> list[str]:
    return [s["code"] for s in pipelines.stages(con, pipeline_id)]


# ------------------------------------------------------------------------------------ removing stages
def test_removing_a_stage_that_holds_deals_is_refused_naming_how_many(company):
    con, boss = company.con, company.actor("boss")
    ids = [add_deal(company, "proposal"), add_deal(company, "proposal")]
    with pytest.raises(pipelines.StageHasDeals) as err:
        pipelines.remove_stage(con, boss, "proposal")
    assert err.value.key == "pipelines.stage_has_deals"
    assert err.value.params == {"n": 2, "stage": "Proposal"} and err.value.count == 2
    assert "proposal" in codes(con) and [deal(company, i)["stage"] for i in ids] == ["proposal", "proposal"]
    with pytest.raises(pipelines.StageHasDeals) as err:
        pipelines.remove_stage(con, dataclasses.replace(boss, language="zh"), "proposal")
    assert err.value.params["stage"] == "方案报价"


def test_removing_with_a_target_moves_every_deal_with_a_history_row_then_hides_the_stage(company):
    con, boss = company.con, company.actor("boss")
    follows = add_deal(company, "proposal", probability=50)
    own = add_deal(company, "proposal", probability=33, probability_set=True)
    binned = add_deal(company, "proposal", deleted=True)
    other = add_deal(company, "qualification", probability=25)
    assert pipelines.stage_deal_counts(con, boss, 1)["proposal"] == 3  # the recycle bin's deal moves too

    done = pipelines.remove_stage(con, boss, "proposal", move_to="negotiation")

    assert done == {"moved": 3, "removed": "deactivated"}
    assert deal(company, follows) == {"stage": "negotiation", "probability": 75, "stage_changed_at": NOW,
                                      "updated_at": NOW}
    assert deal(company, own)["probability"] == 33  # the owner's own probability stays
    assert deal(company, binned)["stage"] == "negotiation"  # a restore will not land in a hidden stage
    for i in (follows, own, binned):
        assert history(company, i)[-1] == ("proposal", "negotiation", NOW, company.users["boss"])
    assert deal(company, other)["stage"] == "qualification" and len(history(company, other)) == 1
    # history keeps its names: the stage is hidden from the board and forms, not deleted
    assert "proposal" not in codes(con)
    assert pipelines.stage(con, "proposal")["name_zh"] == "方案报价"
    assert not pipelines.stage(con, "proposal")["active"]
    logged = con.execute("SELECT count(*) FROM audit_log WHERE entity = 'deal' AND field = 'stage' "
                         "AND old_value = 'proposal' AND new_value = 'negotiation'").fetchone()[0]
    assert logged == 3


def test_a_removed_stage_is_deactivated_never_deleted_even_when_nothing_referred_to_it(company):
    # a deleted row cannot conflict with a deal moving into it at the same moment (see test_deals' races)
    con, boss = company.con, company.actor("boss")
    code = pipelines.save_stage(con, boss, {"name_en": "Demo", "name_zh": "演示", "probability": 40}, pipeline_id=1)
    assert pipelines.remove_stage(con, boss, code) == {"moved": 0, "removed": "deactivated"}
    assert db.scalar(con, "SELECT count(*) FROM pipeline_stages WHERE code = ? AND NOT active", [code]) == 1
    assert code not in codes(con)


def test_removing_a_stage_moves_the_deals_version_strictly_forward(company):
    con, boss = company.con, company.actor("boss")
    ahead = NOW + dt.timedelta(hours=1)   # a version written by a clock running ahead of this one
    did = add_deal(company, "proposal")
    con.execute("UPDATE deals SET updated_at = ? WHERE id = ?", [ahead, did])
    pipelines.remove_stage(con, boss, "proposal", move_to="negotiation")
    assert deal(company, did)["updated_at"] == ahead + dt.timedelta(microseconds=1)


def test_a_new_default_probability_moves_the_following_deals_version_and_is_audited(company):
    con, boss = company.con, company.actor("boss")
    follows = add_deal(company, "negotiation", probability=75)
    own = add_deal(company, "negotiation", probability=90, probability_set=True)
    before = {i: deal(company, i)["updated_at"] for i in (follows, own)}
    pipelines.save_stage(con, boss, {"probability": 80}, code="negotiation")
    assert deal(company, follows)["updated_at"] > before[follows]   # a page opened before now conflicts
    assert deal(company, own)["updated_at"] == before[own]
    logged = con.execute("SELECT entity_id, old_value, new_value, user_id FROM audit_log WHERE entity = 'deal' "
                         "AND field = 'probability'").fetchall()
    assert logged == [(follows, "75", "80", company.users["boss"])]


def test_a_removed_stage_name_can_be_used_again_under_a_new_code(company):
    con, boss = company.con, company.actor("boss")
    stage = {"name_en": "On hold", "name_zh": "暂停", "probability": 5}
    first = pipelines.save_stage(con, boss, stage, pipeline_id=1)
    add_deal(company, first)
    pipelines.remove_stage(con, boss, first, move_to="prospecting")
    again = pipelines.save_stage(con, boss, stage, pipeline_id=1)
    assert (first, again) == ("new_business_on_hold", "new_business_on_hold_2")
    assert pipelines.stage(con, first)["name_en"] == pipelines.stage(con, again)["name_en"] == "On hold"


@pytest.mark.parametrize("target", ["renew_review", "won", "lost", "proposal", "nowhere", ""])
def test_the_deals_move_only_to_another_active_open_stage_of_the_same_pipeline(company, target):
    con, boss = company.con, company.actor("boss")
    ids = [add_deal(company, "proposal"), add_deal(company, "proposal")]
    with pytest.raises(ValidationError) as err:
        pipelines.remove_stage(con, boss, "proposal", move_to=target)
    assert err.value.key in ("pipelines.bad_move_target", "pipelines.stage_has_deals")
    assert [deal(company, i)["stage"] for i in ids] == ["proposal", "proposal"]
    assert all(len(history(company, i)) == 1 for i in ids) and "proposal" in codes(con)


def test_deactivating_a_stage_that_holds_deals_is_refused_too(company):
    con, boss = company.con, company.actor("boss")
    add_deal(company, "qualification")
    with pytest.raises(pipelines.StageHasDeals):
        pipelines.save_stage(con, boss, {"active": False}, code="qualification")
    assert "qualification" in codes(con)


# ------------------------------------------------------------------------------------ stage rules
def test_a_pipeline_keeps_exactly_one_won_and_one_lost_stage(company):
    con, boss = company.con, company.actor("boss")
    for code in ("won", "lost"):
        with pytest.raises(ValidationError) as err:
            pipelines.remove_stage(con, boss, code)
        assert err.value.key == "pipelines.keep_closing_stage"
    refused = [({"active": False}, "won"), ({"kind": "open"}, "lost"), ({"kind": "won"}, "proposal")]
    for values, code in refused:
        with pytest.raises(ValidationError) as err:
            pipelines.save_stage(con, boss, values, code=code)
        assert err.value.key == "pipelines.one_won_one_lost", (values, code)
    with pytest.raises(ValidationError) as err:
        pipelines.save_stage(con, boss, {"name_en": "Won again", "name_zh": "再次赢单", "probability": 100,
                                         "kind": "won"}, pipeline_id=1)
    assert err.value.key == "pipelines.one_won_one_lost"
    assert [s["code"] for s in pipelines.stages(con, 1, include_inactive=True) if s["is_won"]] == ["won"]
    # a won stage counts 100 %, a lost one 0 %, whatever was typed
    pipelines.save_stage(con, boss, {"probability": 60}, code="won")
    assert pipelines.stage(con, "won")["probability"] == 100


def test_the_last_open_stage_stays(company):
    con, boss = company.con, company.actor("boss")
    pid = pipelines.save_pipeline(con, boss, {"name_en": "Upsell", "name_zh": "增购"})
    first = pipelines.first_open_stage(con, pid)["code"]
    with pytest.raises(ValidationError) as err:
        pipelines.remove_stage(con, boss, first)
    assert err.value.key == "pipelines.needs_open_stage"
    assert pipelines.first_open_stage(con, pid)["code"] == first


@pytest.mark.parametrize("values, key, field", [
    ({"probability": 101}, "field.out_of_range", "pipelines.probability"),
    ({"probability": -1}, "field.out_of_range", "pipelines.probability"),
    ({"probability": "fifty"}, "field.not_whole_number", "pipelines.probability"),
    ({"probability": 12.5}, "field.not_whole_number", "pipelines.probability"),
    ({"name_en": ""}, "field.required", "pipelines.name_en"),
    ({"name_zh": "   "}, "field.required", "pipelines.name_zh"),
    ({"name_en": "x" * 1_000_000}, "field.too_long", "pipelines.name_en"),
    ({"name_zh": "名" * 61}, "field.too_long", "pipelines.name_zh"),
    ({"kind": "maybe"}, "field.bad_choice", "pipelines.kind"),
])
def test_bad_stage_values_are_refused_naming_the_field(company, values, key, field):
    con, boss = company.con, company.actor("boss")
    with pytest.raises(ValidationError) as err:
        pipelines.save_stage(con, boss, values, code="proposal")
    assert (err.value.key, err.value.params["field"]) == (key, field)
    new = {"name_en": "Trial", "name_zh": "试用", "probability": 30, **values}
    with pytest.raises(ValidationError):
        pipelines.save_stage(con, boss, new, pipeline_id=1)
    assert pipelines.stage(con, "proposal")["probability"] == 50 and len(codes(con)) == 6


def test_a_new_stage_goes_last_and_moves_up_and_down_among_the_active_ones(company):
    con, boss = company.con, company.actor("boss")
    code = pipelines.save_stage(con, boss, {"name_en": "Contract", "name_zh": "签约", "probability": 90},
                                pipeline_id=1)
    assert codes(con)[-1] == code and pipelines.stage(con, code)["name_en"] == "Contract"
    pipelines.move_stage_position(con, boss, code, -1)
    pipelines.move_stage_position(con, boss, code, -1)
    assert codes(con) == ["prospecting", "qualification", "proposal", "negotiation", code, "won", "lost"]
    pipelines.move_stage_position(con, boss, "prospecting", -1)  # already first: nothing moves
    pipelines.move_stage_position(con, boss, "prospecting", 1)
    assert codes(con)[:2] == ["qualification", "prospecting"]
    with pytest.raises(DuplicateError) as err:
        pipelines.save_stage(con, boss, {"name_en": "contract", "name_zh": "合同", "probability": 90}, pipeline_id=1)
    assert err.value.key == "pipelines.stage_name_taken"
    # the same name in another pipeline is fine
    pipelines.save_stage(con, boss, {"name_en": "Contract", "name_zh": "签约", "probability": 90}, pipeline_id=2)


def test_renaming_a_stage_and_changing_its_probability_moves_the_deals_that_follow_it(company):
    con, boss = company.con, company.actor("boss")
    follows = add_deal(company, "negotiation", probability=75)
    own = add_deal(company, "negotiation", probability=90, probability_set=True)
    pipelines.save_stage(con, boss, {"name_en": "Contract review", "name_zh": "合同审核", "probability": 80},
                         code="negotiation")
    assert pipelines.stage(con, "negotiation")["name_zh"] == "合同审核"
    assert (deal(company, follows)["probability"], deal(company, own)["probability"]) == (80, 90)
    logged = dict(con.execute("SELECT field, new_value FROM audit_log WHERE entity = 'pipeline' AND entity_id = 1 "
                              "AND field LIKE 'negotiation.%'").fetchall())
    assert logged == {"negotiation.name_en": "Contract review", "negotiation.name_zh": "合同审核",
                      "negotiation.probability": "80"}


# ------------------------------------------------------------------------------------ pipelines
def test_a_new_pipeline_starts_with_an_open_a_won_and_a_lost_stage(company):
    con, boss = company.con, company.actor("boss")
    pid = pipelines.save_pipeline(con, boss, {"name_en": "Upsell", "name_zh": "增购"})
    assert [p["name_en"] for p in pipelines.pipelines(con)] == ["New business", "Renewals", "Upsell"]
    assert [(s["name_en"], s["probability"]) for s in pipelines.stages(con, pid)] == [("New", 10), ("Won", 100),
                                                                                      ("Lost", 0)]
    assert pipelines.closing_stage(con, pid, won=True)["name_zh"] == "赢单"
    pipelines.move_pipeline(con, boss, pid, -1)
    assert [p["id"] for p in pipelines.pipelines(con)] == [1, pid, 2]
    for values in ({"name_en": "upsell", "name_zh": "其他"}, {"name_en": "Other", "name_zh": "续约"}):
        with pytest.raises(DuplicateError) as err:
            pipelines.save_pipeline(con, boss, values)
        assert err.value.key == "pipelines.name_taken"
    with pytest.raises(ValidationError) as err:
        pipelines.save_pipeline(con, boss, {"name_en": "Only English", "name_zh": ""})
    assert err.value.params["field"] == "pipelines.name_zh"


def test_a_pipeline_holding_open_deals_or_the_last_active_one_is_not_deactivated(company):
    con, boss = company.con, company.actor("boss")
    add_deal(company, "renew_quote")
    add_deal(company, "won")  # closed deals do not hold a pipeline
    with pytest.raises(ValidationError) as err:
        pipelines.save_pipeline(con, boss, {"active": False}, 2)
    assert (err.value.key, err.value.params) == ("pipelines.pipeline_has_deals", {"n": 1})
    pipelines.save_pipeline(con, boss, {"name_en": "Renewals 2", "active": True}, 2)
    assert pipelines.pipeline(con, 2)["name_en"] == "Renewals 2"
    con.execute("DELETE FROM deals")
    pipelines.save_pipeline(con, boss, {"active": False}, 2)
    with pytest.raises(ValidationError) as err:
        pipelines.save_pipeline(con, boss, {"active": False}, 1)
    assert err.value.key == "pipelines.last_pipeline"
    assert [p["id"] for p in pipelines.pipelines(con)] == [1]


# ------------------------------------------------------------------------------------ products
def test_products_have_a_unique_sku_names_in_both_languages_and_are_never_deleted(company):
    con, boss = company.con, company.actor("boss")
    pid = pipelines.save_product(con, boss, {"code": "CRM-STD", "name": "CRM Standard", "name_zh": "CRM 标准版",
                                            "series": "Software", "list_price": "12,800"})
    assert pipelines.products(con) == [{"id": pid, "code": "CRM-STD", "name": "CRM Standard", "name_zh": "CRM 标准版",
                                        "series": "Software", "list_price": 12800.0, "active": True}]
    with pytest.raises(DuplicateError) as err:
        pipelines.save_product(con, boss, {"code": " crm-std ", "name": "Copy", "name_zh": "副本", "list_price": 1})
    assert (err.value.key, err.value.params) == ("products.sku_taken", {"sku": "crm-std"})
    pipelines.save_product(con, boss, {"active": False, "list_price": 9900}, pid)
    assert pipelines.products(con) == []
    assert pipelines.products(con, include_inactive=True)[0]["list_price"] == 9900.0
    assert db.scalar(con, "SELECT count(*) FROM products WHERE id = ?", [pid]) == 1
    changed = dict(con.execute("SELECT field, new_value FROM audit_log WHERE entity = 'product' AND entity_id = ? "
                               "AND action = 'update'", [pid]).fetchall())
    assert changed == {"active": "False", "list_price": "9900.0"}
    # a sku of a product in the recycle bin may be used again
    con.execute("UPDATE products SET deleted_at = ? WHERE id = ?", [NOW, pid])
    pipelines.save_product(con, boss, {"code": "CRM-STD", "name": "CRM Standard 2", "name_zh": "CRM 标准版 2",
                                       "list_price": 0})
    with pytest.raises(NotFound):
        pipelines.save_product(con, boss, {"list_price": 1}, pid)


@pytest.mark.parametrize("values, key, field", [
    ({"list_price": -1}, "field.out_of_range", "products.list_price"),
    ({"list_price": 1e12}, "field.out_of_range", "products.list_price"),
    ({"list_price": "abc"}, "field.not_a_number", "products.list_price"),
    ({"list_price": float("nan")}, "field.not_finite", "products.list_price"),
    ({"code": ""}, "field.required", "products.sku"),
    ({"code": "S" * 1_000_000}, "field.too_long", "products.sku"),
    ({"name_zh": None}, "field.required", "products.name_zh"),
    ({"name": "n" * 201}, "field.too_long", "products.name_en"),
])
def test_bad_product_values_are_refused_naming_the_field(company, values, key, field):
    con, boss = company.con, company.actor("boss")
    product = {"code": "P-1", "name": "Product", "name_zh": "产品", "list_price": 100, **values}
    with pytest.raises(ValidationError) as err:
        pipelines.save_product(con, boss, product)
    assert (err.value.key, err.value.params["field"]) == (key, field)
    assert pipelines.products(con, include_inactive=True) == []


# ------------------------------------------------------------------------------------ who may edit
@pytest.mark.parametrize("username", ["mgr", "rep_a", "svc"])
def test_only_the_admin_edits_pipelines_stages_and_products(company, username):
    con, who = company.con, company.actor(username)
    add_deal(company, "proposal")
    attempts = [
        lambda: pipelines.save_pipeline(con, who, {"name_en": "Mine", "name_zh": "我的"}),
        lambda: pipelines.save_pipeline(con, who, {"active": False}, 2),
        lambda: pipelines.move_pipeline(con, who, 2, -1),
        lambda: pipelines.save_stage(con, who, {"name_en": "X", "name_zh": "某", "probability": 5}, pipeline_id=1),
        lambda: pipelines.save_stage(con, who, {"probability": 99}, code="proposal"),
        lambda: pipelines.move_stage_position(con, who, "proposal", -1),
        lambda: pipelines.remove_stage(con, who, "proposal", move_to="negotiation"),
        lambda: pipelines.save_product(con, who, {"code": "P", "name": "P", "name_zh": "产品", "list_price": 1}),
        lambda: pipelines.stage_deal_counts(con, who, 1),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    assert len(codes(con)) == 6 and pipelines.stage(con, "proposal")["probability"] == 50
    assert db.scalar(con, "SELECT count(*) FROM deals WHERE stage = 'proposal'") == 1
    assert pipelines.products(con, include_inactive=True) == [] and len(pipelines.pipelines(con)) == 2


# ------------------------------------------------------------------------------------ lost reasons
def test_lost_reasons_are_an_option_list_the_admin_edits(company):
    con, boss = company.con, company.actor("boss")
    assert "lost_reason" in options.LISTS
    assert options.codes(con, "lost_reason")[:3] == ["price", "competitor", "no_decision"]
    options.save_option(con, boss, "lost_reason", "merger", "Company merged", "公司被并购")
    options.save_option(con, boss, "lost_reason", "timing", "Bad timing", "时机不对", active=False)
    assert [o["code"] for o in options.options(con, "lost_reason")][-1] == "merger"
    assert "timing" not in [o["code"] for o in options.options(con, "lost_reason")]
    assert "timing" in options.codes(con, "lost_reason")  # old deals keep a named reason
    with pytest.raises(PermissionDenied):
        options.save_option(con, company.actor("mgr"), "lost_reason", "x", "X", "某")
