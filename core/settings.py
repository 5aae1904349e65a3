"""Company settings: each rule of the rule book is a setting with its default."""
from __future__ import annotations

import json
from typing import Any

import duckdb

from core import access, audit, db
from core.context import Actor
from core.errors import ValidationError

DEFAULTS: dict[str, Any] = {
    "company.name": "Demo Trading Co.",
    "company.default_language": "en",
    "company.timezone": "Asia/Shanghai",  # IANA name; the store keeps naive UTC (core.clock)
    "company.currency": "CNY",            # ISO 4217 code: new deals and orders default to it
    "handoff.ask_within_days": 90,        # a customer won within this many days without a hand-off is asked for one
    "pipeline.stale_days": 14,            # an open deal with no follow-up for this many days is stale
    "recycle.retention_days": 30,
    "auth.lockout_attempts": 5,
    "auth.lockout_window_minutes": 15,
    "auth.lockout_minutes": 15,
    "auth.session_days": 3,
    "auth.min_password_length": 8,
    "pool.max_open_customers_per_rep": 200,
    "pool.reclaim_after_working_days": 10,
    "pool.refresh_weekday": 1,             # ISO weekday of the weekly refresh of every team pool
    "pool.refresh_mode": "resort",         # resort: re-rank by priority | redistribute: split old unclaimed records evenly
    "pool.refresh_older_days": 14,         # redistribute pool records unclaimed for longer than this
    "pool.daily_claim_cap": 20,            # claims per rep per company day
    "pool.reclaim_wait_days": 7,           # a former owner waits this long before claiming a record back
    "pool.claim_cooldown_hours": 0,        # a newly pooled record can be claimed after this long
    "pool.lock_cap": 10,                   # customers a rep may lock against reclaim
    "pool.warn_days": 3,                   # "my day" warns this many working days before a reclaim
    "pool.exempt_open_deals": False,       # customers with an open deal are never reclaimed
    "pool.reclaim_at": "02:00",            # local time of the daily reclaim run inside the app
    "assignment.weighted_by_performance": True,
    "assignment.weight_by": "won_deals",   # won_deals | followups: what "recent performance" counts
    "assignment.performance_days": 30,
    "assignment.skip_reps_with_untouched_raw": True,
    "assignment.new_hires_get_new_data": False,
    "lists.page_size": 50,
    # the duplicate guard (core.dedup): per rule block | warn | allow (allow = save and report)
    "dedup.phone": "block",             # a phone is a unique key of the store: always block
    "dedup.email": "block",
    "dedup.name": "warn",
    "dedup.name_threshold": 85,         # a likely name match scores at least this (0-100)
    # forecast categories (core.forecast): an open deal whose probability is at least this is "best case" /
    # "commit" (percent), unless its owner chose the category
    "forecast.best_case_from": 50,
    "forecast.commit_from": 75,
    # the service desk (core.sla, core.tickets): SLA clocks count working minutes of the company's calendar
    "service.work_start": "09:00",        # local time the working day starts
    "service.work_end": "18:00",
    "service.workdays": "1,2,3,4,5",      # ISO weekdays (1 = Monday) that are working days, unless a holiday
    "service.holiday_country": "CN",      # public holidays and make-up working days (调休) from the holidays package
    "service.at_risk_percent": 80,        # an open ticket that used this share of its SLA time is at risk
    "service.reopen_days": 7,             # a resolved ticket can be reopened within this many days, later a new linked ticket
    "service.escalation_every_minutes": 5,  # how often the app checks for breached tickets
    # analytics part 2 (core.analytics.rfm, core.segments)
    "analytics.rfm_method": "quintile",   # quartile | quintile | bands (the admin's fixed bands, rfm_bands)
    "analytics.rfm_window_months": 12,    # orders of this many months before the as-of day
    "marketing.do_not_contact_field": "",
    # backups (core.backup): a daily copy of the database inside the app process, kept this many days
    "backup.daily": True,
    "backup.at": "03:00",                 # local time of the daily backup
    "backup.keep_days": 14,
    # imports (core.imports)
    "import.max_file_mb": 1024,           # bigger uploads are refused with a message  # a yes/no customer field that, when set, keeps the customer off mailing exports
}

# settings that take one of a few values
CHOICES: dict[str, tuple[str, ...]] = {
    "dedup.phone": ("block",),
    "dedup.email": ("block", "warn", "allow"),
    "dedup.name": ("block", "warn", "allow"),
    "pool.refresh_mode": ("resort", "redistribute"),
    "assignment.weight_by": ("won_deals", "followups"),
    "analytics.rfm_method": ("quartile", "quintile", "bands"),
}

TIME_KEYS = ("pool.reclaim_at",)  # settings holding a local time of day

# bounds for the numeric settings, so an admin cannot set a rule to nonsense
_BOUNDS = {
    "recycle.retention_days": (1, 3650),
    "auth.lockout_attempts": (1, 100),
    "auth.lockout_window_minutes": (1, 1440),
    "auth.lockout_minutes": (1, 1440),
    "auth.session_days": (1, 30),
    "auth.min_password_length": (8, 128),
    "pool.max_open_customers_per_rep": (1, 100000),
    "pool.reclaim_after_working_days": (1, 365),
    "pool.refresh_weekday": (1, 7),
    "pool.refresh_older_days": (1, 365),
    "pool.daily_claim_cap": (1, 10000),
    "pool.reclaim_wait_days": (0, 365),
    "pool.claim_cooldown_hours": (0, 720),
    "pool.lock_cap": (0, 10000),
    "pool.warn_days": (0, 30),
    "assignment.performance_days": (1, 365),
    "analytics.rfm_window_months": (1, 120),
    "backup.keep_days": (1, 3650),
    "import.max_file_mb": (1, 10240),
    "lists.page_size": (10, 500),
    "dedup.name_threshold": (50, 100),
    "pipeline.stale_days": (1, 365),
    "handoff.ask_within_days": (1, 3650),
    "forecast.best_case_from": (1, 100),
    "forecast.commit_from": (1, 100),
    "service.at_risk_percent": (1, 99),
    "service.reopen_days": (0, 365),
    "service.escalation_every_minutes": (1, 1440),
}


def get(con: duckdb.DuckDBPyConnection, key: str) -> Any:
    if key not in DEFAULTS:
        raise KeyError(key)
    raw = db.scalar(con, "SELECT value FROM settings WHERE key = ?", [key])
    return DEFAULTS[key] if raw is None else json.loads(raw)


def get_many(con: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, Any]:
    """Several settings in one query (a check that runs on every save reads its rules at once)."""
    unknown = [k for k in keys if k not in DEFAULTS]
    if unknown:
        raise KeyError(unknown[0])
    stored = dict(con.execute("SELECT key, value FROM settings WHERE key IN (SELECT unnest(?))", [keys]).fetchall())
    return {k: json.loads(stored[k]) if k in stored else DEFAULTS[k] for k in keys}


def all_settings(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict[str, Any]:
    """Every setting with its current value, for those who may view the settings."""
    access.require(con, actor, "settings", "view")
    stored = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM settings").fetchall()}
    return {k: stored.get(k, v) for k, v in DEFAULTS.items()}


def coerce(key: str, value: Any) -> Any:
    """Check and convert a value typed by the admin to the setting's type."""
    if key not in DEFAULTS:
        raise ValidationError("error.invalid_value", value=key)
    default = DEFAULTS[key]
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = value.strip().lower() in ("true", "1", "yes")
            value = bool(value)
        elif isinstance(default, int):
            value = int(str(value).strip())
        else:
            value = str(value).strip()
    except (TypeError, ValueError):
        raise ValidationError("settings.bad_value", field=f"setting.{key}", value=value) from None
    lo_hi = _BOUNDS.get(key)
    if lo_hi and not (lo_hi[0] <= value <= lo_hi[1]):
        raise ValidationError("settings.out_of_range", field=f"setting.{key}", low=lo_hi[0], high=lo_hi[1])
    if key in CHOICES:
        value = value.lower()
    if key in CHOICES and value not in CHOICES[key]:
        raise ValidationError("settings.bad_choice", field=f"setting.{key}", value=value,
                              choices=" / ".join(CHOICES[key]))
    if key == "company.default_language" and value not in ("en", "zh"):
        raise ValidationError("settings.bad_value", field=f"setting.{key}", value=value)
    if key == "company.currency":
        value = value.upper()
        if not (len(value) == 3 and value.isascii() and value.isalpha()):
            raise ValidationError("settings.bad_value", field=f"setting.{key}", value=value)
    if key in TIME_KEYS:  # a local time of day "HH:MM" (full-width digits too); 25:99 is refused, not ignored
        import unicodedata

        hours, _, minutes = unicodedata.normalize("NFKC", value).partition(":")
        if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60):
            raise ValidationError("settings.bad_value", field=f"setting.{key}", value=value)
        value = f"{int(hours):02d}:{minutes}"
    if key == "company.timezone":
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ValidationError("settings.bad_value", field=f"setting.{key}", value=value) from None
    return value


def set_value(con: duckdb.DuckDBPyConnection, actor: Actor, key: str, value: Any) -> Any:
    access.require(con, actor, "settings", "edit")
    value = coerce(key, value)

    def work():
        old = get(con, key)
        if old == value:
            return value
        con.execute("DELETE FROM settings WHERE key = ?", [key])
        con.execute(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)",
            [key, json.dumps(value), actor.now, actor.id],
        )
        audit.record(con, actor, "update", "setting", None, {key: (old, value)})
        from core import sla  # the working calendar follows its settings (an unusable value is refused here)

        if key in sla.CALENDAR_KEYS:
            sla.build_calendar(con)
        return value

    return db.write(con, work)
