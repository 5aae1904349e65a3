"""Fields are data: every field of an object has a kind with limits, and one function validates and
converts every value a service writes. Nothing else decides what may be stored.

A kind says what a value may be:
  text      one line, no control characters, at most `max_len` characters
  longtext  like text, but newlines and tabs are allowed
  int       a whole number within [min, max] (2.9 is refused, not cut to 2; True is not 1)
  number    a finite number within [min, max] (NaN, inf and 1e30 are refused)
  datetime  a moment within the date window (a date alone means 09:00 in the company's time zone)
  choice    one of the field's options (a fixed tuple, or the codes of a reference table)
  phone     a phone number core.phones accepts; stored with its normalised key
  email     an e-mail address, stored in lower case
  bool      yes or no

Every refusal is a ValidationError whose `field` parameter is the field's label key, so the user reads
the field's name in their language ("名称为必填项", never "name 为必填项").
"""
from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

from core import phones
from core.errors import ValidationError

DATE_MIN = dt.datetime(1990, 1, 1)
DATE_MAX = dt.datetime(2100, 1, 1)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WHOLE = re.compile(r"^[+-]?[0-9]+$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_SHOWN = 40  # characters of a bad value repeated in a message


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    label: str                       # catalogue key of the field's name
    required: bool = False
    max_len: int = 200
    min: float | None = None
    max: float | None = None
    options: tuple[str, ...] | None = None                 # fixed choices
    options_from: Callable[[Any], list[str]] | None = None   # choices read from the store (con -> codes)
    tier: str = "common"             # required | common | extra
    nullable: bool = True            # False: may be left out (a default applies) but never emptied


def short(value: Any) -> str:
    """A bad value as it may be repeated in a message: printable, and short."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in text[: _SHOWN + 1])
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp", "Cc")


def clean_text(f: Field, value: Any) -> str | None:
    if not isinstance(value, str):
        raise ValidationError("field.not_text", field=f.label)
    if len(value) > 4 * f.max_len + 1000:  # refuse a huge paste before looking at each character
        raise ValidationError("field.too_long", field=f.label, max=f.max_len, n=len(value))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: broken text that no database or file can hold
        raise ValidationError("field.bad_characters", field=f.label) from None
    start, end = 0, len(value)
    while start < end and _invisible(value[start]):
        start += 1
    while end > start and _invisible(value[end - 1]):
        end -= 1
    value = value[start:end]
    if not value:
        return None
    allowed = "\n\t" if f.kind == "longtext" else ""
    for ch in value:
        if ch not in allowed and unicodedata.category(ch) == "Cc":
            raise ValidationError("field.bad_characters", field=f.label)
    value = value.replace("\r\n", "\n")
    if len(value) > f.max_len:
        raise ValidationError("field.too_long", field=f.label, max=f.max_len, n=len(value))
    return value


def _number_text(f: Field, value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().replace(",", "").replace(" ", "")
    if len(text) > 40:
        raise ValidationError("field.not_a_number", field=f.label, value=short(value))
    return text


def _check_range(f: Field, value: float | int) -> None:
    if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
        raise ValidationError("field.out_of_range", field=f.label, min=_fmt(f.min), max=_fmt(f.max))


def _fmt(bound: float | None) -> str:
    if bound is None:
        return ""
    return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:,}"


def clean_int(f: Field, value: Any) -> int:
    if isinstance(value, bool):
        raise ValidationError("field.not_whole_number", field=f.label, value=short(value))
    if isinstance(value, int):
        out = value
    elif isinstance(value, (float, decimal.Decimal)):
        if not math.isfinite(value) or value != int(value):
            raise ValidationError("field.not_whole_number", field=f.label, value=short(value))
        out = int(value)
    elif isinstance(value, str):
        text = _number_text(f, value)
        if not _WHOLE.match(text):
            raise ValidationError("field.not_whole_number", field=f.label, value=short(value))
        out = int(text)
    else:
        raise ValidationError("field.not_whole_number", field=f.label, value=short(value))
    _check_range(f, out)
    return out


def clean_number(f: Field, value: Any) -> float:
    if isinstance(value, bool):
        raise ValidationError("field.not_a_number", field=f.label, value=short(value))
    if isinstance(value, (int, float, decimal.Decimal)):
        try:
            out = float(value)
        except OverflowError:
            raise ValidationError("field.out_of_range", field=f.label, min=_fmt(f.min), max=_fmt(f.max)) from None
    elif isinstance(value, str):
        text = _number_text(f, value)
        if not _DECIMAL.match(text):
            raise ValidationError("field.not_a_number", field=f.label, value=short(value))
        out = float(text)
    else:
        raise ValidationError("field.not_a_number", field=f.label, value=short(value))
    if not math.isfinite(out):
        raise ValidationError("field.not_finite", field=f.label)
    _check_range(f, out)
    return round(out, 2)


def clean_datetime(con, f: Field, value: Any) -> dt.datetime:
    """A moment in naive UTC. A date alone (a date picker) means 09:00 company time that day."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text) if len(text) > 10 else dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError("field.bad_date", field=f.label, min=DATE_MIN.year, max=DATE_MAX.year - 1) from None
    if isinstance(value, dt.datetime):
        out = value
        if out.tzinfo is not None:
            out = out.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif isinstance(value, dt.date):
        from core import clock

        out = clock.to_utc(con, dt.datetime.combine(value, dt.time(9)))
    else:
        raise ValidationError("field.bad_date", field=f.label, min=DATE_MIN.year, max=DATE_MAX.year - 1)
    if not DATE_MIN <= out < DATE_MAX:
        raise ValidationError("field.bad_date", field=f.label, min=DATE_MIN.year, max=DATE_MAX.year - 1)
    return out


def clean_value(con, f: Field, value: Any) -> Any:
    """The value as it is stored, or ValidationError naming the field."""
    if isinstance(value, str) and f.kind not in ("text", "longtext"):
        value = clean_text(Field(f.name, "text", f.label, max_len=max(f.max_len, 254)), value)
    if value is None:
        if f.required or not f.nullable:
            raise ValidationError("field.required", field=f.label)
        return None
    kind = f.kind
    if kind in ("text", "longtext"):
        out = clean_text(f, value)
        if out is None and (f.required or not f.nullable):
            raise ValidationError("field.required", field=f.label)
        return out
    if kind == "int":
        return clean_int(f, value)
    if kind == "number":
        return clean_number(f, value)
    if kind == "datetime":
        return clean_datetime(con, f, value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValidationError("field.bad_choice", field=f.label, value=short(value))
        return value
    if kind == "choice":
        options = f.options if f.options is not None else tuple(f.options_from(con)) if f.options_from else ()
        if not isinstance(value, str) or value not in options:
            raise ValidationError("field.bad_choice", field=f.label, value=short(value))
        return value
    if kind == "email":
        if not isinstance(value, str):
            raise ValidationError("field.bad_email", field=f.label, value=short(value))
        value = value.lower()
        if len(value) > 254 or not _EMAIL.match(value):
            raise ValidationError("field.bad_email", field=f.label, value=short(value))
        return value
    if kind == "phone":
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValidationError("phone.invalid", phone=short(value))
        return value
    raise ValueError(f"unknown kind {kind}")  # pragma: no cover - a programming error


def clean(con, defs: dict[str, Field], values: Any, *, creating: bool) -> dict[str, Any]:
    """Validate and convert the values a service is asked to write.

    Unknown names are refused. Creating, every required field must be present; editing, a required
    field may be left out but not emptied. A phone field also yields `<name>_norm`, the uniqueness key.
    """
    if not isinstance(values, dict):
        raise ValidationError("field.bad_values")
    out: dict[str, Any] = {}
    for key, value in values.items():
        f = defs.get(key) if isinstance(key, str) else None
        if f is None:
            raise ValidationError("field.unknown", value=short(key))
        out[key] = clean_value(con, f, value)
        if f.kind == "phone":
            out[f"{key}_norm"] = phones.normalise(out[key])
            if out[key] is not None:  # kept as typed, but in plain digits (no full-width forms)
                out[key] = unicodedata.normalize("NFKC", out[key]).strip()
    if creating:
        for f in defs.values():
            if f.required and out.get(f.name) is None:
                raise ValidationError("field.required", field=f.label)
    return out
