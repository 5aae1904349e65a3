"""The import engine: a file's rows into the store, set-based, all or nothing.

The file (a Polars frame of String columns plus "_row") is staged into a DuckDB temp table with one
typed column per mapped field, "_row", "_reason" (NULL = fine; else "code|label key"), "_action"
(new | flag | update | skip | exact | reject) and "_target_id" (the store record an update changes).
Every rule is one statement over that table: trim, types, choices through the value map, phones and
e-mails (core/imports/clean.py), exact duplicate rows, duplicates inside the file and against the store
(phone_keys, the e-mail keys of core.dedup, external_ref), owners and caps. Nothing runs per row.

`commit` runs all of it in ONE db.write unit: the records (ids from their sequence in bulk), phone
keys, search keys, duplicate keys, the imports row with its counts, import_rejects, import_updates (old
values for undo) and the audit rows. A failure or a kill leaves the store as it was.
"""
from __future__ import annotations

import io
import json
import re
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb
import polars as pl

from core import access, audit, db, pool
from core.errors import NotFound, ValidationError
from core.imports.spec import Ctx, ImportField, ObjectSpec, Options, spec_for

ACTIONS_WRITTEN = ("new", "flag")
_TRUE = ("1", "true", "yes", "y", "t", "x", "是", "对", "真", "有")
_FALSE = ("0", "false", "no", "n", "f", "否", "不", "假", "无")
_SQL_TYPES = {"int": "BIGINT", "number": "DOUBLE", "bool": "BOOLEAN", "date": "TIMESTAMP", "datetime": "TIMESTAMP"}
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class Preview:
    counts: dict
    rejects: pl.DataFrame
    unknown_owners: list[str] = field(default_factory=list)
    ambiguous_dates: list[str] = field(default_factory=list)
    unknown_values: dict = field(default_factory=dict)
    codes: list[str] = field(default_factory=list)       # the reasons of `rejects` as codes ("code|label")


@dataclass
class Result:
    batch_id: int
    counts: dict
    rejects: pl.DataFrame
    error_path: str | None = None
    unknown_owners: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ helpers
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _esc(text: str) -> str:
    """A label key inside an SQL string literal (a custom field's label may hold a quote)."""
    return str(text).replace("'", "''").replace("|", "/")


def _col(f: ImportField) -> str:
    """The staging column of a field (field names are identifiers)."""
    if not _IDENT.match(f.name):
        raise ValidationError("import.bad_mapping", field=f.name[:40])
    return f.name


def reason_text(code: str | None, lang: str) -> str:
    """A stored reason ("code|label key|value") in the reader's language."""
    from core.i18n import translate

    if not code:
        return ""
    parts = code.split("|")
    params = {}
    if len(parts) > 1 and parts[1]:
        params["field"] = translate(lang, parts[1]) if "." in parts[1] else parts[1]
    if len(parts) > 2:
        params["value"] = params["phone"] = params["email"] = "|".join(parts[2:])
    return translate(lang, parts[0], **params)


_SLOT = "\x00value\x00"


def reason_texts(codes: list[str | None], lang: str) -> list[str]:
    """reason_text of many codes: each message is translated once per code and field, the value put in
    after (a file with 60,000 bad phones has 60,000 distinct codes but a handful of messages)."""
    templates: dict[str, str] = {}
    out = []
    for code in codes:
        if not code:
            out.append("")
            continue
        parts = code.split("|", 2)
        if len(parts) < 3:
            head = code
            if head not in templates:
                templates[head] = reason_text(code, lang)
            out.append(templates[head])
            continue
        head = parts[0] + "|" + parts[1]
        if head not in templates:
            templates[head] = reason_text(head + "|" + _SLOT, lang)
        out.append(templates[head].replace(_SLOT, parts[2]))
    return out


def reject(ctx: Ctx, condition: str, reason: str, params: list | None = None) -> int:
    """Rows still to be written that meet `condition` become rejects with `reason` (a catalogue code,
    optionally "code|label key")."""
    t = ctx.table
    n = db.scalar(ctx.con, f"SELECT count(*) FROM {t} WHERE _action IN ('new', 'flag', 'update') AND ({condition})",
                  params or [])
    if n:
        ctx.con.execute(f"UPDATE {t} SET _action = 'reject', _reason = ? "  # sql-ok: staging table
                        f"WHERE _action IN ('new', 'flag', 'update') AND ({condition})", [reason] + list(params or []))
    return int(n or 0)


def _options_map(con, f: ImportField, value_map: dict | None) -> dict[str, str]:
    """lower(file value) -> code for a choice field: its codes, their English and Chinese names, the
    admin's value map."""
    from core import options as core_options

    out: dict[str, str] = {}
    src = f.option_list
    rows: list[dict] = []
    if isinstance(src, str):
        try:
            rows = core_options.options(con, src)
        except Exception:
            rows = []
    elif callable(src):
        rows = [{"code": c} for c in src(con)]
    elif src:
        for item in src:
            if isinstance(item, (tuple, list)):
                rows.append({"code": item[0], "name_en": item[1] if len(item) > 1 else None,
                             "name_zh": item[2] if len(item) > 2 else None})
            else:
                rows.append({"code": item})
    if f.name == "stage" and not isinstance(src, str):
        try:
            rows += db.rows(con, "SELECT code, name_en, name_zh FROM customer_stages")
        except Exception:
            pass
    if f.name == "level" and not isinstance(src, str):
        try:
            rows += db.rows(con, "SELECT code, name_en, name_zh FROM customer_levels")
        except Exception:
            pass
    for r in rows:
        for k in ("code", "name_en", "name_zh"):
            if r.get(k):
                out.setdefault(str(r[k]).strip().lower(), r["code"])
    if f.kind == "choice" and f.name == "gender":
        out.update({"m": "male", "男": "male", "f": "female", "女": "female", "其他": "other"})
    for k, v in ((value_map or {}).get(f.name) or {}).items():
        if v not in (None, ""):
            out[str(k).strip().lower()] = v
    return out


def _dates(s: pl.Series, order: str, with_time: bool) -> tuple[pl.Series, pl.Series, bool]:
    """(values, bad, ambiguous) through core/imports/dates.py (engineer I1); a plain fallback until it exists."""
    try:
        from core.imports import dates as dates_mod

        found = dates_mod.parse_dates(s, order=order, with_time=with_time)
        return found.values.cast(pl.Datetime("us")), found.bad, bool(found.ambiguous)
    except ImportError:  # TEMPORARY fallback (until core/imports/dates.py exists): ISO and Y/M/D only
        values = s.str.replace_all("/", "-").str.to_datetime(strict=False, time_unit="us")
        values = values.fill_null(s.str.to_date(strict=False).cast(pl.Datetime("us")))
        return values, s.is_not_null() & values.is_null(), False


# ------------------------------------------------------------------------------------------ staging
def _mapped(spec: ObjectSpec, frame: pl.DataFrame, mapping: dict) -> dict[str, str]:
    """field -> file column (the first column mapped to a field wins)."""
    if not isinstance(mapping, dict):
        raise ValidationError("import.bad_mapping", field="")
    out: dict[str, str] = {}
    for column, fname in mapping.items():
        if fname in (None, "", "-"):
            continue
        if fname not in spec.fields:
            raise ValidationError("import.bad_mapping", field=str(fname)[:40])
        if column not in frame.columns:
            raise ValidationError("import.bad_mapping", field=str(column)[:40])
        out.setdefault(fname, column)
    for f in spec.fields.values():
        if f.required and f.name not in out and f.kind != "owner":
            raise ValidationError("import.required_unmapped", field=f.label_key)
    return out


def _arrow(frame: pl.DataFrame):
    """The frame as Arrow for DuckDB without a copy of its strings (DuckDB reads Arrow's string views; the
    default conversion rewrites every string column)."""
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


_EDGE = r"^[\s\u3000\ufeff]|[\s\u3000\ufeff]$"      # a value with something to trim at either end


def _trimmed(frame: pl.DataFrame, fields_cols: dict[str, str]) -> pl.DataFrame:
    """The mapped columns (named by field) as text, trimmed (spaces of every width, the ideographic space and
    a stray BOM), blank as null. Only columns with a value to trim are trimmed (most files have none), and
    each expression is computed once (eager selects do not share subexpressions)."""
    text = frame.select([pl.col(c).cast(pl.String).alias(f) for f, c in fields_cols.items()])
    if not fields_cols:
        return text
    edges = text.select([pl.col(f).str.contains(_EDGE).any().alias(f) for f in fields_cols]).row(0)
    trim = [f for f, edge in zip(fields_cols, edges) if edge]
    if trim:
        text = text.with_columns([pl.col(f).str.strip_chars().str.strip_chars("\u3000\ufeff") for f in trim])
    return text.with_columns([pl.when(pl.col(f).str.len_bytes() == 0).then(None).otherwise(pl.col(f)).alias(f)
                              for f in fields_cols])


def _row_hashes(src: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    return src.select(pl.struct(cols).hash().alias("h"))


def _exact_copies(src: pl.DataFrame, cols: list[str]) -> pl.Series:
    """True for a row whose values repeat an earlier row's exactly. Found by a hash of the row (several times
    faster than comparing the rows as structs), then every row so found is compared with the first row of its
    hash; should two different rows ever share a hash, the rows are compared in full instead."""
    hashes = _row_hashes(src, cols).with_row_index("i")
    first = hashes["h"].is_first_distinct()
    later = hashes.filter(~first)
    if not later.height:
        return ~first
    firsts = hashes.filter(first).rename({"i": "f"})
    pairs = later.join(firsts, on="h", how="left", maintain_order="left")
    same = src[pairs["i"]].select(cols).equals(src[pairs["f"]].select(cols), null_equal=True) \
        if pairs["f"].null_count() == 0 else False
    if same:
        return ~first
    return ~src.select(pl.struct(cols).is_first_distinct()).to_series()


def _stage(ctx: Ctx, frame: pl.DataFrame, fields_cols: dict[str, str]) -> dict:
    """The staging table with typed columns, exact duplicates marked; returns extra findings."""
    con, spec, t = ctx.con, ctx.spec, ctx.table
    found: dict = {"ambiguous_dates": []}
    n = frame.height
    rows = frame["_row"].cast(pl.Int64) if "_row" in frame.columns else pl.int_range(2, n + 2, eager=True)
    src = _trimmed(frame, fields_cols)
    src = src.insert_column(0, rows.alias("_row")) if src.width else pl.DataFrame({"_row": rows})
    # exact duplicate rows (the mapped values, after trimming): the first one stays
    value_cols = [c for c in src.columns if c != "_row"]
    src = src.with_columns(_exact=_exact_copies(src, value_cols) if value_cols else pl.Series([False] * n))
    # dates: parsed set-based in Polars (core/imports/dates.py)
    for fname in fields_cols:
        f = spec.fields[fname]
        if f.kind in ("date", "datetime"):
            values, bad, ambiguous = _dates(src[fname], ctx.options.date_order, f.kind == "datetime")
            if ambiguous:
                found["ambiguous_dates"].append(fname)
            src = src.with_columns(values.alias(f"{fname}__d"), bad.fill_null(False).alias(f"{fname}__bad"))
    name = f"_imp_src_{uuid.uuid4().hex}"
    con.register(name, _arrow(src))
    try:
        con.execute(f"DROP TABLE IF EXISTS {t}")  # sql-ok: staging table, field names, fixed tables
        select = ["s._row AS _row"]
        reasons = []
        choice_maps = {}
        joins = []
        for fname in fields_cols:
            f = spec.fields[fname]
            c = f"s.{_col(f)}"
            if f.kind in ("text", "longtext", "link", "owner", "team", "phone", "email", "multichoice"):
                select.append(f"{c} AS {f.name}")
                if f.max_len and f.kind in ("text", "longtext"):
                    reasons.append(f"CASE WHEN length({c}) > {int(f.max_len)} THEN 'import.too_long|{_esc(f.label_key)}' END")
                if f.kind == "text":
                    reasons.append(f"CASE WHEN regexp_matches({c}, '[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]') "
                                   f"THEN 'import.bad_text|{_esc(f.label_key)}' END")
            elif f.kind == "int":
                v = f"TRY_CAST(replace(replace({c}, ',', ''), ' ', '') AS DOUBLE)"
                select.append(f"CASE WHEN {v} = round({v}) AND abs({v}) < 9e15 THEN CAST({v} AS BIGINT) END AS {f.name}")
                reasons.append(f"CASE WHEN {c} IS NOT NULL AND NOT coalesce({v} = round({v}) AND abs({v}) < 9e15, FALSE) "
                               f"THEN 'import.bad_number|{_esc(f.label_key)}' END")
            elif f.kind == "number":
                v = (f"TRY_CAST(regexp_replace({c}, '[,\\s¥$€£￥]', '', 'g') AS DOUBLE)")
                select.append(f"CASE WHEN isfinite({v}) AND abs({v}) < 1e15 THEN {v} END AS {f.name}")
                reasons.append(f"CASE WHEN {c} IS NOT NULL AND NOT coalesce(isfinite({v}) AND abs({v}) < 1e15, FALSE) "
                               f"THEN 'import.bad_number|{_esc(f.label_key)}' END")
            elif f.kind == "bool":
                t_list = ", ".join(f"'{x}'" for x in _TRUE)
                f_list = ", ".join(f"'{x}'" for x in _FALSE)
                select.append(f"CASE WHEN lower({c}) IN ({t_list}) THEN TRUE WHEN lower({c}) IN ({f_list}) "
                              f"THEN FALSE END AS {f.name}")
                reasons.append(f"CASE WHEN {c} IS NOT NULL AND lower({c}) NOT IN ({t_list}, {f_list}) "
                               f"THEN 'import.bad_bool|{_esc(f.label_key)}' END")
            elif f.kind in ("date", "datetime"):
                select.append(f"s.{f.name}__d AS {f.name}")
                reasons.append(f"CASE WHEN s.{f.name}__bad THEN 'import.bad_date|{_esc(f.label_key)}' END")
            elif f.kind == "choice":
                m = _options_map(con, f, ctx.value_map)
                choice_maps[f.name] = m
                mname = f"{name}_{f.name}"
                con.register(mname, pl.DataFrame({"k": list(m), "code": list(m.values())},
                                                 schema={"k": pl.String, "code": pl.String}).to_arrow())
                joins.append(f"LEFT JOIN {mname} AS m_{f.name} ON m_{f.name}.k = lower({c})")
                select.append(f"m_{f.name}.code AS {f.name}")
                reasons.append(f"CASE WHEN {c} IS NOT NULL AND m_{f.name}.code IS NULL "
                               f"THEN 'import.unknown_value|{_esc(f.label_key)}' END")
            if f.required and f.kind != "owner":
                reasons.insert(0, f"CASE WHEN {c} IS NULL THEN 'import.required|{_esc(f.label_key)}' END")
        select.append(f"coalesce({', '.join(reasons)}) AS _reason" if reasons else "NULL::VARCHAR AS _reason")
        select.append("CASE WHEN s._exact THEN 'exact' ELSE 'new' END AS _action")
        select.append("NULL::BIGINT AS _target_id")
        select.append("NULL::VARCHAR AS _dup")            # which key found a duplicate (_duplicates)
        select.append("NULL::VARCHAR AS _match_entity")   # the entity of the record it found in the store
        # one statement makes the staging table: types and checks, then phones and e-mails (core/imports/clean.py)
        # over them, then the first reason of each row in the order of the checks (the table is written once)
        from core.imports import clean

        fused = clean.Fused(con, f"(SELECT {', '.join(select)} FROM {name} s {' '.join(joins)})")
        whens_a, whens_r, cols = [], [], []
        for fname in fields_cols:
            f = spec.fields[fname]
            if f.kind not in ("phone", "email"):
                continue
            fused.add(f.kind, f.name, f"{f.name}_norm", f"{f.name}_reason")
            whens_a.append(f"WHEN {f.name}_reason IS NOT NULL THEN 'reject'")
            whens_r.append(f"WHEN {f.name}_reason IS NOT NULL THEN {f.name}_reason || '|{_esc(f.label_key)}|' || {f.name}")
            if f.kind == "email":  # the address as cleaned (the message above quotes it as typed)
                cols.append(f"CASE WHEN {f.name}_norm IS NOT NULL THEN {f.name}_norm ELSE {f.name} END AS {f.name}")
        action = ("CASE WHEN _action <> 'new' THEN _action WHEN _reason IS NOT NULL THEN 'reject' "
                  f"{' '.join(whens_a)} ELSE 'new' END AS _action")
        reason = ("CASE WHEN _action <> 'new' OR _reason IS NOT NULL THEN _reason "
                  f"{' '.join(whens_r)} ELSE _reason END AS _reason")
        ctx.step(0.25, "clean")
        with fused as body:
            con.execute(f"CREATE TEMP TABLE {t} AS SELECT * REPLACE ({', '.join([action, reason] + cols)}) "  # sql-ok: staging table, field names, fixed tables
                        f"FROM {body} z")
        for fname in choice_maps:
            con.unregister(f"{name}_{fname}")
    finally:
        con.unregister(name)
    ctx.step(0.4, "phones")
    return found


def _key_expr(spec: ObjectSpec, key: str) -> str | None:
    f = spec.fields.get(key)
    if f is None:
        return None
    if f.kind in ("phone", "email"):  # as _stage cleaned it (E.164; an address trimmed and in lower case)
        return f"{key}_norm"
    return key


def _duplicates(ctx: Ctx, fields_cols: dict[str, str]) -> None:
    """Inside the file, then against the store, with the admin's choice (skip / update / create and flag)."""
    con, spec, t, opt = ctx.con, ctx.spec, ctx.table, ctx.options
    keys = [k for k in spec.keys if k in fields_cols]
    if not keys:
        return
    # inside the file: a later row with the key of an earlier kept row (the first row of each key shared by
    # more than one: a hash aggregate of few groups, then one probe of the table, instead of a window over it)
    for key in keys:  # _dup (which key found a duplicate) and _match_entity come with the staging table
        e = _key_expr(spec, key)
        lbl = spec.fields[key].label_key
        eligible = f"_action = 'new' AND _dup IS NULL AND {e} IS NOT NULL"
        con.execute(f"UPDATE {t} SET _dup = 'file|{_esc(lbl)}' FROM (SELECT {e} AS v, min(_row) AS first FROM {t} "  # sql-ok: staging table, field names, fixed tables
                    f"WHERE {eligible} GROUP BY ALL HAVING count(*) > 1) d WHERE {e} = d.v AND {t}._row > d.first "
                    f"AND {eligible}")
    if opt.on_duplicate == "create":
        con.execute(f"UPDATE {t} SET _action = 'flag' WHERE _action = 'new' AND _dup IS NOT NULL")  # sql-ok: staging table, field names, fixed tables
    else:
        con.execute(f"UPDATE {t} SET _action = 'dup_file', _reason = 'import.dup_in_file|' || "  # sql-ok: staging table, field names, fixed tables
                    f"split_part(_dup, '|', 2) WHERE _action = 'new' AND _dup LIKE 'file|%'")
    # against the store
    for key in keys:
        f = spec.fields[key]
        lbl = f.label_key
        if f.kind == "phone":
            con.execute(f"UPDATE {t} SET _match_entity = k.entity, _target_id = k.entity_id, _dup = 'store|{_esc(lbl)}' "  # sql-ok: staging table, field names, fixed tables
                        f"FROM phone_keys k WHERE k.phone_norm = {t}.{key}_norm AND {t}._action IN ('new', 'flag') "
                        f"AND {t}._target_id IS NULL")
        elif f.kind == "email" and spec.dedup_obj:
            from core import dedup

            # the store's e-mail keys, and those a big import will get (not built yet: read from its records)
            keyed = " UNION ALL ".join(["SELECT key, entity, entity_id FROM dedup_keys"] + [
                dedup.pending_email_sql(e, b) for e, b in dedup.pending_emails(con) if e == spec.entity])
            con.execute(f"UPDATE {t} SET _match_entity = k.entity, _target_id = k.entity_id, _dup = 'store|{_esc(lbl)}' "  # sql-ok: staging table, field names, fixed tables
                        f"FROM (SELECT key, arg_min(entity_id, entity_id) AS entity_id, any_value(entity) AS entity "
                        f"FROM ({keyed}) WHERE entity = ? AND key IN (SELECT 'e:' || {key} FROM {t} WHERE "
                        f"_action IN ('new', 'flag') AND _target_id IS NULL) GROUP BY key) k "
                        f"WHERE k.key = 'e:' || {t}.{key} AND {t}._action IN ('new', 'flag') AND {t}._target_id IS NULL",
                        [spec.entity])
        elif f.column is None and not f.custom and f.kind in ("text",):
            con.execute(f"UPDATE {t} SET _match_entity = ?, _target_id = x.id, _dup = 'store|{_esc(lbl)}' "  # sql-ok: staging table, field names, fixed tables
                        f"FROM (SELECT {key} AS v, min(id) AS id FROM {spec.table} WHERE deleted_at IS NULL AND "
                        f"{key} IS NOT NULL GROUP BY {key}) x WHERE x.v = {t}.{key} "
                        f"AND {t}._action IN ('new', 'flag') AND {t}._target_id IS NULL", [spec.entity])
    if opt.on_duplicate == "skip":
        con.execute(f"UPDATE {t} SET _action = 'dup_store', _reason = 'import.dup_in_store|' || split_part(_dup, '|', 2) "  # sql-ok: staging table, field names, fixed tables
                    f"WHERE _action = 'new' AND _target_id IS NOT NULL")
    elif opt.on_duplicate == "create":
        con.execute(f"UPDATE {t} SET _action = 'flag' WHERE _action = 'new' AND _target_id IS NOT NULL")  # sql-ok: staging table, field names, fixed tables
    else:  # update: the record the key finds, when it is this object's, live and the actor's to edit
        where, params = access.predicate(con, ctx.actor, spec.module, "edit", "x")
        con.execute(f"UPDATE {t} SET _action = 'update' WHERE _action = 'new' AND _target_id IS NOT NULL "  # sql-ok: staging table, field names, fixed tables
                    f"AND _match_entity = ? AND _target_id IN (SELECT x.id FROM {spec.table} x WHERE "
                    f"x.deleted_at IS NULL AND {where})", [spec.entity] + params)
        con.execute(f"UPDATE {t} SET _action = 'dup_store', _reason = 'import.dup_not_updatable|' || "  # sql-ok: staging table, field names, fixed tables
                    f"split_part(_dup, '|', 2) WHERE _action = 'new' AND _target_id IS NOT NULL")
        # two rows of the file updating one record: the first one wins
        con.execute(f"UPDATE {t} SET _action = 'dup_file', _reason = 'import.dup_in_file|' || split_part(_dup, '|', 2) "  # sql-ok: staging table, field names, fixed tables
                    f"FROM (SELECT _row AS r, row_number() OVER (PARTITION BY _target_id ORDER BY _row) AS k FROM {t} "
                    f"WHERE _action = 'update') d WHERE {t}._row = d.r AND d.k > 1")
    # a flagged row never takes a phone already held (phone_keys is unique): it keeps the number as text
    for key in keys if opt.on_duplicate == "create" else ():
        if spec.fields[key].kind == "phone":
            con.execute(f"UPDATE {t} SET {key}_norm = NULL WHERE _action = 'flag' AND ({key}_norm IN "  # sql-ok: staging table, field names, fixed tables
                        f"(SELECT phone_norm FROM phone_keys) OR _dup LIKE 'file|%')")


# ------------------------------------------------------------------------------------------ owners
def _slug(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).strip().lower()
    text = re.sub(r"\s+", ".", text)
    text = re.sub(r"[^0-9a-z._\-\u4e00-\u9fff]", "", text)
    return text[:40] or "user"


def resolve_owner(ctx: Ctx, column: str = "owner") -> None:
    """_owner_id / _team_id of each row to write: by the file's names (username or name), or the options."""
    con, t, opt, actor, spec = ctx.con, ctx.table, ctx.options, ctx.actor, ctx.spec
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _owner_id BIGINT")  # sql-ok: staging table, field names, fixed tables
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _team_id BIGINT")  # sql-ok: staging table, field names, fixed tables
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _pool_reason VARCHAR")  # sql-ok: staging table, field names, fixed tables
    has_owner_col = column in ctx.mapping.values() and column in spec.fields
    mode = opt.owner
    if mode == "file" and not has_owner_col:
        mode = "me"
    fallback_owner, fallback_team = _holder_of(ctx, "me" if opt.owner_id is None and opt.pool_team_id is None else
                                               ("user" if opt.owner_id is not None else "pool"))
    if mode in ("me", "user", "pool"):
        owner, team = _holder_of(ctx, mode)
        con.execute(f"UPDATE {t} SET _owner_id = ?, _team_id = ?, _pool_reason = CASE WHEN ? IS NULL THEN 'import' END "  # sql-ok: staging table, field names, fixed tables
                    f"WHERE _action IN ('new', 'flag')", [owner, team, owner])
        return
    if mode == "split":
        teams = [int(x) for x in opt.split_team_ids or ()]
        if not teams:
            raise ValidationError("pool.no_teams")
        access.check_holder(con, actor, spec.module, None, teams[0])
        con.execute(f"UPDATE {t} SET _owner_id = NULL, _team_id = ?, _pool_reason = 'import' "  # sql-ok: staging table, field names, fixed tables
                    f"WHERE _action IN ('new', 'flag')", [teams[0]])
        return
    # by the file's names: the distinct names (few) matched to users by username, then by name
    names = [r[0] for r in con.execute(f"SELECT DISTINCT {column} FROM {t} WHERE {column} IS NOT NULL "  # sql-ok: staging table, field names, fixed tables
                                       f"AND _action IN ('new', 'flag')").fetchall()]
    users = db.rows(con, "SELECT id, lower(username) AS username, lower(name) AS name, team_id, active FROM users "
                         "WHERE deleted_at IS NULL")
    by_username = {u["username"]: u for u in users}
    by_name: dict[str, list[dict]] = {}
    for u in users:
        by_name.setdefault(u["name"], []).append(u)
    resolved: dict[str, tuple[int | None, int | None]] = {}
    unknown: list[str] = []
    for name in names:
        key = name.strip().lower()
        u = by_username.get(key)
        if u is None and len(by_name.get(key, [])) == 1:
            u = by_name[key][0]
        if u is None and len(by_name.get(key, [])) > 1:  # two users of that name: the active one, if one
            live = [x for x in by_name[key] if x["active"]]
            u = live[0] if len(live) == 1 else None
        if u is None:
            unknown.append(name)
        else:
            resolved[name] = (u["id"], u["team_id"])
    ctx.counts["unknown_owners"] = len(unknown)
    ctx.unknown_owners = sorted(unknown)  # type: ignore[attr-defined]
    if unknown:
        if opt.unknown_owners == "reject":
            pass
        elif opt.unknown_owners == "create":
            team = opt.unknown_owner_team_id or opt.pool_team_id or actor.team_id or db.scalar(
                con, "SELECT min(id) FROM teams WHERE deleted_at IS NULL AND parent_id IS NULL")  # the top team
            if team is None:
                raise ValidationError("assign.bad_team")
            access.check_holder(con, actor, spec.module, None, team)
            if not ctx.dry_run:
                taken = {u["username"] for u in users}
                ids = db.next_ids(con, "users", len(unknown))
                usernames = []
                for uid, name in zip(ids, unknown):
                    base = _slug(name)
                    cand, i = base, 1
                    while cand in taken:
                        i += 1
                        cand = f"{base}{i}"
                    taken.add(cand)
                    usernames.append(cand)
                    resolved[name] = (uid, team)
                con.execute(
                    "INSERT INTO users (id, username, name, role, team_id, active, password_hash, must_change_password, "
                    "created_at, updated_at, import_id) SELECT unnest(?), unnest(?), unnest(?), 'sales', ?, FALSE, '!', "
                    "TRUE, ?, ?, ?", [ids, usernames, unknown, team, actor.now, actor.now, ctx.import_id])
                audit.record_many(con, actor, "create", "user", ids, field="import_id", new=ctx.import_id)
            else:
                for name in unknown:
                    resolved[name] = (None, team)
            ctx.counts["owners_created"] = len(unknown)
        else:  # pool: a chosen user, or the chosen pool
            who = _holder_of(ctx, "user" if opt.owner_id is not None else "pool")
            for name in unknown:
                resolved[name] = who
    checked = set()
    for owner, team in set(resolved.values()):
        if owner is None or owner == actor.id or (owner, team) in checked:
            continue
        live = db.scalar(con, "SELECT active FROM users WHERE id = ?", [owner])
        if live:
            access.check_holder(con, actor, spec.module, owner, team)
        else:  # an inactive holder (history keeps the name): the actor must be able to fill that team's pool
            access.check_holder(con, actor, spec.module, None, team)
        checked.add((owner, team))
    m = pl.DataFrame({"n": list(resolved), "o": [v[0] for v in resolved.values()],
                      "tm": [v[1] for v in resolved.values()]}, schema={"n": pl.String, "o": pl.Int64, "tm": pl.Int64})
    name = f"_own_{uuid.uuid4().hex}"
    con.register(name, m.to_arrow())
    try:
        con.execute(f"UPDATE {t} SET _owner_id = m.o, _team_id = m.tm FROM {name} m WHERE {t}.{column} = m.n "  # sql-ok: staging table, field names, fixed tables
                    f"AND {t}._action IN ('new', 'flag')")
    finally:
        con.unregister(name)
    if unknown and opt.unknown_owners == "reject":
        reject(ctx, f"_action IN ('new', 'flag') AND {column} IS NOT NULL AND _team_id IS NULL AND _owner_id IS NULL",
               "import.unknown_owner")
    con.execute(f"UPDATE {t} SET _owner_id = ?, _team_id = ? WHERE _action IN ('new', 'flag') AND _team_id IS NULL",  # sql-ok: staging table, field names, fixed tables
                [fallback_owner, fallback_team])
    con.execute(f"UPDATE {t} SET _pool_reason = 'import' WHERE _owner_id IS NULL AND _action IN ('new', 'flag')")  # sql-ok: staging table, field names, fixed tables


def _holder_of(ctx: Ctx, mode: str) -> tuple[int | None, int | None]:
    con, actor, opt, spec = ctx.con, ctx.actor, ctx.options, ctx.spec
    if mode == "me":
        return access.check_holder(con, actor, spec.module, actor.id, None)
    if mode == "user":
        if opt.owner_id is None:
            raise ValidationError("assign.bad_owner")
        return access.check_holder(con, actor, spec.module, int(opt.owner_id), None)
    team = opt.pool_team_id or opt.unknown_owner_team_id or actor.team_id
    if team is None:
        raise ValidationError("assign.bad_team")
    return access.check_holder(con, actor, spec.module, None, int(team))


def _caps(ctx: Ctx) -> None:
    """Rows beyond a rep's cap (core.pool) go to the owner's team pool, counted (never silently)."""
    con, t = ctx.con, ctx.table
    stage_won = "stage IN ('won', 'upgrade')" if "stage" in ctx.mapping.values() else "FALSE"
    owners = [r[0] for r in con.execute(f"SELECT DISTINCT _owner_id FROM {t} WHERE _owner_id IS NOT NULL AND "  # sql-ok: staging table, field names, fixed tables
                                        f"_action IN ('new', 'flag')").fetchall()]
    if not owners:
        return
    live = {r[0] for r in con.execute("SELECT id FROM users WHERE id IN (SELECT unnest(?)) AND active", [owners])
            .fetchall()}
    space = pool.room(con, [o for o in owners if o in live])
    m = pl.DataFrame({"o": list(space), "room": list(space.values())}, schema={"o": pl.Int64, "room": pl.Int64})
    name = f"_room_{uuid.uuid4().hex}"
    con.register(name, m.to_arrow())
    eligible = f"_action IN ('new', 'flag') AND _owner_id IS NOT NULL AND NOT coalesce({stage_won}, FALSE)"
    try:
        # owners given more rows than they have room for keep their first `room` rows (in file order): the
        # last row kept is the room-th smallest row number (a top-n aggregate, no window over the file)
        over = con.execute(f"SELECT c.o, m.room FROM (SELECT _owner_id AS o, count(*) AS n FROM {t} WHERE {eligible} "  # sql-ok: staging table, field names, fixed tables
                           f"GROUP BY ALL) c JOIN {name} m ON m.o = c.o WHERE c.n > m.room").fetchall()
        n = 0
        if over:
            top = max(1, max(room for _, room in over))
            n = con.execute(f"UPDATE {t} SET _owner_id = NULL, _pool_reason = 'over_limit' FROM (SELECT f.o, "  # sql-ok: staging table, field names, fixed tables, ints
                            f"CASE WHEN m.room = 0 THEN 0 ELSE f.firsts[m.room] END AS last FROM (SELECT _owner_id AS o, "
                            f"min(_row, {int(top)}) AS firsts FROM {t} WHERE {eligible} AND _owner_id IN "
                            f"(SELECT unnest(?)) GROUP BY ALL) f JOIN {name} m ON m.o = f.o) x "
                            f"WHERE {t}._owner_id = x.o AND {t}._row > x.last AND {eligible}",
                            [[o for o, _ in over]]).fetchall()[0][0]
        ctx.counts["over_cap_to_pool"] = int(n or 0)
    finally:
        con.unregister(name)


def link_customer(ctx: Ctx, column: str = "customer", out: str = "customer_id", required: bool = False) -> None:
    """The customer a row names (its id, external reference or exact name) among the customers the actor
    may see; rows naming none are rejected (or left without a customer when not required)."""
    con, t = ctx.con, ctx.table
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {out} BIGINT")  # sql-ok: staging table, field names, fixed tables
    if column not in ctx.mapping.values():
        if required:
            raise ValidationError("import.required_unmapped", field=ctx.spec.fields[column].label_key
                                  if column in ctx.spec.fields else column)
        return
    where, params = access.predicate(con, ctx.actor, "customers", "view", "c")
    con.execute(f"UPDATE {t} SET {out} = m.id FROM (SELECT v, min(id) AS id FROM ("  # sql-ok: staging table, field names, fixed tables
                f"SELECT CAST(c.id AS VARCHAR) AS v, c.id FROM customers c WHERE c.deleted_at IS NULL AND {where} "
                f"UNION ALL SELECT c.external_ref, c.id FROM customers c WHERE c.deleted_at IS NULL AND "
                f"c.external_ref IS NOT NULL AND {where} "
                f"UNION ALL SELECT c.name, c.id FROM customers c WHERE c.deleted_at IS NULL AND {where}) "
                f"WHERE v IN (SELECT DISTINCT {column} FROM {t}) GROUP BY v) m WHERE m.v = {t}.{column}",
                params * 3)
    if required:
        reject(ctx, f"{out} IS NULL", f"import.no_customer|{ctx.spec.fields[column].label_key}"
               if column in ctx.spec.fields else "import.no_customer")
    if "owner_id" not in _columns(con, t) and ctx.spec.name == "contacts":
        con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _owner_id BIGINT")  # sql-ok: staging table, field names, fixed tables
        con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _team_id BIGINT")  # sql-ok: staging table, field names, fixed tables
        con.execute(f"UPDATE {t} SET _owner_id = c.owner_id, _team_id = c.team_id FROM customers c "  # sql-ok: staging table, field names, fixed tables
                    f"WHERE c.id = {t}.{out}")


def _columns(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"SELECT * FROM {table} LIMIT 0").description}  # sql-ok: staging table, field names, fixed tables


# ------------------------------------------------------------------------------------------ the run
def _ctx(con, actor, obj, mapping, value_map, options, progress, dry_run) -> Ctx:
    spec = spec_for(con, actor, obj)
    access.require(con, actor, spec.module, "import")
    opt = Options.of(options)
    if opt.on_duplicate not in ("skip", "update", "create"):
        raise ValidationError("import.bad_option", option="on_duplicate")
    if opt.unknown_owners not in ("create", "pool", "reject"):
        raise ValidationError("import.bad_option", option="unknown_owners")
    if opt.owner not in ("file", "me", "split", "pool", "user"):
        raise ValidationError("import.bad_option", option="owner")
    ctx = Ctx(con=con, actor=actor, import_id=None, spec=spec, options=opt, table=f"imp_rows_{uuid.uuid4().hex[:12]}",
              now=actor.now, counts={}, mapping=dict(mapping or {}), value_map=dict(value_map or {}),
              dry_run=dry_run, progress=progress)
    ctx.unknown_owners = []  # type: ignore[attr-defined]
    ctx.deferred_keys = False  # type: ignore[attr-defined]
    return ctx


def _prepare(ctx: Ctx, frame: pl.DataFrame) -> dict:
    """Stage and clean (the file alone: types, phones, e-mails, exact duplicates). Runs before the unit of
    work: the staging table is the connection's own, and its many set-based updates outside a transaction
    keep no old versions in memory (inside one, a million-row file held gigabytes of them)."""
    fields_cols = _mapped(ctx.spec, frame, ctx.mapping)
    ctx.mapping = {col: f for f, col in fields_cols.items()}
    ctx.fields_cols = fields_cols  # type: ignore[attr-defined]
    return _stage(ctx, frame, fields_cols)


def _run(ctx: Ctx, frame: pl.DataFrame, found: dict) -> dict:
    """Inside the unit of work: links, duplicates against the store, holders and caps (everything but the
    writes); a retried unit starts again from the staged rows (the temp table's changes roll back too)."""
    fields_cols = ctx.fields_cols  # type: ignore[attr-defined]
    if ctx.spec.resolve:
        ctx.spec.resolve(ctx)
    _duplicates(ctx, fields_cols)
    ctx.step(0.55, "duplicates")
    if ctx.spec.owned:
        resolve_owner(ctx, "owner")
        if ctx.spec.capped:
            _caps(ctx)
    ctx.step(0.6, "owners")
    _count(ctx, frame.height)
    return found


def _count(ctx: Ctx, rows: int) -> None:
    got = dict(ctx.con.execute(f"SELECT _action, count(*) FROM {ctx.table} GROUP BY _action").fetchall())  # sql-ok: staging table, field names, fixed tables
    c = ctx.counts
    c.update(rows=rows, exact_dup=got.get("exact", 0), invalid=got.get("reject", 0), rejected=got.get("reject", 0),
             dup_in_file=got.get("dup_file", 0), dup_in_store=got.get("dup_store", 0),
             new=got.get("new", 0) + got.get("flag", 0), flagged=got.get("flag", 0), update=got.get("update", 0))


def _bad_rows(ctx: Ctx) -> pl.DataFrame:
    return ctx.con.sql(f"SELECT _row, CASE WHEN _action = 'exact' THEN 'import.exact_duplicate' ELSE _reason END AS code "  # sql-ok: staging table, field names, fixed tables
                       f"FROM {ctx.table} WHERE _action NOT IN ('new', 'flag', 'update') ORDER BY _row").pl()


def _rejects(ctx: Ctx, frame: pl.DataFrame, lang: str, bad: pl.DataFrame | None = None) -> tuple[pl.DataFrame, list[str]]:
    """The file's own rows that were not written, with their reason (exact duplicates included)."""
    if bad is None:
        bad = _bad_rows(ctx)
    base = frame if "_row" in frame.columns else frame.with_columns(_row=pl.int_range(2, frame.height + 2))
    out = base.with_columns(pl.col("_row").cast(pl.Int64)).join(bad, on="_row", how="inner", maintain_order="right")
    codes = out["code"].to_list()
    distinct = list(set(codes))
    texts = dict(zip(distinct, reason_texts(distinct, lang)))
    out = out.with_columns(pl.col("code").replace_strict(texts, default=None, return_dtype=pl.String).alias("reason"))
    return out.drop("code"), codes


def _raw_json(rejects: pl.DataFrame, codes: list[str]) -> pl.DataFrame:
    """(_row, raw: the row as the file gave it, as JSON, code) of the rejected rows, for import_rejects."""
    raw = rejects.drop("reason")
    cols = [c for c in raw.columns if c != "_row"]
    raw_json = raw.select(pl.col("_row"), pl.struct(cols).struct.json_encode().alias("raw")) if cols else \
        raw.select(pl.col("_row"), pl.lit("{}").alias("raw"))
    return raw_json.with_columns(pl.Series("code", [c or "" for c in codes], dtype=pl.String))


class _Background:
    """fn() on a thread (Python and Polars work beside DuckDB's); `get` waits for it and returns its value, or
    raises its error in the caller (the unit of work, which then fails as a whole)."""

    def __init__(self, name: str, fn: Callable[[], Any]) -> None:
        import threading

        self._fn, self._value, self._error = fn, None, None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by get()
            self._error = exc

    def get(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class _RejectsJob:
    """The rejected rows' messages, their JSON for import_rejects and the error file's bytes, made on a thread
    (Python and Polars) while DuckDB writes the records. If the writer rejected more rows (a link that failed
    on write), `result` makes them again from the staging table."""

    def __init__(self, ctx: Ctx, frame: pl.DataFrame, lang: str) -> None:
        self.ctx, self.frame, self.lang = ctx, frame, lang
        self.bad = _bad_rows(ctx)
        self.job = _Background("import-rejects", lambda: self._make(self.bad))

    def _make(self, bad: pl.DataFrame) -> tuple:
        rejects, codes = _rejects(self.ctx, self.frame, self.lang, bad)
        data = _csv_bytes(rejects) if rejects.height else b""
        return rejects, codes, _raw_json(rejects, codes), data

    def result(self) -> tuple:
        value = self.job.get()
        now = db.scalar(self.ctx.con, f"SELECT count(*) FROM {self.ctx.table} "  # sql-ok: staging table
                                      f"WHERE _action NOT IN ('new', 'flag', 'update')")
        return self._make(_bad_rows(self.ctx)) if now != self.bad.height else value


class _DryRun(Exception):
    """Ends a dry run's unit of work (rolled back) with its findings."""

    def __init__(self, value):
        super().__init__("dry run")
        self.value = value


def preview(con, actor, obj: str, frame: pl.DataFrame, mapping: dict, value_map: dict | None = None,
            options: Options | dict | None = None, info=None, progress: Callable | None = None) -> Preview:
    """The dry run: the counts a commit would give (new, update, duplicates in the file and in the store,
    invalid), the rejected rows with their reasons, unknown owners, ambiguous dates. Writes nothing."""
    ctx = _ctx(con, actor, obj, mapping, value_map, options, progress, dry_run=True)
    ctx.step(0.0, "read")

    try:
        staged = _prepare(ctx, frame)
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {ctx.table}")  # sql-ok: staging table
        raise

    def work():
        found = _run(ctx, frame, staged)
        rejects, codes = _rejects(ctx, frame, getattr(actor, "language", "en") or "en")
        from core.imports import mapping as mapping_mod

        unknown = mapping_mod.unknown_values(con, actor, obj, frame, mapping, value_map)
        raise _DryRun((found, rejects, codes, unknown))  # rolls the unit back: a dry run leaves nothing

    try:
        db.write(con, work, retries=3)
    except _DryRun as done:
        found, rejects, codes, unknown = done.value
    finally:
        con.execute(f"DROP TABLE IF EXISTS {ctx.table}")  # sql-ok: staging table
    ctx.step(1.0, "done")
    return Preview(counts=dict(ctx.counts), rejects=rejects, unknown_owners=list(ctx.unknown_owners),
                   ambiguous_dates=found["ambiguous_dates"], unknown_values=unknown, codes=codes)


def _error_dir(con) -> Path:
    try:
        path = db.scalar(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    except Exception:
        path = None
    if path and path != ":memory:":
        return Path(path).resolve().parent / "import_errors"
    import tempfile

    return Path(tempfile.gettempdir()) / "crm_import_errors"   # an in-memory store (tests)


def commit(con, actor, obj: str, frame: pl.DataFrame, mapping: dict, value_map: dict | None = None,
           options: Options | dict | None = None, info=None, progress: Callable | None = None,
           source: str = "wizard", keys_later: bool = False, sole_user: bool = False) -> Result:
    """Write the file's rows: one unit of work, set-based (see the module doc). The rows not written
    (rejected, duplicates, exact duplicates) are kept with their reason in import_rejects and an error
    file beside the database. The search keys of a big batch are built right after the commit, or with
    `keys_later` left to the app's scheduler and the next command (searches scan until then).
    `sole_user`: this process is the store's only user (the command line: the file is locked), so a setting
    global to the database may be changed around a statement."""
    ctx = _ctx(con, actor, obj, mapping, value_map, options, progress, dry_run=False)
    ctx.sole_user = sole_user  # type: ignore[attr-defined]
    lang = getattr(actor, "language", "en") or "en"
    ctx.step(0.0, "read")
    state: dict = {}

    try:
        staged = _prepare(ctx, frame)
        ctx.name_forms = _NameForms(ctx)  # type: ignore[attr-defined]
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {ctx.table}")  # sql-ok: staging table
        raise

    def work():
        ctx.counts.clear()
        ctx.import_id = db.next_id(con, "imports")
        _run(ctx, frame, staged)
        job = _RejectsJob(ctx, frame, lang)
        ctx.step(0.65, "write")
        written = ctx.spec.write(ctx) if ctx.spec.write else {}
        ctx.counts.update(written or {})
        ctx.counts.setdefault("created", ctx.counts.get("new", 0))
        ctx.counts.setdefault("updated", ctx.counts.get("update", 0))
        rejects, codes, rj, data = job.result()
        state.update(rejects=rejects, codes=codes, data=data)
        path = None
        if rejects.height:
            path = str(_error_dir(con) / f"import-{ctx.import_id}.csv")
            name = f"_rej_{uuid.uuid4().hex}"
            con.register(name, _arrow(rj))
            try:
                con.execute(f"INSERT INTO import_rejects (import_id, row_no, reason, raw) SELECT ?, _row, code, raw "  # sql-ok: staging table, field names, fixed tables
                            f"FROM {name}", [ctx.import_id])
            finally:
                con.unregister(name)
        state["path"] = path
        c = ctx.counts
        counts = {k: int(c.get(k, 0)) for k in ("rows", "created", "updated", "dup_in_file", "dup_in_store",
                                                "rejected", "exact_dup", "flagged", "over_cap_to_pool",
                                                "unknown_owners", "owners_created")}
        counts.update({k: v for k, v in c.items() if k not in counts and isinstance(v, int)})
        state["counts"] = counts
        con.execute("INSERT INTO imports (id, object, filename, encoding, mapping, status, rows_total, rows_ok, "
                    "rows_rejected, created_by, created_at, committed_at, options, counts, delimiter, sheet, error_file, "
                    "source) VALUES (?, ?, ?, ?, ?, 'committed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [ctx.import_id, ctx.spec.name, getattr(info, "filename", None), getattr(info, "encoding", None),
                     json.dumps(ctx.mapping, ensure_ascii=False), counts["rows"],
                     counts["created"] + counts["updated"], counts["rows"] - counts["created"] - counts["updated"],
                     actor.id, actor.now, actor.now, json.dumps(ctx.options.as_dict(), ensure_ascii=False),
                     json.dumps(counts), getattr(info, "delimiter", None), getattr(info, "sheet", None), path, source])
        headers = [c for c in frame.columns if c != "_row"]
        from core.imports import mapping as mapping_mod

        mapping_mod.remember(con, actor, ctx.spec.name, headers, ctx.mapping, ctx.value_map)
        con.execute(f"DROP TABLE IF EXISTS {ctx.table}")  # sql-ok: staging table, field names, fixed tables
        for extra in ("_new",):
            con.execute(f"DROP TABLE IF EXISTS {ctx.table}{extra}")  # sql-ok: staging table, field names, fixed tables
        return ctx.import_id

    try:
        batch = db.write(con, work, retries=3)
    finally:
        for extra in ("", "_new"):
            try:
                con.execute(f"DROP TABLE IF EXISTS {ctx.table}{extra}")  # sql-ok: staging table, field names, fixed tables
            except Exception:
                pass
    if getattr(ctx, "deferred_keys", False) and not keys_later:
        ctx.step(0.9, "keys")
        fill_keys(con, batch)
    rejects = state["rejects"]
    if state["path"]:
        Path(state["path"]).parent.mkdir(parents=True, exist_ok=True)
        Path(state["path"]).write_bytes(state["data"])
    ctx.step(1.0, "done")
    return Result(batch_id=batch, counts=state["counts"], rejects=rejects, error_path=state["path"],
                  unknown_owners=list(ctx.unknown_owners), codes=state["codes"])


# ------------------------------------------------------------------------------------------ writing
def write_records(ctx: Ctx) -> dict:
    """The generic writer of customers, leads and contacts: new rows in one INSERT ... SELECT, updates
    in one UPDATE ... FROM with their old values in import_updates."""
    con, spec, t, actor = ctx.con, ctx.spec, ctx.table, ctx.actor
    fields_cols: dict[str, str] = ctx.fields_cols  # type: ignore[attr-defined]
    table_cols = _columns(con, spec.table)
    staged = _columns(con, t)
    own = [f for f in fields_cols if not spec.fields[f].custom and (spec.fields[f].column or f) in table_cols
           and spec.fields[f].kind not in ("owner", "team", "link")]
    custom = [f for f in fields_cols if spec.fields[f].custom]
    custom_sql = "NULL"
    if custom:
        custom_sql = ("CASE WHEN " + " OR ".join(f"s.{f} IS NOT NULL" for f in custom) + " THEN json_object(" +
                      ", ".join(f"'{f}', s.{f}" for f in custom) + ") END")
    out = {"created": 0, "updated": 0}
    # ---- new records
    con.execute(f"DROP TABLE IF EXISTS {t}_new")  # sql-ok: staging table, field names, fixed tables
    # ids from the sequence in bulk, in the file's row order. Usually the ids drawn are one run: a row's id is
    # the run's start + its row number (the numbers of rows not written are left unused: no window, no join),
    # the rows go straight from the staging table into the store, and what follows (phone, duplicate and
    # search keys, audit) reads them back by import_id, a few row groups.
    n_new, first, last = con.execute(f"SELECT count(*), min(_row), max(_row) FROM {t} "  # sql-ok: staging table
                                     f"WHERE _action IN ('new', 'flag')").fetchall()[0]
    span = int(last - first + 1) if n_new else 0
    low, high = con.execute(f"SELECT min(v), max(v) FROM (SELECT nextval('seq_{spec.table}') AS v FROM range(?))",  # sql-ok: fixed names
                            [span]).fetchall()[0]
    if n_new and high - low + 1 == span:  # a run of ids (no one else drew from the sequence meanwhile)
        src, src_args = (f"(SELECT {int(low) - int(first)} + _row AS _id, * FROM {t} "  # sql-ok: ints, staging table
                         f"WHERE _action IN ('new', 'flag'))"), []
    else:  # ids with gaps: the k-th smallest drawn to the k-th row (drawn again here, so they are ours)
        con.execute(f"DROP TABLE IF EXISTS {t}_new")  # sql-ok: staging table
        con.execute(f"CREATE TEMP TABLE {t}_new AS SELECT i.v AS _id, r.* EXCLUDE (k) FROM "  # sql-ok
                    f"(SELECT *, row_number() OVER (ORDER BY _row) AS k FROM {t} WHERE _action IN ('new', 'flag')) r "
                    f"JOIN (SELECT v, row_number() OVER (ORDER BY v) AS k FROM (SELECT nextval('seq_{spec.table}') AS v "
                    f"FROM range(?))) i ON i.k = r.k ORDER BY r._row", [n_new])
        src, src_args = f"{t}_new", []
    if n_new:
        cols, vals = ["id"], ["s._id"]
        for f in own:
            col = spec.fields[f].column or f
            cols.append(col)
            vals.append(f"s.{f}")
            if spec.fields[f].kind == "phone":
                cols.append(f"{col}_norm")
                vals.append(f"s.{f}_norm")
        defaults = {"import_id": "?", "created_at": "?", "updated_at": "?"}
        if "created_by" in table_cols:
            defaults["created_by"] = "?"
        if custom and "custom" in table_cols:
            defaults["custom"] = custom_sql
        if "_owner_id" in staged and "owner_id" in table_cols:
            defaults["owner_id"] = "s._owner_id"
            defaults["team_id"] = "s._team_id"
        if "customer_id" in staged and "customer_id" in table_cols and "customer_id" not in cols:
            defaults["customer_id"] = "s.customer_id"
        if spec.table == "customers":
            defaults["stage"] = "coalesce(s.stage, 'raw')" if "stage" in own else "'raw'"
            defaults["kind"] = "coalesce(s.kind, 'company')" if "kind" in own else "'company'"
            defaults["assigned_at"] = "CASE WHEN s._owner_id IS NOT NULL THEN ? END"
            defaults["pool_since"] = "CASE WHEN s._owner_id IS NULL THEN ? END"
            defaults["pool_reason"] = "CASE WHEN s._owner_id IS NULL THEN s._pool_reason END"
            if "stage" in own:
                defaults["won_at"] = "CASE WHEN s.stage IN ('won', 'upgrade') THEN ? END"
        if spec.table == "leads":
            defaults["status"] = "coalesce(s.status, 'new')" if "status" in own else "'new'"
        for i, c in enumerate(cols):   # a mapped column left blank takes the default (stage, kind, status)
            default = defaults.pop(c, None)
            if default is not None and default.startswith("coalesce("):
                vals[i] = default
        # parameters are positional: keep them in the order of the defaults that take one
        order = [k for k in defaults]
        pvals = []
        pmap = {"import_id": [ctx.import_id], "created_at": [actor.now], "updated_at": [actor.now],
                "created_by": [actor.id], "assigned_at": [actor.now], "pool_since": [actor.now],
                "won_at": [actor.now]}
        for k in order:
            pvals += pmap.get(k, []) if "?" in defaults[k] else []
        with _unordered(con, getattr(ctx, "sole_user", False)):  # the rows carry their ids
            con.execute(f"INSERT INTO {spec.table} ({', '.join(cols + order)}) SELECT {', '.join(vals)}, "  # sql-ok
                        f"{', '.join(defaults[k] for k in order)} FROM {src} s", src_args + pvals)
        phone_fields = [f for f in own if spec.fields[f].kind == "phone"]
        for f in phone_fields:
            col = f"{spec.fields[f].column or f}_norm"
            con.execute(f"INSERT INTO phone_keys SELECT {col}, ?, id FROM {spec.table} WHERE import_id = ? "  # sql-ok: field names, fixed tables
                        f"AND {col} IS NOT NULL ORDER BY {col}", [spec.entity, ctx.import_id])  # in key order: the index takes it twice as fast
        if n_new <= KEYS_INLINE:
            _keys_new(ctx, own)
        else:  # a big batch: duplicate keys now, search keys after the commit (fill_keys: right after it, or
            # for the command line by the app's scheduler / the next command); the pending mark makes searches scan
            _keys_new(ctx, own, search_now=False)
            _mark_pending(con, spec, ctx.import_id)
            ctx.deferred_keys = True  # type: ignore[attr-defined]
        con.execute("INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, "
                    f"new_value) SELECT nextval('seq_audit_log'), ?, ?, 'create', ?, id, 'import_id', NULL, ? "
                    f"FROM {spec.table} WHERE import_id = ? ORDER BY id",  # sql-ok: fixed tables
                    [actor.now, actor.id, spec.entity, str(ctx.import_id), ctx.import_id])
        flagged = db.scalar(con, f"SELECT count(*) FROM {t} WHERE _action = 'flag'")  # sql-ok: staging table
        if flagged:  # "create anyway and flag": the record it may duplicate, kept with the batch
            con.execute(f"INSERT INTO import_updates SELECT ?, ?, _id, '_duplicate_of', NULL, "  # sql-ok: staging table, field names, fixed tables
                        f"json_object('entity', _match_entity, 'id', _target_id, 'key', _dup) FROM {src} s "
                        f"WHERE _action = 'flag'", [ctx.import_id, spec.entity] + src_args)
        out["created"] = int(n_new)
        out["flagged"] = int(flagged or 0)
        if ctx.options.owner == "split" and spec.table == "customers":
            done = pool.split(con, actor, import_id=ctx.import_id, team_ids=list(ctx.options.split_team_ids))
            out["split_assigned"] = int(done.get("assigned", 0))
            out["split_left_in_pool"] = int(done.get("left_in_pool", 0))
        if spec.name == "contacts":
            pass
    ctx.step(0.85, "keys")
    out["updated"] = _updates(ctx, own, custom)
    return out


@contextmanager
def _unordered(con, allowed: bool):
    """A statement whose rows need not be written in order, written on every core: DuckDB's
    preserve_insertion_order off around it (874k records: 2.2 -> 1.4 s; off for the whole command it was slower).
    The setting is global to the database, so only when this process is its only user (the command line);
    elsewhere nothing changes. Reset after, even when the statement failed (an aborted transaction refuses the
    reset; the error then is the statement's, and the process ends or its retry sets it again)."""
    if not allowed:
        yield
        return
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        try:
            con.execute("RESET preserve_insertion_order")
        except duckdb.Error:
            pass


KEYS_SLICE = 200_000   # records whose keys are made in one statement
KEYS_INLINE = 20_000   # more new records than this: search and name keys in a second unit (fill_keys)


def _mark_pending(con, spec: ObjectSpec, batch: int) -> None:
    """The search keys of a big batch are built after its commit (fill_keys); until then searches scan."""
    from core import search

    if spec.entity in search.ENTITIES:
        con.execute("INSERT INTO search_pending VALUES (?) ON CONFLICT DO NOTHING", [f"import:{batch}"])


class _NameForms:
    """The duplicate guard's name keys (pinyin, brand: Python) of the staged names, computed on a thread
    while DuckDB checks duplicates and writes the records, once per distinct name. `keys(con, t)` inserts
    them for the new records of the batch inside the unit of work."""

    def __init__(self, ctx: Ctx) -> None:
        self.entity = ctx.spec.entity
        self.job: _Background | None = None
        if self.entity not in ("customer", "lead"):
            return
        staged = _columns(ctx.con, ctx.table)
        if "name" not in staged:
            return
        kind = "coalesce(s.kind, 'company')" if self.entity == "customer" and "kind" in staged else \
            ("'company'" if self.entity == "customer" else "NULL::VARCHAR")
        company = "s.company" if self.entity == "lead" and "company" in staged else "NULL::VARCHAR"
        self.names = ctx.con.sql(f"SELECT DISTINCT s.name, {kind} AS kind, {company} AS company "  # sql-ok: staging table, fixed expressions
                                 f"FROM {ctx.table} s WHERE s._action = 'new'").pl()
        self.names = self.names.with_row_index("i").with_columns(pl.col("i").cast(pl.Int64))
        self.job = _Background("import-name-keys", self._forms)

    def _forms(self) -> pl.DataFrame:
        from core import dedup

        f = self.names
        return dedup.name_keys(self.entity, f["i"], f["name"], f["kind"].fill_null("company"),
                               f["company"] if self.entity == "lead" else None)

    def keys(self, con, table: str, batch: int) -> None:
        """Insert the name keys of the batch's records (as stored: kind, company), in key order (the index
        grows faster, a key's rows sit together); a record whose values the thread did not see (none
        expected) gets its keys here."""
        if self.job is None:
            return
        keys = self.job.get()
        kind = "s.kind" if self.entity == "customer" else "NULL::VARCHAR"
        company = "s.company" if self.entity == "lead" else "NULL::VARCHAR"
        kname, dname = f"_dk_{uuid.uuid4().hex}", f"_dn_{uuid.uuid4().hex}"
        con.register(dname, _arrow(self.names))
        if keys is not None and keys.height:
            con.register(kname, _arrow(keys))
        try:
            if keys is not None and keys.height:
                con.execute(f"INSERT INTO dedup_keys SELECT k.key, k.entity, s.id, k.chars, k.pinyin FROM {table} s "  # sql-ok: fixed tables, fixed expressions
                            f"JOIN {dname} d ON d.name IS NOT DISTINCT FROM s.name AND d.kind IS NOT DISTINCT FROM "
                            f"{kind} AND d.company IS NOT DISTINCT FROM {company} "
                            f"JOIN {kname} k ON k.entity_id = d.i WHERE s.import_id = ? ORDER BY k.key", [batch])
            missed = con.sql(f"SELECT s.id FROM {table} s ANTI JOIN {dname} d ON d.name IS NOT DISTINCT FROM s.name "  # sql-ok: fixed tables, fixed expressions
                             f"AND d.kind IS NOT DISTINCT FROM {kind} AND d.company IS NOT DISTINCT FROM {company} "
                             f"WHERE s.import_id = ?", params=[batch]).fetchall()
        finally:
            if keys is not None and keys.height:
                con.unregister(kname)
            con.unregister(dname)
        if missed:
            _name_keys(con, self.entity, table, "id IN (SELECT unnest(?))", [[r[0] for r in missed]])


def _name_keys(con, entity: str, table: str, where: str, params: list) -> None:
    """The duplicate guard's name keys (core.dedup.name_keys, vectorised) of the records that meet `where`."""
    from core import dedup

    cols = "id, name, kind, NULL::VARCHAR AS company" if entity == "customer" else "id, name, NULL::VARCHAR AS kind, company"
    src = con.sql(f"SELECT {cols} FROM {table} WHERE {where}", params=params).pl()  # sql-ok: staging table, field names, fixed tables
    if not src.height:
        return
    keys = dedup.name_keys(entity, src["id"], src["name"], src["kind"].fill_null("company"),
                           src["company"] if entity == "lead" else None)
    if keys.height:
        name = f"_dk_{uuid.uuid4().hex}"
        con.register(name, _arrow(keys))
        try:
            con.execute(f"INSERT INTO dedup_keys SELECT key, entity, entity_id, chars, pinyin FROM {name}")  # sql-ok: staging table, field names, fixed tables
        finally:
            con.unregister(name)


def _email_keys(con, spec: ObjectSpec, batch: int, fresh: bool = False) -> None:
    """The duplicate guard's e-mail keys of a batch's records (in the bin too, as everywhere), in key order.
    Later (fresh False), only those a record does not hold yet: one edited meanwhile got its keys from the edit."""
    from core import dedup

    held = "" if fresh else ("WHERE NOT EXISTS (SELECT 1 FROM dedup_keys d WHERE d.entity = k.entity "
                             "AND d.entity_id = k.entity_id AND d.key = k.key)")
    con.execute(f"INSERT INTO dedup_keys SELECT key, entity, entity_id, NULL, NULL FROM "  # sql-ok: fixed tables, int
                f"({dedup.pending_email_sql(spec.entity, batch)}) k {held} ORDER BY key")


def _keys_new(ctx: Ctx, own: list[str], search_now: bool = True) -> None:
    """Search keys (unless a big batch's, built after the commit) and duplicate keys of the new records,
    set-based, in key order."""
    con, spec = ctx.con, ctx.spec
    from core import dedup, search

    if search_now and spec.entity in search.ENTITIES:
        search.add_keys(con, spec.entity, "import_id = ?", [ctx.import_id])
    if spec.entity in dedup.ENTITIES:
        if "email" in own and search_now:
            _email_keys(con, spec, ctx.import_id, fresh=True)
        elif "email" in own:  # a big batch: after the commit (fill_keys); the guard reads the batch meanwhile
            con.execute("INSERT INTO dedup_pending VALUES (?) ON CONFLICT DO NOTHING",
                        [f"{dedup.PENDING_EMAILS}{spec.entity}:{int(ctx.import_id)}"])
        forms = getattr(ctx, "name_forms", None)
        if forms is not None:
            forms.keys(con, spec.table, ctx.import_id)
        elif spec.entity in ("customer", "lead"):
            _name_keys(con, spec.entity, spec.table, "import_id = ?", [ctx.import_id])


def fill_keys(con, batch: int | None = None) -> int:
    """The search and name keys of big batches (marked pending by their commit), each in its own unit;
    `batch` None: every pending batch (a run killed between the commit and this step). Returns how many."""
    from core import search

    from core import dedup

    marks = {r[0] for r in con.execute("SELECT what FROM search_pending WHERE what LIKE 'import:%' UNION "
                                       "SELECT what FROM dedup_pending WHERE what LIKE 'import:%'").fetchall()}
    emails = {b: f"{dedup.PENDING_EMAILS}{e}:{b}" for e, b in dedup.pending_emails(con)}
    marks |= {f"import:{b}" for b in emails}
    if batch is not None:
        marks &= {f"import:{int(batch)}"}
    for mark in sorted(marks):
        b = int(mark.split(":")[1])
        obj = db.scalar(con, "SELECT object FROM imports WHERE id = ?", [b])
        spec = spec_for(con, None, obj) if obj else None

        def work(mark=mark, b=b, spec=spec):
            if spec is not None:
                if b in emails and db.scalar(con, "SELECT count(*) FROM dedup_pending WHERE what = ?", [emails[b]]):
                    _email_keys(con, spec, b)
                low, high = con.execute(f"SELECT min(id), max(id) FROM {spec.table} WHERE import_id = ?",  # sql-ok
                                        [b]).fetchall()[0]
                todo_search = db.scalar(con, "SELECT count(*) FROM search_pending WHERE what = ?", [mark])
                todo_names = db.scalar(con, "SELECT count(*) FROM dedup_pending WHERE what = ?", [mark])
                start = low
                while low is not None and start <= high:  # in slices: a million records' keys at once need GBs
                    end = start + KEYS_SLICE
                    where, args = "import_id = ? AND id >= ? AND id < ?", [b, start, end]
                    if todo_search:
                        search.add_keys(con, spec.entity, where, args)
                    if todo_names:
                        _name_keys(con, spec.entity, spec.table, where, args)
                    start = end
            con.execute("DELETE FROM search_pending WHERE what = ?", [mark])
            con.execute("DELETE FROM dedup_pending WHERE what = ? OR what = ?", [mark, emails.get(b, mark)])

        db.write(con, work)
    return len(marks)


def keys_pending(con, batch: int) -> bool:
    """Whether the search keys of this batch are still to be built (fill_keys)."""
    return bool(db.scalar(con, "SELECT count(*) FROM search_pending WHERE what = ?", [f"import:{int(batch)}"]))


def _updates(ctx: Ctx, own: list[str], custom: list[str]) -> int:
    con, spec, t, actor, opt = ctx.con, ctx.spec, ctx.table, ctx.actor, ctx.options
    n = db.scalar(con, f"SELECT count(*) FROM {t} WHERE _action = 'update'")
    if not n:
        return 0
    chosen = set(opt.update_keys or ())
    fields_up = [f for f in own if spec.fields[f].updatable and (not chosen or f in chosen)]
    custom_up = [f for f in custom if not chosen or f in chosen]
    # a phone held by another record is not taken over: that row keeps its old phone
    for f in fields_up:
        if spec.fields[f].kind == "phone":
            con.execute(f"UPDATE {t} SET {f} = NULL, {f}_norm = NULL WHERE _action = 'update' AND {f}_norm IN "  # sql-ok: staging table, field names, fixed tables
                        f"(SELECT phone_norm FROM phone_keys k WHERE NOT (k.entity = ? AND k.entity_id = {t}._target_id))",
                        [spec.entity])
    cols = []
    for f in fields_up:
        col = spec.fields[f].column or f
        cols.append((f, col))
        if spec.fields[f].kind == "phone":
            cols.append((f"{f}_norm", f"{col}_norm"))
    # old values (exactly as stored) for undo, only where the value changes
    for src, col in cols:
        con.execute(f"INSERT INTO import_updates SELECT ?, ?, x.id, ?, to_json(x.{col}), to_json(s.{src}) "  # sql-ok: staging table, field names, fixed tables
                    f"FROM {t} s JOIN {spec.table} x ON x.id = s._target_id WHERE s._action = 'update' "
                    f"AND s.{src} IS NOT NULL AND x.{col} IS DISTINCT FROM s.{src}",
                    [ctx.import_id, spec.entity, col])
    if custom_up:
        patch = "json_object(" + ", ".join(f"'{f}', s.{f}" for f in custom_up) + ")"
        con.execute(f"INSERT INTO import_updates SELECT ?, ?, x.id, 'custom', to_json(x.custom), NULL "  # sql-ok: staging table, field names, fixed tables
                    f"FROM {t} s JOIN {spec.table} x ON x.id = s._target_id WHERE s._action = 'update' "
                    f"AND ({' OR '.join(f's.{f} IS NOT NULL' for f in custom_up)})", [ctx.import_id, spec.entity])
    # phone keys: the old key released, the new one claimed
    for src, col in cols:
        if src.endswith("_norm"):
            con.execute("DELETE FROM phone_keys WHERE entity = ? AND (entity_id, phone_norm) IN (SELECT entity_id, "  # sql-ok: staging table, field names, fixed tables
                        "json_extract_string(old_value, '$') FROM import_updates WHERE import_id = ? AND field = ?)",
                        [spec.entity, ctx.import_id, col])
    sets = [f"{col} = coalesce(s.{src}, {spec.table}.{col})" for src, col in cols]
    if custom_up:
        patch = "json_object(" + ", ".join(f"'{f}', s.{f}" for f in custom_up) + ")"
        sets.append(f"custom = CASE WHEN {' OR '.join(f's.{f} IS NOT NULL' for f in custom_up)} THEN "
                    f"json_merge_patch(coalesce({spec.table}.custom, '{{}}'), json(regexp_replace(CAST({patch} AS "
                    f"VARCHAR), '\"[a-z_0-9]+\":null,?', '', 'g'))) ELSE {spec.table}.custom END")
    changed = "SELECT DISTINCT entity_id FROM import_updates WHERE import_id = ? AND entity = ? AND field <> '_duplicate_of'"
    if sets:
        con.execute(f"UPDATE {spec.table} SET {', '.join(sets)}, updated_at = greatest({spec.table}.updated_at + "  # sql-ok: staging table, field names, fixed tables
                    f"INTERVAL 1 MICROSECOND, ?) FROM {t} s WHERE {spec.table}.id = s._target_id AND s._action = 'update' "
                    f"AND {spec.table}.id IN ({changed})", [actor.now, ctx.import_id, spec.entity])
    for src, col in cols:
        if src.endswith("_norm"):
            con.execute("INSERT INTO phone_keys SELECT json_extract_string(new_value, '$'), ?, entity_id FROM "  # sql-ok: staging table, field names, fixed tables
                        "import_updates WHERE import_id = ? AND field = ? AND new_value IS NOT NULL "
                        "AND json_extract_string(new_value, '$') IS NOT NULL", [spec.entity, ctx.import_id, col])
    con.execute("INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, new_value) "
                "SELECT nextval('seq_audit_log'), ?, ?, 'update', entity, entity_id, field, "
                "json_extract_string(old_value, '$'), json_extract_string(new_value, '$') FROM import_updates "
                "WHERE import_id = ? AND entity = ? AND field <> '_duplicate_of'",
                [actor.now, actor.id, ctx.import_id, spec.entity])
    ids = [r[0] for r in con.execute(changed, [ctx.import_id, spec.entity]).fetchall()]
    _refresh_keys(con, spec.entity, spec.table, ids)
    return int(n)


def _refresh_keys(con, entity: str, table: str, ids: list[int]) -> None:
    """Search and duplicate keys of records whose values changed (update, undo)."""
    from core import dedup, search

    if not ids:
        return
    if entity in search.ENTITIES:
        search.refresh(con, entity, ids)
    if entity in dedup.ENTITIES:
        con.execute("DELETE FROM dedup_keys WHERE entity = ? AND entity_id IN (SELECT unnest(?))", [entity, ids])
        con.execute(f"INSERT INTO dedup_keys SELECT 'e:' || lower(trim(email)), ?, id, NULL, NULL FROM {table} "  # sql-ok: staging table, field names, fixed tables
                    f"WHERE id IN (SELECT unnest(?)) AND nullif(trim(email), '') IS NOT NULL", [entity, ids])
        if entity in ("customer", "lead"):
            _name_keys(con, entity, table, "id IN (SELECT unnest(?))", [ids])


# ------------------------------------------------------------------------------------------ undo, history
def _batch_id(value: Any) -> int:
    if isinstance(value, bool) or not str(value).strip().isdigit():
        raise NotFound("import.batch_not_found")
    return int(str(value).strip())


def undo(con, actor, batch_id: Any) -> dict:
    """Undo a committed batch: its created records go to the recycle bin (deleted_at/deleted_by; their
    phone keys stay held there, as core.recycle does), the fields it updated get their old values back
    exactly (import_updates), audit rows for all of it. A batch is undone once."""
    batch = _batch_id(batch_id)

    def work():
        row = db.one(con, "SELECT id, object, status, created_by FROM imports WHERE id = ?", [batch])
        if row is None:
            raise NotFound("import.batch_not_found")
        spec = spec_for(con, actor, row["object"])
        access.require(con, actor, spec.module, "import")
        if row["created_by"] != actor.id and access.scope_of(con, actor, spec.module, "delete") != "all":
            raise NotFound("import.batch_not_found")
        if row["status"] != "committed":
            raise ValidationError("import.already_undone", batch=batch)
        deleted = 0
        tables = [(spec.entity, spec.table)]
        from core import recycle

        for entity, table in tables:
            ids = [r[0] for r in con.execute(f"SELECT id FROM {table} WHERE import_id = ? AND deleted_at IS NULL",  # sql-ok: staging table, field names, fixed tables
                                             [batch]).fetchall()]
            if ids:
                con.execute(f"UPDATE {table} SET deleted_at = ?, deleted_by = ? WHERE import_id = ? AND deleted_at IS NULL",  # sql-ok: staging table, field names, fixed tables
                            [actor.now, actor.id, batch])
                con.execute("INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, "
                            "new_value) SELECT nextval('seq_audit_log'), ?, ?, 'delete', ?, id, 'import_id', ?, NULL "
                            f"FROM {table} WHERE import_id = ? AND deleted_at = ? AND deleted_by = ?",
                            [actor.now, actor.id, entity, str(batch), batch, actor.now, actor.id])
                deleted += len(ids)
            del recycle  # the bin's rules: rows keep their links and phone keys while binned
            break
        restored = _restore(con, actor, spec, batch)
        con.execute("UPDATE imports SET status = 'undone', undone_at = ?, undone_by = ? WHERE id = ?",
                    [actor.now, actor.id, batch])
        return {"batch_id": batch, "deleted": deleted, "restored": restored}

    return db.write(con, work)


def _restore(con, actor, spec: ObjectSpec, batch: int) -> int:
    ups = con.sql("SELECT DISTINCT field FROM import_updates WHERE import_id = ? AND entity = ? "
                  "AND field <> '_duplicate_of'", params=[batch, spec.entity]).pl()["field"].to_list()
    if not ups:
        return 0
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
                             [spec.table]).fetchall())
    for col in ups:
        if col not in types or not _IDENT.match(col):
            continue
        if col.endswith("phone_norm"):  # the new key released, the old one held again
            con.execute("DELETE FROM phone_keys WHERE entity = ? AND (entity_id, phone_norm) IN (SELECT entity_id, "
                        "json_extract_string(new_value, '$') FROM import_updates WHERE import_id = ? AND field = ?)",
                        [spec.entity, batch, col])
        value = ("u.old_value" if types[col] == "JSON" else
                 f"CAST(json_extract_string(u.old_value, '$') AS {types[col]})")
        con.execute(f"UPDATE {spec.table} SET {col} = {value}, updated_at = greatest({spec.table}.updated_at + "  # sql-ok: staging table, field names, fixed tables
                    f"INTERVAL 1 MICROSECOND, ?) FROM import_updates u WHERE u.import_id = ? AND u.entity = ? "
                    f"AND u.field = ? AND {spec.table}.id = u.entity_id", [actor.now, batch, spec.entity, col])
        if col.endswith("phone_norm"):
            con.execute("INSERT INTO phone_keys SELECT json_extract_string(old_value, '$'), ?, entity_id FROM "
                        "import_updates WHERE import_id = ? AND field = ? AND json_extract_string(old_value, '$') "
                        "IS NOT NULL", [spec.entity, batch, col])
    con.execute("INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, new_value) "
                "SELECT nextval('seq_audit_log'), ?, ?, 'update', entity, entity_id, field, "
                "json_extract_string(new_value, '$'), json_extract_string(old_value, '$') FROM import_updates "
                "WHERE import_id = ? AND entity = ? AND field <> '_duplicate_of'", [actor.now, actor.id, batch, spec.entity])
    ids = [r[0] for r in con.execute("SELECT DISTINCT entity_id FROM import_updates WHERE import_id = ? AND entity = ? "
                                     "AND field <> '_duplicate_of'", [batch, spec.entity]).fetchall()]
    _refresh_keys(con, spec.entity, spec.table, ids)
    return len(ids)


def batches(con, actor, limit: int = 100) -> pl.DataFrame:
    """The import history: batches with their counts and who ran them (all for admins, own for others)."""
    limit = max(1, min(int(limit), 1000))
    mine = "" if getattr(actor, "role", None) == "admin" else "WHERE i.created_by = ?"
    params = [] if not mine else [actor.id]
    return db.frame(con, f"SELECT i.id, i.object, i.filename, i.status, i.rows_total, i.rows_ok, i.rows_rejected, "
                         f"i.counts, i.source, i.error_file, i.created_by, u.name AS created_by_name, i.created_at, "
                         f"i.committed_at, i.undone_at FROM imports i LEFT JOIN users u ON u.id = i.created_by {mine} "
                         f"ORDER BY i.id DESC LIMIT {limit}", params)


# ------------------------------------------------------------------------------------------ error file
def _csv_bytes(rejects: pl.DataFrame) -> bytes:
    from core.export import BOM, neutralise

    out = rejects.drop("_row") if "_row" in rejects.columns else rejects
    out = out.with_columns([neutralise(pl.col(c).cast(pl.String)).alias(c) for c in out.columns])
    buf = io.BytesIO()
    out.write_csv(buf)
    return BOM + buf.getvalue()


def error_file(found: Preview | Result, fmt: str = "csv", lang: str = "en") -> bytes:
    """The rejected rows (the file's own columns) with a reason column in `lang`: UTF-8 with BOM for CSV,
    formula-like cells neutralised (core.export.neutralise)."""
    rejects = found.rejects
    if found.codes and len(found.codes) == rejects.height:
        rejects = rejects.with_columns(pl.Series("reason", reason_texts(found.codes, lang),
                                                 dtype=pl.String))
    if fmt == "xlsx":
        from core.export import neutralise

        out = rejects.drop("_row") if "_row" in rejects.columns else rejects
        out = out.with_columns([neutralise(pl.col(c).cast(pl.String)).alias(c) for c in out.columns])
        buf = io.BytesIO()
        out.write_excel(buf)
        return buf.getvalue()
    return _csv_bytes(rejects)


# ------------------------------------------------------------------------------------------ files
def read_file(path: str | Path, options: Options | None = None):
    """(info, frame) through core/imports/reader.py (engineer I1)."""
    from core.imports import reader

    opt = options or Options()
    info = reader.sniff(Path(path), Path(path).name, encoding=opt.encoding, delimiter=opt.delimiter, sheet=opt.sheet)
    return info, reader.read(Path(path), info)


def run_file(con, actor, path: str | Path, obj: str, *, mapping_name: str | None = None, maps: dict | None = None,
             dry_run: bool = False, options: Options | dict | None = None, progress: Callable | None = None,
             source: str = "cli", keys_later: bool = False, sole_user: bool = False):
    """The command line's import: read the file, map it (a saved mapping, the given maps, else the
    remembered mapping of this layout or the suggestion), then a preview or a commit."""
    from core.imports import mapping as mapping_mod

    opt = Options.of(options)
    info, frame = read_file(path, opt)
    value_map: dict = {}
    if mapping_name:
        from core.imports import presets  # a preset named here (e.g. telco_customers) brings its custom fields first

        presets.ensure(con, actor, mapping_name)
        saved = mapping_mod.by_name(con, actor, mapping_name)
        mapping = dict(saved["mapping"])
        value_map = dict(saved.get("value_map") or {})
        if saved.get("options"):
            merged = {**saved["options"], **{k: v for k, v in (options or {}).items()}} if isinstance(options, dict) \
                else saved["options"]
            opt = Options.of(merged) if not isinstance(options, Options) else opt
        obj = saved.get("object") or obj
    elif maps:
        mapping = dict(maps)
    else:
        mapping = mapping_mod.suggest(con, actor, obj, info, frame)
    mapping = {c: f for c, f in mapping.items() if f and c in frame.columns}
    if dry_run:
        return preview(con, actor, obj, frame, mapping, value_map, opt, info, progress)
    return commit(con, actor, obj, frame, mapping, value_map, opt, info, progress, source=source, keys_later=keys_later,
                  sole_user=sole_user)
