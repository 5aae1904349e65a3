"""Phone numbers: the uniqueness key of customers and leads.

Accepted: an 11-digit mainland mobile (optionally +86 / 0086 / 86 in front), a valid mainland landline
with its area code, or an international number in +CC form that libphonenumber holds valid.
Separators (space, hyphen, dot, parentheses) are allowed; letters, other symbols and padding (extra 0s,
extra digits) are rejected, so a number cannot be disguised to slip past the duplicate check.
The normal form is E.164 (+8613800138000).
"""
from __future__ import annotations

import re

import phonenumbers

from core.errors import ValidationError

_ALLOWED = re.compile(r"^\+?[0-9 \-().]+$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


def normalise(raw: str | None) -> str | None:
    """E.164 form of a phone number, None for an empty value, ValidationError for a bad one."""
    if raw is None:
        return None
    text = str(raw).strip().replace("\u3000", " ")
    if not text:
        return None
    if not _ALLOWED.match(text) or text.count("+") > 1:
        raise ValidationError("phone.invalid_chars", phone=text)
    digits = re.sub(r"[^0-9]", "", text)
    international = text.startswith("+") or digits.startswith("00")
    if digits.startswith("0086"):
        digits, international = digits[4:], False
    elif text.startswith("+86"):
        digits, international = digits[2:], False
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if international:
        try:
            number = phonenumbers.parse("+" + digits.lstrip("0"), None)
        except phonenumbers.NumberParseException:
            raise ValidationError("phone.invalid", phone=text) from None
        if not phonenumbers.is_valid_number(number):
            raise ValidationError("phone.invalid", phone=text)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if digits.startswith("1"):
        if not _MOBILE.match(digits):
            raise ValidationError("phone.bad_mobile", phone=text)
        return "+86" + digits
    if digits.startswith("0"):
        try:
            number = phonenumbers.parse(digits, "CN")
        except phonenumbers.NumberParseException:
            raise ValidationError("phone.invalid", phone=text) from None
        if (
            not phonenumbers.is_valid_number(number)
            or phonenumbers.number_type(number) not in (
                phonenumbers.PhoneNumberType.FIXED_LINE,
                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
            )
            or phonenumbers.national_significant_number(number) != digits[1:]
        ):
            raise ValidationError("phone.bad_landline", phone=text)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise ValidationError("phone.invalid", phone=text)
