"""The cohorts page (issue 12 point 2) per role, in English and Chinese: it renders without exception for
the roles that work segments; the retention heat map and the cohort table hold the cohorts of the
customers the viewer may see (as core.analytics.cohorts computes them); the leads tab shows leads by
creation month."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import leads
from tests.conftest import company_app, logged_in
from tests.pages.test_rfm_page import add_orders

ROLES = {"admin": "boss", "manager": "mgr", "marketing": "mkt"}


@pytest.fixture(scope="module")
def app_db(tmp_path_factory):
    def prepare(con, company):
        add_orders(con, company)
        for rep, name in (("rep_a", "Lead A"), ("rep_b", "Lead B"), ("rep_w", "Lead W")):
            leads.create_lead(con, company.actor(rep), {"name": name, "source": "web"})

    with company_app(tmp_path_factory.mktemp("cohorts"), prepare) as company:
        yield company


def page(username: str, lang: str | None = None) -> AppTest:
    at = logged_in(username, lang).run()
    at.switch_page("views/cohorts.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def leads_view(at: AppTest) -> AppTest:
    """Switch to the leads -> customers view (one view is computed at a time)."""
    at.session_state["coh_view"] = "leads"
    at.run()
    assert not at.exception and not at.error
    return at


def charts(at: AppTest) -> list[str]:
    return [el.proto.id for el in at.get("plotly_chart")]


def core_frames(username: str, at: AppTest):
    from core import auth
    from core.analytics import cohorts
    from core.context import utcnow
    from ui.db import database

    c = database().cursor()
    me = auth.actor_for(c, username, utcnow())
    start, end = at.session_state["coh_start"], at.session_state["coh_end"]
    return cohorts.retention(c, me, start, end, 12), cohorts.lead_cohorts(c, me, start, end, 12)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("role", list(ROLES))
def test_the_cohorts_page_renders_for_the_roles_that_work_segments(app_db, role, lang):
    at = page(ROLES[role], lang)
    assert at.title[0].value == ("同期群分析" if lang == "zh" else "Cohorts")
    ids = charts(at)
    assert any("coh_retention" in i for i in ids) and any("coh_revenue" in i for i in ids)
    leads_view(at)
    assert any("coh_leads" in i for i in charts(at))


def test_reps_have_no_cohorts_page(app_db):
    at = logged_in("rep_a").run()
    with pytest.raises(ValueError):
        at.switch_page("views/cohorts.py")


@pytest.mark.parametrize("username, customers, lead_count", [("mgr", 4, 2), ("boss", 5, 3)])
def test_the_tables_hold_the_cohorts_of_the_viewers_customers_and_leads(app_db, username, customers, lead_count):
    at = page(username)
    ret, lead = core_frames(username, at)
    assert ret.select("cohort", "size").unique()["size"].sum() == customers   # West's customer only for the admin
    table = next(df.value for df in at.dataframe if "Customers buying" in df.value.columns)
    assert table["Customers buying"].sum() == ret["customers"].sum()
    by_cohort = table.groupby("Cohort")["Cohort size"].first()
    assert by_cohort.sum() == customers
    leads_view(at)
    leads_table = next(df.value for df in at.dataframe if "Created in" in df.value.columns)
    assert leads_table.groupby("Created in")["Cohort size"].first().sum() == lead_count
    assert lead.select("cohort", "size").unique()["size"].sum() == lead_count
