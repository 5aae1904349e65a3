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
import json
from dataclasses import dataclass, replace
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
    custom: bool = False             # a custom field: its value lives in the record's `custom` JSON
    labels: tuple[str, str] | None = None         # a custom field's names (en, zh); built-ins use `label`
    option_labels: tuple[tuple[str, str, str], ...] | None = None  # (code, en, zh) of a custom select
    view_roles: tuple[str, ...] | None = None     # None: every role that may see the object
    edit_roles: tuple[str, ...] | None = None     # None: every role that may edit the object
    decimals: int = 2                # kind number: decimals kept (round(value, decimals)); match the column

    def visible_to(self, role: str) -> bool:
        return self.view_roles is None or role in self.view_roles

    def editable_by(self, role: str) -> bool:
        return self.visible_to(role) and (self.edit_roles is None or role in self.edit_roles)


def short(value: Any) -> str:
    """A bad value as it may be repeated in a message: printable, and short."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in text[: _SHOWN + 1])
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


# characters that render as nothing, though not classed as space
_BLANKS = frozenset("\u3164\u2800\u115f\u1160\uffa0\u180e")
# bidirectional overrides and isolates: they make a name display as something else
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _invisible(ch: str) -> bool:
    return ch.isspace() or ch in _BLANKS or unicodedata.category(ch) in ("Cf", "Zs", "Zl", "Zp", "Cc")


def search_text(value, label: str = "list.search", max_len: int = 200) -> str:
    """A search or filter value: text of at most `max_len` characters that a database can hold."""
    if not isinstance(value, str) or len(value) > max_len:
        raise ValidationError("list.bad_search")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("list.bad_search") from None
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValidationError("list.bad_search")
    return value.strip()


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
    if not value or all(_invisible(ch) or unicodedata.category(ch) in ("Mn", "Me") for ch in value):
        return None  # nothing a reader could see: as good as empty
    if f.kind == "longtext":
        value = value.replace("\u2028", "\n").replace("\u2029", "\n")
    allowed = "\n\t" if f.kind == "longtext" else ""
    for ch in value:
        if (ch not in allowed and unicodedata.category(ch) in ("Cc", "Zl", "Zp")) or ch in _BIDI:
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
        if (isinstance(value, decimal.Decimal) and not value.is_finite()) or not math.isfinite(value) \
                or value != int(value):
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
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        raise ValidationError("field.not_finite", field=f.label)
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
    return round(out, f.decimals)


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
            try:
                out = out.astimezone(dt.timezone.utc).replace(tzinfo=None)
            except (OverflowError, ValueError):  # year 1 or 9999 shifted past the calendar's ends
                raise ValidationError("field.bad_date", field=f.label, min=DATE_MIN.year,
                                      max=DATE_MAX.year - 1) from None
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
    if isinstance(value, str) and f.kind not in ("text", "longtext", "multichoice"):
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
    if kind == "date":
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value.strip()[:10])
            except ValueError:
                raise ValidationError("field.bad_date", field=f.label, min=DATE_MIN.year, max=DATE_MAX.year - 1) from None
        if not isinstance(value, dt.date) or not DATE_MIN.date() <= value < DATE_MAX.date():
            raise ValidationError("field.bad_date", field=f.label, min=DATE_MIN.year, max=DATE_MAX.year - 1)
        return value
    if kind == "multichoice":
        options = f.options if f.options is not None else tuple(f.options_from(con)) if f.options_from else ()
        items = list(value) if isinstance(value, (list, tuple, set)) else None
        if items is None or len(items) > len(options) or not all(isinstance(v, str) and v in options for v in items):
            raise ValidationError("field.bad_choice", field=f.label, value=short(value))
        if not items and (f.required or not f.nullable):
            raise ValidationError("field.required", field=f.label)
        return [o for o in options if o in items] or None
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


# ------------------------------------------------------------------------------------ definitions
OBJECTS = ("lead", "customer", "contact", "deal", "ticket")
CUSTOM_KINDS = ("text", "longtext", "number", "int", "date", "choice", "multichoice", "bool", "phone", "email")
TIERS = ("required", "common", "extra")
_BUILTIN: dict[str, dict[str, Field]] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def register(obj: str, defs: dict[str, Field]) -> None:
    """A module declares its object's built-in fields once, at import."""
    _BUILTIN[obj] = defs


def builtin(obj: str) -> dict[str, Field]:
    if obj not in _BUILTIN:  # the modules register on import
        import importlib

        importlib.import_module({"lead": "core.leads", "customer": "core.customers"}.get(obj, f"core.{obj}s"))
    return _BUILTIN[obj]


def _roles(value) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def definitions(con, obj: str, role: str | None = None, purpose: str = "view") -> dict[str, Field]:
    """Every field of an object: built-in ones (with the admin's tier and roles) and the active custom
    ones, in form order. With a role: only the fields that role may see (purpose view) or edit."""
    if obj not in OBJECTS:
        raise ValidationError("error.invalid_value", value=short(obj))
    out = dict(builtin(obj))
    rows = con.execute(
        "SELECT name, label_en, label_zh, data_type, options, tier, is_custom, active, max_len, min_value, "
        "max_value, view_roles, edit_roles FROM field_defs WHERE object = ? ORDER BY position, id", [obj]).fetchall()
    for (name, en, zh, kind, options, tier, is_custom, active, max_len, lo, hi, view, edit) in rows:
        if not is_custom:
            if name in out:
                f = out[name]
                out[name] = replace(f, tier="required" if f.required else tier, view_roles=None if f.required
                                    else _roles(view), edit_roles=None if f.required else _roles(edit))
            continue
        if not active:
            continue
        opts = tuple(tuple(o) for o in json.loads(options)) if options else None
        out[name] = Field(
            name, kind, f"cf.{obj}.{name}", required=tier == "required", tier=tier,
            max_len=max_len or (2000 if kind == "longtext" else 200), min=lo, max=hi,
            options=tuple(o[0] for o in opts) if opts else None, option_labels=opts, custom=True, labels=(en, zh),
            view_roles=_roles(view), edit_roles=_roles(edit))
    if role is not None:
        test = Field.visible_to if purpose == "view" else Field.editable_by
        out = {k: f for k, f in out.items() if test(f, role)}
    return out


def label_of(f: Field, lang: str, translate: Callable[[str, str], str]) -> str:
    """A field's name in a language: a custom field's own names, else the catalogue's."""
    if f.labels:
        return f.labels[1] if lang == "zh" and f.labels[1] else f.labels[0]
    return translate(lang, f.label)


def custom_label(con, key: str, lang: str) -> str | None:
    """The name of a custom field from its label key `cf.<object>.<name>` (for error messages)."""
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != "cf":
        return None
    row = con.execute("SELECT label_en, label_zh FROM field_defs WHERE object = ? AND name = ? AND is_custom",
                      parts[1:]).fetchall()
    if not row:
        return None
    return row[0][1] if lang == "zh" and row[0][1] else row[0][0]


def split(defs: dict[str, Field], clean_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Cleaned values -> (built-in columns, custom JSON values)."""
    own = {k: v for k, v in clean_values.items() if k not in defs or not defs[k].custom}
    extra = {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v)
             for k, v in clean_values.items() if k in defs and defs[k].custom}
    return own, extra


def check_editable(defs: dict[str, Field], role: str, names) -> None:
    """Refuse a write to a field the role may not edit (hiding an input is not access control)."""
    from core.errors import PermissionDenied

    for name in names:
        f = defs.get(name)
        if f is not None and not f.editable_by(role):
            raise PermissionDenied("field.not_editable", field=f.label)


def mask(defs: dict[str, Field], role: str, record: dict) -> dict:
    """A record as a role may read it: fields it may not see are left out, custom values unpacked."""
    out = {k: v for k, v in record.items() if k not in defs or defs[k].visible_to(role)}
    raw = record.get("custom")
    values = json.loads(raw) if isinstance(raw, str) else (raw or {})
    for name, f in defs.items():
        if not f.visible_to(role):
            out.pop(name, None)
        elif f.custom:
            out[name] = values.get(name)
            if f.kind == "date" and isinstance(out[name], str):
                out[name] = dt.date.fromisoformat(out[name])
    out.pop("custom", None)
    return out


def save_field(con, actor, obj: str, name: str | None, *, kind: str | None = None, label_en: str = "",
               label_zh: str = "", tier: str = "common", options: list[tuple[str, str, str]] | None = None,
               view_roles: list[str] | None = None, edit_roles: list[str] | None = None,
               active: bool = True, max_len: int | None = None, min_value: float | None = None,
               max_value: float | None = None) -> str:
    """The admin adds a custom field, or changes one (labels, tier, options, roles, active), or sets
    the tier and roles of a built-in field. Returns the field's name."""
    from core import access, audit, db
    from core.errors import NotFound

    access.require(con, actor, "settings", "edit")
    if obj not in OBJECTS:
        raise ValidationError("error.invalid_value", value=short(obj))
    if tier not in TIERS:
        raise ValidationError("field.bad_choice", field="fields.tier", value=short(tier))
    roles = ("admin", "manager", "sales", "marketing", "service")
    for group in (view_roles, edit_roles):
        if group is not None and not all(r in roles for r in group):
            raise ValidationError("field.bad_choice", field="fields.roles", value=short(group))
    base = builtin(obj)
    en = clean_text(Field("label_en", "text", "fields.label_en", max_len=60), label_en or "") if label_en else None
    zh = clean_text(Field("label_zh", "text", "fields.label_zh", max_len=60), label_zh or "") if label_zh else None

    def work():
        existing = db.one(con, "SELECT * FROM field_defs WHERE object = ? AND name = ?", [obj, name]) if name else None
        if name in base:  # a built-in field: tier and roles only
            f = base[name]
            new = {"tier": "required" if f.required else tier,
                   "view_roles": None if f.required else view_roles, "edit_roles": None if f.required else edit_roles}
            if existing:
                con.execute("UPDATE field_defs SET tier = ?, view_roles = ?, edit_roles = ?, updated_at = ? "
                            "WHERE id = ?", [new["tier"], new["view_roles"], new["edit_roles"], actor.now,
                                             existing["id"]])
            else:
                con.execute("INSERT INTO field_defs (id, object, name, label_en, label_zh, data_type, tier, is_custom, "
                            "position, active, created_at, view_roles, edit_roles, updated_at) VALUES "
                            "(nextval('seq_field_defs'), ?, ?, ?, ?, ?, ?, FALSE, 0, TRUE, ?, ?, ?, ?)",
                            [obj, name, name, name, f.kind, new["tier"], actor.now, new["view_roles"],
                             new["edit_roles"], actor.now])
            audit.record(con, actor, "update", "field", None, {f"{obj}.{name}": (
                existing and f"{existing['tier']} {existing['view_roles']} {existing['edit_roles']}",
                f"{new['tier']} {new['view_roles']} {new['edit_roles']}")})
            return name
        if existing is None and name is not None and not _NAME.match(name):
            raise ValidationError("fields.bad_name")
        if not en or not zh:
            raise ValidationError("field.required", field="fields.label_en" if not en else "fields.label_zh")
        choices = None
        if kind in ("choice", "multichoice") or (existing and existing["data_type"] in ("choice", "multichoice")):
            cleaned = []
            for code, o_en, o_zh in options or []:
                code = (code or "").strip()
                if not re.match(r"^[A-Za-z0-9_\-]{1,40}$", code) or not (o_en or "").strip():
                    raise ValidationError("fields.bad_option", value=short(code))
                cleaned.append([code, o_en.strip()[:60], (o_zh or o_en).strip()[:60]])
            if not cleaned or len({c[0] for c in cleaned}) != len(cleaned):
                raise ValidationError("fields.bad_options")
            choices = json.dumps(cleaned, ensure_ascii=False)
        if existing is None:
            if kind not in CUSTOM_KINDS:
                raise ValidationError("field.bad_choice", field="fields.kind", value=short(kind))
            new_name = name or "cf_" + re.sub(r"[^a-z0-9]+", "_", (en or "").lower()).strip("_")[:30]
            if not _NAME.match(new_name):
                new_name = f"cf_{db.scalar(con, 'SELECT count(*) FROM field_defs') + 1}"
            if new_name in base or db.scalar(con, "SELECT count(*) FROM field_defs WHERE object = ? AND name = ?",
                                             [obj, new_name]):
                raise ValidationError("fields.name_taken", name=new_name)
            position = db.scalar(con, "SELECT coalesce(max(position), 0) + 1 FROM field_defs WHERE object = ?", [obj])
            con.execute(
                "INSERT INTO field_defs (id, object, name, label_en, label_zh, data_type, options, tier, is_custom, "
                "position, active, created_at, max_len, min_value, max_value, view_roles, edit_roles, updated_at) "
                "VALUES (nextval('seq_field_defs'), ?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [obj, new_name, en, zh, kind, choices, tier, position, active, actor.now, max_len, min_value,
                 max_value, view_roles, edit_roles, actor.now])
            audit.record(con, actor, "create", "field", None, {f"{obj}.{new_name}": (None, f"{kind}: {en} / {zh}")})
            return new_name
        if not existing["is_custom"]:
            raise NotFound("error.not_found")
        con.execute(
            "UPDATE field_defs SET label_en = ?, label_zh = ?, options = coalesce(?, options), tier = ?, active = ?, "
            "max_len = ?, min_value = ?, max_value = ?, view_roles = ?, edit_roles = ?, updated_at = ? WHERE id = ?",
            [en, zh, choices, tier, active, max_len, min_value, max_value, view_roles, edit_roles, actor.now,
             existing["id"]])
        audit.record(con, actor, "update", "field", None, {f"{obj}.{name}": (
            f"{existing['label_en']} / {existing['label_zh']} {existing['tier']}",
            f"{en} / {zh} {tier}" + ("" if active else " (inactive)"))})
        return name

    return db.write(con, work)
