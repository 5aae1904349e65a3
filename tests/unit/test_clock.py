"""The company's clock: the store keeps naive UTC, people read and count days in the company's zone."""
import datetime as dt

import pytest

from core import clock, settings
from core.context import SYSTEM
from core.errors import ValidationError

D = dt.datetime


def test_the_default_zone_is_shanghai(con):
    assert clock.zone(con).key == "Asia/Shanghai"


def test_a_stored_time_is_read_in_shanghai_time(con):
    assert clock.to_local(con, D(2026, 11, 23, 15, 30)) == D(2026, 11, 23, 23, 30)
    assert clock.to_local(con, D(2026, 11, 23, 16, 0)) == D(2026, 11, 24, 0, 0)
    assert clock.to_local(con, None) is None


def test_a_time_typed_in_shanghai_is_stored_in_utc(con):
    assert clock.to_utc(con, D(2026, 11, 24, 0, 30)) == D(2026, 11, 23, 16, 30)


def test_today_changes_at_shanghai_midnight_not_utc_midnight(con):
    assert clock.local_today(con, D(2026, 11, 23, 15, 59)) == dt.date(2026, 11, 23)
    assert clock.local_today(con, D(2026, 11, 23, 16, 0)) == dt.date(2026, 11, 24)  # still the 23rd in UTC


def test_a_shanghai_day_in_utc_runs_from_16_00_the_day_before(con):
    assert clock.day_bounds_utc(con, dt.date(2026, 11, 24)) == (D(2026, 11, 23, 16, 0), D(2026, 11, 24, 16, 0))


def test_times_are_shown_local_without_seconds_and_none_as_nothing(con):
    assert clock.fmt(con, D(2026, 11, 23, 15, 30, 33)) == "2026-11-23 23:30"
    assert clock.fmt(con, D(2026, 11, 23, 15, 30, 33), with_seconds=True) == "2026-11-23 23:30:33"
    assert clock.fmt(con, None) == ""
    assert clock.fmt(con, dt.date(2026, 11, 23)) == "2026-11-23"


def berlin(con):
    settings.set_value(con, SYSTEM, "company.timezone", "Europe/Berlin")


def test_the_zone_is_a_setting_and_summer_time_counts(con):
    berlin(con)
    assert clock.zone(con).key == "Europe/Berlin"
    assert clock.to_utc(con, D(2026, 1, 15, 12, 0)) == D(2026, 1, 15, 11, 0)    # CET, UTC+1
    assert clock.to_utc(con, D(2026, 7, 15, 12, 0)) == D(2026, 7, 15, 10, 0)    # CEST, UTC+2
    assert clock.to_local(con, D(2026, 7, 15, 10, 0)) == D(2026, 7, 15, 12, 0)


def test_the_day_summer_time_starts_has_23_hours(con):
    berlin(con)
    start, end = clock.day_bounds_utc(con, dt.date(2026, 3, 29))
    assert (start, end) == (D(2026, 3, 28, 23, 0), D(2026, 3, 29, 22, 0))
    assert end - start == dt.timedelta(hours=23)


def test_a_time_zone_that_does_not_exist_is_refused(con):
    for bad in ("Mars/Olympus", "", "../etc/passwd", "asia/shanghai"):
        with pytest.raises(ValidationError) as err:
            settings.set_value(con, SYSTEM, "company.timezone", bad)
        assert err.value.params["field"] == "setting.company.timezone"  # shown as the setting's label
    assert clock.zone(con).key == "Asia/Shanghai"


# ---------------------------------------------------------------- tables (ui.tables.display_frame)
def shown(monkeypatch, con, df, height="auto"):
    import ui.session
    from ui import tables

    monkeypatch.setattr(ui.session, "con", lambda: con)
    return tables.display_frame(df, height)


def test_tables_show_local_minutes_empty_cells_and_ticks(monkeypatch, con):
    import polars as pl

    df = pl.DataFrame({"at": [D(2026, 11, 23, 15, 30, 33), None], "active": [True, False],
                       "email": ["a@b.cn", None], "entity_id": [7, None], "day": [dt.date(2026, 11, 23), None]})
    view, _height = shown(monkeypatch, con, df)
    assert view.rows() == [("2026-11-23 23:30", "✓", "a@b.cn", "7", "2026-11-23"), ("", "", "", "", "")]
    assert view.columns == df.columns


def test_tables_are_as_tall_as_their_rows_up_to_fifty(monkeypatch, con):
    import polars as pl

    heights = {n: shown(monkeypatch, con, pl.DataFrame({"x": list(range(n))}))[1] for n in (0, 3, 50, 500)}
    assert heights[3] < heights[50] == heights[500]
    assert heights[50] >= 50 * 35 + 35          # all 50 rows of a page and the header, no inner scrolling
    assert heights[0] > 0
    assert shown(monkeypatch, con, pl.DataFrame({"x": [1]}), height=420)[1] == 420   # the caller's choice stands
