"""`python -m core kpi --as USER [--from --to] [--compare] [--json]`: every KPI of the metrics layer for that
user and period with the comparison period beside it, from the same functions the pages call."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from core import auth, db, setup
from core.__main__ import main
from core.analytics import metrics
from core.context import utcnow
from tests.conftest import build_company


@pytest.fixture
def company_file(tmp_path):
    path = tmp_path / "crm.duckdb"
    con = db.connect(path)
    setup.prepare(con)
    company = build_company(con)
    u = company.users
    rows = [(1, "won", 100, dt.date(2026, 11, 10), u["rep_a"], company.teams["east"]),
            (2, "won", 250, dt.date(2026, 10, 20), u["rep_b"], company.teams["east"]),
            (3, "lost", 70, dt.date(2026, 11, 12), u["rep_a"], company.teams["east"]),
            (4, "won", 999, dt.date(2026, 11, 11), u["rep_w"], company.teams["west"])]
    for did, stage, amount, closed, owner, team in rows:
        con.execute("INSERT INTO deals (id, name, stage, amount, closed_on, owner_id, team_id, created_at, updated_at) "
                    "VALUES (?, 'D', ?, ?, ?, ?, ?, TIMESTAMP '2026-09-01 00:00', TIMESTAMP '2026-09-01 00:00')",
                    [did, stage, amount, closed, owner, team])
    con.execute("INSERT INTO leads (id, name, owner_id, team_id, created_at, updated_at) VALUES "
                "(1, 'L', ?, ?, TIMESTAMP '2026-11-03 02:00', TIMESTAMP '2026-11-03 02:00')", [u["rep_a"], company.teams["east"]])
    con.close()
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_json_output_is_every_kpi_and_matches_the_functions(company_file, capsys):
    code, out, _ = run(capsys, "--path", str(company_file), "kpi", "--as", "mgr", "--from", "2026-11-01",
                       "--to", "2026-11-30", "--json")
    assert code == 0
    got = json.loads(out)
    assert got["user"] == "mgr" and got["compare"] == "previous"
    con = db.connect(company_file, read_only=True)
    try:
        want = metrics.compute(con, auth.actor_for(con, "mgr", utcnow()), metrics.period("2026-11-01", "2026-11-30"))
    finally:
        con.close()
    assert [f["key"] for f in got["figures"]] == list(metrics.REGISTRY)
    assert got["figures"] == [json.loads(json.dumps(f.as_dict(), default=str)) for f in want]
    by_key = {f["key"]: f for f in got["figures"]}
    # the manager of East: rep_a's 100 won in November, rep_b's 250 in October; West's 999 not
    assert (by_key["won_revenue"]["value"], by_key["won_revenue"]["previous"]) == (100, 250)
    assert by_key["won_revenue"]["delta"] == pytest.approx(-60)
    assert by_key["win_rate"]["value"] == 0.5 and by_key["new_leads"]["value"] == 1
    assert by_key["won_revenue"]["compared"] == ["2026-10-02", "2026-10-31"]


def test_the_same_period_last_year_and_a_rep_sees_only_their_own(company_file, capsys):
    code, out, _ = run(capsys, "--path", str(company_file), "kpi", "--as", "rep_b", "--from", "2026-10-01",
                       "--to", "2026-10-31", "--compare", "year", "--json")
    by_key = {f["key"]: f for f in json.loads(out)["figures"]}
    assert code == 0 and by_key["won_revenue"]["value"] == 250 and by_key["won_revenue"]["previous"] == 0
    assert by_key["won_revenue"]["compared"] == ["2025-10-01", "2025-10-31"]
    code, out, _ = run(capsys, "--path", str(company_file), "kpi", "--as", "rep_w", "--from", "2026-11-01",
                       "--to", "2026-11-30", "--json")
    assert {f["key"]: f["value"] for f in json.loads(out)["figures"]}["won_revenue"] == 999


def test_the_table_prints_each_label_with_the_previous_period_beside_it(company_file, capsys):
    code, out, _ = run(capsys, "--path", str(company_file), "kpi", "--as", "boss", "--from", "2026-11-01",
                       "--to", "2026-11-30")
    assert code == 0
    assert "2026-11-01 .. 2026-11-30  vs  2026-10-02 .. 2026-10-31" in out
    line = next(x for x in out.splitlines() if "Won revenue" in x)
    assert "1,099" in line and "250" in line and "+339.6%" in line
    assert len([x for x in out.splitlines() if x.startswith("  ")]) == len(metrics.REGISTRY)


def test_an_unknown_user_or_a_bad_period_is_said_plainly(company_file, capsys):
    code, _, err = run(capsys, "--path", str(company_file), "kpi", "--as", "nobody")
    assert code == 2 and "User not found" in err
    code, _, err = run(capsys, "--path", str(company_file), "kpi", "--as", "mgr", "--from", "2026-11-30",
                       "--to", "2026-11-01")
    assert code == 2 and "period" in err and "Traceback" not in err
