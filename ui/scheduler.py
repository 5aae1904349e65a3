"""The app's scheduler (core.scheduler): started once per process on the first script run, stopped when
the resource cache lets it go. It runs the registered jobs (the SLA escalation every
service.escalation_every_minutes...) on its own thread and cursor; nothing it does reaches a page.

Set CRM_SCHEDULER=off to run the app without it (a second process over a copy of the data, a test).
"""
from __future__ import annotations

import logging
import os

import streamlit as st

from core import scheduler
from ui.db import database

log = logging.getLogger("crm.scheduler")
FIRST_DELAY_SECONDS = 20.0  # the first runs wait until the app has opened


def _release(found: scheduler.Scheduler | None) -> None:
    if found is not None:
        found.stop(timeout=0)


@st.cache_resource(show_spinner=False, on_release=_release)
def _scheduler() -> scheduler.Scheduler | None:
    if os.environ.get("CRM_SCHEDULER", "").strip().lower() in ("off", "0", "false", "no"):
        return None
    return scheduler.Scheduler(database(), first_delay=FIRST_DELAY_SECONDS).start()


def start() -> scheduler.Scheduler | None:
    """The process's scheduler, started if it is not running yet. Never raises: without a scheduler the
    app still works (escalations wait for the next start)."""
    try:
        found = _scheduler()
        if found is not None and not found.running:
            found.start()
        return found
    except Exception as exc:  # noqa: BLE001 - a page must never fail because of the scheduler
        log.warning("the scheduler did not start: %s", exc)
        return None
