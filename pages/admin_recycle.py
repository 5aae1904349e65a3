"""Admin: the recycle bin: restore deleted records, purge those past the retention period."""
import streamlit as st

from core import recycle, settings
from ui import errors, tables
from ui.i18n import t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.recycle"))
st.caption(t("recycle.help", days=settings.get(c, "recycle.retention_days")))

entity = st.selectbox(t("recycle.entity"), [None, *recycle.ENTITIES],
                      format_func=lambda e: t(f"entity.{e}") if e else t("list.all"), key="bin_entity")
with errors.handled():
    df = recycle.deleted(c, me, entity)
    if df.is_empty():
        st.info(t("recycle.empty"))
    else:
        shown = df.with_columns(df["entity"].map_elements(lambda e: t(f"entity.{e}"), return_dtype=df["entity"].dtype))
        picked = tables.show(shown, {"entity": "recycle.entity", "label": "recycle.label", "deleted_at": "recycle.deleted_at",
                                     "deleted_by_name": "recycle.deleted_by", "purge_after": "recycle.purge_after"},
                             key="bin_table", selectable=True)
        if picked:
            row = df.row(picked[0], named=True)
            if st.button(t("recycle.restore", label=row["label"]), type="primary", key="bin_restore"):
                with errors.handled():
                    recycle.restore(c, me, row["entity"], [row["id"]])
                    st.rerun()
    if st.button(t("recycle.purge"), key="bin_purge"):
        with errors.handled():
            counts = recycle.purge(c, me)
            st.success(t("recycle.purged", n=sum(counts.values())))
