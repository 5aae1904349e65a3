"""The recycle bin: a delete or restore beside other writes loses none of them, phone keys stay
consistent, and the bin shows and restores only what the actor's scope reaches."""
import datetime as dt

import pytest

from core import access, customers, db, recycle
from core.errors import DuplicateError, NotFound


class Interleaved:
    """A cursor on which, just before the first statement `when(sql)` picks, `meanwhile()` commits
    another write on another cursor (a second user in the same office)."""

    def __init__(self, con, when, meanwhile):
        self.cursor, self.when, self.meanwhile, self.fired = con.cursor(), when, meanwhile, False

    def execute(self, sql, *args):
        if not self.fired and self.when(" ".join(sql.split()).upper()):
            self.fired = True
            self.meanwhile()
        return self.cursor.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.cursor, name)


def within_a_unit_that_read(cur, cid, service):
    """Run `service` inside a larger unit of work that read the customer first (as a merge or a lead
    conversion will): the case where an update that hands rows back loses a concurrent write."""
    def work():
        cur.execute("SELECT * FROM customers WHERE id = ?", [cid]).fetchall()
        return service()
    return db.write(cur, work)


def row(c, cid, *cols):
    return c.execute(f"SELECT {', '.join(cols)} FROM customers WHERE id = ?", [cid]).fetchall()[0]


def key_of(c, phone):
    return c.execute("SELECT entity, entity_id FROM phone_keys WHERE phone_norm = ?", [phone]).fetchall()


# ---------------------------------------------------------------- 3. no lost write beside a delete or restore
def test_a_delete_beside_an_edit_keeps_the_acknowledged_edit(company):
    c, boss = company.con, company.actor("boss")
    cid = company.customers["rep_a"]
    other = c.cursor()
    cur = Interleaved(c, lambda sql: sql.startswith("UPDATE CUSTOMERS"),
                      lambda: customers.update_customer(other, company.actor("rep_a"), cid, {"city": "杭州"}))
    assert within_a_unit_that_read(cur, cid, lambda: recycle.delete(cur, boss, "customer", [cid])) == 1
    assert row(c, cid, "city", "deleted_at IS NOT NULL") == ("杭州", True)
    recycle.restore(c, boss, "customer", [cid])
    assert customers.get_customer(c, company.actor("rep_a"), cid)["city"] == "杭州"


def test_a_restore_beside_another_write_keeps_that_write(company):
    c, boss = company.con, company.actor("boss")
    cid = company.customers["rep_a"]
    recycle.delete(c, boss, "customer", [cid])
    other = c.cursor()
    cur = Interleaved(c, lambda sql: sql.startswith("UPDATE CUSTOMERS"),
                      lambda: other.execute("UPDATE customers SET city = '杭州' WHERE id = ?", [cid]))
    assert within_a_unit_that_read(cur, cid, lambda: recycle.restore(cur, boss, "customer", [cid])) == 1
    assert row(c, cid, "city", "deleted_at IS NULL") == ("杭州", True)


def test_a_purge_beside_a_restore_never_removes_the_restored_record(company):
    c, boss = company.con, company.actor("boss")
    cid = company.customers["rep_b"]
    recycle.delete(c, boss, "customer", [cid])
    c.execute("UPDATE customers SET deleted_at = ? WHERE id = ?", [boss.now - dt.timedelta(days=40), cid])
    other = c.cursor()
    cur = Interleaved(c, lambda sql: ("DELETE FROM CUSTOMERS" in sql or "UPDATE CUSTOMERS" in sql),
                      lambda: recycle.restore(other, boss, "customer", [cid]))
    assert within_a_unit_that_read(cur, cid, lambda: recycle.purge(cur, boss))["customer"] == 0
    assert row(c, cid, "name", "deleted_at IS NULL") == ("Customer of rep_b", True)
    assert key_of(c, "+8613800130001") == [("customer", cid)]


def test_a_restore_after_the_purge_claimed_the_record_is_refused_not_silently_undone(company):
    """The purge has claimed the row (its first statement ran) when a restore comes in: the restore must
    conflict (the user is told to try again) rather than report success for a record the purge then
    deletes. DuckDB skips an UPDATE that writes the value already stored, so the claim must change it."""
    c, boss = company.con, company.actor("boss")
    cid = company.customers["rep_b"]
    recycle.delete(c, boss, "customer", [cid])
    c.execute("UPDATE customers SET deleted_at = ? WHERE id = ?", [boss.now - dt.timedelta(days=40), cid])
    other, outcome = c.cursor(), {}

    def restore():
        try:
            outcome["restored"] = recycle.restore(other, boss, "customer", [cid])
        except Exception as exc:  # noqa: BLE001 - the refusal is the expected outcome
            outcome["refused"] = type(exc).__name__

    cur = Interleaved(c, lambda sql: sql.startswith("DELETE FROM CUSTOMERS"), restore)
    purged = db.write(cur, lambda: recycle.purge(cur, boss))["customer"]
    alive = c.execute("SELECT count(*) FROM customers WHERE id = ? AND deleted_at IS NULL", [cid]).fetchone()[0]
    assert (purged, alive, outcome.get("refused")) == (1, 0, "Conflict"), outcome


# ---------------------------------------------------------------- 3. phone keys after a restore
def test_a_restored_customer_still_holds_its_phone(company):
    c, boss = company.con, company.actor("boss")
    cid = company.customers["rep_b"]
    phone = row(c, cid, "phone_norm")[0]
    recycle.delete(c, boss, "customer", [cid])
    c.execute("DELETE FROM phone_keys WHERE phone_norm = ?", [phone])  # a key lost somehow
    recycle.restore(c, boss, "customer", [cid])
    assert key_of(c, phone) == [("customer", cid)]
    with pytest.raises(DuplicateError):
        customers.create_customer(c, boss, {"name": "Copycat", "phone": phone})


def test_a_restore_is_refused_when_another_live_record_holds_the_phone(company):
    c, boss = company.con, company.actor("boss")
    cid = company.customers["rep_b"]
    phone = row(c, cid, "phone_norm")[0]
    recycle.delete(c, boss, "customer", [cid])
    c.execute("DELETE FROM phone_keys WHERE phone_norm = ?", [phone])
    twin = customers.create_customer(c, boss, {"name": "Twin", "phone": phone})
    with pytest.raises(DuplicateError) as err:
        recycle.restore(c, boss, "customer", [cid])
    assert err.value.key == "recycle.phone_taken" and err.value.params["label"] == "Customer of rep_b"
    assert row(c, cid, "deleted_at IS NOT NULL") == (True,)
    assert key_of(c, phone) == [("customer", twin)]


def test_a_restore_takes_over_a_key_left_by_a_record_that_is_gone(company):
    c, boss = company.con, company.actor("boss")
    cid, gone = company.customers["rep_b"], company.customers["rep_w"]
    phone = row(c, cid, "phone_norm")[0]
    recycle.delete(c, boss, "customer", [cid, gone])
    c.execute("UPDATE phone_keys SET entity_id = ? WHERE phone_norm = ?", [gone, phone])  # a stale key
    assert recycle.restore(c, boss, "customer", [cid]) == 1
    assert key_of(c, phone) == [("customer", cid)]


# ---------------------------------------------------------------- 8. the bin within the actor's scope
@pytest.fixture
def binned(company):
    """The admin deleted a customer of each rep; managers are granted the bin at scope team_tree."""
    c, boss = company.con, company.actor("boss")
    recycle.delete(c, boss, "customer", [company.customers[r] for r in ("rep_a", "rep_sh", "rep_w")])
    for action in ("view", "edit"):
        access.set_scope(c, boss, "manager", "recycle", action, "team_tree")
    return company


def test_the_bin_lists_only_what_the_actor_may_see(binned):
    c = binned.con
    listed = set(recycle.deleted(c, binned.actor("mgr"))["label"].to_list())
    assert listed == {"Customer of rep_a", "Customer of rep_sh"}
    assert len(recycle.deleted(c, binned.actor("boss"))) == 3
    assert recycle.deleted(c, binned.actor("mgr"), "deal").is_empty()


def test_a_restore_outside_the_actors_scope_is_refused(binned):
    c, mgr = binned.con, binned.actor("mgr")
    with pytest.raises(NotFound):
        recycle.restore(c, mgr, "customer", [binned.customers["rep_w"]])
    assert row(c, binned.customers["rep_w"], "deleted_at IS NOT NULL") == (True,)
    assert recycle.restore(c, mgr, "customer", [binned.customers["rep_w"], binned.customers["rep_a"]]) == 1
    assert row(c, binned.customers["rep_a"], "deleted_at IS NULL") == (True,)


def test_a_rep_granted_the_bin_sees_only_own_records(binned):
    c, boss = binned.con, binned.actor("boss")
    access.set_scope(c, boss, "sales", "recycle", "view", "own")
    access.set_scope(c, boss, "sales", "recycle", "edit", "own")
    access.set_scope(c, boss, "sales", "customers", "delete", "own")
    rep = binned.actor("rep_a")
    assert recycle.deleted(c, rep)["label"].to_list() == ["Customer of rep_a"]
    with pytest.raises(NotFound):
        recycle.restore(c, rep, "customer", [binned.customers["rep_sh"]])
