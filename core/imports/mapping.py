"""Column mapping: which field each column of a file fills.

`suggest` proposes a field per column: the mapping remembered for this file layout (its header
signature) first, then the header's name (English and Chinese synonyms, the field's own name and
label, custom fields' labels), then the content of the first rows (phones, e-mails, dates, numbers).
`save_mapping` keeps a named mapping (with its value map and options) for `--mapping NAME`; every commit
remembers the mapping of its layout (`remember`).
"""
from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import polars as pl

from core import db
from core.errors import NotFound, ValidationError
from core.imports.spec import ImportField, ObjectSpec, spec_for

_SAMPLE = 200
_PHONE = r"^\+?[0-9][0-9 ()\-.]{5,20}[0-9]$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_DATE = r"^(\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\d{1,2}:\d{2}(:\d{2})?)?$"
_NUMBER = r"^[+-]?[0-9][0-9,]*(\.[0-9]+)?$"


def norm_header(text: Any) -> str:
    """A header as compared: NFKC, lower case, separators and punctuation dropped."""
    text = unicodedata.normalize("NFKC", str(text or "")).strip().lower()
    return re.sub(r"[\s_\-./:()（）\[\]#*]+", "", text)


def signature(headers: list[str]) -> str:
    """The layout of a file: its headers, compared as `norm_header`, sorted."""
    return "\x1f".join(sorted(norm_header(h) for h in headers if h and h != "_row"))


def _names(con, spec: ObjectSpec, f: ImportField) -> list[str]:
    from core.i18n import translate

    out = [f.name, *f.synonyms]
    if f.label_key:
        for lang in ("en", "zh"):
            text = translate(lang, f.label_key)
            if text and text != f.label_key:
                out.append(text)
    if f.custom:
        out.append(f.label_key)
        try:
            from core import fields as core_fields

            d = core_fields.definitions(con, spec.custom_obj).get(f.name) if spec.custom_obj else None
            if d is not None and d.labels:
                out += [x for x in d.labels if x]
        except Exception:
            pass
    return [norm_header(x) for x in out if x]


def _content_kind(s: pl.Series) -> str | None:
    s = s.drop_nulls().cast(pl.String).str.strip_chars()
    s = s.filter(s.str.len_bytes() > 0).head(_SAMPLE)
    if s.len() == 0:
        return None
    share = lambda pat: float(s.str.contains(pat).mean() or 0)  # noqa: E731
    if share(_EMAIL) >= 0.8:
        return "email"
    if share(_DATE) >= 0.8:
        return "date"
    digits = s.str.replace_all(r"[^0-9]", "").str.len_bytes()
    if share(_PHONE) >= 0.8 and float(((digits >= 7) & (digits <= 15)).mean() or 0) >= 0.8 and \
            float(s.str.contains(r"[ \-()+]").mean() or 0) + float((digits == 11).mean() or 0) >= 0.5:
        return "phone"
    if share(_NUMBER) >= 0.9:
        return "number"
    return None


def remembered(con, obj: str, headers: list[str]) -> dict | None:
    row = db.one(con, "SELECT mapping FROM import_mappings WHERE object = ? AND header_signature = ? "
                      "AND name IS NULL ORDER BY used_at DESC, id DESC LIMIT 1", [obj, signature(headers)])
    if row is None:
        return None
    found = json.loads(row["mapping"]) if isinstance(row["mapping"], str) else row["mapping"]
    return found if isinstance(found, dict) else None


def suggest(con, actor, obj: str, info, frame: pl.DataFrame) -> dict[str, str | None]:
    """column -> field (or None) for each column of the file."""
    spec = spec_for(con, actor, obj)
    headers = [c for c in frame.columns if c != "_row"]
    past = remembered(con, spec.name, headers)
    if past:
        return {c: (past.get(c) if past.get(c) in spec.fields else None) for c in headers}
    by_name: dict[str, str] = {}
    for f in spec.fields.values():
        for n in _names(con, spec, f):
            by_name.setdefault(n, f.name)
    out: dict[str, str | None] = {}
    used: set[str] = set()
    for c in headers:
        fname = by_name.get(norm_header(c))
        if fname and fname not in used:
            out[c] = fname
            used.add(fname)
        else:
            out[c] = None
    # by content, for columns the names did not place
    for c in headers:
        if out[c] is not None:
            continue
        kind = _content_kind(frame[c])
        if kind is None:
            continue
        want = {"email": ("email",), "phone": ("phone",), "date": ("date", "datetime"), "number": ()}[kind]
        for f in spec.fields.values():
            if f.kind in want and f.name not in used:
                out[c] = f.name
                used.add(f.name)
                break
    return out


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def mappings(con, actor, obj: str | None = None) -> list[dict]:
    """The saved (named) mappings, newest first."""
    where, params = ("AND object = ?", [obj]) if obj else ("", [])
    rows = db.rows(con, f"SELECT id, name, object, header_signature, mapping, value_map, options, used_at, created_by "
                        f"FROM import_mappings WHERE name IS NOT NULL {where} ORDER BY used_at DESC, id DESC", params)
    for r in rows:
        for k in ("mapping", "value_map", "options"):
            r[k] = _load(r[k])
    return rows


def by_name(con, actor, name: str) -> dict:
    row = db.one(con, "SELECT id, name, object, mapping, value_map, options FROM import_mappings WHERE name = ? "
                      "ORDER BY used_at DESC, id DESC LIMIT 1", [str(name)])
    if row is None:
        raise NotFound("import.mapping_not_found", name=str(name)[:60])
    for k in ("mapping", "value_map", "options"):
        row[k] = _load(row[k])
    return row


def save_mapping(con, actor, name: str | None, obj: str, headers: list[str], mapping: dict,
                 value_map: dict | None = None, options: dict | None = None) -> int:
    """Keep a mapping: named (for --mapping NAME and the wizard's list), or, without a name, as the
    remembered mapping of this layout. Replaces the one of the same name (or layout)."""
    if name is not None:
        name = str(name).strip()
        if not name or len(name) > 100:
            raise ValidationError("import.bad_mapping_name")
    if not isinstance(mapping, dict):
        raise ValidationError("import.bad_mapping", field="")
    sig = signature(headers)

    def work():
        if name is None:
            con.execute("DELETE FROM import_mappings WHERE object = ? AND header_signature = ? AND name IS NULL",
                        [obj, sig])
        else:
            con.execute("DELETE FROM import_mappings WHERE name = ?", [name])
        new_id = db.next_id(con, "import_mappings")
        con.execute("INSERT INTO import_mappings (id, object, header_signature, mapping, used_at, name, value_map, "
                    "options, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [new_id, obj, sig, json.dumps(mapping, ensure_ascii=False), actor.now, name,
                     json.dumps(value_map or {}, ensure_ascii=False), json.dumps(options or {}, ensure_ascii=False),
                     actor.id])
        return new_id

    return db.write(con, work)


def remember(con, actor, obj: str, headers: list[str], mapping: dict, value_map: dict | None = None) -> None:
    """The mapping of this layout, for the next file of the same layout (inside the commit's unit)."""
    save_mapping(con, actor, None, obj, headers, mapping, value_map)


def unknown_values(con, actor, obj: str, frame: pl.DataFrame, mapping: dict, value_map: dict | None = None
                   ) -> dict[str, list[str]]:
    """field -> the file's values of a choice field that match no option and no entry of the value map
    (for the user to map or create)."""
    from core.imports.engine import _options_map

    spec = spec_for(con, actor, obj)
    out: dict[str, list[str]] = {}
    for column, fname in (mapping or {}).items():
        f = spec.fields.get(fname) if fname else None
        if f is None or f.kind != "choice" or column not in frame.columns:
            continue
        known = _options_map(con, f, value_map)
        values = frame[column].cast(pl.String).str.strip_chars().drop_nulls().unique()
        values = values.filter(values.str.len_bytes() > 0)
        missing = sorted(v for v in values.to_list() if v.lower() not in known)
        if missing:
            out[fname] = missing[:500]
    return out
