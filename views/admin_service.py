"""Admin: the service desk's rules: working hours and weekdays, the holiday calendar (public holidays and
make-up working days of the year), SLA targets per priority and per priority x customer level, at-risk
share, reopen window, escalation interval, and each team's lead (who hears of breaches)."""
import datetime as dt

import polars as pl
import streamlit as st

from core import clock, customers, sla
from ui import errors, forms, tables
from ui.i18n import lang, names, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.service_rules"))
forms.show_flash()

current = sla.service_settings(c, me)


def _time(value: str) -> dt.time:
    try:
        return sla.parse_time(value)
    except Exception:  # noqa: BLE001 - an unreadable stored value shows as the default
        return dt.time(9, 0)


# ------------------------------------------------------------------ working hours and the calendar
st.subheader(t("sla_admin.hours"))
with st.form("service_hours"):
    left, right = st.columns(2)
    start = left.time_input(t("setting.service.work_start"), _time(current["service.work_start"]),
                            step=dt.timedelta(minutes=15), key="svc_start")
    end = right.time_input(t("setting.service.work_end"), _time(current["service.work_end"]),
                           step=dt.timedelta(minutes=15), key="svc_end")
    try:
        chosen_days = list(sla.parse_workdays(current["service.workdays"]))
    except Exception:  # noqa: BLE001
        chosen_days = [1, 2, 3, 4, 5]
    workdays = st.multiselect(t("sla_admin.workdays"), list(range(1, 8)), chosen_days,
                              format_func=lambda d: t(f"sla_admin.weekday_{d}"), key="svc_workdays")
    countries = sla.countries()
    country = str(current["service.holiday_country"])
    country = st.selectbox(t("setting.service.holiday_country"), countries,
                           index=countries.index(country) if country in countries else 0, key="svc_country")
    a, b, e = st.columns(3)
    risk = a.number_input(t("setting.service.at_risk_percent"), 1, 99, int(current["service.at_risk_percent"]),
                          key="svc_risk")
    reopen = b.number_input(t("setting.service.reopen_days"), 0, 365, int(current["service.reopen_days"]),
                            key="svc_reopen")
    every = e.number_input(t("setting.service.escalation_every_minutes"), 1, 1440,
                           int(current["service.escalation_every_minutes"]), key="svc_every")
    if st.form_submit_button(t("action.save"), type="primary"):
        with errors.handled():
            n = sla.save_settings(c, me, {
                "service.work_start": start.strftime("%H:%M"), "service.work_end": end.strftime("%H:%M"),
                "service.workdays": ",".join(str(d) for d in sorted(workdays)),
                "service.holiday_country": country, "service.at_risk_percent": int(risk),
                "service.reopen_days": int(reopen), "service.escalation_every_minutes": int(every)})
            forms.flash(t("action.saved", n=n))
            st.rerun()

year_now = clock.local_today(c, me.now).year
year = st.selectbox(t("sla_admin.year"), list(range(year_now - 1, year_now + 3)), index=1, key="svc_year")
special = sla.year_days(c, year, lang())
st.caption(t("sla_admin.calendar_help", holidays=special.filter(pl.col("kind") == "holiday").height,
             makeup=special.filter(pl.col("kind") == "makeup").height))
if special.is_empty():
    st.info(t("sla_admin.no_special_days"))
else:
    # the names made here, in the user's language: t() inside map_elements runs on polars' threads, without
    # the session, and read English
    weekdays = {d: t(f"sla_admin.weekday_{d}") for d in range(1, 8)}
    shown = special.with_columns(
        pl.col("day").dt.weekday().replace_strict(weekdays, return_dtype=pl.String).alias("weekday"),
        pl.col("kind").replace_strict({"holiday": t("sla_admin.kind_holiday"), "makeup": t("sla_admin.kind_makeup")},
                                      default=pl.col("kind")).alias("kind"),
        pl.when(pl.col("holiday") == "makeup").then(pl.lit("")).otherwise(pl.col("holiday")).alias("holiday"))
    tables.show(shown, {"day": "sla_admin.day", "weekday": "sla_admin.weekday", "kind": "sla_admin.kind",
                        "holiday": "sla_admin.holiday_name"}, key=f"svc_days_{year}")

# ------------------------------------------------------------------------------------- SLA targets
st.subheader(t("sla_admin.targets"))
st.caption(t("sla_admin.targets_help"))
targets = {r["priority"]: r for r in sla.target_table(c).to_dicts()}
with st.form("service_targets"):
    entered = []
    for priority in sla.PRIORITIES:
        row = targets.get(priority, {"first_response_hours": 8.0, "resolution_hours": 48.0})
        label, first_col, res_col = st.columns([1, 2, 2])
        label.markdown(f"**{t(f'ticket.priority_{priority}')}**")
        first = first_col.number_input(t("sla.first_response_hours"), 0.25, 8760.0,
                                       float(row["first_response_hours"]), step=0.5, key=f"svc_fr_{priority}")
        res = res_col.number_input(t("sla.resolution_hours"), 0.25, 8760.0, float(row["resolution_hours"]),
                                   step=1.0, key=f"svc_res_{priority}")
        entered.append({"priority": priority, "first_response_hours": first, "resolution_hours": res})
    if st.form_submit_button(t("action.save"), type="primary"):
        with errors.handled():
            n = sla.set_targets(c, me, entered)
            forms.flash(t("action.saved", n=n))
            st.rerun()

st.markdown(f"**{t('sla_admin.level_targets')}**")
st.caption(t("sla_admin.level_help"))
level_rows = customers.levels(c)
level_names = names(level_rows)
levels = [r["code"] for r in level_rows]
overrides = {(r["priority"], r["level"]): r for r in sla.level_target_table(c).to_dicts()}
grid = pl.DataFrame(
    [{"priority": p, "level": lv,
      "first_response_hours": overrides.get((p, lv), {}).get("first_response_hours"),
      "resolution_hours": overrides.get((p, lv), {}).get("resolution_hours")}
     for p in sla.PRIORITIES for lv in levels],
    schema={"priority": pl.String, "level": pl.String, "first_response_hours": pl.Float64,
            "resolution_hours": pl.Float64})
shown = grid.with_columns(
    pl.col("priority").replace_strict({p: t(f"ticket.priority_{p}") for p in sla.PRIORITIES}).alias("priority_name"),
    pl.col("level").replace_strict({lv: level_names.get(lv, lv) for lv in levels}, default=pl.col("level"))
    .alias("level_name"))
edited = st.data_editor(
    shown.select("priority_name", "level_name", "first_response_hours", "resolution_hours").to_pandas(),
    column_config={"priority_name": st.column_config.TextColumn(t("ticket.priority"), disabled=True),
                   "level_name": st.column_config.TextColumn(t("customer.level"), disabled=True),
                   "first_response_hours": st.column_config.NumberColumn(t("sla.first_response_hours"), min_value=0.25),
                   "resolution_hours": st.column_config.NumberColumn(t("sla.resolution_hours"), min_value=0.25)},
    hide_index=True, num_rows="fixed", key="svc_level_grid", width="stretch")
if st.button(t("sla_admin.save_levels"), key="svc_save_levels"):
    with errors.handled():
        rows = []
        for i, r in enumerate(grid.iter_rows(named=True)):
            fr, rs = edited["first_response_hours"].iloc[i], edited["resolution_hours"].iloc[i]
            rows.append({"priority": r["priority"], "level": r["level"],
                         "first_response_hours": None if fr != fr else fr,   # NaN = no override
                         "resolution_hours": None if rs != rs else rs})
        n = sla.set_level_targets(c, me, rows)
        forms.flash(t("sla_admin.levels_saved", n=n))
        st.rerun()

# ----------------------------------------------------------------------------------- team leads
st.subheader(t("sla_admin.leads"))
st.caption(t("sla_admin.leads_help"))
teams = sla.team_leads(c)
people = sla.lead_candidates(c)
if teams.is_empty():
    st.info(t("sla_admin.no_teams"))
else:
    tables.show(teams, {"name": "sla_admin.team", "lead_name": "sla_admin.lead"}, key="svc_leads")
    with st.form("service_lead"):
        team_ids = teams["id"].to_list()
        team_names = dict(zip(team_ids, teams["name"].to_list()))
        team_id = st.selectbox(t("sla_admin.team"), team_ids, format_func=lambda i: team_names[i], key="svc_lead_team")
        options = [None] + people["id"].to_list()
        people_names = dict(zip(people["id"].to_list(), people["name"].to_list()))
        lead = st.selectbox(t("sla_admin.lead"), options,
                            format_func=lambda i: t("sla_admin.no_lead") if i is None else people_names[i],
                            key="svc_lead_user")
        if st.form_submit_button(t("action.save")):
            with errors.handled():
                sla.set_team_lead(c, me, team_id, lead)
                forms.flash(t("action.saved", n=1))
                st.rerun()
