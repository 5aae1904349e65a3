"""The forecast on a small hand-made pipeline: weighted sums by expected close month, categories from
the admin's probability bands and the owner's override, targets beside the months, the hot list, and
stage win rates from the stage history; each figure only over the deals its viewer may view."""
from __future__ import annotations

import datetime as dt

import pytest

from core import db, forecast, settings, targets
from core.errors import PermissionDenied, ValidationError
from tests.conftest import NOW

D = dt.date


def add_deal(company, owner: str, stage: str, amount: float, expected: D | None = None, closed: D | None = None,
             probability: int | None = None, override: str | None = None, pipeline: int = 1,
             last_activity: dt.datetime | None = None, name: str | None = None) -> int:
    """A deal written straight into the table (the forecast reads the table, not the deals service)."""
    con = company.con
    uid = company.users[owner]
    team = db.scalar(con, "SELECT team_id FROM users WHERE id = ?", [uid])
    if probability is None:
        probability = db.scalar(con, "SELECT probability FROM pipeline_stages WHERE code = ?", [stage])
    new_id = db.next_id(con, "deals")
    con.execute("INSERT INTO deals (id, name, customer_id, amount, stage, probability, expected_close, closed_on, "
                "owner_id, team_id, pipeline_id, forecast_category, last_activity_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [new_id, name or f"Deal {new_id}", company.customers.get(owner), amount, stage, probability,
                 expected, closed, uid, team, pipeline, override, last_activity, NOW, NOW])
    return new_id


def reached(company, deal_id: int, stage: str, when: dt.datetime) -> None:
    con = company.con
    con.execute("INSERT INTO deal_stage_history (id, deal_id, from_stage, to_stage, changed_at) VALUES (?, ?, NULL, ?, ?)",
                [db.next_id(con, "deal_stage_history"), deal_id, stage, when])


@pytest.fixture
def pipeline(company):
    """rep_a: Dec proposal 1,000 (p50), Dec negotiation 2,000 (p75), Dec prospecting 3,000 (p10) the owner
    committed, won 4,000 closed on 10 Nov, a lost 9,999 in Dec, Jan qualification 1,000 with p60 set by
    the owner; rep_b: Dec proposal 500; rep_sh (East - Shanghai): Nov prospecting 100; rep_w (West,
    outside the manager's tree): Dec negotiation 7,000."""
    add_deal(company, "rep_a", "proposal", 1000, D(2026, 12, 10))
    add_deal(company, "rep_a", "negotiation", 2000, D(2026, 12, 20))
    add_deal(company, "rep_a", "prospecting", 3000, D(2026, 12, 5), override="commit")
    add_deal(company, "rep_a", "won", 4000, D(2026, 10, 1), closed=D(2026, 11, 10))
    add_deal(company, "rep_a", "lost", 9999, D(2026, 12, 15), closed=D(2026, 11, 15))
    add_deal(company, "rep_a", "qualification", 1000, D(2027, 1, 15), probability=60)
    add_deal(company, "rep_b", "proposal", 500, D(2026, 12, 31))
    add_deal(company, "rep_sh", "prospecting", 100, D(2026, 11, 30))
    add_deal(company, "rep_w", "negotiation", 7000, D(2026, 12, 1))
    return company


def cell(df, month: D, name: str | None, level: str = "rep") -> dict:
    rows = [r for r in df.iter_rows(named=True) if r["month"] == month and r["level"] == level
            and (level == "team" or r["name"] == name)]
    assert len(rows) == 1, (month, name, level, rows)
    return rows[0]


def test_category_follows_the_bands_unless_the_owner_chose_one():
    band = {"best_case": 50, "commit": 75}
    assert forecast.category(49, None, False, band) == "pipeline"
    assert forecast.category(50, None, False, band) == "best_case"
    assert forecast.category(75, None, False, band) == "commit"
    assert forecast.category(10, "commit", False, band) == "commit"
    assert forecast.category(90, "pipeline", False, band) == "pipeline"
    assert forecast.category(0, "pipeline", True, band) == "closed"


def test_the_manager_sees_weighted_months_per_rep_and_team_with_categories(pipeline):
    mgr = pipeline.actor("mgr")
    df = forecast.months(pipeline.con, mgr, D(2026, 11, 1), 3)
    names = set(df.filter(df["level"] == "rep")["name"].to_list())
    assert names == {"REP_A", "REP_B", "REP_SH"}  # rep_w is in West: not the manager's tree
    dec_a = cell(df, D(2026, 12, 1), "REP_A")
    assert dec_a["best_case"] == 1000                      # proposal at 50 %
    assert dec_a["commit"] == 2000 + 3000                  # negotiation at 75 % + the owner's commit
    assert dec_a["pipeline"] == 0 and dec_a["closed"] == 0
    assert dec_a["weighted"] == pytest.approx(1000 * .5 + 2000 * .75 + 3000 * .10)  # 2,300
    assert dec_a["open_deals"] == 3                        # the lost deal does not count
    nov_a = cell(df, D(2026, 11, 1), "REP_A")
    assert nov_a["closed"] == 4000 and nov_a["weighted"] == 4000  # won: by close date, at full value
    jan_a = cell(df, D(2027, 1, 1), "REP_A")
    assert jan_a["best_case"] == 1000 and jan_a["weighted"] == pytest.approx(600)  # the owner's 60 %
    dec_team = cell(df, D(2026, 12, 1), None, "team")
    assert dec_team["name"] == "East"
    assert dec_team["weighted"] == pytest.approx(2300 + 250)
    assert dec_team["best_case"] == 1500 and dec_team["commit"] == 5000
    nov_team = cell(df, D(2026, 11, 1), None, "team")
    assert nov_team["closed"] == 4000 and nov_team["pipeline"] == 100
    assert nov_team["weighted"] == pytest.approx(4000 + 10)


def test_moving_the_commit_band_moves_deals_between_categories(pipeline):
    con, boss = pipeline.con, pipeline.actor("boss")
    settings.set_value(con, boss, "forecast.commit_from", 80)
    dec_a = cell(forecast.months(con, pipeline.actor("mgr"), D(2026, 12, 1), 1), D(2026, 12, 1), "REP_A")
    assert dec_a["best_case"] == 1000 + 2000   # negotiation (75 %) is below the new 80 % band
    assert dec_a["commit"] == 3000             # the owner's commit stays
    with pytest.raises(ValidationError):
        settings.set_value(con, boss, "forecast.best_case_from", 101)


def test_a_rep_sees_only_their_own_deals_in_the_forecast(pipeline):
    df = forecast.months(pipeline.con, pipeline.actor("rep_b"), D(2026, 11, 1), 3)
    assert set(df.filter(df["level"] == "rep")["name"].to_list()) == {"REP_B"}
    assert cell(df, D(2026, 12, 1), None, "team")["weighted"] == pytest.approx(250)


def test_the_admin_sees_every_team_and_may_narrow_to_one(pipeline):
    con, boss = pipeline.con, pipeline.actor("boss")
    df = forecast.months(con, boss, D(2026, 12, 1), 1)
    assert cell(df, D(2026, 12, 1), None, "team")["weighted"] == pytest.approx(2300 + 250 + 7000 * .75)
    west = forecast.months(con, boss, D(2026, 12, 1), 1, team_id=pipeline.teams["west"])
    assert set(west.filter(west["level"] == "rep")["name"].to_list()) == {"REP_W"}
    with pytest.raises(PermissionDenied):  # the manager may not look into West
        forecast.months(con, pipeline.actor("mgr"), D(2026, 12, 1), 1, team_id=pipeline.teams["west"])


def test_targets_stand_beside_the_months(pipeline):
    con, boss, mgr = pipeline.con, pipeline.actor("boss"), pipeline.actor("mgr")
    targets.set_target(con, mgr, ("month", D(2026, 12, 1)), "won_amount", 5000, user_id=pipeline.users["rep_a"])
    targets.set_target(con, boss, ("quarter", D(2026, 10, 1)), "won_amount", 30000, team_id=pipeline.teams["east"])
    targets.set_target(con, boss, ("year", D(2027, 1, 1)), "won_amount", 120000, team_id=pipeline.teams["sales"])
    targets.set_target(con, boss, ("month", D(2026, 11, 1)), "won_amount", 8000, team_id=pipeline.teams["west"])
    df = forecast.months(con, mgr, D(2026, 11, 1), 3)
    assert cell(df, D(2026, 12, 1), "REP_A")["target"] == 5000
    assert cell(df, D(2026, 11, 1), "REP_A")["target"] is None
    assert cell(df, D(2026, 12, 1), None, "team")["target"] == pytest.approx(10000)  # a third of the quarter
    assert cell(df, D(2027, 1, 1), None, "team")["target"] is None  # Sales' year target is not East's
    whole = forecast.months(con, boss, D(2026, 11, 1), 3)
    assert cell(whole, D(2027, 1, 1), None, "team")["target"] == pytest.approx(10000)   # Sales: 120,000 / 12
    assert cell(whole, D(2026, 11, 1), None, "team")["target"] == pytest.approx(10000 + 8000)  # East + West


def test_a_rep_with_a_target_but_no_deal_still_has_a_row(pipeline):
    con = pipeline.con
    targets.set_target(con, pipeline.actor("boss"), ("month", D(2027, 1, 1)), "won_amount", 900,
                       user_id=pipeline.users["rep_b"])
    row = cell(forecast.months(con, pipeline.actor("mgr"), D(2027, 1, 1), 1), D(2027, 1, 1), "REP_B")
    assert row["target"] == 900 and row["weighted"] == 0


def test_the_hot_list_ranks_open_deals_of_the_next_90_days_by_weighted_amount(pipeline):
    con = pipeline.con
    add_deal(pipeline, "rep_a", "negotiation", 50000, D(2027, 3, 1))     # beyond 90 days
    add_deal(pipeline, "rep_a", "negotiation", 40000, D(2026, 11, 1))    # expected close already passed
    seen = add_deal(pipeline, "rep_a", "proposal", 1800, D(2026, 12, 2),
                    last_activity=dt.datetime(2026, 11, 20, 10, 0), name="Touched")  # 18:00 in Shanghai
    hot = forecast.hot(con, pipeline.actor("rep_a"))
    assert hot["weighted"].to_list() == [1500, 900, 600, 500, 300]
    assert hot["id"].to_list()[1] == seen
    row = hot.row(1, named=True)
    assert row["days_idle"] == 3 and row["category"] == "best_case" and row["probability"] == 50
    assert hot.row(0, named=True)["days_idle"] is None   # nothing logged yet
    assert forecast.hot(con, pipeline.actor("rep_a"), limit=2).height == 2
    everyone = forecast.hot(con, pipeline.actor("boss"))
    assert everyone.row(0, named=True)["owner_name"] == "REP_W"  # 7,000 x 75 %


def test_stage_win_rates_come_from_the_history_of_the_last_12_months_within_scope(company):
    recent, old = NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=400)
    outcomes = [("rep_a", "won"), ("rep_a", "lost"), ("rep_b", "won"), ("rep_b", "proposal"), ("rep_w", "lost")]
    for owner, now_in in outcomes:
        deal = add_deal(company, owner, now_in, 100, D(2026, 12, 1))
        reached(company, deal, "prospecting", recent - dt.timedelta(days=5))
        reached(company, deal, "proposal", recent)
        if owner == "rep_a" and now_in == "won":   # went back to proposal once more: still one deal
            reached(company, deal, "negotiation", recent + dt.timedelta(days=1))
            reached(company, deal, "proposal", recent + dt.timedelta(days=2))
    stale = add_deal(company, "rep_a", "lost", 100, D(2025, 1, 1))
    reached(company, stale, "proposal", old)           # entered the stage more than 12 months ago
    con = company.con
    assert forecast.stage_win_rates(con, company.actor("mgr"), 1)["proposal"] == pytest.approx(2 / 3)
    assert forecast.stage_win_rates(con, company.actor("boss"), 1)["proposal"] == pytest.approx(2 / 4)
    assert forecast.stage_win_rates(con, company.actor("rep_a"), 1)["proposal"] == pytest.approx(1 / 2)
    table = forecast.win_rate_table(con, company.actor("mgr"), 1)
    row = table.filter(table["stage"] == "proposal").row(0, named=True)
    assert (row["reached"], row["closed"], row["won"]) == (4, 3, 2)
    assert forecast.stage_win_rates(con, company.actor("mgr"), 1)["negotiation"] == 1.0
    assert forecast.stage_win_rates(con, company.actor("boss"), 2) == {}   # nothing in Renewals


def test_the_hot_list_shows_each_deal_beside_its_stage_win_rate(company):
    con = company.con
    for now_in in ("won", "lost", "lost", "lost"):
        reached(company, add_deal(company, "rep_a", now_in, 100, D(2026, 10, 1)), "negotiation", NOW - dt.timedelta(days=10))
    open_deal = add_deal(company, "rep_a", "negotiation", 1000, D(2026, 12, 1))
    row = forecast.hot(con, company.actor("rep_a")).row(0, named=True)
    assert row["id"] == open_deal and row["probability"] == 75 and row["win_rate"] == pytest.approx(0.25)


def test_bad_forecast_input_is_refused(pipeline):
    con, mgr = pipeline.con, pipeline.actor("mgr")
    with pytest.raises(ValidationError):
        forecast.months(con, mgr, "not a date", 3)
    with pytest.raises(ValidationError):
        forecast.months(con, mgr, D(2026, 1, 1), 0)
    with pytest.raises(ValidationError):
        forecast.hot(con, mgr, days=-5)


def test_win_rates_kept_for_a_file_per_scope_for_a_few_minutes(tmp_path, monkeypatch):
    """On a database file the rates are kept per scope for RATES_KEEP_S seconds: a rep's kept rates never
    answer the manager, and once the time is up a move shows."""
    from core import deals, setup
    from tests.conftest import build_company

    con = db.connect(tmp_path / "crm.duckdb")
    setup.prepare(con)
    company = build_company(con)
    rep, mgr = company.actor("rep_a"), company.actor("mgr")
    mine = [deals.create_deal(con, rep, {"name": f"D{i}", "customer_id": company.customers["rep_a"]}) for i in range(2)]
    theirs = deals.create_deal(con, company.actor("rep_b"), {"name": "B", "customer_id": company.customers["rep_b"]})
    deals.move_stage(con, rep, mine[0], "won")
    deals.move_stage(con, company.actor("rep_b"), theirs, "lost", lost_reason="price")
    assert forecast.stage_win_rates(con, rep)["prospecting"] == 1.0                  # rep_a: 1 won of 1 closed
    assert forecast.stage_win_rates(con, mgr)["prospecting"] == 0.5                  # the team: 1 of 2
    deals.move_stage(con, rep, mine[1], "lost", lost_reason="price")
    assert forecast.stage_win_rates(con, rep)["prospecting"] == 1.0                  # kept for a few minutes
    monkeypatch.setattr(forecast, "RATES_KEEP_S", 0.0)                               # ... and then
    assert forecast.stage_win_rates(con, rep)["prospecting"] == 0.5
    assert forecast.stage_win_rates(con, mgr)["prospecting"] == pytest.approx(1 / 3)
    con.close()
