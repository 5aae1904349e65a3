"""In-app notifications (shown on "my day"): an SLA breach for the assignee and the team's lead, a
complaint due, ... A notification names its kind, the record it is about and the parameters of its
message (`notify.<kind>` in the catalogues); it is read once its user opens it or marks it read.

`notify` joins the caller's unit of work (one INSERT for any number of users); `unread` and `recent`
read only the acting user's own rows.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable

import duckdb
import polars as pl

from core import db
from core.context import Actor

KINDS = ("sla_breach", "complaint_due", "ticket_assigned", "pool_reclaim")


def notify(con: duckdb.DuckDBPyConnection, user_ids: Iterable[int | None], kind: str, object_: str | None,
           object_id: int | None, params: dict[str, Any] | None, now: dt.datetime) -> int:
    """One notification per distinct user (None and repeats skipped); returns how many were written."""
    if kind not in KINDS:
        raise ValueError(kind)
    users = sorted({int(u) for u in user_ids if u is not None})
    if not users:
        return 0

    def work() -> int:
        ids = db.next_ids(con, "notifications", len(users))
        frame = pl.DataFrame({"id": ids, "user_id": users}, schema={"id": pl.Int64, "user_id": pl.Int64})
        con.execute(
            "INSERT INTO notifications (id, user_id, kind, object, object_id, params, created_at) "
            "SELECT f.id, f.user_id, ?, ?, ?, ?::JSON, ? FROM frame f",
            [kind, object_, object_id, json.dumps(params or {}, ensure_ascii=False), now])
        return len(users)

    return db.write(con, work)


def unread(con: duckdb.DuckDBPyConnection, actor: Actor, limit: int = 20) -> pl.DataFrame:
    """The acting user's unread notifications, newest first: id, kind, object, object_id, params (dict),
    created_at."""
    found = db.frame(con, "SELECT id, kind, object, object_id, params, created_at FROM notifications "
                          "WHERE user_id = ? AND read_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ?",
                     [actor.id, int(limit)])
    return found.with_columns(pl.col("params").map_elements(lambda s: json.loads(s) if s else {},
                                                            return_dtype=pl.Object))


def unread_count(con: duckdb.DuckDBPyConnection, actor: Actor) -> int:
    return int(db.scalar(con, "SELECT count(*) FROM notifications WHERE user_id = ? AND read_at IS NULL",
                         [actor.id]) or 0)


def mark_read(con: duckdb.DuckDBPyConnection, actor: Actor, ids: Iterable[int] | None = None) -> int:
    """Mark the acting user's notifications read (the given ones, or all); returns how many."""
    chosen = None if ids is None else [int(i) for i in ids]

    def work() -> int:
        where, args = "user_id = ? AND read_at IS NULL", [actor.id]
        if chosen is not None:
            where += " AND id IN (SELECT unnest(?::BIGINT[]))"
            args.append(chosen)
        n = db.scalar(con, f"SELECT count(*) FROM notifications WHERE {where}", args)  # sql-ok: fixed text
        con.execute(f"UPDATE notifications SET read_at = ? WHERE {where}", [actor.now] + args)  # sql-ok
        return int(n or 0)

    return db.write(con, work)
