"""Phone numbers: the uniqueness key of customers and leads.

What is accepted, each by libphonenumber's verdict (`phonenumbers`, pinned) and never by a home-made pattern:

- a mainland mobile: 11 digits starting with 1 (optionally +86 / 0086 / 86 in front) that libphonenumber
  holds valid and of type mobile; a number from a range no network has been given (140, 154, 160, …) is
  refused with its own reason;
- a mainland landline: 0, the area code and the number (or +86 and the area code without the 0) that
  libphonenumber holds valid and of type fixed line;
- an international number in +CC / 00CC form that libphonenumber holds valid.

Service numbers are refused with their own reason: 400 / 800 hotlines, 95xxx / 96xxx, 12345, 10086 and
other short codes, premium-rate and shared-cost numbers, and a short service code behind an area code
(010-12345, 021-95588). They belong to a company's switchboard, not to a customer, and as a
uniqueness key one hotline would block every other customer who gave it.

Input is taken as people type it: full-width digits and signs from Chinese input methods (１３９,
＋８６, （０２１）, －), (+86), +86-, 0086, spaces, dots and dashes. Letters, other symbols, control
characters and padding (a 0 before a mobile, extra digits) are refused, so a number cannot be disguised
to slip past the duplicate check. The normal form is E.164 (+8613800138000).
"""
from __future__ import annotations

import re
import reprlib
import unicodedata
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType as T
from phonenumbers import shortnumberinfo

from core.errors import ValidationError

MAX_CHARS = 64            # longer input is refused before any other work (no regex runs over 1 MB)

MOBILE, LANDLINE, INTERNATIONAL = "mobile", "landline", "international"

_MOBILE_TYPES = (T.MOBILE, T.FIXED_LINE_OR_MOBILE)
_FIXED_TYPES = (T.FIXED_LINE, T.FIXED_LINE_OR_MOBILE)
_SERVICE_TYPES = (T.TOLL_FREE, T.PREMIUM_RATE, T.SHARED_COST, T.UAN, T.VOICEMAIL)
_MIN_LOCAL_DIGITS = 7     # a mainland subscriber number has 7 or 8 digits after the area code

# after NFKC: the separators people type between digit groups (dashes of every width included)
_SEPARATORS = frozenset(" -.()\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
_DIGITS = frozenset("0123456789")
# an extension written after the number: 转 / 分机 / ext / x and up to six digits
_EXTENSION = re.compile(r"(.*?[0-9])[\s,;，；]*(?:转|分机|ext\.?|extension|x)[\s.:：]*[0-9]{1,6}", re.IGNORECASE)
# national service numbers that libphonenumber's short-number data does not all list (95105888 …)
_SERVICE_DIGITS = re.compile(r"(?:95|96)[0-9]{3,6}")


class Phone(NamedTuple):
    e164: str
    kind: str             # MOBILE, LANDLINE or INTERNATIONAL


def normalise(raw: str | int | None) -> str | None:
    """E.164 form of a phone number, None for an empty value, ValidationError for a bad one."""
    found = describe(raw)
    return None if found is None else found.e164


def kind(raw: str | int | None) -> str | None:
    """'mobile', 'landline' or 'international' (None when empty); ValidationError for a bad number."""
    found = describe(raw)
    return None if found is None else found.kind


def describe(raw: str | int | None) -> Phone | None:
    """The E.164 key and the kind of a phone number, None for an empty value."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ValidationError("phone.invalid", phone=_shown(reprlib.repr(raw)))
    text = str(raw)
    if len(text) > 16 * MAX_CHARS:          # cheap refusal before even stripping a huge string
        raise ValidationError("phone.too_long", max=MAX_CHARS)
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_CHARS:
        raise ValidationError("phone.too_long", max=MAX_CHARS)
    return _describe(text)


@lru_cache(maxsize=4096)
def _describe(text: str) -> Phone:
    shown = _shown(text)
    plain = _plain(text)
    if plain is None:
        ext = _EXTENSION.fullmatch(unicodedata.normalize("NFKC", text).strip())
        if ext and _plain(ext.group(1)) is not None:
            try:
                _describe(ext.group(1).strip())
            except ValidationError:
                pass
            else:
                raise ValidationError("phone.extension", phone=shown)
        raise ValidationError("phone.invalid_chars", phone=shown)
    plus, digits = plain
    if not digits:
        raise ValidationError("phone.invalid", phone=shown)
    if plus or digits.startswith("00"):
        number = digits if plus else digits[2:]
        if number.startswith("86"):
            return _mainland(number[2:], shown, international=True)
        return _international(number, digits, shown, plus=plus)
    if digits.startswith("86") and len(digits) >= 12:     # 86 without its +: no 12+ digit mainland number starts so
        return _mainland(digits[2:], shown, international=True)
    return _mainland(digits, shown, international=False)


def _plain(text: str) -> tuple[bool, str] | None:
    """(a + was typed, the digits) once full-width forms and separators are taken out; None when a
    letter, a symbol, a control character or a misplaced + is in the way."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = "".join(_ascii_digit(ch) for ch in text)
    digits: list[str] = []
    plus = False
    for ch in text:
        if ch in _DIGITS:
            digits.append(ch)
        elif ch in _SEPARATORS:
            continue
        elif ch == "+" and not plus and not digits:
            plus = True
        else:
            return None
    return plus, "".join(digits)


def _ascii_digit(ch: str) -> str:
    if ch.isascii():
        return ch
    if ch.isdecimal():                  # digits of other scripts (٣, ३ …)
        return str(unicodedata.decimal(ch))
    if unicodedata.category(ch) == "Cf":  # invisible marks copied along with a number (U+200B, U+202A …)
        return ""
    if ch.isspace() and unicodedata.category(ch) == "Zs":
        return " "
    return ch


def _type(nsn: str) -> int:
    """libphonenumber's type of a mainland national significant number (UNKNOWN when not valid)."""
    number = PhoneNumber(country_code=86, national_number=int(nsn))
    if not phonenumbers.is_valid_number(number):
        return T.UNKNOWN
    return phonenumbers.number_type(number)


def _is_mobile(nsn: str) -> bool:
    return len(nsn) == 11 and nsn[0] == "1" and _type(nsn) in _MOBILE_TYPES


def _mainland(digits: str, shown: str, *, international: bool) -> Phone:
    trunk = digits.startswith("0")       # the 0 of the area code ("(0)" after +86 as well)
    nsn = digits[1:] if trunk else digits
    if not nsn:
        raise ValidationError("phone.invalid", phone=shown)
    if nsn[0] == "0":                    # 00…: nothing starts so but a padded number
        if _is_mobile(nsn.lstrip("0")):
            raise ValidationError("phone.padded", phone=shown)
        raise ValidationError("phone.bad_landline", phone=shown)
    kind = _type(nsn) if len(nsn) <= 12 else T.UNKNOWN
    if nsn[0] == "1" and len(nsn) == 11 and kind in _MOBILE_TYPES:
        if trunk:
            raise ValidationError("phone.padded", phone=shown)
        return Phone("+86" + nsn, MOBILE)
    if kind in _FIXED_TYPES and (trunk or international):
        number = PhoneNumber(country_code=86, national_number=int(nsn))
        area = phonenumbers.length_of_geographical_area_code(number)
        if area and len(nsn) - area < _MIN_LOCAL_DIGITS:
            raise ValidationError("phone.service_number", phone=shown)
        return Phone("+86" + nsn, LANDLINE)
    if kind in _SERVICE_TYPES or (not trunk and _is_short_service(nsn)):
        raise ValidationError("phone.service_number", phone=shown)
    if trunk:
        raise ValidationError("phone.bad_landline", phone=shown)
    if nsn[0] == "1":
        if len(nsn) == 11:
            raise ValidationError("phone.unassigned_mobile", phone=shown, prefix=_unassigned_prefix(nsn[:5]))
        raise ValidationError("phone.bad_mobile", phone=shown)
    if kind in _FIXED_TYPES:             # area code typed without its 0 (21 6234 5678)
        raise ValidationError("phone.bad_landline", phone=shown)
    if not international and len(nsn) in (7, 8):
        raise ValidationError("phone.no_area_code", phone=shown)
    raise ValidationError("phone.invalid", phone=shown)


def _is_short_service(nsn: str) -> bool:
    if len(nsn) > 8:
        return False
    if _SERVICE_DIGITS.fullmatch(nsn):
        return True
    try:
        return shortnumberinfo.is_valid_short_number_for_region(phonenumbers.parse(nsn, "CN"), "CN")
    except phonenumbers.NumberParseException:
        return False


@lru_cache(maxsize=1024)
def _unassigned_prefix(head: str) -> str:
    """The shortest start (3 to 5 digits) of an 11-digit number that no valid mainland mobile shares,
    for the message. libphonenumber's mobile ranges are decided by the first digits only, so a number
    with those digits and any tail stands for all of them."""
    for size in (3, 4, 5):
        start = head[:size]
        if not any(_is_mobile((start + str(d)).ljust(11, tail)) for d in range(10) for tail in "09"):
            return start
    return head[:5]


def _international(number: str, digits: str, shown: str, *, plus: bool) -> Phone:
    if not number or number[0] == "0":
        if _is_mobile(digits.lstrip("0")):
            raise ValidationError("phone.padded", phone=shown)
        raise ValidationError("phone.invalid", phone=shown)
    try:
        parsed = phonenumbers.parse("+" + number, None)
    except phonenumbers.NumberParseException:
        raise ValidationError("phone.invalid", phone=shown) from None
    if not phonenumbers.is_valid_number(parsed):
        if not plus and _is_mobile(digits.lstrip("0")):     # 0013800138000: zeros before a mobile
            raise ValidationError("phone.padded", phone=shown)
        raise ValidationError("phone.invalid", phone=shown)
    if phonenumbers.number_type(parsed) in _SERVICE_TYPES:
        raise ValidationError("phone.service_number", phone=shown)
    return Phone(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), INTERNATIONAL)


def _shown(text: str, limit: int = 40) -> str:
    """The input as it may be echoed in a message: no control, invisible or unpaired characters, short."""
    safe = "".join(ch if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF else "\ufffd" for ch in text)
    return safe if len(safe) <= limit else safe[:limit] + "…"
