"""Login rules: bcrypt hashes, lockout after repeated failures, forced password change, and the
server-side check that a login cookie is still good (user active, issued after the last password
change or logout)."""
from __future__ import annotations

import datetime as dt
import re

import bcrypt
import duckdb

from core import audit, db, settings
from core.context import Actor, utcnow
from core.errors import AuthError, NotFound, ValidationError

BCRYPT_ROUNDS = 12
# the hash put in the login library's credentials for a locked or inactive account: no password matches
_UNUSABLE = bcrypt.hashpw(b"\x00locked\x00", bcrypt.gensalt(rounds=4)).decode()


def hash_password(password: str, rounds: int | None = None) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds or BCRYPT_ROUNDS)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("utf-8"))
    except ValueError:
        return False


def check_password_policy(con: duckdb.DuckDBPyConnection, password: str, username: str = "") -> None:
    minimum = settings.get(con, "auth.min_password_length")
    if len(password) < minimum:
        raise ValidationError("auth.password_too_short", min=minimum)
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[0-9]", password):
        raise ValidationError("auth.password_letters_digits")
    if username and password.strip().lower() == username.strip().lower():
        raise ValidationError("auth.password_is_username")
    if len(password.encode("utf-8")) > 72:
        raise ValidationError("auth.password_too_long")


def team_tree(con: duckdb.DuckDBPyConnection, team_id: int | None) -> tuple[int, ...]:
    """The team and every live team below it."""
    if team_id is None:
        return ()
    found = con.execute(
        "WITH RECURSIVE t(id) AS (SELECT ?::BIGINT UNION SELECT c.id FROM teams c JOIN t ON c.parent_id = t.id "
        "WHERE c.deleted_at IS NULL) SELECT id FROM t ORDER BY id",
        [team_id],
    ).fetchall()
    return tuple(r[0] for r in found)


def actor_for(con: duckdb.DuckDBPyConnection, username: str, now: dt.datetime | None = None) -> Actor:
    """The acting user for a username (active, not deleted)."""
    user = db.one(
        con,
        "SELECT id, username, name, role, team_id, language, is_new_hire FROM users "
        "WHERE username = ? AND active AND deleted_at IS NULL",
        [username.strip().lower()],
    )
    if user is None:
        raise NotFound("error.not_found")
    return Actor(
        id=user["id"],
        username=user["username"],
        name=user["name"],
        role=user["role"],
        team_id=user["team_id"],
        team_tree=team_tree(con, user["team_id"]),
        language=user["language"],
        is_new_hire=user["is_new_hire"],
        now=now or utcnow(),
    )


def locked_until(con: duckdb.DuckDBPyConnection, username: str, now: dt.datetime | None = None) -> dt.datetime | None:
    now = now or utcnow()
    until = db.scalar(con, "SELECT locked_until FROM users WHERE username = ?", [username.strip().lower()])
    return until if until is not None and until > now else None


def credentials(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> dict:
    """The credentials dict streamlit-authenticator needs, built from the users table. A locked,
    inactive or deleted account gets a hash no password matches, so the library refuses it and the
    failure is still seen (and counted) by `note_failed_logins`."""
    now = now or utcnow()
    users = db.rows(
        con,
        "SELECT username, name, email, role, password_hash, active, deleted_at, locked_until FROM users",
    )
    out = {}
    for u in users:
        usable = u["active"] and u["deleted_at"] is None and not (u["locked_until"] and u["locked_until"] > now)
        out[u["username"]] = {
            "name": u["name"],
            "email": u["email"] or "",
            "password": u["password_hash"] if usable else _UNUSABLE,
            "roles": [u["role"]],
            "failed_login_attempts": 0,
            "logged_in": False,
        }
    return {"usernames": out}


def record_failure(con: duckdb.DuckDBPyConnection, username: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """Count a failed login. With `auth.lockout_attempts` failures inside `auth.lockout_window_minutes`
    the account locks for `auth.lockout_minutes`. Returns the lock's end, if locked."""
    now = now or utcnow()
    username = username.strip().lower()
    attempts = settings.get(con, "auth.lockout_attempts")
    window = dt.timedelta(minutes=settings.get(con, "auth.lockout_window_minutes"))
    length = dt.timedelta(minutes=settings.get(con, "auth.lockout_minutes"))

    def work():
        user_id = db.scalar(con, "SELECT id FROM users WHERE username = ?", [username])
        con.execute(
            "INSERT INTO login_attempts (id, username, attempted_at, success) VALUES (nextval('seq_login_attempts'), ?, ?, FALSE)",
            [username, now],
        )
        if user_id is None:
            return None
        current = locked_until(con, username, now)
        if current:
            return current
        last_success = db.scalar(
            con, "SELECT max(attempted_at) FROM login_attempts WHERE username = ? AND success", [username]
        )
        since = max(now - window, last_success) if last_success else now - window
        failures = db.scalar(
            con,
            "SELECT count(*) FROM login_attempts WHERE username = ? AND NOT success AND attempted_at > ?",
            [username, since],
        )
        if failures >= attempts:
            until = now + length
            con.execute("UPDATE users SET locked_until = ? WHERE id = ?", [until, user_id])
            audit.record(con, Actor(id=None, username="system", name="System", role="admin", now=now),
                         "lock", "user", user_id, {"locked_until": (None, until)})
            return until
        return None

    return db.write(con, work)


def record_success(con: duckdb.DuckDBPyConnection, username: str, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    username = username.strip().lower()

    def work():
        con.execute(
            "INSERT INTO login_attempts (id, username, attempted_at, success) VALUES (nextval('seq_login_attempts'), ?, ?, TRUE)",
            [username, now],
        )
        con.execute("UPDATE users SET last_login_at = ?, locked_until = NULL WHERE username = ?", [now, username])

    db.write(con, work)


def note_failed_logins(con: duckdb.DuckDBPyConnection, creds: dict, now: dt.datetime | None = None) -> tuple[str, dt.datetime | None] | None:
    """After the login library ran: every user whose failure counter it raised failed a login.
    Returns (username, locked_until) of the failure, or None."""
    result = None
    for username, entry in creds.get("usernames", {}).items():
        for _ in range(int(entry.get("failed_login_attempts") or 0)):
            result = (username, record_failure(con, username, now))
        entry["failed_login_attempts"] = 0
    return result


def authenticate(con: duckdb.DuckDBPyConnection, username: str, password: str, now: dt.datetime | None = None) -> Actor:
    """Check a username and password under the lockout rule (for the API and the command line; the
    browser login goes through the login library with the same credentials and counters)."""
    now = now or utcnow()
    username = (username or "").strip().lower()
    until = locked_until(con, username, now)
    if until:
        record_failure(con, username, now)
        raise AuthError("auth.locked", until=until.strftime("%H:%M"))
    user = db.one(
        con,
        "SELECT password_hash FROM users WHERE username = ? AND active AND deleted_at IS NULL",
        [username],
    )
    if user is None or not verify_password(password or "", user["password_hash"]):
        until = record_failure(con, username, now)
        if until:
            raise AuthError("auth.locked", until=until.strftime("%H:%M"))
        raise AuthError("auth.failed")
    record_success(con, username, now)
    return actor_for(con, username, now)


def session_user(con: duckdb.DuckDBPyConnection, username: str, issued_at: dt.datetime) -> dict | None:
    """The user behind a login whose cookie/session was issued at `issued_at`, or None when that login
    no longer counts: user inactive or deleted, or a password change / logout came after it."""
    user = db.one(
        con,
        "SELECT id, username, name, role, language, must_change_password, sessions_valid_after "
        "FROM users WHERE username = ? AND active AND deleted_at IS NULL",
        [(username or "").strip().lower()],
    )
    if user is None:
        return None
    valid_after = user["sessions_valid_after"]
    if valid_after is not None and issued_at < valid_after:
        return None
    return user


def change_password(con: duckdb.DuckDBPyConnection, actor: Actor, old: str, new: str, repeat: str) -> None:
    """The user changes their own password; every other session of theirs ends."""
    row = db.one(con, "SELECT password_hash FROM users WHERE id = ?", [actor.id])
    if row is None:
        raise NotFound("error.not_found")
    if not verify_password(old or "", row["password_hash"]):
        raise ValidationError("auth.old_password_wrong")
    if new != repeat:
        raise ValidationError("auth.passwords_differ")
    if new == old:
        raise ValidationError("auth.password_unchanged")
    check_password_policy(con, new, actor.username)
    hashed = hash_password(new)

    def work():
        con.execute(
            "UPDATE users SET password_hash = ?, must_change_password = FALSE, password_changed_at = ?, "
            "sessions_valid_after = ?, updated_at = ? WHERE id = ?",
            [hashed, actor.now, actor.now, actor.now, actor.id],
        )
        audit.record(con, actor, "update", "user", actor.id, {"password": ("***", "***")})

    db.write(con, work)


def logout_everywhere(con: duckdb.DuckDBPyConnection, actor: Actor) -> None:
    """Logout: every login of this user issued before now stops counting."""
    def work():
        con.execute("UPDATE users SET sessions_valid_after = ? WHERE id = ?", [actor.now, actor.id])
        audit.record(con, actor, "logout", "user", actor.id)

    db.write(con, work)


def set_language(con: duckdb.DuckDBPyConnection, actor: Actor, language: str) -> None:
    from core.i18n import LANGUAGES

    if language not in LANGUAGES:
        raise ValidationError("error.invalid_value", value=language)

    def work():
        old = db.scalar(con, "SELECT language FROM users WHERE id = ?", [actor.id])
        if old == language:
            return
        con.execute("UPDATE users SET language = ?, updated_at = ? WHERE id = ?", [language, actor.now, actor.id])
        audit.record(con, actor, "update", "user", actor.id, {"language": (old, language)})

    db.write(con, work)


def demo_logins_pending(con: duckdb.DuckDBPyConnection, usernames: list[str]) -> list[tuple[str, str]]:
    """The demo accounts still on their initial password (the login page shows them until changed)."""
    if not usernames:
        return []
    found = con.execute(
        "SELECT username, role FROM users WHERE username IN (SELECT unnest(?)) AND must_change_password "
        "AND active AND deleted_at IS NULL",
        [usernames],
    ).fetchall()
    order = {u: i for i, u in enumerate(usernames)}
    return sorted(((u, r) for u, r in found), key=lambda x: order[x[0]])
