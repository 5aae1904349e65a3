"""Admin: the permission matrix: module x action -> scope, per role."""
import polars as pl
import streamlit as st

from core import access
from ui import errors
from ui.i18n import t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.permissions"))
st.caption(t("perm.help"))

role = st.selectbox(t("users.role"), access.ROLES, format_func=lambda r: t(f"role.{r}"), key="perm_role")
cells = {(r["module"], r["action"]): r["scope"] for r in access.matrix(c, me) if r["role"] == role}
scope_label = {s: t(f"scope.{s}") for s in access.SCOPES}
label_scope = {v: k for k, v in scope_label.items()}
grid = pl.DataFrame(
    {"module": [t(f"module.{m}") for m in access.MODULES]}
    | {t(f"action.{a}"): [scope_label[cells.get((m, a), "none")] for m in access.MODULES] for a in access.ACTIONS}
)
edited = st.data_editor(
    grid, key=f"perm_grid_{role}", hide_index=True, disabled=["module"], width="stretch", height=600,
    column_config={"module": st.column_config.TextColumn(t("perm.module"))}
    | {t(f"action.{a}"): st.column_config.SelectboxColumn(t(f"action.{a}"), options=list(scope_label.values()),
                                                          required=True) for a in access.ACTIONS},
)
if st.button(t("action.save"), type="primary", key="perm_save"):
    with errors.handled():
        changed = 0
        for i, module in enumerate(access.MODULES):
            for action in access.ACTIONS:
                new = label_scope[edited[t(f"action.{action}")][i]]
                if new != cells.get((module, action), "none"):
                    access.set_scope(c, me, role, module, action, new)
                    changed += 1
        st.success(t("action.saved", n=changed))
