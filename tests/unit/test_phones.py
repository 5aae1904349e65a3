"""Phone numbers: normalised to one key; padding, letters and symbols are rejected."""
import pytest

from core.errors import ValidationError
from core.phones import normalise


@pytest.mark.parametrize("raw", ["13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000",
                                 "008613800138000", "8613800138000", " 13800138000 "])
def test_one_mainland_mobile_in_any_usual_form_has_one_key(raw):
    assert normalise(raw) == "+8613800138000"


@pytest.mark.parametrize("raw,key", [("010-62345678", "+861062345678"), ("(021) 6234 5678", "+862162345678"),
                                     ("0755-86013388", "+8675586013388")])
def test_landlines_with_area_code_are_accepted(raw, key):
    assert normalise(raw) == key


@pytest.mark.parametrize("raw,why", [
    ("138001380000", "phone.bad_mobile"),      # padded with a 0
    ("0013800138000", "phone.invalid"),        # leading zeros
    ("1380013800a", "phone.invalid_chars"),    # a letter
    ("13800138000#", "phone.invalid_chars"),   # a symbol
    ("1380013800", "phone.bad_mobile"),        # one digit short
    ("12345678901", "phone.bad_mobile"),       # not a mobile prefix
    ("0106234567800", "phone.bad_landline"),   # landline padded
])
def test_disguised_or_wrong_numbers_are_rejected_with_the_reason(raw, why):
    with pytest.raises(ValidationError) as err:
        normalise(raw)
    assert err.value.key == why


def test_an_empty_phone_is_no_phone():
    assert normalise("") is None and normalise(None) is None and normalise("  ") is None
