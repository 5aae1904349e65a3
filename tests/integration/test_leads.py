"""Leads (线索): kept apart from customers, one phone key across both, filters (custom fields included),
disqualify with a reason, conversion that carries every follow-up to the new customer."""
import datetime as dt

import pytest

from core import customers, fields, leads
from core.errors import Conflict, DuplicateError, NotFound, PermissionDenied, ValidationError


def test_a_lead_is_not_a_customer_but_shares_the_phone_key(company):
    c, rep = company.con, company.actor("rep_a")
    lead = leads.create_lead(c, rep, {"name": "王建国", "company": "上海星河科技有限公司", "phone": "１３９ １２３４ ５６７８"})
    assert leads.get_lead(c, rep, lead)["phone"] == "139 1234 5678"
    assert "王建国" not in customers.list_customers(c, rep)[0]["name"].to_list()
    with pytest.raises(DuplicateError) as err:  # another rep cannot enter the same person as a customer
        customers.create_customer(c, company.actor("rep_w"), {"name": "星河", "phone": "+86 13912345678"})
    assert err.value.params["entity"] == "entity.lead" and err.value.params["owner"] == "REP_A"
    with pytest.raises(DuplicateError):  # nor as a lead (撞单)
        leads.create_lead(c, company.actor("rep_w"), {"name": "Wang", "phone": "13912345678"})


def test_a_rep_sees_own_and_pool_leads_only(company):
    c = company.con
    mine = leads.create_lead(c, company.actor("rep_a"), {"name": "Mine"})
    pool = leads.create_lead(c, company.actor("rep_a"), {"name": "Pool"}, owner_id=None)
    other = leads.create_lead(c, company.actor("rep_w"), {"name": "Other"})
    ids = set(leads.list_leads(c, company.actor("rep_b"))[0]["id"].to_list())
    assert ids == {pool}
    assert set(leads.list_leads(c, company.actor("mgr"))[0]["id"].to_list()) == {mine, pool}
    with pytest.raises(NotFound):
        leads.get_lead(c, company.actor("rep_a"), other)


def test_filters_reach_custom_fields(company):
    c, boss = company.con, company.actor("boss")
    fields.save_field(c, boss, "lead", None, kind="choice", label_en="Budget band", label_zh="预算区间",
                      options=[("low", "Low", "低"), ("high", "High", "高")])
    fields.save_field(c, boss, "lead", None, kind="number", label_en="Head count", label_zh="人数")
    rep = company.actor("rep_a")
    a = leads.create_lead(c, rep, {"name": "A", "cf_budget_band": "high", "cf_head_count": 120})
    leads.create_lead(c, rep, {"name": "B", "cf_budget_band": "low", "cf_head_count": 8})
    found = leads.list_leads(c, rep, {"conditions": [{"field": "cf_budget_band", "op": "in", "value": ["high"]},
                                                     {"field": "cf_head_count", "op": "gte", "value": 100}]})[0]
    assert found["id"].to_list() == [a]
    assert leads.get_lead(c, rep, a)["cf_budget_band"] == "high"
    with pytest.raises(ValidationError):  # not one of the options
        leads.create_lead(c, rep, {"name": "C", "cf_budget_band": "huge"})
    with pytest.raises(ValidationError):  # a field that does not exist cannot be filtered on
        leads.list_leads(c, rep, {"conditions": [{"field": "nope; DROP", "op": "equals", "value": "x"}]})


def test_a_field_hidden_from_a_role_is_neither_shown_nor_written_by_it(company):
    c, boss = company.con, company.actor("boss")
    fields.save_field(c, boss, "lead", None, kind="text", label_en="Internal note", label_zh="内部备注",
                      view_roles=["admin", "manager"], edit_roles=["admin"])
    lead = leads.create_lead(c, boss, {"name": "Secret", "cf_internal_note": "VIP"}, owner_id=company.users["rep_a"])
    assert "cf_internal_note" not in leads.get_lead(c, company.actor("rep_a"), lead)
    assert leads.get_lead(c, company.actor("mgr"), lead)["cf_internal_note"] == "VIP"
    with pytest.raises(PermissionDenied):
        leads.update_lead(c, company.actor("mgr"), lead, {"cf_internal_note": "changed"})
    with pytest.raises(ValidationError):  # filtering on it is refused for a role that may not see it
        leads.list_leads(c, company.actor("rep_a"), {"conditions": [
            {"field": "cf_internal_note", "op": "contains", "value": "V"}]})


def test_disqualify_needs_a_reason_and_closes_the_lead(company):
    c, rep = company.con, company.actor("rep_a")
    lead = leads.create_lead(c, rep, {"name": "Tire kicker"})
    with pytest.raises(ValidationError):
        leads.disqualify_lead(c, rep, lead, None)
    leads.disqualify_lead(c, rep, lead, "no_budget", "said so on the phone")
    row = leads.get_lead(c, rep, lead)
    assert (row["status"], row["disqualify_reason"]) == ("invalid", "no_budget")
    with pytest.raises(ValidationError):
        leads.update_lead(c, rep, lead, {"name": "x"})
    leads.reopen_lead(c, rep, lead)
    assert leads.get_lead(c, rep, lead)["status"] == "contacted"


def test_conversion_makes_a_customer_with_contact_and_deal_and_carries_the_follow_ups(company):
    c, rep = company.con, company.actor("rep_a")
    lead = leads.create_lead(c, rep, {"name": "王建国", "company": "星河科技", "title": "销售总监",
                                      "phone": "13912345678", "email": "wang@xinghe.cn", "source": "event"})
    when = dt.datetime(2026, 11, 20, 3, 0)
    c.execute("INSERT INTO activities (id, lead_id, user_id, team_id, kind, subject, occurred_at, created_at) "
              "VALUES (nextval('seq_activities'), ?, ?, ?, 'call', 'first call', ?, ?)",
              [lead, rep.id, rep.team_id, when, when])
    c.execute("UPDATE leads SET last_activity_at = ? WHERE id = ?", [when, lead])
    out = leads.convert_lead(c, rep, lead, deal={"name": "星河 CRM", "amount": 50000})
    customer = customers.get_customer(c, rep, out["customer_id"])
    assert (customer["name"], customer["kind"], customer["phone_norm"], customer["owner_id"]) == (
        "星河科技", "company", "+8613912345678", rep.id)
    assert customer["last_activity_at"] == when
    assert c.execute("SELECT entity, entity_id FROM phone_keys WHERE phone_norm = '+8613912345678'").fetchall() == [
        ("customer", out["customer_id"])]
    assert c.execute("SELECT customer_id, contact_id FROM activities WHERE lead_id = ?", [lead]).fetchall() == [
        (out["customer_id"], out["contact_id"])]
    assert c.execute("SELECT name, title, is_primary FROM contacts WHERE id = ?", [out["contact_id"]]).fetchall() == [
        ("王建国", "销售总监", True)]
    deal = c.execute("SELECT customer_id, stage, amount FROM deals WHERE id = ?", [out["deal_id"]]).fetchall()[0]
    assert deal[0] == out["customer_id"] and deal[1] == "prospecting" and float(deal[2]) == 50000
    assert c.execute("SELECT count(*) FROM deal_stage_history WHERE deal_id = ?", [out["deal_id"]]).fetchall() == [(1,)]
    assert leads.get_lead(c, rep, lead)["status"] == "converted"
    with pytest.raises(ValidationError):
        leads.convert_lead(c, rep, lead)


def test_a_failed_conversion_leaves_lead_and_keys_as_they_were(company):
    c, rep = company.con, company.actor("rep_a")
    lead = leads.create_lead(c, rep, {"name": "Half", "phone": "13912340000"})
    with pytest.raises(ValidationError):
        leads.convert_lead(c, rep, lead, customer_values={"stage": "nonsense"})
    assert leads.get_lead(c, rep, lead)["status"] == "new"
    assert c.execute("SELECT entity, entity_id FROM phone_keys WHERE phone_norm = '+8613912340000'").fetchall() == [
        ("lead", lead)]


def test_a_stale_lead_form_is_refused(company):
    c, rep = company.con, company.actor("rep_a")
    lead = leads.create_lead(c, rep, {"name": "Form"})
    seen = leads.get_lead(c, rep, lead)
    leads.update_lead(c, company.actor("mgr"), lead, {"city": "杭州"})
    with pytest.raises(Conflict):
        leads.update_lead(c, rep, lead, {"title": "CEO"}, seen=seen)
