"""Soak: many threads create, edit, delete and restore customers through the core services on one
database file, as the app runs (one connection, a cursor per thread), then the store is checked.

    python benchmarks/soak.py                       # 50 threads x 60 s on a temporary file
    python benchmarks/soak.py --threads 10 --seconds 10 --path /tmp/soak.duckdb

Each (shared customer, field) pair belongs to one thread (so "the last acknowledged write" of it is
well defined; threads still edit the same rows at once, each its own fields) and the delete/restore state of the shared customers whose id falls to it; creates
use fresh phones, and some reuse a phone on purpose (a DuplicateError is the right answer). The
checks: no exception but the project's typed errors; every acknowledged create present with its
values; every acknowledged edit still visible; the bin state as last acknowledged; audit rows equal
to the acknowledged writes; one phone key per phone, pointing at its holder.
Prints plain `key: value` lines.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import auth, customers, db, recycle, setup  # noqa: E402
from core.context import utcnow  # noqa: E402
from core.errors import CRMError, DuplicateError  # noqa: E402

FIELDS = ("industry", "country", "province", "city", "district", "address", "postal_code",
          "email", "employees")
SHARED = 40


def _value(field: str, n: int, thread: int) -> object:
    if field == "employees":
        return thread * 10_000 + n % 10_000
    if field == "email":
        return f"t{thread}.n{n}@soak.example"
    return f"{field[:3]}-{thread}-{n}"


def prepare(path: str) -> tuple:
    con = db.connect(path)
    setup.prepare(con)
    setup.create_first_admin(con, "soak", "Soak Admin", "Soak#2026pw")
    admin = auth.actor_for(con, "soak")
    shared = [customers.create_customer(con, admin, {"name": f"Shared {i}", "phone": f"1391234{i:04d}"})
              for i in range(SHARED)]
    return con, admin, shared


def run(path: str, threads: int, seconds: float, seed: int = 7) -> dict:
    con, admin, shared = prepare(path)
    start_audit = db.scalar(con, "SELECT coalesce(max(id), 0) FROM audit_log")
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    result = {"ops": Counter(), "typed": Counter(), "untyped": [], "creates": {}, "last": {}, "binned": {},
              "audit_expected": 0}

    def worker(i: int) -> None:
        cur = con.cursor()
        rnd = random.Random(seed * 1000 + i)
        pairs = [(cid, f) for k, (cid, f) in enumerate((cid, f) for cid in shared for f in FIELDS) if k % threads == i]
        mine_bin = [cid for cid in shared if cid % threads == i]
        n, audit_rows = 0, 0
        creates, last, binned = {}, {}, {}
        ops, typed = Counter(), Counter()
        while time.monotonic() < stop_at:
            n += 1
            me = dataclasses.replace(admin, now=utcnow())
            roll = rnd.random()
            try:
                if roll < 0.25:
                    phone = f"1{rnd.choice(('38', '39', '86', '88', '58'))}{rnd.randrange(10**8):08d}"
                    if rnd.random() < 0.1:
                        phone = f"1391234{rnd.randrange(SHARED):04d}"  # someone else's: must be refused
                    values = {"name": f"Soak {i}-{n}", "phone": phone, "city": f"city-{i}-{n}"}
                    cid = customers.create_customer(cur, me, values)
                    creates[cid] = values
                    audit_rows += 3
                    ops["create"] += 1
                elif roll < 0.85 and pairs:
                    cid, field = rnd.choice(pairs)
                    value = _value(field, n, i)
                    diff = customers.update_customer(cur, me, cid, {field: value})
                    last[(cid, field)] = value
                    audit_rows += len(diff)
                    ops["update"] += 1
                elif mine_bin:
                    cid = rnd.choice(mine_bin)
                    if binned.get(cid):
                        done = recycle.restore(cur, me, "customer", [cid])
                        binned[cid] = False
                        ops["restore"] += 1
                    else:
                        done = recycle.delete(cur, me, "customer", [cid])
                        binned[cid] = True
                        ops["delete"] += 1
                    audit_rows += done
            except DuplicateError:
                typed["DuplicateError"] += 1
            except CRMError as exc:
                typed[f"{type(exc).__name__} {exc.key}"] += 1
            except Exception:  # noqa: BLE001 - counted: the soak's first figure
                with lock:
                    result["untyped"].append(traceback.format_exc(limit=3))
        with lock:
            result["ops"].update(ops)
            result["typed"].update(typed)
            result["creates"].update(creates)
            result["last"].update(last)
            result["binned"].update(binned)
            result["audit_expected"] += audit_rows
        cur.close()

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - t0
    return {**check(con, result, start_audit), "elapsed_s": elapsed, "threads": threads,
            "ops": dict(result["ops"]), "typed_errors": dict(result["typed"]),
            "untyped_errors": result["untyped"],
            "throughput_ops_per_s": sum(result["ops"].values()) / elapsed}


def check(con, result: dict, start_audit: int) -> dict:
    rows = {r[0]: r for r in con.execute(
        "SELECT id, name, phone, city, phone_norm, deleted_at IS NOT NULL FROM customers").fetchall()}
    missing_creates = [cid for cid, v in result["creates"].items()
                       if cid not in rows or rows[cid][1] != v["name"] or rows[cid][3] != v["city"]]
    cols = {f: i for i, f in enumerate(FIELDS)}
    current = {r[0]: r[1:] for r in con.execute(
        f"SELECT id, {', '.join(FIELDS)} FROM customers").fetchall()}  # fixed column list
    lost_updates = [(cid, f) for (cid, f), v in result["last"].items() if current[cid][cols[f]] != v]
    wrong_bin = [cid for cid, b in result["binned"].items() if rows[cid][5] != b]
    audit_rows = db.scalar(con, "SELECT count(*) FROM audit_log WHERE id > ?", [start_audit])
    keys = con.execute("SELECT phone_norm, entity, entity_id FROM phone_keys").fetchall()
    key_of = {k[0]: (k[1], k[2]) for k in keys}
    bad_keys = [p for p, (e, i) in key_of.items() if e != "customer" or i not in rows or rows[i][4] != p]
    holders = Counter(r[4] for r in rows.values() if r[4])
    unkeyed = [p for p, count in holders.items() if count != 1 or key_of.get(p) is None]
    return {"acknowledged_creates": len(result["creates"]), "missing_creates": len(missing_creates),
            "acknowledged_field_updates": len(result["last"]), "lost_updates": len(lost_updates),
            "wrong_bin_state": len(wrong_bin), "audit_rows": audit_rows,
            "audit_rows_expected": result["audit_expected"], "phone_keys": len(keys),
            "bad_phone_keys": len(bad_keys), "phones_without_one_key": len(unkeyed)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--path")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or str(Path(tmp) / "soak.duckdb")
        out = run(path, args.threads, args.seconds)
    for key, value in out.items():
        if key == "untyped_errors":
            print(f"untyped_errors: {len(value)}")
            for text in value[:5]:
                print("  " + text.replace("\n", "\n  "))
        elif isinstance(value, float):
            print(f"{key}: {value:.1f}")
        else:
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
