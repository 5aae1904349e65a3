"""The command line: init for going live, backup and restore, and a clear word when the app holds
the database."""
import os
import subprocess
import sys

from core import auth, customers, db
from tests.conftest import ROOT


def run_cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_init_without_demo_creates_an_empty_crm_with_the_first_admin(tmp_path):
    path = tmp_path / "live.duckdb"
    done = run_cli("--path", str(path), "init", "--no-demo",
                   env={"CRM_ADMIN_USERNAME": "Chief", "CRM_ADMIN_NAME": "Chief Admin", "CRM_ADMIN_PASSWORD": "Go#live2026"})
    assert done.returncode == 0, done.stderr
    con = db.connect(path)
    assert auth.authenticate(con, "chief", "Go#live2026").role == "admin"
    assert db.scalar(con, "SELECT count(*) FROM customers") == 0
    con.close()
    again = run_cli("--path", str(path), "init", "--no-demo")
    assert again.returncode == 0 and "already initialised" in again.stdout


def test_init_refuses_a_weak_first_admin_password_with_the_reason(tmp_path):
    done = run_cli("--path", str(tmp_path / "x.duckdb"), "init", "--no-demo",
                   env={"CRM_ADMIN_USERNAME": "chief", "CRM_ADMIN_PASSWORD": "short"})
    assert done.returncode == 2 and "at least 8 characters" in done.stderr


def test_backup_and_restore_bring_back_what_was_there(tmp_path):
    path = tmp_path / "crm.duckdb"
    env = {"CRM_ADMIN_USERNAME": "chief", "CRM_ADMIN_PASSWORD": "Go#live2026"}
    assert run_cli("--path", str(path), "init", "--no-demo", env=env).returncode == 0
    con = db.connect(path)
    chief = auth.actor_for(con, "chief")
    kept = customers.create_customer(con, chief, {"name": "Kept Ltd", "phone": "13912345678"})
    con.close()
    backup = tmp_path / "b.duckdb"
    done = run_cli("--path", str(path), "backup", "--to", str(backup))
    assert done.returncode == 0, done.stderr
    con = db.connect(path)
    customers.update_customer(con, chief, kept, {"name": "Changed after backup"})
    con.close()
    done = run_cli("--path", str(path), "restore", str(backup))
    assert done.returncode == 0, done.stderr
    con = db.connect(path)
    assert customers.get_customer(con, chief, kept)["name"] == "Kept Ltd"
    con.close()
    assert list(tmp_path.glob("crm.duckdb.before-restore-*"))  # the replaced file is kept


def test_a_second_process_gets_a_clear_message_while_the_app_holds_the_database(tmp_path):
    path = tmp_path / "held.duckdb"
    db.connect(path).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(path)!r}); "
                               "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        done = run_cli("--path", str(path), "backup")
        assert done.returncode == 3
        assert "in use by the running app" in done.stderr and "Traceback" not in done.stderr
    finally:
        holder.kill()
