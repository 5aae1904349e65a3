"""Build the demo company at a scale into a DuckDB file and print the figures.

    python benchmarks/build_scale.py --scale L            # 1M customers, file deleted afterwards
    python benchmarks/build_scale.py --scale M --keep --path data/demo_m.duckdb

Prints plain `key: value` lines: build time, rows per table, file size after CHECKPOINT, peak memory,
and the customers-list and "my day" query times for "rep" and "manager".
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import demo, setup  # noqa: E402
from core.analytics import kpis  # noqa: E402
from core.auth import actor_for  # noqa: E402
from core.customers import list_customers  # noqa: E402
from core.db import connect  # noqa: E402


def _median_seconds(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_queries(con) -> None:
    """The customers list (first page, a deep page, a search) and the "my day" cards for a rep and a
    manager, each under that user's scope."""
    for username in ("rep", "manager"):
        actor = actor_for(con, username)
        _, total = list_customers(con, actor, page=0, page_size=50)
        deep = max((total - 1) // 50 - 1, 0)       # the second-to-last page
        first = _median_seconds(lambda: list_customers(con, actor, page=0, page_size=50))
        last = _median_seconds(lambda: list_customers(con, actor, page=deep, page_size=50))
        search = _median_seconds(lambda: list_customers(con, actor, {"q": "科技", "stage": ["intent"]}, page=0))
        day = _median_seconds(lambda: kpis.my_day(con, actor))
        print(f"list_customers_{username}_total: {total}")
        print(f"list_customers_{username}_page0_ms: {first * 1000:.1f}")
        print(f"list_customers_{username}_page{deep}_ms: {last * 1000:.1f}")
        print(f"list_customers_{username}_search_ms: {search * 1000:.1f}")
        print(f"my_day_{username}_ms: {day * 1000:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="L", help="XS, S, M, L or a number of customers (default L)")
    parser.add_argument("--path", help="database file (default: a new file under a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the database file")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    scale = int(args.scale) if args.scale.isdigit() else args.scale.upper()

    tmpdir = None
    if args.path:
        path = Path(args.path)
    else:
        tmpdir = tempfile.mkdtemp(prefix="crm-bench-")
        path = Path(tmpdir) / "demo.duckdb"
    for p in (path, Path(f"{path}.wal")):
        if p.exists():
            p.unlink()
    try:
        con = connect(path)
        setup.prepare(con)
        print(f"scale: {scale}")
        print(f"path: {path}")
        t0 = time.perf_counter()
        counts = demo.build(con, scale=scale, seed=args.seed)
        print(f"build_seconds: {time.perf_counter() - t0:.1f}")
        for table, count in sorted(counts.items()):
            print(f"rows_{table}: {count}")
        print(f"rows_total: {sum(counts.values())}")
        for key, seconds in demo.last_timings.items():
            print(f"seconds_{key}: {seconds:.2f}")
        con.execute("CHECKPOINT")
        size = path.stat().st_size + (Path(f"{path}.wal").stat().st_size if Path(f"{path}.wal").exists() else 0)
        print(f"db_size_mb: {size / 1e6:.1f}")
        print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
        time_queries(con)
        con.close()
    finally:
        if tmpdir and not args.keep:
            shutil.rmtree(tmpdir, ignore_errors=True)
        elif args.keep:
            print(f"kept: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
