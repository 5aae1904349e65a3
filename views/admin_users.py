"""Admin: users: create, edit role/team/manager/flags, deactivate, reset password.

After every write the page runs again, so the table shows the new values at once; the success message
is kept across that rerun in session_state. The picked user is remembered by id, not by row position
(a save can move the row: inactive users sort last)."""
import hashlib

import polars as pl
import streamlit as st

from core import access, handover, org
from ui import destinations, errors, tables
from ui.i18n import LANGUAGE_NAMES, LANGUAGES, t
from ui.session import actor, con

FLASH, PICK, PICK_TABLE, NEW_FORM = "_users_flash", "_users_pick", "_users_pick_table", "_users_new_form"
LEAVING = "_users_leaving"  # the user whose deactivation waits for where their records go

me, c = actor(), con()
st.title(t("page.users"))


def done(message: str) -> None:
    """A write went through: keep its message for the next run and run again (fresh table)."""
    st.session_state[FLASH] = message
    st.rerun()


if flash := st.session_state.pop(FLASH, None):
    st.success(flash)

teams = edit_teams = create_teams = None
with errors.handled():
    teams = org.teams(c, me)
    edit_teams = org.teams(c, me, action="edit")
    create_teams = org.teams(c, me, action="create") if access.can(c, me, "org", "create") else teams.clear()
if create_teams is None:
    st.stop()
team_names = dict(zip(teams["id"].to_list(), teams["path"].to_list()))
team_names |= dict(zip(edit_teams["id"].to_list(), edit_teams["path"].to_list()))
team_names |= dict(zip(create_teams["id"].to_list(), create_teams["path"].to_list()))
top_level = {a: access.scope_of(c, me, "org", a) == "all" for a in ("edit", "create")}
roles = org.assignable_roles(me)


def yes(v) -> str:
    return "✓" if v else ""


df = None
with errors.handled():
    f1, f2, f3 = st.columns([3, 2, 2])
    q = f1.text_input(t("users.search"), key="users_q")
    role = f2.selectbox(t("users.role"), [None, *access.ROLES], format_func=lambda r: t(f"role.{r}") if r else t("list.all"),
                        key="users_role")
    team = f3.selectbox(t("users.team"), [None, *teams["id"].to_list()],
                        format_func=lambda i: team_names.get(i, t("list.all")), key="users_team")
    df = org.users(c, me, role=role, team_id=team, q=q)
    shown = df.with_columns(
        pl.col("role").map_elements(lambda r: t(f"role.{r}"), return_dtype=pl.String),
        pl.col("language").replace_strict(LANGUAGE_NAMES, default=pl.col("language"), return_dtype=pl.String),
        *[pl.col(b).map_elements(yes, return_dtype=pl.String) for b in ("is_new_hire", "active", "must_change_password")],
    )
    st.caption(t("users.count", n=df.height))
    ids = df["id"].to_list()
    # a new key whenever the rows change: a position picked in other rows never points at another user
    table_key = "users_table_" + hashlib.sha1(repr(ids).encode()).hexdigest()[:12]
    picked = tables.show(
        shown,
        {"username": "users.username", "name": "users.name", "role": "users.role", "team": "users.team",
         "manager": "users.manager", "is_new_hire": "users.new_hire", "active": "users.active",
         "language": "users.language", "must_change_password": "users.must_change", "locked_until": "users.locked_until",
         "last_login_at": "users.last_login"},
        key=table_key, selectable=True,
    )
    if picked:
        st.session_state[PICK] = ids[picked[0]]
    elif st.session_state.get(PICK_TABLE) == table_key:  # the same rows, nothing picked: the pick was cleared
        st.session_state.pop(PICK, None)
    st.session_state[PICK_TABLE] = table_key
if df is None:
    st.stop()

u = next((r for r in df.iter_rows(named=True) if r["id"] == st.session_state.get(PICK)), None)


def held_by(user_id: int) -> dict:
    """What the user holds, by kind (nothing when the actor may not hand over: core then says so)."""
    return handover.preview(c, me, user_id) if handover.can_handover(c, me) else {}


def deactivation_panel(u: dict) -> None:
    """Deactivation of a user who holds records: the counts, where each kind goes, one confirm; core
    deactivates and hands over in one unit of work (org.deactivate_user)."""
    with st.container(border=True):
        st.markdown(f"**{t('users.deactivate_title', name=u['name'])}**")
        counts = held_by(u["id"])
        destinations.counts_table(counts, f"users_leaving_counts_{u['id']}")
        takers = {r["id"]: destinations.plain("handover.user", name=r["name"], team=r["team"] or "—")
                  for r in handover.receivers(c, me)}
        where = destinations.picker(counts, takers, u["id"], f"users_leaving_{u['id']}")
        total = sum(counts.values())
        b1, b2, _ = st.columns([3, 2, 3])
        go = b1.button(t("users.deactivate_confirm", n=total), type="primary", disabled=where is None,
                       key=f"users_leaving_go_{u['id']}", icon=":material/person_off:")
        if b2.button(t("users.deactivate_cancel"), key=f"users_leaving_cancel_{u['id']}"):
            st.session_state.pop(LEAVING, None)
            st.rerun()
        if go and where is not None:
            with errors.handled():
                result = org.deactivate_user(c, me, u["id"], where)
                st.session_state.pop(LEAVING, None)
                done(t("users.deactivated_handed_over", name=u["name"], n=sum(result["moved"].values())))
managers = org.users(c, me, role="manager", include_inactive=False)
manager_names = dict(zip(managers["id"].to_list(), managers["name"].to_list()))

if u is not None:
    st.subheader(t("users.edit", name=u["name"]))
    if u["role"] not in roles:
        st.info(t("org.user_above_you"))
    else:
        # the current manager stays a choice even when not a manager-role user (saving must not clear it)
        mgr_names = dict(manager_names)
        if u["manager_id"] is not None:
            mgr_names.setdefault(u["manager_id"], u["manager"] or str(u["manager_id"]))
        mgr_names.pop(u["id"], None)
        mgr_ids = [None, *mgr_names]
        team_ids = ([None] if top_level["edit"] or u["team_id"] is None else []) + edit_teams["id"].to_list()
        if u["team_id"] not in team_ids:
            team_ids.append(u["team_id"])
        if u["team_id"] is not None:
            team_names.setdefault(u["team_id"], u["team"] or str(u["team_id"]))
        with st.form(f"edit_user_{u['id']}"):
            e1, e2, e3 = st.columns(3)
            name = e1.text_input(t("users.name"), u["name"])
            email = e2.text_input(t("users.email"), u["email"] or "")
            role_new = e3.selectbox(t("users.role"), roles, index=roles.index(u["role"]),
                                    format_func=lambda r: t(f"role.{r}"))
            e4, e5, e6 = st.columns(3)
            team_new = e4.selectbox(t("users.team"), team_ids, index=team_ids.index(u["team_id"]),
                                    format_func=lambda i: team_names.get(i, "—"))
            mgr_new = e5.selectbox(t("users.manager"), mgr_ids, index=mgr_ids.index(u["manager_id"]),
                                   format_func=lambda i: mgr_names.get(i, "—"))
            lang_new = e6.selectbox(t("users.language"), LANGUAGES,
                                    index=LANGUAGES.index(u["language"]) if u["language"] in LANGUAGES else 0,
                                    format_func=LANGUAGE_NAMES.get)
            new_hire = st.checkbox(t("users.new_hire"), u["is_new_hire"])
            active = st.checkbox(t("users.active"), u["active"])
            if st.form_submit_button(t("action.save"), type="primary"):
                form = {"name": name.strip(), "email": email.strip() or None, "role": role_new, "team_id": team_new,
                        "manager_id": mgr_new, "language": lang_new, "is_new_hire": new_hire, "active": active}
                # only what the admin changed goes to the service: nothing else is rewritten
                changes = {k: v for k, v in form.items() if v != u[k]}
                with errors.handled():
                    # deactivating someone who holds records first asks where they go (below the form)
                    leaving = changes.get("active") is False and sum(held_by(u["id"]).values()) > 0
                    if leaving:
                        changes.pop("active")
                    changed = org.update_user(c, me, u["id"], **changes) if changes else {}
                    if leaving:
                        st.session_state[LEAVING] = u["id"]
                        done(t("users.deactivate_where", name=u["name"]))
                    st.session_state.pop(LEAVING, None)
                    done(t("action.saved", n=len(changed)))
        if st.session_state.get(LEAVING) == u["id"] and u["active"]:
            deactivation_panel(u)
        with st.form(f"reset_{u['id']}", clear_on_submit=True):
            st.markdown(t("users.reset_password_help"))
            pw = st.text_input(t("users.initial_password"), type="password")
            if st.form_submit_button(t("users.reset_password")):
                with errors.handled():
                    org.reset_password(c, me, u["id"], pw)
                    done(t("users.password_reset", name=u["name"]))

if access.can(c, me, "org", "create"):
    with st.expander(t("users.new")):
        new_team_ids = ([None] if top_level["create"] else []) + create_teams["id"].to_list()
        with st.form(f"new_user_{st.session_state.get(NEW_FORM, 0)}", clear_on_submit=False):
            n1, n2, n3 = st.columns(3)
            username = n1.text_input(t("users.username") + " *")
            name = n2.text_input(t("users.name") + " *")
            email = n3.text_input(t("users.email"))
            n4, n5, n6 = st.columns(3)
            role_new = n4.selectbox(t("users.role"), roles, index=roles.index("sales") if "sales" in roles else 0,
                                    format_func=lambda r: t(f"role.{r}"))
            team_new = n5.selectbox(t("users.team"), new_team_ids, format_func=lambda i: team_names.get(i, "—"))
            mgr_new = n6.selectbox(t("users.manager"), [None, *manager_names], format_func=lambda i: manager_names.get(i, "—"))
            n7, n8 = st.columns(2)
            pw = n7.text_input(t("users.initial_password") + " *", type="password")
            lang_new = n8.selectbox(t("users.language"), LANGUAGES, format_func=LANGUAGE_NAMES.get)
            new_hire = st.checkbox(t("users.new_hire"))
            if st.form_submit_button(t("action.create"), type="primary"):
                with errors.handled():
                    org.create_user(c, me, username, name, role_new, pw, team_id=team_new, manager_id=mgr_new,
                                    email=email, is_new_hire=new_hire, language=lang_new)
                    st.session_state[NEW_FORM] = st.session_state.get(NEW_FORM, 0) + 1  # an empty form next time
                    done(t("users.created", username=username.strip().lower()))
