"""Login rules: bcrypt hashes, lockout after repeated failures, forced password change, the signed
login cookie, and the server-side check that a login is still good (user active, issued after the
last password change, logout, deactivation or reset, and younger than `auth.session_days`).

A login attempt is refused alike for every reason (unknown user, locked or inactive account, wrong
password): the same message and about the same time, since a bcrypt runs in every case. The owner
of an account learns of a lockout by e-mail (an `outbox` row) or from the admin's user list."""
from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re

import bcrypt
import duckdb
import jwt

from core import audit, clock, db, pool_mask, settings
from core.context import Actor, utcnow
from core.errors import AuthError, NotFound, ValidationError
from core.i18n import translate

log = logging.getLogger("crm.auth")

BCRYPT_ROUNDS = 12
# the hash put in the login library's credentials for a locked or inactive account: no password matches
_UNUSABLE = bcrypt.hashpw(b"\x00locked\x00", bcrypt.gensalt(rounds=4)).decode()
# the login cookie: a JWT signed with the secret key, carrying its issue time
SESSION_ALGORITHM = "HS256"
_EPOCH = dt.datetime(1970, 1, 1)


def hash_password(password: str, rounds: int | None = None) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds or BCRYPT_ROUNDS)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("utf-8"))
    except ValueError:
        return False


def check_password_policy(con: duckdb.DuckDBPyConnection, password: str, username: str = "") -> None:
    minimum = settings.get(con, "auth.min_password_length")
    if not isinstance(password, str):
        raise ValidationError("auth.password_too_short", min=minimum)
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("auth.password_letters_digits") from None
    if password != password.strip():  # the login form strips what is typed: such a password could never log in
        raise ValidationError("auth.password_spaces")
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
        pools=pool_mask.extra_pools(con, user["id"], user["team_id"], user["is_new_hire"]),
        now=now or utcnow(),
    )


def locked_until(con: duckdb.DuckDBPyConnection, username: str, now: dt.datetime | None = None) -> dt.datetime | None:
    now = now or utcnow()
    until = db.scalar(con, "SELECT locked_until FROM users WHERE username = ?", [username.strip().lower()])
    return until if until is not None and until > now else None


def credentials(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> dict:
    """The credentials dict streamlit-authenticator needs, built from the users table. A locked,
    inactive or deleted account gets a hash no password matches (the browser's login form checks
    passwords with `login` anyway; the library needs the entries for its session state)."""
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
        user = db.one(con, "SELECT id, name, email, language FROM users WHERE username = ?", [username])
        user_id = user["id"] if user else None
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
            _mail_lockout(con, user, username, failures, until, now)
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


def _mail_lockout(con: duckdb.DuckDBPyConnection, user: dict, username: str, failures: int,
                  until: dt.datetime, now: dt.datetime) -> None:
    """The login form does not say that an account is locked (that would tell a stranger the name
    exists): its owner reads it in an e-mail, in their language, and the admin in the user list."""
    if not user.get("email"):
        return
    lang = user.get("language") or "en"
    params = {"name": user["name"], "username": username, "attempts": failures,
              "until": clock.fmt(con, until) + f" ({clock.zone(con).key})"}
    con.execute(
        "INSERT INTO outbox (id, to_addr, subject, body, status, created_at) VALUES (?, ?, ?, ?, 'queued', ?)",
        [db.next_id(con, "outbox"), user["email"], translate(lang, "auth.locked_mail_subject", **params),
         translate(lang, "auth.locked_mail_body", **params), now],
    )


@functools.lru_cache(maxsize=8)
def _dummy_hash(cost: int) -> str:
    """A hash of a password nobody types, at the given cost: checked for unknown users, so that they
    take as long to refuse as a known user with a wrong password."""
    return bcrypt.hashpw(b"\x00no such user\x00", bcrypt.gensalt(rounds=cost)).decode()


def _cost_of(hashed: str) -> int | None:
    try:
        return int(hashed.split("$")[2])
    except (IndexError, ValueError, AttributeError):
        return None


def _rehash(con: duckdb.DuckDBPyConnection, username: str, password: str) -> None:
    """Store a hash at the current cost: every account then answers a login in the same time."""
    hashed = hash_password(password)
    db.write(con, lambda: con.execute("UPDATE users SET password_hash = ? WHERE username = ?", [hashed, username]))


def _usual_cost(con: duckdb.DuckDBPyConnection) -> int:
    """The bcrypt cost most users' hashes have (the demo company's differs from BCRYPT_ROUNDS)."""
    cost = db.scalar(
        con,
        "SELECT c FROM (SELECT TRY_CAST(substr(password_hash, 5, 2) AS INTEGER) AS c FROM users "
        "WHERE password_hash LIKE '$2%') WHERE c BETWEEN 4 AND 31 GROUP BY c ORDER BY count(*) DESC, c DESC LIMIT 1",
    )
    return int(cost) if cost else BCRYPT_ROUNDS


def login(con: duckdb.DuckDBPyConnection, username: str, password: str, now: dt.datetime | None = None) -> bool:
    """One login attempt by name and password, under the lockout rule. True when it succeeds.

    Whatever the reason of a refusal (unknown name, locked, inactive or deleted account, wrong
    password), the caller learns only False, after about the same time: a bcrypt check runs in every
    case, against the account's own hash or a dummy hash of the usual cost. Every attempt is counted."""
    now = now or utcnow()
    username = (username or "").strip().lower()
    password = password or ""
    user = db.one(con, "SELECT password_hash, active, deleted_at, locked_until FROM users WHERE username = ?",
                  [username])
    cost = _usual_cost(con)
    if user is None:
        verify_password(password, _dummy_hash(cost))
        ok = False
    else:
        matches = verify_password(password, user["password_hash"])
        locked = user["locked_until"] is not None and user["locked_until"] > now
        ok = matches and user["active"] and user["deleted_at"] is None and not locked
    if ok:
        record_success(con, username, now)
        if _cost_of(user["password_hash"]) != BCRYPT_ROUNDS:  # old hashes move to the current cost
            _rehash(con, username, password)
    else:
        record_failure(con, username, now)
    return ok


def authenticate(con: duckdb.DuckDBPyConnection, username: str, password: str, now: dt.datetime | None = None) -> Actor:
    """Check a username and password under the lockout rule (for the API and the command line; the
    browser's login form runs `login` too). Every refusal is the same `auth.failed`."""
    now = now or utcnow()
    if not login(con, username, password, now):
        raise AuthError("auth.failed")
    return actor_for(con, username, now)


def _timestamp(moment: dt.datetime) -> float:
    """Seconds since the epoch of a naive UTC time, to the microsecond."""
    return (moment - _EPOCH) / dt.timedelta(seconds=1)


def issue_session_token(username: str, key: str, issued_at: dt.datetime, days: float) -> str:
    """The signed login cookie: the username, its issue time (`iat`, to the microsecond, which the
    server compares with the user's `sessions_valid_after`) and its expiry (`exp`, and `exp_date` that
    the login library reads)."""
    iat = _timestamp(issued_at)
    exp = iat + float(days) * 86400
    return jwt.encode({"username": username, "iat": iat, "exp": exp, "exp_date": exp}, key,
                      algorithm=SESSION_ALGORITHM)


def read_session_token(token: object, key: str) -> dict | None:
    """The claims of a login cookie this server signed and that has not expired, with `issued_at`
    (naive UTC) added; None for anything else (another algorithm or key, garbage, an old cookie
    without an issue time), with a line in the server log. Never raises."""
    if not token:
        return None
    try:
        claims = jwt.decode(str(token), key, algorithms=[SESSION_ALGORITHM],
                            options={"require": ["iat", "exp", "username", "exp_date"]})
        username, iat, exp_date = claims["username"], claims["iat"], claims["exp_date"]
        if not isinstance(username, str) or not username:
            raise jwt.InvalidTokenError("no username")
        for value in (iat, exp_date):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise jwt.InvalidTokenError("a time claim is not a number")
        issued_at = _EPOCH + dt.timedelta(seconds=float(iat))
    except Exception as exc:  # noqa: BLE001 - a cookie is untrusted input: whatever is wrong with it, it is no login
        log.warning("login cookie refused: %s: %s", type(exc).__name__, exc)
        return None
    return {**claims, "issued_at": issued_at}


def session_user(con: duckdb.DuckDBPyConnection, username: str, issued_at: dt.datetime | None,
                 now: dt.datetime | None = None) -> dict | None:
    """The user behind a login whose cookie/session was issued at `issued_at`, or None when that login
    no longer counts: user inactive or deleted, a password change, logout, deactivation or reset came
    after it, or it is older than `auth.session_days` as that setting stands now."""
    if not isinstance(issued_at, dt.datetime):
        return None
    now = now or utcnow()
    if issued_at < now - dt.timedelta(days=float(settings.get(con, "auth.session_days"))):
        return None
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
