"""Backups of the database: a consistent copy while the app runs, the list of copies, restore, and the
daily backup with its retention.

- `backup(con, dest)`: `COPY FROM DATABASE` of the open database into a new attached file. The copy is
  one statement, so one transaction: it sees one snapshot of every table, whatever other cursors write
  meanwhile. It is written under a `.part` name and renamed when complete, so an interrupted backup
  never looks like one. Default: `backups/` beside the database file, named `crm-YYYYMMDD-HHMMSS.duckdb`
  (UTC); the daily job's copies are named `crm-auto-…` and only those are ever deleted by retention.
- `restore(source, db_path)` (the command line, app stopped): checks the file is a CRM backup of a
  schema this code knows, keeps the current file beside it (`<name>.before-restore-<stamp>`), puts the
  copy in its place and migrates it forward. While the app holds the file: `DatabaseBusy` with a
  message that says to stop the app or to restore from the admin page.
- `restore_in_app(con, actor, source)` (the admin page, app running): the app's connection cannot let go
  of its file, so the backup's rows are copied back into the open database instead: the backup is
  first copied aside and migrated forward to the current schema, a safety backup of the current data
  is written (`crm-before-restore-…`, never deleted by retention), then every table's rows are
  replaced by the backup's in ONE unit of work (all or nothing; other users see the old data until it
  commits, the restored data after), and the id sequences are moved past the restored ids.
- `backup_job(con, now)`: the scheduled daily copy at `backup.at` (company time), once per company
  day, when `backup.daily` is on; then the automatic copies older than `backup.keep_days` go.
"""
from __future__ import annotations

import datetime as dt
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import duckdb

from core import access, audit, clock, config, db, settings
from core.context import Actor, utcnow
from core.errors import DatabaseBusy, NotFound, ValidationError
from core.i18n import translate

STAMP = "%Y%m%d-%H%M%S"
MANUAL, AUTO, SAFETY = "crm-", "crm-auto-", "crm-before-restore-"
_NAME = re.compile(r"^crm-(?:(auto|before-restore)-)?(\d{8}-\d{6})(?:-\d+)?\.duckdb$")
SETTING_KEYS = ("backup.daily", "backup.at", "backup.keep_days")


# ------------------------------------------------------------------------------------------ where
def db_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file of the open database (None in memory)."""
    path = db.scalar(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    return Path(path) if path else None


def folder_for(db_path: str | Path) -> Path:
    """Where the backups of a database file go: `backups/` beside it."""
    return Path(db_path).resolve().parent / "backups"


def folder_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    path = db_file(con)
    return folder_for(path) if path else None


def _name(now: dt.datetime, prefix: str, folder: Path) -> Path:
    base = f"{prefix}{now:{STAMP}}"
    dest, n = folder / f"{base}.duckdb", 2
    while dest.exists():  # two backups in one second
        dest, n = folder / f"{base}-{n}.duckdb", n + 1
    return dest


def _when(path: Path) -> dt.datetime:
    """The backup's time (naive UTC): from its name, else the file's modification time."""
    m = _NAME.match(path.name)
    if m:
        return dt.datetime.strptime(m.group(2), STAMP)
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).replace(tzinfo=None)


def _kind(path: Path) -> str:
    m = _NAME.match(path.name)
    if not m:
        return "manual"
    return {"auto": "auto", "before-restore": "safety"}.get(m.group(1) or "", "manual")


# ------------------------------------------------------------------------------------------ backup
def backup(con: duckdb.DuckDBPyConnection, dest: str | Path | None = None, *, actor: Actor | None = None,
           auto: bool = False, now: dt.datetime | None = None, prefix: str | None = None) -> Path:
    """A consistent copy of the open database into a new file (see the module doc). `dest`: a file, a
    folder, or None (the default folder). With `actor`: the admin's action (settings/edit), audited."""
    if actor is not None:
        access.require(con, actor, "settings", "edit")
    now = now or (actor.now if actor is not None else None) or utcnow()
    dest, part = _target(dest, now, prefix or (AUTO if auto else MANUAL), folder_of(con))
    name = db.scalar(con, "SELECT current_database()")
    alias = f"crm_backup_{uuid.uuid4().hex[:12]}"
    try:
        con.execute("CHECKPOINT")  # smaller copy source; refused while other transactions run: not needed
    except duckdb.Error:
        pass
    con.execute(f"ATTACH ? AS {alias}", [str(part)])  # sql-ok: generated alias
    try:
        con.execute(f'COPY FROM DATABASE "{name}" TO {alias}')  # sql-ok: the database's own name
    except BaseException:
        con.execute(f"DETACH {alias}")  # sql-ok
        part.unlink(missing_ok=True)
        raise
    con.execute(f"DETACH {alias}")  # sql-ok
    part.rename(dest)
    if actor is not None:
        db.write(con, lambda: audit.record(con, actor, "backup", "database", None,
                                           {"file": (None, dest.name)}))
    return dest


def _target(dest: str | Path | None, now: dt.datetime, prefix: str, folder: Path | None) -> tuple[Path, Path]:
    """The backup's file (a new name in `folder` when `dest` is None or a folder) and its `.part` name."""
    if dest is None:
        if folder is None:
            raise ValidationError("backup.no_folder")
        dest = _name(now, prefix, folder)
    else:
        dest = Path(dest)
        if dest.is_dir():
            dest = _name(now, prefix, dest)
        elif dest.exists():
            raise ValidationError("backup.exists", path=str(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for stale in (part, part.with_name(part.name + ".wal")):
        stale.unlink(missing_ok=True)
    return dest, part


def backup_file(db_path: str | Path, dest: str | Path | None = None, now: dt.datetime | None = None) -> Path:
    """The command line's backup, the app stopped: this process opens the file alone (DatabaseBusy
    "backup.app_running" while the app holds it), checkpoints it and copies the file while holding it,
    so nobody writes meanwhile: the same consistent copy as `backup`, at the speed of a file copy
    (COPY FROM DATABASE rebuilds every table and index: measured ~100 s at scale L against seconds)."""
    db_path = Path(db_path)
    try:
        con = db.connect(db_path)
    except DatabaseBusy:
        raise DatabaseBusy("backup.app_running", path=str(db_path)) from None
    try:
        dest, part = _target(dest, now or utcnow(), MANUAL, folder_for(db_path))
        db.checkpoint(con)  # everything in the file itself, the write-ahead log empty
        shutil.copyfile(db_path, part)
    finally:
        con.close()
    try:
        inspect(part)  # the copy opens and is a CRM store
    except Exception:
        part.unlink(missing_ok=True)
        raise
    part.rename(dest)
    return dest


# ------------------------------------------------------------------------------------------ list
def inspect(path: str | Path) -> int:
    """The schema version of a CRM backup file; ValidationError when it is none (or unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise NotFound("backup.not_found", path=path.name)
    try:
        check = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise DatabaseBusy("backup.source_busy", path=path.name) from exc
        raise ValidationError("backup.not_a_backup", path=path.name) from exc
    except duckdb.Error as exc:
        raise ValidationError("backup.not_a_backup", path=path.name) from exc
    try:
        tables = {r[0] for r in check.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")
                  .fetchall()}
        if not {"schema_migrations", "users", "settings", "customers"} <= tables:
            raise ValidationError("backup.not_a_backup", path=path.name)
        version = check.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0]
    except duckdb.Error as exc:
        raise ValidationError("backup.not_a_backup", path=path.name) from exc
    finally:
        check.close()
    if version is None:
        raise ValidationError("backup.not_a_backup", path=path.name)
    if version > latest_version():
        raise ValidationError("backup.too_new", path=path.name, version=version, known=latest_version())
    return int(version)


def latest_version() -> int:
    found = [int(m.group(1)) for f in db.MIGRATIONS.glob("*.sql") if (m := re.match(r"(\d+)_", f.name))]
    return max(found, default=0)


def backups(folder: str | Path | None = None, versions: bool = True) -> list[dict]:
    """The backups in a folder (default: the app's), newest first: name, path, size (bytes), time
    (naive UTC), kind (manual | auto | safety) and schema version (None when the file is no CRM backup
    or cannot be read now)."""
    folder = Path(folder) if folder is not None else folder_for(config.db_path())
    if not folder.is_dir():
        return []
    out = []
    for path in folder.glob("*.duckdb"):
        if not path.is_file() or path.name.startswith("."):  # .restore-… : a restore's working copy
            continue
        version = None
        if versions:
            try:
                version = inspect(path)
            except Exception:  # noqa: BLE001 - listed, marked as unreadable
                version = None
        out.append({"name": path.name, "path": path, "size": path.stat().st_size, "time": _when(path),
                    "kind": _kind(path), "version": version})
    out.sort(key=lambda b: (b["time"], b["name"]), reverse=True)
    return out


def find(con: duckdb.DuckDBPyConnection, name: str) -> Path:
    """A backup of the app's folder by its file name (never a path elsewhere)."""
    folder = folder_of(con)
    if folder is None or not isinstance(name, str) or Path(name).name != name or not name.endswith(".duckdb"):
        raise NotFound("backup.not_found", path=str(name))
    path = folder / name
    if not path.is_file():
        raise NotFound("backup.not_found", path=name)
    return path


# ------------------------------------------------------------------------------------------ restore
def _move_aside(path: Path, suffix: str) -> Path:
    keep = path.with_name(f"{path.name}.{suffix}")
    shutil.move(path, keep)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        shutil.move(wal, keep.with_name(keep.name + ".wal"))
    return keep


def restore(source: str | Path, db_path: str | Path, lang: str = "en", now: dt.datetime | None = None) -> str:
    """Put a backup in the place of the database file (the app stopped); returns what was done, in
    `lang`. The current file is kept beside it; an older backup is migrated forward."""
    from core import setup

    source, db_path = Path(source), Path(db_path)
    version = inspect(source)
    if source.resolve() == db_path.resolve():
        raise ValidationError("backup.same_file", path=source.name)
    now = now or utcnow()
    kept = None
    if db_path.exists():
        try:
            db.connect(db_path).close()
        except DatabaseBusy:
            raise DatabaseBusy("backup.restore_busy", path=str(db_path)) from None
        kept = _move_aside(db_path, f"before-restore-{now:{STAMP}}")
    part = db_path.with_name(db_path.name + ".restoring")
    shutil.copyfile(source, part)
    part.rename(db_path)
    con = db.connect(db_path)
    try:
        setup.prepare(con)  # a backup of an older version is migrated forward
        db.checkpoint(con)
        now_version = db.scalar(con, "SELECT max(version) FROM schema_migrations")
    finally:
        con.close()
    if kept is None:
        return translate(lang, "backup.restored_new", file=source.name, version=version, now=now_version)
    return translate(lang, "backup.restored_file", file=source.name, version=version, now=now_version,
                     kept=kept.name)


def restore_in_app(con: duckdb.DuckDBPyConnection, actor: Actor, source: str | Path) -> dict:
    """Replace every table's rows by a backup's, in the running app (see the module doc). Returns
    {file, version, tables, rows, safety} (safety: the backup of the data just replaced)."""
    from core import setup

    access.require(con, actor, "settings", "edit")
    source = Path(source)
    version = inspect(source)
    folder = folder_of(con)
    if folder is None:
        raise ValidationError("backup.no_folder")
    folder.mkdir(parents=True, exist_ok=True)
    # the backup, copied aside and brought to the current schema (never touching the original)
    staged = folder / f".restore-{uuid.uuid4().hex[:12]}.duckdb"
    shutil.copyfile(source, staged)
    alias = f"crm_restore_{uuid.uuid4().hex[:12]}"
    attached = False
    try:
        other = db.connect(staged)
        try:
            setup.prepare(other)
            db.checkpoint(other)
        finally:
            other.close()
        safety = backup(con, prefix=SAFETY, now=actor.now)
        con.execute(f"ATTACH ? AS {alias} (READ_ONLY)", [str(staged)])  # sql-ok: generated alias
        attached = True
        mine = db.scalar(con, "SELECT current_database()")
        cols = _columns(con, mine)
        theirs = _columns(con, alias)
        tables = sorted(t for t in cols if t in theirs)

        def work() -> int:
            total = 0
            for table in tables:
                common = [c for c in cols[table] if c in set(theirs[table])]
                names = ", ".join(f'"{c}"' for c in common)
                con.execute(f'DELETE FROM "{table}"')  # sql-ok: names from the catalogue
                con.execute(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM {alias}.main."{table}"')  # sql-ok
            for table in tables:
                total += db.scalar(con, f'SELECT count(*) FROM "{table}"')  # sql-ok
            return total

        rows = db.write(con, work)
    finally:
        if attached:
            try:
                con.execute(f"DETACH {alias}")  # sql-ok
            except duckdb.Error:
                pass
        for f in (staged, staged.with_name(staged.name + ".wal")):
            f.unlink(missing_ok=True)
    db.reset_sequences(con, [t for t in db.ID_TABLES if t in tables])  # new ids come after the restored ones
    db.write(con, lambda: audit.record(con, actor, "restore", "database", None, {"file": (None, source.name)}))
    return {"file": source.name, "version": version, "tables": len(tables), "rows": rows, "safety": safety.name}


def _columns(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = 'main' "
            "AND table_name IN (SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND NOT temporary) "
            "ORDER BY table_name, column_index", [database, database]).fetchall():
        found.setdefault(table, []).append(column)
    return found


# ------------------------------------------------------------------------------------------ daily
def _at(value: Any) -> dt.time:
    """backup.at as a time of day ("03:00"); ValidationError for anything else."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(value or ""))
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValidationError("backup.bad_time", value=str(value)[:20])
    return dt.time(int(m.group(1)), int(m.group(2)))


def save_settings(con: duckdb.DuckDBPyConnection, actor: Actor, daily: bool, at: str, keep_days: int) -> int:
    """The admin's daily-backup settings (checked first, then saved); returns how many changed."""
    access.require(con, actor, "settings", "edit")
    at_time = _at(at)
    values = {"backup.daily": bool(daily), "backup.at": f"{at_time:%H:%M}", "backup.keep_days": keep_days}
    for key, value in values.items():
        settings.coerce(key, value)  # every value checked before any is saved
    changed = 0
    current = settings.get_many(con, list(values))

    def work() -> int:
        n = 0
        for key, value in values.items():
            if settings.coerce(key, value) != current[key]:
                settings.set_value(con, actor, key, value)
                n += 1
        return n

    changed = db.write(con, work)
    return changed


def prune(folder: Path, now: dt.datetime, keep_days: int) -> list[str]:
    """Delete the automatic backups older than `keep_days` days; manual and safety copies stay."""
    cutoff = now - dt.timedelta(days=keep_days)
    gone = []
    for b in backups(folder, versions=False):
        if b["kind"] == "auto" and b["time"] < cutoff:
            b["path"].unlink(missing_ok=True)
            gone.append(b["name"])
    return gone


def backup_job(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> dict | None:
    """The scheduled daily backup: at or after backup.at (company time), once per company day (a day
    with an automatic backup already is not backed up again), when backup.daily is on; then retention.
    Returns {file, deleted} or None when there was nothing to do."""
    conf = settings.get_many(con, list(SETTING_KEYS))
    folder = folder_of(con)
    if not conf["backup.daily"] or folder is None:
        return None
    try:
        at = _at(conf["backup.at"])
    except ValidationError:
        at = dt.time(3, 0)
    local = clock.to_local(con, now)
    if local.time() < at:
        return None
    start, end = clock.day_bounds_utc(con, local.date())
    made = [b for b in backups(folder, versions=False) if b["kind"] == "auto" and start <= b["time"] < end]
    if made:
        return None
    path = backup(con, auto=True, now=now)
    deleted = prune(folder, now, int(conf["backup.keep_days"]))
    return {"file": path.name, "deleted": deleted}
