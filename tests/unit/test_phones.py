"""Phone numbers: one key per number however it is typed; libphonenumber decides what is a mobile, a
landline or neither; padding, letters, symbols and service numbers are refused with a reason."""
import time

import phonenumbers
import pytest
from hypothesis import given, settings, strategies as st
from phonenumbers import PhoneNumberType as T

from core import phones
from core.errors import ValidationError
from core.i18n import translate
from core.phones import normalise


def reason(raw) -> str:
    with pytest.raises(ValidationError) as err:
        normalise(raw)
    return err.value.key


def libphonenumber_says_mobile(national: str) -> bool:
    """The expected verdict, computed through libphonenumber's own parser (not the module's path)."""
    number = phonenumbers.parse("+86" + national)
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
        T.MOBILE, T.FIXED_LINE_OR_MOBILE)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


# ------------------------------------------------------------------ as people type them

@pytest.mark.parametrize("raw", ["13800138000", "138 0013 8000", "138-0013-8000", "138.0013.8000", "+86 138 0013 8000",
                                 "+86-138-0013-8000", "(+86)13800138000", "(+86) 138-0013-8000", "+8613800138000", "008613800138000", "0086 138 0013 8000", "8613800138000",
                                 " 13800138000 ", "１３８００１３８０００", "１３８　００１３　８０００", "（＋８６）１３８－００１３－８０００",
                                 "＋８６ １３８ ００１３ ８０００", "００８６１３８００１３８０００", "138\u20140013\u20148000",
                                 "\u202a13800138000\u202c", "138\u200b0013\u00a08000"])
def test_one_mainland_mobile_in_any_usual_form_has_one_key(raw):
    assert normalise(raw) == "+8613800138000"


@pytest.mark.parametrize("ascii_form", ["13912345678", "+86 199 8765 4321", "(+86)166-0000-1111", "010-62345678",
                                        "0755 8601 3388", "+1 212 555 0123", "0086 (21) 6234 5678"])
def test_full_width_and_bracketed_country_code_give_the_ascii_key(ascii_form):
    key = normalise(ascii_form)
    assert key is not None
    assert normalise(full_width(ascii_form)) == key
    bare = ascii_form.removeprefix("+86").removeprefix("(+86)").removeprefix("0086").strip()
    if ascii_form != bare:      # the same number written with (+86), +86- and ＋８６ in front
        assert normalise("(+86)" + bare) == normalise("+86-" + bare) == normalise("＋８６" + full_width(bare)) == key


# ------------------------------------------------------------------ mainland mobiles by libphonenumber

PREFIXES = [str(p) for p in range(130, 200)]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_1xx_prefix_is_accepted_exactly_when_libphonenumber_holds_it_a_mobile(prefix):
    wrong = []
    for head in range(100):                 # the 4th and 5th digits decide ranges such as 1610 and 17400–17405
        for tail in ("000000", "123456", "999999"):
            national = f"{prefix}{head:02d}{tail}"
            expected = libphonenumber_says_mobile(national)
            try:
                got = normalise(national)
            except ValidationError as err:
                got = err.key
            if expected and got != "+86" + national or not expected and got != "phone.unassigned_mobile":
                wrong.append((national, expected, got))
    assert wrong == []


@pytest.mark.parametrize("national", ["14012345678", "14112345678", "14212345678", "14312345678", "14412345678",
                                      "14612345678", "14812345678", "14912345678", "15412345678", "16012345678",
                                      "16112345678", "16312345678", "16412345678", "16812345678", "16912345678",
                                      "17406123456", "17491234567", "17912345678", "19412345678", "12345678901"])
def test_numbers_from_unassigned_ranges_are_refused_with_the_range(national):
    with pytest.raises(ValidationError) as err:
        normalise(national)
    assert err.value.key == "phone.unassigned_mobile"
    assert national.startswith(err.value.params["prefix"]) and 3 <= len(err.value.params["prefix"]) <= 5


def test_the_message_names_the_shortest_unassigned_range():
    def prefix(national):
        with pytest.raises(ValidationError) as err:
            normalise(national)
        return err.value.params["prefix"]
    assert prefix("14012345678") == "140" and prefix("16112345678") == "1611" and prefix("17406123456") == "17406"


@pytest.mark.parametrize("national", ["13012345678", "13812345678", "13912345678", "14512345678", "14712345678",
                                      "15012345678", "16212345678", "16612345678", "16101234567", "17012345678",
                                      "17301234567", "17400123456", "17405999999", "18012345678", "19012345678",
                                      "19112345678", "19812345678", "19912345678"])
def test_numbers_from_assigned_ranges_are_mobiles(national):
    assert normalise(national) == "+86" + national
    assert phones.kind(national) == "mobile"


# ------------------------------------------------------------------ landlines

@pytest.mark.parametrize("raw,key", [("010-12345678", "+861012345678"), ("021 1234 5678", "+862112345678"),
                                     ("0755-12345678", "+8675512345678"), ("010-62345678", "+861062345678"),
                                     ("(021) 6234 5678", "+862162345678"), ("0755-86013388", "+8675586013388"),
                                     ("+86 10 6234 5678", "+861062345678"), ("+86 (0)10 6234 5678", "+861062345678"),
                                     ("０２１－６２３４５６７８", "+862162345678"), ("0086 755 8601 3388", "+8675586013388")])
def test_landlines_with_area_code_are_accepted(raw, key):
    assert normalise(raw) == key
    assert phones.kind(raw) == "landline"
    number = phonenumbers.parse(key)
    assert phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) == T.FIXED_LINE


@pytest.mark.parametrize("raw,why", [
    ("62345678", "phone.no_area_code"),        # the area code is missing
    ("6234567", "phone.no_area_code"),
    ("21 6234 5678", "phone.bad_landline"),    # the area code without its 0
    ("0106234567800", "phone.bad_landline"),   # landline padded
    ("010-6234", "phone.bad_landline"),        # too short
    ("0001062345678", "phone.invalid"),       # 00 and no country code
])
def test_landlines_without_their_area_code_or_padded_are_refused(raw, why):
    assert reason(raw) == why


# ------------------------------------------------------------------ service numbers: refused, with their own reason

@pytest.mark.parametrize("raw", ["400-810-8888", "4008123123", "800 810 8888", "95588", "95105888", "12345", "10086",
                                 "12306", "110", "010-12345", "021-95588", "+86 400 810 8888", "1010 9999",
                                 "+1 800 555 0100"])
def test_service_numbers_are_not_a_customers_number(raw):
    assert reason(raw) == "phone.service_number"


def test_service_types_follow_libphonenumber():
    for national in ("4008123123", "8008100000", "9501234567", "10109999", "16012345"):
        number = phonenumbers.parse(national, "CN")
        assert phonenumbers.number_type(number) in (T.TOLL_FREE, T.SHARED_COST, T.PREMIUM_RATE)
        assert reason(national) == "phone.service_number"


# ------------------------------------------------------------------ padding, letters, symbols

@pytest.mark.parametrize("raw,why", [
    ("013800138000", "phone.padded"),          # a mobile padded with a 0
    ("０１３８００１３８０００", "phone.padded"),
    ("0013800138000", "phone.padded"),         # two zeros
    ("+86 013800138000", "phone.padded"),
    ("86013800138000", "phone.padded"),
    ("138001380000", "phone.bad_mobile"),      # one digit too many
    ("1380013800", "phone.bad_mobile"),        # one digit short
    ("1380013800a", "phone.invalid_chars"),    # a letter
    ("１３８００１３８００Ａ", "phone.invalid_chars"),
    ("13800138000#", "phone.invalid_chars"),   # a symbol
    ("138/0013/8000", "phone.invalid_chars"),
    ("13800+138000", "phone.invalid_chars"),   # a + inside
    ("++8613800138000", "phone.invalid_chars"),
    ("138\x000138000", "phone.invalid_chars"),  # NUL
    ("138\t0013\t8000", "phone.invalid_chars"),  # control characters
    ("138\ud8000138000", "phone.invalid_chars"),  # a lone surrogate
    ("13800138000 转 8001", "phone.extension"),
    ("010-62345678 ext. 12", "phone.extension"),
    ("+", "phone.invalid"),
    ("+0013800138000", "phone.padded"),
    ("+1 555 0100", "phone.invalid"),
])
def test_disguised_or_wrong_numbers_are_rejected_with_the_reason(raw, why):
    assert reason(raw) == why


def test_the_echoed_number_carries_no_control_or_unpaired_character():
    for raw in ("138\x000138000", "138\ud8000138000", "\x1b[31m13800138000"):
        with pytest.raises(ValidationError) as err:
            normalise(raw)
        shown = err.value.params["phone"]
        assert shown.isprintable() and not any(0xD800 <= ord(c) <= 0xDFFF for c in shown)
        shown.encode("utf-8")


def test_a_megabyte_is_refused_at_once():
    start = time.perf_counter()
    for filler in ("1" * 1_000_000, "１" * 1_000_000, " " * 999_999 + "1", "(" * 1_000_000, "1-" * 500_000):
        with pytest.raises(ValidationError) as err:
            normalise(filler)
        assert err.value.key == "phone.too_long" and "phone" not in err.value.params
    assert time.perf_counter() - start < 0.5
    assert reason("1" * (phones.MAX_CHARS + 1)) == "phone.too_long"


# ------------------------------------------------------------------ international numbers

@pytest.mark.parametrize("raw,key", [("+1 212 555 0123", "+12125550123"), ("0012125550123", "+12125550123"),
                                     ("+44 20 7946 0958", "+442079460958"), ("+852 9123 4567", "+85291234567"),
                                     ("＋８５２　９１２３　４５６７", "+85291234567"), ("(+81) 90-1234-5678", "+819012345678")])
def test_international_numbers_libphonenumber_holds_valid_are_accepted(raw, key):
    assert normalise(raw) == key
    assert phones.kind(raw) == "international"


def test_empty_and_non_text_values():
    assert normalise("") is None and normalise(None) is None and normalise("  ") is None and normalise("\u3000") is None
    assert phones.kind(None) is None
    assert normalise(13800138000) == "+8613800138000"
    for value in (True, 1.38e10, ["13800138000"], {"p": 1}):
        assert reason(value) == "phone.invalid"


def test_every_reason_reads_in_english_and_in_chinese():
    keys = {"phone.padded", "phone.bad_mobile", "phone.unassigned_mobile", "phone.bad_landline", "phone.no_area_code",
            "phone.service_number", "phone.invalid_chars", "phone.extension", "phone.invalid", "phone.too_long"}
    for key in keys:
        params = {"phone": "13800138000", "prefix": "140", "max": 64}
        en, zh = translate("en", key, **params), translate("zh", key, **params)
        assert en != key and "{" not in en and "{" not in zh
        assert any("\u4e00" <= c <= "\u9fff" for c in zh)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet="0123456789０１２３４５６７８９ +-()（）＋－.", max_size=24)))
def test_any_text_gives_a_valid_key_or_a_typed_refusal(raw):
    try:
        key = normalise(raw)
    except ValidationError as err:
        assert err.key.startswith("phone.")
        return
    if key is not None:
        number = phonenumbers.parse(key)
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == key
        assert phonenumbers.number_type(number) not in (T.TOLL_FREE, T.PREMIUM_RATE, T.SHARED_COST)


def test_normalising_is_fast_enough_for_imports():
    numbers = [f"1{3 + i % 7}{i % 10}{i:08d}" for i in range(20_000)]     # distinct, so no cache helps
    start = time.perf_counter()
    for raw in numbers:
        try:
            normalise(raw)
        except ValidationError:
            pass
    assert time.perf_counter() - start < 4.0       # about 0.4 s here: 100k in about 2 s
