"""Units of work that never lose a write: nesting without a second BEGIN, an inner failure dooms the
outer unit, soft delete beside a concurrent edit, stale forms, racing creates, and a soak."""
import dataclasses
import datetime as dt
import threading

import pytest

from benchmarks import soak
from core import audit, customers, db, recycle
from core.context import utcnow
from core.errors import Conflict, DuplicateError, ValidationError


@pytest.fixture
def table(con):
    con.execute("CREATE TABLE t (id INTEGER, v VARCHAR)")
    return con


def test_a_unit_of_work_inside_another_joins_it_and_both_writes_persist(table):
    def inner():
        table.execute("INSERT INTO t VALUES (2, 'inner')")

    def outer():
        table.execute("INSERT INTO t VALUES (1, 'outer')")
        db.write(table, inner)
        table.execute("INSERT INTO t VALUES (3, 'after')")

    db.write(table, outer)
    assert table.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,), (3,)]


def test_a_failure_in_the_inner_unit_rolls_back_the_outer_one_even_when_caught(table):
    def inner():
        table.execute("INSERT INTO t VALUES (2, 'inner')")
        raise ValidationError("error.invalid")

    def outer():
        table.execute("INSERT INTO t VALUES (1, 'outer')")
        try:
            db.write(table, inner)
        except ValidationError:
            pass  # the caller swallows it: the unit must still not commit half of its work

    with pytest.raises(ValidationError):
        db.write(table, outer)
    assert table.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    assert not db.in_unit(table)
    db.write(table, lambda: table.execute("INSERT INTO t VALUES (9, 'next')"))  # the cursor is usable again
    assert table.execute("SELECT id FROM t").fetchall() == [(9,)]


def test_services_called_inside_a_unit_commit_with_it(company):
    c, boss = company.con, company.actor("boss")

    def both():
        a = customers.create_customer(c, boss, {"name": "First in unit", "phone": "13900001111"})
        b = customers.create_customer(c, boss, {"name": "Second in unit", "phone": "13900002222"})
        return a, b

    a, b = db.write(c, both)
    assert {customers.get_customer(c, boss, i)["name"] for i in (a, b)} == {"First in unit", "Second in unit"}


def test_a_soft_delete_beside_a_concurrent_edit_keeps_the_edit(company, tmp_path):
    c, boss = company.con, company.actor("boss")
    cid = company.customers["rep_a"]
    other = c.cursor()

    def delete_with_an_edit_in_between():
        customers.get_customer(c, boss, cid)  # the deleting unit has read the row
        customers.update_customer(other, boss, cid, {"city": "Edited meanwhile"})  # commits on its own
        recycle.delete(c, boss, "customer", [cid])

    try:
        db.write(c, delete_with_an_edit_in_between)
    except Conflict:
        pass  # refusing is fine; silently undoing the acknowledged edit is not
    row = c.execute("SELECT city, deleted_at IS NOT NULL FROM customers WHERE id = ?", [cid]).fetchall()[0]
    assert row[0] == "Edited meanwhile"


def test_an_edit_from_a_stale_form_is_refused_and_names_what_changed(company):
    c, rep = company.con, company.actor("rep_a")
    boss = company.actor("boss")
    cid = company.customers["rep_a"]
    form = customers.get_customer(c, rep, cid)  # the rep opens the form
    customers.update_customer(c, boss, cid, {"city": "杭州"}, seen=customers.get_customer(c, boss, cid))
    with pytest.raises(Conflict) as err:
        customers.update_customer(c, rep, cid, {"industry": "Retail"}, seen=form)
    assert err.value.params["fields"] == ["customer.city"] and err.value.params["by"] == "Boss Admin"
    now = customers.get_customer(c, rep, cid)
    assert now["city"] == "杭州" and now["industry"] is None
    # with the fresh version the same edit goes through
    customers.update_customer(c, rep, cid, {"industry": "Retail"}, seen=now)
    assert customers.get_customer(c, rep, cid)["industry"] == "Retail"


def test_only_the_fields_sent_are_written_and_a_follow_up_time_keeps_its_minutes(company):
    c, rep = company.con, company.actor("rep_a")
    cid = company.customers["rep_a"]
    when = dt.datetime(2026, 11, 24, 7, 50, 33)
    customers.update_customer(c, rep, cid, {"next_followup_at": when})
    customers.update_customer(c, rep, cid, {"city": "苏州", "industry": "Logistics"})
    assert customers.get_customer(c, rep, cid)["next_followup_at"] == when
    fields = {r[0] for r in c.execute("SELECT field FROM audit_log WHERE entity = 'customer' AND entity_id = ? "
                                      "AND action = 'update' AND logged_at = ?", [cid, rep.now]).fetchall()}
    assert {"city", "industry"} <= fields


def test_two_creates_with_the_same_phone_at_the_same_moment_give_one_customer_and_a_duplicate_error(company):
    c, boss = company.con, company.actor("boss")
    barrier = threading.Barrier(8)
    outcomes = []

    def create(i):
        cur = c.cursor()
        barrier.wait()
        try:
            outcomes.append(customers.create_customer(cur, dataclasses.replace(boss, now=utcnow()),
                                                      {"name": f"Racer {i}", "phone": "+86 139 0000 7777"}))
        except Exception as exc:  # noqa: BLE001 - the test inspects the type
            outcomes.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ids = [o for o in outcomes if isinstance(o, int)]
    errors = [o for o in outcomes if not isinstance(o, int)]
    assert len(ids) == 1 and all(isinstance(e, DuplicateError) for e in errors), errors
    assert c.execute("SELECT entity, entity_id FROM phone_keys WHERE phone_norm = '+8613900007777'").fetchall() == [
        ("customer", ids[0])]
    assert c.execute("SELECT count(*) FROM customers WHERE phone_norm = '+8613900007777'").fetchall() == [(1,)]


def test_the_duplicate_phone_message_names_the_holder_not_a_record_id(company):
    c = company.con
    with pytest.raises(DuplicateError) as err:
        customers.create_customer(c, company.actor("rep_w"), {"name": "Copy", "phone": "13800130000"})
    assert err.value.key == "phone.held_by"
    assert err.value.params == {"entity": "entity.customer", "owner": "REP_A", "team": "East"}
    with pytest.raises(DuplicateError) as err:
        customers.create_customer(c, company.actor("rep_w"), {"name": "Copy", "phone": "13800130004"})
    assert err.value.key == "phone.held_in_pool" and err.value.params["team"] == "East"
    recycle.delete(c, company.actor("boss"), "customer", [company.customers["rep_b"]])
    with pytest.raises(DuplicateError) as err:
        customers.create_customer(c, company.actor("rep_w"), {"name": "Copy", "phone": "13800130001"})
    assert err.value.key == "phone.held_in_bin" and set(err.value.params) == {"entity"}


def test_soak_ten_threads_lose_nothing_and_raise_only_typed_errors(tmp_path):
    out = soak.run(str(tmp_path / "soak.duckdb"), threads=10, seconds=10)
    assert out["untyped_errors"] == []
    assert out["acknowledged_creates"] > 20 and out["acknowledged_field_updates"] > 20
    assert out["missing_creates"] == 0 and out["lost_updates"] == 0 and out["wrong_bin_state"] == 0
    assert out["audit_rows"] == out["audit_rows_expected"]
    assert out["bad_phone_keys"] == 0 and out["phones_without_one_key"] == 0


def test_audit_rows_of_a_failed_unit_are_gone_with_it(company):
    c, boss = company.con, company.actor("boss")
    before = c.execute("SELECT count(*) FROM audit_log").fetchall()

    def work():
        audit.record(c, boss, "update", "customer", 1, {"city": ("a", "b")})
        raise ValidationError("error.invalid")

    with pytest.raises(ValidationError):
        db.write(c, work)
    assert c.execute("SELECT count(*) FROM audit_log").fetchall() == before
