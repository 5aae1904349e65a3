"""The duplicate guard (查重): one check across leads, owned customers, pool customers, the recycle bin
and contacts; exact phone and e-mail, likely names by characters and pinyin, company names without
legal form and place; per-rule strictness from the admin settings; a rep learns that a match exists
and who holds it, never its fields.

What should match (decided here): 上海星河科技有限公司, 星河科技 and Xinghe Technology Co., Ltd. are one
company (legal form and leading place stripped; 科技 read as "technology"; 星河 read as "xinghe");
星河电子 and 北京星辰科技 are not; 星河科技发展 extends 星河科技 and is similar (89)."""
import pytest

from core import access, auth, contacts, customers, db, dedup, leads, recycle, settings, setup
from core.errors import DuplicateError, PermissionDenied, ValidationError
from core.i18n import translate

XINGHE = "上海星河科技有限公司"


def _new(company, who, values, **kw):
    return customers.create_customer(company.con, company.actor(who), values, **kw)


def _check(company, who, values, entity="search", **kw):
    return dedup.find(company.con, company.actor(who), entity, values, **kw)


def _reasons(match) -> list[str]:
    return [translate("en", key, **params) for key, params in match.reasons]


@pytest.fixture
def xinghe(company):
    """上海星河科技有限公司, held by rep_w (West), with a phone and an e-mail; 张伟, a person, also rep_w's."""
    w = company.actor("rep_w")
    cid = customers.create_customer(company.con, w, {"name": XINGHE, "phone": "13900001111",
                                                     "email": "Info@XingHe.cn"})
    pid = customers.create_customer(company.con, w, {"name": "张伟", "kind": "person", "phone": "13900002222"})
    return cid, pid


# ------------------------------------------------------------------------------------ the rules
def test_a_phone_typed_full_width_by_a_chinese_input_method_finds_its_holder(company, xinghe):
    cid, _ = xinghe
    found = _check(company, "boss", {"phone": "１３９ ００００ １１１１"})
    assert [(m.entity, m.id, m.rules, m.score) for m in found] == [("customer", cid, ("phone",), 100)]
    assert _reasons(found[0]) == ["same phone"]
    with pytest.raises(DuplicateError) as err:  # and a new customer with it is refused, naming the holder
        _new(company, "rep_a", {"name": "Someone else", "phone": "+86 139-0000-1111"})
    assert err.value.key == "phone.held_by" and err.value.params["owner"] == "REP_W"
    assert err.value.matches and err.value.matches[0].id is None


def test_an_email_in_another_case_with_spaces_is_the_same_email(company, xinghe):
    cid, _ = xinghe
    found = _check(company, "boss", {"email": "  INFO@xinghe.CN "})
    assert [(m.id, m.rules) for m in found] == [(cid, ("email",))]
    assert _check(company, "boss", {"email": "info@xinghe.com"}) == []


def test_zhang_wei_and_his_homophone_are_the_same_pinyin_in_any_word_order(company, xinghe):
    _, pid = xinghe
    same = _check(company, "boss", {"name": "张伟"})
    assert [(m.id, m.score) for m in same] == [(pid, 95)] and _reasons(same[0]) == ["same name"]
    for typed, pinyin in (("章伟", "zhang wei"), ("Zhang Wei", "zhang wei"), ("wei ZHANG", "wei zhang"),
                          ("ZhangWei", "zhangwei")):
        found = _check(company, "boss", {"name": typed})
        assert [(m.id, m.score) for m in found] == [(pid, 85)], typed
        assert _reasons(found[0]) == [f"same pinyin ({pinyin})"], typed
    assert _check(company, "boss", {"name": "张为民"}) == []


@pytest.mark.parametrize("typed, score, reason", [
    ("上海星河科技有限公司", 100, "same name"),
    ("星河科技", 95, "same company after stripping 上海, 有限公司"),
    ("星河（上海）科技股份有限公司", 95, "same company after stripping 上海, 有限公司"),
    ("广东省深圳市星河科技有限公司", 95, "same company after stripping 广东省深圳市, 有限公司, 上海"),
    ("Xinghe Technology Co., Ltd.", 90, "same pinyin (xinghe technology)"),
    ("Shanghai Xinghe Tech Co Ltd", 90, "same pinyin (xinghe technology)"),
    ("星禾科技", 90, "same pinyin (xing he technology)"),
    ("星河科技发展有限公司", 89, "similar name 89"),
])
def test_company_names_match_without_legal_form_place_and_language(company, xinghe, typed, score, reason):
    cid, _ = xinghe
    found = _check(company, "boss", {"name": typed, "kind": "company"}, entity="customer")
    assert [(m.id, m.score) for m in found] == [(cid, score)]
    assert _reasons(found[0]) == [reason]


@pytest.mark.parametrize("typed", ["星河电子有限公司", "北京星辰科技有限公司", "上海银河科技有限公司", "星河有限公司"])
def test_other_companies_of_a_similar_brand_do_not_match(company, xinghe, typed):
    assert _check(company, "boss", {"name": typed, "kind": "company"}, entity="customer") == []


def test_the_guard_looks_across_leads_pool_customers_the_recycle_bin_and_contacts(company, xinghe):
    c, boss = company.con, company.actor("boss")
    lead = leads.create_lead(c, company.actor("rep_b"), {"name": "李娜", "company": "杭州云图软件有限公司",
                                                          "phone": "13700001234", "email": "lina@yuntu.cn"})
    pooled = customers.create_customer(c, boss, {"name": "Blue River Trading Ltd.", "email": "ops@blueriver.com"},
                                       owner_id=None, team_id=company.teams["west"])
    binned = customers.create_customer(c, boss, {"name": "王秀英", "kind": "person", "phone": "13600001234"})
    recycle.delete(c, boss, "customer", [binned])
    parent = company.customers["rep_a"]
    contact = contacts.create_contact(c, boss, parent, {"name": "赵敏", "phone": "13500001234",
                                                        "email": "zhao.min@example.cn"})
    dedup.rebuild(c)  # keys of every record (as after an import); services keep them one by one
    rep_sh = company.actor("rep_sh")

    def only(values, entity="search"):
        found = dedup.find(c, rep_sh, entity, values)
        assert len(found) == 1, found
        return found[0]

    m = only({"name": "李娜"})
    assert (m.entity, m.holder, m.owner, m.team, m.rules) == ("lead", "owner", "REP_B", "East", ("name",))
    m = only({"name": "李娜", "company": "云图软件"}, entity="lead")
    assert m.entity == "lead" and m.rules == ("name",) and len(m.reasons) == 2  # the person and the company
    assert only({"email": "LiNa@yuntu.cn"}).entity == "lead"
    m = only({"name": "Blue River Trading Co., Ltd."})
    assert (m.entity, m.holder, m.team, m.owner) == ("customer", "pool", "West", None)
    m = only({"name": "王秀英"})
    assert (m.entity, m.holder, m.owner, m.team) == ("customer", "bin", None, None)
    m = only({"phone": "13500001234"})
    assert (m.entity, m.holder, m.owner, m.visible) == ("contact", "owner", "REP_A", False)
    assert only({"email": "zhao.min@example.cn"}).entity == "contact"
    mine = dedup.find(c, company.actor("rep_a"), "search", {"phone": "13500001234"})  # the contact's customer is rep_a's
    assert (mine[0].visible, mine[0].id, mine[0].customer_id) == (True, contact, parent)


def test_a_converted_lead_and_the_record_being_edited_are_not_duplicates_of_themselves(company, xinghe):
    c = company.con
    cid, pid = xinghe
    assert _check(company, "boss", {"name": XINGHE}, exclude=("customer", cid)) == []
    assert _check(company, "boss", {"name": "张伟", "phone": "13900001111"},
                  exclude=[("customer", cid), ("customer", pid)]) == []
    lead = leads.create_lead(c, company.actor("rep_a"), {"name": "Lucy Liu", "email": "lucy@liu.cn"})
    dedup.rebuild(c)
    assert [m.entity for m in _check(company, "boss", {"email": "lucy@liu.cn"})] == ["lead"]
    c.execute("UPDATE leads SET status = 'converted' WHERE id = ?", [lead])
    assert _check(company, "boss", {"email": "lucy@liu.cn"}) == []  # its customer is the match now
    with pytest.raises(ValidationError):
        _check(company, "boss", {"name": "x"}, exclude=("deal", 1))


def test_a_key_gone_stale_hides_a_match_but_never_invents_one(company, xinghe):
    cid, _ = xinghe
    company.con.execute("UPDATE customers SET name = 'Renamed Behind The Guard', email = NULL WHERE id = ?", [cid])
    assert _check(company, "boss", {"name": "星河科技", "kind": "company"}, entity="customer") == []
    assert _check(company, "boss", {"email": "info@xinghe.cn"}) == []
    assert [m.id for m in _check(company, "boss", {"phone": "13900001111"})] == [cid]  # phone_keys is current


# ------------------------------------------------------------------------------------ strictness
def test_by_default_phone_and_email_block_and_a_similar_name_warns_until_confirmed(company, xinghe):
    c = company.con
    before = db.scalar(c, "SELECT count(*) FROM customers")
    with pytest.raises(DuplicateError) as err:
        _new(company, "rep_a", {"name": "Fresh Name", "email": "info@xinghe.cn"})
    assert err.value.key == "dedup.email.held_by" and not err.value.warn
    with pytest.raises(DuplicateError) as err:
        _new(company, "rep_a", {"name": "星河科技"})
    assert err.value.key == "dedup.name.held_by_warn" and err.value.warn
    assert err.value.params == {"entity": "entity.customer", "owner": "REP_W", "team": "West", "score": 95}
    assert db.scalar(c, "SELECT count(*) FROM customers") == before  # nothing saved
    new = _new(company, "rep_a", {"name": "星河科技"}, confirmed=True)  # "save anyway"
    assert db.scalar(c, "SELECT name FROM customers WHERE id = ?", [new]) == "星河科技"
    assert {m.id for m in _check(company, "boss", {"name": "星河科技"})} == {new, xinghe[0]}


def test_the_admin_sets_each_rule_to_block_warn_or_allow(company, xinghe):
    c, boss = company.con, company.actor("boss")
    settings.set_value(c, boss, "dedup.email", "warn")
    with pytest.raises(DuplicateError) as err:
        _new(company, "rep_a", {"name": "Mail Twin", "email": "info@xinghe.cn"})
    assert err.value.key == "dedup.email.held_by_warn"
    assert _new(company, "rep_a", {"name": "Mail Twin", "email": "info@xinghe.cn"}, confirmed=True)
    settings.set_value(c, boss, "dedup.name", "block")
    with pytest.raises(DuplicateError) as err:
        _new(company, "rep_a", {"name": "星河科技"}, confirmed=True)  # a block is not overridden
    assert err.value.key == "dedup.name.held_by"
    settings.set_value(c, boss, "dedup.name", "allow")
    settings.set_value(c, boss, "dedup.email", "allow")
    allowed = dedup.guard(c, company.actor("rep_a"), "customer", {"name": "星河科技", "email": "info@xinghe.cn"})
    assert allowed and {m.action for m in allowed} == {"allow"}  # saved, and reported
    assert _new(company, "rep_a", {"name": "星河科技", "email": "info@xinghe.cn"})
    settings.set_value(c, boss, "dedup.name", "warn")
    settings.set_value(c, boss, "dedup.name_threshold", 90)  # a homophone (85) no longer counts
    assert _new(company, "rep_a", {"name": "章伟", "kind": "person"})
    assert [m.score for m in _check(company, "boss", {"name": "章伟"})] == [95]  # only the new 章伟 itself


@pytest.mark.parametrize("key, value", [("dedup.phone", "warn"), ("dedup.email", "sometimes"),
                                        ("dedup.name", ""), ("dedup.name_threshold", 101),
                                        ("dedup.name_threshold", 10)])
def test_the_rules_take_only_their_values(company, key, value):
    with pytest.raises(ValidationError):
        settings.set_value(company.con, company.actor("boss"), key, value)


def test_an_edit_is_checked_only_for_what_it_changes(company, xinghe):
    c = company.con
    twin = _new(company, "rep_a", {"name": "星河科技"}, confirmed=True)
    rep_a = company.actor("rep_a")
    seen = customers.get_customer(c, rep_a, twin)
    customers.update_customer(c, rep_a, twin, {"city": "杭州"}, seen=seen)  # not flagged again
    seen = customers.get_customer(c, rep_a, twin)
    with pytest.raises(DuplicateError):
        customers.update_customer(c, rep_a, twin, {"email": "INFO@xinghe.cn"}, seen=seen)
    renamed = customers.update_customer(c, rep_a, twin, {"name": "星河科技发展"}, seen=seen, confirmed=True)
    assert "name" in renamed
    found = _check(company, "boss", {"name": "星河科技发展"})  # its keys followed the new name
    assert [(m.id, m.score) for m in found] == [(twin, 100), (xinghe[0], 89)]


# ------------------------------------------------------------------------------------ what a rep sees
def test_a_rep_learns_a_colleagues_customer_exists_and_who_holds_it_but_not_its_fields(company, xinghe):
    cid, _ = xinghe
    found = _check(company, "rep_a", {"name": "星河科技", "phone": "13900001111", "email": "info@xinghe.cn"})
    assert len(found) == 1
    m = found[0]
    assert (m.visible, m.id, m.name, m.customer_id) == (False, None, None, None)
    assert (m.holder, m.owner, m.team, m.rules) == ("owner", "REP_W", "West", ("phone", "email", "name"))
    shown = " ".join(_reasons(m)) + repr(m.as_dict())
    assert "上海" not in shown and "有限公司" not in shown and "xinghe.cn" not in shown.lower()
    boss = _check(company, "boss", {"name": "星河科技"})[0]  # the admin may open it: id, name, the stripped parts
    assert (boss.visible, boss.id, boss.name) == (True, cid, XINGHE)
    assert _reasons(boss) == ["same company after stripping 上海, 有限公司"]
    with pytest.raises(DuplicateError) as err:
        _new(company, "rep_a", {"name": "Other", "phone": "13900001111"})
    text = translate("zh", err.value.key, owner=err.value.params["owner"], team=err.value.params["team"],
                     entity=translate("zh", err.value.params["entity"]))
    assert "REP_W" in text and "West" in text and "客户" in text and str(cid) not in text


def test_anyone_who_may_view_customers_or_leads_may_check_and_no_one_else(company, xinghe):
    c, boss = company.con, company.actor("boss")
    for who in ("boss", "mgr", "rep_a", "mkt", "svc"):
        assert dedup.can_check(c, company.actor(who))
        assert len(_check(company, who, {"phone": "13900001111"})) == 1
    assert _check(company, "mgr", {"phone": "13900001111"})[0].visible is False  # West is not under East
    access.set_scope(c, boss, "service", "customers", "view", "none")
    assert not dedup.can_check(c, company.actor("svc"))
    with pytest.raises(PermissionDenied):
        _check(company, "svc", {"phone": "13900001111"})


# ------------------------------------------------------------------------------------ keys
def test_rows_older_than_the_guard_get_their_keys_when_the_store_is_opened():
    """A store of the foundation (migrations before 004) with customers, leads and contacts: opening it
    runs migration 004 (e-mail keys in SQL) and the backfill of the name keys (pinyin, in Python)."""
    c = db.connect(":memory:")
    c.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
              "applied_at TIMESTAMP NOT NULL)")
    for file in sorted(db.MIGRATIONS.glob("00[1-3]_*.sql")):
        c.execute(file.read_text(encoding="utf-8"))
        c.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [int(file.name[:3]), file.name])
    c.execute("INSERT INTO customers (id, name, kind, email, created_at, updated_at) VALUES "
              "(1, '深圳市鼎盛物流有限公司', 'company', ' Hi@DingSheng.cn ', now(), now()), "
              "(2, '陈静', 'person', NULL, now(), now())")
    c.execute("INSERT INTO leads (id, name, company, email, created_at, updated_at) VALUES "
              "(1, '刘洋', '宁波海汇贸易有限公司', 'liu@haihui.cn', now(), now())")
    c.execute("INSERT INTO contacts (id, customer_id, name, email, created_at, updated_at) VALUES "
              "(1, 1, '周杰', 'zhou@dingsheng.cn', now(), now())")
    setup.prepare(c)
    c.execute("INSERT INTO users (id, username, name, role, password_hash, created_at, updated_at) "
              "VALUES (1, 'boss', 'Boss', 'admin', 'x', now(), now())")
    boss = auth.actor_for(c, "boss")

    def found(values):
        return [(m.entity, m.id) for m in dedup.find(c, boss, "search", values)]

    assert found({"name": "鼎盛物流"}) == [("customer", 1)]
    assert found({"email": "hi@dingsheng.cn"}) == [("customer", 1)]
    assert found({"name": "Chen Jing"}) == [("customer", 2)]
    assert found({"company": "海汇贸易"}) == [("lead", 1)]
    assert found({"email": "ZHOU@dingsheng.cn"}) == [("contact", 1)]
    assert db.scalar(c, "SELECT count(*) FROM dedup_pending") == 0
    keys = db.scalar(c, "SELECT count(*) FROM dedup_keys")
    setup.prepare(c)  # once only
    assert db.scalar(c, "SELECT count(*) FROM dedup_keys") == keys


def test_the_demo_company_has_the_keys_of_every_record(con):
    from core import demo

    counts = demo.build(con, "XS", seed=7, password_hash="x")
    assert counts["dedup_keys"] == db.scalar(con, "SELECT count(*) FROM dedup_keys") > counts["customers"]
    name, cid = con.execute("SELECT name, id FROM customers WHERE kind = 'company' ORDER BY id LIMIT 1").fetchall()[0]
    admin = auth.actor_for(con, "admin")
    assert cid in [m.id for m in dedup.find(con, admin, "customer", {"name": name, "kind": "company"})]
