"""The manager dashboard at scale L (issue 11, figures): the function the page calls beside the best raw SQL
computing the same figures in one statement, in the same run; the drill-down's first page; the dashboard
page's script run under AppTest; the Streamlit server's memory with the dashboard open.

    cp /tmp/m6/GL.duckdb /tmp/a/L.duckdb && python -c "from core import db; db.migrate(db.connect('/tmp/a/L.duckdb'))"
    python benchmarks/dashboard.py --path /tmp/a/L.duckdb [--runs 5] [--apptest] [--server]

- manager_<role>_ms: `core.analytics.dashboards.manager` (12 cards with deltas, leaderboard by rep with the
  targets, 24-month revenue trend, lost reasons, forecast by close month, lead funnel, deal funnel of the
  default pipeline) for a manager and the admin, this month so far against the previous period (three
  parts at once on their own cursors, as the page runs it).
- raw_admin_one_statement_ms: the same figures for the admin (who needs no scope predicate), hand-written
  as ONE statement (RAW below: one scan of each table, every card of both windows, open / weighted
  pipeline rebuilt from the stage history, coverage, targets, leaderboard, trend, lost reasons, both
  funnels, forecast). `same_figures` says whether both give the same numbers (cards, funnels, forecast,
  leaderboard and trend totals); `ratio_admin` = function / raw. The three are timed in turn, run after
  run (a load from other work weighs on both alike); cpu_* is the process's CPU time over all threads
  (the work done, which other people's load stretches less than the wall-clock time).
- drill_<kpi>_ms: `core.analytics.drill.records` first page (50 rows, with the total) for the manager.
- apptest_<user>_s (--apptest): `AppTest` run of views/dashboard.py on the file (median of --runs after
  the first run), the page's own script with its widgets, as a logged-in user.
- server_rss_mb (--server): `streamlit run app.py` on a copy of the file (CRM_DB), the dashboard opened
  once in Chromium as the manager; VmRSS of the server process from /proc/<pid>/status after the page is
  drawn (and its peak, VmHWM).

Median of --runs after one warm-up; plain `key: value` lines. The file is opened read-only (the --server
run needs a writable copy: it is made next to the file and removed afterwards).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from core import clock, forecast, pipelines, targets  # noqa: E402
from core.analytics import dashboards, drill, funnel, metrics  # noqa: E402
from core.auth import actor_for  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402

RAW = """
WITH dd AS MATERIALIZED (
  SELECT d.id, d.owner_id, d.team_id, d.stage, d.amount, d.probability, d.closed_on, d.engaged_on, d.created_at,
         d.lost_reason, d.expected_close, d.forecast_category, s.is_won, s.is_lost, s.probability AS sprob
  FROM deals d JOIN pipeline_stages s ON s.code = d.stage
  WHERE d.deleted_at IS NULL AND (d.closed_on IS NULL OR d.closed_on >= $dlo)),
closed AS (SELECT
  count(*) FILTER (WHERE is_won AND closed_on BETWEEN $cs AND $ce) AS won_c,
  count(*) FILTER (WHERE is_lost AND closed_on BETWEEN $cs AND $ce) AS lost_c,
  coalesce(sum(amount) FILTER (WHERE is_won AND closed_on BETWEEN $cs AND $ce), 0) AS rev_c,
  quantile_cont(closed_on - coalesce(engaged_on, (created_at AT TIME ZONE 'UTC' AT TIME ZONE $tz)::DATE), 0.5)
    FILTER (WHERE is_won AND closed_on BETWEEN $cs AND $ce) AS cycle_c,
  count(*) FILTER (WHERE is_won AND closed_on BETWEEN $ps AND $pe) AS won_p,
  count(*) FILTER (WHERE is_lost AND closed_on BETWEEN $ps AND $pe) AS lost_p,
  coalesce(sum(amount) FILTER (WHERE is_won AND closed_on BETWEEN $ps AND $pe), 0) AS rev_p,
  quantile_cont(closed_on - coalesce(engaged_on, (created_at AT TIME ZONE 'UTC' AT TIME ZONE $tz)::DATE), 0.5)
    FILTER (WHERE is_won AND closed_on BETWEEN $ps AND $pe) AS cycle_p
  FROM dd WHERE is_won OR is_lost),
ats AS (SELECT * FROM (VALUES ($casof::TIMESTAMP, $cday::DATE, 'c'), ($pasof::TIMESTAMP, $pday::DATE, 'p')) t(t_at, day, w)),
cand AS (SELECT dd.id, dd.stage, dd.amount, dd.probability, ats.t_at, ats.w FROM dd, ats
         WHERE dd.created_at < ats.t_at AND (dd.closed_on IS NULL OR dd.closed_on >= ats.day)),
st AS (SELECT cand.id, cand.w, any_value(cand.stage) AS stage, any_value(cand.amount) AS amount,
              any_value(cand.probability) AS probability,
              coalesce(arg_max(h.to_stage, h.changed_at), any_value(cand.stage)) AS stage_at
       FROM cand LEFT JOIN deal_stage_history h ON h.deal_id = cand.id AND h.changed_at < cand.t_at
       GROUP BY cand.id, cand.w),
pipe AS (SELECT
  coalesce(sum(st.amount) FILTER (WHERE st.w = 'c'), 0) AS open_c,
  coalesce(sum(st.amount * CASE WHEN st.stage_at = st.stage THEN coalesce(st.probability, s.probability)
           ELSE s.probability END) FILTER (WHERE st.w = 'c'), 0) / 100.0 AS weighted_c,
  coalesce(sum(st.amount) FILTER (WHERE st.w = 'p'), 0) AS open_p,
  coalesce(sum(st.amount * CASE WHEN st.stage_at = st.stage THEN coalesce(st.probability, s.probability)
           ELSE s.probability END) FILTER (WHERE st.w = 'p'), 0) / 100.0 AS weighted_p
  FROM st JOIN pipeline_stages s ON s.code = st.stage_at WHERE NOT s.is_won AND NOT s.is_lost),
ll AS MATERIALIZED (SELECT id, owner_id, created_at, converted_at, converted_customer_id, disqualified_at, status
  FROM leads WHERE deleted_at IS NULL AND created_at >= $plo AND created_at < $chi),
lc AS (SELECT count(*) FILTER (WHERE created_at >= $clo) AS leads_c, count(*) FILTER (WHERE created_at < $clo) AS leads_p
  FROM ll),
lf AS (SELECT count(*) AS f_leads, count(*) FILTER (WHERE l.converted_at < $casof) AS f_customers,
  count(*) FILTER (WHERE l.converted_at < $casof AND c.won_at < $casof AND c.won_at >= l.created_at) AS f_won,
  count(*) FILTER (WHERE (l.converted_at IS NULL OR l.converted_at >= $casof) AND (l.disqualified_at < $casof
    OR (l.disqualified_at IS NULL AND l.status = 'invalid'))) AS f_dropped,
  median(epoch(l.converted_at - l.created_at) / 86400.0) FILTER (WHERE l.converted_at < $casof) AS f_days1
  FROM ll l LEFT JOIN customers c ON c.id = l.converted_customer_id WHERE l.created_at >= $clo),
cc AS MATERIALIZED (SELECT owner_id, created_at FROM customers
  WHERE deleted_at IS NULL AND created_at >= $plo AND created_at < $chi),
ccn AS (SELECT count(*) FILTER (WHERE created_at >= $clo) AS cust_c, count(*) FILTER (WHERE created_at < $clo) AS cust_p
  FROM cc),
x AS (SELECT customer_id, bool_or(occurred_at >= $ccov AND occurred_at < $casof) AS cur,
             bool_or(occurred_at >= $pcov AND occurred_at < $pasof) AS prev
      FROM activities WHERE deleted_at IS NULL AND occurred_at >= least($ccov, $pcov) AND occurred_at < $casof
      GROUP BY customer_id),
cov AS (SELECT count(*) AS owned, count(*) FILTER (WHERE x.cur) AS cov_c, count(*) FILTER (WHERE x.prev) AS cov_p
  FROM customers c LEFT JOIN x ON x.customer_id = c.id WHERE c.deleted_at IS NULL AND c.owner_id IS NOT NULL),
aa AS MATERIALIZED (SELECT user_id, count(*) FILTER (WHERE occurred_at >= $clo) AS n_c,
  count(*) FILTER (WHERE occurred_at < $clo) AS n_p
  FROM activities WHERE deleted_at IS NULL AND occurred_at >= $plo AND occurred_at < $chi GROUP BY user_id),
tg AS (SELECT user_id, team_id, period_start, value::DOUBLE AS value FROM targets
  WHERE metric = 'won_amount' AND period_start IN ($cmon, $pmon)),
top AS (SELECT id FROM teams WHERE parent_id IS NULL AND deleted_at IS NULL),
tt AS (SELECT m.mon, top.id,
  coalesce((SELECT sum(value) FROM tg WHERE tg.team_id = top.id AND tg.user_id IS NULL AND tg.period_start = m.mon),
           (SELECT sum(tg.value) FROM tg JOIN teams k ON k.id = tg.team_id
            WHERE k.parent_id = top.id AND tg.user_id IS NULL AND tg.period_start = m.mon)) AS goal
  FROM top, (VALUES ($cmon::DATE), ($pmon::DATE)) m(mon)),
goals AS (SELECT sum(goal) FILTER (WHERE mon = $cmon) AS goal_c, sum(goal) FILTER (WHERE mon = $pmon) AS goal_p FROM tt),
board AS (SELECT owner_id, sum(won) AS won, sum(rev) AS rev, sum(lost) AS lost, sum(nc) AS nc, sum(nl) AS nl,
  sum(fu) AS fu FROM (
    SELECT owner_id, count(*) FILTER (WHERE is_won) AS won, coalesce(sum(amount) FILTER (WHERE is_won), 0) AS rev,
           count(*) FILTER (WHERE is_lost) AS lost, 0 AS nc, 0 AS nl, 0 AS fu
    FROM dd WHERE (is_won OR is_lost) AND closed_on BETWEEN $cs AND $ce GROUP BY owner_id
    UNION ALL SELECT owner_id, 0, 0, 0, count(*), 0, 0 FROM cc WHERE created_at >= $clo GROUP BY owner_id
    UNION ALL SELECT owner_id, 0, 0, 0, 0, count(*), 0 FROM ll WHERE created_at >= $clo GROUP BY owner_id
    UNION ALL SELECT user_id, 0, 0, 0, 0, 0, n_c FROM aa WHERE n_c > 0) GROUP BY owner_id),
trend AS (SELECT date_trunc('month', closed_on)::DATE AS m, sum(amount) AS amount FROM dd
  WHERE is_won AND closed_on BETWEEN $tlo AND $ce GROUP BY 1),
lost AS (SELECT lost_reason, count(*) AS n FROM dd WHERE is_lost AND closed_on BETWEEN $cs AND $ce GROUP BY 1),
h0 AS MATERIALIZED (SELECT h.deal_id, h.to_stage, h.from_stage, h.changed_at FROM deal_stage_history h
  WHERE h.changed_at >= $clo AND h.changed_at < $casof
  AND h.deal_id IN (SELECT id FROM deals WHERE deleted_at IS NULL AND pipeline_id = $pipe)),
ev AS (SELECT deal_id, list_position($codes, to_stage) - 1 AS tk, list_position($codes, from_stage) - 1 AS fk,
  epoch_us(changed_at)::DOUBLE AS us FROM h0
  WHERE deal_id NOT IN (SELECT deal_id FROM deal_stage_history WHERE changed_at < $clo
                        AND deal_id IN (SELECT deal_id FROM h0))),
per AS (SELECT deal_id, max(tk) FILTER (WHERE tk < $nsteps) AS top,
  count(*) FILTER (WHERE tk >= $nsteps) > count(*) FILTER (WHERE fk >= $nsteps) AS lost FROM ev GROUP BY deal_id),
ds AS (SELECT deal_id, k, sum(i) AS i, sum(o) AS o, sum(t) AS t FROM (
    SELECT deal_id, tk AS k, 1 AS i, 0 AS o, -us AS t FROM ev WHERE tk < $nsteps
    UNION ALL SELECT deal_id, fk, 0, 1, us FROM ev WHERE fk < $nsteps) GROUP BY deal_id, k),
df AS (SELECT ds.k, count(*) FILTER (WHERE i > 0) AS reached, count(*) FILTER (WHERE i > 0 AND per.top > ds.k) AS advanced,
  count(*) FILTER (WHERE i > 0 AND per.top = ds.k AND per.lost) AS dropped,
  median(t / 86400e6) FILTER (WHERE i > 0 AND i = o) AS days
  FROM ds JOIN per USING (deal_id) GROUP BY ds.k),
fc AS (SELECT CASE WHEN is_won THEN date_trunc('month', closed_on) ELSE date_trunc('month', expected_close) END::DATE AS m,
  sum(CASE WHEN is_won THEN amount::DOUBLE ELSE amount::DOUBLE * coalesce(probability, sprob, 0) / 100.0 END) AS weighted,
  coalesce(sum(amount::DOUBLE) FILTER (WHERE is_won OR forecast_category IN ('best_case', 'commit')
    OR (coalesce(forecast_category, '') NOT IN ('pipeline', 'best_case', 'commit')
        AND coalesce(probability, sprob, 0) >= $best_from)), 0) AS best_case
  FROM dd WHERE NOT is_lost AND CASE WHEN is_won THEN closed_on >= $fs AND closed_on < $fe
                                ELSE expected_close >= $fs AND expected_close < $fe END GROUP BY 1)
SELECT closed.*, pipe.*, lc.*, ccn.*, cov.*, lf.*, goals.*,
  (SELECT sum(n_c) FROM aa) AS fu_c, (SELECT sum(n_p) FROM aa) AS fu_p,
  (SELECT list({'owner_id': owner_id, 'won': won, 'rev': rev, 'lost': lost, 'nc': nc, 'nl': nl, 'fu': fu}) FROM board) AS board,
  (SELECT list({'user_id': user_id, 'goal': value}) FROM tg WHERE user_id IS NOT NULL AND period_start = $cmon) AS rep_goals,
  (SELECT list({'m': m, 'amount': amount} ORDER BY m) FROM trend) AS trend,
  (SELECT list({'reason': lost_reason, 'n': n}) FROM lost) AS lost_reasons,
  (SELECT list({'k': k, 'reached': reached, 'advanced': advanced, 'dropped': dropped, 'days': days} ORDER BY k) FROM df) AS deal_funnel,
  (SELECT list({'m': m, 'weighted': weighted, 'best_case': best_case} ORDER BY m) FROM fc) AS forecast
FROM closed, pipe, lc, ccn, cov, lf, goals
"""


def raw_params(con, a, p: metrics.Period) -> dict:
    """The raw statement's parameters: what any hand-written query needs to be told (windows in UTC, the
    company's time zone, the pipeline's steps, the forecast's months and band)."""
    now = a.now
    cmp_ = metrics.comparison(p)
    clo, chi = clock.day_bounds_utc(con, p.start)[0], clock.day_bounds_utc(con, p.end)[1]
    plo, phi = clock.day_bounds_utc(con, cmp_.start)[0], clock.day_bounds_utc(con, cmp_.end)[1]
    casof, pasof = min(chi, now), min(phi, now)
    cday = clock.local_today(con, casof) - dt.timedelta(days=1)
    pday = clock.local_today(con, pasof) - dt.timedelta(days=1)

    def cov(asof):
        day = clock.local_today(con, asof - dt.timedelta(microseconds=1))
        return clock.day_bounds_utc(con, day - dt.timedelta(days=metrics.COVERAGE_DAYS - 1))[0]
    cur, prev = dashboards.trend_periods(p)
    pid = pipelines.default_pipeline(con)
    _pid, steps, lost = funnel._steps(con, pid)
    fs = clock.local_today(con, now).replace(day=1)
    return {"cs": p.start, "ce": p.end, "ps": cmp_.start, "pe": cmp_.end, "clo": clo, "chi": chi, "plo": plo,
            "casof": casof, "pasof": pasof, "cday": cday, "pday": pday, "tz": clock.zone(con).key,
            "ccov": cov(casof), "pcov": cov(pasof), "dlo": min(prev.start, pday, cmp_.start),
            "cmon": p.start.replace(day=1), "pmon": cmp_.start.replace(day=1), "tlo": prev.start,
            "pipe": pid, "codes": [s["code"] for s in steps] + lost, "nsteps": len(steps),
            "fs": fs, "fe": targets.add_months(fs, dashboards.FORECAST_MONTHS),
            "best_from": forecast.bands(con)["best_case"]}


def compare(out: dict, raw: tuple, names: list[str]) -> list[str]:
    """The figures on which the function and the raw statement differ (empty: the same numbers)."""
    r = dict(zip(names, raw))
    cards = {f.key: f for f in out["cards"]}
    bad = []

    def same(label, a, b):
        if a is None or b is None:
            if a is not b and not (a in (None, 0) and b in (None, 0)):
                bad.append(f"{label} {a} != {b}")
        elif abs(float(a) - float(b)) > 1e-6 * max(1.0, abs(float(a))):
            bad.append(f"{label} {a} != {b}")
    same("won_deals", cards["won_deals"].value, r["won_c"])
    same("won_deals_prev", cards["won_deals"].previous, r["won_p"])
    same("won_revenue", cards["won_revenue"].value, r["rev_c"])
    same("win_rate", cards["win_rate"].value, r["won_c"] / (r["won_c"] + r["lost_c"]))
    same("cycle_median", cards["cycle_median_days"].value, r["cycle_c"])
    same("open_pipeline", cards["open_pipeline"].value, r["open_c"])
    same("weighted_pipeline_prev", cards["weighted_pipeline"].previous, r["weighted_p"])
    same("new_leads", cards["new_leads"].value, r["leads_c"])
    same("new_customers_prev", cards["new_customers"].previous, r["cust_p"])
    same("followups", cards["followups"].value, r["fu_c"])
    same("coverage", cards["followup_coverage"].value, r["cov_c"] / r["owned"])
    same("attainment", cards["target_attainment"].value, float(r["rev_c"]) / r["goal_c"] if r["goal_c"] else None)
    board = out["leaderboard"]
    reps = [x for x in r["board"] if x["owner_id"] is not None]   # the leaderboard lists people
    same("board_won_revenue", board["won_revenue"].sum(), sum(float(x["rev"]) for x in reps))
    same("board_new_leads", board["new_leads"].sum(), sum(x["nl"] for x in reps))
    same("board_followups", board["followups"].sum(), sum(x["fu"] for x in reps))
    same("board_targets", board["target"].sum(), sum(x["goal"] for x in r["rep_goals"] or []))
    same("trend", out["trend"]["amount"].sum() + out["trend"]["previous"].sum(),
         sum(float(x["amount"]) for x in r["trend"]))
    same("lost", out["lost"]["n"].sum(), sum(x["n"] for x in r["lost_reasons"]))
    same("lead_funnel_won", out["funnel"]["reached"][2], r["f_won"])
    same("lead_funnel_dropped", out["funnel"]["dropped"][0], r["f_dropped"])
    got = {x["k"]: x for x in r["deal_funnel"] or []}
    for k, row in enumerate(out["deal_funnel"].iter_rows(named=True)):
        same(f"deal_funnel_{row['stage']}", row["reached"], got.get(k, {}).get("reached", 0))
        same(f"deal_funnel_{row['stage']}_days", row["median_days_in_stage"], got.get(k, {}).get("days"))
    fc = {x["m"]: x for x in r["forecast"] or []}
    for row in out["forecast"].iter_rows(named=True):
        same(f"forecast_{row['month']}", row["weighted"], fc.get(row["month"], {}).get("weighted", 0))
        same(f"forecast_best_{row['month']}", row["best_case"], fc.get(row["month"], {}).get("best_case", 0))
    return bad


def apptest(path: str, users: list[str], runs: int) -> None:
    """The dashboard page's script run under AppTest on the file (a logged-in session)."""
    os.environ["CRM_DB"] = path
    os.environ.setdefault("CRM_SECRETS", str(Path(tempfile.mkdtemp()) / "secrets.toml"))
    from tests.conftest import logged_in

    for user in users:
        at = logged_in(user, "en").run(timeout=300)
        at.switch_page("views/dashboard.py")
        at.run(timeout=300)
        assert not at.exception, at.exception
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            at.run(timeout=300)
            times.append(time.perf_counter() - t0)
        print(f"apptest_{user}_s: {statistics.median(times):.2f}")


def server_rss(path: str, user: str) -> None:
    """VmRSS of `streamlit run` on a copy of the file once the dashboard is drawn in Chromium."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_journey import free_port, settle

    folder = Path(tempfile.mkdtemp(dir=Path(path).parent))
    try:
        shutil.copy(path, folder / "crm.duckdb")
        port = free_port()
        env = {**os.environ, "CRM_DB": str(folder / "crm.duckdb"), "CRM_SECRETS": str(folder / "secrets.toml")}
        log = open(folder / "streamlit.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.headless", "true", "--server.address", "127.0.0.1",
                                 "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            with sync_playwright() as pw:
                b = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                       args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = b.new_page(viewport={"width": 1400, "height": 1000})
                for _ in range(240):
                    try:
                        page.goto(url, timeout=5000)
                        break
                    except Exception:
                        time.sleep(0.5)
                settle(page)
                print(f"server_rss_after_login_page_mb: {_rss(proc.pid)[0]:.0f}")
                page.get_by_label("Username").fill(user)
                page.get_by_label("Password", exact=True).fill("Demo#2026")
                page.get_by_role("button", name="Log in").click()
                settle(page)
                for run in ("first", "again"):
                    if run == "again":
                        page.get_by_test_id("stSidebar").get_by_role("link", name="My day").click()
                        settle(page)
                    t0 = time.perf_counter()
                    page.get_by_test_id("stSidebar").get_by_role("link", name="Dashboard").click()
                    page.wait_for_selector("[data-testid='stMetric']", timeout=120_000)
                    page.wait_for_selector(".js-plotly-plot", timeout=120_000)
                    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                                           timeout=120_000)
                    print(f"server_dashboard_open_{run}_s: {time.perf_counter() - t0:.1f}")
                rss, hwm = _rss(proc.pid)
                print(f"server_rss_mb: {rss:.0f}")
                print(f"server_rss_peak_mb: {hwm:.0f}")
                b.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _rss(pid: int) -> tuple[float, float]:
    got = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            got[line.split(":")[0]] = int(line.split()[1]) / 1024
    return got["VmRSS"], got["VmHWM"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", default="/tmp/a/L.duckdb")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--apptest", action="store_true")
    ap.add_argument("--server", action="store_true")
    args = ap.parse_args()
    con = duckdb.connect(args.path, read_only=True)
    print(f"load_before: {os.getloadavg()[0]:.2f}")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    users = {r[0]: r[1] for r in con.execute("SELECT role, username FROM users WHERE role IN ('admin', 'manager') "
                                             "AND active ORDER BY id DESC").fetchall()}
    admin = actor_for(con, users["admin"], now)
    p = metrics.month_to_date(con, admin)
    params = raw_params(con, admin, p)
    cur = con.execute(RAW, params)
    names = [d[0] for d in cur.description]
    raw = cur.fetchone()
    bad = compare(dashboards.manager(con, admin, p), raw, names)
    print(f"same_figures: {not bad}" + (f" ({'; '.join(bad[:6])})" if bad else ""))
    # interleaved (function, raw, function, raw...): a load that comes and goes weighs on both alike
    mgr = actor_for(con, users["manager"], now)
    jobs = {"manager_manager_ms": lambda: dashboards.manager(con, mgr, p),
            "manager_admin_ms": lambda: dashboards.manager(con, admin, p),
            "raw_admin_one_statement_ms": lambda: con.execute(RAW, params).fetchone()}
    times: dict[str, list[float]] = {k: [] for k in jobs}
    cpu: dict[str, list[float]] = {k: [] for k in jobs}
    for fn in jobs.values():
        fn()  # warm
    for _ in range(args.runs):
        for k, fn in jobs.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1000)
            cpu[k].append((time.process_time() - c0) * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k}: {v:.0f}")
    ratios = [a / r for a, r in zip(times["manager_admin_ms"], times["raw_admin_one_statement_ms"])]
    print(f"ratio_admin: {med['manager_admin_ms'] / med['raw_admin_one_statement_ms']:.2f} "
          f"(run by run: median {statistics.median(ratios):.2f})")
    # the CPU time of the process (every DuckDB thread): the work done, which other people's load on the
    # machine does not stretch the way it stretches the wall-clock time
    for k, v in cpu.items():
        print(f"cpu_{k}: {statistics.median(v):.0f}")
    m = mgr
    for key in ("won_revenue", "new_customers", "open_pipeline", "followups", "forgotten_30", "backlog"):
        print(f"drill_{key}_ms: {median_ms(lambda: drill.records(con, m, key, p), args.runs):.0f}")
    print(f"load_after: {os.getloadavg()[0]:.2f}")
    con.close()
    if args.apptest:
        apptest(args.path, [users["manager"], users["admin"]], args.runs)
    if args.server:
        server_rss(args.path, users["manager"])


if __name__ == "__main__":
    main()
