"""Issue 9, point 5: undo removes a batch's created rows (to the recycle bin) and restores the fields it
updated exactly; audit rows for both; a batch is undone once."""
from __future__ import annotations

import polars as pl
import pytest

from core import db, fields, recycle
from core.errors import ValidationError
from core.imports import engine


def rows(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    return pl.DataFrame({k: pl.Series(v, dtype=pl.String) for k, v in cols.items()}).with_columns(
        _row=pl.int_range(2, n + 2, dtype=pl.Int64))


def record(con, cid):
    return db.one(con, "SELECT name, city, phone, phone_norm, email, custom, updated_at IS NOT NULL AS u, deleted_at "
                       "FROM customers WHERE id = ?", [cid])


def test_undo_restores_updated_fields_exactly_and_bins_created_rows(company):
    con, boss = company.con, company.actor("boss")
    tier = fields.save_field(con, boss, "customer", None, kind="text", label_en="Tier", label_zh="级别")
    first = engine.commit(con, boss, "customers",
                          rows(name=["Xinghe 星河"], phone=["13900000001"], email=["x@xinghe.cn"], tier=["Gold"]),
                          {"name": "name", "phone": "phone", "email": "email", "tier": tier})
    cid = db.scalar(con, "SELECT id FROM customers WHERE import_id = ?", [first.batch_id])
    before = record(con, cid)
    # the second file: the same customer found by e-mail (new name, city, phone, tier) and one new customer
    second = engine.commit(con, boss, "customers",
                           rows(name=["Renamed", "Brand New"], phone=["13900000002", "13900000003"],
                                email=["X@XINGHE.CN", None], city=["上海", "北京"], tier=["Silver", None]),
                           {"name": "name", "phone": "phone", "email": "email", "city": "city", "tier": tier},
                           options={"on_duplicate": "update"})
    assert second.counts["updated"] == 1 and second.counts["created"] == 1
    changed = record(con, cid)
    assert (changed["name"], changed["city"], changed["phone_norm"]) == ("Renamed", "上海", "+8613900000002")
    assert '"Silver"' in changed["custom"]
    new_id = db.scalar(con, "SELECT id FROM customers WHERE import_id = ?", [second.batch_id])

    done = engine.undo(con, boss, second.batch_id)
    assert done == {"batch_id": second.batch_id, "deleted": 1, "restored": 1}
    after = record(con, cid)
    assert {k: after[k] for k in ("name", "city", "phone", "phone_norm", "email", "custom", "deleted_at")} == \
        {k: before[k] for k in ("name", "city", "phone", "phone_norm", "email", "custom", "deleted_at")}
    # the phone keys follow: the old number is held again, the file's number is free
    assert con.execute("SELECT entity_id FROM phone_keys WHERE phone_norm = '+8613900000001'").fetchall() == [(cid,)]
    assert not con.execute("SELECT * FROM phone_keys WHERE phone_norm = '+8613900000002'").fetchall()
    # the created record sits in the recycle bin, where an admin can restore it
    assert db.one(con, "SELECT deleted_by FROM customers WHERE id = ?", [new_id]) == {"deleted_by": boss.id}
    assert new_id in recycle.deleted(con, boss, "customer")["id"].to_list()
    # audit: the delete of the created record, and each restored field
    audit = con.execute("SELECT action, entity_id, field, old_value, new_value FROM audit_log WHERE entity = 'customer' "
                        "AND entity_id IN (?, ?) AND logged_at = ? AND action IN ('delete', 'update') ORDER BY action, "
                        "field", [cid, new_id, boss.now]).fetchall()
    assert ("delete", new_id, "import_id", str(second.batch_id), None) in audit
    assert ("update", cid, "name", "Renamed", "Xinghe 星河") in audit
    assert db.scalar(con, "SELECT status FROM imports WHERE id = ?", [second.batch_id]) == "undone"
    with pytest.raises(ValidationError) as err:
        engine.undo(con, boss, second.batch_id)
    assert err.value.key == "import.already_undone"
    assert record(con, cid) == after


def test_undo_of_an_unknown_batch(company):
    from core.errors import NotFound

    with pytest.raises(NotFound):
        engine.undo(company.con, company.actor("boss"), 999)
    with pytest.raises(NotFound):
        engine.undo(company.con, company.actor("boss"), "1; DROP TABLE customers")


def test_batches_lists_the_history(company):
    con, boss = company.con, company.actor("boss")
    r = engine.commit(con, boss, "customers", rows(name=["A"], phone=["13900000001"]), {"name": "name", "phone": "phone"})
    engine.undo(con, boss, r.batch_id)
    got = engine.batches(con, boss)
    assert got.select("id", "object", "status", "rows_total", "created_by_name").row(0) == (
        r.batch_id, "customers", "undone", 1, "Boss Admin")
