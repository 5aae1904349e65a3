"""Admin: users: create, edit role/team/manager/flags, deactivate, reset password."""
import polars as pl
import streamlit as st

from core import access, org
from ui import errors, tables
from ui.i18n import LANGUAGE_NAMES, LANGUAGES, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.users"))

teams = org.teams(c)
team_names = dict(zip(teams["id"].to_list(), teams["path"].to_list()))
team_ids = [None] + list(team_names)

with errors.handled():
    f1, f2, f3 = st.columns([3, 2, 2])
    q = f1.text_input(t("users.search"), key="users_q")
    role = f2.selectbox(t("users.role"), [None, *access.ROLES], format_func=lambda r: t(f"role.{r}") if r else t("list.all"),
                        key="users_role")
    team = f3.selectbox(t("users.team"), team_ids, format_func=lambda i: team_names.get(i, t("list.all")), key="users_team")
    df = org.users(c, me, role=role, team_id=team, q=q)
    shown = df.with_columns(pl.col("role").map_elements(lambda r: t(f"role.{r}"), return_dtype=pl.String))
    st.caption(t("users.count", n=df.height))
    picked = tables.show(
        shown,
        {"username": "users.username", "name": "users.name", "role": "users.role", "team": "users.team",
         "manager": "users.manager", "is_new_hire": "users.new_hire", "active": "users.active",
         "language": "users.language", "must_change_password": "users.must_change", "locked_until": "users.locked_until",
         "last_login_at": "users.last_login"},
        key="users_table", selectable=True, height=360,
    )

managers = org.users(c, me, role="manager", include_inactive=False)
manager_names = dict(zip(managers["id"].to_list(), managers["name"].to_list()))
manager_ids = [None] + list(manager_names)

if picked:
    u = df.row(picked[0], named=True)
    st.subheader(t("users.edit", name=u["name"]))
    with st.form(f"edit_user_{u['id']}"):
        e1, e2, e3 = st.columns(3)
        name = e1.text_input(t("users.name"), u["name"])
        email = e2.text_input(t("users.email"), u["email"] or "")
        role_new = e3.selectbox(t("users.role"), access.ROLES, index=access.ROLES.index(u["role"]),
                                format_func=lambda r: t(f"role.{r}"))
        e4, e5, e6 = st.columns(3)
        team_new = e4.selectbox(t("users.team"), team_ids, index=team_ids.index(u["team_id"]) if u["team_id"] in team_ids else 0,
                                format_func=lambda i: team_names.get(i, "—"))
        mgr_new = e5.selectbox(t("users.manager"), manager_ids,
                               index=manager_ids.index(u["manager_id"]) if u["manager_id"] in manager_ids else 0,
                               format_func=lambda i: manager_names.get(i, "—"))
        lang_new = e6.selectbox(t("users.language"), LANGUAGES, index=LANGUAGES.index(u["language"]),
                                format_func=LANGUAGE_NAMES.get)
        new_hire = st.checkbox(t("users.new_hire"), u["is_new_hire"])
        active = st.checkbox(t("users.active"), u["active"])
        if st.form_submit_button(t("action.save"), type="primary"):
            with errors.handled():
                changed = org.update_user(c, me, u["id"], name=name, email=email, role=role_new, team_id=team_new,
                                          manager_id=mgr_new, language=lang_new, is_new_hire=new_hire, active=active)
                st.success(t("action.saved", n=len(changed)))
    with st.form(f"reset_{u['id']}", clear_on_submit=True):
        st.markdown(t("users.reset_password_help"))
        pw = st.text_input(t("users.initial_password"), type="password")
        if st.form_submit_button(t("users.reset_password")):
            with errors.handled():
                org.reset_password(c, me, u["id"], pw)
                st.success(t("users.password_reset", name=u["name"]))

with st.expander(t("users.new")):
    with st.form("new_user", clear_on_submit=False):
        n1, n2, n3 = st.columns(3)
        username = n1.text_input(t("users.username") + " *")
        name = n2.text_input(t("users.name") + " *")
        email = n3.text_input(t("users.email"))
        n4, n5, n6 = st.columns(3)
        role_new = n4.selectbox(t("users.role"), access.ROLES, index=2, format_func=lambda r: t(f"role.{r}"))
        team_new = n5.selectbox(t("users.team"), team_ids, format_func=lambda i: team_names.get(i, "—"))
        mgr_new = n6.selectbox(t("users.manager"), manager_ids, format_func=lambda i: manager_names.get(i, "—"))
        n7, n8 = st.columns(2)
        pw = n7.text_input(t("users.initial_password") + " *", type="password")
        lang_new = n8.selectbox(t("users.language"), LANGUAGES, format_func=LANGUAGE_NAMES.get)
        new_hire = st.checkbox(t("users.new_hire"))
        if st.form_submit_button(t("action.create"), type="primary"):
            with errors.handled():
                org.create_user(c, me, username, name, role_new, pw, team_id=team_new, manager_id=mgr_new,
                                      email=email, is_new_hire=new_hire, language=lang_new)
                st.success(t("users.created", username=username.strip().lower()))
