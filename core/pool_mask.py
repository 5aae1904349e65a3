"""Pool fields hidden until claimed, and a pool's members and admins.

A pool (公海) is a team's customers without an owner (owner_id NULL, team_id = the pool). The admin may
hide chosen customer fields of a pool (pool_settings.hidden_fields): while a record sits in that pool,
those fields are masked IN CORE for everyone but the admins and the pool's own admins (pool_members
role 'admin'), on every path that reads them: the customers list (hence its export), the record page,
the search box (a hidden phone or e-mail never finds a pool record: otherwise the search would tell
it), the duplicate messages (a match found by a hidden field is named only by its holder). A phone keeps
its first 3 and last 4 digits (138****5678); any other field reads as a fixed mask. Claiming the record
(an owner again) shows everything.

Members: a pool's own team sees it; pool_members adds users of other teams (role 'member') and pool
admins ('admin'). A new hire also sees every new-hire pool (teams.is_new_hire_pool). core.auth puts
those extra pools into Actor.pools, and core.access's pooled scope is the own team's pool plus them.
"""
from __future__ import annotations

import json
import re
from typing import Any

import duckdb
import polars as pl

from core import access, audit, db, fields
from core.context import Actor
from core.errors import NotFound, PermissionDenied, ValidationError

MASK = "****"
# built-in customer fields that may be hidden (custom text, phone and e-mail fields may be hidden too)
MASKABLE = ("phone", "email", "address", "postal_code", "district", "id_number", "birth_year",
            "annual_revenue", "employees", "external_ref")
PHONE_FIELDS = frozenset({"phone"})
SEARCHABLE = {"phone": "phone", "email": "email"}   # hidden field -> the search box's part it guards
ROLES = ("member", "admin")
_CUSTOM_KINDS = ("text", "longtext", "phone", "email")


def maskable(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The customer fields an admin may hide: MASKABLE and the active custom text/phone/e-mail fields."""
    custom = [name for name, f in fields.definitions(con, "customer").items()
              if f.custom and f.kind in _CUSTOM_KINDS]
    return MASKABLE + tuple(custom)


# --------------------------------------------------------------------------------- settings
def hidden(con: duckdb.DuckDBPyConnection) -> dict[int, frozenset[str]]:
    """team_id -> the customer fields hidden while a record sits in that team's pool (pools hiding none
    are left out)."""
    out = {}
    for team_id, raw in con.execute("SELECT team_id, hidden_fields FROM pool_settings "
                                    "WHERE hidden_fields IS NOT NULL").fetchall():
        names = json.loads(raw) if isinstance(raw, str) else (raw or [])
        if names:
            out[int(team_id)] = frozenset(str(n) for n in names)
    return out


def set_hidden(con: duckdb.DuckDBPyConnection, actor: Actor, team_id: Any, names: Any) -> list[str]:
    """The admin chooses the fields a pool hides (an empty list: none). Returns them, sorted."""
    access.require(con, actor, "settings", "edit")
    team_id = _team(con, team_id)
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple, set, frozenset)):
        raise ValidationError("pool.bad_hidden_field", field=fields.short(names))
    allowed = maskable(con)
    chosen = sorted({n for n in names})
    for n in chosen:
        if n not in allowed:
            raise ValidationError("pool.bad_hidden_field", field=fields.short(n))

    def work():
        old = hidden(con).get(team_id, frozenset())
        value = json.dumps(chosen)
        if db.scalar(con, "SELECT count(*) FROM pool_settings WHERE team_id = ?", [team_id]):
            con.execute("UPDATE pool_settings SET hidden_fields = ?, updated_at = ?, updated_by = ? WHERE team_id = ?",
                        [value, actor.now, actor.id, team_id])
        else:
            con.execute("INSERT INTO pool_settings (team_id, hidden_fields, updated_at, updated_by) "
                        "VALUES (?, ?, ?, ?)", [team_id, value, actor.now, actor.id])
        if set(old) != set(chosen):
            audit.record(con, actor, "update", "pool", team_id,
                         {"hidden_fields": (", ".join(sorted(old)) or None, ", ".join(chosen) or None)})
        return chosen

    return db.write(con, work)


def _team(con, team_id: Any) -> int:
    if isinstance(team_id, bool) or not isinstance(team_id, int) or not db.scalar(
            con, "SELECT count(*) FROM teams WHERE id = ? AND deleted_at IS NULL", [team_id]):
        raise ValidationError("assign.bad_team")
    return team_id


# --------------------------------------------------------------------------------- who sees what
def admin_pools(con: duckdb.DuckDBPyConnection, actor: Actor) -> frozenset[int]:
    """The pools the actor administers (pool_members role admin)."""
    if actor.id is None:
        return frozenset()
    return frozenset(r[0] for r in con.execute(
        "SELECT team_id FROM pool_members WHERE user_id = ? AND role = 'admin'", [actor.id]).fetchall())


def unmasked_for(con: duckdb.DuckDBPyConnection, actor: Actor) -> frozenset[int]:
    """The pools whose hidden fields the actor sees anyway: every pool for an admin, else the pools the
    actor administers."""
    if actor.is_admin:
        return frozenset(hidden(con)) | admin_pools(con, actor)
    return admin_pools(con, actor)


def masked(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict[int, frozenset[str]]:
    """team_id -> the fields masked for this actor while a record sits in that pool ({} for an admin)."""
    if actor.is_admin:
        return {}
    found = hidden(con)
    if not found:
        return {}
    free = admin_pools(con, actor)
    return {t: names for t, names in found.items() if t not in free}


def masked_teams(con: duckdb.DuckDBPyConnection, actor: Actor, field: str) -> list[int]:
    """The pools where `field` is masked for the actor."""
    return sorted(t for t, names in masked(con, actor).items() if field in names)


def mask_value(field: str, value: Any, phone: bool | None = None) -> Any:
    """What a hidden value reads as: a phone its first 3 and last 4 digits (138****5678), else MASK.
    `phone`: whether the field is a phone (default: the built-in phone)."""
    if value is None or value == "":
        return value
    if (field in PHONE_FIELDS if phone is None else phone) and isinstance(value, str):
        digits = re.sub(r"\D", "", re.sub(r"^\s*(\+|00)?86[\s-]*", "", str(value)))
        return f"{digits[:3]}{MASK}{digits[-4:]}" if len(digits) >= 8 else MASK
    return MASK


def _phone_sql(col: str) -> str:
    digits = f"regexp_replace(regexp_replace({col}, '^\\s*(\\+|00)?86[\\s-]*', ''), '[^0-9]', '', 'g')"
    return (f"CASE WHEN {col} IS NULL OR {col} = '' THEN {col} WHEN length({digits}) >= 8 "
            f"THEN left({digits}, 3) || '{MASK}' || right({digits}, 4) ELSE '{MASK}' END")


def mask_sql(con: duckdb.DuckDBPyConnection, actor: Actor, alias: str, field: str,
             column_sql: str | None = None) -> tuple[str, list]:
    """The SQL expression of a customer field as the actor may see it, over the customers alias `alias`
    (its owner_id and team_id), and its parameters (bound, in the place of the expression)."""
    col = column_sql or f"{alias}.{field}"
    teams = masked_teams(con, actor, field)
    if not teams:
        return col, []
    marks = ", ".join("?" for _ in teams)
    shown = _phone_sql(col) if field in PHONE_FIELDS else f"CASE WHEN {col} IS NULL THEN NULL ELSE '{MASK}' END"
    return (f"CASE WHEN {alias}.owner_id IS NULL AND {alias}.team_id IN ({marks}) THEN {shown} ELSE {col} END",
            list(teams))


def search_guards(con: duckdb.DuckDBPyConnection, actor: Actor, alias: str = "x") -> dict[str, tuple[str, list]]:
    """For the search box: part ('phone', 'email') -> a condition a record must meet to be found by that
    part (not sitting in a pool that hides the field from the actor). Empty when nothing is hidden."""
    out = {}
    for field, part in SEARCHABLE.items():
        teams = masked_teams(con, actor, field)
        if teams:
            marks = ", ".join("?" for _ in teams)
            out[part] = (f"NOT ({alias}.owner_id IS NULL AND coalesce({alias}.team_id IN ({marks}), FALSE))",
                         list(teams))
    return out


def mask_frame(con: duckdb.DuckDBPyConnection, actor: Actor, frame: pl.DataFrame, owner_col: str = "owner_id",
               team_col: str = "team_id") -> pl.DataFrame:
    """The frame (customers, with their owner and team columns) with hidden fields masked on the rows
    that sit in a pool hiding them from the actor."""
    found = masked(con, actor)
    if not found or frame.is_empty() or owner_col not in frame.columns or team_col not in frame.columns:
        return frame
    exprs = []
    for name in sorted({n for names in found.values() for n in names}):
        if name not in frame.columns:
            continue
        teams = [t for t, names in found.items() if name in names]
        hit = pl.col(owner_col).is_null() & pl.col(team_col).is_in(teams)
        col = pl.col(name)
        if frame.schema[name] == pl.String and name in PHONE_FIELDS:  # as mask_value, on the whole column
            digits = col.str.replace(r"^\s*(\+|00)?86[\s-]*", "").str.replace_all(r"\D", "")
            shown = (pl.when(col.is_null() | (col == "")).then(col)
                     .when(digits.str.len_chars() >= 8).then(digits.str.slice(0, 3) + MASK + digits.str.slice(-4))
                     .otherwise(pl.lit(MASK)))
        elif frame.schema[name] == pl.String:
            shown = pl.when(col.is_null() | (col == "")).then(col).otherwise(pl.lit(MASK))
        else:  # a number or date column: nothing of it shows (as text would break the column's type)
            shown = pl.lit(None, dtype=frame.schema[name])
        exprs.append(pl.when(hit.fill_null(False)).then(shown).otherwise(col).alias(name))
    return frame.with_columns(exprs) if exprs else frame


def is_masked(con: duckdb.DuckDBPyConnection, actor: Actor, record: dict) -> frozenset[str]:
    """The fields of this customer record masked for the actor (empty unless it sits in such a pool)."""
    if record.get("owner_id") is not None or record.get("team_id") is None:
        return frozenset()
    return masked(con, actor).get(record["team_id"], frozenset())


def mask_record(con: duckdb.DuckDBPyConnection, actor: Actor, record: dict) -> dict:
    """One customer record (custom values unpacked) with its hidden fields masked for the actor."""
    names = is_masked(con, actor, record)
    if not names:
        return record
    out = dict(record)
    defs = fields.definitions(con, "customer")
    for name in names:
        if name in out and out[name] not in (None, ""):
            out[name] = mask_value(name, out[name], phone=name in defs and defs[name].kind == "phone")
    if "phone_norm" in out and "phone" in names:
        out["phone_norm"] = None
    return out


# --------------------------------------------------------------------------------- members
def members(con: duckdb.DuckDBPyConnection, team_id: int) -> pl.DataFrame:
    """A pool's members and admins beyond its own team: user_id, name, username, team, role, added_at."""
    return db.frame(
        con,
        "SELECT m.user_id, u.name, u.username, t.name AS team, m.role, m.added_at FROM pool_members m "
        "JOIN users u ON u.id = m.user_id LEFT JOIN teams t ON t.id = u.team_id "
        "WHERE m.team_id = ? AND u.deleted_at IS NULL ORDER BY m.role, u.name",
        [team_id],
    )


def set_member(con: duckdb.DuckDBPyConnection, actor: Actor, team_id: Any, user_id: Any, role: str | None) -> None:
    """Make a user a member ('member') or an admin ('admin') of a pool, or (role None) take them off it.
    Admins only (they hold the settings), or a pool's own admin for its members."""
    team_id = _team(con, team_id)
    if role is not None and role not in ROLES:
        raise ValidationError("pool.bad_member_role")
    if not (access.can(con, actor, "settings", "edit") or (team_id in admin_pools(con, actor) and role != "admin")):
        raise PermissionDenied("pool.members_denied")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not db.scalar(
            con, "SELECT count(*) FROM users WHERE id = ? AND deleted_at IS NULL", [user_id]):
        raise NotFound("org.user_not_found")

    def work():
        old = db.scalar(con, "SELECT role FROM pool_members WHERE team_id = ? AND user_id = ?", [team_id, user_id])
        if old == role:
            return
        con.execute("DELETE FROM pool_members WHERE team_id = ? AND user_id = ?", [team_id, user_id])
        if role is not None:
            con.execute("INSERT INTO pool_members (team_id, user_id, role, added_at, added_by) VALUES (?, ?, ?, ?, ?)",
                        [team_id, user_id, role, actor.now, actor.id])
        audit.record(con, actor, "update", "pool", team_id, {f"member:{user_id}": (old, role)})

    db.write(con, work)


def extra_pools(con: duckdb.DuckDBPyConnection, user_id: int | None, team_id: int | None,
                is_new_hire: bool) -> tuple[int, ...]:
    """The pools a user sees beyond the own team's (core.auth puts them into Actor.pools): pool_members
    rows, and every new-hire pool for a new hire."""
    if user_id is None:
        return ()
    found = con.execute(
        "SELECT m.team_id FROM pool_members m JOIN teams t ON t.id = m.team_id "
        "WHERE m.user_id = ? AND t.deleted_at IS NULL "
        "UNION SELECT id FROM teams WHERE ? AND is_new_hire_pool AND deleted_at IS NULL",
        [user_id, bool(is_new_hire)]).fetchall()
    return tuple(sorted(r[0] for r in found if r[0] != team_id))
