"""Issue 9, point 5: a commit is all or nothing: a `python -m core import` killed midway (SIGKILL) leaves no
row of the batch and a store that opens fine; an exception during the commit leaves nothing either."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from core import db, setup
from core.imports import engine
from tests.conftest import build_company

ROOT = Path(__file__).resolve().parents[2]


def _store(folder: Path) -> Path:
    path = folder / "crm.duckdb"
    c = db.connect(path)
    setup.prepare(c)
    build_company(c)
    c.close()
    return path


def _snapshot(con) -> dict:
    return {t: db.scalar(con, f"SELECT count(*) FROM {t}") for t in
            ("customers", "phone_keys", "users", "imports", "import_rejects", "audit_log", "search_keys", "dedup_keys")}


def test_sigkill_midway_leaves_no_row_of_the_batch(tmp_path):
    path = _store(tmp_path)
    n = 150_000
    big = tmp_path / "big.csv"
    pl.DataFrame({"name": [f"Company {i}" for i in range(n)], "phone": [f"139{i:08d}" for i in range(n)],
                  "email": [f"u{i}@example.com" for i in range(n)]}).write_csv(big)
    c = db.connect(path)
    before = _snapshot(c)
    c.close()
    env = {**os.environ, "CRM_DB": str(path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "core", "import", str(big), "--object", "customers"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    deadline = time.time() + 300
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line.strip())
        if line.strip().endswith("write"):   # inside the unit of work, writing the records
            time.sleep(0.2)
            break
    assert proc.poll() is None, f"the import ended before it could be killed: {seen}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    c = db.connect(path)   # opens fine (the write-ahead log of an unfinished transaction is dropped)
    try:
        setup.prepare(c)
        assert not db.scalar(c, "SELECT count(*) FROM customers WHERE import_id IS NOT NULL")
        assert _snapshot(c) == before
    finally:
        c.close()
    # and the same file imports in full afterwards
    done = subprocess.run([sys.executable, "-m", "core", "import", str(big), "--object", "customers", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    import json

    assert json.loads(done.stdout)["created"] == n


def test_an_exception_during_commit_leaves_nothing(company, monkeypatch):
    con, boss = company.con, company.actor("boss")
    before = _snapshot(con)
    frame = pl.DataFrame({"name": ["A", "B"], "phone": ["13900000001", "13900000002"],
                          "owner": ["New Person", "rep_a"]}).with_columns(_row=pl.int_range(2, 4, dtype=pl.Int64))

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine, "_keys_new", boom)   # after the records, phone keys and new users are written
    with pytest.raises(RuntimeError):
        engine.commit(con, boss, "customers", frame, {"name": "name", "phone": "phone", "owner": "owner"})
    assert _snapshot(con) == before
    assert not db.scalar(con, "SELECT count(*) FROM users WHERE name = 'New Person'")
    monkeypatch.undo()
    r = engine.commit(con, boss, "customers", frame, {"name": "name", "phone": "phone", "owner": "owner"})
    assert r.counts["created"] == 2
