"""Admin: the audit log, filtered by who, what and when."""
import datetime as dt

import streamlit as st

from core import audit, org
from ui import errors, tables
from ui.i18n import t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.audit"))
people = org.users(c, me)
names = dict(zip(people["id"].to_list(), people["name"].to_list()))
f1, f2, f3, f4, f5 = st.columns([2, 2, 2, 1, 2])
user = f1.selectbox(t("audit.user"), [None, *names], format_func=lambda i: names.get(i, t("list.all")), key="aud_user")
entity = f2.text_input(t("audit.entity"), key="aud_entity", placeholder="customer, user, permission…")
action = f3.selectbox(t("audit.action"), [None, "create", "update", "delete", "restore", "purge", "lock",
                                          "logout", "reset_password"],
                      format_func=lambda a: t(f"audit.action_{a}") if a else t("list.all"), key="aud_action")
entity_id = f4.number_input(t("audit.entity_id"), min_value=0, value=0, step=1, key="aud_id")
days = f5.date_input(t("audit.period"), (me.now.date() - dt.timedelta(days=30), me.now.date()), key="aud_days")
page = st.number_input(t("list.page"), min_value=1, value=1, step=1, key="aud_page")
with errors.handled():
    since = dt.datetime.combine(days[0], dt.time()) if days else None
    until = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time()) if days else None
    df, total = audit.search(c, me, user_id=user, entity=entity.strip() or None, action=action,
                             entity_id=entity_id or None, since=since, until=until, limit=200, offset=(page - 1) * 200)
    st.caption(t("audit.count", n=f"{total:,}"))
    tables.show(df, {"logged_at": "audit.when", "user_name": "audit.user", "action": "audit.action",
                     "entity": "audit.entity", "entity_id": "audit.entity_id", "field": "audit.field",
                     "old_value": "audit.old", "new_value": "audit.new"}, key="aud_table")
