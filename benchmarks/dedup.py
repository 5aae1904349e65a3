"""Duplicate check (查重) timings on a built demo file, core beside the raw SQL of the same lookups.

    cp /tmp/bench/L.duckdb /tmp/<you>/L.duckdb          # never the shared file: this one is written
    python benchmarks/dedup.py --path /tmp/<you>/L.duckdb [--runs 9] [--creates 15]

The file is opened as the app opens it (core.setup.prepare: migrations, then core.dedup.backfill fills
the name keys once; its time is printed as prepare_s). Each case checks the values of a NEW customer
(core.dedup.find, entity "customer") for the demo rep and for the admin:

  new_company          a company name not in the store, new phone and e-mail
  new_person_common    王秀英, the most common person name of the demo (~800 namesakes), new phone
  similar_company      an existing company's name with another place and legal form (上海 → 北京, 有限公司
                       → 股份有限公司), new phone
  same_phone           an existing customer's phone, full-width as a Chinese input method types it
  same_email           an existing customer's e-mail in upper case

"core" is find() end to end: normalise the input (Polars, pinyin), look up phone_keys and dedup_keys,
score with rapidfuzz, read the best records by id under the viewer's scope with their holders, score
them again on their current values. "raw" is the statements core runs, written by hand with the keys
given: phone_keys and dedup_keys by each key in one UNION ALL, then the matched records by id under the
scope, then their holders' names. For comparison, "scan_*" are the naive alternatives without keys: an e-mail by lower(trim())
over customers, leads and contacts, and a fuzzy name scan (jaro_winkler_similarity) over customers.
Last, create_customer with the guard, audit and keys (it writes to the file). Median of --runs.
Prints plain `key: value` lines.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import access, customers, db, dedup, setup  # noqa: E402
from core.auth import actor_for  # noqa: E402
from core.errors import DuplicateError  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402


def raw_lookup(con, actor, q: dedup._Query, matches) -> None:
    """The statements core runs, written by hand with the keys given: phone and keys in one UNION ALL,
    then per kind of record the matched rows by id under the scope, then their holders' names."""
    parts, params = [], []
    if q.phone:
        parts.append("SELECT -1 AS i, entity, entity_id, NULL AS chars, NULL AS pinyin FROM phone_keys "
                     "WHERE phone_norm = ?")
        params.append(q.phone)
    columns = {"e:": "NULL, NULL", "p:": "chars, NULL", "c:": "chars, pinyin"}  # a person key is its pinyin
    for i, key in enumerate(q.keys()):
        parts.append(f"SELECT {i}, entity, entity_id, {columns[key[:2]]} FROM dedup_keys WHERE key = ?")
        params.append(key)
    if parts:
        con.execute(" UNION ALL ".join(parts), params).fetchall()
    by_entity: dict[str, list[int]] = {}
    for m in matches:
        by_entity.setdefault(m.entity, []).append(m.id or 0)
    for entity, table, module in (("customer", "customers", "customers"), ("lead", "leads", "leads")):
        ids = by_entity.get(entity)
        if not ids:
            continue
        where, args = access.predicate_for_scope(actor, module, access.scope_of(con, actor, module, "view"), "x")
        rows = con.execute(
            f"SELECT x.id, x.name, x.email, x.owner_id, x.team_id, x.deleted_at, ({where}) FROM {table} x "
            f"WHERE x.id IN ({', '.join('?' for _ in ids)})", args + ids).fetchall()
        con.execute("SELECT 'u', id, name FROM users WHERE id IN (SELECT unnest(?)) UNION ALL "
                    "SELECT 't', id, name FROM teams WHERE id IN (SELECT unnest(?))",
                    [[r[3] for r in rows if r[3]], [r[4] for r in rows if r[4]]]).fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--creates", type=int, default=15)
    args = ap.parse_args()

    t0 = time.perf_counter()
    con = db.connect(args.path)
    setup.prepare(con)
    print(f"prepare_s: {time.perf_counter() - t0:.1f}")
    print(f"customers: {db.scalar(con, 'SELECT count(*) FROM customers')}")
    print(f"leads: {db.scalar(con, 'SELECT count(*) FROM leads')}")
    print(f"dedup_keys: {db.scalar(con, 'SELECT count(*) FROM dedup_keys')}")

    company = db.one(con, "SELECT name, phone_norm, email FROM customers WHERE kind = 'company' "
                          "AND name LIKE '上海%有限公司' AND name NOT LIKE '%股份%' AND email IS NOT NULL "
                          "ORDER BY id LIMIT 1")
    digits = company["phone_norm"][3:]
    full_width = "".join(chr(ord(d) + 0xFEE0) for d in digits)
    similar = "北京" + company["name"][2:-4] + "股份有限公司"
    cases = {
        "new_company": {"name": "杭州星河智能科技有限公司", "kind": "company", "phone": "13312345678",
                        "email": "hello@xinghe-ai.cn"},
        "new_person_common": {"name": "王秀英", "kind": "person", "phone": "13312345679"},
        "similar_company": {"name": similar, "kind": "company", "phone": "13312345670"},
        "same_phone": {"name": "New Name Ltd.", "kind": "company", "phone": full_width},
        "same_email": {"name": "Another Name Ltd.", "kind": "company", "email": company["email"].upper()},
    }
    for username in ("rep", "admin"):
        actor = actor_for(con, username)
        for case, values in cases.items():
            matches = dedup.find(con, actor, "customer", values)
            core_ms = median_ms(lambda: dedup.find(con, actor, "customer", values), args.runs)
            q = dedup._Query("customer", values)
            raw_ms = median_ms(lambda: raw_lookup(con, actor, q, matches), args.runs)
            top = matches[0] if matches else None
            print(f"{username}_{case}_matches: {len(matches)}{'+' if matches.more else ''}"
                  + (f" (best {top.score} {top.rules} {top.holder}{' in scope' if top.visible else ''})" if top else ""))
            print(f"{username}_{case}_core_ms: {core_ms:.1f}")
            print(f"{username}_{case}_raw_ms: {raw_ms:.1f}")

    email = company["email"]
    scan_email = ("SELECT 'customer', id FROM customers WHERE lower(trim(email)) = ? UNION ALL "
                  "SELECT 'lead', id FROM leads WHERE lower(trim(email)) = ? UNION ALL "
                  "SELECT 'contact', id FROM contacts WHERE lower(trim(email)) = ?")
    print(f"scan_email_ms: {median_ms(lambda: con.execute(scan_email, [email] * 3).fetchall(), args.runs):.1f}")
    scan_name = "SELECT id FROM customers WHERE jaro_winkler_similarity(name, ?) > 0.9"
    print(f"scan_fuzzy_name_ms: {median_ms(lambda: con.execute(scan_name, [similar]).fetchall(), 3):.1f}")

    if args.creates:
        rep = actor_for(con, "rep")
        times = []
        for i in range(args.creates):
            values = {"name": f"基准测试{i:03d}号科技有限公司", "phone": f"1331100{i:04d}",
                      "email": f"bench{i}@example.cn"}
            t0 = time.perf_counter()
            try:
                customers.create_customer(con, rep, values, confirmed=True)
            except DuplicateError:  # a second run on the same file: the numbers are taken
                pass
            times.append(time.perf_counter() - t0)
        print(f"create_customer_with_guard_ms: {statistics.median(times) * 1000:.1f}")


if __name__ == "__main__":
    main()
