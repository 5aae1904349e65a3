"""SLA in business hours: the working calendar, targets, due times, pause/resume, and the SLA state of
every open ticket in one set-based query; the escalation rule for breached tickets.

The clock. `work_calendar` has one row per company day (2015 .. this year + 10) built from the settings
service.work_start / work_end / workdays / holiday_country and the company's time zone, with the public
holidays and the make-up working days (调休) of the `holidays` package. `before_minutes` is the working
minutes of every earlier day, so the SQL macro `work_clock(ts, tz)` turns an instant into "working minutes
since the calendar began" (an equi-join on the local day), and business time between a and b is
work_clock(b) - work_clock(a). The inverse (the instant the clock reaches x) is `work_instant(x)` for one
value, an ASOF JOIN on before_minutes over many rows (`due_sql`).

Times are naive UTC. A ticket's SLA columns: first_response_minutes / resolution_minutes (targets in
business minutes), first_response_due / resolution_due (instants), pending_since (the clock is paused while
the ticket waits on the customer), paused_minutes (business minutes paused so far; the dues already moved
later by them).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from typing import Any, Sequence

import duckdb
import polars as pl

from core import clock, db, settings
from core.context import Actor, utcnow
from core.errors import ValidationError

PRIORITIES = ("critical", "high", "medium", "low")
OPEN_STATUSES = ("new", "open", "pending")
TARGETS = ("first_response", "resolution")
STATES = ("ok", "at_risk", "breached", "paused", "met", "missed")
CALENDAR_KEYS = ("service.work_start", "service.work_end", "service.workdays", "service.holiday_country",
                 "company.timezone")
FIRST_YEAR = 2015
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


# ------------------------------------------------------------------------------------------ the calendar

def parse_time(value: str) -> dt.time:
    """"HH:MM" -> time; ValidationError otherwise."""
    m = _TIME.match(str(value or "").strip())
    if not m:
        raise ValidationError("settings.bad_value", field="setting.service.work_start", value=value)
    return dt.time(int(m.group(1)), int(m.group(2)))


def parse_workdays(value: str) -> tuple[int, ...]:
    """"1,2,3,4,5" -> ISO weekdays; ValidationError for anything else."""
    try:
        days = tuple(sorted({int(p) for p in str(value).replace(" ", "").split(",") if p}))
    except ValueError:
        raise ValidationError("settings.bad_value", field="setting.service.workdays", value=value) from None
    if not days or any(d < 1 or d > 7 for d in days):
        raise ValidationError("settings.bad_value", field="setting.service.workdays", value=value)
    return days


@functools.lru_cache(maxsize=16)
def _holidays(country: str, first: int, last: int) -> tuple[dict[dt.date, str], frozenset[dt.date]]:
    """The package's days off (with their names) and make-up working days, for years first..last."""
    import holidays

    try:
        found = holidays.country_holidays(country, years=range(first, last + 1), language="en_US")
    except NotImplementedError:
        raise ValidationError("settings.bad_value", field="setting.service.holiday_country", value=country) from None
    makeup = frozenset(getattr(found, "weekend_workdays", ()) or ())
    return {d: str(name) for d, name in found.items()}, makeup


def countries() -> list[str]:
    """Country codes the holiday package knows."""
    import holidays

    return sorted(holidays.list_supported_countries())


def calendar_frame(con: duckdb.DuckDBPyConnection, years: range | None = None) -> pl.DataFrame:
    """The work_calendar rows for `years` (default 2015 .. this year + 10) from the current settings."""
    conf = settings.get_many(con, list(CALENDAR_KEYS))
    start, end = parse_time(conf["service.work_start"]), parse_time(conf["service.work_end"])
    if end <= start:
        raise ValidationError("sla.hours_order", field="setting.service.work_end")
    workdays = parse_workdays(conf["service.workdays"])
    if years is None:
        years = range(FIRST_YEAR, utcnow().year + 11)
    country = str(conf["service.holiday_country"]).strip().upper()
    return _calendar(start, end, workdays, country, clock.zone(con).key, min(years), max(years))


@functools.lru_cache(maxsize=8)
def _calendar(start: dt.time, end: dt.time, workdays: tuple[int, ...], country: str, zone: str,
              first: int, last: int) -> pl.DataFrame:
    offs, makeup = _holidays(country, first, last)
    tz = zoneinfo.ZoneInfo(zone)
    day = dt.date(first, 1, 1)
    stop = dt.date(last + 1, 1, 1)
    rows: dict[str, list[Any]] = {k: [] for k in ("day", "workday", "day_start_utc", "next_start_utc",
                                                  "work_start_utc", "work_end_utc", "minutes", "holiday")}
    one = dt.timedelta(days=1)
    midnight = dt.time()
    next_start = clock.local_to_utc(dt.datetime.combine(day, midnight), tz)
    while day < stop:
        is_makeup = day in makeup
        working = is_makeup or (day.isoweekday() in workdays and day not in offs)
        ws = clock.local_to_utc(dt.datetime.combine(day, start), tz)
        we = clock.local_to_utc(dt.datetime.combine(day, end), tz) if working else ws
        day_start, next_start = next_start, clock.local_to_utc(dt.datetime.combine(day + one, midnight), tz)
        rows["day"].append(day)
        rows["workday"].append(working)
        rows["day_start_utc"].append(day_start)
        rows["next_start_utc"].append(next_start)
        rows["work_start_utc"].append(ws)
        rows["work_end_utc"].append(we)
        rows["minutes"].append((we - ws).total_seconds() / 60.0)
        rows["holiday"].append("makeup" if is_makeup else offs.get(day))
        day += one
    frame = pl.DataFrame(rows, schema={"day": pl.Date, "workday": pl.Boolean, "day_start_utc": pl.Datetime("us"),
                                       "next_start_utc": pl.Datetime("us"), "work_start_utc": pl.Datetime("us"),
                                       "work_end_utc": pl.Datetime("us"), "minutes": pl.Float64,
                                       "holiday": pl.String})
    return frame.with_columns((pl.col("minutes").cum_sum() - pl.col("minutes")).alias("before_minutes"))


def build_calendar(con: duckdb.DuckDBPyConnection, years: range | None = None) -> int:
    """Rebuild work_calendar from the settings and the holiday package (one unit of work); returns the
    number of days."""
    frame = calendar_frame(con, years)

    def work() -> int:
        con.execute("DELETE FROM work_calendar")
        con.execute("INSERT INTO work_calendar (day, workday, day_start_utc, next_start_utc, work_start_utc, "
                    "work_end_utc, minutes, before_minutes, holiday) SELECT day, workday, day_start_utc, "
                    "next_start_utc, work_start_utc, work_end_utc, minutes, before_minutes, holiday FROM frame")
        return frame.height

    return db.write(con, work)


def ensure_calendar(con: duckdb.DuckDBPyConnection) -> None:
    """Build the calendar when it is empty (a cheap check)."""
    if db.scalar(con, "SELECT count(*) FROM (SELECT 1 FROM work_calendar LIMIT 1)") == 0:
        build_calendar(con)


def year_days(con: duckdb.DuckDBPyConnection, year: int, language: str = "en") -> pl.DataFrame:
    """The year's special days: public days off ('holiday', on any weekday) and make-up working days
    ('makeup'): day, kind, holiday (the package's name, in `language` when it has one: en | zh)."""
    ensure_calendar(con)
    found = db.frame(con, "SELECT day, CASE WHEN holiday = 'makeup' THEN 'makeup' ELSE 'holiday' END AS kind, "
                          "holiday FROM work_calendar WHERE year(day) = ? AND holiday IS NOT NULL "
                          "AND (holiday = 'makeup' OR NOT workday) ORDER BY day", [int(year)])
    if language == "zh" and not found.is_empty():
        country = str(settings.get(con, "service.holiday_country")).strip().upper()
        local = _local_names(country, int(year))
        found = found.with_columns(pl.struct("day", "holiday").map_elements(
            lambda r: local.get(r["day"], r["holiday"]) if r["holiday"] != "makeup" else "makeup",
            return_dtype=pl.String).alias("holiday"))
    return found


@functools.lru_cache(maxsize=32)
def _local_names(country: str, year: int) -> dict[dt.date, str]:
    import holidays

    try:
        found = holidays.country_holidays(country, years=year)
        language = "zh_CN" if "zh_CN" in (found.supported_languages or ()) else None
        if language is None:
            return {}
        return {d: str(n) for d, n in holidays.country_holidays(country, years=year, language=language).items()}
    except (NotImplementedError, KeyError, ValueError):
        return {}


# ----------------------------------------------------------------------------------- one-value clock

def _tz(con: duckdb.DuckDBPyConnection) -> str:
    return clock.zone(con).key


def work_clock(con: duckdb.DuckDBPyConnection, at: dt.datetime) -> float | None:
    """Working minutes from the calendar's start to instant `at` (naive UTC); None outside the calendar."""
    ensure_calendar(con)
    value = db.scalar(con, "SELECT work_clock(?::TIMESTAMP, ?)", [at, _tz(con)])
    return None if value is None else float(value)


def business_minutes(con: duckdb.DuckDBPyConnection, a_utc: dt.datetime, b_utc: dt.datetime) -> float:
    """Working minutes between two instants (negative when b is before a)."""
    ensure_calendar(con)
    tz = _tz(con)
    value = db.scalar(con, "SELECT work_clock(?::TIMESTAMP, ?) - work_clock(?::TIMESTAMP, ?)", [b_utc, tz, a_utc, tz])
    return 0.0 if value is None else float(value)


def due_at(con: duckdb.DuckDBPyConnection, start_utc: dt.datetime, minutes: float) -> dt.datetime | None:
    """The instant `minutes` working minutes after `start_utc` (None past the calendar's end)."""
    ensure_calendar(con)
    if minutes <= 0:
        return start_utc
    return db.scalar(con, "SELECT work_instant(work_clock(?::TIMESTAMP, ?) + ?)", [start_utc, _tz(con), float(minutes)])


# -------------------------------------------------------------------------------------------- targets

def targets(con: duckdb.DuckDBPyConnection, priority: str, level: str | None = None) -> tuple[int, int]:
    """(first_response_minutes, resolution_minutes) for a priority, the customer level's own targets first."""
    row = None
    if level:
        row = db.one(con, "SELECT first_response_hours, resolution_hours FROM sla_level_targets "
                          "WHERE priority = ? AND level = ?", [priority, level])
    if row is None:
        row = db.one(con, "SELECT first_response_hours, resolution_hours FROM sla_targets WHERE priority = ?",
                     [priority])
    if row is None:
        raise ValidationError("error.invalid_value", field="ticket.priority", value=priority)
    return int(round(float(row["first_response_hours"]) * 60)), int(round(float(row["resolution_hours"]) * 60))


def plan(con: duckdb.DuckDBPyConnection, opened_at: dt.datetime, priority: str, level: str | None = None) -> dict:
    """The SLA a new ticket gets: targets (business minutes) and the due instants."""
    first, resolution = targets(con, priority, level)
    return {"first_response_minutes": first, "resolution_minutes": resolution,
            "first_response_due": due_at(con, opened_at, first),
            "resolution_due": due_at(con, opened_at, resolution)}


def target_table(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per-priority targets (hours): priority, first_response_hours, resolution_hours."""
    return db.frame(con, "SELECT priority, first_response_hours, resolution_hours FROM sla_targets "
                         "ORDER BY list_position(?, priority), priority", [list(PRIORITIES)])


def level_target_table(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per priority x customer level overrides (hours): priority, level, first_response_hours, resolution_hours."""
    return db.frame(con, "SELECT priority, level, first_response_hours, resolution_hours FROM sla_level_targets "
                         "ORDER BY list_position(?, priority), level", [list(PRIORITIES)])


def _hours(value: Any, field: str) -> float:
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise ValidationError("settings.bad_value", field=field, value=value) from None
    if not (0 < hours <= 24 * 365):
        raise ValidationError("settings.out_of_range", field=field, low=0, high=24 * 365)
    return hours


def set_targets(con: duckdb.DuckDBPyConnection, actor: Actor, rows: Sequence[dict]) -> int:
    """Save per-priority targets: rows of priority, first_response_hours, resolution_hours (hours > 0,
    first response not longer than resolution). Audited; returns how many changed."""
    from core import access, audit

    access.require(con, actor, "settings", "edit")
    clean = []
    for r in rows:
        if r.get("priority") not in PRIORITIES:
            raise ValidationError("error.invalid_value", field="ticket.priority", value=r.get("priority"))
        first = _hours(r.get("first_response_hours"), "sla.first_response_hours")
        res = _hours(r.get("resolution_hours"), "sla.resolution_hours")
        if first > res:
            raise ValidationError("sla.first_after_resolution", field="sla.first_response_hours")
        clean.append((r["priority"], first, res))
    old = {p: (f, r) for p, f, r in con.execute("SELECT * FROM sla_targets").fetchall()}

    def work() -> int:
        changed = 0
        for priority, first, res in clean:
            if old.get(priority) == (first, res):
                continue
            con.execute("DELETE FROM sla_targets WHERE priority = ?", [priority])
            con.execute("INSERT INTO sla_targets VALUES (?, ?, ?)", [priority, first, res])
            audit.record(con, actor, "update", "setting", None,
                         {f"sla.{priority}": (list(old[priority]) if priority in old else None, [first, res])})
            changed += 1
        return changed

    return db.write(con, work)


def set_level_targets(con: duckdb.DuckDBPyConnection, actor: Actor, rows: Sequence[dict]) -> int:
    """Replace the per priority x level overrides with `rows` (priority, level, first_response_hours,
    resolution_hours); a row with an empty hour removes the override. Audited; returns the number kept."""
    from core import access, audit

    access.require(con, actor, "settings", "edit")
    levels = {r[0] for r in con.execute("SELECT code FROM customer_levels").fetchall()}
    clean: dict[tuple[str, str], tuple[float, float]] = {}
    for r in rows:
        first, res = r.get("first_response_hours"), r.get("resolution_hours")
        if (first is None or first == "") and (res is None or res == ""):
            continue
        if r.get("priority") not in PRIORITIES:
            raise ValidationError("error.invalid_value", field="ticket.priority", value=r.get("priority"))
        if r.get("level") not in levels:
            raise ValidationError("error.invalid_value", field="customer.level", value=r.get("level"))
        first, res = _hours(first, "sla.first_response_hours"), _hours(res, "sla.resolution_hours")
        if first > res:
            raise ValidationError("sla.first_after_resolution", field="sla.first_response_hours")
        clean[(r["priority"], r["level"])] = (first, res)
    old = {(p, lv): (f, r) for p, lv, f, r in con.execute("SELECT * FROM sla_level_targets").fetchall()}
    if old == clean:
        return len(clean)

    def work() -> int:
        con.execute("DELETE FROM sla_level_targets")
        if clean:
            kept = [(p, lv, f, r) for (p, lv), (f, r) in clean.items()]
            frame = pl.DataFrame(kept, schema=["priority", "level", "first_response_hours", "resolution_hours"],
                                 orient="row")  # noqa: F841 - read by the INSERT below
            con.execute("INSERT INTO sla_level_targets SELECT priority, level, first_response_hours, "
                        "resolution_hours FROM frame")
        audit.record(con, actor, "update", "setting", None,
                     {"sla.level_targets": ({f"{p}/{lv}": list(v) for (p, lv), v in old.items()},
                                            {f"{p}/{lv}": list(v) for (p, lv), v in clean.items()})})
        return len(clean)

    return db.write(con, work)


# ------------------------------------------------------------------------ pause / resume / replan

def pause(con: duckdb.DuckDBPyConnection, ticket_id: int, at: dt.datetime) -> None:
    """The ticket waits on the customer from `at`: its SLA clock stops (no-op when already paused)."""
    db.write(con, lambda: con.execute(
        "UPDATE tickets SET pending_since = ? WHERE id = ? AND pending_since IS NULL", [at, int(ticket_id)]))


def resume(con: duckdb.DuckDBPyConnection, ticket_id: int, at: dt.datetime) -> float:
    """The customer answered at `at`: the business minutes since pending_since are added to paused_minutes
    and every due not yet met moves later by them. Returns the minutes paused (0 when not paused)."""
    ensure_calendar(con)
    tz = _tz(con)

    def work() -> float:
        since = db.scalar(con, "SELECT pending_since FROM tickets WHERE id = ?", [int(ticket_id)])
        if since is None:
            return 0.0
        paused = max(0.0, business_minutes(con, since, at)) if at > since else 0.0
        whole = int(round(paused))
        con.execute(
            "UPDATE tickets SET paused_minutes = paused_minutes + ?, pending_since = NULL, "
            "first_response_due = CASE WHEN first_response_at IS NULL AND first_response_due IS NOT NULL AND ? > 0 "
            "  THEN coalesce(work_instant(work_clock(first_response_due, ?) + ?), first_response_due) "
            "  ELSE first_response_due END, "
            "resolution_due = CASE WHEN resolved_at IS NULL AND resolution_due IS NOT NULL AND ? > 0 "
            "  THEN coalesce(work_instant(work_clock(resolution_due, ?) + ?), resolution_due) "
            "  ELSE resolution_due END "
            "WHERE id = ?", [whole, whole, tz, whole, whole, tz, whole, int(ticket_id)])
        return float(whole)

    return db.write(con, work)


def replan(con: duckdb.DuckDBPyConnection, ticket_id: int, at: dt.datetime | None = None) -> dict | None:
    """Targets and dues again (the priority or the customer's level changed): from the clock's start with
    the ticket's current targets plus the minutes it was paused. The clock's start is opened_at, or for a
    reopened ticket its reopened_at (see `restart`); a first response given before a reopen is history and
    keeps its due. `at` is when the change happened (a ticket paused at that moment keeps its pause).
    Returns the new plan (None for an unknown ticket)."""
    ensure_calendar(con)

    def work() -> dict | None:
        row = db.one(con, "SELECT t.opened_at, t.reopened_at, t.first_response_at, t.first_response_minutes, "
                          "t.first_response_due, t.priority, c.level, t.paused_minutes FROM tickets t "
                          "LEFT JOIN customers c ON c.id = t.customer_id WHERE t.id = ?", [int(ticket_id)])
        if row is None:
            return None
        start = row["reopened_at"] or row["opened_at"]
        first, res = targets(con, row["priority"], row["level"])
        paused = int(row["paused_minutes"] or 0)
        new = {"first_response_minutes": first, "resolution_minutes": res,
               "first_response_due": due_at(con, start, first + paused),
               "resolution_due": due_at(con, start, res + paused)}
        if row["reopened_at"] is not None and row["first_response_at"] is not None:
            new.update(first_response_minutes=row["first_response_minutes"],
                       first_response_due=row["first_response_due"])
        con.execute("UPDATE tickets SET first_response_minutes = ?, resolution_minutes = ?, "
                    "first_response_due = ?, resolution_due = ? WHERE id = ?",
                    [new["first_response_minutes"], res, new["first_response_due"], new["resolution_due"],
                     int(ticket_id)])
        return new

    return db.write(con, work)


def restart(con: duckdb.DuckDBPyConnection, ticket_id: int, at: dt.datetime) -> dict | None:
    """A resolved or closed ticket is reopened at `at`: its resolution clock starts again there with the
    full target (as Zendesk and Frappe Helpdesk do; keeping the old due would show it breached at once),
    and so does the first response when the customer never got one. Pauses before the reopen are done
    with (paused_minutes 0, pending_since NULL). Called inside the caller's unit (tickets.reopen /
    set_status). Returns the new plan (None for an unknown ticket)."""
    ensure_calendar(con)

    def work() -> dict | None:
        found = db.scalar(con, "SELECT count(*) FROM tickets WHERE id = ?", [int(ticket_id)])
        if not found:
            return None
        con.execute("UPDATE tickets SET reopened_at = ?, paused_minutes = 0, pending_since = NULL WHERE id = ?",
                    [at, int(ticket_id)])
        return replan(con, ticket_id, at)

    return db.write(con, work)


def due_sql(start_sql: str, minutes_sql: str, source_sql: str, tz_param: str = "?") -> str:
    """A query over `source_sql` (any rows with an `id`) adding `due`: the instant `minutes_sql` working
    minutes after `start_sql`, for many rows at once (an ASOF JOIN on before_minutes; params: the company
    time zone in place of `tz_param`, then the source's own). Columns: id, due."""
    return (
        f"WITH s AS (SELECT src.id, work_clock({start_sql}, {tz_param}) + ({minutes_sql}) AS x, "
        f"  ({minutes_sql}) AS m, {start_sql} AS start FROM ({source_sql}) src) "
        "SELECT s.id, CASE WHEN s.m <= 0 THEN s.start "
        "  ELSE c.work_start_utc + to_microseconds(CAST(round((s.x - c.before_minutes) * 60000000) AS BIGINT)) END "
        "  AS due "
        "FROM s ASOF LEFT JOIN (SELECT before_minutes, work_start_utc FROM work_calendar WHERE workday) c "
        "  ON s.x > c.before_minutes")


def replan_many(con: duckdb.DuckDBPyConnection, where_sql: str = "TRUE", params: Sequence[Any] = ()) -> int:
    """Set-based replan of the tickets matching `where_sql` (over alias t): targets from priority and the
    customer's level, dues from the clock's start (opened_at; reopened_at for a reopened ticket, whose
    earlier first response keeps its due, as in `replan`) + target + paused_minutes. For bulk loads."""
    ensure_calendar(con)
    tz = _tz(con)

    def work() -> int:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _sla_plan AS "
            "SELECT t.id, coalesce(t.reopened_at, t.opened_at) AS opened_at, t.paused_minutes, "
            " t.reopened_at IS NOT NULL AND t.first_response_at IS NOT NULL AS keep_first, "
            " CAST(round(coalesce(l.first_response_hours, s.first_response_hours) * 60) AS INTEGER) AS frm, "
            " CAST(round(coalesce(l.resolution_hours, s.resolution_hours) * 60) AS INTEGER) AS rm "
            "FROM tickets t LEFT JOIN customers c ON c.id = t.customer_id "
            "LEFT JOIN sla_level_targets l ON l.priority = t.priority AND l.level = c.level "
            f"JOIN sla_targets s ON s.priority = t.priority WHERE {where_sql}", list(params))  # sql-ok: caller's fixed text
        fr = due_sql("opened_at", "frm + paused_minutes", "SELECT * FROM _sla_plan")
        rs = due_sql("opened_at", "rm + paused_minutes", "SELECT * FROM _sla_plan")
        con.execute(
            f"UPDATE tickets SET first_response_minutes = CASE WHEN p.keep_first THEN tickets.first_response_minutes "
            f"ELSE p.frm END, resolution_minutes = p.rm, "
            f"first_response_due = CASE WHEN p.keep_first THEN tickets.first_response_due ELSE f.due END, "
            f"resolution_due = r.due "
            f"FROM _sla_plan p JOIN ({fr}) f ON f.id = p.id JOIN ({rs}) r ON r.id = p.id "
            f"WHERE tickets.id = p.id", [tz, tz])  # sql-ok: fixed text
        n = db.scalar(con, "SELECT count(*) FROM _sla_plan")
        con.execute("DROP TABLE _sla_plan")
        return int(n or 0)

    return db.write(con, work)


# ------------------------------------------------------------------------------------------ SLA state

def state_sql(con: duckdb.DuckDBPyConnection, now_utc: dt.datetime, source_sql: str,
              source_params: Sequence[Any] = ()) -> tuple[str, list]:
    """Wrap `source_sql` (ticket rows with the tickets table's column names) and add, set-based:
    sla_target ('first_response' | 'resolution'; NULL once resolved/closed), sla_due, sla_left_minutes
    (business minutes left, negative when breached, frozen while pending; for a resolved ticket the margin
    it was resolved with), sla_used (share of the target used), sla_state ('ok' | 'at_risk' | 'breached' |
    'paused' | 'met' | 'missed'; NULL for a duplicate merged into another ticket). Returns (sql, params): the source's params come first."""
    ensure_calendar(con)
    tz = _tz(con)
    risk = float(settings.get(con, "service.at_risk_percent")) / 100.0
    now_clock = db.scalar(con, "SELECT work_clock(?::TIMESTAMP, ?)", [now_utc, tz])
    # a row's target, due and the instant its clock stands at (frozen while pending), then the clock values
    sql = (
        "WITH s0 AS (SELECT src.*, "
        "  CASE WHEN src.status NOT IN ('new', 'open', 'pending') THEN NULL "
        "       WHEN src.first_response_at IS NULL THEN 'first_response' ELSE 'resolution' END AS sla_target "
        f"  FROM ({source_sql}) src), "
        "s1 AS (SELECT s0.*, "
        "  CASE WHEN sla_target = 'first_response' THEN first_response_due ELSE resolution_due END AS sla_due, "
        "  CASE WHEN sla_target = 'first_response' THEN first_response_minutes ELSE resolution_minutes END AS _target, "
        "  CASE WHEN sla_target IS NULL THEN coalesce(resolved_at, closed_at) "
        "       WHEN status = 'pending' THEN coalesce(pending_since, status_changed_at) ELSE pending_since END AS _at "
        "  FROM s0), "
        # work_clock(sla_due) - work_clock(_at) as two equi-joins on the local day (the macro's subqueries,
        # decorrelated per call, cost a join each; same values, NULL outside the calendar)
        "s2 AS (SELECT s1.*, "
        "  (cd.before_minutes + CASE WHEN s1.sla_due <= cd.work_start_utc THEN 0.0 "
        "       WHEN s1.sla_due >= cd.work_end_utc THEN cd.minutes "
        "       ELSE epoch(s1.sla_due - cd.work_start_utc) / 60.0 END) "
        "  - coalesce(ca.before_minutes + CASE WHEN s1._at <= ca.work_start_utc THEN 0.0 "
        "       WHEN s1._at >= ca.work_end_utc THEN ca.minutes "
        "       ELSE epoch(s1._at - ca.work_start_utc) / 60.0 END, ?) AS sla_left_minutes "
        "  FROM s1 LEFT JOIN work_calendar cd ON cd.day = CAST(s1.sla_due AT TIME ZONE 'UTC' AT TIME ZONE ? AS DATE) "
        "  LEFT JOIN work_calendar ca ON ca.day = CAST(s1._at AT TIME ZONE 'UTC' AT TIME ZONE ? AS DATE)) "
        "SELECT s2.* EXCLUDE (_target, _at), "
        "  CASE WHEN _target > 0 THEN (_target - sla_left_minutes) / _target END AS sla_used, "
        "  CASE WHEN sla_due IS NULL OR sla_left_minutes IS NULL OR merged_into IS NOT NULL THEN NULL "
        "       WHEN sla_target IS NULL THEN CASE WHEN sla_left_minutes >= 0 "
        "            AND (first_response_due IS NULL OR first_response_at IS NULL OR first_response_at <= first_response_due) "
        "            THEN 'met' ELSE 'missed' END "
        "       WHEN sla_left_minutes <= 0 THEN 'breached' "
        "       WHEN pending_since IS NOT NULL OR status = 'pending' THEN 'paused' "
        "       WHEN _target > 0 AND (_target - sla_left_minutes) >= ? * _target THEN 'at_risk' "
        "       ELSE 'ok' END AS sla_state "
        "FROM s2")
    return sql, [*source_params, now_clock, tz, tz, risk]


def open_state(con: duckdb.DuckDBPyConnection, actor: Actor, now: dt.datetime | None = None) -> pl.DataFrame:
    """Every open ticket in the actor's scope with the SLA columns (id, ticket_no, priority, status,
    assignee_id, team_id, sla_*)."""
    from core import access

    now = now or actor.now
    parts, params = [], []
    for where, args in access.service_branches(con, actor, "tickets", "view", "t"):
        parts.append("SELECT t.* FROM tickets t WHERE t.status IN ('new', 'open', 'pending') "
                     f"AND t.deleted_at IS NULL AND ({where})")  # sql-ok: access rule
        params += args
    if not parts:
        return pl.DataFrame()
    sql, args = state_sql(con, now, " UNION ALL ".join(parts), params)
    return db.frame(con, f"SELECT id, ticket_no, priority, status, assignee_id, team_id, sla_target, sla_due, "
                         f"sla_left_minutes, sla_used, sla_state FROM ({sql}) x", args)  # sql-ok


# ------------------------------------------------------------------------------------------ escalation

def escalate(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> int:
    """The escalation rule (a system run, on the scheduler): every open ticket newly breached gets one
    `escalations` row per (ticket, target, due) and a notification 'sla_breach' to its assignee and its
    team's lead (teams.lead_id; else the team's managers; else the assignee's manager). Set-based; a second
    run over the same breaches writes nothing. Returns the number of new escalations."""
    now = now or utcnow()
    inner, params = state_sql(con, now, "SELECT * FROM tickets WHERE status IN ('new', 'open', 'pending') "
                                        "AND deleted_at IS NULL AND merged_into IS NULL")

    def work() -> int:
        new = db.frame(
            con, f"SELECT x.id, x.ticket_no, x.subject, x.sla_target, x.sla_due, x.assignee_id, x.team_id "
                 f"FROM ({inner}) x WHERE x.sla_state = 'breached' AND x.sla_target IS NOT NULL "
                 "AND x.sla_due IS NOT NULL AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.ticket_id = x.id "
                 "AND e.target = x.sla_target AND e.due_at = x.sla_due)", params)  # sql-ok: fixed text
        if new.is_empty():
            return 0
        con.execute("INSERT INTO escalations (ticket_id, target, due_at, escalated_at) "
                    "SELECT id, sla_target, sla_due, ? FROM new", [now])
        # who hears of it: the assignee, and the team's lead (else its managers, else the assignee's manager)
        con.execute(
            "INSERT INTO notifications (id, user_id, kind, object, object_id, params, created_at) "
            "WITH people AS (SELECT id AS user_id FROM users WHERE active AND deleted_at IS NULL), "
            "lead AS ("
            "  SELECT n.id, tm.lead_id AS user_id, 1 AS rank FROM new n JOIN teams tm ON tm.id = n.team_id "
            "    WHERE tm.lead_id IN (SELECT user_id FROM people) "
            "  UNION ALL SELECT n.id, u.id, 2 FROM new n JOIN users u ON u.team_id = n.team_id "
            "    WHERE u.role = 'manager' AND u.id IN (SELECT user_id FROM people) "
            "  UNION ALL SELECT n.id, a.manager_id, 3 FROM new n JOIN users a ON a.id = n.assignee_id "
            "    WHERE a.manager_id IN (SELECT user_id FROM people)), "
            "chosen AS (SELECT id, user_id FROM lead QUALIFY rank = min(rank) OVER (PARTITION BY id) "
            "  UNION SELECT id, assignee_id FROM new WHERE assignee_id IN (SELECT user_id FROM people)) "
            "SELECT nextval('seq_notifications'), c.user_id, 'sla_breach', 'ticket', n.id, "
            "  json_object('ticket_no', n.ticket_no, 'subject', n.subject, 'target', n.sla_target), ? "
            "FROM (SELECT DISTINCT id, user_id FROM chosen) c JOIN new n ON n.id = c.id", [now])
        return new.height

    return db.write(con, work)


def escalated(con: duckdb.DuckDBPyConnection, ticket_id: int) -> list[dict]:
    """A ticket's escalations, oldest first: target, due_at, escalated_at."""
    return db.rows(con, "SELECT target, due_at, escalated_at FROM escalations WHERE ticket_id = ? "
                        "ORDER BY escalated_at, target", [int(ticket_id)])


# ------------------------------------------------------------------------------------ the admin's rules

SERVICE_KEYS = ("service.work_start", "service.work_end", "service.workdays", "service.holiday_country",
                "service.at_risk_percent", "service.reopen_days", "service.escalation_every_minutes")


def service_settings(con: duckdb.DuckDBPyConnection, actor: Actor) -> dict[str, Any]:
    """The service desk's settings (those who may view the settings)."""
    from core import access

    access.require(con, actor, "settings", "view")
    return settings.get_many(con, list(SERVICE_KEYS))


def save_settings(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict[str, Any]) -> int:
    """Save several service settings at once (one unit of work, the calendar rebuilt inside it): working
    hours are checked as a pair, so moving both start and end past the old end works. Returns how many
    settings changed."""
    from core import access

    access.require(con, actor, "settings", "edit")
    unknown = [k for k in values if k not in SERVICE_KEYS]
    if unknown:
        raise ValidationError("error.invalid_value", value=unknown[0])
    current = settings.get_many(con, list(SERVICE_KEYS))
    clean = {k: settings.coerce(k, v) for k, v in values.items()}
    start = parse_time(clean.get("service.work_start", current["service.work_start"]))
    end = parse_time(clean.get("service.work_end", current["service.work_end"]))
    if end <= start:
        raise ValidationError("sla.hours_order", field="setting.service.work_end")
    if "service.workdays" in clean:
        clean["service.workdays"] = ",".join(str(d) for d in parse_workdays(clean["service.workdays"]))
    if "service.holiday_country" in clean:
        clean["service.holiday_country"] = str(clean["service.holiday_country"]).strip().upper()
    changed = [k for k, v in clean.items() if v != current[k]]
    # the end first when the new start is past the old end, so every step is a valid pair
    if "service.work_start" in changed and start >= parse_time(current["service.work_end"]):
        changed.sort(key=lambda k: k != "service.work_end")

    def work() -> int:
        for key in changed:
            settings.set_value(con, actor, key, clean[key])
        return len(changed)

    return db.write(con, work)


def team_leads(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every team with its lead (the escalations' recipient): id, name, lead_id, lead_name."""
    return db.frame(con, "SELECT t.id, t.name, t.lead_id, u.name AS lead_name FROM teams t "
                         "LEFT JOIN users u ON u.id = t.lead_id WHERE t.deleted_at IS NULL ORDER BY t.name, t.id")


def set_team_lead(con: duckdb.DuckDBPyConnection, actor: Actor, team_id: int, user_id: int | None) -> None:
    """Name a team's lead (None: nobody; the team's managers are told of breaches then). Audited."""
    from core import access, audit
    from core.errors import NotFound

    access.require(con, actor, "org", "edit")
    team = db.one(con, "SELECT id, lead_id FROM teams WHERE id = ? AND deleted_at IS NULL", [int(team_id)])
    if team is None:
        raise NotFound("error.not_found")
    if user_id is not None and not db.scalar(
            con, "SELECT count(*) FROM users WHERE id = ? AND active AND deleted_at IS NULL", [int(user_id)]):
        raise ValidationError("error.invalid_value", field="sla.team_lead", value=user_id)
    if team["lead_id"] == user_id:
        return

    def work() -> None:
        con.execute("UPDATE teams SET lead_id = ? WHERE id = ?", [user_id, int(team_id)])
        audit.record(con, actor, "update", "team", int(team_id), {"lead_id": (team["lead_id"], user_id)})

    db.write(con, work)


def lead_candidates(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Active users who can lead a team (service, manager and admin roles): id, name, role."""
    return db.frame(con, "SELECT id, name, role FROM users WHERE active AND deleted_at IS NULL "
                         "AND role IN ('service', 'manager', 'admin') ORDER BY name, id")
