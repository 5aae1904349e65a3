"""Admin: teams as a tree: add, rename, move, delete."""
import streamlit as st

from core import access, org
from ui import errors
from ui.i18n import t
from ui.text import md
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.teams"))

teams = None
with errors.handled():
    teams = org.teams(c, me)
    in_scope = {a: org.teams(c, me, action=a)["id"].to_list() if access.can(c, me, "org", a) else []
                for a in ("create", "edit")}
if teams is None:
    st.stop()
names = dict(zip(teams["id"].to_list(), teams["path"].to_list()))
top = {a: access.scope_of(c, me, "org", a) == "all" for a in ("create", "edit")}  # the top level needs scope all

with st.container(border=True):
    for row in teams.iter_rows(named=True):
        badge = f" · {t('teams.new_hire_pool')}" if row["is_new_hire_pool"] else ""
        region = f" · {md(row['region'])}" if row["region"] else ""
        st.markdown(f"{'&nbsp;' * 6 * row['depth']}{'└ ' if row['depth'] else ''}**{md(row['name'])}**"
                    f"{region}{badge} · {t('teams.members', n=row['members'])}")

left, right = st.columns(2)
with left.form("new_team", clear_on_submit=True):
    st.subheader(t("teams.new"))
    name = st.text_input(t("teams.name") + " *")
    parent = st.selectbox(t("teams.parent"), [None] * top["create"] + in_scope["create"],
                          format_func=lambda i: names.get(i, t("teams.top")))
    region = st.text_input(t("teams.region"))
    pool = st.checkbox(t("teams.new_hire_pool"))
    if st.form_submit_button(t("action.create"), type="primary"):
        with errors.handled():
            org.create_team(c, me, name, parent, region or None, pool)
            st.rerun()

with right.form("edit_team"):
    st.subheader(t("teams.edit"))
    team = st.selectbox(t("teams.team"), in_scope["edit"], format_func=names.get)
    new_name = st.text_input(t("teams.new_name"))
    new_parent = st.selectbox(t("teams.move_under"), ["keep"] + [None] * top["edit"] + in_scope["edit"],
                              format_func=lambda i: t("teams.keep") if i == "keep" else names.get(i, t("teams.top")))
    b1, b2 = st.columns(2)
    save = b1.form_submit_button(t("action.save"), type="primary")
    delete = b2.form_submit_button(t("action.delete"))
    if save:
        with errors.handled():
            org.update_team(c, me, team, name=new_name or None, parent_id=new_parent)
            st.rerun()
    if delete:
        with errors.handled():
            org.delete_team(c, me, team)
            st.rerun()
