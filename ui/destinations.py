"""Where a leaver's records go (离职交接): the counts of each kind first, then per kind a person, the pool
(customers and leads: their team's shared pool; tickets: unassigned in their queue) or, for contacts,
"with their customers". Drawn by the handover page and by deactivation on the users page; core.handover
moves everything in one unit of work and checks every choice again."""
from __future__ import annotations

import polars as pl
import streamlit as st

from core import handover
from core.i18n import translate
from ui import tables
from ui.i18n import lang, t

SAME, FOLLOW, POOL = "same", "follow", "pool"
TO_POOL = tuple(getattr(handover, "TO_POOL", ("customers", "leads", "tickets")))


def plain(key: str, **params) -> str:
    return translate(lang(), key, **params)


def counts_table(counts: dict, key: str) -> None:
    """How many records of each kind the leaver holds."""
    tables.show(pl.DataFrame({"what": [t(f"handover.count_{k}") for k in handover.KEYS],
                              "n": [int(counts.get(k, 0)) for k in handover.KEYS]}),
                {"what": "merge.what", "n": "merge.how_many"}, key=key)


def picker(counts: dict, takers: dict, leaver_id: int, key: str, receiver: int | None = None) -> dict | None:
    """One row per kind the leaver holds: its count and where it goes. `takers`: user id -> label of the
    people the actor may give records to; `receiver`: the one person chosen for everything (the rows
    then start at "as above"). Returns {kind: user id | "pool" | None (contacts: with their customers)},
    or None while some kind has nowhere to go."""
    people = {i: label for i, label in takers.items() if i != leaver_id}
    chosen: dict = {}
    missing = False
    kinds = [k for k in handover.KEYS if int(counts.get(k, 0))]
    if not kinds:
        return {}
    st.markdown(f"**{t('handover.where_title')}**")
    for kind in kinds:
        options: list = []
        names: dict = {}
        if receiver is not None:
            options.append(SAME)
            names[SAME] = plain("handover.as_above", name=takers.get(receiver, ""))
        if kind == "contacts":
            options.append(FOLLOW)
            names[FOLLOW] = plain("handover.with_customers")
        if kind in TO_POOL:
            options.append(POOL)
            names[POOL] = plain(f"handover.to_pool_{'queue' if kind == 'tickets' else 'team'}")
        options += list(people)
        names.update(people)
        label_col, pick_col = st.columns([2, 3], vertical_alignment="center")
        label_col.markdown(t("handover.kind_n", kind=t(f"handover.count_{kind}"), n=f"{int(counts[kind]):,}"))
        value = pick_col.selectbox(
            t("handover.where_to_label", kind=t(f"handover.count_{kind}")), options,
            index=0 if options and options[0] in (SAME, FOLLOW) else None, format_func=lambda v, n=names: n.get(v, v),
            placeholder=plain("handover.choose_where"), label_visibility="collapsed", key=f"{key}_{kind}")
        if value is None:
            missing = True
        elif value == SAME:
            chosen[kind] = receiver
        elif value == FOLLOW:
            chosen[kind] = None
        else:
            chosen[kind] = value
    if missing:
        st.caption(t("handover.choose_every"))
        return None
    return chosen
