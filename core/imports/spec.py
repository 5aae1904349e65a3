"""What an import knows about an object: its fields (ImportField), how duplicates are found (keys), and
how the rows of the staging table are resolved and written (ObjectSpec.resolve / ObjectSpec.write).

The engine (core/imports/engine.py) stages the file into the DuckDB table `imp_rows` (one typed column
per mapped field, plus "_row", "_reason", "_action", "_target_id"), runs the generic rules (trim,
phones, e-mails, dates, choices, duplicates, owners) and then calls the object's `resolve(ctx)` (links,
extra checks: mark rows with ctx.reject) and `write(ctx)` (set-based INSERT ... SELECT; returns counts).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

KINDS = ("text", "longtext", "int", "number", "date", "datetime", "choice", "multichoice", "bool", "phone",
         "email", "owner", "team", "link")


@dataclass
class ImportField:
    name: str
    kind: str = "text"
    label_key: str = ""
    required: bool = False
    option_list: Any = None          # a core/options.py list name (str), fixed codes (tuple), or callable(con)
    custom: bool = False             # a custom field: lives in the record's `custom` JSON
    target: str | None = None        # object prefix in a multi-object file, e.g. "account"
    max_len: int | None = None
    synonyms: tuple[str, ...] = ()   # extra header names (English / Chinese) that mean this field
    column: str | None = None        # the table column (default: name; custom fields: none)
    updatable: bool = True           # may an "update existing" import overwrite it

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(self.kind)


@dataclass
class ObjectSpec:
    name: str                        # customers | leads | contacts | deals ...
    module: str                      # access module (customers, leads ...)
    entity: str                      # audit / phone_keys / search entity (customer, lead, contact ...)
    table: str
    fields: dict[str, ImportField]
    keys: tuple[str, ...] = ()       # duplicate keys, in order (e.g. ("phone", "email", "name"))
    resolve: Callable[["Ctx"], None] | None = None
    write: Callable[["Ctx"], dict] | None = None
    label_key: str = ""
    owned: bool = True               # has owner_id / team_id (owner options apply)
    capped: bool = False             # rows count against a rep's cap (core.pool.check_room)
    dedup_obj: str | None = None     # object name in core.dedup ("customer", "lead", "contact")
    custom_obj: str | None = None    # object name in core.fields for custom fields ("customer" ...)

    def copy(self) -> "ObjectSpec":
        return dataclasses.replace(self, fields=dict(self.fields))


@dataclass
class Options:
    on_duplicate: str = "skip"             # skip | update | create
    update_keys: tuple[str, ...] = ()      # the fields an update may change (empty = every mapped field)
    owner: str = "file"                    # file | me | split | pool | user
    owner_id: int | None = None
    pool_team_id: int | None = None
    split_team_ids: tuple[int, ...] = ()
    unknown_owners: str = "create"         # create | pool | reject
    unknown_owner_team_id: int | None = None
    date_order: str = "auto"               # auto | ymd | mdy | dmy
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["update_keys"] = list(self.update_keys)
        d["split_team_ids"] = list(self.split_team_ids)
        return d

    @classmethod
    def of(cls, value: "Options | dict | None") -> "Options":
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        known = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in dict(value).items() if k in known}
        for k in ("update_keys", "split_team_ids"):
            if k in given and given[k] is not None:
                given[k] = tuple(given[k])
        return cls(**given)


@dataclass
class Ctx:
    con: Any
    actor: Any
    import_id: int | None
    spec: ObjectSpec
    options: Options
    table: str = "imp_rows"
    now: dt.datetime | None = None
    counts: dict = field(default_factory=dict)
    mapping: dict = field(default_factory=dict)      # file column -> field name
    value_map: dict = field(default_factory=dict)    # field -> {file value: code}
    dry_run: bool = False
    progress: Callable[[float, str], None] | None = None

    # helpers: filled in by the engine (they run SQL on the staging table)
    def reject(self, condition: str, reason: str, params: list | None = None) -> int:
        """Mark rows still fine that match the SQL `condition` as rejected with `reason` (a catalogue code)."""
        from core.imports import engine

        return engine.reject(self, condition, reason, params)

    def resolve_owner(self, column: str = "owner") -> None:
        from core.imports import engine

        engine.resolve_owner(self, column)

    def link_customer(self, column: str = "customer", out: str = "customer_id", required: bool = False) -> None:
        from core.imports import engine

        engine.link_customer(self, column, out, required)

    def step(self, done: float, name: str) -> None:
        if self.progress is not None:
            try:
                self.progress(max(0.0, min(1.0, done)), name)
            except Exception:  # a progress bar never breaks an import
                pass


OBJECTS: dict[str, ObjectSpec] = {}


def register(spec: ObjectSpec) -> ObjectSpec:
    OBJECTS[spec.name] = spec
    return spec


def spec_for(con, actor, name: str) -> ObjectSpec:
    """The object's spec with the admin's custom fields added (as custom ImportFields)."""
    from core.errors import ValidationError

    if name not in OBJECTS:
        from core import imports  # noqa: F401  (registers the built-in objects)
    base = OBJECTS.get(name)
    if base is None:
        raise ValidationError("import.bad_object", object=str(name)[:50])
    spec = base.copy()
    if spec.custom_obj:
        try:
            from core import fields as core_fields

            role = getattr(actor, "role", None)
            defs = core_fields.definitions(con, spec.custom_obj, role) if role else core_fields.definitions(
                con, spec.custom_obj)
        except Exception:
            defs = {}
        for fname, f in (defs or {}).items():
            if not getattr(f, "custom", False) or fname in spec.fields:
                continue
            kind = {"text": "text", "longtext": "longtext", "int": "int", "number": "number", "date": "date",
                    "datetime": "datetime", "choice": "choice", "multichoice": "multichoice", "bool": "bool",
                    "phone": "text", "email": "email"}.get(getattr(f, "kind", "text"), "text")
            spec.fields[fname] = ImportField(fname, kind, getattr(f, "label", fname) or fname,
                                             option_list=getattr(f, "options", None) or None, custom=True,
                                             max_len=getattr(f, "max_len", None))
    return spec
