"""The database, opened once per process; each script run gets its own cursor.

Streamlit runs a session's script on a thread, and with fast reruns a new run may start on another
thread while the previous one still works: a cursor kept in session_state would be used by two
threads at once ("connection is busy with another call"). A cursor per thread is a cursor per
running script, and a unit of work never spans two threads.
"""
from __future__ import annotations

import threading

import streamlit as st

from core import config, setup

_local = threading.local()


@st.cache_resource(show_spinner="Opening the database…")
def database():
    con, built = setup.open_database(config.db_path(), config.demo_scale())
    if built is not None:
        from core.__main__ import demo_logins_text

        print(f"Created {config.db_path()} with the demo company.\n{demo_logins_text()}", flush=True)
    return con


def con():
    """The cursor of this thread (this script run) on the shared database."""
    shared = database()
    found = getattr(_local, "cursor", None)
    if found is None or found[0] is not shared:
        found = _local.cursor = (shared, shared.cursor())
    return found[1]
