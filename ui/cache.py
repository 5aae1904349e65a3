"""Caches shared by every session: the viewer's scope is always part of the key (DESIGN: never
cache what depends on who asks without the actor in the key)."""
from __future__ import annotations

import streamlit as st

from core import customers
from core.context import Actor


def _scope_key(actor: Actor) -> tuple:
    return (actor.id, actor.role, actor.team_id, actor.team_tree)


@st.cache_data(ttl=600, show_spinner=False)
def _provinces(scope_key: tuple, _con, _actor: Actor) -> list[str]:
    return customers.provinces(_con, _actor)


def province_options(con, actor: Actor) -> list[str]:
    """Provinces among the customers the viewer may see (filter options; up to 10 minutes old)."""
    return _provinces(_scope_key(actor), con, actor)
