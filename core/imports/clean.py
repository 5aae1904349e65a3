"""Cleaning of imported phone and e-mail columns, set-based in DuckDB.

    ensure_prefixes(con)                      the table phone_prefixes (mainland number ranges), once per connection
    phones_sql(con, table, column, out="phone_norm", reason="phone_reason")
    emails_sql(con, table, column, out="email_norm", reason="email_reason")

The contract: phones_sql gives every row exactly what core.phones.normalise gives its value (the same E.164 or
the same refusal code), emails_sql what `email_verdict` gives. A million rows cannot each take a Python call to
libphonenumber, so the common shapes are decided in SQL and only the unusual rows go through core.phones.

The prefix table is not written by hand: it is generated from libphonenumber's own metadata for China. Each
pattern the library uses to classify a mainland number (its general, service, fixed-line and mobile number
patterns, and for short landlines the formats that give the area code's length) is read as the set of digit
strings it matches; a walk over the digits of each number length stops at a prefix where every pattern's verdict
no longer depends on the digits that follow (`leaves()`: 13 -> mobile, 1740[0-5] -> mobile, 10 / 21 / 755 + the
first local digit -> landline with its area code ...), and the library is then asked for the type and area-code
length of one number with that prefix — which holds for every number with it. The tests hold every prefix
against the library. For the join, leaves of up to 4 digits are spread over 4-digit heads and deeper ones over
6-digit heads (`prefixes()`, ~80k rows, TEMP table phone_prefixes); a number whose type would need more than 6
digits is marked `mixed` and left to the library (none with phonenumbers 9.0.43). The walk takes a few seconds,
so its result is kept on disk under a fingerprint of the metadata it was built from.

Common shapes decided in SQL: ASCII or full-width digits with spaces, dashes, dots and brackets, an optional
leading + / +86 / 0086 / 86 (12+ digits), the 0 of an area code; 11-digit mobiles (valid, unassigned range,
padded with 0), landlines (valid, a short code behind an area code, bad), service ranges, short numbers without
an area code (service codes by libphonenumber's short-number patterns for CN, read from its metadata; 7-8 digits
without an area code); a number of those shapes followed by an extension (转 / 分机 / ext / x and digits);
printable ASCII with letters or symbols but no x (no extension can be read there: invalid characters). Sent to
core.phones: other characters (control characters, other scripts, extensions written otherwise), 65..1024
characters, international numbers (+CC / 00CC other than 86), 0s after the trunk 0. Counted in
last_stats()["python"].
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from functools import lru_cache
from re import _constants as _C
from re import _parser as _sre

import phonenumbers
import polars as pl
from phonenumbers import PhoneMetadata, PhoneNumber
from phonenumbers import PhoneNumberType as T

from core import phones
from core.errors import ValidationError

TABLE = "phone_prefixes"
SHORT, HEAD = 4, 6            # digits of the keys; deeper decisions are 'mixed' (the library decides)
MAX_NSN = 12                  # core.phones asks the library for the type of national numbers up to 12 digits
_DIG = frozenset("0123456789")
_DESCS = ("general_desc", "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
          "voicemail", "fixed_line", "mobile")
_MOBILE = (int(T.MOBILE), int(T.FIXED_LINE_OR_MOBILE))
_FIXED = (int(T.FIXED_LINE), int(T.FIXED_LINE_OR_MOBILE))
_SERVICE = tuple(int(x) for x in (T.TOLL_FREE, T.PREMIUM_RATE, T.SHARED_COST, T.UAN, T.VOICEMAIL))
_UNKNOWN = int(T.UNKNOWN)

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")          # core/fields.py's rule for an e-mail field
_EMAIL_MAX = 254


# ---------------------------------------------------------------- the prefix table from libphonenumber's metadata

def _lang(pattern: str, maxlen: int = MAX_NSN) -> frozenset:
    """The strings of digits (up to maxlen) a libphonenumber pattern matches, as tuples of digit sets."""
    return frozenset(_seq(_sre.parse(pattern), maxlen))


def _cat(a, b, maxlen):
    return {x + y for x in a for y in b if len(x) + len(y) <= maxlen}


def _seq(items, maxlen):
    out = {()}
    for op, av in items:
        out = _cat(out, _item(op, av, maxlen), maxlen)
        if not out:
            break
    return out


def _item(op, av, maxlen):
    if op is _C.LITERAL:
        ch = chr(av)
        return {(frozenset(ch),)} if ch in _DIG else set()
    if op is _C.IN:
        chars, negate = set(), False
        for o, a in av:
            if o is _C.LITERAL:
                chars.add(chr(a))
            elif o is _C.RANGE:
                chars.update(chr(c) for c in range(a[0], a[1] + 1))
            elif o is _C.CATEGORY and a is _C.CATEGORY_DIGIT:
                chars.update(_DIG)
            elif o is _C.NEGATE:
                negate = True
            else:
                raise ValueError(f"unexpected pattern element {o} {a}")
        chars = (_DIG - chars) if negate else (chars & _DIG)
        return {(frozenset(chars),)} if chars else set()
    if op is _C.BRANCH:
        found = set()
        for alt in av[1]:
            found |= _seq(alt, maxlen)
        return found
    if op is _C.SUBPATTERN:
        return _seq(av[3], maxlen)
    if op in (_C.MAX_REPEAT, _C.MIN_REPEAT):
        lo, hi, sub = av
        one, cur, found = _seq(sub, maxlen), {()}, set()
        for n in range(0, min(hi, maxlen) + 1):
            if n >= lo:
                found |= cur
            cur = _cat(cur, one, maxlen)
            if not cur:
                break
        return found
    raise ValueError(f"unexpected pattern element {op} {av}")


def _metadata():
    return PhoneMetadata.metadata_for_region("CN")


def _formats():
    m = _metadata()
    return list(m.intl_number_format or m.number_format)


def _patterns_key() -> str:
    """A fingerprint of every piece of metadata the table is built from (the disk cache's name)."""
    m = _metadata()
    parts = [phonenumbers.__version__, str(HEAD)]
    for name in _DESCS:
        d = getattr(m, name)
        parts.append(repr(None if d is None else (d.national_number_pattern, tuple(d.possible_length))))
    for f in _formats():
        parts.append(repr((f.pattern, tuple(f.leading_digits_pattern))))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _area_bound(length: int) -> int:
    """The longest area code a format for numbers of this length can give (its first group)."""
    bound = 0
    for f in _formats():
        if not any(len(s) == length for s in _lang(f.pattern)):
            continue
        for op, av in _sre.parse(f.pattern):
            if op is _C.SUBPATTERN:
                bound = max(bound, max((len(s) for s in _seq(av[3], MAX_NSN)), default=0))
                break
    return bound


def _features(length: int):
    m = _metadata()
    descs, fmts = [], []
    for name in _DESCS:
        d = getattr(m, name)
        if d is None or not d.national_number_pattern:
            continue
        if d.possible_length and length not in d.possible_length:
            continue
        descs.append((name, True, [s for s in _lang(d.national_number_pattern) if len(s) == length]))
    for f in _formats():
        fmts.append(("format", True, [s for s in _lang(f.pattern) if len(s) == length]))
        if f.leading_digits_pattern:   # the library matches the last one at the start of the number
            fmts.append(("leading", False, [s for s in _lang(f.leading_digits_pattern[-1]) if len(s) <= length]))
    return descs, fmts


def _status(full: bool, seqs, k: int) -> int:
    """0: no number with this k-digit prefix matches, 1: every one does, 2: it depends on later digits."""
    if not seqs:
        return 0
    if full:
        return 1 if any(all(x == _DIG for x in s[k:]) for s in seqs) else 2
    return 1 if any(len(s) <= k for s in seqs) else 2


def _leaves(length: int) -> list[str]:
    """Prefixes (first digit 1-9) of national numbers of this length, prefix-free and covering them all, each
    deciding every pattern the library's verdict rests on."""
    descs, fmts = _features(length)
    need_area = length - _area_bound(length) < phones._MIN_LOCAL_DIGITS
    found: list[str] = []

    def walk(p, feats, act, area_phase):
        k = len(p)
        states = [_status(full, seqs, k) for (_, full, _), seqs in zip(feats, act)]
        if k == length or all(s != 2 for s in states):
            if not area_phase and need_area and k < length:
                names = [f[0] for f in feats]
                if "fixed_line" in names and states[names.index("fixed_line")] == 1:
                    more = [[s for s in seqs if all(p[i] in s[i] for i in range(min(k, len(s))))]
                            for _, _, seqs in fmts]
                    return walk(p, feats + fmts, act + more, True)
            found.append(p)
            return
        for d in "0123456789":
            walk(p + d, feats, [[s for s in seqs if len(s) <= k or d in s[k]] for seqs in act], area_phase)

    for d in "123456789":
        walk(d, descs, [[s for s in seqs if d in s[0]] for _, _, seqs in descs], False)
    return found


def library_type(nsn: str) -> tuple[int, int]:
    """libphonenumber's (type, geographical area-code length) of a mainland national number."""
    number = PhoneNumber(country_code=86, national_number=int(nsn))
    if not phonenumbers.is_valid_number(number):
        return _UNKNOWN, 0
    kind = int(phonenumbers.number_type(number))
    return kind, (phonenumbers.length_of_geographical_area_code(number) if kind in _FIXED else 0)


def build_leaves() -> pl.DataFrame:
    """The prefixes of mainland national numbers and libphonenumber's verdict on each: len (digits of the
    national number), prefix (its first digits: every number of that length starting so has the same type and
    area-code length), type (PhoneNumberType), area (area-code length of a landline). Only prefixes of a valid
    type are listed: a number matching none is invalid for every type."""
    rows = []
    for length in range(1, MAX_NSN + 1):
        for p in _leaves(length):
            kind, area = library_type(p.ljust(length, "0"))
            if kind != _UNKNOWN or len(p) > min(length, HEAD):
                rows.append((length, p, kind, area))
    return pl.DataFrame(rows, schema={"len": pl.UInt8, "prefix": pl.String, "type": pl.UInt8, "area": pl.UInt8},
                        orient="row")


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def leaves() -> pl.DataFrame:
    """build_leaves(), kept for the process and on disk in the user's cache folder (~/.cache/crm, keyed by the
    metadata's fingerprint: another phonenumbers release builds it again)."""
    folder = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "crm")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        folder = tempfile.gettempdir()
    path = os.path.join(folder, f"phone_prefixes_{_patterns_key()}.parquet")
    try:
        return pl.read_parquet(path)
    except Exception:  # noqa: BLE001 — absent or unreadable: build it again
        pass
    frame = build_leaves()
    try:
        tmp = f"{path}.{os.getpid()}.tmp"
        frame.write_parquet(tmp)
        os.replace(tmp, path)
    except OSError:
        pass
    return frame


@lru_cache(maxsize=1)
def prefixes() -> pl.DataFrame:
    """The lookup table: (len, head) -> type, area, mixed. A leaf of up to 4 digits is spread over the 4-digit
    heads it covers (the whole number when shorter), a deeper one over 6-digit heads; a number is looked up by
    its first 4 and its first 6 digits and finds at most one of them (the leaves are prefix-free). mixed: the
    type needs more than 6 digits — the library decides."""
    lv = leaves().with_columns(plen=pl.col("prefix").str.len_chars().cast(pl.Int32),
                               n=pl.col("len").cast(pl.Int32))
    lv = lv.with_columns(size=pl.when(pl.col("plen") <= SHORT).then(pl.min_horizontal("n", pl.lit(SHORT)))
                         .otherwise(pl.min_horizontal("n", pl.lit(HEAD))))
    deep = lv.filter(pl.col("plen") > pl.col("size"))
    parts = [deep.select("len", head=pl.col("prefix").str.slice(0, pl.col("size")), type=pl.lit(_UNKNOWN, pl.UInt8),
                         area=pl.lit(0, pl.UInt8), mixed=pl.lit(True)).unique(["len", "head"])]
    lv = lv.filter(pl.col("plen") <= pl.col("size")).with_columns(tail=pl.col("size") - pl.col("plen"))
    for tail in sorted(set(lv["tail"].to_list())):
        part = lv.filter(pl.col("tail") == tail)
        ends = pl.DataFrame({"end": [str(n).zfill(tail) if tail else "" for n in range(10 ** tail)]})
        parts.append(part.join(ends, how="cross").select(
            "len", head=pl.col("prefix") + pl.col("end"), type="type", area="area", mixed=pl.lit(False)))
    return pl.concat(parts).unique(["len", "head"], keep="first")


def _lookup(nsn: str) -> str:
    """FROM-clause joins giving kind, area, mixed for the national number expression nsn (aliases p4, p6)."""
    return (f"LEFT JOIN {TABLE} p4 ON length({nsn}) <= {MAX_NSN} AND p4.len = length({nsn}) "
            f"AND p4.head = left({nsn}, {SHORT}) "
            f"LEFT JOIN (SELECT * FROM {TABLE} WHERE length(head) > {SHORT}) p6 ON length({nsn}) <= {MAX_NSN} "
            f"AND p6.len = length({nsn}) AND p6.head = left({nsn}, {HEAD})")


_KIND = f"coalesce(p4.type, p6.type, {_UNKNOWN})"
_AREA = "coalesce(p4.area, p6.area, 0)"
_MIXED = "coalesce(p4.mixed, p6.mixed, false)"


def lookup(con, numbers: list[str]) -> list[tuple[str, int, int, bool]]:
    """(nsn, type, area, mixed) for national numbers, through the same join phones_sql uses (for tests)."""
    ensure_prefixes(con)
    frame = pl.DataFrame({"nsn": numbers}, schema={"nsn": pl.String})
    con.register("_lookup_numbers", frame)
    try:
        return con.sql(f"SELECT d.nsn, {_KIND}, {_AREA}, {_MIXED} FROM _lookup_numbers d {_lookup('d.nsn')}"  # sql-ok: constants
                       ).fetchall()
    finally:
        con.unregister("_lookup_numbers")


def ensure_prefixes(con) -> None:
    """The TEMP table phone_prefixes on this connection (a cursor is a connection of its own: it gets its own
    copy, about 80k rows, made in a few tens of milliseconds from the process's cached frame)."""
    with _LOCK:
        have = con.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary",
                       params=[TABLE]).fetchall()[0][0]
        if have:
            return
        frame = prefixes()
        con.register("_phone_prefixes_frame", frame)
        try:
            con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {TABLE} AS SELECT * FROM _phone_prefixes_frame")  # sql-ok: constant
        finally:
            con.unregister("_phone_prefixes_frame")


# ---------------------------------------------------------------- verdicts (the contract) and their SQL

def phone_verdict(raw) -> tuple[str | None, str | None]:
    """(E.164 or None, None or the refusal code): core.phones.normalise's answer."""
    try:
        return phones.normalise(raw), None
    except ValidationError as e:
        return None, e.key


def email_verdict(raw) -> tuple[str | None, str | None]:
    """(lower-case address or None, None or 'import.bad_email'); blank is None, None."""
    if raw is None:
        return None, None
    text = str(raw).strip().lower()
    if not text:
        return None, None
    if len(text) > _EMAIL_MAX or not _EMAIL.fullmatch(text):
        return None, "import.bad_email"
    return text, None


def reason_params(code: str | None, raw) -> dict:
    """The parameters the message of a refusal code needs ({phone}, {prefix}, {max}, {value})."""
    if not code:
        return {}
    shown = phones._shown(str(raw)[:64])
    params = {"phone": shown, "value": shown, "max": phones.MAX_CHARS, "prefix": ""}
    if code.startswith("phone."):
        try:
            phones.normalise(raw)
        except ValidationError as e:
            if e.key == code:
                params.update(e.params)
        except Exception:  # noqa: BLE001
            pass
    return params


# characters of the common shapes (after the translation below): digits, + and the separators core.phones drops
_FULL = "０１２３４５６７８９＋－（）．\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_ASCII = "0123456789+-(). -------"
_COMMON = "[0-9 ().+\\-" + _FULL + "]*"


# a number with an extension as people type it (core.phones._EXTENSION on the NFKC form, limited to characters
# whose NFKC form that pattern reads the same way): the number (group 1), separators, 转 / 分机 / ext / x, digits
_EXT = ("[0-9 ().+\\-" + _FULL + "]*[0-9０-９]" + ")[ \u3000,;，；]*(?:转|分机|(?i:ext\\.?|extension|x))"
        "[ \u3000.:：．]*[0-9０-９]{1,6}[ \u3000]*")
_EXT = "(" + _EXT


def _short_service(nsn: str) -> str:
    """SQL for core.phones._is_short_service(nsn) on a national number of 1-8 digits (first digit 1-9): the
    95 / 96 pattern, or libphonenumber's short-number check for CN (`is_valid_short_number_for_region` of the
    number parsed for CN), which for such a number is its two patterns and lengths — parsing strips nothing
    from a number this short (a carrier code or an international prefix would leave too few digits)."""
    meta = PhoneMetadata.short_metadata_for_region("CN")
    parts = [f"length({nsn}) >= 2"]
    for desc in (meta.general_desc, meta.short_code):
        if desc.possible_length:
            parts.append(f"length({nsn}) IN ({', '.join(str(n) for n in desc.possible_length)})")
        parts.append(f"regexp_full_match({nsn}, {_lit(desc.national_number_pattern)})")
    return (f"regexp_full_match({nsn}, {_lit(phones._SERVICE_DIGITS.pattern)}) OR ("
            + " AND ".join(parts) + ")")


def _q(name: str) -> str:
    """A quoted identifier (any name a file's header may give, quotes doubled)."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"bad identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_P = "__clean_"               # prefix of the helper columns (dropped at the end)


def _phone_select(table: str, column: str, out: str, reason: str, udf: str) -> str:
    """SELECT of table's columns plus out and reason, one pass; unusual rows call the Python function udf."""
    mob = ", ".join(str(x) for x in _MOBILE)
    fix = ", ".join(str(x) for x in _FIXED)
    svc = ", ".join(str(x) for x in _SERVICE)
    helpers = ", ".join(_P + x for x in ("raw", "early", "s", "dg", "plus", "x", "intl", "trunk", "nsn", "kind", "area",
                                          "mixed", "verdict", "py"))
    return f"""
WITH a AS (
  SELECT t.* EXCLUDE ({_exclude(out, reason)}), CAST(t.{column} AS VARCHAR) AS {_P}raw FROM {table} t),
b AS (
  SELECT *,
    CASE WHEN {_P}raw IS NULL THEN 'null'
         WHEN length({_P}raw) > {16 * phones.MAX_CHARS} THEN 'too_long'
         WHEN length({_P}raw) > {phones.MAX_CHARS} THEN 'py'
         WHEN regexp_full_match({_P}raw, {_lit(_COMMON)}) THEN NULL
         WHEN regexp_full_match({_P}raw, {_lit(_EXT)}) THEN 'ext'
         -- printable ASCII with a letter or symbol and no x / X (ext, x 123): no extension can be read in it
         WHEN regexp_full_match({_P}raw, '[\\x20-\\x7e]*') AND NOT regexp_matches({_P}raw, '[xX]')
         THEN 'invalid_chars'
         ELSE 'py' END AS {_P}early
  FROM a),
c AS (
  SELECT *,
    CASE WHEN {_P}early = 'ext' THEN trim(translate(regexp_extract({_P}raw, {_lit(_EXT)}, 1), {_lit(_FULL)},
                                                    {_lit(_ASCII)}))
         WHEN {_P}early IS NOT NULL THEN NULL
         WHEN strlen({_P}raw) = length({_P}raw) THEN trim({_P}raw)
         ELSE trim(translate({_P}raw, {_lit(_FULL)}, {_lit(_ASCII)})) END AS {_P}s
  FROM b),
c2 AS (
  SELECT *, replace(replace(replace(replace(replace({_P}s, ' ', ''), '-', ''), '.', ''), '(', ''), ')', '') AS {_P}y
  FROM c),
d AS (
  SELECT * EXCLUDE ({_P}y),
    CASE WHEN {_P}s <> '' AND NOT contains({_P}y[2:], '+') THEN replace({_P}y, '+', '') END AS {_P}dg,
    coalesce(starts_with({_P}y, '+'), false) AS {_P}plus
  FROM c2),
e AS (
  SELECT *,
    CASE WHEN {_P}dg IS NULL OR {_P}dg = '' THEN NULL
         WHEN {_P}plus AND starts_with({_P}dg, '86') THEN {_P}dg[3:]
         WHEN {_P}plus THEN NULL
         WHEN starts_with({_P}dg, '0086') THEN {_P}dg[5:]
         WHEN starts_with({_P}dg, '00') THEN NULL
         WHEN starts_with({_P}dg, '86') AND length({_P}dg) >= 12 THEN {_P}dg[3:]
         ELSE {_P}dg END AS {_P}x,
    coalesce({_P}plus OR starts_with({_P}dg, '00') OR (starts_with({_P}dg, '86') AND length({_P}dg) >= 12), false)
      AS {_P}intl
  FROM d),
f AS (
  SELECT *, starts_with({_P}x, '0') AS {_P}trunk,
    CASE WHEN starts_with({_P}x, '0') THEN {_P}x[2:] ELSE {_P}x END AS {_P}nsn
  FROM e),
g AS (
  SELECT f.*, {_KIND} AS {_P}kind, {_AREA} AS {_P}area, {_MIXED} AS {_P}mixed
  FROM f {_lookup("f." + _P + "nsn")}),
h0 AS (
  SELECT *,
    CASE
      WHEN {_P}early = 'null' THEN 'empty'
      WHEN {_P}early = 'too_long' THEN 'phone.too_long'
      WHEN {_P}early = 'invalid_chars' THEN 'phone.invalid_chars'
      WHEN {_P}early = 'py' THEN 'py'
      WHEN {_P}s = '' THEN 'empty'
      WHEN {_P}dg IS NULL THEN 'phone.invalid_chars'
      WHEN {_P}dg = '' THEN 'phone.invalid'
      WHEN {_P}x IS NULL THEN 'py'
      WHEN {_P}nsn = '' THEN 'phone.invalid'
      WHEN starts_with({_P}nsn, '0') THEN 'py'
      WHEN {_P}mixed THEN 'py'
      WHEN starts_with({_P}nsn, '1') AND length({_P}nsn) = 11 AND {_P}kind IN ({mob}) THEN
        CASE WHEN {_P}trunk THEN 'phone.padded' ELSE 'ok' END
      WHEN {_P}kind IN ({fix}) AND ({_P}trunk OR {_P}intl) THEN
        CASE WHEN {_P}area > 0 AND length({_P}nsn) - {_P}area < {phones._MIN_LOCAL_DIGITS} THEN 'phone.service_number'
             ELSE 'ok' END
      WHEN {_P}kind IN ({svc}) THEN 'phone.service_number'
      WHEN NOT {_P}trunk AND length({_P}nsn) <= 8 AND ({_short_service(_P + "nsn")}) THEN 'phone.service_number'
      WHEN {_P}trunk THEN 'phone.bad_landline'
      WHEN starts_with({_P}nsn, '1') AND length({_P}nsn) = 11 THEN 'phone.unassigned_mobile'
      WHEN starts_with({_P}nsn, '1') THEN 'phone.bad_mobile'
      WHEN {_P}kind IN ({fix}) THEN 'phone.bad_landline'
      WHEN NOT {_P}intl AND length({_P}nsn) IN (7, 8) THEN 'phone.no_area_code'
      ELSE 'phone.invalid' END AS {_P}verdict0
  FROM g),
h AS (
  -- a number with an extension: refused as such when the number before it is good, else for its characters
  SELECT * EXCLUDE ({_P}verdict0),
    CASE WHEN {_P}early IS DISTINCT FROM 'ext' OR {_P}verdict0 = 'py' THEN {_P}verdict0
         WHEN {_P}verdict0 = 'ok' THEN 'phone.extension'
         ELSE 'phone.invalid_chars' END AS {_P}verdict
  FROM h0),
i AS (
  SELECT *, CASE WHEN {_P}verdict = 'py' THEN {udf}({_P}raw) END AS {_P}py FROM h)
SELECT * EXCLUDE ({helpers}),
  CASE WHEN {_P}verdict = 'ok' THEN '+86' || {_P}nsn
       WHEN {_P}verdict = 'py' AND starts_with({_P}py, '+') THEN {_P}py END AS {out},
  CASE WHEN {_P}verdict LIKE 'phone.%' THEN {_P}verdict
       WHEN {_P}verdict = 'py' AND {_P}py <> '' AND NOT starts_with({_P}py, '+') THEN {_P}py END AS {reason}
FROM i"""


def _email_select(table: str, column: str, out: str, reason: str, udf: str) -> str:
    # printable ASCII is decided in SQL (Python's strip / lower / \s agree with trim / lower / ' ' there)
    ok = f"length({_P}s) <= {_EMAIL_MAX} AND regexp_full_match({_P}s, '[^@ ]+@[^@ ]+\\.[^@ ]+')"
    return f"""
WITH a AS (
  SELECT t.* EXCLUDE ({_exclude(out, reason)}), CAST(t.{column} AS VARCHAR) AS {_P}raw FROM {table} t),
b AS (
  SELECT *, {_P}raw IS NOT NULL AND length({_P}raw) <= 4096 AND regexp_full_match({_P}raw, '[\\x20-\\x7e]*')
              AS {_P}plain,
         lower(trim({_P}raw)) AS {_P}s
  FROM a),
c AS (
  SELECT *, CASE WHEN {_P}raw IS NOT NULL AND NOT {_P}plain THEN {udf}({_P}raw) END AS {_P}py FROM b)
SELECT * EXCLUDE ({_P}raw, {_P}plain, {_P}s, {_P}py),
  CASE WHEN {_P}plain AND {_P}s <> '' AND {ok} THEN {_P}s
       WHEN NOT {_P}plain AND {_P}py <> '' AND {_P}py <> 'import.bad_email' THEN {_P}py END AS {out},
  CASE WHEN {_P}plain AND {_P}s <> '' AND NOT ({ok}) THEN 'import.bad_email'
       WHEN NOT {_P}plain AND {_P}py = 'import.bad_email' THEN {_P}py END AS {reason}
FROM c"""


_STATS = threading.local()


def _exclude(out: str, reason: str) -> str:
    return ", ".join((out, reason))


def last_stats() -> dict:
    """Counts of the last phones_sql / emails_sql call of this thread: rows that took the Python path."""
    return dict(getattr(_STATS, "value", {}))


def phones_sql(con, table: str, column: str, out: str = "phone_norm", reason: str = "phone_reason") -> None:
    """Add columns out (E.164 or NULL) and reason (NULL or a 'phone.*' catalogue key) to table (replacing them
    if present). The table is rebuilt (CREATE OR REPLACE, TEMP kept); key its rows by a column such as _row."""
    ensure_prefixes(con)

    def fallback(raw):
        calls[0] += 1
        e164, code = phone_verdict(raw)
        return e164 or code or ""

    calls = [0]
    _run(con, table, column, out, reason, fallback, _phone_select)
    _STATS.value = {"python": calls[0]}


def emails_sql(con, table: str, column: str, out: str = "email_norm", reason: str = "email_reason") -> None:
    """Add columns out (trimmed, lower-case address or NULL) and reason (NULL or 'import.bad_email')."""
    def fallback(raw):
        calls[0] += 1
        value, code = email_verdict(raw)
        return value or code or ""

    calls = [0]
    _run(con, table, column, out, reason, fallback, _email_select)
    _STATS.value = {"python": calls[0]}


_UDF_SEQ = iter(range(1, 1 << 62))


def _run(con, table, column, out, reason, fallback, select) -> None:
    t = _q(table)
    temp = con.sql("SELECT temporary FROM duckdb_tables() WHERE table_name = ? ORDER BY temporary DESC LIMIT 1",
                   params=[table]).fetchall()
    cols = {r[0] for r in con.sql(f"DESCRIBE {t}").fetchall()}  # sql-ok: quoted identifier
    drop = [c for c in (out, reason) if c in cols] or []
    udf = f"{_P}fallback_{os.getpid()}_{next(_UDF_SEQ)}"
    con.create_function(udf, fallback, ["VARCHAR"], "VARCHAR", side_effects=True)
    try:
        body = select(t, _q(column), _q(out), _q(reason), udf)
        if drop:
            body = body.replace(f"t.* EXCLUDE ({_exclude(_q(out), _q(reason))})",
                                "t.* EXCLUDE (" + ", ".join(_q(c) for c in drop) + ")")
        else:
            body = body.replace(f"t.* EXCLUDE ({_exclude(_q(out), _q(reason))})", "t.*")
        con.execute(f"CREATE OR REPLACE {'TEMP ' if temp and temp[0][0] else ''}TABLE {t} AS {body}")  # sql-ok: quoted identifiers
    finally:
        con.remove_function(udf)


class Fused:
    """phones_sql and emails_sql over a query instead of a table, chained into one SELECT, so a caller makes its
    table once (`CREATE TABLE ... AS {sql}`) instead of rewriting it for every column. `add` the columns in
    order, run the SQL inside the `with` block (the Python fallbacks are registered there); `python` counts the
    rows that took the Python path, by kind."""

    def __init__(self, con, source: str) -> None:
        self.con = con
        self.sql = source                      # "(SELECT ...)" or a quoted table name
        self.python = {"phone": 0, "email": 0}
        self._udfs: list[tuple[str, object]] = []

    def add(self, kind: str, column: str, out: str, reason: str) -> None:
        if kind == "phone":
            ensure_prefixes(self.con)

            def fallback(raw):
                self.python["phone"] += 1
                e164, code = phone_verdict(raw)
                return e164 or code or ""
            select = _phone_select
        elif kind == "email":
            def fallback(raw):
                self.python["email"] += 1
                value, code = email_verdict(raw)
                return value or code or ""
            select = _email_select
        else:
            raise ValueError(kind)
        udf = f"{_P}fallback_{os.getpid()}_{next(_UDF_SEQ)}"
        body = select(self.sql, _q(column), _q(out), _q(reason), udf)
        self.sql = "(" + body.replace(f"t.* EXCLUDE ({_exclude(_q(out), _q(reason))})", "t.*") + ")"
        self._udfs.append((udf, fallback))

    def __enter__(self) -> str:
        for udf, fn in self._udfs:
            self.con.create_function(udf, fn, ["VARCHAR"], "VARCHAR", side_effects=True)
        return self.sql

    def __exit__(self, *exc) -> None:
        for udf, _ in self._udfs:
            try:
                self.con.remove_function(udf)
            except Exception:  # noqa: BLE001 - never registered (an error before) or gone with the connection
                pass
