"""Issue 12, point 6: RFM on the UCI Online Retail file (541,909 rows) is correct on real data.

The file goes through core.analytics.realdata.load_retail into a fresh store (one bulk load: a few seconds,
loaded once for the module). Every expected figure is computed here independently by plain DuckDB SQL over
the raw .csv.gz (a separate connection that knows nothing of the store), with the standard cleaning:
drop exact duplicate rows, rows without CustomerID, cancellations (InvoiceNo "C..."), and rows with a
quantity or unit price <= 0. A line is worth quantity x price rounded to cents (as an order line stores
it); an invoice is one purchase.

As-of day 2011-12-10 (the day after the last invoice), window 13 months (the whole file), quintiles with
the stated tie-break (score = 1 + floor(5 w / N), w = customers with a strictly worse value: equal
values, equal scores), and the segment grid written out below for k = 5."""
from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from core import auth, setup
from core.analytics import realdata, rfm

pytestmark = pytest.mark.skipif(not realdata.RETAIL.exists(), reason="../shared/data is not here")

NOW = dt.datetime(2026, 11, 23, 9, 30)
ASOF = dt.date(2011, 12, 10)
RAW = str(realdata.RETAIL)

# the segment grid for quintiles, as a reader would write it from the module doc (R = r, FM = (f + m) / 2)
GRID = """CASE WHEN r >= 4 AND f + m >= 8 THEN 'champions'
               WHEN r >= 3 AND f + m >= 6 THEN 'loyal'
               WHEN r >= 4 AND f + m < 4 THEN 'new'
               WHEN r >= 3 THEN 'potential_loyalists'
               WHEN f + m >= 8 THEN 'cant_lose'
               WHEN f + m >= 6 THEN 'at_risk'
               WHEN r >= 2 THEN 'hibernating'
               ELSE 'lost' END"""


@pytest.fixture(scope="module")
def store():
    con = realdata.fresh_store()
    setup.create_first_admin(con, "boss", "Boss Admin", "Start#2026", now=NOW)
    counts = realdata.load_retail(con)
    yield con, auth.actor_for(con, "boss", NOW), counts
    con.close()


@pytest.fixture(scope="module")
def raw():
    r = duckdb.connect()
    r.execute(f"""CREATE TABLE clean AS
        SELECT InvoiceNo AS invoice, CustomerID AS customer, CAST(InvoiceDate AS TIMESTAMP) AS inv_at,
               round(CAST(Quantity AS BIGINT) * CAST(UnitPrice AS DOUBLE), 2) AS amount,
               CAST(Quantity AS BIGINT) * CAST(UnitPrice AS DOUBLE) AS exact
        FROM (SELECT DISTINCT * FROM read_csv('{RAW}', all_varchar = true))
        WHERE CustomerID IS NOT NULL AND InvoiceNo NOT LIKE 'C%'
          AND CAST(Quantity AS BIGINT) > 0 AND CAST(UnitPrice AS DOUBLE) > 0""")
    r.execute(f"""CREATE TABLE expected AS
        WITH c AS (SELECT customer, date_diff('day', max(inv_at)::DATE, DATE '{ASOF}') AS recency,
                          count(DISTINCT invoice) AS frequency, sum(amount) AS monetary FROM clean GROUP BY customer),
             s AS (SELECT *, (1 + floor(5 * (rank() OVER (ORDER BY recency DESC) - 1) / count(*) OVER ()))::INT AS r,
                             (1 + floor(5 * (rank() OVER (ORDER BY frequency) - 1) / count(*) OVER ()))::INT AS f,
                             (1 + floor(5 * (rank() OVER (ORDER BY monetary) - 1) / count(*) OVER ()))::INT AS m
                   FROM c)
        SELECT *, {GRID} AS segment FROM s""")
    yield r
    r.close()


def test_the_load_keeps_the_cleaned_rows(store, raw):
    _con, _admin, counts = store
    lines, invoices, customers = raw.execute(
        "SELECT count(*), count(DISTINCT invoice), count(DISTINCT customer) FROM clean").fetchone()
    assert (counts["order_lines"], counts["orders"], counts["customers"]) == (lines, invoices, customers)
    assert customers == 4338    # the figure every write-up of this data set reaches after this cleaning


def test_customer_count_and_revenue_match_plain_sql_over_the_raw_file(store, raw):
    con, admin, _ = store
    table = rfm.summary(con, admin, ASOF, 13, "quintile")
    customers, revenue, exact = raw.execute("SELECT count(DISTINCT customer), sum(amount), sum(exact) FROM clean").fetchone()
    assert table["customers"].sum() == customers
    assert table["revenue"].sum() == pytest.approx(revenue, abs=0.005)
    assert table["revenue"].sum() == pytest.approx(exact, abs=0.05)   # rounding lines to cents moves it < 5 cents


def test_each_segment_matches_plain_sql_size_and_mean_recency_frequency_monetary(store, raw):
    con, admin, _ = store
    got = {r["segment"]: r for r in rfm.summary(con, admin, ASOF, 13, "quintile").iter_rows(named=True)}
    want = {row[0]: row[1:] for row in raw.execute(
        "SELECT segment, count(*), avg(recency), avg(frequency), avg(monetary), sum(monetary) FROM expected "
        "GROUP BY segment").fetchall()}
    assert set(want) <= set(rfm.SEGMENTS) and len(want) >= 6
    for segment in rfm.SEGMENTS:
        n, recency, frequency, monetary, revenue = want.get(segment, (0, None, None, None, 0))
        row = got[segment]
        assert row["customers"] == n, segment
        assert row["revenue"] == pytest.approx(revenue, abs=0.005), segment
        for mine, theirs in ((row["mean_recency"], recency), (row["mean_frequency"], frequency),
                             (row["mean_monetary"], monetary)):
            assert (mine is None and theirs is None) or mine == pytest.approx(theirs, rel=1e-9), segment


def test_every_customers_scores_match(store, raw):
    con, admin, _ = store
    frame, total = rfm.scores(con, admin, ASOF, 13, "quintile", page_size=500)
    assert total == 4338
    sql, params = rfm.scores_sql(con, admin, ASOF, 13, "quintile")
    mine = {row[0]: row[1:] for row in con.execute(
        f"SELECT c.external_ref, s.recency_days, s.frequency, s.r, s.f, s.m, s.segment FROM ({sql}) s "
        "JOIN customers c ON c.id = s.customer_id", params).fetchall()}
    theirs = {row[0]: row[1:] for row in raw.execute(
        "SELECT customer, recency, frequency, r, f, m, segment FROM expected").fetchall()}
    assert mine == theirs


def test_cancellations_kept_as_credit_notes_lower_monetary_but_not_frequency(raw):
    """load_retail(cancellations="credit"): each C-invoice of a customer becomes a cancelled order with its
    negative amount; RFM subtracts it from the customer's monetary value and never counts it as a purchase."""
    con = realdata.fresh_store()
    try:
        setup.create_first_admin(con, "boss", "Boss Admin", "Start#2026", now=NOW)
        counts = realdata.load_retail(con, cancellations="credit")
        admin = auth.actor_for(con, "boss", NOW)
        # the credit notes of customers who bought count (a customer who only cancelled has no purchase:
        # not scored)
        credits, credit_invoices = raw.execute(f"""
            SELECT sum(round(CAST(Quantity AS BIGINT) * CAST(UnitPrice AS DOUBLE), 2))
                       FILTER (WHERE CustomerID IN (SELECT customer FROM clean)), count(DISTINCT InvoiceNo)
            FROM (SELECT DISTINCT * FROM read_csv('{RAW}', all_varchar = true))
            WHERE CustomerID IS NOT NULL AND InvoiceNo LIKE 'C%'
              AND CAST(Quantity AS BIGINT) < 0 AND CAST(UnitPrice AS DOUBLE) > 0""").fetchone()
        purchases, invoices = raw.execute("SELECT sum(amount), count(DISTINCT invoice) FROM clean").fetchone()
        assert counts["orders"] == invoices + credit_invoices
        table = rfm.summary(con, admin, ASOF, 13, "quintile")
        assert credits < 0
        assert table["revenue"].sum() == pytest.approx(purchases + credits, abs=0.01)
        sql, params = rfm.scores_sql(con, admin, ASOF, 13, "quintile")
        assert con.execute(f"SELECT sum(frequency) FROM ({sql})", params).fetchone()[0] == invoices
    finally:
        con.close()
