"""The company's clock: the store keeps naive UTC (core.context.utcnow); people read and type local
time in the company's time zone (setting `company.timezone`, default Asia/Shanghai).

"Today", "due today", "overdue" and "this week" are days of the company's calendar: a follow-up at
23:30 in Shanghai on day D belongs to day D, although in UTC it is 15:30 of day D. Use
`day_bounds_utc` to turn such a day into the half-open UTC range [start, end) a query compares with.

Local times that do not exist (the hour skipped when DST starts) or exist twice (the hour repeated
when it ends) are read with `fold=0`, i.e. with the offset in force before the change.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

import duckdb

UTC = dt.timezone.utc
DEFAULT_ZONE = "Asia/Shanghai"


def zone(con: duckdb.DuckDBPyConnection) -> zoneinfo.ZoneInfo:
    """The company's time zone (one tiny query; an unusable stored value falls back to the default)."""
    from core import settings

    name = settings.get(con, "company.timezone")
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return zoneinfo.ZoneInfo(DEFAULT_ZONE)


def utc_to_local(value: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """Naive UTC (or aware) -> naive local time in `tz`."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return aware.astimezone(tz).replace(tzinfo=None)


def local_to_utc(value: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """Naive local time in `tz` (or aware) -> naive UTC."""
    aware = value.replace(tzinfo=tz) if value.tzinfo is None else value
    return aware.astimezone(UTC).replace(tzinfo=None)


def to_local(con: duckdb.DuckDBPyConnection, value: dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp (naive UTC) as the company's wall-clock time (naive)."""
    if value is None:
        return None
    return utc_to_local(value, zone(con))


def to_utc(con: duckdb.DuckDBPyConnection, value: dt.datetime) -> dt.datetime:
    """A wall-clock time typed by a user (naive, company time zone) as it is stored (naive UTC)."""
    return local_to_utc(value, zone(con))


def local_today(con: duckdb.DuckDBPyConnection, now_utc: dt.datetime) -> dt.date:
    """The company's calendar day at the instant `now_utc`."""
    return utc_to_local(now_utc, zone(con)).date()


def day_bounds_utc(con: duckdb.DuckDBPyConnection, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Start and end (exclusive) of the company's day `day`, as naive UTC."""
    tz = zone(con)
    start = dt.datetime.combine(day, dt.time())
    return local_to_utc(start, tz), local_to_utc(start + dt.timedelta(days=1), tz)


def week_start_utc(con: duckdb.DuckDBPyConnection, now_utc: dt.datetime) -> dt.datetime:
    """Monday 00:00 of the company's current week, as naive UTC."""
    today = local_today(con, now_utc)
    return day_bounds_utc(con, today - dt.timedelta(days=today.weekday()))[0]


def fmt(con: duckdb.DuckDBPyConnection, value, with_seconds: bool = False) -> str:
    """A stored timestamp as the user reads it: local "YYYY-MM-DD HH:MM"; a date as "YYYY-MM-DD";
    "" for None."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return utc_to_local(value, zone(con)).strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
