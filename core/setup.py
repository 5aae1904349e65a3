"""Opening the store: migrations, default permissions, and the demo company on first start."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from core import access, audit, db, dedup, search
from core.auth import check_password_policy, hash_password
from core.context import Actor, utcnow


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Migrate and seed what every database needs (idempotent)."""
    db.migrate(con)
    from core import sla

    sla.ensure_calendar(con)  # the SLA clock's working calendar (rebuilt when its settings change)
    access.seed_defaults(con)
    dedup.backfill(con)  # name keys of rows older than migration 004 (pinyin is computed in Python)
    search.backfill(con)  # search keys of rows older than migration 007
    from core.imports import presets

    presets.install_presets(con)  # the saved mappings of the real data files (--mapping maven_pipeline ...)


def is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    return not db.scalar(con, "SELECT count(*) FROM users")


def open_database(path: str | Path, demo_scale: str | int | None = "S") -> tuple[duckdb.DuckDBPyConnection, dict | None]:
    """Open (creating) the database. A new, empty one gets the demo company when `demo_scale` is set.
    Returns the connection and the demo's row counts when it was just built."""
    con = db.connect(path)
    prepare(con)
    built = None
    if demo_scale is not None and is_empty(con):
        from core import demo

        built = demo.build(con, demo_scale)
        db.checkpoint(con)
    return con, built


def create_first_admin(con: duckdb.DuckDBPyConnection, username: str, name: str, password: str,
                       now: dt.datetime | None = None) -> int:
    """A company going live: an empty store with one admin (who need not change this password)."""
    from core.errors import ValidationError

    now = now or utcnow()
    username = (username or "").strip().lower()
    if not username or not (name or "").strip():
        raise ValidationError("error.required", field="username")
    if not is_empty(con):
        raise ValidationError("setup.not_empty")
    check_password_policy(con, password, username)
    hashed = hash_password(password)

    def work():
        team_id = db.next_id(con, "teams")
        con.execute("INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)", [team_id, "Head office", now])
        user_id = db.next_id(con, "users")
        con.execute(
            "INSERT INTO users (id, username, name, role, team_id, password_hash, must_change_password, "
            "password_changed_at, created_at, updated_at) VALUES (?, ?, ?, 'admin', ?, ?, FALSE, ?, ?, ?)",
            [user_id, username, name.strip(), team_id, hashed, now, now, now],
        )
        actor = Actor(id=user_id, username=username, name=name, role="admin", now=now)
        audit.record(con, actor, "create", "user", user_id, {"username": (None, username), "role": (None, "admin")})
        return user_id

    return db.write(con, work)

