"""Nothing is lost: one transaction per service with retry, an audit row for every change, soft
delete to a recycle bin, restore, purge only after the retention period."""
import datetime as dt
import threading

import duckdb
import pytest

from core import audit, customers, db, recycle, settings
from core.errors import Conflict, DuplicateError


def audit_rows(c, entity, entity_id):
    return c.execute(
        "SELECT action, field, old_value, new_value FROM audit_log WHERE entity = ? AND entity_id = ? ORDER BY id",
        [entity, entity_id]).fetchall()


def test_every_change_writes_who_when_field_old_and_new(company):
    c, me = company.con, company.actor("rep_a")
    cid = company.customers["rep_a"]
    customers.update_customer(c, me, cid, {"name": "Renamed Ltd", "stage": "intent", "city": "上海"})
    rows = c.execute("SELECT user_id, logged_at, field, old_value, new_value FROM audit_log "
                     "WHERE entity = 'customer' AND entity_id = ? AND action = 'update' ORDER BY field", [cid]).fetchall()
    assert [(r[2], r[3], r[4]) for r in rows] == [
        ("city", None, "上海"), ("name", "Customer of rep_a", "Renamed Ltd"), ("stage", "raw", "intent")]
    assert all(r[0] == me.id and r[1] == me.now for r in rows)


def test_an_edit_that_changes_nothing_writes_nothing(company):
    c, me = company.con, company.actor("rep_a")
    before = c.execute("SELECT count(*) FROM audit_log").fetchall()
    assert customers.update_customer(c, me, company.customers["rep_a"], {"name": "Customer of rep_a"}) == {}
    assert c.execute("SELECT count(*) FROM audit_log").fetchall() == before


def test_a_failed_service_leaves_no_trace(company):
    c, me = company.con, company.actor("rep_a")
    counts = c.execute("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM audit_log)").fetchall()
    with pytest.raises(DuplicateError):
        customers.create_customer(c, me, {"name": "Copycat", "phone": "+86 138 0013 0000"})
    assert c.execute("SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM audit_log)").fetchall() == counts


def test_delete_is_soft_and_restore_brings_the_record_back(company):
    c, boss = company.con, company.actor("boss")
    cid = company.customers["rep_b"]
    assert recycle.delete(c, boss, "customer", [cid]) == 1
    assert c.execute("SELECT count(*) FROM customers WHERE id = ?", [cid]).fetchall() == [(1,)]
    assert cid not in customers.list_customers(c, boss, page_size=500)[0]["id"].to_list()
    binned = recycle.deleted(c, boss)
    assert binned.filter(binned["id"] == cid)["deleted_by_name"].to_list() == ["Boss Admin"]
    # the phone stays reserved while the record is in the bin
    with pytest.raises(DuplicateError):
        customers.create_customer(c, boss, {"name": "Again", "phone": "13800130001"})
    assert recycle.restore(c, boss, "customer", [cid]) == 1
    assert customers.get_customer(c, boss, cid)["name"] == "Customer of rep_b"
    assert [r[0] for r in audit_rows(c, "customer", cid)][-2:] == ["delete", "restore"]


def test_purge_removes_only_what_is_past_the_retention_period_and_frees_its_phone(company):
    c, boss = company.con, company.actor("boss")
    old, recent = company.customers["rep_b"], company.customers["rep_w"]
    recycle.delete(c, boss, "customer", [old, recent])
    c.execute("UPDATE customers SET deleted_at = ? WHERE id = ?", [boss.now - dt.timedelta(days=31), old])
    counts = recycle.purge(c, boss)
    assert counts["customer"] == 1
    assert c.execute("SELECT id FROM customers WHERE id IN (?, ?)", [old, recent]).fetchall() == [(recent,)]
    assert customers.create_customer(c, boss, {"name": "Reuses the phone", "phone": "13800130001"})
    assert audit_rows(c, "customer", old)[-1][0] == "purge"


def test_the_retention_period_is_a_setting(company):
    c, boss = company.con, company.actor("boss")
    settings.set_value(c, boss, "recycle.retention_days", 7)
    recycle.delete(c, boss, "customer", [company.customers["rep_b"]])
    c.execute("UPDATE customers SET deleted_at = ? WHERE id = ?", [boss.now - dt.timedelta(days=8), company.customers["rep_b"]])
    assert recycle.purge(c, boss)["customer"] == 1


def test_a_conflict_is_retried_and_the_unit_of_work_runs_again(con):
    calls = []

    def flaky():
        calls.append(1)
        con.execute("INSERT INTO settings VALUES (?, '1', NULL, NULL)", [f"k{len(calls)}"])
        if len(calls) < 3:
            raise duckdb.TransactionException("TransactionContext Error: Conflict on update!")
        return "done"

    assert db.write(con, flaky) == "done"
    assert con.execute("SELECT key FROM settings").fetchall() == [("k3",)]  # earlier attempts rolled back


def test_a_conflict_that_never_clears_becomes_a_reload_message(con):
    def always():
        raise duckdb.TransactionException("Conflict on update!")

    with pytest.raises(Conflict) as err:
        db.write(con, always, retries=3)
    assert err.value.key == "error.conflict"


def test_concurrent_edits_from_two_sessions_both_land(tmp_path):
    from core import setup
    from tests.conftest import build_company

    base = db.connect(tmp_path / "crm.duckdb")
    setup.prepare(base)
    company = build_company(base)
    cid = company.customers["rep_a"]
    errors = []
    me = company.actor("boss")

    def edit(field, values):
        cur = base.cursor()
        try:
            for v in values:
                customers.update_customer(cur, me, cid, {field: v})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=edit, args=("city", [f"C{i}" for i in range(15)])),
               threading.Thread(target=edit, args=("industry", [f"I{i}" for i in range(15)]))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    row = customers.get_customer(base, company.actor("boss"), cid)
    assert (row["city"], row["industry"]) == ("C14", "I14")
    assert base.execute("SELECT count(*) FROM audit_log WHERE entity_id = ? AND field IN ('city','industry')",
                        [cid]).fetchall() == [(30,)]


def test_the_audit_viewer_filters_by_user_entity_and_action(company):
    c, boss = company.con, company.actor("boss")
    customers.update_customer(c, company.actor("rep_a"), company.customers["rep_a"], {"city": "杭州"})
    df, total = audit.search(c, boss, user_id=company.users["rep_a"], entity="customer", action="update")
    assert total == 1 and df["new_value"].to_list() == ["杭州"]
