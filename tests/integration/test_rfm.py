"""RFM (core.analytics.rfm) on a small hand-made order set: scores and segment names worked out here for
quintiles, quartiles and the admin's fixed bands, ties included; credit notes netted; orders that must
not count; a rep's RFM covers only the rep's customers; movement between two as-of days; drill-down.

The company's time zone is Asia/Shanghai (UTC+8). As-of day 2026-11-20, window 12 months: company days
2025-11-21 .. 2026-11-20.

Ten customers A..J (recency days, purchases, monetary net):
    A  0  5 1000    B  0  4  900 (1000 bought, a 100 refund credit note)    C  3  4  800
    D 10  3  500    E 10  2  500    F  3  1  100 (150 bought, a 50 credit note on the as-of day)
    G 60  6 2000    H 200 5  800    I 300 1   50    J 300 1   50
A customer's purchases: one on the last day and one on each day before it, 10 each, the first of them
holding the rest of the amount.

Quintiles (k = 5): score = 1 + floor(5 w / 10), w = customers strictly worse (tie-break: equal values,
equal scores).
  recency  (worse = more days): I,J w0 -> 1; H w2 -> 2; G w3 -> 2; D,E w4 -> 3; C,F w6 -> 4; A,B w8 -> 5
  frequency (worse = fewer):    F,I,J w0 -> 1; E w3 -> 2; D w4 -> 3; B,C w5 -> 3; A,H w7 -> 4; G w9 -> 5
  monetary:                     I,J w0 -> 1; F w2 -> 2; D,E w3 -> 2; C,H w5 -> 3; B w7 -> 4; A,G w8/9 -> 5
Segments (r' = (r-1)/4, fm' = ((f+m)/2-1)/4): A 5/4/5 champions; B 5/3/4 loyal (fm 3.5); C 4/3/3 loyal;
D 3/3/2 and E 3/2/2 potential loyalists; F 4/1/2 new (fm 1.5); G 2/5/5 can't lose; H 2/4/3 at risk
(fm 3.5); I, J 1/1/1 lost.

Quartiles (k = 4): score = 1 + floor(4 w / 10).
  recency: I,J 1; H 1 (w2: 0.8); G 2; D,E 2; C,F 3; A,B 4
  frequency: F,I,J 1; E 2; D 2; B,C 3; A,H 3; G 4      monetary: I,J 1; F 1; D,E 2; C,H 3; B 3; A 4; G 4
Segments: A 4/3/4 champions (f+m 7); B 4/3/3 loyal; C 3/3/3 loyal; D, E 2/2/2 hibernating; F 3/1/1
potential loyalists (new needs R 4); G 2/4/4 can't lose; H 1/3/3 at risk; I, J lost.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest

from core import access, db, setup
from core.__main__ import main
from tests.conftest import build_company
from core.analytics import rfm
from core.errors import PermissionDenied, ValidationError

ASOF = dt.date(2026, 11, 20)
_ids = itertools.count(50_000)

PROFILE = {  # name: (recency days, purchases, amount bought, owner)
    "A": (0, 5, 1000, "rep_a"), "B": (0, 4, 1000, "rep_a"), "C": (3, 4, 800, "rep_a"), "D": (10, 3, 500, "rep_a"),
    "E": (10, 2, 500, "rep_a"), "F": (3, 1, 150, "rep_w"), "G": (60, 6, 2000, "rep_w"), "H": (200, 5, 800, "rep_w"),
    "I": (300, 1, 50, "rep_w"), "J": (300, 1, 50, "rep_w"),
}
QUINTILE = {"A": (5, 4, 5, "champions"), "B": (5, 3, 4, "loyal"), "C": (4, 3, 3, "loyal"),
            "D": (3, 3, 2, "potential_loyalists"), "E": (3, 2, 2, "potential_loyalists"), "F": (4, 1, 2, "new"),
            "G": (2, 5, 5, "cant_lose"), "H": (2, 4, 3, "at_risk"), "I": (1, 1, 1, "lost"), "J": (1, 1, 1, "lost")}
QUARTILE = {"A": (4, 3, 4, "champions"), "B": (4, 3, 3, "loyal"), "C": (3, 3, 3, "loyal"),
            "D": (2, 2, 2, "hibernating"), "E": (2, 2, 2, "hibernating"), "F": (3, 1, 1, "potential_loyalists"),
            "G": (2, 4, 4, "cant_lose"), "H": (1, 3, 3, "at_risk"), "I": (1, 1, 1, "lost"), "J": (1, 1, 1, "lost")}


def utc(local: str | dt.datetime) -> dt.datetime:
    """A Shanghai wall-clock time as stored (naive UTC)."""
    value = dt.datetime.fromisoformat(local) if isinstance(local, str) else local
    return value - dt.timedelta(hours=8)


def team_of(company, username):
    return company.con.execute("SELECT team_id FROM users WHERE id = ?", [company.users[username]]).fetchone()[0]


def add_customer(company, name, owner):
    cid = next(_ids)
    uid = company.users[owner] if owner else None
    team = team_of(company, owner) if owner else company.teams["east"]
    company.con.execute("INSERT INTO customers (id, name, owner_id, team_id, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, TIMESTAMP '2025-01-01', TIMESTAMP '2025-01-01')", [cid, name, uid, team])
    return cid


def add_order(company, customer_id, local, amount, status="confirmed", owner="rep_a", deleted=False):
    company.con.execute(
        "INSERT INTO orders (id, customer_id, ordered_at, status, amount, owner_id, team_id, created_at, deleted_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [next(_ids), customer_id, utc(local), status, amount, company.users[owner], team_of(company, owner),
         utc(local), utc(local) if deleted else None])


@pytest.fixture
def shop(company):
    return fill(company)


def fill(company):
    """Customers A..J with their orders (module doc) and the orders that must not count."""
    ids = {}
    for name, (rec, n, bought, owner) in PROFILE.items():
        cid = ids[name] = add_customer(company, f"Customer {name}", owner)
        last = dt.datetime.combine(ASOF - dt.timedelta(days=rec), dt.time(12))
        for i in range(n):
            add_order(company, cid, last - dt.timedelta(days=i), bought - 10 * (n - 1) if i == 0 else 10)
    # credit notes (imported cancellations / refunds: negative amounts) are netted, never purchases
    add_order(company, ids["B"], "2026-11-01 10:00", -100, status="refunded")
    add_order(company, ids["F"], "2026-11-20 18:00", -50, status="cancelled")
    # none of these count
    add_order(company, ids["A"], "2025-11-20 23:30", 99999)              # the day before the window
    add_order(company, ids["B"], "2026-11-21 00:30", 5000)               # after the as-of day (16:30 UTC on the 20th)
    add_order(company, ids["I"], "2026-11-10 10:00", 5000, status="draft")
    add_order(company, ids["J"], "2026-11-10 10:00", 5000, status="cancelled")   # our own: positive, just stopped
    add_order(company, ids["C"], "2026-11-10 10:00", 5000, status="refunded")
    add_order(company, ids["D"], "2026-11-10 10:00", 5000, deleted=True)
    gone = add_customer(company, "Deleted customer", "rep_a")
    add_order(company, gone, "2026-11-10 10:00", 5000)
    company.con.execute("UPDATE customers SET deleted_at = TIMESTAMP '2026-11-11' WHERE id = ?", [gone])
    return ids


def by_name(frame, ids):
    names = {v: k for k, v in ids.items()}
    return {names[r["customer_id"]]: r for r in frame.iter_rows(named=True)}


def all_scores(company, actor, method, asof=ASOF, months=12):
    frame, total = rfm.scores(company.con, actor, asof, months, method, page_size=500)
    assert total == frame.height
    return frame


def test_quintile_scores_and_segments_with_ties_and_credit_notes(company, shop):
    rows = by_name(all_scores(company, company.actor("boss"), "quintile"), shop)
    assert set(rows) == set(PROFILE)   # no deleted customer, nobody without a purchase in the window
    got = {k: (r["r"], r["f"], r["m"], r["segment"]) for k, r in rows.items()}
    assert got == QUINTILE
    assert {k: (r["recency_days"], r["frequency"], r["monetary"]) for k, r in rows.items()} == {
        "A": (0, 5, 1000), "B": (0, 4, 900), "C": (3, 4, 800), "D": (10, 3, 500), "E": (10, 2, 500),
        "F": (3, 1, 100), "G": (60, 6, 2000), "H": (200, 5, 800), "I": (300, 1, 50), "J": (300, 1, 50)}
    assert rows["A"]["name"] == "Customer A" and rows["A"]["owner_name"] == "REP_A"


def test_quartile_scores_and_segments(company, shop):
    rows = by_name(all_scores(company, company.actor("boss"), "quartile"), shop)
    assert {k: (r["r"], r["f"], r["m"], r["segment"]) for k, r in rows.items()} == QUARTILE


def test_fixed_bands_score_by_range_and_a_value_on_a_bound_takes_the_upper_band(company, shop):
    con, boss = company.con, company.actor("boss")
    with pytest.raises(ValidationError) as err:
        rfm.scores(con, boss, ASOF, 12, "bands")
    assert err.value.key == "rfm.no_bands"
    rows = [{"metric": "recency", "score": 3, "low": 0, "high": 10}, {"metric": "recency", "score": 2, "low": 10,
                                                                     "high": 90},
            {"metric": "recency", "score": 1, "low": 90, "high": None},
            {"metric": "frequency", "score": 1, "low": 1, "high": 2}, {"metric": "frequency", "score": 2, "low": 2,
                                                                     "high": 5},
            {"metric": "frequency", "score": 3, "low": 5, "high": None},
            {"metric": "monetary", "score": 1, "low": 0, "high": 500}, {"metric": "monetary", "score": 2, "low": 500,
                                                                      "high": 1000},
            {"metric": "monetary", "score": 3, "low": 1000, "high": None}]
    with pytest.raises(PermissionDenied):
        rfm.set_bands(con, company.actor("mgr"), rows)
    overlapping = [dict(b, high=20) if (b["metric"], b["score"]) == ("recency", 3) else b for b in rows]
    with pytest.raises(ValidationError):
        rfm.set_bands(con, boss, overlapping)
    assert len(rfm.set_bands(con, boss, rows)) == 9
    got = {k: (r["r"], r["f"], r["m"], r["segment"])
           for k, r in by_name(all_scores(company, boss, "bands"), shop).items()}
    # k = 3: champions r = 3 and f + m >= 5; loyal r >= 2 and f + m >= 4; new r = 3 and f + m < 3;
    # can't lose r = 1 and f + m >= 5; lost r = 1 and f + m < 4
    assert got == {"A": (3, 3, 3, "champions"),        # 0 days, 5 purchases, 1000: each on a lower bound
                   "B": (3, 2, 2, "loyal"), "C": (3, 2, 2, "loyal"),
                   "D": (2, 2, 2, "loyal"), "E": (2, 2, 2, "loyal"),      # 10 days: the band starting at 10
                   "F": (3, 1, 1, "new"), "G": (2, 3, 3, "loyal"), "H": (1, 3, 2, "cant_lose"),
                   "I": (1, 1, 1, "lost"), "J": (1, 1, 1, "lost")}


def test_summary_has_every_segment_with_sizes_revenue_and_order_value(company, shop):
    table = rfm.summary(company.con, company.actor("boss"), ASOF, 12, "quintile")
    assert table["segment"].to_list() == list(rfm.SEGMENTS)
    rows = {r["segment"]: r for r in table.iter_rows(named=True)}
    assert {s: r["customers"] for s, r in rows.items()} == {
        "champions": 1, "loyal": 2, "potential_loyalists": 2, "new": 1, "at_risk": 1, "cant_lose": 1,
        "hibernating": 0, "lost": 2}
    loyal = rows["loyal"]   # B (900 net over 4 purchases, 0 days) and C (800 over 4, 3 days)
    assert loyal["share"] == pytest.approx(0.2)
    assert loyal["revenue"] == pytest.approx(1700)
    assert loyal["avg_order_value"] == pytest.approx(1700 / 8)
    assert loyal["mean_recency"] == pytest.approx(1.5)
    assert loyal["mean_frequency"] == pytest.approx(4)
    assert loyal["mean_monetary"] == pytest.approx(850)
    assert rows["hibernating"]["revenue"] == 0 and rows["hibernating"]["mean_recency"] is None
    assert sum(r["revenue"] for r in rows.values()) == pytest.approx(1000 + 900 + 800 + 500 + 500 + 100 + 2000 + 800
                                                                     + 50 + 50)


def test_a_reps_rfm_covers_only_the_reps_customers_and_the_own_pool(company, shop):
    con = company.con
    pool = company.customers["pool_east"]       # in rep_a's own team's pool
    add_order(company, pool, "2026-11-19 12:00", 700, owner="rep_b")
    west_pool = company.customers["pool_west"]
    add_order(company, west_pool, "2026-11-19 12:00", 700, owner="rep_w")
    # an order another rep took for rep_a's customer still counts: scope is the customer's
    add_order(company, shop["E"], "2026-11-19 12:00", 10, owner="rep_w")
    frame = all_scores(company, company.actor("rep_a"), "quintile")
    ids = set(frame["customer_id"].to_list())
    assert ids == {shop[k] for k in "ABCDE"} | {pool}
    # quintiles over the rep's six customers: 1 + floor(5 w / 6); recency A,B 0 d; E, pool 1 d; C 3 d; D 10 d
    r = {row["customer_id"]: row["r"] for row in frame.iter_rows(named=True)}
    assert r == {shop["D"]: 1, shop["C"]: 1 + 5 * 1 // 6, shop["E"]: 1 + 5 * 2 // 6, pool: 1 + 5 * 2 // 6,
                 shop["A"]: 1 + 5 * 4 // 6, shop["B"]: 1 + 5 * 4 // 6}
    summary = rfm.summary(con, company.actor("rep_a"), ASOF, 12, "quintile")
    assert summary["customers"].sum() == 6
    assert summary["revenue"].sum() == pytest.approx(1000 + 900 + 800 + 500 + 510 + 700)
    assert rfm.summary(con, company.actor("boss"), ASOF, 12, "quintile")["customers"].sum() == 12


def test_movement_between_two_as_of_days(company, shop):
    """From 2026-02-01 (window 2025-02-02 .. 2026-02-01): only A (the 99999 order of 2025-11-20: 73 days),
    I and J (2026-01-24: 8 days) bought. N = 3: recency A w0 -> 1, I,J w1 -> 1 + floor(5/3) = 2; frequency
    all 1 (tied); monetary A w2 -> 1 + floor(10/3) = 4, I,J 1. A 1/1/4: lost (fm 2.5 < 3); I, J 2/1/1:
    hibernating. To 2026-11-20: the quintile segments above; B..H had no purchase before: "none"."""
    flows = rfm.movement(company.con, company.actor("boss"), "2026-02-01", ASOF, 12, "quintile")
    got = {(r["from_segment"], r["to_segment"]): r["customers"] for r in flows.iter_rows(named=True)}
    assert got == {("lost", "champions"): 1, ("hibernating", "lost"): 2, ("none", "loyal"): 2,
                   ("none", "potential_loyalists"): 2, ("none", "new"): 1, ("none", "cant_lose"): 1,
                   ("none", "at_risk"): 1}
    back = rfm.movement(company.con, company.actor("boss"), ASOF, "2026-02-01", 12, "quintile")
    assert back.filter(back["to_segment"] == "none")["customers"].sum() == 7


def test_drill_down_to_a_segment_pages_best_monetary_first(company, shop):
    con, boss = company.con, company.actor("boss")
    first, total = rfm.scores(con, boss, ASOF, 12, "quintile", segment="loyal", page=1, page_size=1)
    second, _ = rfm.scores(con, boss, ASOF, 12, "quintile", segment="loyal", page=2, page_size=1)
    assert total == 2
    assert first["customer_id"].to_list() == [shop["B"]] and second["customer_id"].to_list() == [shop["C"]]
    with pytest.raises(ValidationError):
        rfm.scores(con, boss, ASOF, 12, "quintile", segment="whales")


def test_scores_sql_is_the_select_segments_build_on(company, shop):
    sql, params = rfm.scores_sql(company.con, company.actor("boss"), ASOF, 12, "quintile")
    got = company.con.execute(f"SELECT segment, count(*) FROM ({sql}) GROUP BY 1", params).fetchall()
    assert dict(got)["loyal"] == 2 and sum(n for _, n in got) == 10


def test_defaults_come_from_the_settings_and_bad_inputs_are_refused(company, shop):
    con, boss = company.con, company.actor("boss")
    # default as-of day: the company's today (NOW 2026-11-23 17:30 Shanghai), 12 months, quintiles
    frame, total = rfm.scores(con, boss, page_size=500)
    rows = by_name(frame, shop)
    assert total == 10 and rows["A"]["recency_days"] == 3
    for bad in ({"months": 0}, {"months": 121}, {"method": "deciles"}, {"asof": "20/11/2026"}):
        with pytest.raises(ValidationError):
            rfm.summary(con, boss, **bad)
    access.set_scope(con, boss, "marketing", "analytics", "view", "none")
    with pytest.raises(PermissionDenied):
        rfm.summary(con, company.actor("mkt"))


def test_the_command_line_prints_the_segment_table_for_a_user(tmp_path, capsys):
    path = tmp_path / "crm.duckdb"
    con = db.connect(path)
    setup.prepare(con)
    fill(build_company(con))
    con.execute("UPDATE users SET language = 'zh' WHERE username = 'rep_a'")
    con.close()
    args = ["--path", str(path), "rfm", "--asof", "2026-11-20", "--months", "12", "--method", "quintile"]
    assert main(args + ["--as", "boss", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["user"], got["asof"], got["months"], got["method"]) == ("boss", "2026-11-20", 12, "quintile")
    assert {s["segment"]: s["customers"] for s in got["segments"]} == {
        "champions": 1, "loyal": 2, "potential_loyalists": 2, "new": 1, "at_risk": 1, "cant_lose": 1,
        "hibernating": 0, "lost": 2}
    assert main(args + ["--as", "boss"]) == 0
    out = capsys.readouterr().out
    assert "Champions" in out and "Can't lose them" in out and "Average order value" in out
    assert main(args + ["--as", "rep_a"]) == 0      # in the rep's language, over the rep's five customers
    out = capsys.readouterr().out
    assert "重要价值客户" in out and "客单价" in out
    assert main(args + ["--as", "rep_a", "--json"]) == 0
    assert sum(s["customers"] for s in json.loads(capsys.readouterr().out)["segments"]) == 5
    assert main(args + ["--as", "nobody"]) == 2
    assert main(["--path", str(path), "rfm", "--as", "boss", "--months", "0"]) == 2
