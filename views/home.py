"""My day: the real counts the user may see, each card opening the list behind it, and the follow-ups due."""
import polars as pl
import streamlit as st

from core import access, clock, customers, reclaim
from core.analytics import kpis
from ui import errors, nav, tables
from ui import notifications as notices
from ui import pool as pool_words
from ui.i18n import names, t
from ui.session import actor, con
from ui.text import md

CUSTOMERS_PAGE = "views/customers.py"
DESK_PAGE = "views/tickets.py"
PER_ROW = 4
RECLAIM_ROWS = 20  # customers about to return to the pool listed by name (the rest: a count)

me, c = actor(), con()
st.title(t("home.title", name=me.name))
st.caption(t("home.subtitle", date=clock.local_today(c, me.now).isoformat()))
notices.render(c, me, {p.path for p in nav.allowed(c, me)})  # unread notifications (SLA breaches...) first


def scope_help(module: str) -> str:
    """What a figure counts over: the viewer's scope of the module, in words."""
    return t("home.scope_help", scope=t(f"scope.{access.scope_of(c, me, module, 'view')}"))


def codes(df: pl.DataFrame, column: str, prefix: str) -> pl.DataFrame:
    """Replace the codes of a column (status, priority...) by their names in the user's language."""
    if column not in df.columns or df.is_empty():
        return df
    found = {v: t(f"{prefix}_{v}") for v in df[column].drop_nulls().unique().to_list()}
    return df.with_columns(pl.col(column).replace_strict(found, default=pl.col(column)))


ROW_TABLES = {  # card -> (columns shown, code columns)
    "open_leads": ({"name": "lead.name", "company": "lead.company", "phone": "lead.phone", "status": "lead.status",
                    "owner_name": "lead.owner", "created_at": "lead.created_at",
                    "next_followup_at": "lead.next_followup_at"}, {"status": "lead.status"}),
    "open_tickets": ({"ticket_no": "ticket.no", "subject": "ticket.subject", "customer_name": "ticket.customer",
                      "priority": "ticket.priority", "status": "ticket.status", "assignee_name": "ticket.assignee",
                      "opened_at": "ticket.opened_at", "sla_target": "home.sla_target", "sla_due": "home.sla_due",
                      "sla_state": "home.sla_state"},
                     {"status": "ticket.status", "priority": "ticket.priority", "sla_target": "sla.target",
                      "sla_state": "ticket.sla_state"}),
    "tasks_due": ({"title": "task.title", "kind": "task.kind", "due_at": "task.due_at",
                   "customer_name": "task.customer"}, {"kind": "task.kind"}),
}
ROW_TABLES["new_leads"] = ROW_TABLES["open_leads"]
for _card in ("team_unassigned", "tickets_due", "tickets_overdue"):
    ROW_TABLES[_card] = ROW_TABLES["open_tickets"]

with errors.handled():
    figures = kpis.my_day(c, me)
    n = {k: f"{v:,}" for k, v in figures.items() if isinstance(v, int)}
    # (figure, label, help, links: (label, query parameters of the customers page))
    cards = []
    if figures["open_leads"] is not None:
        cards.append(("open_leads", t("home.open_leads"), scope_help("leads"), []))
    if figures["new_leads"] is not None:
        cards.append(("new_leads", t("home.new_leads"), scope_help("leads"), []))
    if figures["customers"] is not None:
        scope = figures["customers_scope"]
        cards.append(("customers", t(f"home.customers_{scope}"), scope_help("customers"), [
            (t("home.open_list"), {"holder": "all" if scope == "all" else "owned"}),
            (t("home.pool_link", n=n["pool"]), {"holder": "pool"}),
        ]))
        cards.append(("followups_due", t("home.followups_due"), scope_help("customers"), [
            (t("home.open_list"), {"holder": "owned", "due": "today"}),
            (t("home.overdue_link", n=n["followups_overdue"]), {"holder": "owned", "due": "overdue"}),
        ]))
    if figures["tickets_scope"] == "mine":
        # who works tickets: the own queue, and what waits in the team's queue to be claimed (the whole
        # company's open tickets say nothing about an agent's day)
        cards.append(("open_tickets", t("home.my_open_tickets"), t("home.my_open_tickets_help"), []))
    elif figures["open_tickets"] is not None:
        cards.append(("open_tickets", t("home.open_tickets"), scope_help("tickets"), []))
    if figures["tickets_due"] is not None:
        cards.append(("tickets_due", t("home.tickets_due"), t("home.tickets_sla_help"), []))
    if figures["tasks_due"] is not None:
        cards.append(("tasks_due", t("home.tasks_due"), t("home.tasks_help"), []))

    for first in range(0, len(cards), PER_ROW):
        cols = st.columns(min(PER_ROW, len(cards)))
        for col, (key, label, help_text, links) in zip(cols, cards[first:first + PER_ROW]):
            with col.container(border=True):
                st.metric(label, n[key], help=help_text)
                for link_label, params in links:
                    st.page_link(CUSTOMERS_PAGE, label=link_label, query_params=params, icon=":material/list:")
                if key == "tickets_due":
                    st.caption(t("home.overdue_link", n=n["tickets_overdue"]))
                elif key == "open_tickets" and figures["team_unassigned"] is not None:
                    st.caption(t("home.team_unassigned_link", n=n["team_unassigned"]))
                if key in kpis.ROW_CARDS and figures[key]:
                    st.caption(t("home.rows_below"))
                if key == "open_tickets" and figures["tickets_scope"] == "mine":
                    st.page_link(DESK_PAGE, label=t("home.open_desk"), icon=":material/support_agent:")

    if me.role in access.HOLDER_ROLES:  # own customers the next reclaim runs will take back to the pool
        soon = reclaim.warnings(c, me)
        if soon.height:
            with st.container(border=True):
                st.subheader(t("home.reclaim_title", n=f"{soon.height:,}"))
                st.caption(t("home.reclaim_help"))
                for row in soon.sort("workdays_left", "name").head(RECLAIM_ROWS).iter_rows(named=True):
                    name_col, why_col = st.columns([2, 5], vertical_alignment="center")
                    with name_col:
                        st.page_link(CUSTOMERS_PAGE, label=md(row["name"] or "—"), query_params={"id": str(row["id"])},
                                     icon=":material/person_alert:")
                    left = int(row["workdays_left"] or 0)
                    why_col.caption(t("home.reclaim_row" if left > 0 else "home.reclaim_row_today", n=left,
                                      reason=row.get("detail") or pool_words.reason(row["reason"]),
                                      day=row["due_day"].isoformat() if row.get("due_day") else "—"))
                if soon.height > RECLAIM_ROWS:
                    st.caption(t("home.rows_more", shown=f"{RECLAIM_ROWS:,}", n=f"{soon.height:,}"))

    # the rows behind the figures that have no list page of their own: scoped like the count
    labels = {key: label for key, label, _h, _l in cards}
    labels["tickets_overdue"] = t("home.tickets_overdue")
    labels["team_unassigned"] = t("home.team_unassigned")
    for key in kpis.ROW_CARDS:
        if key not in labels or not figures.get(key):
            continue
        with st.expander(t("home.rows_title", label=labels[key], n=n[key])):
            rows = kpis.card_rows(c, me, key)
            columns, coded = ROW_TABLES[key]
            for column, prefix in coded.items():
                rows = codes(rows, column, prefix)
            tables.show(rows, columns, key=f"rows_{key}")
            if rows.height < figures[key]:
                st.caption(t("home.rows_more", shown=f"{rows.height:,}", n=n[key]))

    if figures["customers"] is not None:
        st.subheader(t("home.followups"))
        stage_names = names(customers.stages(c))
        due = kpis.followups_due(c, me).with_columns(
            pl.col("stage").replace_strict(stage_names, default=pl.col("stage")))
        if due.is_empty():
            st.info(t("home.no_followups"))
        else:
            tables.show(due, {"name": "customer.name", "phone": "customer.phone", "stage": "customer.stage",
                              "next_followup_at": "customer.next_followup_at", "owner_name": "customer.owner"},
                        key="followups")
            # the table holds the most overdue first and stops at kpis.followups_due's limit: say so, and
            # lead to the whole lists (today's are the last rows, so they are the ones cut off)
            total = (figures.get("followups_due") or 0) + (figures.get("followups_overdue") or 0)
            if due.height < total:
                st.caption(t("home.rows_more", shown=f"{due.height:,}", n=f"{total:,}"))
                left, right = st.columns(2)
                with left:
                    st.page_link(CUSTOMERS_PAGE, label=t("home.followups_today_list"),
                                 query_params={"holder": "owned", "due": "today"}, icon=":material/list:")
                with right:
                    st.page_link(CUSTOMERS_PAGE, label=t("home.followups_overdue_list"),
                                 query_params={"holder": "owned", "due": "overdue"}, icon=":material/list:")
