"""The report builder (core.analytics.reports, issue 12 points 4 and 5): each measure and date bucket on
hand-made rows with the expected values worked out here; a ratio equals the ratio of its two measures run
apart; cumulative mode; a second series; a shared report run by a rep shows only the rep's rows and
refuses fields the rep's role may not see; anything unknown (or SQL text) in a definition is refused
with a message key; saving, sharing and pinning; the command line.

Times: rows are written with Shanghai wall-clock times (tests.integration.test_metrics.utc), the
company's default time zone, so a day/week/month bucket is the company's."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from core import db, fields, pool_mask, settings, setup
from core.analytics import reports as r
from core.errors import DuplicateError, NotFound, PermissionDenied, ValidationError
from tests.conftest import ROOT, build_company
from tests.integration.test_metrics import deal, order, utc

D = dt.date


def defn(obj="deals", dims=(), measures=({"agg": "count"},), **kw) -> dict:
    return {"object": obj, "dims": list(dims), "measures": list(measures), **kw}


def rows(df, *cols):
    return [tuple(x[c] for c in cols) for x in df.to_dicts()]


@pytest.fixture
def amounts(company):
    """rep_a: deals of 100, 200, 600 (won, won, lost); rep_b: 50 (won) and one without an amount (open)."""
    for rep, stage, amount, closed in (("rep_a", "won", 100, D(2026, 11, 3)), ("rep_a", "won", 200, D(2026, 11, 20)),
                                       ("rep_a", "lost", 600, D(2026, 12, 1)), ("rep_b", "won", 50, D(2026, 11, 5)),
                                       ("rep_b", "qualification", None, None)):
        deal(company, rep, stage, amount, closed_on=closed, customer_id=company.customers[rep])
    return company


MEASURES = [{"agg": "count"}, {"agg": "count_distinct", "field": "owner"}, {"agg": "sum", "field": "amount"},
            {"agg": "avg", "field": "amount"}, {"agg": "median", "field": "amount"},
            {"agg": "min", "field": "amount"}, {"agg": "max", "field": "amount"},
            {"agg": "count_empty", "field": "amount"}]


def test_each_measure_over_every_row_and_by_owner(amounts):
    boss = amounts.actor("boss")
    total = r.run(amounts.con, boss, defn(measures=MEASURES))
    # 5 deals, 2 owners, 100+200+600+50, mean of four amounts, median of 50,100,200,600, one without amount
    assert rows(total, *[f"m{i}" for i in range(8)]) == [(5, 2, 950.0, 237.5, 150.0, 50.0, 600.0, 1)]
    by = r.run(amounts.con, boss, defn(dims=[{"field": "owner"}], measures=MEASURES))
    assert rows(by, "owner", *[f"m{i}" for i in range(8)]) == [
        ("REP_A", 3, 1, 900.0, 300.0, 200.0, 100.0, 600.0, 0),
        ("REP_B", 2, 1, 50.0, 50.0, 50.0, 50.0, 50.0, 1)]


def test_every_date_bucket_is_a_company_day_week_month_quarter_year_weekday_or_month_of_year(company):
    c = company.customers["rep_a"]
    # 00:30 Shanghai on Sunday 1 Nov 2026 is still 31 Oct in UTC; Wed 4 Mar 2026; Wed 31 Dec 2025 23:59
    for local in ("2026-11-01 00:30", "2026-03-04 12:00", "2025-12-31 23:59"):
        order(company, "rep_a", c, local, 10)
    boss = company.actor("boss")
    want = {"day": [D(2025, 12, 31), D(2026, 3, 4), D(2026, 11, 1)],
            "week": [D(2025, 12, 29), D(2026, 3, 2), D(2026, 10, 26)],
            "month": [D(2025, 12, 1), D(2026, 3, 1), D(2026, 11, 1)],
            "quarter": [D(2025, 10, 1), D(2026, 1, 1), D(2026, 10, 1)],
            "year": [D(2025, 1, 1), D(2026, 1, 1)],
            "dow": [3, 7], "moy": [3, 11, 12]}
    counts = {"year": [1, 2], "dow": [2, 1]}
    for bucket, keys in want.items():
        df = r.run(company.con, boss, defn("orders", [{"field": "ordered_at", "bucket": bucket}]))
        assert df["ordered_at"].to_list() == keys, bucket
        assert df["m0"].to_list() == counts.get(bucket, [1] * len(keys)), bucket
    # a date field (no time zone): the close day's month
    deal(company, "rep_a", "won", 1, closed_on=D(2026, 11, 30))
    df = r.run(company.con, boss, defn(dims=[{"field": "closed_on", "bucket": "month"}]))
    assert rows(df, "closed_on", "m0") == [(D(2026, 11, 1), 1)]


WON_OVER_CLOSED = defn(dims=[{"field": "owner"}], measures=[
    {"agg": "count", "filters": [{"field": "won", "op": "is", "value": True}]},
    {"agg": "count", "filters": [{"field": "closed", "op": "is", "value": True}]}], ratio={"num": 0, "den": 1})


def test_a_ratio_is_the_ratio_of_its_two_measures_run_apart(amounts):
    boss = amounts.actor("boss")
    both = r.run(amounts.con, boss, WON_OVER_CLOSED)
    num = r.run(amounts.con, boss, defn(dims=[{"field": "owner"}], measures=[WON_OVER_CLOSED["measures"][0]]))
    den = r.run(amounts.con, boss, defn(dims=[{"field": "owner"}], measures=[WON_OVER_CLOSED["measures"][1]]))
    apart = {o: n / d for (o, n), (_, d) in zip(rows(num, "owner", "m0"), rows(den, "owner", "m0"))}
    assert dict(rows(both, "owner", "ratio")) == pytest.approx(apart)
    assert dict(rows(both, "owner", "ratio")) == pytest.approx({"REP_A": 2 / 3, "REP_B": 1.0})  # rep_b: 1 won / 1 closed
    # a denominator of zero gives no ratio, not an error
    none = r.run(amounts.con, boss, defn(measures=[{"agg": "count"}, {"agg": "count_empty", "field": "owner"}],
                                         ratio={"num": 0, "den": 1}))
    assert none["ratio"].to_list() == [None]


def test_cumulative_mode_runs_along_the_first_dimension_for_each_series(company):
    c = company.customers["rep_a"]
    for rep, local, amount in (("rep_a", "2026-01-10 10:00", 10), ("rep_a", "2026-02-10 10:00", 20),
                               ("rep_b", "2026-02-11 10:00", 5), ("rep_a", "2026-04-01 10:00", 40)):
        order(company, rep, c, local, amount)
    boss = company.actor("boss")
    plain = defn("orders", [{"field": "ordered_at", "bucket": "month"}], [{"agg": "sum", "field": "amount"}])
    df = r.run(company.con, boss, {**plain, "cumulative": True})
    assert rows(df, "ordered_at", "m0") == [(D(2026, 1, 1), 10.0), (D(2026, 2, 1), 35.0), (D(2026, 4, 1), 75.0)]
    # with a second series: each owner's own running total
    df = r.run(company.con, boss, {**plain, "cumulative": True, "series": {"field": "owner"}})
    assert rows(df, "ordered_at", "owner", "m0") == [
        (D(2026, 1, 1), "REP_A", 10.0), (D(2026, 2, 1), "REP_A", 30.0), (D(2026, 2, 1), "REP_B", 5.0),
        (D(2026, 4, 1), "REP_A", 70.0)]
    # an average cannot be accumulated
    with pytest.raises(ValidationError) as e:
        r.run(company.con, boss, {**plain, "measures": [{"agg": "avg", "field": "amount"}], "cumulative": True})
    assert e.value.key == "report.cumulative_additive"


def test_a_second_series_gives_one_row_per_dimension_and_series_value(amounts):
    df = r.run(amounts.con, amounts.actor("boss"), defn(dims=[{"field": "stage"}], series={"field": "owner"}))
    assert rows(df, "stage", "owner", "m0") == [("lost", "REP_A", 1), ("qualification", "REP_B", 1),
                                                ("won", "REP_A", 2), ("won", "REP_B", 1)]


def test_a_shared_report_run_by_a_rep_shows_only_the_reps_rows(amounts):
    con = amounts.con
    deal(amounts, "rep_w", "won", 999, closed_on=D(2026, 11, 9))
    rid = r.save(con, amounts.actor("mgr"), "Won by owner", {**WON_OVER_CLOSED, "chart": "bar"}, share="all")
    everyone = r.run(con, amounts.actor("boss"), r.get(con, amounts.actor("boss"), rid)["definition"])
    assert set(everyone["owner"]) == {"REP_A", "REP_B", "REP_W"}
    mine = r.run_saved(con, amounts.actor("rep_a"), rid)
    assert rows(mine, "owner", "m0", "m1") == [("REP_A", 2, 3)]
    east = r.run_saved(con, amounts.actor("mgr"), rid)
    assert set(east["owner"]) == {"REP_A", "REP_B"}
    # the drill-down of a cell is the rows that cell counted, in the viewer's scope
    page, total = r.drill(con, amounts.actor("rep_a"), WON_OVER_CLOSED, {"owner": "REP_A"}, measure=0)
    assert total == 2 and sorted(page["amount"].cast(float).to_list()) == [100.0, 200.0]
    _, total = r.drill(con, amounts.actor("rep_a"), WON_OVER_CLOSED, {"owner": "REP_W"})
    assert total == 0


def test_a_field_the_viewers_role_may_not_see_is_refused_anywhere_in_the_definition(amounts):
    con, boss = amounts.con, amounts.actor("boss")
    fields.save_field(con, boss, "deal", "amount", view_roles=["admin", "manager"])
    fields.save_field(con, boss, "deal", None, kind="number", label_en="Budget", label_zh="预算",
                      view_roles=["admin", "manager"])
    sums = {**defn(dims=[{"field": "owner"}], measures=[{"agg": "sum", "field": "amount"}]), "chart": "table"}
    rid = r.save(con, amounts.actor("mgr"), "Amounts", sums, share="all")
    rep = amounts.actor("rep_a")
    names = {f["name"] for f in r.fields(con, rep, "deals")}
    assert "amount" not in names and "cf_budget" not in names and "owner" in names
    assert {"amount", "cf_budget"} <= {f["name"] for f in r.fields(con, amounts.actor("mgr"), "deals")}
    with pytest.raises(PermissionDenied) as e:
        r.run_saved(con, rep, rid)
    assert (e.value.key, e.value.params["field"]) == ("report.hidden_field", "deal.amount")
    for part in ({"dims": [{"field": "cf_budget"}]}, {"series": {"field": "cf_budget"}},
                 {"filters": [{"field": "amount", "op": "gte", "value": 1}]},
                 {"measures": [{"agg": "count", "filters": [{"field": "cf_budget", "op": "empty"}]}]},
                 {"measures": [{"agg": "max", "field": "cf_budget"}]}):
        with pytest.raises(PermissionDenied) as e:
            r.run(con, rep, {**defn(), **part})
        assert e.value.key == "report.hidden_field"
    got = r.run(con, amounts.actor("mgr"), {**defn(), "measures": [{"agg": "count_empty", "field": "cf_budget"}]})
    assert got["m0"].to_list() == [5]


def test_pool_hidden_customer_fields_never_show_to_those_who_may_not_see_them(company):
    con, boss = company.con, company.actor("boss")
    con.execute("UPDATE customers SET employees = 500 WHERE id = ?", [company.customers["pool_east"]])
    con.execute("UPDATE customers SET employees = 10 WHERE id = ?", [company.customers["rep_a"]])
    pool_mask.set_hidden(con, boss, company.teams["east"], ["employees"])
    d = defn("customers", [{"field": "in_pool"}], [{"agg": "sum", "field": "employees"}])
    assert rows(r.run(con, company.actor("rep_a"), d), "in_pool", "m0") == [(False, 10.0), (True, None)]
    assert rows(r.run(con, boss, d), "in_pool", "m0") == [(False, 10.0), (True, 500.0)]
    # nor does a filter find the pool record by the hidden value
    found = r.run(con, company.actor("rep_a"), defn("customers", filters=[{"field": "employees", "op": "eq",
                                                                           "value": 500}]))
    assert found["m0"].to_list() == [0]


@pytest.mark.parametrize("part, key", [
    ({"object": "deals; DROP TABLE deals"}, "report.unknown_object"),
    ({"dims": [{"field": "owner_id) FROM users --"}]}, "report.unknown_field"),
    ({"dims": [{"field": "password_hash"}]}, "report.unknown_field"),
    ({"measures": [{"agg": "sum(amount)); DELETE FROM deals; --", "field": "amount"}]}, "report.unknown_agg"),
    ({"measures": [{"agg": "stddev", "field": "amount"}]}, "report.unknown_agg"),
    ({"measures": [{"agg": "sum", "field": "stage"}]}, "report.bad_agg_for_field"),
    ({"dims": [{"field": "closed_on", "bucket": "hour"}]}, "report.bad_bucket"),
    ({"dims": [{"field": "closed_on", "bucket": "month') --"}]}, "report.bad_bucket"),
    ({"dims": [{"field": "stage", "bucket": "month"}]}, "report.bad_bucket"),
    ({"filters": [{"field": "stage", "op": "= 'x' OR 1=1 --", "value": "x"}]}, "report.bad_operator"),
    ({"filters": [{"field": "1=1 OR stage", "op": "in", "value": ["won"]}]}, "report.unknown_field"),
    ({"ratio": {"num": 0, "den": 7}}, "report.bad_ratio"),
    ({"chart": "pie"}, "report.bad_chart"),
])
def test_anything_unknown_or_sql_text_in_a_definition_is_refused_with_a_message_key(amounts, part, key):
    with pytest.raises(ValidationError) as e:
        r.run(amounts.con, amounts.actor("boss"), {**defn(), **part})
    assert e.value.key == key
    assert amounts.con.execute("SELECT count(*) FROM deals").fetchall()[0][0] == 5


def test_saved_reports_are_private_shared_with_the_team_tree_or_with_everyone_and_pins_follow(amounts):
    con, a = amounts.con, amounts.actor
    d = {**WON_OVER_CLOSED, "chart": "bar"}
    private = r.save(con, a("rep_a"), "Mine", d)
    team = r.save(con, a("rep_a"), "East's", d, share="team")
    everyone = r.save(con, a("rep_w"), "For all", d, share="all")
    seen = {u: set(r.reports(con, a(u))["id"]) for u in ("rep_a", "rep_b", "rep_sh", "mgr", "rep_w", "mkt")}
    assert seen["rep_a"] == {private, team, everyone}
    assert seen["rep_b"] == seen["rep_sh"] == seen["mgr"] == {team, everyone}   # East and the team below it
    assert seen["rep_w"] == seen["mkt"] == {everyone}
    with pytest.raises(NotFound):
        r.get(con, a("rep_b"), private)
    assert r.by_name(con, a("rep_b"), "east's")["id"] == team
    with pytest.raises(DuplicateError):
        r.save(con, a("rep_a"), "MINE", d)
    with pytest.raises(PermissionDenied):
        r.save(con, a("rep_b"), "Taken over", d, report_id=team)
    # pins: only the owner pins; each viewer sees only the pinned reports they may open
    r.pin(con, a("rep_a"), private, "rep")
    r.pin(con, a("rep_a"), team, "rep")
    r.pin(con, a("rep_a"), team, "rep")           # twice: no change
    with pytest.raises(PermissionDenied):
        r.pin(con, a("rep_b"), team, "manager")
    assert [x["id"] for x in r.pinned(con, a("rep_a"), "rep")] == [private, team]
    assert [x["id"] for x in r.pinned(con, a("rep_b"), "rep")] == [team]
    assert r.pinned(con, a("rep_w"), "rep") == []
    r.unpin(con, a("rep_a"), private, "rep")
    assert [x["id"] for x in r.pinned(con, a("rep_a"), "rep")] == [team]
    r.delete(con, a("rep_a"), team)
    assert r.pinned(con, a("rep_b"), "rep") == [] and team not in set(r.reports(con, a("rep_b"))["id"])


def test_labels_name_every_column_in_both_languages(amounts):
    d = {**WON_OVER_CLOSED, "dims": [{"field": "closed_on", "bucket": "month"}, {"field": "owner"}]}
    df = r.run(amounts.con, amounts.actor("boss"), d)
    for lang in ("en", "zh"):
        heads = r.labels(amounts.con, amounts.actor("boss"), d, lang)
        assert set(heads) == set(df.columns)
        assert len(set(heads.values())) == len(heads)
        assert not any(h.startswith("report.") for h in heads.values())
    assert r.labels(amounts.con, amounts.actor("boss"), d, "zh")["owner"] == "负责人"


@pytest.fixture
def company_file(tmp_path):
    path = tmp_path / "crm.duckdb"
    con = db.connect(path)
    setup.prepare(con)
    company = build_company(con)
    for rep, stage, amount in (("rep_a", "won", 100), ("rep_a", "lost", 5), ("rep_b", "won", 50)):
        deal(company, rep, stage, amount, closed_on=D(2026, 11, 3))
    r.save(con, company.actor("mgr"), "Won by owner", {**WON_OVER_CLOSED, "chart": "bar"}, share="team")
    con.close()
    return path


def cli(path, *argv):
    env = {**os.environ, "CRM_DB": str(path)}
    return subprocess.run([sys.executable, "-m", "core", "report", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_command_line_prints_a_saved_report_for_a_user_as_csv_and_json(company_file):
    out = cli(company_file, "Won by owner", "--as", "rep_a", "--format", "json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["report"] == "Won by owner" and got["user"] == "rep_a"
    assert [c["name"] for c in got["columns"]] == ["owner", "m0", "m1", "ratio"]
    assert got["rows"] == [{"owner": "REP_A", "m0": 1, "m1": 2, "ratio": 0.5}]       # rep_a's rows only
    out = cli(company_file, "Won by owner", "--as", "mgr", "--format", "csv")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split(",")[0] == "Owner" and len(lines) == 3
    assert lines[1].startswith("REP_A,1,2,0.5") and lines[2].startswith("REP_B,1,1,1.0")
    out = cli(company_file, "Won by owner", "--as", "rep_w", "--format", "csv")   # West: not shared with
    assert out.returncode == 2 and "Won by owner" in out.stderr and not out.stdout


def test_every_field_of_every_object_runs_as_a_dimension_or_a_measure(company):
    con, boss = company.con, company.actor("boss")
    fields.save_field(con, boss, "customer", None, kind="text", label_en="Wechat", label_zh="微信")
    fields.save_field(con, boss, "customer", None, kind="number", label_en="Budget", label_zh="预算")
    for obj in r.OBJECTS:
        listed = r.fields(con, boss, obj)
        assert listed and all(f["label_key"] or f["label"] for f in listed), obj
        for f in listed:
            if f["can_group"]:
                d = defn(obj, [{"field": f["name"], "bucket": "month" if f["buckets"] else None}])
            else:
                d = defn(obj, measures=[{"agg": f["aggs"][-1], "field": f["name"]}])
            r.run(con, boss, d)
    # the customers built by conftest: six, two of them in pools
    got = r.run(con, boss, defn("customers", [{"field": "in_pool"}], [{"agg": "count"},
                                                                     {"agg": "count_empty", "field": "cf_wechat"}]))
    assert rows(got, "in_pool", "m0", "m1") == [(False, 4, 4), (True, 2, 2)]


def test_tickets_of_a_rep_are_those_of_the_reps_customers(company):
    from tests.integration.test_metrics import ticket

    for rep in ("rep_a", "rep_b", "rep_w"):
        ticket(company, company.customers[rep], "2026-11-02 10:00", status="open")
    d = defn("tickets", [{"field": "customer"}])
    assert rows(r.run(company.con, company.actor("rep_a"), d), "customer", "m0") == [("Customer of rep_a", 1)]
    assert r.run(company.con, company.actor("svc"), d)["m0"].sum() == 3
    assert r.run(company.con, company.actor("mgr"), d)["m0"].sum() == 2      # East's customers


def test_a_custom_text_field_a_pool_hides_reads_masked_as_a_dimension(company):
    con, boss = company.con, company.actor("boss")
    name = fields.save_field(con, boss, "customer", None, kind="text", label_en="Wechat", label_zh="微信")
    for label, value in (("pool_east", "wx-pool"), ("rep_a", "wx-a")):
        con.execute("UPDATE customers SET custom = json_object(?, ?) WHERE id = ?", [name, value,
                                                                                    company.customers[label]])
    pool_mask.set_hidden(con, boss, company.teams["east"], [name])
    d = defn("customers", [{"field": name}], filters=[{"field": name, "op": "not_empty"}])
    assert rows(r.run(con, company.actor("rep_a"), d), name, "m0") == [(pool_mask.MASK, 1), ("wx-a", 1)]
    assert rows(r.run(con, boss, d), name, "m0") == [("wx-a", 1), ("wx-pool", 1)]
    # nothing to hide on a pool customer without a value; a search for the hidden value finds nothing
    con.execute("INSERT INTO customers (id, name, team_id, created_at, updated_at) VALUES (990, 'Bare', ?, ?, ?)",
                [company.teams["east"], utc("2026-11-01 10:00"), utc("2026-11-01 10:00")])
    every = r.run(con, company.actor("rep_a"), defn("customers", [{"field": name}]))
    assert rows(every, name, "m0") == [(pool_mask.MASK, 1), ("wx-a", 1), (None, 1)]   # own and East's pool
    hit = r.run(con, company.actor("rep_a"), defn("customers", filters=[{"field": name, "op": "contains",
                                                                         "value": "pool"}]))
    assert hit["m0"].to_list() == [0]


def test_buckets_follow_the_company_zone_through_daylight_saving_and_old_offsets(company):
    con, boss = company.con, company.actor("boss")
    c = company.customers["rep_a"]
    uid, team = company.users["rep_a"], company.teams["east"]

    def at(utc_time: str) -> None:
        con.execute("INSERT INTO orders (id, customer_id, ordered_at, status, amount, owner_id, team_id, created_at) "
                    "VALUES (nextval('seq_orders'), ?, ?, 'confirmed', 1, ?, ?, ?)",
                    [c, dt.datetime.fromisoformat(utc_time), uid, team, dt.datetime.fromisoformat(utc_time)])
    # Shanghai kept summer time (UTC+9) in 1991: 15:30 UTC on 31 July 1991 was already 1 August there
    at("1991-07-31 15:30")
    d = defn("orders", [{"field": "ordered_at", "bucket": "month"}])
    assert r.run(con, boss, d)["ordered_at"].to_list() == [D(1991, 8, 1)]
    con.execute("DELETE FROM orders")
    settings.set_value(con, boss, "company.timezone", "Europe/Berlin")
    at("2026-07-31 22:30")   # 00:30 on 1 August, summer time (UTC+2)
    at("2026-01-31 22:30")   # 23:30 on 31 January, winter time (UTC+1)
    assert r.run(con, boss, d)["ordered_at"].to_list() == [D(2026, 1, 1), D(2026, 8, 1)]


def test_a_distinct_count_of_customers_counts_customers_not_names(company):
    con, boss = company.con, company.actor("boss")
    con.execute("UPDATE customers SET name = 'Same name' WHERE id IN (?, ?)",
                [company.customers["rep_a"], company.customers["rep_b"]])
    for rep in ("rep_a", "rep_b"):
        order(company, rep, company.customers[rep], "2026-11-02 10:00", 5)
        order(company, rep, company.customers[rep], "2026-11-03 10:00", 5)
    d = defn("orders", measures=[{"agg": "count_distinct", "field": "customer"}, {"agg": "count"}])
    assert rows(r.run(con, boss, d), "m0", "m1") == [(2, 4)]
    by = r.run(con, boss, {**d, "dims": [{"field": "customer"}]})
    assert rows(by, "customer", "m0", "m1") == [("Same name", 2, 4)]
