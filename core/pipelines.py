"""Pipelines (商机组) and their stages, the product catalogue: reference data every deal reads.

A company has one or more pipelines ("New business", "Renewals"), each with its own ordered stages
(names in both languages, default probability, won/lost flags, active). Stage codes are unique across
pipelines, so a deal's stage code alone names its stage and pipeline.

Reading is open to anyone signed in (the board, forms and reports need the names); editing is the
admin's (settings edit) and lives further down in this module.
"""
from __future__ import annotations

import duckdb

from core import db
from core.errors import NotFound, ValidationError

_STAGE_COLS = "code, name_en, name_zh, position, probability, is_won, is_lost, active, pipeline_id"


def pipelines(con: duckdb.DuckDBPyConnection, include_inactive: bool = False) -> list[dict]:
    """id, code, name_en, name_zh, position, active, in the admin's order."""
    return db.rows(con, "SELECT id, code, name_en, name_zh, position, active FROM pipelines "
                        "WHERE active OR ? ORDER BY position, id", [include_inactive])


def pipeline(con: duckdb.DuckDBPyConnection, pipeline_id) -> dict:
    row = db.one(con, "SELECT id, code, name_en, name_zh, position, active FROM pipelines WHERE id = ?",
                 [_int(pipeline_id)])
    if row is None:
        raise NotFound("error.not_found")
    return row


def default_pipeline(con: duckdb.DuckDBPyConnection) -> int:
    """The first active pipeline (new deals land here unless the user picks another)."""
    rows = pipelines(con)
    if not rows:
        raise NotFound("error.not_found")
    return rows[0]["id"]


def stages(con: duckdb.DuckDBPyConnection, pipeline_id=None, include_inactive: bool = False) -> list[dict]:
    """Stages of one pipeline (or of all, pipeline by pipeline) in board order."""
    where, params = ["(active OR ?)"], [include_inactive]
    if pipeline_id is not None:
        where.append("pipeline_id = ?")
        params.append(_int(pipeline_id))
    return db.rows(con, f"SELECT {_STAGE_COLS} FROM pipeline_stages WHERE {' AND '.join(where)} "  # sql-ok
                        "ORDER BY pipeline_id, position, code", params)


def stage(con: duckdb.DuckDBPyConnection, code) -> dict:
    """One stage by code (inactive ones too: old deals still sit in them); NotFound if unknown."""
    row = db.one(con, f"SELECT {_STAGE_COLS} FROM pipeline_stages WHERE code = ?", [str(code or "")[:60]])  # sql-ok
    if row is None:
        raise ValidationError("error.invalid_value", value=str(code)[:40])
    return row


def first_open_stage(con: duckdb.DuckDBPyConnection, pipeline_id) -> dict:
    """Where a new deal starts: the first active stage that is neither won nor lost."""
    for s in stages(con, pipeline_id):
        if not s["is_won"] and not s["is_lost"]:
            return s
    raise ValidationError("pipeline.no_open_stage")


def closing_stage(con: duckdb.DuckDBPyConnection, pipeline_id, won: bool) -> dict:
    """The pipeline's won (or lost) stage."""
    for s in stages(con, pipeline_id, include_inactive=True):
        if (s["is_won"] if won else s["is_lost"]):
            return s
    raise ValidationError("pipeline.no_closing_stage")


def closed_codes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Codes of every won or lost stage (any pipeline): a deal in one of them is closed."""
    return [r["code"] for r in db.rows(con, "SELECT code FROM pipeline_stages WHERE is_won OR is_lost")]


def products(con: duckdb.DuckDBPyConnection, include_inactive: bool = False) -> list[dict]:
    """The catalogue: id, code (sku), name (English), name_zh, series (category), list_price, active."""
    return db.rows(con, "SELECT id, code, name, name_zh, series, list_price::DOUBLE AS list_price, active "
                        "FROM products WHERE deleted_at IS NULL AND (active OR ?) ORDER BY series, code, id",
                   [include_inactive])


def _int(value) -> int:
    if isinstance(value, bool):
        raise NotFound("error.not_found")
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise NotFound("error.not_found") from None
