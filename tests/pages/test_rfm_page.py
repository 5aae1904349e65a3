"""The RFM page (客户细分, issue 12 point 1) per role, in English and Chinese: it renders without exception
for the roles that work segments; the segment table counts only the customers the viewer may see; a
segment's customers are listed under it; marketing saves a segment from it for campaigns."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import db
from tests.conftest import company_app, logged_in

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
ROLES = {"admin": "boss", "manager": "mgr", "marketing": "mkt"}
# customer label -> (days ago, amount) of each confirmed order
ORDERS = {"rep_a": [(5, 500), (20, 500), (40, 500)], "rep_b": [(200, 100)], "rep_sh": [(10, 300), (100, 300)],
          "rep_w": [(3, 1000), (15, 1000), (30, 1000), (60, 1000)], "pool_east": [(2, 50)]}


def add_orders(con, company) -> None:
    for label, orders in ORDERS.items():
        cid = company.customers[label]
        owner, team = con.execute("SELECT owner_id, team_id FROM customers WHERE id = ?", [cid]).fetchone()
        for days, amount in orders:
            con.execute("INSERT INTO orders (id, order_no, customer_id, ordered_at, status, amount, owner_id, team_id, "
                        "created_at) VALUES (?, ?, ?, ?, 'confirmed', ?, ?, ?, ?)",
                        [db.next_id(con, "orders"), f"SO-{label}-{days}", cid, NOW - dt.timedelta(days=days), amount,
                         owner, team, NOW])


@pytest.fixture(scope="module")
def app_db(tmp_path_factory):
    with company_app(tmp_path_factory.mktemp("rfm"), add_orders) as company:
        yield company


def page(username: str, lang: str | None = None) -> AppTest:
    at = logged_in(username, lang).run()
    at.switch_page("views/rfm.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def segments_table(at: AppTest):
    return next(df.value for df in at.dataframe if "Segment" in df.value.columns)


def scored(username: str):
    from core import auth
    from core.analytics import rfm
    from core.context import utcnow
    from ui.db import database

    c = database().cursor()
    return rfm.scores(c, auth.actor_for(c, username, utcnow()), page_size=500)[0]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("role", list(ROLES))
def test_the_rfm_page_renders_for_the_roles_that_work_segments(app_db, role, lang):
    at = page(ROLES[role], lang)
    assert at.title[0].value == ("RFM 价值分析" if lang == "zh" else "RFM analysis")
    assert at.get("plotly_chart"), "the segment chart and the movement heat map"
    segment_names = at.dataframe[0].value.iloc[:, 0].tolist()
    champions = "Champions" if lang == "en" else __import__("core.i18n", fromlist=["x"]).translate("zh", "rfm.segment.champions")
    assert len(segment_names) == 8 and champions in segment_names


def test_reps_and_service_have_no_rfm_page(app_db):
    for username in ("rep_a", "svc"):
        at = logged_in(username).run()
        with pytest.raises(ValueError):
            at.switch_page("views/rfm.py")


def test_the_segment_table_counts_only_the_customers_the_viewer_may_see(app_db):
    mgr = segments_table(page("mgr"))
    assert mgr["Customers"].sum() == 4                   # rep_a, rep_b, rep_sh, the East pool; not West
    assert mgr["Revenue"].sum() == 1500 + 100 + 600 + 50
    boss = segments_table(page("boss"))
    assert boss["Customers"].sum() == 5 and boss["Revenue"].sum() == 6250


def test_a_segments_customers_are_listed_under_it(app_db):
    scores = scored("mgr")
    seg = scores.filter(scores["name"] == "Customer of rep_a")["segment"][0]
    expected = sorted(scores.filter(scores["segment"] == seg)["name"].to_list())
    at = page("mgr")
    at.selectbox(key="rfm_segment").set_value(seg).run()
    assert not at.exception and not at.error
    listed = at.dataframe[-1].value
    assert sorted(listed.iloc[:, 0].tolist()) == expected
    assert "Customer of rep_w" not in listed.iloc[:, 0].tolist()


def test_marketing_saves_a_segment_from_rfm(app_db):
    from core import auth, segments
    from core.context import utcnow
    from ui.db import database

    at = page("mkt")
    seg = scored("mkt")["segment"][0]
    at.selectbox(key="rfm_segment").set_value(seg).run()
    next(w for w in at.text_input if w.label == "Segment name").set_value("RFM picks")
    next(b for b in at.button if b.label == "Save segment").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("RFM picks" in s.value for s in at.success)
    c = database().cursor()
    mkt = auth.actor_for(c, "mkt", utcnow())
    saved = segments.segments(c, mkt).filter(segments.segments(c, mkt)["name"] == "RFM picks")
    assert saved.height == 1 and saved["source"][0] == "rfm"
    rule = segments.get(c, mkt, saved["id"][0])["rule"]
    assert rule["items"][0]["field"] == "rfm_segment" and rule["items"][0]["value"] == [seg]


def test_the_movement_heat_map_counts_every_customer_of_either_day(app_db):
    import json

    at = page("mgr")
    assert not [el for el in at.get("plotly_chart") if "rfm_flow" in el.proto.id]   # on demand only
    at.toggle(key="rfm_show_flow").set_value(True).run()
    assert not at.exception and not at.error
    [flow] = [json.loads(el.proto.spec)["data"][0] for el in at.get("plotly_chart") if "rfm_flow" in el.proto.id]
    # the manager's four customers all bought in one window or the other (West's is not counted)
    assert sum(sum(row) for row in flow["z"]) == 4
