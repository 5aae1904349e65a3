"""Issue 9: the keys of a big import. Phone, e-mail and name keys (the duplicate guard) are written in the
import's unit of work; the search keys of a big batch after the commit (the command line leaves them to the
app's scheduler and the next command). Meanwhile the search box finds the same records by reading them."""
from __future__ import annotations

import polars as pl
import pytest

from core import dedup, search
from core.imports import engine

N = 40


def rows(n: int = N) -> pl.DataFrame:
    names = [f"星河{i:03d}号科技" if i % 2 else f"Orion {i:03d} Trading" for i in range(n)]
    return pl.DataFrame({
        "name": names,
        "phone": [f"1390000{i:04d}" for i in range(n)],
        "email": [f"buyer{i:03d}@orion-example.cn" for i in range(n)],
    }).with_columns(_row=pl.int_range(2, n + 2, dtype=pl.Int64))


M = {"name": "name", "phone": "phone", "email": "email"}


@pytest.fixture
def big(monkeypatch):
    """A batch counts as big from 5 new records on (instead of 20,000)."""
    monkeypatch.setattr(engine, "KEYS_INLINE", 5)
    monkeypatch.setattr(engine, "KEYS_SLICE", 7)  # and its keys are made in slices


def found(con, text: str) -> set[int]:
    where, args = search.text_clause(con, "customer", text)
    return {r[0] for r in con.execute(f"SELECT x.id FROM customers x WHERE {' AND '.join(where)}", args).fetchall()}


def expected_keys(con, batch: int) -> set[tuple]:
    """Every search key of the batch's records, made in Python from their stored values."""
    out = set()
    for rid, name, email, phone in con.execute("SELECT id, lower(name), email, phone_norm FROM customers "
                                               "WHERE import_id = ?", [batch]).fetchall():
        for part, text in (("n", name), ("e", email), ("p", phone)):
            for pos, gram in enumerate(search._grams(part, text), 1):
                out.add(("customer", part, gram, rid, pos))
    return out


def stored_keys(con, batch: int) -> set[tuple]:
    return set(con.execute("SELECT entity, part, gram, entity_id, pos FROM search_keys WHERE entity_id IN "
                           "(SELECT id FROM customers WHERE import_id = ?)", [batch]).fetchall())


def test_a_big_batch_from_the_command_line_is_searchable_at_once_and_keyed_later(company, big):
    con, boss = company.con, company.actor("boss")
    r = engine.commit(con, boss, "customers", rows(), M, keys_later=True)
    assert r.counts["created"] == N
    assert engine.keys_pending(con, r.batch_id)
    assert not stored_keys(con, r.batch_id)            # nothing keyed yet ...
    assert not search.covers(con)
    ids = dict(con.execute("SELECT name, id FROM customers WHERE import_id = ?", [r.batch_id]).fetchall())
    # ... and yet the search box finds them: by name, e-mail and phone, as the substring search does
    assert found(con, "星河007号") == {ids["星河007号科技"]}
    assert found(con, "buyer012@") == {ids["Orion 012 Trading"]}
    assert found(con, "0000 0021") == {ids["星河021号科技"]}
    # the duplicate guard knows the batch's names at once (pinyin of a Chinese company's brand)
    m = dedup.find(con, boss, "customer", {"name": "星河007号科技有限公司", "kind": "company"})
    assert ids["星河007号科技"] in {x.id for x in m}
    # the app's job (or the next command) builds the search keys: exactly the keys of every record
    assert engine.fill_keys(con) == 1
    assert not engine.keys_pending(con, r.batch_id) and search.covers(con)
    assert stored_keys(con, r.batch_id) == expected_keys(con, r.batch_id)
    assert search.clause(con, "customer", "星河007号", "LIKE") is not None  # answered by key now
    assert found(con, "星河007号") == {ids["星河007号科技"]}
    assert engine.fill_keys(con) == 0                   # nothing left to do


def email_keys(con, batch: int) -> list[tuple]:
    return sorted(con.execute("SELECT key, entity_id FROM dedup_keys WHERE key LIKE 'e:%' AND entity = 'customer' "
                              "AND entity_id IN (SELECT id FROM customers WHERE import_id = ?)", [batch]).fetchall())


def test_a_big_batch_s_e_mail_keys_come_later_and_the_guard_reads_its_records_meanwhile(company, big):
    con, boss = company.con, company.actor("boss")
    r = engine.commit(con, boss, "customers", rows(), M, keys_later=True)
    ids = dict(con.execute("SELECT email, id FROM customers WHERE import_id = ?", [r.batch_id]).fetchall())
    assert email_keys(con, r.batch_id) == [] and dedup.pending_emails(con) == [("customer", r.batch_id)]
    # the guard finds an imported address at once, typed in upper case
    m = dedup.find(con, boss, "customer", {"name": "Someone Else", "email": "BUYER007@Orion-Example.cn"})
    assert ids["buyer007@orion-example.cn"] in {x.id for x in m if x.entity == "customer"}
    # so does the next import's check against the store (one row: a small batch, keyed inline)
    again = rows(3).with_columns(name=pl.lit("Another buyer"), phone=pl.Series([None, None, None], dtype=pl.String))
    r2 = engine.commit(con, boss, "customers", again, M)
    assert r2.counts["dup_in_store"] == 3 and r2.counts["created"] == 0
    # meanwhile one record is edited (it gets its keys from the edit) and one goes to the bin
    from core import customers, recycle
    edited, binned = ids["buyer010@orion-example.cn"], ids["buyer011@orion-example.cn"]
    customers.update_customer(con, boss, edited, {"email": "new010@orion-example.cn"},
                              seen=customers.get_customer(con, boss, edited))
    recycle.delete(con, boss, "customer", [binned])
    assert engine.fill_keys(con) == 1 and dedup.pending_emails(con) == []
    want = sorted((f"e:{email}", rid) for email, rid in con.execute(
        "SELECT email, id FROM customers WHERE import_id = ?", [r.batch_id]).fetchall())
    assert email_keys(con, r.batch_id) == want            # one key per record: the edited one's new address
    assert ("e:new010@orion-example.cn", edited) in want and ("e:buyer011@orion-example.cn", binned) in want


def test_a_big_batch_in_the_wizard_is_keyed_right_after_its_commit(company, big):
    con, boss = company.con, company.actor("boss")
    r = engine.commit(con, boss, "customers", rows(), M)
    assert not engine.keys_pending(con, r.batch_id)
    assert stored_keys(con, r.batch_id) == expected_keys(con, r.batch_id)


@pytest.mark.parametrize("size", [3, N])
def test_the_name_keys_of_an_import_are_those_of_its_records(company, monkeypatch, size):
    """Name keys are computed once per distinct staged name on a thread; whatever the batch size they are
    the keys core.dedup gives the stored records (duplicate names in the file share their keys)."""
    monkeypatch.setattr(engine, "KEYS_INLINE", 5)
    con, boss = company.con, company.actor("boss")
    f = rows(size)
    f = f.with_columns(name=pl.when(pl.col("_row") % 3 == 0).then(pl.lit("上海星河科技有限公司")).otherwise(pl.col("name")))
    r = engine.commit(con, boss, "customers", f, M)
    src = con.sql("SELECT id, name, kind FROM customers WHERE import_id = ?", params=[r.batch_id]).pl()
    want = dedup.name_keys("customer", src["id"], src["name"], src["kind"])
    got = con.sql("SELECT key, entity, entity_id, chars, pinyin FROM dedup_keys WHERE key NOT LIKE 'e:%' AND "
                  "entity = 'customer' AND entity_id IN (SELECT id FROM customers WHERE import_id = ?)",
                  params=[r.batch_id]).pl()
    assert sorted(got.rows()) == sorted(want.rows()) and got.height == src.height
    emails = con.execute("SELECT count(*) FROM dedup_keys WHERE key LIKE 'e:%' AND entity_id IN "
                         "(SELECT id FROM customers WHERE import_id = ?)", [r.batch_id]).fetchone()[0]
    assert emails == size
