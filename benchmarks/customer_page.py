"""The customer page in core at scale L: everything the record page reads for one customer (the
record, may-edit / may-delete, field definitions, the follow-up status, contacts, the timeline with
200 items: the calls views/customers.py and ui/customer_panels.py make),
and a customer create with the duplicate guard, audit and phone key.

    python benchmarks/timeline.py --path /tmp/me/L.duckdb --runs 3   # adds the 200 items once
    python benchmarks/customer_page.py --path /tmp/me/L.duckdb [--runs 9]

Median of --runs; prints plain `key: value` lines.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import activities, contacts, customers, db, fields, setup, timeline  # noqa: E402
from core.auth import actor_for  # noqa: E402
from core.context import utcnow  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402


def page(con, actor, cid) -> None:
    customers.get_customer(con, actor, cid)
    customers.allowed(con, actor, cid, "edit")
    customers.allowed(con, actor, cid, "delete")
    fields.definitions(con, "customer", actor.role, "edit")
    activities.followup_status(con, actor, cid)
    contacts.list_contacts(con, actor, cid)
    timeline.customer_timeline(con, actor, cid, limit=200)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--customer", type=int, help="the customer (default: the rep's with the most follow-ups)")
    args = ap.parse_args()
    con = db.connect(args.path)
    setup.prepare(con)
    rep = actor_for(con, "rep")
    cid = args.customer or db.scalar(
        con, "SELECT x.customer_id FROM activities x JOIN customers c ON c.id = x.customer_id "
             "WHERE c.owner_id = ? GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", [rep.id])
    items = len(timeline.customer_timeline(con, actor_for(con, "admin"), cid, limit=1000))
    print(f"customer: {cid}")
    print(f"timeline_items: {items}")
    for username in ("rep", "manager", "admin"):
        actor = actor_for(con, username)
        try:
            customers.get_customer(con, actor, cid)
        except Exception:  # noqa: BLE001 - not in this user's scope: skip
            continue
        print(f"customer_page_{username}_core_ms: {median_ms(lambda: page(con, actor, cid), args.runs):.1f}")
    rnd = random.Random()  # fresh values each run: the file keeps what earlier runs created

    def create():
        i = rnd.randrange(10**8)
        me = dataclasses.replace(rep, now=utcnow())
        customers.create_customer(con, me, {"name": f"基准测试{i:08d}有限公司", "phone": f"139{i:08d}",
                                            "email": f"bench{i}@bench-example.cn", "city": "上海"})

    print(f"create_customer_with_guard_ms: {median_ms(create, args.runs * 3):.1f}")
    con.close()


if __name__ == "__main__":
    main()
