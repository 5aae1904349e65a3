"""The pipeline page (views/deals.py without a deal open) as managers and reps meet it: the manager's
board shows every column with its count and sum, a rep's board only the rep's cards, a card moves to
another stage from the board, a lost move without a reason is refused in the user's language, and the
list view pages through the same deals."""
from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core import db
from tests.conftest import company_app, logged_in


def _deal(con, company, owner: str, stage: str, amount: int, name: str) -> int:
    uid = company.users[owner]
    team = db.scalar(con, "SELECT team_id FROM users WHERE id = ?", [uid])
    did = db.next_id(con, "deals")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con.execute(
        "INSERT INTO deals (id, name, customer_id, amount, stage, pipeline_id, probability, source, expected_close, "
        "closed_on, owner_id, team_id, created_at, updated_at, stage_changed_at, last_activity_at) "
        "VALUES (?, ?, ?, ?, ?, 1, 10, 'web', ?, ?, ?, ?, ?, ?, ?, ?)",
        [did, name, company.customers[owner], amount, stage, now.date() + dt.timedelta(days=20),
         now.date() if stage in ("won", "lost") else None, uid, team, now, now, now, now])
    con.execute("INSERT INTO deal_stage_history VALUES (nextval('seq_deal_stage_history'), ?, NULL, ?, ?, ?)",
                [did, stage, now, uid])
    return did


@pytest.fixture
def board_db(tmp_path):
    def prepare(con, company):
        company.deals = {
            "a1": _deal(con, company, "rep_a", "prospecting", 100, "Alpha scanner"),
            "a2": _deal(con, company, "rep_a", "prospecting", 250, "Alpha cloud"),
            "b1": _deal(con, company, "rep_b", "proposal", 1000, "Bravo 大单"),
            "w1": _deal(con, company, "rep_w", "prospecting", 999, "West deal"),
            "won": _deal(con, company, "rep_a", "won", 500, "Alpha won"),
        }

    with company_app(tmp_path, prepare) as company:
        yield company


def board_as(username: str, lang: str | None = None) -> AppTest:
    return logged_in(username, lang).run().switch_page("views/deals.py").run()


def cards(at: AppTest) -> set[str]:
    """The titles of the cards shown: each card opens its deal's page (a button setting ?id=)."""
    return {b.label.replace("\\", "") for b in at.button if (b.key or "").startswith("board_card_")}


def test_the_manager_sees_every_column_with_its_count_and_sum(board_db):
    at = board_as("mgr")
    assert not at.exception, at.exception
    heads = [m.value for m in at.markdown]
    for stage in ("Prospecting", "Qualification", "Proposal", "Negotiation", "Won", "Lost"):
        assert f"**{stage}**" in heads
    captions = [c.value for c in at.caption]
    assert "2 deals · CNY 350" in captions      # rep_a's two prospecting deals; West's is not the manager's
    assert "1 deal · CNY 1,000" in captions
    assert "1 deal · CNY 500" in captions       # won today: inside the default 30-day window
    assert cards(at) == {"Alpha scanner", "Alpha cloud", "Bravo 大单", "Alpha won"}


def test_a_rep_sees_only_own_cards(board_db):
    at = board_as("rep_b")
    assert not at.exception, at.exception
    assert cards(at) == {"Bravo 大单"}
    assert "0 deals · CNY 0" in [c.value for c in at.caption]


def test_a_card_moves_to_another_open_stage_from_the_board(board_db):
    at = board_as("rep_a")
    deal = board_db.deals["a1"]
    at.selectbox(key=f"deal_move_{deal}").set_value("proposal").run()
    assert not at.exception, at.exception
    assert any("moved to Proposal" in s.value for s in at.success)
    from ui.db import database

    cur = database().cursor()
    assert cur.execute("SELECT stage FROM deals WHERE id = ?", [deal]).fetchone()[0] == "proposal"
    assert cur.execute("SELECT count(*) FROM deal_stage_history WHERE deal_id = ? AND to_stage = 'proposal'",
                       [deal]).fetchone()[0] == 1


def test_a_lost_move_without_a_reason_is_refused_in_the_users_language(board_db):
    at = board_as("rep_a", lang="zh")
    deal = board_db.deals["a2"]
    at.selectbox(key=f"deal_move_{deal}").set_value("lost").run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "移至“输单”").click().run()
    assert any("输单必须选择原因" in e.value for e in at.error), [e.value for e in at.error]
    from ui.db import database

    assert database().cursor().execute("SELECT stage FROM deals WHERE id = ?", [deal]).fetchone()[0] == "prospecting"
    # with a reason the move goes through
    at.selectbox(key="deal_lost_reason").set_value("price")
    next(b for b in at.button if b.label == "移至“输单”").click().run()
    assert not at.error, [e.value for e in at.error]
    assert database().cursor().execute("SELECT stage, lost_reason FROM deals WHERE id = ?",
                                       [deal]).fetchone() == ("lost", "price")


def test_the_list_view_pages_through_the_same_deals(board_db):
    at = board_as("rep_a")
    at.segmented_control(key="deal_view").set_value("list").run()
    assert not at.exception, at.exception
    assert sorted(at.dataframe[0].value["Deal"].tolist()) == ["Alpha cloud", "Alpha scanner", "Alpha won"]
    at.selectbox(key="deal_status").set_value("won").run()
    assert at.dataframe[0].value["Deal"].tolist() == ["Alpha won"]


def test_a_won_move_asks_the_close_date_and_lands_on_the_deal_for_the_hand_off(board_db):
    at = board_as("rep_b")
    deal = board_db.deals["b1"]
    at.selectbox(key=f"deal_move_{deal}").set_value("won").run()
    assert not at.exception, at.exception
    assert any("Mark “Bravo 大单” as won" in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Move to Won").click().run()
    assert not at.exception, at.exception
    from ui.db import database

    assert database().cursor().execute("SELECT stage, closed_on IS NOT NULL FROM deals WHERE id = ?",
                                       [deal]).fetchone() == ("won", True)
    # the customer's first won deal: the deal's page opens, where the hand-off is asked for
    assert at.query_params.get("id") in (str(deal), [str(deal)])


def test_the_list_shows_each_deals_probability_and_its_stages_win_rate(board_db):
    from ui.db import database

    cur = database().cursor()
    lost = _deal(cur, board_db, "rep_a", "lost", 70, "Alpha lost")   # it had reached Prospecting: 0 % won from there
    cur.execute("INSERT INTO deal_stage_history VALUES (nextval('seq_deal_stage_history'), ?, NULL, 'prospecting', "
                "now()::TIMESTAMP - INTERVAL 2 DAY, ?)", [lost, board_db.users["rep_a"]])
    cur.execute("UPDATE deals SET probability = 40 WHERE id = ?", [board_db.deals["a1"]])
    at = board_as("rep_a")
    at.segmented_control(key="deal_view").set_value("list").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    got = dict(zip(table["Deal"], zip(table["Probability"], table["Stage win rate"])))
    assert got["Alpha scanner"] == ("40 %", "0 % ⚠")      # 40 points above what the stage has won
    assert got["Alpha cloud"] == ("10 %", "0 %")
    assert got["Alpha won"][1] == ""                      # closed: no rate


def test_a_pending_won_question_does_not_survive_a_switch_to_the_list(board_db):
    at = board_as("rep_b")
    at.selectbox(key=f"deal_move_{board_db.deals['b1']}").set_value("won").run()
    assert any("Mark “Bravo 大单” as won" in m.value for m in at.markdown)
    at.segmented_control(key="deal_view").set_value("list").run()
    at.segmented_control(key="deal_view").set_value("board").run()
    assert not at.exception, at.exception
    assert not any("Mark “Bravo 大单” as won" in m.value for m in at.markdown)
    from ui.db import database

    assert database().cursor().execute("SELECT stage FROM deals WHERE id = ?",
                                       [board_db.deals["b1"]]).fetchone()[0] == "proposal"


def test_a_card_opens_its_deal_with_the_id_in_the_address(board_db):
    """A card is a button setting ?id= (an st.page_link to the board's own page left the browser's address
    at the board in Streamlit 1.67: the deal page's next rerun went back to the board)."""
    at = board_as("rep_b")
    next(b for b in at.button if (b.key or "").startswith("board_card_") and "Bravo" in b.label).click().run()
    assert not at.exception
    assert at.query_params.get("id") in (str(board_db.deals["b1"]), [str(board_db.deals["b1"])])
    assert any("Bravo 大单" in x.value for x in at.title)
