"""Navigation built from the role: each page names the permission it needs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from core import access, dedup, handoff, handover, merge
from core.context import Actor
from ui import imports
from ui.i18n import t


@dataclass(frozen=True)
class PageSpec:
    path: str
    title_key: str
    icon: str
    section: str
    needs: tuple[str, str] | None  # (module, action) the role must have
    also: Callable | None = None   # a further check (con, actor) -> bool, from core


PAGES = (
    PageSpec("views/home.py", "page.home", ":material/today:", "nav.work", None),
    PageSpec("views/dashboard.py", "page.dashboard", ":material/monitoring:", "nav.work", ("analytics", "view")),
    PageSpec("views/customers.py", "page.customers", ":material/groups:", "nav.work", ("customers", "view")),
    PageSpec("views/pool.py", "page.pool", ":material/waves:", "nav.work", ("customers", "assign")),
    PageSpec("views/contacts.py", "page.contacts", ":material/contact_phone:", "nav.work", ("customers", "view")),
    PageSpec("views/leads.py", "page.leads", ":material/person_search:", "nav.work", ("leads", "view")),
    PageSpec("views/deals.py", "page.pipeline", ":material/view_kanban:", "nav.work", ("deals", "view")),
    PageSpec("views/orders.py", "page.orders", ":material/receipt_long:", "nav.work", ("orders", "view")),
    PageSpec("views/tickets.py", "page.service_desk", ":material/support_agent:", "nav.work", ("tickets", "view")),
    PageSpec("views/feedback.py", "page.feedback", ":material/reviews:", "nav.work", ("feedback", "view")),
    PageSpec("views/account.py", "page.account", ":material/person:", "nav.work", None),
    PageSpec("views/forecast.py", "page.forecast", ":material/trending_up:", "nav.manage", ("deals", "view")),
    PageSpec("views/targets.py", "page.targets", ":material/flag:", "nav.manage", ("deals", "view")),
    PageSpec("views/pool_dashboard.py", "page.pool_dashboard", ":material/leaderboard:", "nav.manage",
             ("customers", "assign"), handover.can_handover),
    PageSpec("views/duplicates.py", "page.duplicates", ":material/content_copy:", "nav.manage", None, dedup.can_check),
    PageSpec("views/merge.py", "page.merge", ":material/merge:", "nav.manage", ("customers", "delete"), merge.can_merge),
    PageSpec("views/handover.py", "page.handover", ":material/move_up:", "nav.manage", ("customers", "assign"),
             handover.can_handover),
    PageSpec("views/upgrades.py", "page.upgrades", ":material/upgrade:", "nav.manage", ("customers", "assign"),
             handoff.can_review),
    # customer analysis (RFM, cohorts) for the roles that work segments (admin, manager, marketing by default)
    PageSpec("views/rfm.py", "page.rfm", ":material/donut_small:", "nav.manage", ("analytics", "view"),
             lambda con, a: access.can(con, a, "segments", "view")),
    PageSpec("views/cohorts.py", "page.cohorts", ":material/grid_on:", "nav.manage", ("analytics", "view"),
             lambda con, a: access.can(con, a, "segments", "view")),
    PageSpec("views/reports.py", "page.reports", ":material/query_stats:", "nav.manage", ("analytics", "view")),
    PageSpec("views/segments.py", "page.segments", ":material/filter_alt:", "nav.manage", ("segments", "view")),
    # import (数据导入) and its history: for the roles with the import action on some module
    PageSpec("views/imports.py", "page.import", ":material/upload_file:", "nav.manage", None, imports.can_import),
    PageSpec("views/import_history.py", "page.import_history", ":material/manage_history:", "nav.manage", None,
             imports.can_import),
    PageSpec("views/admin_users.py", "page.users", ":material/manage_accounts:", "nav.admin", ("org", "edit")),
    PageSpec("views/admin_teams.py", "page.teams", ":material/account_tree:", "nav.admin", ("org", "edit")),
    PageSpec("views/admin_permissions.py", "page.permissions", ":material/lock:", "nav.admin", ("settings", "edit")),
    PageSpec("views/admin_fields.py", "page.fields", ":material/tune:", "nav.admin", ("settings", "edit")),
    PageSpec("views/admin_pipelines.py", "page.pipelines", ":material/linear_scale:", "nav.admin",
             ("settings", "edit")),
    PageSpec("views/admin_settings.py", "page.settings", ":material/settings:", "nav.admin", ("settings", "edit")),
    PageSpec("views/admin_service.py", "page.service_rules", ":material/more_time:", "nav.admin",
             ("settings", "edit")),
    PageSpec("views/admin_pool.py", "page.pool_rules", ":material/rule:", "nav.admin", ("settings", "edit")),
    PageSpec("views/admin_backup.py", "page.backup", ":material/backup:", "nav.admin", ("settings", "edit")),
    PageSpec("views/admin_recycle.py", "page.recycle", ":material/delete:", "nav.admin", ("recycle", "view")),
    PageSpec("views/admin_audit.py", "page.audit", ":material/history:", "nav.admin", ("audit", "view")),
)


def allowed(con, actor: Actor) -> list[PageSpec]:
    return [p for p in PAGES if (p.needs is None or access.can(con, actor, *p.needs))
            and (p.also is None or p.also(con, actor))]


def navigation(con, actor: Actor):
    sections: dict[str, list] = {}
    paths = {}
    for spec in allowed(con, actor):
        page = st.Page(spec.path, title=t(spec.title_key), icon=spec.icon, default=spec.path == "views/home.py")
        paths[page.url_path] = spec.path
        sections.setdefault(t(spec.section), []).append(page)
    current = st.navigation(sections, expanded=True)  # every page in view, no "View more" fold
    st.session_state["_nav_path"] = paths.get(current.url_path)
    return current


def _show_record(record_id: int) -> None:
    st.query_params.clear()
    st.query_params["id"] = str(record_id)


def record_link(page: str, label: str, record_id: int, icon: str | None = None, key: str | None = None) -> None:
    """A link that opens a record (`page?id=N`). On the page already shown it is a link-looking button that
    sets the query: with Streamlit 1.67 an st.page_link to the current page draws the record but leaves the
    browser's address at the old query, so the next rerun (a form's submit) goes back and the typed text is
    lost (FACTS)."""
    if st.session_state.get("_nav_path") == page:
        st.button(label, key=key or f"_open_{page}_{record_id}", icon=icon, type="tertiary",
                  on_click=_show_record, args=(int(record_id),))
    else:
        st.page_link(page, label=label, query_params={"id": str(record_id)}, icon=icon)
