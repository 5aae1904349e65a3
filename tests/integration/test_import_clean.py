"""Cleaning of imported phones and e-mails, set-based (core/imports/clean.py).

The contract: phones_sql gives every row what core.phones.normalise gives its value (the same E.164 or the same
refusal code), and only rows of an unusual shape take the Python path. The prefix table it joins is generated from
libphonenumber's metadata; these tests hold it against the library itself, prefix by prefix."""
from __future__ import annotations

import random

import duckdb
import polars as pl
import pytest
from phonenumbers import PhoneNumberType as T

from core import phones
from core.imports import clean

MOBILE = {int(T.MOBILE), int(T.FIXED_LINE_OR_MOBILE)}
FW = str.maketrans("0123456789+-() ", "０１２３４５６７８９＋－（）\u3000")
AREAS = ["10", "20", "21", "22", "23", "24", "25", "27", "28", "29", "311", "371", "431", "451", "471", "531", "551",
         "571", "591", "731", "755", "769", "851", "871", "898", "931", "991", "335", "349", "979", "994", "310"]
ODD = ["abc", "138-0013-8000 转 123", "13800138000 ext 5", "138x0013", "TEL:138", "++8613800138000", "138+00138000",
       "\t13800138000\n", " ", "", "--", "()", "+", "\u200b13800138000", "１３８ ００１３ ８０００", "＋８６１３８００１３８０００",
       "（０２１）６２３４５６７８", "138\u201400138000", "13800138000\u3000", "\u3000", "٣١٣٨٠٠١٣٨٠٠٠", "x" * 100, "1" * 70,
       "1" * 1000 + "a", "9" * 2000, " " * 80 + "13800138000", "13800138000" + " " * 60, "+86 138-0013-8000",
       "138.0013.8000", "(138)00138000", "\u221213800138000", "\u201113800138000", "010-12345", "021-95588",
       "4008001234", "400-800-1234", "95588", "12345", "10086", "+8613800138000", "008613800138000", "8613800138000",
       "+86 (0) 21 6234 5678", "0086 21 6234 5678", "+86 21 6234 5678", "21 6234 5678", "62345678", "013800138000",
       "0013800138000", "+44 20 7946 0958", "+1 212 555 0100", "+852 2123 4567", "1" * (1 << 20), "x" * (1 << 20)]


def _digits(r, n):
    return "".join(r.choice("0123456789") for _ in range(n))


def mixed_sample(n: int, seed: int = 7) -> list[str | None]:
    """Valid and unassigned mobiles (with +86 / 0086 / 86, separators, full width, padding), landlines of many
    area codes and lengths, service numbers, international numbers, short and long digit strings, garbage."""
    r = random.Random(seed)
    heads = ["13", "14", "15", "16", "17", "18", "19", "10", "11", "12"]
    out: list[str | None] = []
    for _ in range(n):
        k = r.random()
        if k < 0.35:
            v = r.choice(heads) + _digits(r, 9)
        elif k < 0.45:
            v = "0" + r.choice(AREAS) + _digits(r, r.choice([5, 6, 7, 8, 9]))
        elif k < 0.5:
            v = r.choice(["+86", "0086", "86", "+86 ", "(+86)", "+86-", "+86 (0)"]) + r.choice(heads) + _digits(r, 9)
        elif k < 0.55:
            v = r.choice(["+86", "0086", "+86 ", "86"]) + r.choice(AREAS) + _digits(r, r.choice([6, 7, 8]))
        elif k < 0.6:
            v = r.choice(["0", "00", "000", "+860", "860"]) + r.choice(heads) + _digits(r, 9)
        elif k < 0.65:
            v = r.choice(["400", "800", "95", "96", "123", "100", "12345", "10086", "95588", "1010", "106"]) \
                + _digits(r, r.choice([0, 2, 3, 4, 5, 7]))
        elif k < 0.7:
            v = r.choice(["+1 ", "+44 ", "001", "+852 ", "+81-", "+49", "00852", "+", "+0"]) \
                + _digits(r, r.choice([6, 8, 10, 11]))
        elif k < 0.75:
            v = _digits(r, r.choice([1, 3, 5, 6, 7, 8, 9, 10, 12, 13, 14, 16]))
        elif k < 0.8:
            v = r.choice(ODD)
        else:
            v = r.choice(heads) + _digits(r, 9)
            shape = r.random()
            if shape < 0.3:
                v = v[:3] + r.choice([" ", "-", ".", "－", "\u3000", "--"]) + v[3:7] + r.choice([" ", "-"]) + v[7:]
            elif shape < 0.5:
                v = v.translate(FW)
            elif shape < 0.7:
                v = " " + v + "  "
        out.append(v)
    return out + [None] + ODD


def _table(con, values, name="rows", temp=True):
    frame = pl.DataFrame({"_row": list(range(2, len(values) + 2)), "v": values},
                         schema={"_row": pl.Int64, "v": pl.String})
    con.execute(f"CREATE {'TEMP ' if temp else ''}TABLE {name} AS SELECT * FROM frame")


@pytest.fixture(scope="module")
def mem():
    c = duckdb.connect()
    yield c
    c.close()


def _library(nsn: str) -> tuple[int, int]:
    return clean.library_type(nsn)


# ------------------------------------------------------------------ the prefix table against libphonenumber

def test_every_prefix_in_the_table_is_what_libphonenumber_says_for_numbers_built_from_it():
    r = random.Random(1)
    leaves = clean.leaves()
    assert leaves.height > 1000
    wrong = []
    for length, prefix, kind, area in leaves.iter_rows():
        tails = {"0" * (length - len(prefix)), "9" * (length - len(prefix)),
                 _digits(r, length - len(prefix)), _digits(r, length - len(prefix))}
        for tail in tails:
            if _library(prefix + tail) != (kind, area):
                wrong.append((prefix + tail, kind, area, _library(prefix + tail)))
    assert wrong == []


def test_every_mobile_prefix_not_in_the_table_is_invalid_as_a_mobile_for_libphonenumber():
    leaves = clean.leaves().filter(pl.col("len") == 11)
    mobile = [p for p, k in zip(leaves["prefix"], leaves["type"]) if k in MOBILE]
    assert "13" in mobile and "18" in mobile and "199" in mobile      # ranges in use
    assert not any(p.startswith(("140", "154", "160")) for p in mobile)  # ranges no network has been given
    r = random.Random(2)
    for size in (3, 4):
        for n in range(10 ** (size - 1), 2 * 10 ** (size - 1)):      # 100..199, 1000..1999
            start = str(n)
            covered = any(start.startswith(p) for p in mobile)
            partly = any(p.startswith(start) for p in mobile)
            for tail in ("0" * (11 - size), "9" * (11 - size), _digits(r, 11 - size)):
                kind, _ = _library(start + tail)
                if covered:
                    assert kind in MOBILE, start + tail
                elif not partly:
                    assert kind not in MOBILE, start + tail
    # 5-digit starts decide the rest (1740x): every one agrees
    for n in range(10000, 20000):
        start = str(n)
        in_table = any(start.startswith(p) for p in mobile)
        assert (_library(start + "000000")[0] in MOBILE) == in_table, start


def test_the_lookup_table_agrees_with_libphonenumber_on_random_numbers_of_every_length(mem):
    clean.ensure_prefixes(mem)
    r = random.Random(3)
    numbers = [r.choice("123456789") + _digits(r, size - 1) for size in range(1, 13) for _ in range(1500)]
    numbers += [p + _digits(r, 11 - len(p)) for p in ("13", "145", "1740", "1741", "1610", "1611", "154", "140")
                for _ in range(50)]
    numbers += ["0" * 0 + a + _digits(r, s) for a in AREAS for s in (5, 6, 7, 8)]
    found = clean.lookup(mem, numbers)
    assert len(found) == len(numbers)
    for nsn, kind, area, mixed in found:
        if not mixed:
            assert (kind, area) == _library(nsn), nsn


def test_the_table_is_built_once_per_connection(mem):
    clean.ensure_prefixes(mem)
    clean.ensure_prefixes(mem)
    assert mem.sql(f"SELECT count(*) FROM {clean.TABLE}").fetchall()[0][0] == clean.prefixes().height


# ------------------------------------------------------------------ phones_sql == core.phones.normalise

def test_phones_sql_agrees_with_core_phones_on_every_row_of_a_large_mixed_sample(mem):
    values = mixed_sample(40_000)
    _table(mem, values, "mixed")
    clean.phones_sql(mem, "mixed", "v")
    rows = mem.sql("SELECT _row, v, phone_norm, phone_reason FROM mixed ORDER BY _row").fetchall()
    assert [r[0] for r in rows] == list(range(2, len(values) + 2))        # every row kept, once
    wrong = [(v[:40] if v else v, out, reason, clean.phone_verdict(v)) for _, v, out, reason in rows
             if clean.phone_verdict(v) != (out, reason)]
    assert wrong == []
    reasons = {r[3] for r in rows}
    assert {None, "phone.unassigned_mobile", "phone.padded", "phone.service_number", "phone.bad_landline",
            "phone.invalid_chars", "phone.extension", "phone.too_long", "phone.invalid", "phone.no_area_code",
            "phone.bad_mobile"} <= reasons
    assert mem.sql("SELECT count(*) FROM mixed WHERE phone_norm LIKE '+86%' AND phone_reason IS NULL"
                   ).fetchall()[0][0] > 8_000


def test_short_numbers_and_numbers_with_an_extension_are_decided_in_sql_as_core_phones_decides_them(
        mem, monkeypatch):
    """Short service codes (10086, 95588, 12345 ...), digit strings too short for a number and numbers with an
    extension ("138 0013 8000 转 8", "021-62345678 ext. 12") were sent to libphonenumber row by row; a file of
    them needs no Python now, and every verdict is still the library's."""
    r = random.Random(9)
    values = [str(n) for n in range(1, 10_000)]                          # every number of 1-4 digits
    values += [str(n) for n in range(10_000, 20_000)] + [str(n) for n in range(90_000, 100_000)]
    heads = ["10", "11", "12", "179", "86", "95", "96", "106", "1", "2", "8", "9"]
    for _ in range(6_000):
        h = r.choice(heads)
        values.append(h + _digits(r, r.choice([6, 7, 8]) - len(h)))
    values += [r.choice(["+86 ", "0086", "+86-"]) + r.choice(["10086", "95588", "12345", "1", "110", "1065"])
               + _digits(r, r.choice([0, 1, 2, 3])) for _ in range(500)]
    numbers = ["13800138000", "14012345678", "013800138000", "021-62345678", "0755 8888 1234", "010-12345",
               "+86 138 0013 8000", "１３８００１３８０００", "138+00138000", "95588", "62345678"]
    for _ in range(4_000):
        values.append(r.choice(["", " ", "\u3000"]) + r.choice(numbers + [r.choice(["13", "15", "140"]) + _digits(r, 9)])
                      + r.choice(["", " ", ",", "，", "；", " , ", "\u3000"])
                      + r.choice(["转", "分机", "ext", "EXT.", "Ext", "x", "X", "extension"])
                      + r.choice(["", " ", ":", "：", ".", "．"]) + r.choice(["8", "12", "123456", "８８"])
                      + r.choice(["", " "]))
    values += ["62345678", "138 0013 8000 转 8"]
    monkeypatch.setattr(clean, "phone_verdict", lambda raw: pytest.fail(f"python path for {raw!r}"))
    _table(mem, values, "short_ext")
    clean.phones_sql(mem, "short_ext", "v")
    assert clean.last_stats()["python"] == 0
    monkeypatch.undo()
    rows = mem.sql("SELECT v, phone_norm, phone_reason FROM short_ext ORDER BY _row").fetchall()
    assert len(rows) == len(values)
    assert [(v, out, why, clean.phone_verdict(v)) for v, out, why in rows if clean.phone_verdict(v) != (out, why)] == []
    reasons = {why for _, _, why in rows}
    assert {"phone.service_number", "phone.bad_mobile", "phone.no_area_code", "phone.invalid", "phone.extension",
            "phone.invalid_chars"} <= reasons
    assert dict((v, why) for v, _, why in rows if v in ("10086", "95588", "12345", "62345678", "138 0013 8000 转 8")
                ) == {"10086": "phone.service_number", "95588": "phone.service_number",
                      "12345": "phone.service_number", "62345678": "phone.no_area_code",
                      "138 0013 8000 转 8": "phone.extension"}


def test_unusual_extensions_still_take_the_library_s_path_and_agree(mem):
    values = ["13800138000 ｘ 8", "13800138000\t转 8", "13800138000 転 8", "+1 212 555 0100 ext 5",
              "13800138000 转 1234567", "138 转 1234 转 5", "0000 ext 1", "①3800138000 转 8", "13800138000 转 8"]
    _table(mem, values, "odd_ext")
    clean.phones_sql(mem, "odd_ext", "v")
    assert 0 < clean.last_stats()["python"] < len(values)
    rows = mem.sql("SELECT v, phone_norm, phone_reason FROM odd_ext ORDER BY _row").fetchall()
    assert [(v, out, why) for v, out, why in rows if clean.phone_verdict(v) != (out, why)] == []
    assert rows[-1][2] == "phone.extension"


def _common(value: str | None) -> bool:
    """A common shape: ASCII or full-width digits and separators, at most one leading +, and once +86 / 0086 /
    86 is taken off, an 11-digit number starting with 1 or 0 + an area code and 7-8 digits."""
    if value is None or len(value) > 64:
        return False
    text = value.translate(str.maketrans("０１２３４５６７８９＋－（）．\u3000", "0123456789+-(). ")).strip(" ")
    if any(ch not in "0123456789+-(). " for ch in text) or text.count("+") > 1:
        return False
    if "+" in text and text.lstrip(" ().-")[0] != "+":
        return False
    digits = "".join(ch for ch in text if ch.isdigit())
    if "+" in text:
        if not digits.startswith("86"):
            return False
        digits = digits[2:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) >= 12:
        digits = digits[2:]
    return (len(digits) == 11 and digits[0] == "1") or (digits[:1] == "0" and digits[1:2] != "0"
                                                        and 10 <= len(digits) <= 12)


def test_only_unusual_rows_go_through_python(mem, monkeypatch):
    seen: list = []
    real = clean.phone_verdict

    def counted(raw):
        seen.append(raw)
        return real(raw)

    monkeypatch.setattr(clean, "phone_verdict", counted)
    values = mixed_sample(20_000, seed=11)
    _table(mem, values, "unusual")
    clean.phones_sql(mem, "unusual", "v")
    stats = clean.last_stats()
    assert stats["python"] == len(seen) > 0
    assert [v for v in seen if _common(v)] == []                   # no common shape took the slow path
    assert len(seen) < len(values) * 0.25
    wrong = [v for v, out, reason in mem.sql("SELECT v, phone_norm, phone_reason FROM unusual").fetchall()
             if real(v) != (out, reason)]
    assert wrong == []


def test_a_file_of_common_shapes_needs_no_python_at_all(mem, monkeypatch):
    monkeypatch.setattr(clean, "phone_verdict", lambda raw: pytest.fail(f"python path for {raw!r}"))
    r = random.Random(5)
    values = []
    for i in range(20_000):
        mob = r.choice(["13", "15", "18", "199", "145", "140", "154", "160", "1740", "1749"]) + _digits(r, 9)
        mob = mob[:11]
        values.append(r.choice(["", "+86", "0086", "86", "+86 ", "0", "(+86) "]) + mob)
        values.append((mob[:3] + " " + mob[3:7] + "-" + mob[7:]).translate(FW) if i % 2 else " " + mob + " ")
        values.append("0" + r.choice(AREAS) + "-" + _digits(r, r.choice([7, 8])))
        if i % 10 == 0:   # letters or symbols but no x: no extension can hide there
            values.append(r.choice(["13a", "TEL:", "n/a ", "138#", "phone "]) + mob)
    _table(mem, values, "common")
    clean.phones_sql(mem, "common", "v", out="p", reason="why")
    assert clean.last_stats()["python"] == 0
    monkeypatch.undo()
    rows = mem.sql("SELECT v, p, why FROM common").fetchall()
    assert [v for v, out, why in rows if clean.phone_verdict(v) != (out, why)] == []
    assert {why for _, _, why in rows} >= {None, "phone.unassigned_mobile", "phone.padded", "phone.invalid_chars"}


def test_phones_sql_keeps_the_table_its_columns_and_replaces_earlier_results(mem):
    _table(mem, ["13800138000", "1380013800"], "again", temp=False)
    clean.phones_sql(mem, "again", "v")
    clean.phones_sql(mem, "again", "v")
    cols = [r[0] for r in mem.sql("DESCRIBE again").fetchall()]
    assert cols == ["_row", "v", "phone_norm", "phone_reason"]
    assert mem.sql("SELECT phone_norm, phone_reason FROM again ORDER BY _row").fetchall() == [
        ("+8613800138000", None), (None, "phone.bad_mobile")]
    assert not mem.sql("SELECT temporary FROM duckdb_tables() WHERE table_name = 'again'").fetchall()[0][0]
    with pytest.raises(duckdb.CatalogException):
        clean.phones_sql(mem, 'again"; DROP TABLE again; --', "v")   # a name, never SQL
    assert mem.sql("SELECT count(*) FROM again").fetchall()[0][0] == 2
    mem.execute('CREATE TEMP TABLE "导入 行" AS SELECT \'１３８００１３８０００\' AS "手机 号"')
    clean.phones_sql(mem, "导入 行", "手机 号")
    assert mem.sql('SELECT phone_norm FROM "导入 行"').fetchall() == [("+8613800138000",)]


def test_every_phone_reason_is_a_catalogue_key_with_both_languages():
    from core.i18n import translate
    for code in ("phone.invalid", "phone.too_long", "phone.unassigned_mobile", "import.bad_email"):
        raw = "14012345678" if code == "phone.unassigned_mobile" else "bad value"
        params = clean.reason_params(code, raw)
        for lang in ("en", "zh"):
            text = translate(lang, code, **params)
            assert text and code not in text and "{" not in text


# ------------------------------------------------------------------ e-mails

EMAILS = ["wang@example.com", "  Li.Na@Example.COM ", "a@b", "no at sign", "two@@example.com", "x@y.z", "", "   ",
          "with space@example.com", "张伟@例子.中国", "Ｗang@example.com", "wang@example.com\u3000", "tab\t@x.com",
          "a" * 250 + "@x.com", "İlk@example.com", "mail@example.com.", "@example.com", "user@.com", None,
          "q" * 5000 + "@x.com", "ok+tag@sub.example.co.uk"]


def test_emails_sql_trims_lowercases_and_refuses_bad_addresses_like_the_python_rule(mem, monkeypatch):
    seen: list = []
    real = clean.email_verdict
    monkeypatch.setattr(clean, "email_verdict", lambda raw: seen.append(raw) or real(raw))
    r = random.Random(9)
    values = EMAILS * 50 + [f"user{i}@Example{r.randint(1, 99)}.com" for i in range(20_000)]
    _table(mem, values, "mails")
    clean.emails_sql(mem, "mails", "v")
    rows = mem.sql("SELECT v, email_norm, email_reason FROM mails").fetchall()
    assert [v for v, out, why in rows if real(v) != (out, why)] == []
    by_value = {v: (out, why) for v, out, why in rows}
    assert by_value["  Li.Na@Example.COM "] == ("li.na@example.com", None)
    assert by_value["no at sign"] == (None, "import.bad_email")
    assert by_value["   "] == (None, None)
    assert set(seen) <= {v for v in EMAILS if v is not None and not (v.isascii() and v.isprintable()
                                                                      and len(v) <= 4096)}
    assert clean.last_stats()["python"] == len(seen)


def test_the_prefix_table_survives_a_second_process_from_its_disk_copy(tmp_path):
    import subprocess
    import sys
    code = ("from core.imports import clean; import duckdb; c = duckdb.connect(); clean.ensure_prefixes(c); "
            "print(c.sql('SELECT count(*) FROM phone_prefixes').fetchall()[0][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) == clean.prefixes().height
    assert phones.normalise("+86 138 0013 8000") == "+8613800138000"


def test_the_table_in_use_is_the_one_the_metadata_gives_now_not_a_stale_copy():
    fresh = clean.build_leaves()
    assert fresh.sort(["len", "prefix"]).equals(clean.leaves().sort(["len", "prefix"]))
    mobile = set(fresh.filter((pl.col("len") == 11) & pl.col("type").is_in(list(MOBILE)))["prefix"])
    assert {"13", "18", "145", "1740", "19"} & mobile == {"13", "18", "145"}   # 1740 is split further, 19x by digit
