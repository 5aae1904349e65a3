"""Dates in imported files (导入日期解析), vectorised with polars expressions (no Python per row).

    r = parse_dates(frame["close_date"])            # order="auto"
    r.values      Datetime("us") series, null where empty or bad
    r.bad         Boolean: a non-empty value that is no date (flagged, never silently dropped)
    r.ambiguous   True when every D/M/Y value also fits M/D/Y (and one of them differs): ask the user
    r.order       the order used: "ymd" | "mdy" | "dmy"

Forms: ISO 2024-03-05 (T or space, seconds, fractions, a trailing Z/offset is dropped), 2024/3/5,
2024.3.5, 20240305 (and 20240305 1430 / 20240305143000), M/D/YYYY and D/M/YYYY (also with "-" or
".", two-digit years: 00-29 -> 20xx, 30-99 -> 19xx), 5 Mar 2024 / 05-Mar-24 / March 5, 2024, Chinese
2024年3月5日 (with 14:30, 14时30分, 下午2点), full-width digits, 12-hour times with AM/PM, and Excel
serial numbers (45356, 45356.5 = noon). Serials: `serials=None` (auto) takes whole numbers from
10000 to 99999 (1927..2173) so an amount put in a date column is flagged, not turned into 1902;
`serials=True` takes any serial (an Excel-sourced column, numeric cells); a numeric series is always
read as serials. An explicit `order` applies to day/month-first values; year-first values are
unambiguous whatever the order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

ORDERS = ("auto", "ymd", "mdy", "dmy")
DEFAULT_ORDER = "mdy"   # used when both fit every value (the result says ambiguous: the wizard asks)

_EXCEL_EPOCH = pl.datetime(1899, 12, 30)
_SIMPLE_DM = r"^\d{1,2}/\d{1,2}/\d{4}(?: \d{1,2}:\d{2}(?::\d{2})?)?$"
_ISO = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
_FULLWIDTH = [chr(0xFF10 + i) for i in range(10)] + ["／", "－", "：", "．", "　", "，"]
_ASCII = [str(i) for i in range(10)] + ["/", "-", ":", ".", " ", ","]
_CN_FROM = ["年", "月", "日", "号", "號", "时", "時", "点", "點", "分", "秒", "上午", "下午", "凌晨", "晚上", "中午"]
_CN_TO = ["-", "-", " ", " ", " ", ":", ":", ":", ":", ":", "", " AM ", " PM ", " AM ", " PM ", " PM "]
_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
           "nov": 11, "dec": 12}
_MON = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_TIME = r"(?:\s+(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2})(?:[.,](\d{1,9}))?)?)?"
# A: separated numbers (year first or last); B: compact 20240305[ 1430[00]]; C: serial; D/E: month names
_RE_A = r"^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})" + _TIME + "$"
_RE_B = r"^(\d{4})(\d{2})(\d{2})(?:\s*(\d{2}):?(\d{2})(?::?(\d{2}))?)?$"
_RE_C = r"^\d{1,7}(?:\.\d+)?$"
_RE_D = r"^(\d{1,2})[-\s/]+" + _MON + r"[-\s/,]+(\d{2}|\d{4})" + _TIME + "$"
_RE_E = r"^" + _MON + r"\s*(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})" + _TIME + "$"


@dataclass
class DateResult:
    values: pl.Series           # Datetime("us"), null where empty or bad
    bad: pl.Series              # Boolean: non-empty and not a date
    ambiguous: bool             # D/M/Y and M/D/Y both fit every value: ask
    order: str                  # "ymd" | "mdy" | "dmy"
    fits: tuple[str, ...] = field(default_factory=tuple)   # the day/month orders that fit every value


def _year(e: pl.Expr) -> pl.Expr:
    """Two-digit years as Excel reads them: 00-29 -> 2000s, 30-99 -> 1900s."""
    y = e.cast(pl.Int32, strict=False)
    return pl.when(e.str.len_chars() <= 2).then(pl.when(y < 30).then(y + 2000).otherwise(y + 1900)).otherwise(y)


def _build(y: pl.Expr, m: pl.Expr, d: pl.Expr, hh: pl.Expr, mi: pl.Expr, ss: pl.Expr, frac: pl.Expr,
           pm: pl.Expr, am: pl.Expr) -> pl.Expr:
    """A Datetime from integer parts, null when the parts are no real date/time (31 Feb, 25:00).
    Checked with arithmetic (days in the month, leap years), built with pl.datetime: no strings."""
    h = hh.fill_null(0)
    h = pl.when(pm & (h < 12)).then(h + 12).when(am & (h == 12)).then(0).otherwise(h)
    mi, ss = mi.fill_null(0), ss.fill_null(0)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = (pl.when(m == 2).then(pl.when(leap).then(29).otherwise(28))
            .when(m.is_in([4, 6, 9, 11])).then(30).otherwise(31))
    ok_time = (h <= 23) & (mi <= 59) & (ss <= 59) & ~(pm & (hh.fill_null(0) > 12))
    ok = ((y >= 1) & (y <= 9999) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= days) & ok_time).fill_null(False)
    micros = (frac.str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int32, strict=False)).fill_null(0)

    def safe(e: pl.Expr, default: int) -> pl.Expr:
        return pl.when(ok).then(e).otherwise(default)

    dt = pl.datetime(safe(y, 2000), safe(m, 1), safe(d, 1), safe(h, 0), safe(mi, 0), safe(ss, 0), safe(micros, 0),
                     time_unit="us")
    return pl.when(ok).then(dt).otherwise(None)


def _named(words: bool, D: list, E: list, pm: pl.Expr, am: pl.Expr, month) -> list[pl.Expr]:
    """5 Mar 2024 / 05-Mar-24 (D) and March 5, 2024 (E); nothing to do without letters in the column."""
    if not words:
        none = pl.lit(None, dtype=pl.Datetime("us"))
        return [none.alias("v_dname"), none.alias("v_ename")]
    return [
        pl.when(D[0].is_not_null())
        .then(_build(_year(D[2]), month(D[1]), _int(D[0]), _int(D[3]), _int(D[4]), _int(D[5]), D[6].fill_null(""), pm, am))
        .alias("v_dname"),
        pl.when(E[0].is_not_null())
        .then(_build(_int(E[2]), month(E[0]), _int(E[1]), _int(E[3]), _int(E[4]), _int(E[5]), E[6].fill_null(""), pm, am))
        .alias("v_ename"),
    ]


def _int(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Int32, strict=False)


def _serial(num: pl.Expr) -> pl.Expr:
    """Excel's day number (1900 system, 1899-12-30 = 0) to the millisecond: the 9-decimal text of a
    serial ("45356.604166667") is 14:30:00, not 14:30:00.000029."""
    return _EXCEL_EPOCH.cast(pl.Datetime("us")) + pl.duration(milliseconds=(num * 86_400_000).round(0).cast(pl.Int64))


def parse_dates(s: pl.Series, order: str = "auto", with_time: bool = True, *, serials: bool | None = None) -> DateResult:
    """Parse a column of dates (see the module doc). Never raises on values; an unknown order
    raises ValueError (a programming error, not user input)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    name = s.name
    if s.dtype == pl.Datetime or s.dtype == pl.Date:
        values = s.cast(pl.Datetime("us"))
        return _result(values, pl.Series(name, [False] * len(s), dtype=pl.Boolean), False,
                       "ymd" if order == "auto" else order, with_time)
    if s.dtype.is_numeric():
        num = s.cast(pl.Float64, strict=False)
        frame = pl.DataFrame({"n": num})
        values = frame.select(pl.when(pl.col("n").is_between(0, 2958465.99999))
                              .then(_serial(pl.col("n"))).otherwise(None).alias(name)).to_series()
        bad = (num.is_not_null() & values.is_null()).alias(name)
        return _result(values, bad, False, "ymd" if order == "auto" else order, with_time)

    txt = s.cast(pl.String, strict=False) if s.dtype != pl.String else s
    stripped = txt.str.strip_chars()
    empty = stripped.is_null() | (stripped == "")
    # tiers, each a few bulk passes over only the values it may take:
    #  1. plain ISO (the bulk of most files) through exact formats;
    #  2. plain M/D/YYYY or D/M/YYYY (what a spreadsheet re-saves) through exact formats, both ways;
    #  3. everything else through the general patterns (Chinese, names, serials, 12-hour times ...).
    other = _iso(stripped)
    rest = ~empty & other.is_null()
    mdy = pl.Series(name, [None] * len(s), dtype=pl.Datetime("us"))
    dmy = mdy.clone()
    dm = pl.Series(name, [False] * len(s), dtype=pl.Boolean)
    differs = dm.clone()
    if rest.any():
        simple = rest & stripped.str.contains(_SIMPLE_DM).fill_null(False)
        general = rest & ~simple
        for mask, fn in ((simple, _simple_candidates), (general, lambda t: _general_candidates(t, serials))):
            if not mask.any():
                continue
            idx = mask.arg_true()
            c = fn(stripped.filter(mask))
            other = other.scatter(idx, c["other"])
            mdy = mdy.scatter(idx, c["mdy"])
            dmy = dmy.scatter(idx, c["dmy"])
            dm = dm.scatter(idx, c["dm"])
            differs = differs.scatter(idx, c["differs"])
    n_dm = int(dm.sum())
    ok_m, ok_d = dm & mdy.is_not_null(), dm & dmy.is_not_null()
    used, ambiguous, fits = _decide(order, n_dm, int(ok_m.sum()), int(ok_d.sum()), int((ok_m & ok_d & differs).sum()))
    chosen = dmy if used == "dmy" else mdy
    values = pl.select(pl.coalesce(other, chosen)).to_series().alias(name)
    bad = (~empty & values.is_null()).alias(name)
    return _result(values, bad, ambiguous, used, with_time, fits)


def _iso(t: pl.Series) -> pl.Series:
    """Tier 1: 2024-03-05[ T]14:30[:00] with exact formats (only when some value starts like it)."""
    if not t.str.contains(r"^\d{4}-\d").any():
        return pl.Series(t.name, [None] * len(t), dtype=pl.Datetime("us"))
    tries = [t.str.to_datetime(f, time_unit="us", strict=False) for f in _ISO] \
        if t.str.contains(":", literal=True).any() else []
    return pl.select(pl.coalesce(*tries, t.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))).to_series()


def _simple_candidates(t: pl.Series) -> pl.DataFrame:
    """Tier 2: M/D/YYYY and D/M/YYYY [HH:MM[:SS]], read both ways with exact formats."""
    times = ("", " %H:%M", " %H:%M:%S") if t.str.contains(":", literal=True).any() else ("",)

    def parse(fmts):
        return pl.select(pl.coalesce(*(t.str.to_datetime(f, time_unit="us", strict=False) for f in fmts))).to_series()

    mdy = parse([f"%m/%d/%Y{x}" for x in times])
    dmy = parse([f"%d/%m/%Y{x}" for x in times])
    return pl.DataFrame({"other": pl.Series([None] * len(t), dtype=pl.Datetime("us")), "mdy": mdy, "dmy": dmy,
                         "dm": pl.Series([True] * len(t)), "differs": (mdy != dmy).fill_null(False)})


def _general_candidates(txt: pl.Series, serials: bool | None) -> pl.DataFrame:
    """Tier 3: normalise (full-width, Chinese, AM/PM, T/Z) and match the general patterns."""
    df = pl.DataFrame({"raw": txt})
    t = pl.col("raw")
    # each normalising step only when some value needs it (every step is a pass over the column)
    wide = bool(txt.str.contains(r"[^\x00-\x7f]").any())          # Chinese, full-width digits
    words = wide or bool(txt.str.contains(r"[A-Za-z]").any())      # T, Z, AM/PM, month names
    norm = t
    if wide:
        norm = norm.str.replace_many(_FULLWIDTH, _ASCII).str.replace_many(_CN_FROM, _CN_TO)
    if words:
        norm = (norm.str.to_lowercase().str.replace_all(r"(\d)t(\d)", "${1} ${2}")
                .str.replace(r"(\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?:z|utc|gmt|[+-]\d{2}:?\d{2})$", "${1}")
                .str.replace_all(r"\s+", " "))
    df = df.with_columns(norm.str.strip_chars(" :,").alias("n"))
    if words:
        df = df.with_columns(
            pl.col("n").str.contains(r"(^|[\s\d])pm\b").alias("pm"),
            pl.col("n").str.contains(r"(^|[\s\d])am\b").alias("am"),
        ).with_columns(
            pl.col("n").str.replace_all(r"\s*\b[ap]m\b\s*", " ").str.replace_all(r"\s+", " ").str.strip_chars(" :")
            .alias("n"))
    else:
        df = df.with_columns(pl.lit(False).alias("pm"), pl.lit(False).alias("am"))
    n = pl.col("n")
    df = df.with_columns(n.str.extract_groups(_RE_A).alias("a"), n.str.extract_groups(_RE_B).alias("b"),
                         n.str.contains(_RE_C).alias("is_num"))
    if words:
        df = df.with_columns(n.str.extract_groups(_RE_D).alias("d"), n.str.extract_groups(_RE_E).alias("e"))
    A = [pl.col("a").struct.field(str(i)) for i in range(1, 8)]
    B = [pl.col("b").struct.field(str(i)) for i in range(1, 7)]
    D = [pl.col("d").struct.field(str(i)) for i in range(1, 8)] if words else []
    E = [pl.col("e").struct.field(str(i)) for i in range(1, 8)] if words else []
    pm, am = pl.col("pm"), pl.col("am")

    def month(x: pl.Expr) -> pl.Expr:
        return x.str.slice(0, 3).replace_strict(_MONTHS, default=None, return_dtype=pl.Int32)

    year_first = A[0].str.len_chars() == 4
    day_month = (A[0].is_not_null() & ~year_first & A[2].str.len_chars().is_in([2, 4])).fill_null(False)
    hms = (_int(A[3]), _int(A[4]), _int(A[5]), A[6].fill_null(""))
    num = n.cast(pl.Float64, strict=False)
    if serials is False:
        serial_ok = pl.lit(False)
    elif serials is True:
        serial_ok = pl.col("is_num") & num.is_between(0, 2958465.99999)
    else:
        serial_ok = pl.col("is_num") & num.is_between(10000, 99999.99999)
    df = df.with_columns(
        pl.when(year_first).then(_build(_int(A[0]), _int(A[1]), _int(A[2]), *hms, pm, am)).alias("v_ymd"),
        pl.when(day_month).then(_build(_year(A[2]), _int(A[0]), _int(A[1]), *hms, pm, am)).alias("mdy"),
        pl.when(day_month).then(_build(_year(A[2]), _int(A[1]), _int(A[0]), *hms, pm, am)).alias("dmy"),
        day_month.alias("dm"),
        pl.when(pl.col("b").struct.field("1").is_not_null())
        .then(_build(_int(B[0]), _int(B[1]), _int(B[2]), _int(B[3]), _int(B[4]), _int(B[5]), pl.lit(""), pm, am))
        .alias("v_compact"),
        *_named(words, D, E, pm, am, month),
        (A[0] != A[1]).fill_null(False).alias("differs"),
        pl.when(serial_ok & pl.col("b").struct.field("1").is_null()).then(_serial(num)).alias("v_serial"),
    )
    return df.select(
        pl.coalesce("v_ymd", "v_compact", "v_dname", "v_ename", "v_serial").cast(pl.Datetime("us")).alias("other"),
        pl.col("mdy").cast(pl.Datetime("us")), pl.col("dmy").cast(pl.Datetime("us")), "dm", "differs")


def _decide(order: str, n_dm: int, n_mdy: int, n_dmy: int, both_differ: int) -> tuple[str, bool, tuple[str, ...]]:
    """(order used, ambiguous, orders fitting every value) for the day/month-first values of a column."""
    fits = tuple(o for o, k in (("mdy", n_mdy), ("dmy", n_dmy)) if n_dm and k == n_dm)
    if order in ("mdy", "dmy"):
        return order, False, fits
    if n_dm == 0:
        return "ymd", False, fits
    if len(fits) == 2:
        return DEFAULT_ORDER, order == "auto" and both_differ > 0, fits
    if fits:
        return fits[0], False, fits
    return ("mdy" if n_mdy >= n_dmy else "dmy"), False, fits


def _result(values: pl.Series, bad: pl.Series, ambiguous: bool, order: str, with_time: bool,
            fits: tuple[str, ...] = ()) -> DateResult:
    values = values.cast(pl.Datetime("us"))
    if not with_time:
        values = values.dt.truncate("1d")
    return DateResult(values, bad.fill_null(False), ambiguous, order, fits)
