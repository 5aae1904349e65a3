"""Navigation built from the role: each page names the permission it needs."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core import access
from core.context import Actor
from ui.i18n import t


@dataclass(frozen=True)
class PageSpec:
    path: str
    title_key: str
    icon: str
    section: str
    needs: tuple[str, str] | None  # (module, action) the role must have


PAGES = (
    PageSpec("views/home.py", "page.home", ":material/today:", "nav.work", None),
    PageSpec("views/customers.py", "page.customers", ":material/groups:", "nav.work", ("customers", "view")),
    PageSpec("views/account.py", "page.account", ":material/person:", "nav.work", None),
    PageSpec("views/admin_users.py", "page.users", ":material/manage_accounts:", "nav.admin", ("org", "edit")),
    PageSpec("views/admin_teams.py", "page.teams", ":material/account_tree:", "nav.admin", ("org", "edit")),
    PageSpec("views/admin_permissions.py", "page.permissions", ":material/lock:", "nav.admin", ("settings", "edit")),
    PageSpec("views/admin_settings.py", "page.settings", ":material/settings:", "nav.admin", ("settings", "edit")),
    PageSpec("views/admin_recycle.py", "page.recycle", ":material/delete:", "nav.admin", ("recycle", "view")),
    PageSpec("views/admin_audit.py", "page.audit", ":material/history:", "nav.admin", ("audit", "view")),
)


def allowed(con, actor: Actor) -> list[PageSpec]:
    return [p for p in PAGES if p.needs is None or access.can(con, actor, *p.needs)]


def navigation(con, actor: Actor):
    sections: dict[str, list] = {}
    for spec in allowed(con, actor):
        sections.setdefault(t(spec.section), []).append(
            st.Page(spec.path, title=t(spec.title_key), icon=spec.icon, default=spec.path == "views/home.py")
        )
    return st.navigation(sections)
