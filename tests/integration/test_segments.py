"""Segments (core.segments): rules over fields, custom fields, behaviour and RFM with AND/OR groups, always
under the viewer's customer scope; dynamic vs snapshot; sharing; export with do-not-contact respected;
adding to a campaign; nothing the user types becomes SQL."""
from __future__ import annotations

import datetime as dt

import pytest

from core import customers, db, fields, recycle, segments, settings
from core.errors import NotFound, PermissionDenied, ValidationError
from core.i18n import translate
from tests.conftest import NOW


def rule(*items, op="and"):
    return {"op": op, "items": list(items)}


def cond(field, op, value=None, **extra):
    return {"field": field, "op": op, "value": value, **extra}


def names_of(company, actor, sid) -> list[str]:
    df, _total = segments.members(company.con, actor, sid, 0, 100)
    return sorted(df["name"].to_list())


def add_order(c, customer_id, amount, days_ago, status="confirmed"):
    oid = db.next_id(c, "orders")
    at = NOW - dt.timedelta(days=days_ago)
    c.execute("INSERT INTO orders (id, customer_id, ordered_at, status, amount, created_at) VALUES (?, ?, ?, ?, ?, ?)",
              [oid, customer_id, at, status, amount, at])


def test_a_field_condition_counts_only_matching_customers(company):
    c, mkt = company.con, company.actor("mkt")
    boss = company.actor("boss")
    customers.update_customer(c, boss, company.customers["rep_a"], {"stage": "won"})
    assert segments.count(c, mkt, rule(cond("stage", "in", ["won"]))) == 1
    assert segments.count(c, mkt, rule(cond("province", "contains", "上海"))) == 4
    assert segments.count(c, mkt, rule(cond("province", "empty"))) == 2


def test_region_owner_and_team_conditions(company):
    c, mkt, t = company.con, company.actor("mkt"), company.teams
    # region of the customer's team: East holds rep_a, rep_b, its pool (and not the sub-team without a region)
    assert segments.count(c, mkt, rule(cond("region", "in", ["East"]))) == 3
    assert segments.count(c, mkt, rule(cond("owner", "in", [company.users["rep_w"]]))) == 1
    # a team takes the teams below it: East + East-Shanghai
    assert segments.count(c, mkt, rule(cond("team", "in", [t["east"]]))) == 4
    assert segments.count(c, mkt, rule(cond("team", "in", [t["west"]]))) == 2


def test_last_activity_days_counts_days_since_the_last_follow_up(company):
    c, mkt = company.con, company.actor("mkt")
    c.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?",
              [NOW - dt.timedelta(days=3), company.customers["rep_a"]])
    c.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?",
              [NOW - dt.timedelta(days=40), company.customers["rep_b"]])
    assert segments.count(c, mkt, rule(cond("last_activity_days", "lte", 7))) == 1
    # 30 days or more without a follow-up: rep_b's and the four never followed up
    assert segments.count(c, mkt, rule(cond("last_activity_days", "gte", 30))) == 5


def test_order_count_and_sum_in_a_period_leave_out_cancelled_refunded_and_old_orders(company):
    c, mkt, cu = company.con, company.actor("mkt"), company.customers
    add_order(c, cu["rep_a"], 600, 10)
    add_order(c, cu["rep_a"], 500, 20)
    add_order(c, cu["rep_a"], 9000, 400)                 # outside 90 days
    add_order(c, cu["rep_b"], 2000, 5, "cancelled")
    add_order(c, cu["rep_b"], 300, 5)
    add_order(c, cu["rep_sh"], 5000, 5, "refunded")
    assert segments.count(c, mkt, rule(cond("orders_sum", "gte", 1000, days=90))) == 1
    assert segments.count(c, mkt, rule(cond("orders_count", "gte", 2, days=90))) == 1
    assert segments.count(c, mkt, rule(cond("orders_count", "gte", 1, days=90))) == 2
    assert segments.count(c, mkt, rule(cond("orders_count", "gte", 1, days=500))) == 2
    # at most 400 in 90 days: customers without orders count 0 and belong
    assert segments.count(c, mkt, rule(cond("orders_sum", "lte", 400, days=90))) == 5
    with pytest.raises(ValidationError) as exc:
        segments.count(c, mkt, rule(cond("orders_sum", "gte", 1, days=0)))
    assert exc.value.key == "segment.bad_days"


def test_an_rfm_condition_binds_the_chosen_segments(company, monkeypatch):
    from core.analytics import rfm

    c, mkt, cu = company.con, company.actor("mkt"), company.customers
    seen = {}

    def fake_scores_sql(con, actor, asof, months, method):
        seen.update(asof=asof, months=months, method=method)
        return ("SELECT * FROM (VALUES (?, 'champions'), (?, 'lost'), (?, 'loyal')) v(customer_id, segment)",
                [cu["rep_a"], cu["rep_b"], cu["rep_w"]])

    monkeypatch.setattr(rfm, "scores_sql", fake_scores_sql)
    segments._rfm_cache.clear()
    assert segments.count(c, mkt, rule(cond("rfm_segment", "in", ["champions", "loyal"]))) == 2
    assert seen == {"asof": NOW.date(), "months": 12, "method": "quintile"}
    assert segments.count(c, mkt, rule(cond("rfm_segment", "in", ["lost"], asof="2026-06-30", months=6,
                                            method="quartile"))) == 1
    assert seen == {"asof": dt.date(2026, 6, 30), "months": 6, "method": "quartile"}
    with pytest.raises(ValidationError):
        segments.count(c, mkt, rule(cond("rfm_segment", "in", ["best_friends"])))
    # a snapshot of it is taken inside the unit of work (the scores read from the kept frame)
    sid = segments.save(c, mkt, "Best", rule(cond("rfm_segment", "in", ["champions", "loyal"])), kind="snapshot")
    assert names_of(company, mkt, sid) == ["Customer of rep_a", "Customer of rep_w"]
    dynamic = segments.save(c, mkt, "Best now", rule(cond("rfm_segment", "in", ["champions"])), share="all")
    assert names_of(company, company.actor("mgr"), dynamic) == ["Customer of rep_a"]
    segments._rfm_cache.clear()


def test_and_or_groups_nest(company):
    c, mkt, cu = company.con, company.actor("mkt"), company.customers
    boss = company.actor("boss")
    customers.update_customer(c, boss, cu["rep_a"], {"stage": "won"})
    customers.update_customer(c, boss, cu["rep_w"], {"stage": "won"})
    # won AND (East region OR no province)
    r = rule(cond("stage", "in", ["won"]), rule(cond("region", "in", ["East"]), cond("province", "empty"), op="or"))
    assert segments.count(c, mkt, r) == 1
    # won OR (in the West team AND no province) = rep_a, rep_w, pool_west
    r = rule(cond("stage", "in", ["won"]), rule(cond("team", "in", [company.teams["west"]]), cond("province", "empty")),
             op="or")
    assert segments.count(c, mkt, r) == 3
    assert segments.count(c, mkt, rule(rule(rule(cond("stage", "in", ["won"]))))) == 2
    with pytest.raises(ValidationError) as exc:
        segments.count(c, mkt, rule(rule(rule(rule(cond("stage", "in", ["won"]))))))
    assert exc.value.key == "segment.too_deep"
    with pytest.raises(ValidationError) as exc:
        segments.count(c, mkt, rule(*[cond("province", "contains", "x")] * 21))
    assert exc.value.key == "segment.too_many"


def test_a_custom_field_can_be_a_condition(company):
    c, boss, mkt = company.con, company.actor("boss"), company.actor("mkt")
    name = fields.save_field(c, boss, "customer", None, kind="int", label_en="Seats", label_zh="席位数")
    customers.update_customer(c, boss, company.customers["rep_b"], {name: 40})
    customers.update_customer(c, boss, company.customers["rep_w"], {name: 5})
    assert segments.count(c, mkt, rule(cond(name, "gte", 10))) == 1
    assert segments.count(c, mkt, rule(cond(name, "not_empty"))) == 2
    assert name in [f["name"] for f in segments.rule_fields(c, mkt)]


def test_a_managers_count_covers_only_the_team_tree(company):
    c = company.con
    everyone = rule()
    assert segments.count(c, company.actor("mkt"), everyone) == 6
    assert segments.count(c, company.actor("mgr"), everyone) == 4  # rep_a, rep_b, rep_sh, the East pool
    sid = segments.save(c, company.actor("mkt"), "Shanghai", rule(cond("province", "contains", "上海")), share="all")
    assert names_of(company, company.actor("mgr"), sid) == ["Customer of rep_a", "Customer of rep_b",
                                                            "Customer of rep_sh"]
    assert segments.live_count(c, company.actor("mkt"), sid) == 4


def test_a_snapshot_stays_fixed_while_a_dynamic_segment_follows_the_data(company):
    c, mkt, boss = company.con, company.actor("mkt"), company.actor("boss")
    r = rule(cond("province", "contains", "上海"))
    dynamic = segments.save(c, mkt, "Shanghai now", r)
    snapshot = segments.save(c, mkt, "Shanghai on the day", r, kind="snapshot")
    assert segments.get(c, mkt, snapshot)["snapshot_at"] == NOW
    customers.create_customer(c, boss, {"name": "New in Shanghai", "phone": "13900139000", "province": "上海"},
                              owner_id=None, team_id=company.teams["west"])
    customers.update_customer(c, boss, company.customers["rep_w"], {"province": "北京"})
    assert "New in Shanghai" in names_of(company, mkt, dynamic)
    assert "Customer of rep_w" not in names_of(company, mkt, dynamic)
    assert names_of(company, mkt, snapshot) == ["Customer of rep_a", "Customer of rep_b", "Customer of rep_sh",
                                                "Customer of rep_w"]
    # a snapshot member deleted since is no longer listed
    recycle.delete(c, boss, "customer", [company.customers["rep_a"]])
    assert "Customer of rep_a" not in names_of(company, mkt, snapshot)


def test_a_snapshot_from_drill_down_ids_keeps_only_customers_the_user_may_view(company):
    c, cu = company.con, company.customers
    mgr = company.actor("mgr")
    with pytest.raises(PermissionDenied):  # a manager reads segments, marketing makes them
        segments.from_ids(c, mgr, "Drill", [cu["rep_a"]])
    boss = company.actor("boss")
    sid = segments.from_ids(c, boss, "Drill", [cu["rep_a"], cu["rep_w"], 999_999])
    seg = segments.get(c, boss, sid)
    assert (seg["kind"], seg["source"], seg["last_count"]) == ("snapshot", "drill", 2)
    with pytest.raises(ValidationError):
        segments.from_ids(c, boss, "Drill", "1,2,3")


def test_sharing_decides_who_sees_a_segment(company):
    from core import org

    c, mkt = company.con, company.actor("mkt")
    org.create_user(c, company.actor("boss"), "mkt2", "Mo Marketing", "marketing", "Start#2026",
                    team_id=company.teams["marketing"])
    mine = segments.save(c, mkt, "Private", rule())
    team = segments.save(c, mkt, "For the team", rule(), share="team")
    everyone = segments.save(c, mkt, "For all", rule(), share="all")
    assert sorted(segments.segments(c, company.actor("mgr"))["name"].to_list()) == ["For all"]
    assert sorted(segments.segments(c, company.actor("mkt2"))["name"].to_list()) == ["For all", "For the team"]
    assert segments.segments(c, mkt)["name"].to_list() == ["For all", "For the team", "Private"]
    with pytest.raises(NotFound):
        segments.get(c, company.actor("mgr"), mine)
    with pytest.raises(NotFound):
        segments.members(c, company.actor("mkt2"), mine)
    with pytest.raises(PermissionDenied):  # a rep has no segments
        segments.segments(c, company.actor("rep_a"))
    assert segments.get(c, company.actor("mgr"), everyone)["name"] == "For all"
    # a manager may read a shared segment, not change or delete it
    with pytest.raises(PermissionDenied):
        segments.save(c, company.actor("mgr"), "Mine now", rule(), segment_id=everyone)
    with pytest.raises(PermissionDenied):
        segments.delete(c, company.actor("mgr"), everyone)
    assert team


def test_changing_a_segment_keeps_its_id_and_delete_moves_it_to_the_bin(company):
    c, mkt = company.con, company.actor("mkt")
    sid = segments.save(c, mkt, "West", rule(cond("region", "in", ["West"])))
    assert segments.save(c, mkt, "West and East", rule(cond("region", "in", ["West", "East"])), segment_id=sid) == sid
    assert segments.live_count(c, mkt, sid) == 5
    segments.delete(c, mkt, sid)
    assert segments.segments(c, mkt).is_empty()
    binned = recycle.deleted(c, company.actor("boss"), "segment")
    assert binned["label"].to_list() == ["West and East"]


def _dnc_field(company) -> str:
    c, boss = company.con, company.actor("boss")
    name = fields.save_field(c, boss, "customer", None, kind="bool", label_en="Do not contact", label_zh="勿联系")
    settings.set_value(c, boss, "marketing.do_not_contact_field", name)
    customers.update_customer(c, boss, company.customers["rep_b"], {name: True})
    customers.update_customer(c, boss, company.customers["rep_sh"], {name: False})
    return name


def test_export_writes_a_bom_csv_with_neutralised_cells_and_the_mailing_list_respects_do_not_contact(company):
    c, mkt, boss = company.con, company.actor("mkt"), company.actor("boss")
    _dnc_field(company)
    customers.update_customer(c, boss, company.customers["rep_a"], {"name": "=HYPERLINK(\"http://x\")"})
    sid = segments.save(c, mkt, "Shanghai", rule(cond("province", "contains", "上海")))
    full = segments.export(c, mkt, sid).decode("utf-8")
    assert full.startswith("\ufeffName,")
    assert "'=HYPERLINK" in full and "Customer of rep_b" in full
    mailing = segments.export(c, mkt, sid, mailing=True).decode("utf-8")
    assert "Customer of rep_b" not in mailing and "Customer of rep_sh" in mailing
    assert segments.export(c, mkt, sid, fmt="xlsx")[:2] == b"PK"


def test_export_needs_the_export_permission_and_a_missing_consent_field_is_refused(company):
    c, mkt, boss = company.con, company.actor("mkt"), company.actor("boss")
    sid = segments.save(c, mkt, "All", rule(), share="all")
    assert "Customer of rep_w" not in segments.export(c, company.actor("mgr"), sid).decode("utf-8")  # team tree only
    c.execute("UPDATE permissions SET scope = 'none' WHERE role = 'manager' AND action = 'export' "
              "AND module IN ('customers', 'segments')")
    with pytest.raises(PermissionDenied):
        segments.export(c, company.actor("mgr"), sid)
    settings.set_value(c, boss, "marketing.do_not_contact_field", "no_such_field")
    with pytest.raises(ValidationError) as exc:
        segments.export(c, mkt, sid, mailing=True)
    assert exc.value.key == "segment.dnc_missing"


def test_nothing_the_user_types_becomes_sql(company):
    c, mkt = company.con, company.actor("mkt")
    with pytest.raises(ValidationError) as exc:
        segments.count(c, mkt, rule(cond("name; DROP TABLE customers", "equals", "x")))
    assert exc.value.key == "segment.bad_field"
    assert translate("en", exc.value.key, **exc.value.params) == (
        "“name; DROP TABLE customers” is not a field a rule may use: pick a field from the list.")
    with pytest.raises(ValidationError) as exc:
        segments.count(c, mkt, rule(cond("name", "= '' OR 1=1 --", "x")))
    assert exc.value.key == "segment.bad_condition"
    with pytest.raises(ValidationError):
        segments.save(c, mkt, "Bad", {"op": "and; DELETE FROM segments", "items": []})
    assert segments.count(c, mkt, rule(cond("name", "equals", "x'; DROP TABLE customers; --"))) == 0
    assert segments.count(c, mkt, rule(cond("region", "in", ["East') OR ('1'='1"]))) == 0
    with pytest.raises(ValidationError):
        segments.count(c, mkt, rule(cond("owner", "in", ["1 OR 1=1"])))
    assert db.scalar(c, "SELECT count(*) FROM customers") == 6


def test_adding_a_segment_to_a_campaign_adds_each_customer_once_and_skips_do_not_contact(company):
    c, mkt = company.con, company.actor("mkt")
    _dnc_field(company)
    c.execute("INSERT INTO campaigns (id, name, channel, owner_id, team_id, created_at, updated_at) "
              "VALUES (1, 'Spring mail', 'email', ?, ?, ?, ?)", [company.users["mkt"], company.teams["marketing"],
                                                                    NOW, NOW])
    assert [x["name"] for x in segments.campaigns(c, mkt)] == ["Spring mail"]
    sid = segments.save(c, mkt, "Shanghai", rule(cond("province", "contains", "上海")))
    assert segments.add_to_campaign(c, mkt, sid, 1) == 3          # rep_b asked not to be contacted
    assert segments.add_to_campaign(c, mkt, sid, 1) == 0
    boss = company.actor("boss")
    customers.create_customer(c, boss, {"name": "Later", "phone": "13900139001", "province": "上海"}, owner_id=None,
                              team_id=company.teams["east"])
    assert segments.add_to_campaign(c, mkt, sid, 1) == 1
    assert db.scalar(c, "SELECT count(*) FROM campaign_members WHERE campaign_id = 1") == 4
    assert db.scalar(c, "SELECT count(DISTINCT customer_id) FROM campaign_members WHERE campaign_id = 1") == 4
    with pytest.raises(NotFound):
        segments.add_to_campaign(c, mkt, sid, 2)
    with pytest.raises(PermissionDenied):
        segments.add_to_campaign(c, company.actor("mgr"), sid, 1)


def test_a_field_hidden_in_a_pool_neither_finds_nor_shows_its_pool_customers(company):
    from core import pool_mask

    c, mkt = company.con, company.actor("mkt")
    pool_mask.set_hidden(c, company.actor("boss"), company.teams["east"], ["phone"])
    by_phone = rule(cond("phone", "contains", "1380013"))
    assert segments.count(c, mkt, by_phone) == 5                  # not the East pool's customer
    assert segments.count(c, company.actor("boss"), by_phone) == 6
    sid = segments.save(c, mkt, "All", rule())
    df, _ = segments.members(c, mkt, sid, 0, 50)
    phones = dict(zip(df["name"].to_list(), df["phone"].to_list()))
    assert phones["Pool customer east"] == "138****0004" and phones["Customer of rep_a"] == "13800130000"
    assert "13800130004" not in segments.export(c, mkt, sid).decode("utf-8")
