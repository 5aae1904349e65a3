"""Issue 9, points 3-4 and 8: the import engine's rules, each seen as a user sees it (records, counts,
reasons)."""
from __future__ import annotations

import json

import polars as pl
import pytest

from core import db, fields, search
from core.errors import ValidationError
from core.imports import engine, mapping


def rows(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    return pl.DataFrame({k: pl.Series(v, dtype=pl.String) for k, v in cols.items()}).with_columns(
        _row=pl.int_range(2, n + 2, dtype=pl.Int64))


def imported(con, batch: int) -> pl.DataFrame:
    return con.sql("SELECT id, name, phone, phone_norm, email, stage, owner_id, team_id, pool_reason, custom "
                   "FROM customers WHERE import_id = ? ORDER BY id", params=[batch]).pl()


def balanced(counts: dict) -> bool:
    return counts["rows"] == (counts["created"] + counts["updated"] + counts["dup_in_file"] + counts["dup_in_store"]
                              + counts["rejected"] + counts["exact_dup"])


M = {"name": "name", "phone": "phone", "email": "email", "owner": "owner"}


def test_trim_and_phone_normalisation(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["  Acme 科技  ", "Beta"], phone=[" 139 0000 1111 ", "+86 139-0000-2222"], email=[" A@X.COM ", None])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone", "email": "email"})
    got = imported(con, r.batch_id)
    assert got["name"].to_list() == ["Acme 科技", "Beta"]
    assert got["phone_norm"].to_list() == ["+8613900001111", "+8613900002222"]
    assert got["email"].to_list() == ["a@x.com", None]
    held = con.execute("SELECT entity, entity_id FROM phone_keys WHERE phone_norm = '+8613900001111'").fetchall()
    assert held == [("customer", got["id"][0])]
    # the search box finds the new record by key
    assert got["id"][0] in con.sql(f"SELECT x.id FROM customers x WHERE {search.clause(con, 'customer', '科技', 'LIKE')[0][0]}",
                                   params=search.clause(con, "customer", "科技", "LIKE")[1]).pl()["id"].to_list()


def test_exact_duplicate_rows_counted_and_imported_once(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["Acme", "Acme", "Acme "], phone=["13900001111", "13900001111", "13900001111"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone"})
    assert r.counts["created"] == 1 and r.counts["exact_dup"] == 2 and balanced(r.counts)
    assert set(r.rejects["reason"]) == {"An exact copy of an earlier row of the file: imported once."}


def test_rows_that_share_a_hash_but_differ_are_never_taken_for_exact_copies(company, monkeypatch):
    """Exact copies are found by a hash of the row; if two different rows ever shared one, both are imported."""
    con, boss = company.con, company.actor("boss")
    monkeypatch.setattr(engine, "_row_hashes", lambda src, cols: pl.DataFrame({"h": [7] * src.height}))
    f = rows(name=["Acme", "Beta", "Acme", "Gamma", " Beta", None],
             phone=["13900001111", "13900002222", "13900001111", "13900003333", "13900002222", None])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone"})
    assert r.counts["exact_dup"] == 2 and r.counts["created"] == 3 and balanced(r.counts)
    assert sorted(imported(con, r.batch_id)["name"].to_list()) == ["Acme", "Beta", "Gamma"]
    assert sorted(r.rejects["_row"].to_list()) == [4, 6, 7]     # the two copies, and the row without a name


def test_blanks_and_spaces_of_every_width_are_trimmed_and_a_blank_cell_is_empty(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["\u3000Acme\u3000", "\ufeffBeta ", "Gamma"], phone=["13900001111", " \u3000 ", "13900003333"],
             email=["\t", "b@x.com\u00a0", "c@x.com"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone", "email": "email"})
    got = imported(con, r.batch_id)
    assert got["name"].to_list() == ["Acme", "Beta", "Gamma"]
    assert got["phone"].to_list() == ["13900001111", None, "13900003333"]
    assert got["email"].to_list() == [None, "b@x.com", "c@x.com"]


def test_duplicate_inside_file_skipped_with_reason(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["Acme", "Acme Two", "Other"], phone=["13900001111", "139 0000 1111", "13900003333"],
             email=["x@a.com", None, "X@A.com"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone", "email": "email"})
    assert r.counts["created"] == 1 and r.counts["dup_in_file"] == 2 and balanced(r.counts)
    assert r.rejects["_row"].to_list() == [3, 4]
    assert all("Duplicate inside the file" in x for x in r.rejects["reason"])


def test_duplicate_in_store_skip(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["Again", "New"], phone=["13800130000", "13900005555"])   # rep_a's customer holds the first
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone"})
    assert r.counts["dup_in_store"] == 1 and r.counts["created"] == 1 and balanced(r.counts)
    assert "Already in the CRM" in r.rejects["reason"][0]
    assert db.scalar(con, "SELECT name FROM customers WHERE id = ?", [company.customers["rep_a"]]) == "Customer of rep_a"


def test_duplicate_in_store_update_keeps_old_values(company):
    con, boss = company.con, company.actor("boss")
    cid = company.customers["rep_a"]
    f = rows(name=["Renamed Co"], phone=["13800130000"], city=["杭州"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone", "city": "city"},
                      options={"on_duplicate": "update"})
    assert r.counts["updated"] == 1 and r.counts["created"] == 0 and balanced(r.counts)
    assert db.one(con, "SELECT name, city FROM customers WHERE id = ?", [cid]) == {"name": "Renamed Co", "city": "杭州"}
    old = dict(con.execute("SELECT field, json_extract_string(old_value, '$') FROM import_updates WHERE import_id = ?",
                           [r.batch_id]).fetchall())
    assert old == {"name": "Customer of rep_a", "city": None}
    # chosen keys: only the city changes
    f2 = rows(name=["Ignored Name"], phone=["13800130000"], city=["苏州"])
    engine.commit(con, boss, "customers", f2, {"name": "name", "phone": "phone", "city": "city"},
                  options={"on_duplicate": "update", "update_keys": ["city"]})
    assert db.one(con, "SELECT name, city FROM customers WHERE id = ?", [cid]) == {"name": "Renamed Co", "city": "苏州"}


def test_duplicate_in_store_create_and_flag(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["Copy of rep_a's"], phone=["13800130000"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone"},
                      options={"on_duplicate": "create"})
    assert r.counts["created"] == 1 and r.counts["flagged"] == 1 and balanced(r.counts)
    got = imported(con, r.batch_id)
    assert got["phone"][0] == "13800130000" and got["phone_norm"][0] is None  # the key stays with the first holder
    flag = con.execute("SELECT new_value FROM import_updates WHERE import_id = ? AND field = '_duplicate_of'",
                       [r.batch_id]).fetchone()[0]
    assert json.loads(flag)["id"] == company.customers["rep_a"]


def test_owners_by_username_and_name(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["A", "B", "C"], phone=["13900000001", "13900000002", "13900000003"],
             owner=["REP_B", "rep_w", "Mia Manager"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone", "owner": "owner"})
    assert imported(con, r.batch_id)["owner_id"].to_list() == [company.users["rep_b"], company.users["rep_w"],
                                                                company.users["mgr"]]


@pytest.mark.parametrize("choice", ["create", "pool", "reject"])
def test_unknown_owners_three_ways(company, choice):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["A", "B"], phone=["13900000001", "13900000002"], owner=["Zhang Wei 张伟", "rep_a"])
    opts = {"unknown_owners": choice, "unknown_owner_team_id": company.teams["west"],
            "pool_team_id": company.teams["west"]}
    p = engine.preview(con, boss, "customers", f, {"name": "name", "phone": "phone", "owner": "owner"}, options=opts)
    assert p.unknown_owners == ["Zhang Wei 张伟"]
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone", "owner": "owner"}, options=opts)
    got = imported(con, r.batch_id)
    assert balanced(r.counts)
    if choice == "create":
        user = db.one(con, "SELECT id, name, active, team_id, import_id FROM users WHERE name = 'Zhang Wei 张伟'")
        assert user["active"] is False and user["team_id"] == company.teams["west"] and user["import_id"] == r.batch_id
        assert got["owner_id"].to_list() == [user["id"], company.users["rep_a"]]
    elif choice == "pool":
        assert got["owner_id"].to_list() == [None, company.users["rep_a"]]
        assert got["team_id"][0] == company.teams["west"]
        assert not db.scalar(con, "SELECT count(*) FROM users WHERE name = 'Zhang Wei 张伟'")
    else:
        assert r.counts["rejected"] == 1 and got["name"].to_list() == ["B"]
        assert r.rejects["reason"][0] == "The owner named in the file matches no user."


def test_pool_target_and_chosen_user(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["A"], phone=["13900000001"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone"},
                      options={"owner": "pool", "pool_team_id": company.teams["west"]})
    got = imported(con, r.batch_id)
    assert got["owner_id"][0] is None and got["team_id"][0] == company.teams["west"] and got["pool_reason"][0] == "import"
    f = rows(name=["B"], phone=["13900000002"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone"},
                      options={"owner": "user", "owner_id": company.users["rep_w"]})
    assert imported(con, r.batch_id)["owner_id"][0] == company.users["rep_w"]


def test_caps_send_the_excess_to_the_pool_and_count_it(company):
    con, boss = company.con, company.actor("boss")
    con.execute("UPDATE users SET customer_cap = 3 WHERE id = ?", [company.users["rep_a"]])   # holds 1 already
    f = rows(name=[f"C{i}" for i in range(5)], phone=[f"1390000100{i}" for i in range(5)], owner=["rep_a"] * 5)
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone", "owner": "owner"})
    got = imported(con, r.batch_id)
    assert got["owner_id"].to_list() == [company.users["rep_a"]] * 2 + [None] * 3
    assert got["pool_reason"].to_list()[2:] == ["over_limit"] * 3
    assert got["team_id"].to_list() == [company.teams["east"]] * 5
    assert r.counts["over_cap_to_pool"] == 3 and r.counts["created"] == 5


def test_caps_of_several_owners_keep_each_owner_s_first_rows_in_file_order(company):
    con, boss = company.con, company.actor("boss")
    con.execute("UPDATE users SET customer_cap = 3 WHERE id = ?", [company.users["rep_a"]])   # holds 1: room 2
    con.execute("UPDATE users SET customer_cap = 1 WHERE id = ?", [company.users["rep_b"]])   # holds 1: room 0
    owners = ["rep_b", "rep_a", "rep_w", "rep_a", "rep_b", "rep_a", "rep_a", "rep_w"]
    stages = [None, None, None, "won", None, None, None, None]
    f = rows(name=[f"C{i}" for i in range(8)], phone=[f"1390000200{i}" for i in range(8)], owner=owners,
             stage=stages)
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone", "owner": "owner",
                                                   "stage": "stage"})
    got = imported(con, r.batch_id)
    u = company.users
    # rep_a: C1 and C5 fill the room (C3 is won: never counted), C6 goes to the pool; rep_b: no room at all
    assert got["owner_id"].to_list() == [None, u["rep_a"], u["rep_w"], u["rep_a"], None, u["rep_a"], None, u["rep_w"]]
    assert [x for x in got["pool_reason"].to_list() if x] == ["over_limit"] * 3
    assert r.counts["over_cap_to_pool"] == 3 and r.counts["created"] == 8
    assert got["stage"].to_list() == ["raw"] * 3 + ["won"] + ["raw"] * 4     # a blank stage cell: a new customer


def test_the_command_line_s_unordered_write_keeps_ids_in_file_order_and_the_setting_as_it_was(company):
    con, boss = company.con, company.actor("boss")
    n = 3000
    f = rows(name=[f"客户{i}" for i in range(n)], phone=[f"139{i:08d}" for i in range(n)])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone"}, source="cli", sole_user=True)
    got = imported(con, r.batch_id)
    assert got.height == n and got["name"].to_list() == [f"客户{i}" for i in range(n)]   # ids ascend with the rows
    assert con.sql("SELECT current_setting('preserve_insertion_order')").fetchall() == [(True,)]


def test_custom_fields_and_value_mapping(company):
    con, boss = company.con, company.actor("boss")
    name = fields.save_field(con, boss, "customer", None, kind="text", label_en="Contract tier", label_zh="合同级别")
    f = rows(客户=["A", "B", "C"], 合同级别=["Gold", None, "Silver"], Status=["Won!", "won", "nonsense"])
    m = mapping.suggest(con, boss, "customers", None, f)
    assert m["客户"] == "name" and m["合同级别"] == name and m["Status"] == "stage"
    assert mapping.unknown_values(con, boss, "customers", f, m) == {"stage": ["Won!", "nonsense"]}
    r = engine.commit(con, boss, "customers", f, m, value_map={"stage": {"Won!": "won"}})
    got = imported(con, r.batch_id)
    assert got["stage"].to_list() == ["won", "won"]
    assert json.loads(got["custom"][0]) == {name: "Gold"} and got["custom"][1] is None
    assert r.counts["rejected"] == 1 and "not one of the options" in r.rejects["reason"][0]


def test_remembered_mapping_for_the_same_layout(company):
    con, boss = company.con, company.actor("boss")
    f = rows(col_a=["Acme"], col_b=["Retail"])
    assert mapping.suggest(con, boss, "customers", None, f) == {"col_a": None, "col_b": None}
    engine.commit(con, boss, "customers", f, {"col_a": "name", "col_b": "industry"})
    again = rows(col_b=["Food"], col_a=["Beta"])   # same headers, other order
    assert mapping.suggest(con, boss, "customers", None, again) == {"col_b": "industry", "col_a": "name"}
    mapping.save_mapping(con, boss, "my crm export", "customers", ["col_a", "col_b"], {"col_a": "name"})
    saved = {m["name"]: m for m in mapping.mappings(con, boss, "customers")}
    assert saved["my crm export"]["mapping"] == {"col_a": "name"}


def test_suggest_by_content(company):
    con, boss = company.con, company.actor("boss")
    f = rows(a=["Acme", "Beta"], b=["138 0013 9999", "13900001111"], c=["x@y.com", "z@w.cn"])
    m = mapping.suggest(con, boss, "customers", None, f)
    assert m["b"] == "phone" and m["c"] == "email"


def test_counts_balance_and_every_rejected_row_has_a_reason(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["A", "A", "", "B", "C", "D", "E", "F"],
             phone=["13900000001", "13900000001", "13900000009", "12", "13800130000", "13900000001", "13900000007",
                    None],
             email=[None, None, None, None, None, None, "bad@", "f@x.com"],
             owner=["rep_a"] * 8)
    p = engine.preview(con, boss, "customers", f, M)
    r = engine.commit(con, boss, "customers", f, M)
    assert balanced(r.counts) and r.counts["rows"] == 8
    assert [p.counts[k] for k in ("exact_dup", "dup_in_file", "dup_in_store", "invalid")] == [
        r.counts[k] for k in ("exact_dup", "dup_in_file", "dup_in_store", "rejected")]
    assert r.counts["created"] == 2 and r.rejects.height == 6
    assert r.rejects["reason"].null_count() == 0 and all(r.rejects["reason"].str.len_chars() > 5)
    stored = db.scalar(con, "SELECT count(*) FROM import_rejects WHERE import_id = ? AND reason <> ''", [r.batch_id])
    assert stored == 6
    batch = db.one(con, "SELECT status, rows_total, counts FROM imports WHERE id = ?", [r.batch_id])
    assert batch["status"] == "committed" and json.loads(batch["counts"])["created"] == 2


def test_preview_writes_nothing(company):
    con, boss = company.con, company.actor("boss")
    before = db.scalar(con, "SELECT count(*) FROM customers")
    f = rows(name=["A"], phone=["13900000001"], owner=["Someone New"])
    p = engine.preview(con, boss, "customers", f, {"name": "name", "phone": "phone", "owner": "owner"})
    assert p.counts["new"] == 1 and p.unknown_owners == ["Someone New"]
    assert db.scalar(con, "SELECT count(*) FROM customers") == before
    assert not db.scalar(con, "SELECT count(*) FROM users WHERE name = 'Someone New'")
    assert not db.scalar(con, "SELECT count(*) FROM imports")


def test_error_file_repeats_rows_with_reason_neutralised(company):
    con, boss = company.con, company.actor("boss")
    f = rows(name=["=HYPERLINK(\"x\")", "北京星河"], phone=["12", "13900000001"], note=["@SUM(1)", "ok"])
    r = engine.commit(con, boss, "customers", f, {"name": "name", "phone": "phone"})
    data = engine.error_file(r, "csv", "zh")
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0] == "name,phone,note,reason"
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text
    assert r.error_path and open(r.error_path, "rb").read().startswith(b"\xef\xbb\xbf")


def test_leads_and_contacts(company):
    con, boss = company.con, company.actor("boss")
    r = engine.commit(con, boss, "leads", rows(姓名=["王小明"], 公司=["星河科技"], 手机=["13900000011"]),
                      {"姓名": "name", "公司": "company", "手机": "phone"})
    assert r.counts["created"] == 1
    assert db.one(con, "SELECT name, company, phone_norm, status, owner_id FROM leads WHERE import_id = ?",
                  [r.batch_id]) == {"name": "王小明", "company": "星河科技", "phone_norm": "+8613900000011",
                                    "status": "new", "owner_id": company.users["boss"]}
    f = rows(customer=["Customer of rep_a", "No Such Co"], name=["Li", "Wu"], phone=["13900000021", "13900000022"])
    r = engine.commit(con, boss, "contacts", f, {"customer": "customer", "name": "name", "phone": "phone"})
    assert r.counts["created"] == 1 and r.counts["rejected"] == 1
    got = db.one(con, "SELECT customer_id, owner_id FROM contacts WHERE import_id = ?", [r.batch_id])
    assert got == {"customer_id": company.customers["rep_a"], "owner_id": company.users["rep_a"]}


def test_a_rep_cannot_import_without_the_permission_nor_give_rows_away(company):
    con = company.con
    from core.errors import PermissionDenied

    with pytest.raises((PermissionDenied, ValidationError)):
        engine.commit(con, company.actor("rep_a"), "customers", rows(name=["A"], owner=["rep_w"]),
                      {"name": "name", "owner": "owner"})
    assert not db.scalar(con, "SELECT count(*) FROM imports")
