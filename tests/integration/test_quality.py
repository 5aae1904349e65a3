"""Issue 11, point 3 (admin): data quality and pool health, on hand-made data with the expected counts
worked out here."""
from __future__ import annotations

import datetime as dt

import pytest

from core import access, dedup, fields, leads
from core.analytics import quality
from core.errors import PermissionDenied
from tests.conftest import NOW


def _sql(company, sql, params=None):
    company.con.execute(sql, params or [])


@pytest.fixture
def messy(company):
    """The six customers of build_company (rep_a, rep_b, rep_sh, rep_w, pool_east, pool_west), two leads,
    and what an import around the services or a careless admin change leaves behind."""
    c, cu, boss = company.con, company.customers, company.actor("boss")
    lead_a = leads.create_lead(c, company.actor("rep_a"), {"name": "Lead A", "phone": "13900139001"})
    lead_pool = leads.create_lead(c, boss, {"name": "Lead in east pool"}, owner_id=None,
                                  team_id=company.teams["east"])
    # invalid phones: two customers and one lead typed a number without its normal form; a blank phone and
    # a deleted customer's bad phone do not count
    _sql(company, "UPDATE customers SET phone = '12345', phone_norm = NULL WHERE id IN (?, ?)",
         [cu["rep_a"], cu["rep_b"]])
    _sql(company, "UPDATE customers SET phone = '   ', phone_norm = NULL WHERE id = ?", [cu["rep_sh"]])
    _sql(company, "UPDATE leads SET phone = '400-800-8888', phone_norm = NULL WHERE id = ?", [lead_a])
    # missing required: industry put in the required tier (only rep_a's and rep_w's customers have one),
    # a required custom field (only rep_w's customer has a value), a customer's name emptied
    fields.save_field(c, boss, "customer", "industry", tier="required")
    tax = company.customers["tax_field"] = fields.save_field(c, boss, "customer", None, kind="text", label_en="Tax id",
                                                             label_zh="税号", tier="required")
    _sql(company, "UPDATE customers SET industry = 'Retail' WHERE id IN (?, ?)", [cu["rep_a"], cu["rep_w"]])
    _sql(company, "UPDATE customers SET custom = json_object(?, '91310000X') WHERE id = ?", [tax, cu["rep_w"]])
    _sql(company, "UPDATE customers SET custom = json_object(?, '  ') WHERE id = ?", [tax, cu["rep_sh"]])
    _sql(company, "UPDATE customers SET name = '' WHERE id = ?", [cu["rep_b"]])
    # duplicates: rep_a's and rep_sh's customers share an e-mail with the lead in the pool (one group of 3);
    # rep_b's and rep_w's customers are the same company written two ways (one group of 2)
    _sql(company, "UPDATE customers SET email = 'buyer@xinghe.cn' WHERE id IN (?, ?)", [cu["rep_a"], cu["rep_sh"]])
    _sql(company, "UPDATE leads SET email = 'Buyer@Xinghe.cn ' WHERE id = ?", [lead_pool])
    _sql(company, "UPDATE customers SET name = '上海星河科技有限公司' WHERE id = ?", [cu["rep_w"]])
    _sql(company, "UPDATE customers SET name = '星河科技' WHERE id = ?", [cu["pool_west"]])
    # without holder: rep_sh's customer lost owner and team; the lead A points at a team that is no more
    _sql(company, "UPDATE customers SET owner_id = NULL, team_id = NULL WHERE id = ?", [cu["rep_sh"]])
    _sql(company, "UPDATE leads SET owner_id = NULL, team_id = 999999 WHERE id = ?", [lead_a])
    # pools: east holds its customer (in the pool for 40 days, never touched) and a lead (created 3 days
    # ago); west holds its customer (last touched 10 days ago)
    _sql(company, "UPDATE customers SET pool_since = ?, last_activity_at = NULL WHERE id = ?",
         [NOW - dt.timedelta(days=40), cu["pool_east"]])
    _sql(company, "UPDATE leads SET created_at = ?, last_activity_at = NULL WHERE id = ?",
         [NOW - dt.timedelta(days=3), lead_pool])
    _sql(company, "UPDATE customers SET pool_since = ?, last_activity_at = ? WHERE id = ?",
         [NOW - dt.timedelta(days=90), NOW - dt.timedelta(days=10), cu["pool_west"]])
    # a deleted customer counts nowhere (its bad phone, its missing fields, its e-mail)
    dead = company.customers["dead"] = 900001
    _sql(company, "INSERT INTO customers (id, name, phone, email, created_at, updated_at, deleted_at) "
         "VALUES (?, '', 'xx', 'buyer@xinghe.cn', ?, ?, ?)", [dead, NOW, NOW, NOW])
    dedup.rebuild(c)
    return company


def test_admin_sees_the_counts(messy):
    q = quality.data_quality(messy.con, messy.actor("boss"))
    assert q["totals"] == {"customer": 6, "lead": 2}
    assert q["invalid_phones"] == {"customer": 2, "lead": 1}
    assert q["invalid_phones_total"] == 3
    missing = {(r["object"], r["field"]): r["missing"] for r in q["missing"].iter_rows(named=True)}
    assert missing[("customer", "industry")] == 4            # 6 customers, 2 with an industry
    assert missing[("customer", messy.customers["tax_field"])] == 5  # only rep_w's (rep_sh's is blank)
    assert missing[("customer", "name")] == 1
    assert missing[("lead", "name")] == 0
    assert ("customer", "phone") not in missing              # not required
    assert q["missing_any"] == {"customer": 5, "lead": 0}    # all but rep_w's customer
    assert q["without_holder"] == {"customer": 1, "lead": 1}
    dups = {r["kind"]: (r["groups"], r["records"]) for r in q["duplicates"].iter_rows(named=True)}
    assert dups["email"] == (1, 3)
    assert dups["company_name"] == (1, 2)
    assert q["duplicate_groups"] == sum(g for g, _ in dups.values())
    pools = {r["team"]: r for r in q["pools"].iter_rows(named=True)}
    assert set(pools) == {"East", "West"}
    assert (pools["East"]["customers"], pools["East"]["leads"]) == (1, 1)
    assert pools["East"]["oldest_days"] == 40 and pools["East"]["stale"] == 1
    assert (pools["West"]["customers"], pools["West"]["leads"]) == (1, 0)
    assert pools["West"]["oldest_days"] == 10 and pools["West"]["stale"] == 0
    assert q["pools"]["team"].to_list()[0] == "East"         # the oldest first


def test_clean_store_counts_nothing(company):
    q = quality.data_quality(company.con, company.actor("boss"))
    assert q["invalid_phones_total"] == q["missing_total"] == q["without_holder_total"] == 0
    assert q["duplicate_groups"] == 0
    assert q["pools"]["customers"].sum() == 2


@pytest.mark.parametrize("who", ["mgr", "rep_a", "mkt", "svc"])
def test_others_are_refused(company, who):
    me = company.actor(who)
    assert not quality.allowed(company.con, me)
    with pytest.raises(PermissionDenied):
        quality.data_quality(company.con, me)


def test_a_role_given_settings_view_may_look(company):
    company.con.execute("UPDATE permissions SET scope = 'all' WHERE role = 'manager' AND module = 'settings' "
                        "AND action = 'view'")
    assert quality.data_quality(company.con, company.actor("mgr"))["totals"]["customer"] == 6
    assert access.can(company.con, company.actor("mgr"), "settings", "view")


@pytest.fixture(scope="module")
def app_db(tmp_path_factory):
    from tests.conftest import company_app

    def prepare(con, company):
        con.execute("UPDATE customers SET phone = '12345', phone_norm = NULL WHERE id = ?",
                    [company.customers["rep_a"]])

    with company_app(tmp_path_factory.mktemp("quality"), prepare) as company:
        yield company


def _dashboard(username, lang=None):
    from tests.conftest import logged_in

    at = logged_in(username, lang).run()
    at.switch_page("views/dashboard.py").run()
    assert not at.exception, at.exception
    return at


def test_the_admins_dashboard_has_the_data_quality_section(app_db):
    at = _dashboard("boss")
    assert "Invalid phones" not in [m.label for m in at.metric]      # checked on demand only
    at.toggle(key="dash_dq").set_value(True).run()
    cards = {m.label: m.value for m in at.metric}
    assert cards["Invalid phones"] == "1"
    assert cards["No owner, no pool"] == "0"
    assert "Data quality" in [h.value for h in at.subheader]
    zh = _dashboard("boss", "zh")
    zh.toggle(key="dash_dq").set_value(True).run()
    assert {m.label: m.value for m in zh.metric}["无效电话"] == "1"
    assert "数据质量" in [h.value for h in zh.subheader]


def test_a_managers_dashboard_has_none(app_db):
    at = _dashboard("mgr")
    assert "Data quality" not in [h.value for h in at.subheader]
    assert "Invalid phones" not in [m.label for m in at.metric]
