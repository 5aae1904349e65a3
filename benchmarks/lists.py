"""Customers list timings on a built demo file, core beside the same result by a raw query.

    python benchmarks/build_scale.py --scale L --keep --path data/L.duckdb
    python benchmarks/lists.py --path data/L.duckdb [--runs 7]

For a rep, a manager and the admin: page 1, a deep page (the middle and the last), and a text search
with a stage filter, each sorted by last update. "core" is `core.customers.list_customers` (scope,
validation, count and page, owners and teams joined for the page rows); "raw" is the same result by one
hand-written statement with the scope inlined, run on the same file in the same run. Median of --runs.
Prints plain `key: value` lines.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import customers, db, listing  # noqa: E402
from core.auth import actor_for  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

RAW = """
WITH v AS MATERIALIZED ({visible})
SELECT (SELECT count(*) FROM v) AS total, c.id, c.name, c.phone, c.stage, o.name AS owner_name, t.name AS team_name
FROM (SELECT id FROM v ORDER BY k DESC NULLS LAST, id DESC LIMIT 50 OFFSET ?) p
JOIN customers c ON c.id = p.id LEFT JOIN users o ON o.id = c.owner_id LEFT JOIN teams t ON t.id = c.team_id
"""


def raw_visible(actor, search: bool, text: tuple[str, list] | None = None) -> tuple[str, list]:
    """The visible (id, sort key) pairs written by hand: the scope as disjoint branches. `text`: another
    search clause over alias c (the substring search of that text)."""
    cond = "c.deleted_at IS NULL"
    args: list = []
    if search:
        cond += " AND c.name LIKE ? AND c.stage IN ('intent')"  # Chinese text: names only, a substring search
        args = ["%科技%"]
    if text:
        cond += " AND " + text[0]
        args = list(text[1])
    if actor.role == "admin":
        return f"SELECT c.id, c.updated_at AS k FROM customers c WHERE {cond}", args
    if actor.role == "sales":
        return (f"SELECT c.id, c.updated_at AS k FROM customers c WHERE {cond} AND c.owner_id = ? UNION ALL "
                f"SELECT c.id, c.updated_at FROM customers c WHERE {cond} AND c.owner_id IS NULL AND c.team_id = ?",
                args + [actor.id] + args + [actor.team_id])
    teams = ", ".join(str(int(t)) for t in actor.team_tree)
    return (f"SELECT c.id, c.updated_at AS k FROM customers c WHERE {cond} AND c.team_id IN ({teams}) UNION ALL "
            f"SELECT c.id, c.updated_at FROM customers c WHERE {cond} AND c.owner_id = ? "
            f"AND (c.team_id IS NULL OR c.team_id NOT IN ({teams}))", args + args + [actor.id])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", required=True)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    con = db.connect(args.path)
    for username in ("rep", "manager", "admin"):
        actor = actor_for(con, username)
        _, total = customers.list_customers(con, actor)
        pages = max(1, -(-total // 50))
        print(f"{username}_visible: {total}")
        cases = {"page1": (0, False), "page_middle": (pages // 2, False), "page_last": (pages - 1, False),
                 "search_stage": (0, True)}
        for name, (page, search) in cases.items():
            filters = {"q": "科技", "stage": ["intent"]} if search else None
            core_ms = median_ms(lambda: customers.list_customers(con, actor, filters, page=page), args.runs)
            visible, params = raw_visible(actor, search)
            sql = RAW.format(visible=visible)
            raw_ms = median_ms(lambda: con.execute(sql, params + [page * 50]).fetchall(), args.runs)
            print(f"{username}_{name}_page{page + 1}_core_ms: {core_ms:.1f}")
            print(f"{username}_{name}_page{page + 1}_raw_ms: {raw_ms:.1f}")
        # other text, no other filter (core finds it by key, core.search; raw scans every row)
        for label, q in (("name", "王秀英"), ("company", "星河科技"), ("ascii", "tech"), ("phone", "1379595")):
            core_ms = median_ms(lambda: customers.list_customers(con, actor, {"q": q}), args.runs)
            where, wargs = listing.text_search(q)
            visible, params = raw_visible(actor, False, (where[0].replace("x.", "c."), wargs))
            sql = RAW.format(visible=visible)
            raw_ms = median_ms(lambda: con.execute(sql, params + [0]).fetchall(), args.runs)
            print(f"{username}_search_{label}_core_ms: {core_ms:.1f}")
            print(f"{username}_search_{label}_raw_ms: {raw_ms:.1f}")
    con.close()


if __name__ == "__main__":
    main()
