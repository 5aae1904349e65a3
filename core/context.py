"""The acting user, passed first (after the connection) to every service."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


def utcnow() -> dt.datetime:
    """Naive UTC, the form every TIMESTAMP in the store takes."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Actor:
    id: int | None
    username: str
    name: str
    role: str
    team_id: int | None = None
    team_tree: tuple[int, ...] = ()   # own team and every team below it
    language: str = "en"
    is_new_hire: bool = False
    pools: tuple[int, ...] = ()       # pools seen beyond the own team's: pool_members, new-hire pools (core.pool_mask)
    now: dt.datetime = field(default_factory=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SYSTEM = Actor(id=None, username="system", name="System", role="admin")
