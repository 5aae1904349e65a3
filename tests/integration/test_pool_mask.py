"""Pool fields hidden until claimed (issue 10, point 1): masked in core on every path — the customers list,
the record page, the CSV export, the search box, the duplicate messages — for everyone but the admins and
the pool's own admins; a hidden phone or e-mail never finds a pool record; claiming shows everything.
Pool members and the new-hire pool: Actor.pools widens a rep's pooled scope."""
import pytest

from core import customers, dedup, export, org, pool_mask, search
from core.errors import PermissionDenied, ValidationError
from core.i18n import translate

POOL_PHONE = "13800130004"        # build_company: the East pool customer's phone
MASKED = "138****0004"
POOL_MAIL = "secret@pool.example"


@pytest.fixture
def hidden(company):
    """East's pool hides phone and e-mail; its pool customer has an e-mail."""
    c, boss = company.con, company.actor("boss")
    customers.update_customer(c, boss, company.customers["pool_east"], {"email": POOL_MAIL})
    pool_mask.set_hidden(c, boss, company.teams["east"], ["phone", "email"])
    return company


def _row(frame, cid):
    found = frame.filter(frame["id"] == cid)
    assert found.height == 1
    return found.row(0, named=True)


def test_the_list_masks_hidden_fields_of_pool_records_only(hidden):
    c, rep = hidden.con, hidden.actor("rep_a")
    df, _ = customers.list_customers(c, rep)
    pooled = _row(df, hidden.customers["pool_east"])
    assert pooled["phone"] == MASKED and pooled["email"] == "****"
    own = _row(df, hidden.customers["rep_a"])
    assert own["phone"] == "13800130000"  # the rep's own customer is not in a pool


def test_the_record_page_masks_them_and_a_hidden_field_cannot_be_overwritten(hidden):
    c, rep = hidden.con, hidden.actor("rep_a")
    cid = hidden.customers["pool_east"]
    rec = customers.get_customer(c, rep, cid)
    assert rec["phone"] == MASKED and rec["email"] == "****"
    assert POOL_PHONE not in str(rec) and POOL_MAIL not in str(rec)
    with pytest.raises(ValidationError) as err:
        customers.update_customer(c, rep, cid, {"phone": "13900000000"}, seen=rec)
    assert err.value.key == "pool.field_hidden"
    assert "hidden" in translate("en", err.value.key, field="Phone")
    # other fields of the pool record can still be edited from the masked form
    customers.update_customer(c, rep, cid, {"province": "江苏"}, seen=rec)
    assert customers.get_customer(c, hidden.actor("boss"), cid)["phone"] == POOL_PHONE


def test_the_csv_export_never_holds_the_hidden_values(hidden):
    c, mkt = hidden.con, hidden.actor("mkt")   # marketing may export every customer
    frame, _ = export.all_rows(customers.list_customers, c, mkt)
    data = export.to_csv(c, mkt, "customers", frame, {"name": "customer.name", "phone": "customer.phone",
                                                        "email": "customer.email"}).decode("utf-8-sig")
    assert MASKED in data and POOL_PHONE not in data and POOL_MAIL not in data
    assert "13800130000" in data  # owned records are exported as they are


@pytest.mark.parametrize("mode", ["keys", "keys, many ids", "scan"])
def test_a_hidden_phone_or_email_never_finds_the_pool_record(hidden, monkeypatch, mode):
    c, rep = hidden.con, hidden.actor("rep_a")
    if mode == "scan":
        monkeypatch.setattr(search, "covers", lambda con: False)
    elif mode == "keys, many ids":  # more ids than a list holds: the guard inside the lookup
        monkeypatch.setattr(search, "GUARD_IDS", 0)
    pooled = hidden.customers["pool_east"]
    for q in (POOL_PHONE, "0130004", POOL_MAIL, "secret@pool"):
        df, total = customers.list_customers(c, rep, {"q": q})
        assert pooled not in df["id"].to_list() and total == 0, q
    # by its name it is found (the name is not hidden); an own customer by its phone as ever
    assert pooled in customers.list_customers(c, rep, {"q": "Pool customer east"})[0]["id"].to_list()
    assert customers.list_customers(c, rep, {"q": "13800130000"})[0]["id"].to_list() == [hidden.customers["rep_a"]]
    # the admin finds it by its phone
    assert customers.list_customers(c, hidden.actor("boss"), {"q": POOL_PHONE})[0]["id"].to_list() == [pooled]


def test_a_duplicate_found_by_a_hidden_field_is_named_only_by_its_pool(hidden):
    c = hidden.con
    found = dedup.find(c, hidden.actor("rep_a"), "search", {"phone": POOL_PHONE})
    assert len(found) == 1 and found[0].holder == "pool" and found[0].team == "East"
    assert not found[0].visible and found[0].id is None and found[0].name is None
    with pytest.raises(Exception) as err:
        customers.create_customer(c, hidden.actor("rep_a"), {"name": "Someone", "phone": POOL_PHONE})
    assert err.value.key == "phone.held_in_pool" and POOL_PHONE not in str(err.value.params)
    # the admin is told which record it is
    seen = dedup.find(c, hidden.actor("boss"), "search", {"phone": POOL_PHONE})
    assert seen[0].visible and seen[0].id == hidden.customers["pool_east"]


def test_without_hidden_fields_nothing_is_masked(company):
    c, rep = company.con, company.actor("rep_a")
    assert customers.get_customer(c, rep, company.customers["pool_east"])["phone"] == POOL_PHONE
    assert dedup.find(c, rep, "search", {"phone": POOL_PHONE})[0].visible


def test_admins_and_the_pools_own_admins_see_the_hidden_fields(hidden):
    c, boss = hidden.con, hidden.actor("boss")
    cid = hidden.customers["pool_east"]
    assert customers.get_customer(c, boss, cid)["phone"] == POOL_PHONE
    assert _row(customers.list_customers(c, boss)[0], cid)["phone"] == POOL_PHONE
    # the manager of the team is not a pool admin: masked
    assert customers.get_customer(c, hidden.actor("mgr"), cid)["phone"] == MASKED
    pool_mask.set_member(c, boss, hidden.teams["east"], hidden.users["rep_b"], "admin")
    rep_b = hidden.actor("rep_b")
    assert customers.get_customer(c, rep_b, cid)["phone"] == POOL_PHONE
    assert cid in customers.list_customers(c, rep_b, {"q": POOL_PHONE})[0]["id"].to_list()
    assert customers.get_customer(c, hidden.actor("rep_a"), cid)["phone"] == MASKED


def test_claiming_the_record_shows_every_field(hidden):
    c, rep = hidden.con, hidden.actor("rep_a")
    cid = hidden.customers["pool_east"]
    customers.bulk_reassign(c, hidden.actor("mgr"), [cid], hidden.users["rep_a"])
    rec = customers.get_customer(c, rep, cid)
    assert rec["phone"] == POOL_PHONE and rec["email"] == POOL_MAIL
    assert customers.list_customers(c, rep, {"q": POOL_PHONE})[0]["id"].to_list() == [cid]


def test_only_admins_choose_hidden_fields_and_only_maskable_ones(hidden):
    c = hidden.con
    with pytest.raises(PermissionDenied):
        pool_mask.set_hidden(c, hidden.actor("mgr"), hidden.teams["east"], ["phone"])
    with pytest.raises(ValidationError):
        pool_mask.set_hidden(c, hidden.actor("boss"), hidden.teams["east"], ["name"])
    pool_mask.set_hidden(c, hidden.actor("boss"), hidden.teams["east"], [])
    assert customers.get_customer(c, hidden.actor("rep_a"), hidden.customers["pool_east"])["phone"] == POOL_PHONE


def test_mask_sql_gives_the_same_masks_in_sql(hidden):
    c, rep = hidden.con, hidden.actor("rep_a")
    expr, params = pool_mask.mask_sql(c, rep, "x", "phone")
    rows = dict(c.execute(f"SELECT x.id, {expr} FROM customers x", params).fetchall())
    assert rows[hidden.customers["pool_east"]] == MASKED and rows[hidden.customers["pool_west"]] == "13800130005"
    assert pool_mask.mask_value("phone", "+86 138-0013-0004") == MASKED


# --------------------------------------------------------------------------------- members, new hires
def test_a_pool_member_of_another_team_sees_and_releases_to_that_pool(company):
    c, boss = company.con, company.actor("boss")
    west_pool = company.customers["pool_west"]
    assert west_pool not in customers.list_customers(c, company.actor("rep_a"))[0]["id"].to_list()
    pool_mask.set_member(c, boss, company.teams["west"], company.users["rep_a"], "member")
    assert pool_mask.members(c, company.teams["west"])["username"].to_list() == ["rep_a"]
    rep = company.actor("rep_a")
    assert company.teams["west"] in rep.pools
    assert west_pool in customers.list_customers(c, rep)[0]["id"].to_list()
    assert customers.get_customer(c, rep, west_pool)["name"] == "Pool customer west"
    # a new customer of the rep may go straight to that pool
    cid = customers.create_customer(c, rep, {"name": "For the west pool"}, owner_id=None, team_id=company.teams["west"])
    assert cid in customers.list_customers(c, company.actor("rep_w"))[0]["id"].to_list()
    # off the pool: gone from the rep's view
    pool_mask.set_member(c, boss, company.teams["west"], company.users["rep_a"], None)
    assert west_pool not in customers.list_customers(c, company.actor("rep_a"))[0]["id"].to_list()


def test_a_new_hire_sees_the_new_hire_pool_and_others_do_not(company):
    c, boss = company.con, company.actor("boss")
    newbies = org.create_team(c, boss, "New hires", company.teams["sales"], is_new_hire_pool=True)
    cid = customers.create_customer(c, boss, {"name": "Starter lead"}, owner_id=None, team_id=newbies)
    org.create_user(c, boss, "rookie", "Rookie", "sales", "Start#2026", team_id=company.teams["east"],
                    is_new_hire=True)
    rookie = company.actor("rookie")
    assert rookie.pools == (newbies,)
    assert cid in customers.list_customers(c, rookie)[0]["id"].to_list()
    assert cid not in customers.list_customers(c, company.actor("rep_a"))[0]["id"].to_list()


def test_the_record_pages_history_masks_changes_of_hidden_fields(hidden):
    from core import timeline

    c, boss = hidden.con, hidden.actor("boss")
    cid = hidden.customers["pool_east"]
    customers.update_customer(c, boss, cid, {"phone": "13911112222"})
    shown = timeline.customer_timeline(c, hidden.actor("rep_a"), cid)
    changes = shown.filter(shown["field"].is_in(["phone", "email"]))
    assert changes.height >= 2
    text = str(changes.select("old_value", "new_value").to_dicts())
    assert "13911112222" not in text and POOL_PHONE not in text and POOL_MAIL not in text
    assert "139****2222" in text
    full = timeline.customer_timeline(c, boss, cid)
    assert "13911112222" in str(full.select("new_value").to_dicts())


def test_a_record_whose_fields_are_hidden_cannot_be_merged_by_who_cannot_see_them(hidden):
    from core import merge

    c = hidden.con
    with pytest.raises(ValidationError) as err:
        merge.preview(c, hidden.actor("mgr"), hidden.customers["rep_a"], hidden.customers["pool_east"])
    assert err.value.key == "merge.pool_hidden"
    # the admin sees the values and merges; the merged-away record's phone key is released
    merge.merge(hidden.con, hidden.actor("boss"), hidden.customers["rep_a"], hidden.customers["pool_east"], {})
    assert not c.execute("SELECT count(*) FROM phone_keys WHERE phone_norm LIKE '%13800130004'").fetchone()[0]


def test_the_contacts_of_a_pool_record_show_no_hidden_phone_or_email(hidden):
    from core import contacts

    c, boss = hidden.con, hidden.actor("boss")
    cid = hidden.customers["pool_east"]
    contacts.create_contact(c, boss, cid, {"name": "Li Lei", "phone": "13700001111", "email": "li@pool.example"})
    shown = contacts.list_contacts(c, hidden.actor("rep_a"), cid).row(0, named=True)
    assert shown["phone"] == "137****1111" and shown["email"] == "****"
    assert contacts.list_contacts(c, boss, cid).row(0, named=True)["phone"] == "13700001111"
