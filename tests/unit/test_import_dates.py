"""Issue 9, point 1 (dates): every date form a user's file carries is read to the same instant; a column
whose D/M/Y values all fit M/D/Y too is reported as ambiguous (the wizard asks); values that are no date
are flagged, never dropped or guessed."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core.imports.dates import parse_dates

D = dt.datetime(2024, 3, 5)
DT = dt.datetime(2024, 3, 5, 14, 30)


@pytest.mark.parametrize("text,expected", [
    ("2024-03-05", D), ("2024-3-5", D), ("2024-03-05T14:30:00", DT), ("2024-03-05 14:30", DT),
    ("2024-03-05T14:30:00Z", DT), ("2024-03-05T14:30:00+08:00", DT),
    ("2024-03-05 14:30:15.25", dt.datetime(2024, 3, 5, 14, 30, 15, 250000)),
    ("2024/3/5", D), ("2024/03/05 14:30", DT), ("2024.3.5", D),
    ("20240305", D), ("20240305 1430", DT), ("20240305143000", DT),
    ("2024年3月5日", D), ("2024年03月05日", D), ("2024年3月5日 14:30", DT), ("2024年3月5日14时30分", DT),
    ("2024年3月5日 下午2点30分", DT), ("２０２４年３月５日", D), ("2024-03-05 2:30 PM", DT),
    ("45356", D), ("45356.6041666667", DT),
    ("5 Mar 2024", D), ("05-Mar-24", D), ("March 5, 2024", D), ("Mar 5 2024 14:30", DT),
    ("  2024-03-05  ", D),
])
def test_each_form(text, expected):
    r = parse_dates(pl.Series("d", [text]))
    assert r.values.to_list() == [expected] and r.bad.to_list() == [False]


def test_month_first_and_day_first_are_told_apart_by_the_column():
    us = parse_dates(pl.Series(["3/5/2024", "12/25/2024", "1/31/2024 2:30 PM"]))
    assert (us.order, us.ambiguous) == ("mdy", False)
    assert us.values.to_list() == [D, dt.datetime(2024, 12, 25), dt.datetime(2024, 1, 31, 14, 30)]
    eu = parse_dates(pl.Series(["5/3/2024", "25/12/2024", "05.03.24"]))
    assert (eu.order, eu.ambiguous) == ("dmy", False)
    assert eu.values.to_list() == [D, dt.datetime(2024, 12, 25), D]


def test_ambiguous_column_is_reported_and_the_users_choice_wins():
    s = pl.Series(["3/5/2024", "4/6/2024", None, ""])
    r = parse_dates(s)
    assert r.ambiguous and r.fits == ("mdy", "dmy")
    assert r.bad.to_list() == [False] * 4
    chosen = parse_dates(s, order="dmy")
    assert not chosen.ambiguous and chosen.order == "dmy"
    assert chosen.values.to_list() == [dt.datetime(2024, 5, 3), dt.datetime(2024, 6, 4), None, None]
    assert parse_dates(s, order="mdy").values.to_list()[:2] == [D, dt.datetime(2024, 4, 6)]
    # the same day and month (3/3) is no ambiguity at all
    assert not parse_dates(pl.Series(["3/3/2024", "2024-01-02"])).ambiguous
    # year-first values are never ambiguous, whatever the order
    assert parse_dates(pl.Series(["2024/3/5"]), order="dmy").values.to_list() == [D]


def test_bad_values_are_flagged_not_dropped():
    s = pl.Series("when", ["2024-03-05", "2024-02-30", "13/13/2024", "tomorrow", "2024-03-05 25:00",
                           "1054", None, "  ", "3/5/2024", "99999999", "2024年13月1日"])
    r = parse_dates(s)
    assert len(r.values) == len(s) and r.values.name == "when"
    assert r.bad.to_list() == [False, True, True, True, True, True, False, False, False, True, True]
    assert r.values.is_null().to_list() == [False, True, True, True, True, True, True, True, False, True, True]


def test_excel_serials():
    # a text column from an Excel source: serials beside ISO date cells
    r = parse_dates(pl.Series(["45356", "2024-03-06 00:00:00", "45357.5"]))
    assert r.values.to_list() == [D, dt.datetime(2024, 3, 6), dt.datetime(2024, 3, 6, 12)]
    # a small number is no date unless the caller says the column holds serials
    assert parse_dates(pl.Series(["1054"])).bad.to_list() == [True]
    assert parse_dates(pl.Series(["1054"]), serials=True).values.to_list() == [dt.datetime(1902, 11, 19)]
    assert parse_dates(pl.Series(["45356"]), serials=False).bad.to_list() == [True]
    # numeric cells (a typed column) are serials
    num = parse_dates(pl.Series([45356.0, None, 45356.25]))
    assert num.values.to_list() == [D, None, dt.datetime(2024, 3, 5, 6)] and not num.bad.any()


def test_two_digit_years_follow_excel():
    r = parse_dates(pl.Series(["3/5/24", "3/5/29", "3/5/30", "3/5/99"]))
    assert [v.year for v in r.values.to_list()] == [2024, 2029, 1930, 1999]


def test_without_time_and_typed_input():
    r = parse_dates(pl.Series(["2024-03-05 14:30", "2024年3月5日 23:59"]), with_time=False)
    assert r.values.to_list() == [D, D]
    dates = parse_dates(pl.Series([dt.date(2024, 3, 5), None]))
    assert dates.values.to_list() == [D, None] and not dates.bad.any()
    assert parse_dates(pl.Series([DT])).values.to_list() == [DT]


def test_unknown_order_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_dates(pl.Series(["2024-03-05"]), order="ydm")


def test_many_values_vectorised():
    import time
    s = pl.Series(["3/13/2024", "2024-03-05 14:30", "2024年3月5日", "45356", "bad", None] * 100_000)
    start = time.perf_counter()
    r = parse_dates(s)
    took = time.perf_counter() - start
    assert r.bad.sum() == 100_000 and r.values.null_count() == 200_000 and r.order == "mdy"
    assert r.values[:6].to_list() == [dt.datetime(2024, 3, 13), DT, D, D, None, None]
    assert took < 20, took       # about 1 s on the build machine; per-row Python would take a minute
    plain = pl.Series(["10/20/2016", "3/1/2017", None] * 300_000)     # a re-saved spreadsheet column
    start = time.perf_counter()
    r = parse_dates(plain)
    assert time.perf_counter() - start < 10 and r.order == "mdy" and not r.bad.any()
