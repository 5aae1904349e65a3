"""Jobs that run on a schedule inside the app process: the SLA escalation rule, complaints coming due,
and later the pool reclaim.

A job is (name, every_seconds, fn(con, now)): `every_seconds` is a number or a function of the
connection (so a setting such as service.escalation_every_minutes takes effect without a restart);
`fn` gets its own cursor and the clock's naive UTC now, and does its writes through `db.write`.
`register(...)` adds a job to the registry that `default_jobs` reads.

`Scheduler` runs jobs on one daemon thread with its own cursor. A job that raises is logged and
counted (`status()`), its unit of work is rolled back and the cursor replaced, and the others go on:
nothing a job does can stop the app or leave a transaction open.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import duckdb

from core.context import utcnow

log = logging.getLogger("crm.scheduler")

JobFn = Callable[[duckdb.DuckDBPyConnection, dt.datetime], Any]


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: Any  # float, or fn(con) -> float (read before every wait)
    fn: JobFn

    def interval(self, con: duckdb.DuckDBPyConnection) -> float:
        value = self.every_seconds(con) if callable(self.every_seconds) else self.every_seconds
        return max(0.01, float(value))


_REGISTRY: dict[str, Job] = {}


def register(name: str, every_seconds: Any, fn: JobFn) -> Job:
    """Add (or replace) a job of the app's scheduler."""
    job = _REGISTRY[name] = Job(name, every_seconds, fn)
    return job


def _escalation_every(con: duckdb.DuckDBPyConnection) -> float:
    from core import settings

    return float(settings.get(con, "service.escalation_every_minutes")) * 60.0


def _escalate(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
    from core import sla

    return sla.escalate(con, now)


def _complaints_due(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> Any:
    from core import feedback

    run = getattr(feedback, "due_complaints", None)
    return None if run is None else run(con, now)


def _pool_reclaim(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> Any:
    from core import reclaim

    return reclaim.reclaim_job(con, now)  # runs once per company day, at or after pool.reclaim_at


register("sla_escalation", _escalation_every, _escalate)
register("complaints_due", 3600.0, _complaints_due)
register("pool_reclaim", 300.0, _pool_reclaim)


def _pool_refresh(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> Any:
    from core import pool

    return pool.refresh_job(con, now)  # the weekly refresh, once on pool.refresh_weekday


register("pool_refresh", 3600.0, _pool_refresh)


def _backup_daily(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> Any:
    from core import backup

    return backup.backup_job(con, now)  # once per company day at backup.at; retention backup.keep_days


register("backup_daily", 300.0, _backup_daily)


def default_jobs(con: duckdb.DuckDBPyConnection | None = None) -> list[Job]:
    """The registered jobs (the app's scheduler runs these)."""
    return list(_REGISTRY.values())


@dataclass
class _State:
    runs: int = 0
    failures: int = 0
    last_run: dt.datetime | None = None
    last_error: str | None = None
    last_result: Any = None
    next_at: float = 0.0  # time.monotonic() of the next run


@dataclass
class Scheduler:
    """Runs `jobs` on a daemon thread over its own cursor of `shared` (the process's connection).
    The first run of each job waits `first_delay` seconds (the app opens first)."""

    shared: duckdb.DuckDBPyConnection
    jobs: Iterable[Job] | None = None
    tick: float = 1.0
    first_delay: float = 0.0
    now: Callable[[], dt.datetime] = utcnow
    _states: dict[str, _State] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.jobs = list(default_jobs() if self.jobs is None else self.jobs)
        start = time.monotonic() + self.first_delay
        self._states = {j.name: _State(next_at=start) for j in self.jobs}

    # -- lifecycle
    def start(self) -> "Scheduler":
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="crm-scheduler", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> dict[str, dict]:
        """Per job: runs, failures, last_run, last_error, last_result."""
        return {name: {"runs": s.runs, "failures": s.failures, "last_run": s.last_run,
                       "last_error": s.last_error, "last_result": s.last_result}
                for name, s in self._states.items()}

    # -- the loop
    def _cursor(self) -> duckdb.DuckDBPyConnection | None:
        try:
            return self.shared.cursor()
        except Exception:  # the connection was closed: nothing more to do
            return None

    def _loop(self) -> None:
        cur = self._cursor()
        try:
            while cur is not None and not self._stop.is_set():
                for job in self.jobs:
                    if self._stop.is_set():
                        break
                    state = self._states[job.name]
                    if time.monotonic() < state.next_at:
                        continue
                    cur = self.run_one(job, cur)
                    if cur is None:
                        return
                self._stop.wait(self.tick)
        finally:
            if cur is not None:
                try:
                    cur.close()
                except Exception:
                    pass

    def run_one(self, job: Job, cur: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection | None:
        """Run one job now; returns the cursor to go on with (a fresh one after a failure)."""
        state = self._states.setdefault(job.name, _State())
        now = self.now()
        try:
            state.last_result = job.fn(cur, now)
            state.last_error = None
        except BaseException as exc:  # noqa: BLE001 - a job must never take the thread (or the app) down
            state.failures += 1
            state.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("scheduled job %s failed: %s\n%s", job.name, state.last_error, traceback.format_exc())
            cur = self._fresh(cur)
        finally:
            state.runs += 1
            state.last_run = now
        if cur is not None:
            try:
                interval = job.interval(cur)
            except Exception:  # an unreadable setting: try again in a minute
                interval = 60.0
                cur = self._fresh(cur)
            state.next_at = time.monotonic() + interval
        return cur

    def _fresh(self, cur: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection | None:
        """Roll back whatever the failed job left open and go on with a new cursor."""
        try:
            cur.execute("ROLLBACK")
        except Exception:
            pass
        try:
            cur.close()
        except Exception:
            pass
        return self._cursor()
