"""Issue 9, point 8: `python -m core import` runs the wizard's service from the command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import db, setup
from core.imports import mapping
from tests.conftest import build_company

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "crm.duckdb"
    c = db.connect(path)
    setup.prepare(c)
    company = build_company(c)
    c.close()
    return path, company


def run(path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CRM_DB": str(path), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", "import", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_import_prints_counts_and_undo(store, tmp_path):
    path, _company = store
    f = tmp_path / "客户.csv"
    f.write_text("客户名称,手机,负责人\n星河科技,13900000001,rep_a\n星河科技,13900000001,rep_a\n,13900000002,rep_a\n"
                 "Beta,13800130000,rep_b\nGamma,13900000003,王新人\n", encoding="utf-8-sig")
    dry = run(path, str(f), "--object", "customers", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    c = db.connect(path, read_only=True)
    assert not db.scalar(c, "SELECT count(*) FROM customers WHERE import_id IS NOT NULL")
    c.close()
    done = run(path, str(f), "--object", "customers")
    assert done.returncode == 0, done.stderr
    out = dict(line.split(": ", 1) for line in done.stdout.strip().splitlines())
    assert out["rows"] == "5" and out["created"] == "2" and out["exact duplicate rows"] == "1"
    assert out["duplicates in store"] == "1" and out["rejected"] == "1" and out["updated"] == "0"
    assert out["owners matching no user"] == "王新人"
    error_file = Path(out["error file"])
    assert error_file.parent == path.parent / "import_errors"
    text = error_file.read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0] == "客户名称,手机,负责人,reason" and len(text.splitlines()) == 4
    c = db.connect(path, read_only=True)
    assert db.one(c, "SELECT active FROM users WHERE name = '王新人'") == {"active": False}  # created, inactive
    c.close()
    undone = run(path, "--undo", out["batch id"], "--json")
    assert undone.returncode == 0, undone.stderr
    assert json.loads(undone.stdout)["deleted"] == 2
    again = run(path, "--undo", out["batch id"])
    assert again.returncode == 1 and "already been undone" in again.stderr


def test_map_json_on_duplicate_and_unknown_owners(store, tmp_path):
    path, _company = store
    f = tmp_path / "x.csv"
    f.write_text("A,B,C\nAcme,13800130000,Hangzhou\nNew Co,13900000009,Nobody\n", encoding="utf-8")
    done = run(path, str(f), "--object", "customers", "--map", "A=name", "--map", "B=phone", "--map", "C=owner",
               "--on-duplicate", "update", "--unknown-owners", "reject", "--json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["updated"], got["created"], got["rejected"]) == (1, 0, 1)
    assert got["unknown_owners"] == ["Nobody"] and got["batch_id"] and got["error_file"]


def test_saved_mapping_by_name_and_as_user(store, tmp_path):
    path, _company = store
    c = db.connect(path)
    from core import auth

    mapping.save_mapping(c, auth.actor_for(c, "boss"), "legacy", "leads", ["Full name", "Mobile"],
                         {"Full name": "name", "Mobile": "phone"})
    c.close()
    f = tmp_path / "leads.csv"
    f.write_text("Full name,Mobile\n王小明,13900000077\n", encoding="utf-8")
    done = run(path, str(f), "--object", "leads", "--mapping", "legacy", "--as", "mgr", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 1
    c = db.connect(path, read_only=True)
    assert db.one(c, "SELECT l.name, u.username FROM leads l JOIN users u ON u.id = l.owner_id "
                     "WHERE l.import_id IS NOT NULL") == {"name": "王小明", "username": "mgr"}
    c.close()
    bad = run(path, str(f), "--object", "leads", "--mapping", "nope")
    assert bad.returncode == 1 and "nope" in bad.stderr
