"""The command line: python -m core init | demo | backup | restore | purge

    python -m core init                  create the database with the demo company
    python -m core init --no-demo        an empty database for going live; asks for the first admin
                                         (or reads CRM_ADMIN_USERNAME, CRM_ADMIN_NAME, CRM_ADMIN_PASSWORD)
    python -m core demo --scale L        a fresh database with the demo company at scale XS|S|M|L or N customers
    python -m core backup [PATH]         a consistent copy of the database (PATH: a file or a folder)
    python -m core restore FILE          bring a backup back (the current file is kept beside it)
    python -m core handover --from USER --to USER [--dry-run]
                                         hand over everything a user holds (离职交接) and print the counts
    python -m core kpi --as USER [--from DATE --to DATE] [--compare previous|year] [--json]
                                         every KPI of the metrics layer as USER sees it, beside the
                                         comparison period (default: month to date, previous period)
    python -m core rfm --as USER [--asof DATE] [--months N] [--method quartile|quintile|bands] [--json]
                                         the RFM segment table (core.analytics.rfm.summary) as USER sees it
    python -m core report NAME --as USER [--format csv|json]
                                         a saved report (core.analytics.reports) run as USER sees it
    python -m core pool reclaim [--dry-run] [--json] [--now ISO]
                                         return customers not followed up in time to their team
                                         pools (回收) and print the moves by reason
    python -m core pool split --team ID [--team ID] (--ids FILE | --pool TEAM | --import ID) [--dry-run] [--json]
                                         the even split (平均分配) of records among the teams' reps
    python -m core pool refresh [--team ID] [--mode resort|redistribute] [--json]
                                         the weekly refresh of the team pools, now
    python -m core import FILE --object OBJ [--mapping NAME | --map COL=FIELD ...] [--dry-run]
           [--on-duplicate skip|update|create] [--unknown-owners create|pool|reject] [--as USER] [--json]
    python -m core import --undo BATCH   a file into the store (all or nothing) / undo a batch
"""
from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import shutil
import sys
import time
from pathlib import Path

from core import config, db, setup
from core.context import utcnow
from core.errors import CRMError, DatabaseBusy
from core.i18n import translate


def _say_busy(path: Path) -> int:
    print(translate("en", "error.db_busy", path=str(path)), file=sys.stderr)
    return 3


def cmd_init(args) -> int:
    path = Path(args.path or config.db_path())
    con = db.connect(path)
    setup.prepare(con)
    if not setup.is_empty(con):
        print(f"{path}: already initialised ({db.scalar(con, 'SELECT count(*) FROM users')} users); nothing to do.")
        return 0
    if args.no_demo:
        username = os.environ.get("CRM_ADMIN_USERNAME") or input("Admin username: ")
        name = os.environ.get("CRM_ADMIN_NAME") or (input("Admin full name: ") if sys.stdin.isatty() else username)
        password = os.environ.get("CRM_ADMIN_PASSWORD") or getpass.getpass("Admin password: ")
        try:
            setup.create_first_admin(con, username, name, password)
        except CRMError as exc:
            print(translate("en", exc.key, **exc.params), file=sys.stderr)
            return 2
        db.checkpoint(con)
        print(f"{path}: empty CRM ready; log in as '{username.strip().lower()}'.")
        return 0
    from core import demo

    started = time.perf_counter()
    counts = demo.build(con, args.scale)
    db.checkpoint(con)
    print(f"{path}: demo company at scale {args.scale} in {time.perf_counter() - started:.1f}s: "
          + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(demo_logins_text())
    return 0


def demo_logins_text() -> str:
    from core import demo

    lines = ["Demo logins (change the password at first login):"]
    lines += [f"  {role:<10} username: {user:<10} password: {demo.DEMO_PASSWORD}" for user, role in demo.DEMO_LOGINS]
    return "\n".join(lines)


def cmd_demo(args) -> int:
    path = Path(args.path or config.db_path())
    if path.exists():
        if not args.reset:
            print(f"{path} exists. Use --reset to replace it with a fresh demo database "
                  f"(it is kept as {path.name}.before-demo), or --path for another file.", file=sys.stderr)
            return 2
        db.connect(path).close()  # refuses with a clear message while the app holds it
        shutil.move(path, path.with_name(path.name + ".before-demo"))
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            shutil.move(wal, path.with_name(path.name + ".before-demo.wal"))
    started = time.perf_counter()
    con = db.connect(path)
    setup.prepare(con)
    from core import demo

    counts = demo.build(con, args.scale)
    db.checkpoint(con)
    con.close()
    took = time.perf_counter() - started
    print(f"built {path} at scale {args.scale} in {took:.1f}s ({path.stat().st_size / 1e6:.0f} MB)")
    for table, n in counts.items():
        print(f"  {table:<22}{n:>12,}")
    print(demo_logins_text())
    return 0


def cmd_backup(args) -> int:
    from core import backup

    path = Path(args.path or config.db_path())
    if not path.exists():
        print(f"{path} does not exist.", file=sys.stderr)
        return 2
    target = args.to or args.dest
    try:
        written = backup.backup_file(path, Path(target) if target else None)
    except DatabaseBusy as exc:  # the app holds the file: back up from its admin page, or stop it
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 3
    except CRMError as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 2
    print(f"backup written: {written} ({written.stat().st_size / 1e6:.1f} MB)")
    return 0


def backup_to(con, dest: Path) -> None:
    """A consistent copy of the open database into a new file (kept for callers: core.backup.backup)."""
    from core import backup

    backup.backup(con, dest)


def cmd_restore(args) -> int:
    from core import backup

    path = Path(args.path or config.db_path())
    try:
        print(backup.restore(Path(args.file), path))
    except DatabaseBusy as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 3
    except CRMError as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 2
    return 0


def cmd_handover(args) -> int:
    """Everything one user holds to another (离职交接), as the system administrator."""
    import dataclasses

    from core import handover
    from core.context import SYSTEM

    path = Path(args.path or config.db_path())
    if not path.exists():
        print(f"{path} does not exist.", file=sys.stderr)
        return 2
    con = db.connect(path)
    try:
        setup.prepare(con)
        ids = {}
        for side, username in (("from", args.from_user), ("to", args.to_user)):
            ids[side] = db.scalar(con, "SELECT id FROM users WHERE username = ? AND deleted_at IS NULL",
                                  [username.strip().lower()])
            if ids[side] is None:
                print(f"{username}: {translate('en', 'org.user_not_found')}", file=sys.stderr)
                return 2
        actor = dataclasses.replace(SYSTEM, now=utcnow())
        if args.dry_run:
            counts = handover.preview(con, actor, ids["from"], ids["to"])
            print(f"would hand over from {args.from_user} to {args.to_user} (dry run, nothing changed):")
        else:
            counts = handover.handover(con, actor, ids["from"], ids["to"])
            print(f"handed over from {args.from_user} to {args.to_user}:")
        for table, n in counts.items():
            print(f"  {table:<12}{n:>10,}")
        return 0
    except CRMError as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 2
    finally:
        con.close()


class _Stop(Exception):
    """A command ends here with this exit code (its message already printed)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@contextlib.contextmanager
def _as_user(args, read_only: bool = True):
    """The database of --path (or $CRM_DB) opened and the user of --as: yields (con, actor, language). A missing
    file or an unknown user ends the command with a message and exit 2, as does anything core refuses."""
    from core import auth

    path = Path(args.path or config.db_path())
    if not path.exists():
        print(f"{path} does not exist.", file=sys.stderr)
        raise _Stop(2)
    con = db.connect(path, read_only=read_only)
    try:
        try:
            actor = auth.actor_for(con, args.as_user, utcnow())
        except CRMError:
            print(f"{args.as_user}: {translate('en', 'org.user_not_found')}", file=sys.stderr)
            raise _Stop(2) from None
        yield con, actor, (actor.language if actor.language in ("en", "zh") else "en")
    except CRMError as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        raise _Stop(2) from None
    finally:
        con.close()


def cmd_kpi(args) -> int:
    """Every KPI of core.analytics.metrics for one user and period (the functions the pages call)."""
    import json

    from core.analytics import metrics

    with _as_user(args) as (con, actor, lang):
        if args.date_from is None and args.date_to is None:
            period = metrics.month_to_date(con, actor)
        else:
            today = metrics.month_to_date(con, actor).end
            period = metrics.period(args.date_from or today, args.date_to or today)
        figures = metrics.compute(con, actor, period, None, args.compare)
        if args.json:
            print(json.dumps({"user": actor.username, "compare": args.compare,
                              "figures": [f.as_dict() for f in figures]}, ensure_ascii=False, default=str))
            return 0
        prev = figures[0].compared if figures else None
        print(f"{actor.username}: {period.start} .. {period.end}"
              + (f"  vs  {prev.start} .. {prev.end} ({args.compare})" if prev else ""))
        width = max(len(translate(lang, f.label_key)) for f in figures) + 2
        for f in figures:
            change = "" if f.delta is None else (f"{f.delta:+.1f}%" if f.delta_kind == "pct"
                                                 else _kpi_text(f.delta, f.unit, signed=True))
            print(f"  {translate(lang, f.label_key):<{width}}{_kpi_text(f.value, f.unit):>16}"
                  f"{_kpi_text(f.previous, f.unit):>16}  {change}")
        return 0


def cmd_pool_reclaim(args) -> int:
    """The reclaim run (回收) as the system, now or at --now; --dry-run changes nothing; prints the moves by
    reason (or JSON for scripts)."""
    import dataclasses
    import datetime as dt
    import json

    from core import reclaim
    from core.context import SYSTEM

    path = Path(args.path or config.db_path())
    if not path.exists():
        print(translate("en", "reclaim.cli_not_found", path=str(path)), file=sys.stderr)
        return 2
    try:
        now = dt.datetime.fromisoformat(args.now).replace(tzinfo=None) if args.now else utcnow()
    except ValueError:
        print(translate("en", "reclaim.cli_bad_now"), file=sys.stderr)
        return 2
    con = db.connect(path)
    try:
        setup.prepare(con)
        done = reclaim.run(con, dataclasses.replace(SYSTEM, now=now), dry_run=args.dry_run, source="cli")
        if args.json:
            moves = done["moves"].select("customer_id", "name", "owner_id", "owner_name", "team_id", "reason",
                                         "detail", "due_day")
            print(json.dumps({"dry_run": bool(args.dry_run), "now": now.isoformat(), "moved": done["moved"],
                              "by_reason": done["by_reason"], "run_id": done["run_id"],
                              "moves": moves.to_dicts()}, ensure_ascii=False, default=str))
            return 0
        key = "reclaim.cli_would_move" if args.dry_run else "reclaim.cli_moved"
        print(translate("en", key, n=f"{done['moved']:,}", run_id=done["run_id"]))
        for reason, n in done["by_reason"].items():
            print("  " + translate("en", "reclaim.cli_reason", reason=translate("en", f"pool.reason.{reason}"),
                                   n=f"{n:,}"))
        return 0
    except CRMError as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 2
    finally:
        con.close()


def cmd_rfm(args) -> int:
    """The RFM segment table of core.analytics.rfm for one user (the function the RFM page calls)."""
    import json

    from core.analytics import rfm

    with _as_user(args) as (con, actor, lang):
        asof, months, method = rfm._inputs(con, actor, args.asof, args.months, args.method)
        table = rfm.summary(con, actor, asof, months, method)
        if args.json:
            print(json.dumps({"user": actor.username, "asof": asof.isoformat(), "months": months, "method": method,
                              "segments": table.to_dicts()}, ensure_ascii=False, default=str))
            return 0
        print(f"{actor.username}: {translate(lang, 'rfm.asof')} {asof}, {translate(lang, 'rfm.months')} {months}, "
              f"{translate(lang, 'rfm.method.' + method)}")
        cols = ("customers", "share", "revenue", "avg_order_value", "mean_recency", "mean_frequency", "mean_monetary")
        names = [translate(lang, f"rfm.segment.{code}") for code in table["segment"]]
        width = max(len(n) for n in names) + 2
        print(f"  {translate(lang, 'rfm.col.segment'):<{width}}"
              + "".join(f"{translate(lang, 'rfm.col.' + c):>22}" for c in cols))
        for name, row in zip(names, table.iter_rows(named=True)):
            cells = [_kpi_text(row["customers"], "count"), _kpi_text(row["share"], "ratio"),
                     _kpi_text(row["revenue"], "money"), _kpi_text(row["avg_order_value"], "money"),
                     _kpi_text(row["mean_recency"], "days"), _kpi_text(row["mean_frequency"], "days"),
                     _kpi_text(row["mean_monetary"], "money")]
            print(f"  {name:<{width}}" + "".join(f"{c:>22}" for c in cells))
        return 0


def cmd_report(args) -> int:
    """A saved report (core.analytics.reports) run as a user: CSV with the column headings in the user's
    language (formula-like text cells neutralised, as exports do), or JSON {report, user, columns, rows}."""
    import json

    import polars as pl

    from core import export
    from core.analytics import reports

    with _as_user(args) as (con, actor, lang):
        try:
            found = reports.by_name(con, actor, args.name)
            frame = reports.run(con, actor, found["definition"])
            heads = reports.labels(con, actor, found["definition"], lang)
        except CRMError as exc:
            print(translate(lang, exc.key, **exc.params), file=sys.stderr)
            return 2
        if args.format == "json":
            print(json.dumps({"report": found["name"], "user": actor.username,
                              "columns": [{"name": c, "label": heads.get(c, c)} for c in frame.columns],
                              "rows": frame.to_dicts()}, ensure_ascii=False, default=str))
            return 0
        frame = frame.with_columns([export.neutralise(pl.col(c)) for c, t in frame.schema.items() if t == pl.String])
        frame = frame.rename({c: heads.get(c, c) for c in frame.columns})
        sys.stdout.write(frame.write_csv(null_value=""))
        return 0


def _kpi_text(value, unit: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if unit == "ratio":
        return f"{value * 100:{sign},.1f}%" if not signed else f"{value * 100:+.1f} pt"
    if unit in ("count", "money"):
        return f"{value:{sign},.0f}" if float(value).is_integer() or unit == "money" else f"{value:{sign},.1f}"
    return f"{value:{sign},.1f}"


def cmd_import(args) -> int:
    """A file into the store through the same service as the wizard (core.imports.engine), or --undo BATCH."""
    import json

    from core import auth
    from core.imports import engine

    path = Path(args.path or config.db_path())
    if not path.exists():
        print(f"{path} does not exist.", file=sys.stderr)
        return 2
    con = db.connect(path)
    try:
        setup.prepare(con)
        engine.fill_keys(con)  # keys of a big batch whose run was stopped right after its commit
        # a big file: DuckDB spills its staging tables to disk beyond this instead of growing (the 2 GB target)
        limit = os.environ.get("CRM_IMPORT_MEMORY", "1200MB").strip().upper()
        con.execute(f"SET memory_limit = '{limit if limit[:-2].isdigit() and limit[-2:] in ('MB', 'GB') else '1200MB'}'")  # sql-ok
        username = args.as_user or db.scalar(con, "SELECT username FROM users WHERE role = 'admin' AND active "
                                                  "AND deleted_at IS NULL ORDER BY id LIMIT 1")
        try:
            actor = auth.actor_for(con, username or "", utcnow())
        except CRMError:
            print(f"{username}: {translate('en', 'org.user_not_found')}", file=sys.stderr)
            return 2
        lang = actor.language if actor.language in ("en", "zh") else "en"
        try:
            if args.undo is not None:
                done = engine.undo(con, actor, args.undo)
                if args.json:
                    print(json.dumps(done))
                else:
                    print(translate(lang, "import.cli_undone", batch=done["batch_id"], deleted=done["deleted"],
                                    restored=done["restored"]))
                return 0
            if not args.file or not args.object:
                print(translate(lang, "import.cli_no_file"), file=sys.stderr)
                return 2
            maps = {}
            for item in args.map or []:
                column, _, field = item.partition("=")
                maps[column.strip()] = field.strip() or None
            options = {"on_duplicate": args.on_duplicate, "unknown_owners": args.unknown_owners}
            options = {k: v for k, v in options.items() if v is not None}
            def progress(done: float, step: str) -> None:  # on stderr: stdout stays the result (or the JSON)
                print(f"{int(done * 100):3d}% {step}", file=sys.stderr, flush=True)

            found = engine.run_file(con, actor, args.file, args.object, mapping_name=args.mapping, maps=maps or None,
                                    dry_run=args.dry_run, options=options, progress=progress, source="cli",
                                    keys_later=True, sole_user=True)
        except CRMError as exc:
            print(translate(lang, exc.key, **getattr(exc, "params", {})), file=sys.stderr)
            return 1
        counts = dict(found.counts)
        batch = getattr(found, "batch_id", None)
        error_path = getattr(found, "error_path", None)
        if args.dry_run and found.rejects.height:  # a dry run's error file, beside the database
            error_path = str(path.resolve().parent / "import_errors" / f"dry-run-{utcnow():%Y%m%d-%H%M%S}.csv")
            Path(error_path).parent.mkdir(parents=True, exist_ok=True)
            Path(error_path).write_bytes(engine.error_file(found, "csv", lang))
        if not args.dry_run:
            counts.setdefault("created", 0)
        else:
            counts["created"], counts["updated"] = counts.get("new", 0), counts.get("update", 0)
        keys_later = batch is not None and engine.keys_pending(con, batch)
        if args.json:
            print(json.dumps({"dry_run": bool(args.dry_run), "batch_id": batch, "error_file": error_path, **counts,
                              "search_keys_pending": keys_later,
                              "unknown_owners": list(getattr(found, "unknown_owners", []) or [])},
                             ensure_ascii=False))
            return 0
        if args.dry_run:
            print(translate(lang, "import.cli_dry_run"))
        for key in ("rows", "created", "updated", "dup_in_file", "dup_in_store", "rejected", "exact_dup"):
            print(f"{translate(lang, 'import.cli_' + key)}: {counts.get(key, 0)}")
        owners = list(getattr(found, "unknown_owners", []) or [])
        if owners:
            print(f"{translate(lang, 'import.cli_unknown_owners')}: {', '.join(owners)}")
        print(f"{translate(lang, 'import.cli_batch')}: {batch if batch is not None else '-'}")
        print(f"{translate(lang, 'import.cli_error_file')}: {error_path or '-'}")
        if keys_later:
            print(translate(lang, "import.cli_keys_later"))
        return 0
    finally:
        con.close()


def _pool_con(args):
    path = Path(args.path or config.db_path())
    if not path.exists():
        print(f"{path} does not exist.", file=sys.stderr)
        return None
    con = db.connect(path)
    setup.prepare(con)
    return con


def _read_ids(file: str) -> list[int]:
    import re

    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    return [int(x) for x in re.findall(r"\d+", text)]


def cmd_pool_split(args) -> int:
    """The even split as the system administrator; prints what went where and why the rest stayed."""
    import dataclasses
    import json

    from core import pool
    from core.context import SYSTEM

    con = _pool_con(args)
    if con is None:
        return 2
    try:
        actor = dataclasses.replace(SYSTEM, now=utcnow())
        source = {"ids": _read_ids(args.ids)} if args.ids else (
            {"pool_team_id": args.pool} if args.pool is not None else {"import_id": args.import_id})
        got = pool.split(con, actor, team_ids=args.team, dry_run=args.dry_run, **source)
        if args.json:
            print(json.dumps(got, ensure_ascii=False, default=str))
            return 0
        print(translate("en", "pool.cli_split", requested=got["requested"], assigned=got["assigned"],
                        left=got["left_in_pool"], weighting=got["weighting"])
              + (" " + translate("en", "pool.cli_dry_run") if args.dry_run else ""))
        names = dict(con.execute("SELECT id, name FROM users").fetchall())
        for uid, n in sorted(got["per_rep"].items(), key=lambda kv: -kv[1]):
            print(f"  {names.get(uid, uid)}: {n:,}")
        for uid, why in got["skipped_reps"].items():
            print(f"  {names.get(uid, uid)}: {translate('en', 'pool.skip.' + why)}")
        for why, n in got["reasons"].items():
            print(f"  {translate('en', 'pool.left.' + why)}: {n:,}")
        return 0
    except CRMError as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 2
    finally:
        con.close()


def cmd_pool_refresh(args) -> int:
    """The weekly refresh of the team pools, now (as the scheduler runs it)."""
    import json

    from core import pool

    con = _pool_con(args)
    if con is None:
        return 2
    try:
        got = pool.refresh(con, utcnow(), team_ids=args.team, mode=args.mode)
        if args.json:
            print(json.dumps(got, ensure_ascii=False, default=str))
        else:
            print(translate("en", "pool.cli_refresh", mode=got["mode"], teams=got["teams"], ranked=got["ranked"],
                            assigned=got["assigned"]))
        return 0
    except CRMError as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 2
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", help="database file (default: $CRM_DB or data/crm.duckdb)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="create the database")
    p.add_argument("--no-demo", action="store_true", help="start empty, with a first admin")
    p.add_argument("--scale", default="S")
    p.set_defaults(fn=cmd_init)
    p = sub.add_parser("demo", help="build the demo company")
    p.add_argument("--scale", default="S", help="XS, S (10k customers), M (100k), L (1M) or a number of customers")
    p.add_argument("--reset", action="store_true", help="replace an existing database file")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("backup", help="consistent copy of the database")
    p.add_argument("dest", nargs="?", help="the backup file or a folder (default: backups/ beside the database)")
    p.add_argument("--to", help="the same as DEST")
    p.set_defaults(fn=cmd_backup)
    p = sub.add_parser("restore", help="bring a backup back")
    p.add_argument("file")
    p.set_defaults(fn=cmd_restore)
    p = sub.add_parser("handover", help="hand over everything a user holds to another user")
    p.add_argument("--from", dest="from_user", required=True, help="username of the user who leaves")
    p.add_argument("--to", dest="to_user", required=True, help="username of the user who takes over")
    p.add_argument("--dry-run", action="store_true", help="only print what would move")
    p.set_defaults(fn=cmd_handover)
    p = sub.add_parser("kpi", help="print every KPI for a user and a period")
    p.add_argument("--as", dest="as_user", required=True, help="username whose view (scope) the figures take")
    p.add_argument("--from", dest="date_from", help="first day, YYYY-MM-DD (company days)")
    p.add_argument("--to", dest="date_to", help="last day, YYYY-MM-DD (included)")
    p.add_argument("--compare", choices=("previous", "year"), default="previous",
                   help="previous period of the same length, or the same period last year")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.set_defaults(fn=cmd_kpi)
    p = sub.add_parser("rfm", help="print the RFM segment table for a user")
    p.add_argument("--as", dest="as_user", required=True, help="username whose view (scope) the figures take")
    p.add_argument("--asof", help="as-of day, YYYY-MM-DD (default: today)")
    p.add_argument("--months", type=int, help="window in months (default: setting analytics.rfm_window_months)")
    p.add_argument("--method", choices=("quartile", "quintile", "bands"), help="default: setting analytics.rfm_method")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.set_defaults(fn=cmd_rfm)
    p = sub.add_parser("report", help="print a saved report for a user")
    p.add_argument("name", help="the saved report's name (one the user may open)")
    p.add_argument("--as", dest="as_user", required=True, help="username whose view (scope, fields) the report takes")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("pool", help="the shared pool (公海): split, refresh, reclaim")
    pool_sub = p.add_subparsers(dest="pool_command", required=True)  # add further pool commands to pool_sub
    q = pool_sub.add_parser("split", help="share records evenly among the reps of the teams")
    q.add_argument("--team", type=int, action="append", required=True, help="a team whose reps receive records")
    group = q.add_mutually_exclusive_group(required=True)
    group.add_argument("--ids", help="file of customer ids (any separators; - for stdin)")
    group.add_argument("--pool", type=int, help="split the pool of this team")
    group.add_argument("--import", dest="import_id", type=int, help="split the customers of this import")
    q.add_argument("--dry-run", action="store_true", help="only print what would happen")
    q.add_argument("--json", action="store_true", help="JSON for scripts")
    q.set_defaults(fn=cmd_pool_split)
    q = pool_sub.add_parser("refresh", help="refresh the team pools now (re-sort or redistribute)")
    q.add_argument("--team", type=int, action="append", help="only this team's pool (repeatable)")
    q.add_argument("--mode", choices=("resort", "redistribute"), help="default: the setting pool.refresh_mode")
    q.add_argument("--json", action="store_true", help="JSON for scripts")
    q.set_defaults(fn=cmd_pool_refresh)
    q = pool_sub.add_parser("reclaim", help="return customers not followed up in time to their team pools")
    q.add_argument("--dry-run", action="store_true", help="only print what would move")
    q.add_argument("--json", action="store_true", help="JSON for scripts")
    q.add_argument("--now", help="run as of this UTC date and time (ISO, e.g. 2026-10-20T02:00)")
    q.set_defaults(fn=cmd_pool_reclaim)
    p = sub.add_parser("import", help="import a file (customers, leads, contacts ...) or undo a batch")
    p.add_argument("file", nargs="?", help="CSV or Excel file")
    p.add_argument("--object", help="customers | leads | contacts | deals ...")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--mapping", help="a saved mapping's name")
    group.add_argument("--map", action="append", metavar="COLUMN=FIELD", help="map a column to a field (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="check and count only; nothing is written")
    p.add_argument("--on-duplicate", choices=("skip", "update", "create"), help="default: skip")
    p.add_argument("--unknown-owners", choices=("create", "pool", "reject"),
                   help="owners matching no user: create them inactive (default), give rows to the pool, or reject")
    p.add_argument("--as", dest="as_user", help="username who imports (default: the first admin)")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.add_argument("--undo", metavar="BATCH", help="undo an import batch")
    p.set_defaults(fn=cmd_import)
    args = parser.parse_args(argv)
    if getattr(args, "scale", None) and str(args.scale).isdigit():
        args.scale = int(args.scale)
    try:
        return args.fn(args)
    except _Stop as stop:
        return stop.code
    except DatabaseBusy as exc:
        print(translate("en", exc.key, **exc.params), file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
