"""Admin: the recycle bin: restore deleted records, purge those past the retention period.

After a restore or a purge the page runs again (the list refreshes) and says what happened; the
message is kept across that rerun in session_state."""
import hashlib

import streamlit as st

from core import recycle, settings
from ui import errors, tables
from ui.i18n import t
from ui.session import actor, con

FLASH = "_bin_flash"

me, c = actor(), con()
st.title(t("page.recycle"))
st.caption(t("recycle.help", days=settings.get(c, "recycle.retention_days")))


def done(message: str) -> None:
    st.session_state[FLASH] = message
    st.rerun()


if flash := st.session_state.pop(FLASH, None):
    st.success(flash)

entity = st.selectbox(t("recycle.entity"), [None, *recycle.ENTITIES],
                      format_func=lambda e: t(f"entity.{e}") if e else t("list.all"), key="bin_entity")
with errors.handled():
    df = recycle.deleted(c, me, entity)
    if df.is_empty():
        st.info(t("recycle.empty"))
    else:
        # translated here, in the page's run (a t() inside map_elements runs on polars' threads, in English)
        names = {e: t(f"entity.{e}") for e in df["entity"].unique().to_list()}
        shown = df.with_columns(df["entity"].replace_strict(names, return_dtype=df["entity"].dtype))
        # a new key whenever the rows change: a picked position never points at another record
        rows_key = hashlib.sha1(repr(list(zip(df["entity"].to_list(), df["id"].to_list()))).encode()).hexdigest()[:12]
        picked = tables.show(shown, {"entity": "recycle.entity", "label": "recycle.label", "deleted_at": "recycle.deleted_at",
                                     "deleted_by_name": "recycle.deleted_by", "purge_after": "recycle.purge_after"},
                             key=f"bin_table_{rows_key}", selectable=True)
        if picked:
            row = df.row(picked[0], named=True)
            if st.button(t("recycle.restore", label=row["label"]), type="primary", key="bin_restore"):
                with errors.handled():
                    recycle.restore(c, me, row["entity"], [row["id"]])
                    done(t("recycle.restored", label=row["label"]))
    if st.button(t("recycle.purge"), key="bin_purge"):
        with errors.handled():
            counts = recycle.purge(c, me)
            done(t("recycle.purged", n=sum(counts.values())))
