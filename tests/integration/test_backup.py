"""Backups (core/backup.py): a consistent copy while other cursors write, restore from the command line
(the app stopped) and inside the running app, a clear message when the app holds the file, and the
daily backup with its retention."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading

import duckdb
import pytest

from core import backup, customers, db, scheduler, settings, setup
from core.errors import DatabaseBusy, PermissionDenied, ValidationError
from tests.conftest import ROOT, build_company


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ}, timeout=timeout)


@pytest.fixture
def filed(tmp_path):
    """The small company on a file (backups go to tmp_path/backups)."""
    c = db.connect(tmp_path / "crm.duckdb")
    setup.prepare(c)
    company = build_company(c)
    yield company
    c.close()


def test_a_backup_taken_while_another_cursor_writes_is_one_consistent_moment(filed, tmp_path):
    c = filed.con
    c.execute("CREATE TABLE pair_a (id INTEGER)")
    c.execute("CREATE TABLE pair_b (id INTEGER)")
    stop, errors = threading.Event(), []

    def writer():  # each unit writes one row to both tables: a consistent copy has as many in each
        cur = c.cursor()
        i = 0
        try:
            while not stop.is_set():
                i += 1
                db.write(cur, lambda: (cur.execute("INSERT INTO pair_a VALUES (?)", [i]),
                                       cur.execute("INSERT INTO pair_b VALUES (?)", [i])))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            cur.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while db.scalar(c, "SELECT count(*) FROM pair_a") < 50:
            pass
        copies = [backup.backup(c.cursor()) for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    assert not errors
    for path in copies:
        assert path.parent == tmp_path / "backups" and path.name.startswith("crm-")
        check = duckdb.connect(str(path), read_only=True)
        a, b = check.execute("SELECT (SELECT count(*) FROM pair_a), (SELECT count(*) FROM pair_b)").fetchall()[0]
        assert a == b and a >= 50
        assert check.execute("SELECT count(*) FROM customers").fetchall()[0][0] == 6
        check.close()
    assert not list((tmp_path / "backups").glob("*.part*"))  # no half-written file left
    listed = backup.backups(tmp_path / "backups")
    assert {b["name"] for b in listed} == {p.name for p in copies}
    assert all(b["version"] == backup.latest_version() and b["size"] > 0 and b["kind"] == "manual" for b in listed)


def test_restore_brings_the_data_back_and_keeps_the_replaced_file(filed, tmp_path):
    c, boss = filed.con, filed.actor("boss")
    kept_id = filed.customers["rep_a"]
    copy = backup.backup(c, tmp_path / "before.duckdb")
    customers.update_customer(c, boss, kept_id, {"name": "Changed after the backup"})
    c.close()
    said = backup.restore(copy, tmp_path / "crm.duckdb")
    assert "before-restore" in said
    again = db.connect(tmp_path / "crm.duckdb")
    assert customers.get_customer(again, boss, kept_id)["name"] == "Customer of rep_a"
    # new records get new ids (the sequences came with the copy)
    new_id = customers.create_customer(again, boss, {"name": "After restore", "phone": "13912340000"})
    assert new_id > max(filed.customers.values())
    again.close()
    kept = list(tmp_path.glob("crm.duckdb.before-restore-*"))
    assert len(kept) == 1
    old = duckdb.connect(str(kept[0]), read_only=True)
    assert old.execute("SELECT name FROM customers WHERE id = ?", [kept_id]).fetchall()[0][0] == "Changed after the backup"
    old.close()
    filed.con = db.connect(tmp_path / "crm.duckdb")  # the fixture closes it


def test_restore_refuses_a_file_that_is_no_crm_backup(tmp_path):
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE x (a INT)").close()
    (tmp_path / "text.duckdb").write_text("hello")
    for bad in (other, tmp_path / "text.duckdb"):
        with pytest.raises(ValidationError) as err:
            backup.restore(bad, tmp_path / "crm.duckdb")
        assert err.value.key == "backup.not_a_backup"
    assert not (tmp_path / "crm.duckdb").exists()


def test_an_older_backup_is_migrated_forward_on_restore(tmp_path, monkeypatch):
    import shutil

    files = sorted(db.MIGRATIONS.glob("*.sql"))
    older = tmp_path / "older_migrations"
    older.mkdir()
    for f in files[:-1]:
        shutil.copy(f, older / f.name)
    monkeypatch.setattr(db, "MIGRATIONS", older)  # a store made by the previous version
    old = db.connect(tmp_path / "old.duckdb")
    db.migrate(old)
    old.close()
    monkeypatch.undo()
    assert backup.inspect(tmp_path / "old.duckdb") == backup.latest_version() - 1
    said = backup.restore(tmp_path / "old.duckdb", tmp_path / "crm.duckdb")
    assert f"now {backup.latest_version()}" in said
    again = db.connect(tmp_path / "crm.duckdb")
    assert db.scalar(again, "SELECT max(version) FROM schema_migrations") == backup.latest_version()
    again.close()


def test_a_backup_of_a_newer_version_is_refused(filed, tmp_path):
    copy = backup.backup(filed.con, tmp_path / "new.duckdb")
    newer = duckdb.connect(str(copy))
    newer.execute("INSERT INTO schema_migrations VALUES (999, '999_future.sql', now()::TIMESTAMP)")
    newer.close()
    with pytest.raises(ValidationError) as err:
        backup.restore_in_app(filed.con, filed.actor("boss"), copy)
    assert err.value.key == "backup.too_new"


def test_restore_in_the_running_app_replaces_the_rows_and_keeps_a_safety_copy(filed, tmp_path):
    c, boss = filed.con, filed.actor("boss")
    kept_id = filed.customers["rep_a"]
    copy = backup.backup(c)
    customers.update_customer(c, boss, kept_id, {"name": "Changed after the backup"})
    late = customers.create_customer(c, boss, {"name": "Made after the backup", "phone": "13912345670"})
    reader = c.cursor()  # another user's cursor of the same connection, open all along
    done = backup.restore_in_app(c, boss, copy)
    assert done["tables"] > 20 and done["rows"] > 0
    assert customers.get_customer(reader, boss, kept_id)["name"] == "Customer of rep_a"
    assert db.scalar(reader, "SELECT count(*) FROM customers WHERE id = ?", [late]) == 0
    # the phone of the record that is gone is free again, and new ids do not collide
    again = customers.create_customer(reader, boss, {"name": "New one", "phone": "13912345670"})
    assert again > late
    safety = tmp_path / "backups" / done["safety"]
    assert backup.backups(tmp_path / "backups")[0]["kind"] in ("safety", "manual")
    old = duckdb.connect(str(safety), read_only=True)
    assert old.execute("SELECT count(*) FROM customers WHERE id = ?", [late]).fetchall()[0][0] == 1
    old.close()
    assert db.scalar(c, "SELECT count(*) FROM audit_log WHERE action = 'restore' AND entity = 'database'") == 1


def test_only_who_may_edit_the_settings_backs_up_or_restores_in_the_app(filed):
    c = filed.con
    copy = backup.backup(c)
    with pytest.raises(PermissionDenied):
        backup.backup(c, actor=filed.actor("mgr"))
    with pytest.raises(PermissionDenied):
        backup.restore_in_app(c, filed.actor("mgr"), copy)


def hold(path):
    """Another process holding the database file, as the running app does."""
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(path)!r}); "
                               "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    return holder


def test_the_command_line_says_what_to_do_when_the_app_holds_the_file(filed, tmp_path):
    path = tmp_path / "crm.duckdb"
    copy = backup.backup(filed.con, tmp_path / "copy.duckdb")
    filed.con.close()
    holder = hold(path)
    try:
        done = run_cli("--path", str(path), "backup", str(tmp_path / "x.duckdb"))
        assert done.returncode == 3 and "Traceback" not in done.stderr
        assert "in use by the running app" in done.stderr and "admin page" in done.stderr
        done = run_cli("--path", str(path), "restore", str(copy))
        assert done.returncode == 3 and "Traceback" not in done.stderr
        assert "stop the app" in done.stderr and "admin page" in done.stderr
        with pytest.raises(DatabaseBusy):
            backup.restore(copy, path)
    finally:
        holder.kill()
        holder.wait()
    assert not list(tmp_path.glob("crm.duckdb.before-restore-*"))  # nothing was moved
    filed.con = db.connect(path)


def test_the_command_line_takes_a_path_or_a_folder(filed, tmp_path):
    path = tmp_path / "crm.duckdb"
    filed.con.close()
    done = run_cli("--path", str(path), "backup", str(tmp_path / "named.duckdb"))
    assert done.returncode == 0, done.stderr
    assert backup.inspect(tmp_path / "named.duckdb") == backup.latest_version()
    (tmp_path / "elsewhere").mkdir()
    done = run_cli("--path", str(path), "backup", str(tmp_path / "elsewhere"))
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "elsewhere").glob("crm-*.duckdb"))) == 1
    done = run_cli("--path", str(path), "backup", str(tmp_path / "named.duckdb"))
    assert done.returncode == 2 and "exists already" in done.stderr
    done = run_cli("--path", str(path), "restore", str(tmp_path / "named.duckdb"))
    assert done.returncode == 0 and "Restored named.duckdb" in done.stdout, done.stderr
    filed.con = db.connect(path)


def at_local(c, hour: int, minute: int = 0, day: dt.date = dt.date(2026, 11, 23)) -> dt.datetime:
    from core import clock

    return clock.to_utc(c, dt.datetime.combine(day, dt.time(hour, minute)))


def test_the_daily_backup_runs_once_a_day_after_its_time_and_deletes_old_daily_copies_only(filed, tmp_path):
    c, boss = filed.con, filed.actor("boss")
    folder = tmp_path / "backups"
    backup.save_settings(c, boss, True, "03:00", 3)
    manual_old = backup.backup(c, now=at_local(c, 12, day=dt.date(2026, 11, 1)))  # a manual copy, long ago
    assert backup.backup_job(c, at_local(c, 2, 59)) is None  # not yet
    first = backup.backup_job(c, at_local(c, 3, 0))
    assert first and first["file"].startswith("crm-auto-")
    assert backup.backup_job(c, at_local(c, 3, 5)) is None  # once a day
    assert backup.backup_job(c, at_local(c, 23, 55)) is None
    days = [dt.date(2026, 11, 23) + dt.timedelta(days=n) for n in range(1, 6)]
    for day in days:
        assert backup.backup_job(c, at_local(c, 4, day=day))["file"].startswith("crm-auto-")
    autos = sorted(b["time"] for b in backup.backups(folder, versions=False) if b["kind"] == "auto")
    # kept: the copies of the last 3 days (the one made exactly 3 days ago included)
    assert len(autos) == 4 and min(autos) >= at_local(c, 4, day=days[-1]) - dt.timedelta(days=3)
    assert manual_old.exists()  # manual copies are never deleted by retention
    settings.set_value(c, boss, "backup.daily", False)
    assert backup.backup_job(c, at_local(c, 4, day=days[-1] + dt.timedelta(days=1))) is None


def test_the_daily_backup_is_a_job_of_the_apps_scheduler(filed, tmp_path):
    c = filed.con
    job = next(j for j in scheduler.default_jobs() if j.name == "backup_daily")
    sched = scheduler.Scheduler(c, jobs=[job], now=lambda: at_local(c, 9))
    sched.run_one(job, c.cursor())
    assert sched.status()["backup_daily"]["failures"] == 0, sched.status()
    assert len(list((tmp_path / "backups").glob("crm-auto-*.duckdb"))) == 1


def test_the_daily_time_must_be_a_time_of_day(filed):
    with pytest.raises(ValidationError) as err:
        backup.save_settings(filed.con, filed.actor("boss"), True, "25:00", 14)
    assert err.value.key == "backup.bad_time"
    assert settings.get(filed.con, "backup.at") == "03:00"
