"""Admin: the audit log, filtered by who, what and when; every action, entity, field and value in the
user's language, times in the company's time zone."""
import datetime as dt
import re

import polars as pl
import streamlit as st

from core import access, audit, clock, customers, merge, org
from core.i18n import catalogue, translate
from ui import errors, forms, tables
from ui.i18n import LANGUAGE_NAMES, lang, names, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.audit"))
forms.show_flash()


def named(key: str, raw) -> str:
    """The catalogue's name for `key`, or the raw value when the catalogue has none."""
    return t(key) if key in catalogue("en") else ("" if raw is None else str(raw))


can_org = access.can(c, me, "org", "view")
people = org.users(c, me) if can_org else pl.DataFrame({"id": [], "name": []})
user_names = dict(zip(people["id"].to_list(), people["name"].to_list()))
team_frame = org.teams(c, me) if can_org else pl.DataFrame({"id": [], "name": []})
team_names = dict(zip(team_frame["id"].to_list(), team_frame["name"].to_list()))
stage_names, level_names = names(customers.stages(c)), names(customers.levels(c))
today = clock.local_today(c, me.now)

f1, f2, f3, f4, f5 = st.columns([2, 2, 2, 1, 2])
user = f1.selectbox(t("audit.user"), [None, *user_names], format_func=lambda i: user_names.get(i, t("list.all")),
                    key="aud_user")
entity = f2.selectbox(t("audit.entity"), [None, *audit.ENTITIES],
                      format_func=lambda e: named(f"entity.{e}", e) if e else t("list.all"), key="aud_entity")
action = f3.selectbox(t("audit.action"), [None, *audit.ACTIONS],
                      format_func=lambda a: named(f"audit.action_{a}", a) if a else t("list.all"), key="aud_action")
entity_id = f4.number_input(t("audit.entity_id"), min_value=1, value=None, step=1, key="aud_id")
days = f5.date_input(t("audit.period"), (today - dt.timedelta(days=30), today), key="aud_days")
page = st.number_input(t("list.page"), min_value=1, value=1, step=1, key="aud_page")

_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def value_text(entity_: str | None, field: str | None, value: str | None, tz) -> str:
    """A logged value as the user reads it: names instead of codes and ids, local time, yes/no."""
    if value is None:
        return ""
    key = audit.value_label_key(entity_, field, value)
    if key:
        return t(key)
    if field in audit.USER_ID_FIELDS and value.isdigit():
        return user_names.get(int(value), f"#{value}")
    if field in audit.TEAM_ID_FIELDS and value.isdigit():
        return team_names.get(int(value), f"#{value}")
    if field == "language":
        return LANGUAGE_NAMES.get(value, value)
    if field == "stage":
        return stage_names.get(value, value)
    if field == "level":
        return level_names.get(value, value)
    if _STAMP.match(value):
        try:
            return clock.utc_to_local(dt.datetime.fromisoformat(value), tz).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    return value


def merge_text(value: str | None) -> str:
    """A merge entry in one line (plain text): who was merged in and how many records moved."""
    s = merge.summary(value)
    return translate(lang(), "merge.audit_summary", name=s["loser_name"], loser=s["loser"], n=s["n"]) if s else ""


def readable(df: pl.DataFrame) -> pl.DataFrame:
    """The log's codes (action, entity, field, values) in the user's language."""
    tz = clock.zone(c)
    rows = df.select("action", "entity", "field", "old_value", "new_value").to_dicts()
    fields = []
    for r in rows:
        keys = audit.field_label_keys(r["entity"], r["field"])
        fields.append(" · ".join(t(k) for k in keys) if keys else (r["field"] or ""))
    return df.with_columns(
        pl.Series("action", [named(f"audit.action_{r['action']}", r["action"]) for r in rows], pl.String),
        pl.Series("entity", [named(f"entity.{r['entity']}", r["entity"]) for r in rows], pl.String),
        pl.Series("field", fields, pl.String),
        pl.Series("old_value", ["" if r["action"] == "merge" else
                                value_text(r["entity"], r["field"], r["old_value"], tz) for r in rows], pl.String),
        pl.Series("new_value", [merge_text(r["new_value"]) if r["action"] == "merge" else
                                value_text(r["entity"], r["field"], r["new_value"], tz) for r in rows], pl.String),
        pl.col("user_name").fill_null(t("audit.system")),  # written by the app itself (lockout, jobs)
    )


with errors.handled():
    since = until = None
    if days:  # the chosen days of the company's calendar, as the UTC range the log is stored in
        since = clock.day_bounds_utc(c, days[0])[0]
        until = clock.day_bounds_utc(c, days[-1])[1]
    df, total = audit.search(c, me, user_id=user, entity=entity, action=action,
                             entity_id=entity_id or None, since=since, until=until, limit=200, offset=(page - 1) * 200)
    st.caption(t("audit.count", n=f"{total:,}"))
    tables.show(readable(df), {"logged_at": "audit.when", "user_name": "audit.user", "action": "audit.action",
                               "entity": "audit.entity", "entity_id": "audit.entity_id", "field": "audit.field",
                               "old_value": "audit.old", "new_value": "audit.new"}, key="aud_table")
    # a merge entry offers its undo (admins, or whoever merged, within the retention period)
    merges = dict(zip(df["id"].to_list(), df["new_value"].to_list()))
    undoable = sorted(merge.undoable(c, me, [i for i, a in zip(df["id"].to_list(), df["action"].to_list())
                                             if a == "merge"]), reverse=True)
    if undoable:
        with st.expander(t("merge.audit_undo"), icon=":material/undo:"):
            def entry_text(i: int) -> str:
                s = merge.summary(merges[i])
                return translate(lang(), "merge.entry", id=i, loser=s.get("loser_name"),
                                 survivor=s.get("survivor_name"))

            pick = st.selectbox(t("merge.undo_pick"), undoable, format_func=entry_text, key="aud_undo_pick")
            if st.button(t("merge.undo"), key=f"aud_undo_{pick}", icon=":material/undo:"):
                back = merge.undo_merge(c, me, pick)
                forms.flash(t("merge.undone", n=sum(back.values()), name=merge.summary(merges[pick]).get("loser_name")))
                st.rerun()
