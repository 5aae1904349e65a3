"""Merge (合并): every record hanging off the loser moves to the survivor and none is lost, the chosen
values are written, the loser sits in the recycle bin pointing at the survivor, phone keys stay
consistent, and an undo puts everything back exactly; only managers and admins within their scope
merge, and a preview gone stale is a Conflict."""
import datetime as dt

import pytest

from core import customers, db, merge, org, recycle
from core.errors import Conflict, DuplicateError, NotFound, PermissionDenied, ValidationError
from tests.conftest import NOW, PASSWORD

T0 = dt.datetime(2026, 10, 1, 8, 0)
# table -> column pointing at the customer (what a merge must move)
RELATED = {"activities": "customer_id", "deals": "customer_id", "orders": "customer_id", "payments": "customer_id",
           "payment_plans": "customer_id", "handoffs": "customer_id",
           "tickets": "customer_id", "contacts": "customer_id", "feedback": "customer_id", "tasks": "customer_id",
           "leads": "converted_customer_id", "campaign_members": "customer_id"}
_next = iter(range(10_000, 99_999))


def relate(c, cid: int, n: int = 2) -> None:
    """n rows of every kind hanging off customer `cid` (one of them in the recycle bin), by plain INSERTs."""
    for i in range(n):
        gone = T0 if i == 0 else None  # a binned follow-up moves too: restored later, it is the survivor's
        c.execute("INSERT INTO activities (id, customer_id, kind, subject, occurred_at, created_at, deleted_at) "
                  "VALUES (?, ?, 'call', 'c', ?, ?, ?)", [next(_next), cid, T0, T0, gone])
        c.execute("INSERT INTO deals (id, name, customer_id, stage, created_at, updated_at) "
                  "VALUES (?, 'd', ?, 'proposal', ?, ?)", [next(_next), cid, T0, T0])
        c.execute("INSERT INTO orders (id, customer_id, ordered_at, amount, created_at) VALUES (?, ?, ?, 10, ?)",
                  [next(_next), cid, T0, T0])
        c.execute("INSERT INTO payments (id, customer_id, amount, paid_at, created_at) VALUES (?, ?, 10, ?, ?)",
                  [next(_next), cid, T0, T0])
        c.execute("INSERT INTO payment_plans (id, order_id, customer_id, due_on, amount, created_at) "
                  "VALUES (?, 1, ?, ?, 10, ?)", [next(_next), cid, T0.date(), T0])
        c.execute("INSERT INTO handoffs (id, customer_id, status, created_at, updated_at) VALUES (?, ?, 'approved', ?, ?)",
                  [next(_next), cid, T0, T0])
        c.execute("INSERT INTO tickets (id, customer_id, subject, opened_at, created_at, updated_at) "
                  "VALUES (?, ?, 't', ?, ?, ?)", [next(_next), cid, T0, T0, T0])
        c.execute("INSERT INTO contacts (id, customer_id, name, owner_id, team_id, created_at, updated_at) "
                  "SELECT ?, id, 'p', owner_id, team_id, ?, ? FROM customers WHERE id = ?",  # a contact copies its
                  [next(_next), T0, T0, cid])                                                # customer's holder
        c.execute("INSERT INTO feedback (id, customer_id, kind, created_at) VALUES (?, ?, 'nps', ?)",
                  [next(_next), cid, T0])
        c.execute("INSERT INTO tasks (id, title, customer_id, created_at) VALUES (?, 'x', ?, ?)",
                  [next(_next), cid, T0])
        c.execute("INSERT INTO leads (id, name, converted_customer_id, status, created_at, updated_at) "
                  "VALUES (?, 'l', ?, 'converted', ?, ?)", [next(_next), cid, T0, T0])


def join_campaign(c, campaign_id: int, cid: int, sent=None, opened=None, revenue=None) -> None:
    c.execute("INSERT INTO campaign_members (campaign_id, customer_id, added_at, sent_at, opened_at, revenue) "
              "VALUES (?, ?, ?, ?, ?, ?)", [campaign_id, cid, T0, sent, opened, revenue])


def held(c, cid: int) -> dict[str, int]:
    return {t: db.scalar(c, f"SELECT count(*) FROM {t} WHERE {col} = ?", [cid]) for t, col in RELATED.items()}


def totals(c) -> dict[str, int]:
    return {t: db.scalar(c, f"SELECT count(*) FROM {t}") for t in RELATED}


def snapshot(c) -> dict:
    """Every row of every related table and of the customers (versions aside), to compare exactly."""
    out = {t: sorted(map(repr, c.execute(f"SELECT * FROM {t}").fetchall())) for t in RELATED}
    out["customers"] = sorted(map(repr, c.execute(
        "SELECT * EXCLUDE (updated_at) FROM customers").fetchall()))
    out["phone_keys"] = sorted(c.execute("SELECT * FROM phone_keys").fetchall())
    return out


@pytest.fixture
def pair(company):
    """Two East customers (rep_a's survivor, rep_b's loser) with related records of every kind, and two
    campaigns: one only the loser joined, one both joined."""
    c = company.con
    s, loser = company.customers["rep_a"], company.customers["rep_b"]
    relate(c, s, 1)
    relate(c, loser, 3)
    join_campaign(c, 1, loser, sent=T0)
    join_campaign(c, 2, s, sent=T0 + dt.timedelta(days=2), revenue=5)
    join_campaign(c, 2, loser, sent=T0 + dt.timedelta(days=1), opened=T0 + dt.timedelta(days=3), revenue=7)
    boss = company.actor("boss")
    customers.update_customer(c, boss, loser, {"city": "Hangzhou", "industry": "Textiles", "province": "浙江"})
    c.execute("UPDATE customers SET last_activity_at = ? WHERE id = ?", [T0 + dt.timedelta(days=5), loser])
    return s, loser


def test_merge_moves_every_kind_of_related_record_and_loses_none(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, loser = pair
    before_s, before_l, before_total = held(c, s), held(c, loser), totals(c)
    shown = merge.preview(c, mgr, s, loser)
    assert shown["counts"]["activities"] == 3 and shown["counts"]["leads"] == 3 and shown["counts"]["payments"] == 3
    assert shown["counts"]["campaigns"] == 1 and shown["counts"]["campaigns_merged"] == 1
    merge.merge(c, mgr, s, loser, {}, seen=shown)
    after_s, after_l = held(c, s), held(c, loser)
    assert after_l == {t: 0 for t in RELATED}
    for table in RELATED:
        if table == "campaign_members":  # the shared campaign is one membership, not two
            assert after_s[table] == 2 and totals(c)[table] == before_total[table] - 1
        else:
            assert after_s[table] == before_s[table] + before_l[table], table
            assert totals(c)[table] == before_total[table], table


def test_the_chosen_values_are_written_to_the_survivor_and_audited(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, loser = pair
    shown = merge.preview(c, mgr, s, loser)
    assert {"name", "city", "industry", "phone"} <= set(shown["differ"])
    assert next(f for f in shown["fields"] if f["name"] == "city")["default"] == "loser"  # survivor's is empty
    merge.merge(c, mgr, s, loser, {"city": "loser", "name": "loser", "industry": "survivor"}, seen=shown)
    got = db.one(c, "SELECT name, city, industry, last_activity_at FROM customers WHERE id = ?", [s])
    assert got == {"name": "Customer of rep_b", "city": "Hangzhou", "industry": None,
                   "last_activity_at": T0 + dt.timedelta(days=5)}
    changed = {r[0] for r in c.execute("SELECT field FROM audit_log WHERE action = 'update' AND entity_id = ? "
                                       "AND logged_at = ?", [s, NOW]).fetchall()}
    assert changed == {"name", "city"}
    entry = db.one(c, "SELECT entity_id, user_id FROM audit_log WHERE action = 'merge'")
    assert entry == {"entity_id": s, "user_id": company.users["mgr"]}


def test_the_loser_goes_to_the_bin_pointing_at_the_survivor(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, loser = pair
    merge.merge(c, mgr, s, loser)
    got = db.one(c, "SELECT deleted_at, deleted_by, merged_into_id FROM customers WHERE id = ?", [loser])
    assert got == {"deleted_at": NOW, "deleted_by": company.users["mgr"], "merged_into_id": s}
    assert loser in recycle.deleted(c, company.actor("boss"), "customer")["id"].to_list()
    with pytest.raises(NotFound):
        customers.get_customer(c, mgr, loser)


def test_phone_keys_follow_the_numbers_after_a_merge_and_after_its_undo(company, pair):
    c, mgr, boss = company.con, company.actor("mgr"), company.actor("boss")
    s, loser = pair
    s_phone, l_phone = (db.scalar(c, "SELECT phone_norm FROM customers WHERE id = ?", [i]) for i in (s, loser))
    merge_id = merge.merge(c, mgr, s, loser, {"phone": "loser"})
    keys = dict((p, (e, i)) for p, e, i in c.execute("SELECT * FROM phone_keys").fetchall())
    assert keys[l_phone] == ("customer", s) and s_phone not in keys  # the survivor took the loser's number
    assert db.scalar(c, "SELECT phone_norm FROM customers WHERE id = ?", [s]) == l_phone
    merge.undo_merge(c, mgr, merge_id)
    keys = dict((p, (e, i)) for p, e, i in c.execute("SELECT * FROM phone_keys").fetchall())
    assert keys[s_phone] == ("customer", s) and keys[l_phone] == ("customer", loser)
    # keeping the survivor's number frees the loser's: a new customer may have it
    merge_id = merge.merge(c, mgr, s, loser, {"phone": "survivor"})
    number = db.scalar(c, "SELECT phone FROM customers WHERE id = ?", [loser])
    assert db.scalar(c, "SELECT count(*) FROM phone_keys WHERE phone_norm = ?", [l_phone]) == 0
    taken = customers.create_customer(c, boss, {"name": "Took the number", "phone": number})
    with pytest.raises(DuplicateError):  # so the undo cannot give it back, and changes nothing
        merge.undo_merge(c, mgr, merge_id)
    assert db.scalar(c, "SELECT deleted_at IS NOT NULL FROM customers WHERE id = ?", [loser])
    customers.update_customer(c, boss, taken, {"phone": "13900001111"})  # the number is free again
    merge.undo_merge(c, mgr, merge_id)
    assert db.scalar(c, "SELECT entity_id FROM phone_keys WHERE phone_norm = ?", [l_phone]) == loser


def test_undo_puts_everything_back_exactly(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, loser = pair
    before = snapshot(c)
    merge_id = merge.merge(c, mgr, s, loser, {"name": "loser", "city": "loser", "phone": "loser", "province": "loser"},
                           seen=merge.preview(c, mgr, s, loser))
    assert snapshot(c) != before
    back = merge.undo_merge(c, mgr, merge_id)
    assert back["activities"] == 3 and back["campaigns"] == 1 and back["campaigns_merged"] == 1
    assert snapshot(c) == before
    with pytest.raises(ValidationError) as done:  # not twice
        merge.undo_merge(c, mgr, merge_id)
    assert done.value.key == "merge.undo_done"


def test_a_shared_campaign_becomes_one_membership_with_the_earliest_touches_and_both_revenues(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, loser = pair
    merge.merge(c, mgr, s, loser)
    rows = db.rows(c, "SELECT sent_at, opened_at, revenue FROM campaign_members WHERE campaign_id = 2")
    assert rows == [{"sent_at": T0 + dt.timedelta(days=1), "opened_at": T0 + dt.timedelta(days=3), "revenue": 12}]


def test_a_later_edit_of_the_survivor_survives_the_undo(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, loser = pair
    merge_id = merge.merge(c, mgr, s, loser, {"name": "loser", "city": "loser"})
    customers.update_customer(c, company.actor("rep_a"), s, {"city": "Suzhou"})
    merge.undo_merge(c, mgr, merge_id)
    assert db.one(c, "SELECT name, city FROM customers WHERE id = ?", [s]) == {"name": "Customer of rep_a",
                                                                              "city": "Suzhou"}


def test_a_rep_cannot_merge(company, pair):
    c, rep = company.con, company.actor("rep_a")
    s, _ = pair
    own_pool = company.customers["pool_east"]  # both within the rep's edit reach, yet no delete right
    with pytest.raises(PermissionDenied):
        merge.preview(c, rep, s, own_pool)
    with pytest.raises(PermissionDenied):
        merge.merge(c, rep, s, own_pool)
    assert not merge.can_merge(c, rep)
    assert db.scalar(c, "SELECT count(*) FROM customers WHERE deleted_at IS NOT NULL") == 0


def test_a_manager_cannot_merge_a_customer_outside_the_team_tree(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, _ = pair
    west = company.customers["rep_w"]
    before = snapshot(c)
    for survivor, loser in ((s, west), (west, s)):
        with pytest.raises(NotFound):
            merge.merge(c, mgr, survivor, loser)
    assert snapshot(c) == before


def test_a_record_changed_since_the_preview_is_a_conflict_and_nothing_moves(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, loser = pair
    shown = merge.preview(c, mgr, s, loser)
    customers.update_customer(c, company.actor("rep_b", NOW + dt.timedelta(minutes=1)), loser, {"city": "Ningbo"})
    before = snapshot(c)
    with pytest.raises(Conflict) as stale:
        merge.merge(c, mgr, s, loser, {"city": "loser"}, seen=shown)
    assert stale.value.key == "merge.changed_since" and stale.value.params["name"] == "Customer of rep_b"
    assert snapshot(c) == before


def test_a_record_cannot_merge_into_itself(company, pair):
    s, _ = pair
    with pytest.raises(ValidationError):
        merge.merge(company.con, company.actor("mgr"), s, s)


def test_only_an_admin_or_who_merged_may_undo_and_only_within_the_retention_period(company, pair):
    c, mgr, boss = company.con, company.actor("mgr"), company.actor("boss")
    s, loser = pair
    org.create_user(c, boss, "mgr2", "Other Manager", "manager", PASSWORD, team_id=company.teams["east"])
    merge_id = merge.merge(c, mgr, s, loser)
    with pytest.raises(PermissionDenied):
        merge.undo_merge(c, company.actor("mgr2"), merge_id)
    assert merge.undoable(c, company.actor("mgr2"), [merge_id]) == set()
    late = company.actor("mgr", NOW + dt.timedelta(days=31))
    with pytest.raises(ValidationError) as expired:
        merge.undo_merge(c, late, merge_id)
    assert expired.value.key == "merge.undo_expired"
    assert merge.undoable(c, boss, [merge_id]) == {merge_id}
    merge.undo_merge(c, boss, merge_id)
    assert merge.history(c, mgr).row(0, named=True)["undone"] is True


def test_undoing_an_earlier_merge_waits_for_the_later_one(company, pair):
    c, mgr = company.con, company.actor("mgr")
    s, loser = pair
    first = merge.merge(c, mgr, s, loser)
    second = merge.merge(c, mgr, company.customers["rep_sh"], s)  # the survivor is merged away in turn
    with pytest.raises(ValidationError) as blocked:
        merge.undo_merge(c, mgr, first)
    assert blocked.value.key == "merge.survivor_gone"
    merge.undo_merge(c, mgr, second)
    merge.undo_merge(c, mgr, first)
    assert held(c, loser)["activities"] == 3 and held(c, s)["activities"] == 1


def test_custom_fields_are_chosen_and_undone_like_the_others(company, pair):
    from core import fields

    c, mgr, boss = company.con, company.actor("mgr"), company.actor("boss")
    s, loser = pair
    name = fields.save_field(c, boss, "customer", None, kind="text", label_en="WeChat", label_zh="微信")
    customers.update_customer(c, boss, loser, {name: "wx-loser"})
    shown = merge.preview(c, mgr, s, loser)
    assert name in shown["differ"]
    merge_id = merge.merge(c, mgr, s, loser, {name: "loser"}, seen=shown)
    assert customers.get_customer(c, mgr, s)[name] == "wx-loser"
    merge.undo_merge(c, mgr, merge_id)
    assert customers.get_customer(c, mgr, s).get(name) is None
    assert customers.get_customer(c, mgr, loser)[name] == "wx-loser"


def test_the_duplicate_guard_forgets_the_merged_away_record_and_remembers_it_after_the_undo(company, pair):
    c, mgr, boss = company.con, company.actor("mgr"), company.actor("boss")
    s, loser = pair
    customers.update_customer(c, boss, loser, {"email": "Buyer@Example.com"})
    merge_id = merge.merge(c, mgr, s, loser, {"email": "loser"})
    keys = c.execute("SELECT entity_id FROM dedup_keys WHERE key = 'e:buyer@example.com'").fetchall()
    assert keys == [(s,)]  # the survivor holds the e-mail now; the loser holds no key at all
    assert db.scalar(c, "SELECT count(*) FROM dedup_keys WHERE entity = 'customer' AND entity_id = ?", [loser]) == 0
    merge.undo_merge(c, mgr, merge_id)
    keys = c.execute("SELECT entity_id FROM dedup_keys WHERE key = 'e:buyer@example.com'").fetchall()
    assert keys == [(loser,)]
    assert db.scalar(c, "SELECT count(*) FROM dedup_keys WHERE entity = 'customer' AND entity_id = ?", [s]) > 0
