"""Admin: the shared pool's rules (公海规则): the pool.* and assignment.* settings (claim cap, waiting
period, cool-down, lock cap, warning days, weekly refresh day and mode...), reclaim rules per customer
level and team (AND / OR of "no follow-up", "no deal", "not won" for N working days), the fields each pool
hides until a record is claimed, a pool's members and admins, and customer caps per team and per user.
Every rule is checked and stored by core (settings, reclaim, pool_mask, pool)."""
import polars as pl
import streamlit as st

from core import customers, fields, org, pool, pool_mask, reclaim, settings
from ui import errors, fieldform, forms, tables
from ui import pool as words
from ui.i18n import names, t
from ui.session import actor, con

me, c = actor(), con()
state = st.session_state
st.title(t("page.pool_rules"))
forms.show_flash()

WEEKDAYS = tuple(range(1, 8))
POOL_SETTINGS = ("pool.max_open_customers_per_rep", "pool.daily_claim_cap", "pool.reclaim_wait_days",
                 "pool.claim_cooldown_hours", "pool.lock_cap", "pool.warn_days", "pool.reclaim_after_working_days",
                 "pool.exempt_open_deals", "pool.reclaim_at", "pool.refresh_weekday", "pool.refresh_mode",
                 "pool.refresh_older_days")
ASSIGN_SETTINGS = ("assignment.weighted_by_performance", "assignment.weight_by", "assignment.performance_days",
                   "assignment.skip_reps_with_untouched_raw", "assignment.new_hires_get_new_data")

teams = org.teams(c, me)
team_names = dict(zip(teams["id"].to_list(), teams["path"].to_list()))
level_names = names(customers.levels(c))


def _input(key: str, value):
    """One setting's widget, by the kind of its default (choices as a select box)."""
    label = t(f"setting.{key}")
    default = settings.DEFAULTS[key]
    if isinstance(default, bool):
        return st.checkbox(label, bool(value), key=f"ap_{key}")
    if key == "pool.refresh_weekday":
        days = {d: words.plain(f"sla_admin.weekday_{d}") for d in WEEKDAYS}
        return st.selectbox(label, WEEKDAYS, index=WEEKDAYS.index(int(value)) if int(value) in WEEKDAYS else 0,
                            format_func=days.get, key=f"ap_{key}")
    if key in settings.CHOICES:  # the options are named in words: the label does not list their codes
        label = t(f"pool_ui.setting_choice_{key}")
        choices = settings.CHOICES[key]
        shown = {v: words.plain(f"pool_ui.choice_{v}") for v in choices}
        return st.selectbox(label, choices, index=choices.index(value) if value in choices else 0,
                            format_func=shown.get, key=f"ap_{key}")
    if isinstance(default, int):
        return st.number_input(label, value=int(value), step=1, key=f"ap_{key}")
    return st.text_input(label, str(value), key=f"ap_{key}", max_chars=20)


# ------------------------------------------------------------------------------------- settings
st.subheader(t("pool_ui.admin_settings"))
with errors.handled():
    current = settings.all_settings(c, me)
    with st.form("ap_settings"):
        st.markdown(f"**{t('pool_ui.admin_pool_settings')}**")
        typed = {}
        cols = st.columns(2)
        for i, key in enumerate(POOL_SETTINGS):
            with cols[i % 2]:
                typed[key] = _input(key, current[key])
        st.markdown(f"**{t('pool_ui.admin_assign_settings')}**")
        cols = st.columns(2)
        for i, key in enumerate(ASSIGN_SETTINGS):
            with cols[i % 2]:
                typed[key] = _input(key, current[key])
        if st.form_submit_button(t("action.save"), type="primary"):
            changed = 0
            with errors.handled():
                for key, value in typed.items():
                    if value != current[key]:
                        settings.set_value(c, me, key, value)
                        changed += 1
                forms.flash(t("action.saved", n=changed))
                st.rerun()

# ---------------------------------------------------------------------------------- reclaim rules
st.subheader(t("pool_ui.admin_rules"))
st.caption(t("pool_ui.admin_rules_help", days=settings.get(c, "pool.reclaim_after_working_days")))
CONDITIONS = ("no_followup_days", "no_deal_days", "not_won_days")
with errors.handled():
    rules = reclaim.rules(c)
    live = rules.filter(pl.col("deleted_at").is_null()) if "deleted_at" in rules.columns else rules
    rule_rows = {r["id"]: r for r in live.to_dicts()}
    any_level, every_team = words.plain("pool_ui.any_level"), words.plain("pool_ui.every_team")
    combine_names = {"any": words.plain("pool_ui.combine_any"), "all": words.plain("pool_ui.combine_all")}

    def rule_label(r: dict) -> str:
        parts = [words.plain(f"pool_ui.cond_{k}", n=r[k]) for k in CONDITIONS if r.get(k) is not None]
        glue = words.plain("pool_ui.glue_all" if r.get("combine") == "all" else "pool_ui.glue_any")
        return words.plain("pool_ui.rule_option", level=level_names.get(r.get("level"), any_level)
                           if r.get("level") else any_level,
                           team=team_names.get(r.get("team_id"), every_team) if r.get("team_id") else every_team,
                           what=glue.join(parts) or "—")

    if not rule_rows:
        st.info(t("pool_ui.no_rules", days=settings.get(c, "pool.reclaim_after_working_days")))
    else:
        shown = pl.DataFrame({
            "id": list(rule_rows),
            "level": [level_names.get(r.get("level"), r.get("level")) if r.get("level") else any_level
                      for r in rule_rows.values()],
            "team": [team_names.get(r.get("team_id"), str(r.get("team_id"))) if r.get("team_id") else every_team
                     for r in rule_rows.values()],
            "combine": [combine_names.get(r.get("combine"), r.get("combine")) for r in rule_rows.values()],
            **{k: [r.get(k) for r in rule_rows.values()] for k in CONDITIONS},
            "active": [bool(r.get("active")) for r in rule_rows.values()]})
        tables.show(shown, {"level": "customer.level", "team": "pool_ui.col_team", "combine": "pool_ui.col_combine",
                            "no_followup_days": "pool_ui.col_no_followup", "no_deal_days": "pool_ui.col_no_deal",
                            "not_won_days": "pool_ui.col_not_won", "active": "pool_ui.col_active"}, key="ap_rules")

    options = [None, *rule_rows]
    if "_ap_rule_next" in state:  # the rule just saved (or none after a delete) is the one shown
        state["ap_rule_pick"] = state.pop("_ap_rule_next")
    if state.get("ap_rule_pick") not in options:
        state["ap_rule_pick"] = None
    picked = st.selectbox(t("pool_ui.rule_pick"), options, key="ap_rule_pick",
                          format_func=lambda i: words.plain("pool_ui.rule_new") if i is None else rule_label(
                              rule_rows[i]))
    rule = rule_rows.get(picked) or {}
    with st.form(f"ap_rule_{picked}"):
        r1, r2, r3 = st.columns(3)
        levels = [None, *level_names]
        level = r1.selectbox(t("customer.level"), levels, index=levels.index(rule.get("level"))
                             if rule.get("level") in levels else 0,
                             format_func=lambda v: any_level if v is None else level_names.get(v, v), key="ap_r_level")
        team_opts = [None, *team_names]
        team = r2.selectbox(t("pool_ui.col_team"), team_opts, index=team_opts.index(rule.get("team_id"))
                            if rule.get("team_id") in team_opts else 0,
                            format_func=lambda v: every_team if v is None else team_names.get(v, str(v)),
                            key="ap_r_team")
        combine = r3.radio(t("pool_ui.col_combine"), ("any", "all"), format_func=combine_names.get, horizontal=True,
                           index=1 if rule.get("combine") == "all" else 0, key="ap_r_combine")
        st.caption(t("pool_ui.rule_conditions_help"))
        values = {}
        cols = st.columns(3)
        for col, key in zip(cols, CONDITIONS):
            with col:
                on = st.checkbox(t(f"pool_ui.use_{key}"), rule.get(key) is not None or (not rule and key ==
                                                                                         "no_followup_days"),
                                 key=f"ap_r_on_{key}")
                days = st.number_input(t("pool_ui.working_days"), min_value=1, max_value=3650,
                                       value=int(rule.get(key) or settings.get(c, "pool.reclaim_after_working_days")),
                                       step=1, key=f"ap_r_{key}")
                values[key] = int(days) if on else None
        active = st.checkbox(t("pool_ui.col_active"), bool(rule.get("active", True)), key="ap_r_active")
        s1, s2, _ = st.columns([2, 2, 4])
        save = s1.form_submit_button(t("action.save"), type="primary")
        delete = s2.form_submit_button(t("pool_ui.rule_delete"), disabled=picked is None)
    if save:
        with errors.handled():
            rule_id = reclaim.save_rule(c, me, rule_id=picked, level=level, team_id=team, combine=combine,
                                        active=active, **values)
            state["_ap_rule_next"] = rule_id
            forms.flash(t("pool_ui.rule_saved"))
            st.rerun()
    if delete and picked is not None:
        with errors.handled():
            reclaim.delete_rule(c, me, picked)
            state["_ap_rule_next"] = None
            forms.flash(t("pool_ui.rule_deleted"))
            st.rerun()

# ---------------------------------------------------------------------------- a pool's own rules
st.subheader(t("pool_ui.admin_pools"))
with errors.handled():
    team_ids = list(team_names)
    pool_id = st.selectbox(t("pool_ui.pick"), team_ids, format_func=lambda i: team_names.get(i, str(i)),
                           key="ap_pool")
    if pool_id is not None:
        left, right = st.columns(2)
        with left:
            st.markdown(f"**{t('pool_ui.hidden_fields')}**")
            st.caption(t("pool_ui.hidden_fields_help"))
            defs = fields.definitions(c, "customer")
            can_hide = list(pool_mask.maskable(c))
            hidden_now = sorted(pool_mask.hidden(c).get(pool_id, frozenset()))
            field_names = {n: (fieldform.field_label(defs[n]) if n in defs else n) for n in can_hide}
            with st.form(f"ap_hidden_{pool_id}"):
                chosen = st.multiselect(t("pool_ui.hidden_fields"), can_hide,
                                        default=[n for n in hidden_now if n in can_hide],
                                        format_func=lambda n: field_names.get(n, n), placeholder=t("pool_ui.hidden_none"),
                                        label_visibility="collapsed")
                if st.form_submit_button(t("action.save")):
                    with errors.handled():
                        pool_mask.set_hidden(c, me, pool_id, chosen)
                        forms.flash(t("pool_ui.hidden_saved", n=len(chosen)))
                        st.rerun()
        with right:
            st.markdown(f"**{t('pool_ui.members')}**")
            st.caption(t("pool_ui.members_help"))
            members = pool_mask.members(c, pool_id)
            role_names = {r: words.plain(f"pool_ui.member_{r}") for r in pool_mask.ROLES}
            if members.is_empty():
                st.caption(t("pool_ui.no_members"))
            else:
                shown = members.with_columns(pl.col("role").replace_strict(role_names, default=pl.col("role")))
                tables.show(shown, {"name": "users.name", "team": "users.team", "role": "pool_ui.col_member_role"},
                            key=f"ap_members_{pool_id}")
            users = org.users(c, me, include_inactive=False)
            user_names = dict(zip(users["id"].to_list(),
                                  [f"{n} ({tm or '—'})" for n, tm in zip(users["name"].to_list(),
                                                                         users["team"].to_list())]))
            with st.form(f"ap_member_{pool_id}"):
                who = st.selectbox(t("pool_ui.member_user"), list(user_names), index=None,
                                   format_func=lambda i: user_names.get(i, str(i)),
                                   placeholder=words.plain("pool_ui.choose_person"))
                choices = [*pool_mask.ROLES, None]
                role = st.radio(t("pool_ui.col_member_role"), choices, horizontal=True,
                                format_func=lambda r: words.plain("pool_ui.member_remove") if r is None
                                else role_names[r])
                if st.form_submit_button(t("action.save")):
                    with errors.handled():
                        if who is None:
                            st.warning(t("pool_ui.pick_person"))
                        else:
                            pool_mask.set_member(c, me, pool_id, who, role)
                            forms.flash(t("pool_ui.member_saved", name=user_names.get(who, "")))
                            st.rerun()

# ------------------------------------------------------------------------------------------- caps
st.subheader(t("pool_ui.admin_caps"))
st.caption(t("pool_ui.admin_caps_help", cap=settings.get(c, "pool.max_open_customers_per_rep"),
             locks=settings.get(c, "pool.lock_cap")))
with errors.handled():
    caps = pool.caps(c, me)
    team_caps, user_caps = caps["teams"], caps["users"]
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{t('pool_ui.team_caps')}**")
        tables.show(team_caps, {"name": "pool_ui.col_team", "customer_cap": "pool_ui.col_cap"}, key="ap_team_caps")
        team_rows = {r["team_id"]: r for r in team_caps.to_dicts()}
        which = st.selectbox(t("pool_ui.col_team"), list(team_rows), key="ap_cap_team",
                             format_func=lambda i: team_rows[i]["name"] if i in team_rows else str(i))
        if which is not None:
            with st.form(f"ap_team_cap_{which}"):
                cap = st.number_input(t("pool_ui.cap_value"), min_value=1, max_value=100000, step=10,
                                      value=team_rows[which]["customer_cap"], help=t("pool_ui.cap_empty_help"))
                if st.form_submit_button(t("action.save")):
                    with errors.handled():
                        pool.set_cap(c, me, team_id=which, customer_cap=None if cap is None else int(cap))
                        forms.flash(t("pool_ui.cap_saved", name=team_rows[which]["name"]))
                        st.rerun()
    with right:
        st.markdown(f"**{t('pool_ui.user_caps')}**")
        tables.show(user_caps, {"name": "pool_ui.col_rep", "team": "pool_ui.col_team", "held": "pool_ui.col_held",
                                "customer_cap": "pool_ui.col_cap", "effective_cap": "pool_ui.col_effective_cap",
                                "lock_cap": "pool_ui.col_lock_cap"}, key="ap_user_caps")
        user_rows = {r["user_id"]: r for r in user_caps.to_dicts()}
        who = st.selectbox(t("pool_ui.col_rep"), list(user_rows), key="ap_cap_user",
                           format_func=lambda i: user_rows[i]["name"] if i in user_rows else str(i))
        if who is not None:
            with st.form(f"ap_user_cap_{who}"):
                u1, u2 = st.columns(2)
                cap = u1.number_input(t("pool_ui.cap_value"), min_value=1, max_value=100000, step=10,
                                      value=user_rows[who]["customer_cap"], help=t("pool_ui.cap_empty_help"))
                locks = u2.number_input(t("pool_ui.lock_cap_value"), min_value=0, max_value=10000, step=1,
                                        value=user_rows[who]["lock_cap"], help=t("pool_ui.cap_empty_help"))
                if st.form_submit_button(t("action.save")):
                    with errors.handled():
                        pool.set_cap(c, me, user_id=who, customer_cap=None if cap is None else int(cap),
                                     lock_cap=None if locks is None else int(locks))
                        forms.flash(t("pool_ui.cap_saved", name=user_rows[who]["name"]))
                        st.rerun()
